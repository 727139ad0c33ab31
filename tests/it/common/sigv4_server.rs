//! A loopback SageMaker runtime stand-in that checks every request's SigV4 signature on its
//! own: it parses the raw request, re-computes the signature with the `aws-sigv4` crate from
//! the method, path, the headers the request says it signed, the body, `X-Amz-Date` and the
//! secret key of the access key named in the credential scope, and compares it with the one
//! sent. A good signature gets 200 (with `x-amzn-invoked-production-variant`), a bad one 403
//! `InvalidSignatureException`, as SageMaker answers it. Plain TCP or TLS (a certificate made
//! with rcgen); every raw request is kept for wire comparisons.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the signature checked out, and why not.
    pub verdict: Result<(), String>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `SignedHeaders=` list of the Authorization header.
    pub fn signed_headers(&self) -> Vec<String> {
        auth_part(self.header("authorization").unwrap_or(""), "SignedHeaders=")
            .map(|s| s.split(';').map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// The access key named in the credential scope.
    pub fn access_key(&self) -> Option<String> {
        auth_part(self.header("authorization").unwrap_or(""), "Credential=")
            .and_then(|c| c.split('/').next().map(str::to_string))
    }

    /// `date/region/service/aws4_request` of the credential scope.
    pub fn scope(&self) -> Option<String> {
        auth_part(self.header("authorization").unwrap_or(""), "Credential=")
            .and_then(|c| c.split_once('/').map(|(_, s)| s.to_string()))
    }
}

pub struct Sigv4Server {
    pub addr: SocketAddr,
    /// The PEM of the server's certificate, when it speaks TLS.
    pub cert_pem: Option<String>,
    seen: Arc<Mutex<Vec<Seen>>>,
    good: Arc<AtomicU64>,
    bad: Arc<AtomicU64>,
    stop: CancellationToken,
}

/// At most this many requests are kept whole.
const KEEP: usize = 2000;

impl Sigv4Server {
    /// A plain-HTTP server that knows `secret` as the secret key of every access key.
    pub async fn start(secret: &str) -> Sigv4Server {
        Sigv4Server::start_with(secret, None).await
    }

    /// Same over TLS with a certificate for `names` (DNS names or IP addresses).
    pub async fn start_tls(secret: &str, names: &[&str]) -> Sigv4Server {
        Sigv4Server::start_with(secret, Some(names)).await
    }

    async fn start_with(secret: &str, tls_names: Option<&[&str]>) -> Sigv4Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (acceptor, cert_pem) = match tls_names {
            None => (None, None),
            Some(names) => {
                let (a, pem) = tls_acceptor(names);
                (Some(a), Some(pem))
            }
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let good = Arc::new(AtomicU64::new(0));
        let bad = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let secret = secret.to_string();
        {
            let (seen, good, bad, stop) = (seen.clone(), good.clone(), bad.clone(), stop.clone());
            tokio::spawn(async move {
                loop {
                    let (sock, _) = tokio::select! {
                        _ = stop.cancelled() => return,
                        r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                    };
                    let _ = sock.set_nodelay(true);
                    let conn = Conn {
                        secret: secret.clone(),
                        seen: seen.clone(),
                        good: good.clone(),
                        bad: bad.clone(),
                    };
                    let stop = stop.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        match acceptor {
                            None => {
                                tokio::select! { _ = stop.cancelled() => {}, _ = conn.serve(sock) => {} }
                            }
                            Some(a) => {
                                if let Ok(s) = a.accept(sock).await {
                                    tokio::select! { _ = stop.cancelled() => {}, _ = conn.serve(s) => {} }
                                }
                            }
                        }
                    });
                }
            });
        }
        Sigv4Server {
            addr,
            cert_pem,
            seen,
            good,
            bad,
            stop,
        }
    }

    pub fn base_url(&self) -> String {
        let scheme = if self.cert_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.addr.port())
    }

    /// Requests whose signature checked out, and those whose did not.
    pub fn verified(&self) -> (u64, u64) {
        (
            self.good.load(Ordering::SeqCst),
            self.bad.load(Ordering::SeqCst),
        )
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Sigv4Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A TLS acceptor with a fresh self-signed certificate for `names`, and its PEM.
pub fn tls_acceptor(names: &[&str]) -> (tokio_rustls::TlsAcceptor, String) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names).unwrap();
    let pem = ck.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), pem)
}

struct Conn {
    secret: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    good: Arc<AtomicU64>,
    bad: Arc<AtomicU64>,
}

impl Conn {
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, mut s: S) {
        let mut buf = Vec::with_capacity(16 * 1024);
        loop {
            let (head_len, method, path, headers) = loop {
                let mut hs = [httparse::EMPTY_HEADER; 64];
                let mut req = httparse::Request::new(&mut hs);
                match req.parse(&buf) {
                    Ok(httparse::Status::Complete(n)) => {
                        let headers: Vec<(String, String)> = req
                            .headers
                            .iter()
                            .map(|h| {
                                (
                                    h.name.to_ascii_lowercase(),
                                    String::from_utf8_lossy(h.value).into_owned(),
                                )
                            })
                            .collect();
                        break (
                            n,
                            req.method.unwrap_or("").to_string(),
                            req.path.unwrap_or("").to_string(),
                            headers,
                        );
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(_) => return,
                }
                let mut chunk = [0u8; 16 * 1024];
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < head_len + len {
                let mut chunk = [0u8; 16 * 1024];
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = buf[head_len..head_len + len].to_vec();
            buf.drain(..head_len + len);
            let mut seen = Seen {
                method,
                path,
                headers,
                body,
                verdict: Ok(()),
            };
            seen.verdict = verify(&seen, &self.secret);
            let answer = match &seen.verdict {
                Ok(()) => {
                    self.good.fetch_add(1, Ordering::SeqCst);
                    let body = r#"{"predictions":[0.5]}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-amzn-invoked-production-variant: AllTraffic\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    )
                }
                Err(why) => {
                    self.bad.fetch_add(1, Ordering::SeqCst);
                    let body = serde_json::json!({ "message": why }).to_string();
                    format!(
                        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\nx-amzn-errortype: InvalidSignatureException\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    )
                }
            };
            {
                let mut v = self.seen.lock().unwrap();
                if v.len() < KEEP {
                    v.push(seen);
                }
            }
            if s.write_all(answer.as_bytes()).await.is_err() || s.flush().await.is_err() {
                return;
            }
        }
    }
}

fn auth_part<'a>(auth: &'a str, key: &str) -> Option<&'a str> {
    auth.split([' ', ','])
        .map(str::trim)
        .find_map(|p| p.strip_prefix(key))
}

/// Re-computes the request's signature and compares.
fn verify(req: &Seen, secret: &str) -> Result<(), String> {
    let auth = req
        .header("authorization")
        .ok_or("no Authorization header")?;
    if !auth.starts_with("AWS4-HMAC-SHA256 ") {
        return Err(format!("not SigV4: {auth}"));
    }
    let access_key = req.access_key().ok_or("no Credential= in Authorization")?;
    let scope = req.scope().ok_or("no credential scope")?;
    let parts: Vec<&str> = scope.split('/').collect();
    let [_, region, service, "aws4_request"] = parts[..] else {
        return Err(format!("bad credential scope {scope}"));
    };
    let sent_signature = auth_part(auth, "Signature=").ok_or("no Signature=")?;
    let signed = req.signed_headers();
    let date = req.header("x-amz-date").ok_or("no x-amz-date")?;
    let time = parse_amz_date(date).ok_or_else(|| format!("bad x-amz-date {date}"))?;
    let token = req.header("x-amz-security-token").map(str::to_string);
    let identity: Identity =
        Credentials::new(&access_key, secret, token.clone(), None, "verifier").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    // Only the headers the request says it signed; the signer adds x-amz-date and the session
    // token itself from the time and the identity.
    let headers = signed
        .iter()
        .filter(|h| *h != "x-amz-date" && *h != "x-amz-security-token")
        .map(|h| {
            req.header(h)
                .map(|v| (h.as_str(), v))
                .ok_or_else(|| format!("signed header {h} was not sent"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let host = req.header("host").ok_or("no host header")?;
    let url = format!("http://{host}{}", req.path);
    let signable = SignableRequest::new(
        &req.method,
        url,
        headers.into_iter(),
        SignableBody::Bytes(&req.body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, signature) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    if signature != sent_signature {
        return Err(format!(
            "signature mismatch: sent {sent_signature}, expected {signature}"
        ));
    }
    // The re-computed Authorization must name the same signed headers.
    let mine = instructions
        .headers()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    if auth_part(&mine, "SignedHeaders=") != auth_part(auth, "SignedHeaders=") {
        return Err(format!(
            "signed headers differ: sent {auth}, expected {mine}"
        ));
    }
    Ok(())
}

/// `20260101T120000Z` → a time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let f =
        time::format_description::parse_borrowed::<2>("[year][month][day]T[hour][minute][second]Z")
            .ok()?;
    let t = time::PrimitiveDateTime::parse(s, &f).ok()?.assume_utc();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.unix_timestamp()).ok()?))
}
