//! The simulated LLM endpoint (`rightsize fake-endpoint --llm`): an OpenAI-compatible server
//! that streams tokens as Server-Sent Events, with a capacity that depends on concurrency.
//!
//! Modelled on how LLM servers batch: `slots` sequences decode together; a request beyond them
//! waits in a queue (of `queue_max`; one more gets 503), so its time to first token includes the
//! wait. A request that gets a slot takes `prefill_ms`, then sends its tokens one per chunk;
//! each token takes `itl_ms × (1 + itl_growth × (active − 1))`, `active` being the sequences
//! decoding at that moment. So ITL grows with concurrency up to `slots` and TTFT grows beyond
//! it: an ITL or TTFT limit puts the knee at a concurrency the tests can compute. Tokens are
//! scheduled on absolute deadlines, so timer overshoot does not add up along a stream.
//!
//! Faults, each a share of requests: `cut_rate` aborts the connection mid-stream,
//! `truncate_rate` ends the body cleanly but without `data: [DONE]`, `error_event_rate` sends an
//! `{"error": …}` object mid-stream (with HTTP 200).
//!
//! The SageMaker streaming runtime path (`POST /endpoints/{name}/invocations-response-stream`)
//! sends the same chat chunks inside AWS event-stream `PayloadPart` frames written with the
//! SDK's own `aws-smithy-eventstream`, each chunk split across two frames; there a truncated
//! stream is an `InternalStreamFailure` event and an error event a `ModelStreamError` event
//! (`ErrorCode` `ModelInvocationTimeExceeded`), as SageMaker reports them. Imports only the
//! foundation.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::rng::splitmix64;

/// How the simulated LLM behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    /// Sequences decoded together.
    pub slots: usize,
    /// Requests that may wait for a slot; one more gets 503 at once.
    pub queue_max: usize,
    /// Time from getting a slot to the first token, milliseconds.
    pub prefill_ms: f64,
    /// Time per token with one sequence decoding, milliseconds.
    pub itl_ms: f64,
    /// How much each further active sequence adds to the time per token (0.25: +25 % each).
    pub itl_growth: f64,
    /// Tokens per answer when the request sets no `max_tokens`.
    pub tokens: u32,
    pub cut_rate: f64,
    pub truncate_rate: f64,
    pub error_event_rate: f64,
    pub seed: u64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            slots: 4,
            queue_max: 1024,
            prefill_ms: 50.0,
            itl_ms: 10.0,
            itl_growth: 0.25,
            tokens: 32,
            cut_rate: 0.0,
            truncate_rate: 0.0,
            error_event_rate: 0.0,
            seed: 1,
        }
    }
}

impl LlmConfig {
    /// The time per token with `active` sequences decoding.
    pub fn itl_at(&self, active: usize) -> Duration {
        let a = active.max(1) as f64;
        Duration::from_secs_f64(self.itl_ms * (1.0 + self.itl_growth * (a - 1.0)) / 1000.0)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::input(m));
        if self.slots == 0 {
            return bad("--slots must be at least 1".into());
        }
        for (name, v) in [
            ("--prefill-ms", self.prefill_ms),
            ("--itl-ms", self.itl_ms),
            ("--itl-growth", self.itl_growth),
        ] {
            if !v.is_finite() || v < 0.0 {
                return bad(format!("{name} = {v} must be 0 or more"));
            }
        }
        if self.tokens == 0 {
            return bad("--tokens must be at least 1".into());
        }
        let shares = [self.cut_rate, self.truncate_rate, self.error_event_rate];
        if shares.iter().any(|s| !(0.0..=1.0).contains(s)) || shares.iter().sum::<f64>() > 1.0 {
            return bad(
                "--cut-rate, --truncate-rate and --error-event-rate must each be between 0 and 1 and add up to at most 1".into(),
            );
        }
        Ok(())
    }
}

struct State {
    cfg: LlmConfig,
    slots: Semaphore,
    waiting: AtomicUsize,
    active: AtomicUsize,
    draws: AtomicU64,
    served: AtomicU64,
}

impl State {
    fn draw(&self) -> f64 {
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        (splitmix64(self.cfg.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 11) as f64
            / (1u64 << 53) as f64
    }
}

/// A running simulated LLM endpoint; dropping it stops it.
pub struct LlmEndpoint {
    addr: SocketAddr,
    cancel: CancellationToken,
    state: Arc<State>,
}

impl LlmEndpoint {
    pub async fn start(cfg: LlmConfig, addr: SocketAddr) -> Result<LlmEndpoint> {
        cfg.validate()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Other(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Other(format!("cannot read the listening address: {e}")))?;
        let state = Arc::new(State {
            slots: Semaphore::new(cfg.slots),
            cfg,
            waiting: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            draws: AtomicU64::new(0),
            served: AtomicU64::new(0),
        });
        let cancel = CancellationToken::new();
        tokio::spawn(accept_loop(listener, state.clone(), cancel.clone()));
        Ok(LlmEndpoint {
            addr,
            cancel,
            state,
        })
    }

    pub async fn start_local(cfg: LlmConfig) -> Result<LlmEndpoint> {
        LlmEndpoint::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/v1/chat/completions`.
    pub fn chat_url(&self) -> String {
        format!("http://{}/v1/chat/completions", self.addr)
    }

    /// The base URL to give the AWS SDK as its endpoint (the streaming runtime path).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Streams that ended with `[DONE]`.
    pub fn served(&self) -> u64 {
        self.state.served.load(Ordering::Relaxed)
    }

    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

impl Drop for LlmEndpoint {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, cancel: CancellationToken) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(state.clone(), req));
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = cancel.cancelled() => {}
            }
        });
    }
}

/// A response body fed by a channel: each message is one chunk on the wire; an `Err` aborts
/// the body (the connection is cut).
struct ChannelBody(mpsc::Receiver<std::result::Result<Bytes, std::io::Error>>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|m| m.map(|r| r.map(Frame::data)))
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<ChannelBody> {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(Ok(Bytes::from_static(text.as_bytes())));
    let mut r = Response::new(ChannelBody(rx));
    *r.status_mut() = status;
    r
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    Cut,
    Truncate,
    ErrorEvent,
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> std::result::Result<Response<ChannelBody>, Infallible> {
    let chat = match (req.method(), req.uri().path()) {
        (&Method::GET, "/health" | "/ping") => {
            return Ok(plain(StatusCode::OK, "{\"status\":\"ok\"}"));
        }
        (&Method::POST, "/v1/chat/completions") => true,
        (&Method::POST, "/v1/completions") => false,
        (&Method::POST, p)
            if p.starts_with("/endpoints/") && p.ends_with("/invocations-response-stream") =>
        {
            true
        }
        _ => return Ok(plain(StatusCode::NOT_FOUND, "not found")),
    };
    let runtime = req.uri().path().starts_with("/endpoints/");
    let Ok(body) = req.into_body().collect().await else {
        return Ok(plain(StatusCode::BAD_REQUEST, "unreadable body"));
    };
    let tokens = serde_json::from_slice::<serde_json::Value>(&body.to_bytes())
        .ok()
        .and_then(|v| v.get("max_tokens").and_then(|m| m.as_u64()))
        .map_or(state.cfg.tokens, |m| m.clamp(1, 100_000) as u32);
    let waiting = state.waiting.fetch_add(1, Ordering::AcqRel);
    if waiting >= state.cfg.slots + state.cfg.queue_max {
        state.waiting.fetch_sub(1, Ordering::AcqRel);
        return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "queue full"));
    }
    let u = state.draw();
    let c = &state.cfg;
    let fault = if u < c.cut_rate {
        Fault::Cut
    } else if u < c.cut_rate + c.truncate_rate {
        Fault::Truncate
    } else if u < c.cut_rate + c.truncate_rate + c.error_event_rate {
        Fault::ErrorEvent
    } else {
        Fault::None
    };
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(generate(state, Emit { tx, runtime }, tokens, chat, fault));
    let mut r = Response::new(ChannelBody(rx));
    let h = r.headers_mut();
    if runtime {
        h.insert(
            "content-type",
            hyper::header::HeaderValue::from_static("application/vnd.amazon.eventstream"),
        );
        h.insert(
            "x-amzn-invoked-production-variant",
            hyper::header::HeaderValue::from_static("AllTraffic"),
        );
    } else {
        h.insert(
            "content-type",
            hyper::header::HeaderValue::from_static("text/event-stream"),
        );
    }
    Ok(r)
}

/// Leaves the decoding batch (and gives its slot back) however the stream ends.
struct Active<'a>(&'a AtomicUsize);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Writes a stream's text to the wire: as it is (SSE), or inside event-stream frames.
struct Emit {
    tx: mpsc::Sender<std::result::Result<Bytes, std::io::Error>>,
    runtime: bool,
}

impl Emit {
    /// Sends `text`; false once the client has gone.
    async fn text(&self, text: String) -> bool {
        if !self.runtime {
            return self.tx.send(Ok(Bytes::from(text))).await.is_ok();
        }
        // SageMaker splits the container's bytes at arbitrary points: two parts per chunk.
        let b = text.into_bytes();
        let mid = b.len() / 2;
        let mut wire = Vec::with_capacity(b.len() + 200);
        for part in [&b[..mid], &b[mid..]] {
            let m = Message::new(Bytes::copy_from_slice(part))
                .add_header(Header::new(
                    ":message-type",
                    HeaderValue::String("event".into()),
                ))
                .add_header(Header::new(
                    ":event-type",
                    HeaderValue::String("PayloadPart".into()),
                ))
                .add_header(Header::new(
                    ":content-type",
                    HeaderValue::String("application/octet-stream".into()),
                ));
            if write_message_to(&m, &mut wire).is_err() {
                return false;
            }
        }
        self.tx.send(Ok(Bytes::from(wire))).await.is_ok()
    }

    /// A runtime-path exception event (`ModelStreamError`, `InternalStreamFailure`).
    async fn exception(&self, kind: &str, error_code: Option<&str>) {
        let mut payload = serde_json::json!({ "Message": format!("simulated {kind}") });
        if let Some(c) = error_code {
            payload["ErrorCode"] = serde_json::json!(c);
        }
        let m = Message::new(Bytes::from(payload.to_string()))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("exception".into()),
            ))
            .add_header(Header::new(
                ":exception-type",
                HeaderValue::String(kind.to_string().into()),
            ))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ));
        let mut wire = Vec::new();
        if write_message_to(&m, &mut wire).is_ok() {
            let _ = self.tx.send(Ok(Bytes::from(wire))).await;
        }
    }
}

async fn generate(state: Arc<State>, emit: Emit, tokens: u32, chat: bool, fault: Fault) {
    let permit = state.slots.acquire().await;
    state.waiting.fetch_sub(1, Ordering::AcqRel);
    let Ok(_permit) = permit else { return };
    state.active.fetch_add(1, Ordering::AcqRel);
    let _active = Active(&state.active);
    let send = |s: String| emit.text(s);
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        let choice = if chat {
            serde_json::json!({"index": 0, "delta": delta, "finish_reason": finish})
        } else {
            let text = delta
                .get("content")
                .cloned()
                .unwrap_or(serde_json::json!(""));
            serde_json::json!({"index": 0, "text": text, "finish_reason": finish})
        };
        format!(
            "data: {}\n\n",
            serde_json::json!({"object": if chat {"chat.completion.chunk"} else {"text_completion"}, "choices": [choice]})
        )
    };
    // Chat streams open with a role-only chunk: not a token.
    if chat
        && !send(chunk(
            serde_json::json!({"role": "assistant", "content": null}),
            None,
        ))
        .await
    {
        return;
    }
    let mut at = Instant::now() + Duration::from_secs_f64(state.cfg.prefill_ms / 1000.0);
    let half = tokens / 2;
    for k in 0..tokens {
        super::timer::sleep(at.saturating_duration_since(Instant::now())).await;
        if k == half && fault != Fault::None {
            match fault {
                Fault::Cut => {
                    let _ = emit
                        .tx
                        .send(Err(std::io::Error::other("simulated connection cut")))
                        .await;
                }
                Fault::ErrorEvent if emit.runtime => {
                    emit.exception("ModelStreamError", Some("ModelInvocationTimeExceeded"))
                        .await;
                }
                Fault::Truncate if emit.runtime => {
                    emit.exception("InternalStreamFailure", None).await;
                }
                Fault::ErrorEvent => {
                    let _ = send(
                        "data: {\"error\":{\"message\":\"simulated error mid-stream\",\"type\":\"server_error\"}}\n\n"
                            .to_string(),
                    )
                    .await;
                }
                _ => {}
            }
            return;
        }
        if !send(chunk(
            serde_json::json!({"content": format!("t{k} ")}),
            None,
        ))
        .await
        {
            return;
        }
        at += state.cfg.itl_at(state.active.load(Ordering::Acquire));
    }
    let usage = serde_json::json!({
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": 8 + tokens}
    });
    let end = format!(
        "{}data: {usage}\n\ndata: [DONE]\n\n",
        chunk(serde_json::json!({}), Some("length"))
    );
    if send(end).await {
        state.served.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itl_grows_with_the_active_sequences() {
        let c = LlmConfig {
            itl_ms: 10.0,
            itl_growth: 0.25,
            ..Default::default()
        };
        assert_eq!(c.itl_at(1), Duration::from_millis(10));
        assert_eq!(c.itl_at(5), Duration::from_millis(20));
        assert!(
            LlmConfig {
                cut_rate: 0.6,
                truncate_rate: 0.6,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
