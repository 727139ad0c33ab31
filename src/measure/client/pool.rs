//! Kept-alive HTTP/1.1 connections to one host, plain or TLS, for the fast clients (the HTTP
//! target and the signed SageMaker target).
//!
//! Idle connections sit on one stack per load thread (and one for any other thread). A request
//! takes the most recently used connection of its own thread, or opens one, and puts it back
//! after a reusable answer: the connections open are as many as the requests that were in
//! flight at once, not one per worker, and a connection's I/O always stays on the thread whose
//! event loop it is registered with. An abandoned request (timeout, interrupt) drops its
//! connection with it. TLS connections share one rustls configuration, so its session cache
//! resumes sessions the server offers to resume.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper_util::client::legacy::connect::dns::Name;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tower_service::Service;

use super::h1::{H1Conn, Wire};
use super::resolve::LocalFirstResolver;
use crate::error::{Error, Result};
use crate::measure::stats::ErrorClass;
use crate::measure::threads;

/// Connections to one `host:port`.
pub struct Pool {
    host: String,
    port: u16,
    connect_timeout: Duration,
    tls: Option<Tls>,
    idle: Vec<Mutex<Vec<H1Conn>>>,
}

struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
}

/// Why no connection could be had, described only when a summary asks.
pub struct ConnectFailure {
    pub class: ErrorClass,
    tls: bool,
    cause: std::io::Error,
}

impl ConnectFailure {
    /// A one-line description naming the host, and TLS when the handshake failed.
    pub fn describe(&self, pool: &Pool) -> String {
        if self.tls {
            format!(
                "TLS handshake with {}:{} failed: {}",
                pool.host, pool.port, self.cause
            )
        } else {
            format!(
                "cannot connect to {}:{}: {}",
                pool.host, pool.port, self.cause
            )
        }
    }
}

impl Pool {
    /// A pool for `host` (brackets of an IPv6 literal allowed) and `port`; with `tls`, every
    /// connection is TLS with that configuration, verified for `host`.
    pub fn new(
        host: &str,
        port: u16,
        connect_timeout: Duration,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Pool> {
        // [::1] in a URL is ::1 to the resolver and to certificate verification.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls = match tls {
            None => None,
            Some(config) => Some(Tls {
                connector: TlsConnector::from(config),
                name: ServerName::try_from(host.clone()).map_err(|_| {
                    Error::input(format!("{host:?} is not a host name TLS can verify"))
                })?,
            }),
        };
        Ok(Pool {
            host,
            port,
            connect_timeout,
            tls,
            idle: (0..=threads::count()).map(|_| Mutex::default()).collect(),
        })
    }

    /// The idle stack of the calling thread.
    pub fn stack(&self) -> &Mutex<Vec<H1Conn>> {
        let last = self.idle.len() - 1;
        &self.idle[threads::current().map_or(last, |i| i.min(last))]
    }

    /// Puts a connection whose answer left it reusable back on `idle`.
    pub fn checkin(idle: &Mutex<Vec<H1Conn>>, conn: H1Conn) {
        idle.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
    }

    /// The most recently used idle connection the server has not closed, or a new one.
    pub async fn checkout(
        &self,
        idle: &Mutex<Vec<H1Conn>>,
    ) -> std::result::Result<H1Conn, ConnectFailure> {
        loop {
            let conn = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            match conn {
                Some(c) if !c.closed_while_idle().await => return Ok(c),
                Some(_) => {}
                None => break,
            }
        }
        match tokio::time::timeout(self.connect_timeout, self.open()).await {
            Ok(r) => r.map(H1Conn::new),
            // As hyper's pooled client counts it: the connection, not the request, timed out.
            Err(_) => Err(ConnectFailure {
                class: ErrorClass::Connect,
                tls: false,
                cause: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection within {:?}", self.connect_timeout),
                ),
            }),
        }
    }

    async fn open(&self) -> std::result::Result<Wire, ConnectFailure> {
        let tcp = self.open_tcp().await.map_err(|e| ConnectFailure {
            class: match e.kind() {
                std::io::ErrorKind::TimedOut => ErrorClass::Timeout,
                _ => ErrorClass::Connect,
            },
            tls: false,
            cause: e,
        })?;
        match &self.tls {
            None => Ok(Wire::Plain(tcp)),
            Some(t) => match t.connector.connect(t.name.clone(), tcp).await {
                Ok(s) => Ok(Wire::Tls(Box::new(s))),
                // An unknown issuer, a name mismatch or a refused handshake: the connection
                // could not be set up.
                Err(e) => Err(ConnectFailure {
                    class: ErrorClass::Connect,
                    tls: true,
                    cause: e,
                }),
            },
        }
    }

    async fn open_tcp(&self) -> std::io::Result<TcpStream> {
        let addrs: Vec<SocketAddr> = match self.host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, self.port)],
            Err(_) => {
                let name: Name = self
                    .host
                    .parse()
                    .map_err(|_| std::io::Error::other("invalid host name"))?;
                LocalFirstResolver::new()
                    .call(name)
                    .await?
                    .map(|a| SocketAddr::new(a.ip(), self.port))
                    .collect()
            }
        };
        let mut last = std::io::Error::other("the name resolved to no address");
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A TLS server on loopback answering every read with an empty 200.
    async fn tls_server() -> (u16, String) {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let pem = ck.cert.pem();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut s) = acceptor.accept(sock).await else {
                        return;
                    };
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0
                            || s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                                .await
                                .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        (port, pem)
    }

    #[tokio::test]
    async fn a_new_tls_connection_resumes_the_session_of_an_earlier_one() {
        let (port, pem) = tls_server().await;
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, pem).unwrap();
        let config = super::super::tls::client_config(&[super::super::tls::ExtraCa {
            path: ca,
            named_by: "test".into(),
        }])
        .unwrap();
        let pool = Pool::new("127.0.0.1", port, Duration::from_secs(5), Some(config)).unwrap();
        let idle = pool.stack();
        let body = bytes::Bytes::from_static(b"{}");
        let mut kinds = Vec::new();
        for _ in 0..2 {
            // Never checked in: each round opens a new connection.
            let Ok(mut c) = pool.checkout(idle).await else {
                panic!("no TLS connection")
            };
            let a = c
                .exchange(b"POST / HTTP/1.1\r\nhost: x\r\n", &body)
                .await
                .unwrap();
            assert_eq!(a.status, 200);
            kinds.push(c.tls_resumed());
        }
        assert_eq!(kinds, vec![Some(false), Some(true)]);
    }
}
