//! The HTTP target for streamed answers (`[target] stream`): POSTs each body and reads the
//! answer as it arrives, noting when each read came, with [`crate::measure::stream`] parsing
//! the format. Goes through reqwest (HTTP/1.1 or HTTPS); a stream costs one task read per
//! chunk, far below the milliseconds between tokens.
//!
//! A failed status is classed as in [`super::http`]; an error object inside the stream is a
//! `model_error`; a body that ends (or is cut) before the format's terminator, or that stays
//! silent longer than `stream_idle_timeout_ms`, is `stream_broken`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::resolve::TlsResolver;
use super::target::{ErrorSamples, Target};
use crate::config::{Campaign, StreamFormat};
use crate::error::{Error, Result};
use crate::measure::stats::{ErrorClass, Outcome};
use crate::measure::stream::{Decoder, StreamFailure, StreamTally};
use crate::measure::stream_stats::StreamRecord;

/// What the streaming HTTP target needs to know.
#[derive(Debug, Clone)]
pub struct StreamHttpConfig {
    pub url: String,
    pub content_type: String,
    pub accept: String,
    pub headers: Vec<(String, String)>,
    pub format: StreamFormat,
    pub idle_timeout: Duration,
    pub pool: usize,
    pub connect_timeout: Duration,
}

impl StreamHttpConfig {
    /// The request/response target's settings for the same campaign, plus the stream's.
    pub fn from_campaign(c: &Campaign, format: StreamFormat) -> Result<StreamHttpConfig> {
        let base = super::http::HttpTargetConfig::from_campaign(c)?;
        Ok(StreamHttpConfig {
            url: base.url,
            content_type: base.content_type,
            accept: base.accept,
            headers: base.headers,
            format,
            idle_timeout: c.target.stream_idle_timeout(),
            pool: base.pool,
            connect_timeout: base.connect_timeout,
        })
    }
}

pub struct StreamHttpTarget {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    format: StreamFormat,
    idle_timeout: Duration,
    samples: ErrorSamples,
}

impl StreamHttpTarget {
    pub fn new(cfg: &StreamHttpConfig) -> Result<StreamHttpTarget> {
        let value = |v: &str, what: &str| {
            HeaderValue::from_str(v).map_err(|_| {
                Error::input(format!(
                    "[target] {what} = {v:?} is not a valid header value"
                ))
            })
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, value(&cfg.content_type, "content_type")?);
        let accept = if cfg.format == StreamFormat::Jsonl || cfg.accept != "application/json" {
            cfg.accept.clone()
        } else {
            "text/event-stream".to_string()
        };
        headers.insert(ACCEPT, value(&accept, "accept")?);
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                Error::input(format!("[target] headers: invalid header name {k:?}"))
            })?;
            headers.insert(name, value(v, &format!("headers.{k}"))?);
        }
        if !(cfg.url.starts_with("http://") || cfg.url.starts_with("https://")) {
            return Err(Error::input(format!(
                "[target] url = {:?} must start with http:// or https://",
                cfg.url
            )));
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(cfg.pool.max(1))
            .connect_timeout(cfg.connect_timeout)
            .tcp_nodelay(true)
            .dns_resolver(std::sync::Arc::new(TlsResolver))
            .build()
            .map_err(|e| Error::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(StreamHttpTarget {
            client,
            url: cfg.url.clone(),
            headers,
            format: cfg.format,
            idle_timeout: cfg.idle_timeout,
            samples: ErrorSamples::default(),
        })
    }

    fn fail(
        &self,
        class: ErrorClass,
        status: Option<u16>,
        why: impl FnOnce() -> String,
    ) -> Outcome {
        self.samples.offer(class, why);
        Outcome::error(class, status)
    }
}

/// Whether a send failed because the pooled connection was already closed by the server.
fn stale_connection(e: &reqwest::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            return h.is_incomplete_message();
        }
        cur = err.source();
    }
    false
}

impl Target for StreamHttpTarget {
    async fn invoke(&self, body: Bytes) -> Outcome {
        let sent = Instant::now();
        let mut resp = None;
        for attempt in 0..2 {
            let r = self
                .client
                .post(&self.url)
                .headers(self.headers.clone())
                .body(body.clone())
                .send()
                .await;
            match r {
                Ok(r) => {
                    resp = Some(r);
                    break;
                }
                // A kept-alive connection the server closed while it sat in the pool (the
                // request was written, no byte came back): sent again once on a new
                // connection, as HTTP clients do, its time still counted from the first send.
                // Servers that close idle streams' connections early (llama.cpp's) meet this.
                Err(e) if attempt == 0 && stale_connection(&e) => continue,
                Err(e) => {
                    let class = classify_reqwest_error(&e);
                    return self.fail(class, None, || e.to_string());
                }
            }
        }
        let Some(mut resp) = resp else {
            return self.fail(ErrorClass::Connect, None, || {
                "the connection was closed before an answer, twice".into()
            });
        };
        let status = resp.status().as_u16();
        if let Some(class) = ErrorClass::from_http_status(status) {
            let text = match tokio::time::timeout(self.idle_timeout, resp.text()).await {
                Ok(Ok(t)) => t,
                _ => String::new(),
            };
            return self.fail(class, Some(status), || format!("HTTP {status}: {text}"));
        }
        let mut decoder = Decoder::new(self.format);
        let mut tally = StreamTally::default();
        let mut pieces = Vec::new();
        let broken = loop {
            match tokio::time::timeout(self.idle_timeout, resp.chunk()).await {
                Ok(Ok(Some(bytes))) => {
                    let at = sent.elapsed();
                    decoder.feed(&bytes, &mut pieces);
                    tally.take(at, &mut pieces);
                    if tally.done || tally.error.is_some() {
                        break None;
                    }
                }
                Ok(Ok(None)) => {
                    let at = sent.elapsed();
                    decoder.finish(&mut pieces);
                    tally.take(at, &mut pieces);
                    break None;
                }
                Ok(Err(e)) => break Some(format!("the stream was cut: {e}")),
                Err(_) => break Some(StreamFailure::Idle.to_string()),
            }
        };
        let failure = match broken {
            Some(why) => Some((ErrorClass::StreamBroken, why)),
            None => match tally.failure() {
                None => None,
                Some(StreamFailure::ErrorEvent(e)) => Some((
                    ErrorClass::ModelError,
                    format!("error inside the stream: {e}"),
                )),
                Some(f) => Some((ErrorClass::StreamBroken, f.to_string())),
            },
        };
        let mut outcome = match failure {
            Some((class, why)) => self.fail(class, Some(status), || why),
            None => Outcome::success(status),
        };
        outcome.stream = Some(Box::new(StreamRecord { sent, tally }));
        outcome
    }

    fn error_samples(&self) -> Vec<(ErrorClass, String)> {
        self.samples.get()
    }
}

/// A reqwest transport error → its error class.
fn classify_reqwest_error(e: &reqwest::Error) -> ErrorClass {
    if e.is_timeout() {
        ErrorClass::Timeout
    } else if e.is_connect() {
        ErrorClass::Connect
    } else {
        super::classify::source_chain(e)
    }
}
