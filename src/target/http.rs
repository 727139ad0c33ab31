//! The HTTP target: POSTs each body to a URL and classifies the answer by status.
//!
//! Plain `http://` goes through hyper's pooled client directly, the cheapest path per request
//! (the load generator must never be the bottleneck); `https://` goes through reqwest with rustls.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

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

type PlainClient = Client<HttpConnector<LocalFirstResolver>, Full<Bytes>>;

enum Transport {
    Plain(Box<PlainClient>),
    Tls(reqwest::Client),
}

pub struct HttpTarget {
    uri: Uri,
    url: String,
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
        let transport = match uri.scheme_str() {
            Some("http") => {
                let mut connector = HttpConnector::new_with_resolver(LocalFirstResolver::new());
                connector.set_nodelay(true);
                connector.set_connect_timeout(Some(cfg.connect_timeout));
                Transport::Plain(Box::new(
                    Client::builder(TokioExecutor::new())
                        .pool_max_idle_per_host(cfg.pool.max(1))
                        .pool_idle_timeout(Duration::from_secs(90))
                        .build(connector),
                ))
            }
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
            uri,
            url: cfg.url.clone(),
            headers,
            transport,
        })
    }

    async fn invoke_plain(&self, client: &PlainClient, body: Bytes) -> Outcome {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        let resp = match client.request(req).await {
            Ok(r) => r,
            Err(e) => return Outcome::error(classify_client_error(&e), None),
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

impl Target for HttpTarget {
    async fn invoke(&self, body: Bytes) -> Outcome {
        match &self.transport {
            Transport::Plain(c) => self.invoke_plain(c, body).await,
            Transport::Tls(c) => self.invoke_tls(c, body).await,
        }
    }
}

fn classify_client_error(e: &hyper_util::client::legacy::Error) -> ErrorClass {
    if e.is_connect() {
        return ErrorClass::Connect;
    }
    classify_source_chain(e)
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
