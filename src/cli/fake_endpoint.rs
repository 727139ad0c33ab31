//! `rightsize fake-endpoint`: serve the built-in simulated endpoint (or, with `--llm`, the
//! simulated streaming LLM) until interrupted.

use std::net::SocketAddr;
use std::time::Duration;

use super::signals::interrupt_token_with;
use crate::error::Result;
use crate::sim::{FakeConfig, FakeEndpoint};

// `rightsize fake-endpoint` (a plain comment: a doc comment here would replace the command's help text).
#[derive(Debug, clap::Args)]
pub struct FakeEndpointArgs {
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Requests served at once.
    #[arg(long, default_value_t = 8)]
    pub slots: usize,
    /// Mean service time per request, milliseconds.
    #[arg(long, default_value_t = 20.0)]
    pub service_ms: f64,
    /// Spread of the service time (lognormal sigma, same mean); 0 = fixed.
    #[arg(long, default_value_t = 0.0)]
    pub jitter: f64,
    /// Requests that may wait for a slot; beyond that, 503 at once.
    #[arg(long, default_value_t = 128)]
    pub queue_max: usize,
    /// Share of requests that fail with a model error (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of requests that are throttled (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Pause the whole server every this many milliseconds...
    #[arg(long)]
    pub stall_every_ms: Option<u64>,
    /// ...for this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub stall_ms: u64,
    /// Pause the whole server once, this many milliseconds after it starts, for --stall-ms
    /// (a one-off disturbance).
    #[arg(long)]
    pub stall_once_at_ms: Option<u64>,
    /// Variant name reported on the SageMaker runtime path (several: A,B split round-robin).
    #[arg(long, default_value = "AllTraffic")]
    pub variant: String,
    /// Share of requests refused at once with 503 ServiceUnavailable (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub unavailable_rate: f64,
    /// Share answered at once with 429 ModelNotReadyException (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub not_ready_rate: f64,
    /// Share answered at once with 500 InternalFailure (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub internal_failure_rate: f64,
    /// Share answered at once with 400 ValidationError (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub validation_rate: f64,
    /// Share of requests whose answer is held back --slow-ms (0..1), to exercise timeouts.
    #[arg(long, default_value_t = 0.0)]
    pub slow_rate: f64,
    #[arg(long, default_value_t = 0)]
    pub slow_ms: u64,
    /// Runtime-path capacity for endpoints whose name contains NAME_PART, as
    /// NAME_PART=SLOTSxMS (e.g. c5-xlarge=8x20); repeat for several.
    #[arg(long, value_name = "NAME_PART=SLOTSxMS", value_parser = endpoint_profile_arg)]
    pub endpoint_profile: Vec<crate::sim::EndpointProfile>,
    #[command(flatten)]
    pub llm: LlmArgs,
}

/// `fake-endpoint --llm`: the simulated streaming LLM (OpenAI-compatible SSE).
#[derive(Debug, clap::Args)]
pub struct LlmArgs {
    /// Serve a simulated LLM instead: OpenAI-compatible streams, --slots sequences decoded
    /// together, a queue of --queue-max in front.
    #[arg(long)]
    pub llm: bool,
    /// --llm: time from getting a slot to the first token, milliseconds.
    #[arg(long, default_value_t = 50.0)]
    pub prefill_ms: f64,
    /// --llm: time per token with one sequence decoding, milliseconds.
    #[arg(long, default_value_t = 10.0)]
    pub itl_ms: f64,
    /// --llm: share each further active sequence adds to the time per token.
    #[arg(long, default_value_t = 0.25)]
    pub itl_growth: f64,
    /// --llm: tokens per answer when the request sets no max_tokens.
    #[arg(long, default_value_t = 32)]
    pub tokens: u32,
    /// --llm: share of streams whose connection is cut mid-stream (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub cut_rate: f64,
    /// --llm: share of streams that end without `data: [DONE]` (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub truncate_rate: f64,
    /// --llm: share of streams that send an error object mid-stream, with HTTP 200 (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub error_event_rate: f64,
}

fn endpoint_profile_arg(s: &str) -> Result<crate::sim::EndpointProfile> {
    crate::sim::EndpointProfile::parse(s)
}

/// Serves until the first Ctrl-C or SIGTERM.
pub async fn serve(args: FakeEndpointArgs) -> Result<i32> {
    let FakeEndpointArgs {
        host,
        port,
        slots,
        service_ms,
        jitter,
        queue_max,
        error_rate,
        throttle_rate,
        stall_every_ms,
        stall_ms,
        stall_once_at_ms,
        variant,
        unavailable_rate,
        not_ready_rate,
        internal_failure_rate,
        validation_rate,
        slow_rate,
        slow_ms,
        endpoint_profile,
        llm,
    } = args;
    if llm.llm {
        let cfg = crate::sim::llm::LlmConfig {
            slots,
            queue_max,
            prefill_ms: llm.prefill_ms,
            itl_ms: llm.itl_ms,
            itl_growth: llm.itl_growth,
            tokens: llm.tokens,
            cut_rate: llm.cut_rate,
            truncate_rate: llm.truncate_rate,
            error_event_rate: llm.error_event_rate,
            seed: 1,
        };
        let endpoint =
            crate::sim::llm::LlmEndpoint::start(cfg.clone(), SocketAddr::new(host, port)).await?;
        eprintln!(
            "simulated LLM on {} ({} slots, prefill {} ms, ITL {} ms + {}% per further active sequence); POST /v1/chat/completions or /v1/completions with stream; Ctrl-C stops it",
            endpoint.chat_url(),
            cfg.slots,
            cfg.prefill_ms,
            cfg.itl_ms,
            cfg.itl_growth * 100.0
        );
        interrupt_token_with("stopping").cancelled().await;
        return Ok(0);
    }
    let cfg = FakeConfig {
        slots,
        service_ms,
        jitter,
        queue_max,
        error_rate,
        throttle_rate,
        stall_every: stall_every_ms.map(Duration::from_millis),
        stall_for: Duration::from_millis(stall_ms),
        stall_once_at: stall_once_at_ms.map(Duration::from_millis),
        variant,
        seed: 1,
        unavailable_rate,
        not_ready_rate,
        internal_failure_rate,
        validation_rate,
        slow_rate,
        slow_for: Duration::from_millis(slow_ms),
        endpoint_profiles: endpoint_profile,
    };
    let endpoint = FakeEndpoint::start(cfg.clone(), SocketAddr::new(host, port)).await?;
    eprintln!(
        "simulated endpoint on http://{} ({} slots × {} ms = {:.0} rps capacity); POST /invocations or /endpoints/NAME/invocations; Ctrl-C stops it",
        endpoint.addr(),
        cfg.slots,
        cfg.service_ms,
        cfg.capacity_rps()
    );
    let stop = interrupt_token_with(
        "stopping: finishing the requests in flight (press Ctrl-C again to exit at once)",
    );
    stop.cancelled().await;
    endpoint.drain().await;
    Ok(0)
}
