//! The HTTP target: POSTs each body to a URL and classifies the answer by status.
//!
//! Plain `http://` sends each request on a kept-alive HTTP/1.1 connection ([`super::h1`])
//! taken from its load thread's idle stack, read and written inside the worker's task: no
//! channel to a connection task, no cross-thread wake-up, no allocation per request. That is the cheapest path per request (the load
//! generator must never be the bottleneck; `docs/benchmarks.md` has the figures against hyper's
//! clients, oha and wrk). `https://` goes through reqwest with rustls.

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use hyper::Uri;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use hyper_util::client::legacy::connect::dns::Name;
use tokio::net::TcpStream;
use tower_service::Service;

use super::h1::H1Conn;
use super::resolve::{LocalFirstResolver, TlsResolver};
use crate::config::Campaign;
use crate::error::{Error, Result};
use crate::measure::stats::{ErrorClass, Outcome};
use crate::measure::threads;

use super::target::Target;

/// What the HTTP target needs to know.
#[derive(Debug, Clone)]
pub struct HttpTargetConfig {
    pub url: String,
    pub content_type: String,
    pub accept: String,
    pub headers: Vec<(String, String)>,
    /// Idle connections kept per host: as many as requests in flight.
    pub pool: usize,
    pub connect_timeout: Duration,
}

impl HttpTargetConfig {
    pub fn from_campaign(c: &Campaign) -> Result<HttpTargetConfig> {
        let url = c
            .target
            .url
            .clone()
            .ok_or_else(|| Error::input("[target] url is required when kind = \"http\""))?;
        Ok(HttpTargetConfig {
            url,
            content_type: c.target.content_type.clone(),
            accept: c.target.accept.clone(),
            headers: c
                .target
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            pool: c.load.max_concurrency as usize,
            connect_timeout: Duration::from_millis(c.target.timeout_ms.min(10_000)),
        })
    }

    /// A plain target for `url` with JSON content types.
    pub fn for_url(url: &str) -> HttpTargetConfig {
        HttpTargetConfig {
            url: url.to_string(),
            content_type: "application/json".into(),
            accept: "application/json".into(),
            headers: Vec::new(),
            pool: 1024,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

enum Transport {
    /// `http://`: kept-alive connections through [`H1Conn`].
    Plain(Plain),
    Tls(reqwest::Client),
}

/// Idle plain-HTTP connections, one stack per load thread (and one for any other thread). A
/// request takes the most recently used connection of its own thread, or opens one, and puts
/// it back after a reusable answer: the connections open are as many as the requests that
/// were in flight at once, not one per worker, and a connection's I/O always stays on the
/// thread whose event loop it is registered with. An abandoned request (timeout, interrupt)
/// drops its connection with it.
struct Plain {
    host: String,
    port: u16,
    connect_timeout: Duration,
    idle: Vec<Mutex<Vec<H1Conn>>>,
}

pub struct HttpTarget {
    /// The plain-HTTP request head up to its Content-Length: the request line in origin form
    /// and every header, `Host` included; rendered once.
    head: Vec<u8>,
    url: String,
    /// Sent with every request, `Host` included.
    headers: HeaderMap,
    transport: Transport,
}

impl HttpTarget {
    pub fn new(cfg: &HttpTargetConfig) -> Result<HttpTarget> {
        let uri: Uri = cfg.url.parse().map_err(|e| {
            Error::input(format!(
                "[target] url = {:?} is not a valid URL: {e}",
                cfg.url
            ))
        })?;
        let mut headers = HeaderMap::new();
        let value = |v: &str, what: &str| {
            HeaderValue::from_str(v).map_err(|_| {
                Error::input(format!(
                    "[target] {what} = {v:?} is not a valid header value"
                ))
            })
        };
        headers.insert(CONTENT_TYPE, value(&cfg.content_type, "content_type")?);
        headers.insert(ACCEPT, value(&cfg.accept, "accept")?);
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                Error::input(format!("[target] headers: invalid header name {k:?}"))
            })?;
            headers.insert(name, value(v, &format!("headers.{k}"))?);
        }
        let bad_url = |why: &str| {
            Error::input(format!(
                "[target] url = {:?} {why}: give http://HOST:PORT/PATH",
                cfg.url
            ))
        };
        let host = uri.host().ok_or_else(|| bad_url("has no host"))?;
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host);
        headers.insert(HOST, value(authority, "url")?);
        let path: Uri = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(|_| bad_url("has an invalid path"))?;
        let transport = match uri.scheme_str() {
            Some("http") => Transport::Plain(Plain {
                // [::1] in a URL is ::1 to the resolver.
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port: uri.port_u16().unwrap_or(80),
                connect_timeout: cfg.connect_timeout,
                idle: (0..=threads::count()).map(|_| Mutex::default()).collect(),
            }),
            Some("https") => Transport::Tls(
                reqwest::Client::builder()
                    .pool_max_idle_per_host(cfg.pool.max(1))
                    .connect_timeout(cfg.connect_timeout)
                    .tcp_nodelay(true)
                    .dns_resolver(std::sync::Arc::new(TlsResolver))
                    .build()
                    .map_err(|e| Error::Other(format!("cannot build the HTTPS client: {e}")))?,
            ),
            _ => {
                return Err(Error::input(format!(
                    "[target] url = {:?} must start with http:// or https://",
                    cfg.url
                )));
            }
        };
        let mut head = format!("POST {path} HTTP/1.1\r\n").into_bytes();
        for (name, value) in &headers {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        Ok(HttpTarget {
            head,
            url: cfg.url.clone(),
            headers,
            transport,
        })
    }

    async fn invoke_plain(&self, plain: &Plain, body: Bytes) -> Outcome {
        let idle = plain.stack();
        let mut conn = match plain.checkout(idle).await {
            Ok(c) => c,
            Err(class) => return Outcome::error(class, None),
        };
        match conn.exchange(&self.head, &body).await {
            Ok(a) => {
                if a.reusable {
                    idle.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(conn);
                }
                match ErrorClass::from_http_status(a.status) {
                    None => Outcome::success(a.status),
                    Some(class) => Outcome::error(class, Some(a.status)),
                }
            }
            Err(class) => Outcome::error(class, None),
        }
    }

    async fn invoke_tls(&self, client: &reqwest::Client, body: Bytes) -> Outcome {
        let resp = client
            .post(&self.url)
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return Outcome::error(classify_reqwest_error(&e), None),
        };
        let status = resp.status().as_u16();
        if let Err(e) = resp.bytes().await {
            return Outcome::error(classify_reqwest_error(&e), Some(status));
        }
        match ErrorClass::from_http_status(status) {
            None => Outcome::success(status),
            Some(c) => Outcome::error(c, Some(status)),
        }
    }
}

impl Plain {
    /// The idle stack of the calling thread.
    fn stack(&self) -> &Mutex<Vec<H1Conn>> {
        let last = self.idle.len() - 1;
        &self.idle[threads::current().map_or(last, |i| i.min(last))]
    }

    /// The most recently used idle connection the server has not closed, or a new one.
    async fn checkout(&self, idle: &Mutex<Vec<H1Conn>>) -> std::result::Result<H1Conn, ErrorClass> {
        loop {
            let conn = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            match conn {
                Some(c) if !c.closed_while_idle().await => return Ok(c),
                Some(_) => {}
                None => break,
            }
        }
        match tokio::time::timeout(self.connect_timeout, self.open_stream()).await {
            Ok(Ok(stream)) => Ok(H1Conn::new(stream)),
            Ok(Err(e)) => Err(match e.kind() {
                std::io::ErrorKind::TimedOut => ErrorClass::Timeout,
                _ => ErrorClass::Connect,
            }),
            // As hyper's pooled client counts it: the connection, not the request, timed out.
            Err(_) => Err(ErrorClass::Connect),
        }
    }

    async fn open_stream(&self) -> std::io::Result<TcpStream> {
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

impl Target for HttpTarget {
    async fn invoke(&self, body: Bytes) -> Outcome {
        match &self.transport {
            Transport::Plain(p) => self.invoke_plain(p, body).await,
            Transport::Tls(c) => self.invoke_tls(c, body).await,
        }
    }
}

pub(super) fn classify_reqwest_error(e: &reqwest::Error) -> ErrorClass {
    if e.is_timeout() {
        ErrorClass::Timeout
    } else if e.is_connect() {
        ErrorClass::Connect
    } else {
        super::classify::source_chain(e)
    }
}
