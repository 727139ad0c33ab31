//! The HTTP target: POSTs each body to a URL and classifies the answer by status.
//!
//! `http://` and `https://` alike send each request on a kept-alive HTTP/1.1 connection
//! ([`super::h1`]) taken from its load thread's idle stack ([`super::pool`]), read and written
//! inside the worker's task: no channel to a connection task, no cross-thread wake-up, no
//! allocation per request. That is the cheapest path per request (the load generator must
//! never be the bottleneck; `docs/benchmarks.md` has the figures against hyper's clients, oha
//! and wrk). TLS is rustls ([`super::tls`]) with the platform's roots and `[target] ca_cert`.

use std::time::Duration;

use bytes::Bytes;
use hyper::Uri;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};

use super::pool::Pool;
use super::target::ErrorSamples;
use super::tls::{self, ExtraCa};
use crate::config::Campaign;
use crate::error::{Error, Result};
use crate::measure::stats::{ErrorClass, Outcome};

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
    /// CA certificates trusted beside the platform's for `https://`.
    pub extra_ca: Vec<ExtraCa>,
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
            extra_ca: tls::extra_ca(&c.target),
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
            extra_ca: Vec::new(),
        }
    }
}

pub struct HttpTarget {
    /// The request head up to its Content-Length: the request line in origin form and every
    /// header, `Host` included; rendered once.
    head: Vec<u8>,
    pool: Pool,
    samples: ErrorSamples,
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
        let (tls, default_port) = match uri.scheme_str() {
            Some("http") => (None, 80),
            Some("https") => (Some(tls::client_config(&cfg.extra_ca)?), 443),
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
        let pool = Pool::new(
            host,
            uri.port_u16().unwrap_or(default_port),
            cfg.connect_timeout,
            tls,
        )
        .map_err(|e| Error::input(format!("[target] url = {:?}: {e}", cfg.url)))?;
        Ok(HttpTarget {
            head,
            pool,
            samples: ErrorSamples::default(),
        })
    }
}

impl Target for HttpTarget {
    async fn invoke(&self, body: Bytes) -> Outcome {
        let idle = self.pool.stack();
        let mut conn = match self.pool.checkout(idle).await {
            Ok(c) => c,
            Err(f) => {
                self.samples.offer(f.class, || f.describe(&self.pool));
                return Outcome::error(f.class, None);
            }
        };
        match conn.exchange(&self.head, &body).await {
            Ok(a) => {
                if a.reusable {
                    Pool::checkin(idle, conn);
                }
                match ErrorClass::from_http_status(a.status) {
                    None => Outcome::success(a.status),
                    Some(class) => Outcome::error(class, Some(a.status)),
                }
            }
            Err(class) => Outcome::error(class, None),
        }
    }

    fn error_samples(&self) -> Vec<(ErrorClass, String)> {
        self.samples.get()
    }
}
