//! The HTTP target: POSTs each body to a URL and classifies the answer by status.
//!
//! Plain `http://` gives each load-generator worker its own HTTP/1.1 connection (hyper's
//! low-level client), driven inside the worker's task: no pool look-up, no channel to a
//! connection task, no cross-thread wake-up per request. That is the cheapest path per request
//! (the load generator must never be the bottleneck; `docs/benchmarks.md` has the figures
//! against hyper's pooled client, oha and wrk). `https://` goes through reqwest with rustls.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

use super::resolve::{LocalFirstResolver, TlsResolver};
use crate::config::Campaign;
use crate::error::{Error, Result};
use crate::stats::{ErrorClass, Outcome};

use super::Target;

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
    /// `http://`: each worker's own connection, in its [`HttpConn`].
    Plain(Plain),
    Tls(reqwest::Client),
}

struct Plain {
    host: String,
    port: u16,
    connect_timeout: Duration,
    /// Connections given back by the workers of earlier steps.
    idle: Mutex<Vec<Live>>,
}

pub struct HttpTarget {
    /// The request target in origin form (`/path?query`), as HTTP/1.1 sends it.
    path: Uri,
    url: String,
    /// Sent with every request, `Host` included.
    headers: HeaderMap,
    transport: Transport,
}

/// One worker's connection (plain HTTP); empty until its first request and after a failure.
#[derive(Default)]
pub struct HttpConn {
    live: Option<Live>,
}

type Connection = http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// An open HTTP/1.1 connection. `conn` does the connection's I/O and is polled only by the
/// worker that owns it, alongside the request it is waiting for.
struct Live {
    sender: http1::SendRequest<Full<Bytes>>,
    conn: Pin<Box<Connection>>,
    /// Set while a request is on the wire; still set at the next call when the caller dropped
    /// the request (timeout, interrupt), whose answer may still arrive: the connection is
    /// then replaced rather than reused.
    busy: bool,
}

impl Live {
    /// Lets the connection notice a close by the server while idle (keep-alive timeout), so a
    /// closed connection is replaced before a request is sent on it.
    async fn usable(&mut self) -> bool {
        if self.busy {
            return false;
        }
        std::future::poll_fn(|cx| Poll::Ready(self.conn.as_mut().poll(cx).is_pending())).await
    }
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
                idle: Mutex::new(Vec::new()),
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
        Ok(HttpTarget {
            path,
            url: cfg.url.clone(),
            headers,
            transport,
        })
    }

    fn request(&self, body: Bytes) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.path.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }

    async fn invoke_plain(&self, plain: &Plain, c: &mut HttpConn, body: Bytes) -> Outcome {
        if let Some(live) = &mut c.live
            && !live.usable().await
        {
            c.live = None;
        }
        let live = match &mut c.live {
            Some(l) => l,
            None => match plain.connect().await {
                Ok(l) => c.live.insert(l),
                Err(class) => return Outcome::error(class, None),
            },
        };
        let (outcome, ended) = exchange(live, self.request(body)).await;
        if ended || outcome.status.is_none() {
            c.live = None;
        }
        outcome
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

/// Sends `req` on `live` and reads the whole answer; says whether the connection ended.
async fn exchange(live: &mut Live, req: Request<Full<Bytes>>) -> (Outcome, bool) {
    live.busy = true;
    let Live { sender, conn, .. } = live;
    let exchange = async {
        if let Err(e) = sender.ready().await {
            return Outcome::error(classify_hyper_error(&e), None);
        }
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => return Outcome::error(classify_hyper_error(&e), None),
        };
        let status = resp.status().as_u16();
        // Read the whole body: the service time ends with the last byte, not the headers.
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            if let Err(e) = frame {
                return Outcome::error(classify_hyper_error(&e), Some(status));
            }
        }
        match ErrorClass::from_http_status(status) {
            None => Outcome::success(status),
            Some(c) => Outcome::error(c, Some(status)),
        }
    };
    tokio::pin!(exchange);
    // The connection's I/O runs here, beside the exchange waiting on it. When the connection
    // ends first (closed, reset), the exchange ends at once with its error.
    let r = tokio::select! {
        biased;
        o = &mut exchange => (o, false),
        _ = conn.as_mut() => (exchange.await, true),
    };
    live.busy = false;
    r
}

impl Plain {
    async fn connect(&self) -> std::result::Result<Live, ErrorClass> {
        loop {
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            match idle {
                Some(mut l) => {
                    if l.usable().await {
                        return Ok(l);
                    }
                }
                None => break,
            }
        }
        match tokio::time::timeout(self.connect_timeout, self.open_stream()).await {
            Ok(Ok(stream)) => {
                let (sender, conn) = http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| classify_hyper_error(&e))?;
                Ok(Live {
                    sender,
                    conn: Box::pin(conn),
                    busy: false,
                })
            }
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
    type Conn = HttpConn;

    fn open(&self) -> HttpConn {
        HttpConn::default()
    }

    fn close(&self, conn: HttpConn) {
        // Only a connection left idle and usable is kept for the next step.
        if let (Transport::Plain(p), Some(live)) = (&self.transport, conn.live)
            && !live.busy
        {
            p.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(live);
        }
    }

    async fn invoke(&self, conn: &mut HttpConn, body: Bytes) -> Outcome {
        match &self.transport {
            Transport::Plain(p) => self.invoke_plain(p, conn, body).await,
            Transport::Tls(c) => self.invoke_tls(c, body).await,
        }
    }
}

fn classify_hyper_error(e: &hyper::Error) -> ErrorClass {
    if e.is_timeout() {
        ErrorClass::Timeout
    } else if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        ErrorClass::Connect
    } else if e.is_parse() {
        ErrorClass::Other
    } else {
        classify_source_chain(e)
    }
}

fn classify_reqwest_error(e: &reqwest::Error) -> ErrorClass {
    if e.is_timeout() {
        ErrorClass::Timeout
    } else if e.is_connect() {
        ErrorClass::Connect
    } else {
        classify_source_chain(e)
    }
}

/// Walks an error's sources for a hyper or I/O cause that says what happened on the wire.
pub(crate) fn classify_source_chain(e: &(dyn std::error::Error + 'static)) -> ErrorClass {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                return ErrorClass::Timeout;
            }
            if h.is_parse() {
                return ErrorClass::Other;
            }
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return ErrorClass::Connect;
            }
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return match io.kind() {
                TimedOut => ErrorClass::Timeout,
                ConnectionRefused | ConnectionReset | ConnectionAborted | BrokenPipe
                | UnexpectedEof | NotConnected | AddrNotAvailable => ErrorClass::Connect,
                _ => ErrorClass::Other,
            };
        }
        cur = err.source();
    }
    ErrorClass::Other
}
