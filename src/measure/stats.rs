//! Measurement of one step: error classes, HDR histograms, and the [`StepResult`] they become.
//!
//! Workers record into a few mutex-guarded shards (a worker always uses the same shard, so the
//! locks are nearly never contended); shards are merged once at step end. Nothing is allocated
//! and no message is sent per request, and memory stays constant however long a step runs.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::measure::stream_stats::{
    StreamLimits, StreamRecord, StreamSample, StreamShard, StreamStepStats,
};
use crate::num::round3;

/// How many error classes there are.
pub const CLASSES: usize = 13;

/// Why a request did not succeed. The snake-case names are stable report keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// ThrottlingException, HTTP 429.
    Throttled,
    /// SageMaker ModelError (424) or a 5xx from a container.
    ModelError,
    ModelNotReady,
    /// HTTP 503.
    ServiceUnavailable,
    InternalFailure,
    /// A 4xx other than 429.
    Validation,
    Timeout,
    /// Refused, reset, DNS, TLS.
    Connect,
    Other,
    /// Due in the measured window but never sent: still queued in the generator (all
    /// `max_concurrency` slots busy) when sending stopped. Its `latency_ms` is a lower bound:
    /// from its intended send time to when sending stopped.
    NotSent,
    /// A stream that ended without its format's terminator, or stalled longer than
    /// `[target] stream_idle_timeout_ms`.
    StreamBroken,
    /// SageMaker `InvokeEndpointWithResponseStream`: a `ModelStreamError` event (its
    /// `ErrorCode`, e.g. `ModelInvocationTimeExceeded` or `StreamBroken`, is in the message).
    ModelStreamError,
    /// SageMaker `InvokeEndpointWithResponseStream`: an `InternalStreamFailure` event.
    InternalStreamFailure,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; CLASSES] = [
        ErrorClass::Throttled,
        ErrorClass::ModelError,
        ErrorClass::ModelNotReady,
        ErrorClass::ServiceUnavailable,
        ErrorClass::InternalFailure,
        ErrorClass::Validation,
        ErrorClass::Timeout,
        ErrorClass::Connect,
        ErrorClass::Other,
        ErrorClass::NotSent,
        ErrorClass::StreamBroken,
        ErrorClass::ModelStreamError,
        ErrorClass::InternalStreamFailure,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Throttled => "throttled",
            ErrorClass::ModelError => "model_error",
            ErrorClass::ModelNotReady => "model_not_ready",
            ErrorClass::ServiceUnavailable => "service_unavailable",
            ErrorClass::InternalFailure => "internal_failure",
            ErrorClass::Validation => "validation",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::Other => "other",
            ErrorClass::NotSent => "not_sent",
            ErrorClass::StreamBroken => "stream_broken",
            ErrorClass::ModelStreamError => "model_stream_error",
            ErrorClass::InternalStreamFailure => "internal_stream_failure",
        }
    }

    /// How an HTTP status (of a plain HTTP model server) maps onto the classes.
    pub fn from_http_status(status: u16) -> Option<ErrorClass> {
        match status {
            200..=299 => None,
            429 => Some(ErrorClass::Throttled),
            // SageMaker's ModelError status, seen when an HTTP target is a runtime-style proxy.
            424 => Some(ErrorClass::ModelError),
            503 => Some(ErrorClass::ServiceUnavailable),
            408 | 504 => Some(ErrorClass::Timeout),
            400..=499 => Some(ErrorClass::Validation),
            500..=599 => Some(ErrorClass::ModelError),
            _ => Some(ErrorClass::Other),
        }
    }
}

/// What one request came to. Timings are taken by the load generator, not the target (a
/// stream's token times are offsets from the client's send, which the generator places).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `None` is success.
    pub class: Option<ErrorClass>,
    /// The HTTP status seen, when a response arrived.
    pub status: Option<u16>,
    /// For SageMaker model errors: the container's own status (`OriginalStatusCode`).
    pub original_status: Option<u16>,
    /// Index into the target's variant table (`x-Amzn-Invoked-Production-Variant`).
    pub variant: Option<u8>,
    /// A streamed answer's token times and counts (boxed: a plain request pays one pointer).
    pub stream: Option<Box<StreamRecord>>,
}

impl Outcome {
    pub fn success(status: u16) -> Outcome {
        Outcome {
            class: None,
            status: Some(status),
            original_status: None,
            variant: None,
            stream: None,
        }
    }

    pub fn error(class: ErrorClass, status: Option<u16>) -> Outcome {
        Outcome {
            class: Some(class),
            status,
            original_status: None,
            variant: None,
            stream: None,
        }
    }
}

/// Microsecond HDR histogram covering 1 µs to 2 hours at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 2 * 3600 * 1_000_000, 3)
        .expect("static histogram bounds are valid")
}

pub(crate) const MAX_STATUS: usize = 600;
/// Production variants counted separately per step (SageMaker allows 10 per endpoint).
pub const MAX_VARIANTS: usize = 16;

/// One shard of a step's measurements.
pub struct Shard {
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    /// Actual minus intended send time of the measured requests sent: the generator's lag.
    pub send_lag: Histogram<u64>,
    pub requests: u64,
    /// Latencies above the histogram's range (2 hours), recorded at its top.
    pub clamped: u64,
    pub errors: [u64; CLASSES],
    pub(crate) statuses: Box<[u64; MAX_STATUS]>,
    pub(crate) original_statuses: Box<[u64; MAX_STATUS]>,
    pub(crate) variants: [u64; MAX_VARIANTS],
    pub stream: StreamShard,
}

impl Shard {
    pub fn new() -> Shard {
        Shard {
            latency: new_histogram(),
            service: new_histogram(),
            send_lag: new_histogram(),
            requests: 0,
            clamped: 0,
            errors: [0; CLASSES],
            statuses: Box::new([0; MAX_STATUS]),
            original_statuses: Box::new([0; MAX_STATUS]),
            variants: [0; MAX_VARIANTS],
            stream: StreamShard::default(),
        }
    }

    pub fn merge(&mut self, other: &Shard) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        let _ = self.send_lag.add(&other.send_lag);
        self.requests += other.requests;
        self.clamped += other.clamped;
        for (a, b) in self.errors.iter_mut().zip(other.errors.iter()) {
            *a += b;
        }
        for (a, b) in self.statuses.iter_mut().zip(other.statuses.iter()) {
            *a += b;
        }
        for (a, b) in self
            .original_statuses
            .iter_mut()
            .zip(other.original_statuses.iter())
        {
            *a += b;
        }
        for (a, b) in self.variants.iter_mut().zip(other.variants.iter()) {
            *a += b;
        }
        self.stream.merge(&other.stream);
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::new()
    }
}

/// Collects a step's measurements from all workers.
pub struct Recorder {
    shards: Vec<Mutex<Shard>>,
    /// Measured requests never sent because the step ended with them still queued.
    pub unsent: AtomicU64,
    /// Measured requests sent.
    pub sent: AtomicU64,
    /// Requests in flight now (sent, not yet answered), and the most there ever were.
    pub in_flight: AtomicU64,
    pub peak_in_flight: AtomicU64,
    /// Live counters for progress display (measured requests only).
    pub live_done: AtomicU64,
    pub live_errors: AtomicU64,
    /// Warm-up requests answered (or failed), and of those the errors: with the live counters
    /// they let the abort watcher see a broken endpoint from the step's first second.
    pub warmup_done: AtomicU64,
    pub warmup_errors: AtomicU64,
    /// The per-request limits that count a stream towards goodput.
    pub stream_limits: StreamLimits,
}

impl Recorder {
    pub fn new(shards: usize) -> Recorder {
        Recorder {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Shard::new()))
                .collect(),
            unsent: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            live_done: AtomicU64::new(0),
            live_errors: AtomicU64::new(0),
            warmup_done: AtomicU64::new(0),
            warmup_errors: AtomicU64::new(0),
            stream_limits: StreamLimits::default(),
        }
    }

    /// The same recorder judging streams' goodput by `limits`.
    pub fn with_stream_limits(mut self, limits: StreamLimits) -> Recorder {
        self.stream_limits = limits;
        self
    }

    /// Records one successful streamed request's figures (from its intended send time) in
    /// the shard that [`Self::record_sent`] uses for it.
    pub fn record_stream(&self, shard: usize, sample: &StreamSample, gaps_us: &[u32]) {
        let mut s = match self.shards[shard % self.shards.len()].lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        s.stream.record(sample, gaps_us, &self.stream_limits);
    }

    /// Counts one warm-up request's outcome (warm-up requests are not measured).
    pub fn note_warmup(&self, outcome: &Outcome) {
        self.warmup_done.fetch_add(1, Ordering::Relaxed);
        if outcome.class.is_some() {
            self.warmup_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Requests finished so far in the step, warm-up included, and how many of them failed.
    pub fn finished_and_failed(&self) -> (u64, u64) {
        (
            self.live_done.load(Ordering::Relaxed) + self.warmup_done.load(Ordering::Relaxed),
            self.live_errors.load(Ordering::Relaxed) + self.warmup_errors.load(Ordering::Relaxed),
        )
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Records one measured request. `latency_us` counts from the intended send time,
    /// `service_us` from the actual send.
    pub fn record(&self, shard: usize, latency_us: u64, service_us: u64, outcome: &Outcome) {
        self.record_sent(shard, latency_us, service_us, 0, outcome);
    }

    /// Records one measured request that was sent `lag_us` after its intended send time.
    pub fn record_sent(
        &self,
        shard: usize,
        latency_us: u64,
        service_us: u64,
        lag_us: u64,
        outcome: &Outcome,
    ) {
        let mut s = match self.shards[shard % self.shards.len()].lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if latency_us > s.latency.high() {
            s.clamped += 1;
        }
        s.latency.saturating_record(latency_us.max(1));
        // Lag 0 (on time) is recorded as the histogram's lowest value, 1 µs.
        s.send_lag.saturating_record(lag_us.max(1));
        s.service.saturating_record(service_us.max(1));
        s.requests += 1;
        if let Some(c) = outcome.class {
            s.errors[c.index()] += 1;
        }
        if let Some(st) = outcome.status {
            s.statuses[(st as usize).min(MAX_STATUS - 1)] += 1;
        }
        if let Some(st) = outcome.original_status {
            s.original_statuses[(st as usize).min(MAX_STATUS - 1)] += 1;
        }
        if let Some(v) = outcome.variant {
            s.variants[(v as usize).min(MAX_VARIANTS - 1)] += 1;
        }
        drop(s);
        self.live_done.fetch_add(1, Ordering::Relaxed);
        if outcome.class.is_some() {
            self.live_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records one measured request that was never sent: a failure of class `not_sent` whose
    /// latency (a lower bound) is its wait from the intended send time until sending stopped.
    /// It has no service time.
    pub fn record_not_sent(&self, shard: usize, waited_us: u64) {
        let mut s = match self.shards[shard % self.shards.len()].lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if waited_us > s.latency.high() {
            s.clamped += 1;
        }
        s.latency.saturating_record(waited_us.max(1));
        s.requests += 1;
        s.errors[ErrorClass::NotSent.index()] += 1;
        drop(s);
        self.unsent.fetch_add(1, Ordering::Relaxed);
        self.live_done.fetch_add(1, Ordering::Relaxed);
        self.live_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// All shards merged into one.
    pub fn merged(&self) -> Shard {
        let mut total = Shard::new();
        for s in &self.shards {
            let g = match s.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            total.merge(&g);
        }
        total
    }

    /// Measured requests so far whose latency was above `us` microseconds.
    pub fn measured_slower_than(&self, us: u64) -> u64 {
        self.count_above(us, |g| &g.latency)
    }

    /// Measured requests so far whose service time (from the actual send) was above `us`
    /// microseconds: the endpoint's part of their latency.
    pub fn served_slower_than(&self, us: u64) -> u64 {
        self.count_above(us, |g| &g.service)
    }

    fn count_above(&self, us: u64, which: impl Fn(&Shard) -> &Histogram<u64>) -> u64 {
        self.shards
            .iter()
            .map(|s| {
                let g = match s.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                let h = which(&g);
                // Counting up to the limit walks fewer buckets than counting above it.
                h.len().saturating_sub(h.count_between(0, us))
            })
            .sum()
    }

    /// p99 of latency so far, in milliseconds (for progress display).
    pub fn live_p99_ms(&self) -> f64 {
        let mut h = new_histogram();
        for s in &self.shards {
            if let Ok(g) = s.lock() {
                let _ = h.add(&g.latency);
            }
        }
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(0.99) as f64 / 1000.0
        }
    }
}

/// Percentiles of one latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl LatencySummary {
    pub fn from_histogram(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| round3(us as f64 / 1000.0);
        LatencySummary {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: round3(h.mean() / 1000.0),
        }
    }
}

/// One measured step, as it appears in `report.json` under `steps[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub offered_rps: f64,
    /// Measured requests (those due in the window) that completed, whenever they completed
    /// before the step ended, divided by the window's length: `success_rps + error_rps`. It does
    /// not depend on latency, and it cannot exceed the offered rate.
    pub achieved_rps: f64,
    /// The successful part of `achieved_rps`.
    #[serde(default)]
    pub success_rps: f64,
    /// The failed part of `achieved_rps`.
    #[serde(default)]
    pub error_rps: f64,
    /// Length of the measured window (after warm-up), seconds.
    pub duration_s: f64,
    /// Measured requests (every request due in the window): answered, failed, or never sent
    /// (`not_sent`); the denominator of `error_percent`.
    pub requests: u64,
    pub errors: u64,
    pub error_percent: f64,
    pub errors_by_class: BTreeMap<String, u64>,
    /// From the intended send time: queueing included.
    pub latency_ms: LatencySummary,
    /// From the actual send.
    pub service_ms: LatencySummary,
    pub pass: bool,
    pub reasons: Vec<String>,
    /// Measured requests that were sent.
    #[serde(default)]
    pub sent: u64,
    /// Measured requests still queued in the generator when the step ended: the same number
    /// as `errors_by_class.not_sent`.
    #[serde(default)]
    pub unsent: u64,
    #[serde(default)]
    pub warmup_s: f64,
    /// Count per HTTP status seen.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status_counts: BTreeMap<String, u64>,
    /// For model errors: count per container status (`OriginalStatusCode`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub original_status_counts: BTreeMap<String, u64>,
    /// Count per production variant that served the calls.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, u64>,
    /// Measured requests whose latency was above the histograms' range (2 hours): they count in
    /// `requests`, but their latency reads as the range's top. Absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clamped: u64,
    /// The most requests in flight at once during the step (warm-up included).
    #[serde(default)]
    pub peak_in_flight: u64,
    /// The step's `[load] max_concurrency`: when `peak_in_flight` reached it, requests waited
    /// in the generator.
    #[serde(default)]
    pub max_concurrency: u64,
    /// Actual minus intended send time of the measured requests sent, milliseconds.
    #[serde(default)]
    pub send_lag_ms: SendLag,
    /// `pass`, `fail`, or `inconclusive`: the generator, not the endpoint, was the limit
    /// (`max_concurrency` reached, or the generator fell behind its schedule) and the endpoint
    /// met its own part of the requirements; the reasons say what to change. Absent in steps
    /// saved before it existed (read `pass`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The step was stopped early because too many requests failed (`[load]
    /// abort_error_percent`); its reasons say when and why.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aborted: bool,
    /// This step repeats the step at this index of `steps` (from 0) to confirm its verdict
    /// (`[load] confirm`); its verdict replaces that step's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_of: Option<usize>,
    /// Seconds spent before this step waiting for the endpoint to answer at its baseline again
    /// after the previous step failed (`[load] cooldown_max_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_s: Option<f64>,
    /// Successful answers per second from the end of the step's first 250 ms until it ended
    /// (warm-up included): what the endpoint delivered. An overloaded step's is about its
    /// capacity, which the adaptive search aims at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_rps: Option<f64>,
    /// Every 250 ms of the step after the first served at least 70 % of the busiest 250 ms:
    /// no stall inside it. The search trusts a steady overloaded step's `served_rps` as the
    /// capacity without repeating it first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub served_steady: bool,
    /// The step started before the endpoint had recovered from the failed step before it (the
    /// recovery wait reached `[load] cooldown_max_seconds`) and failed: it measured that
    /// backlog as much as its own rate, so it is not judged, and the search offers its rate
    /// again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unrecovered: bool,
    /// A concurrency step (`[load] mode = "concurrency"`): the requests it kept in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
    /// A streamed target's TTFT, ITL, gaps, end-to-end time, tokens and goodput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamStepStats>,
    /// A distributed step (`[distributed]`, `run --shards`): what each shard measured. The
    /// step's own figures are the shards' histograms and counters merged exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardStepResult>,
    /// A distributed step run again: why each earlier run of it was invalid (a shard started
    /// late, failed, or was itself generator-limited) and so discarded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid_runs: Vec<String>,
}

/// One shard's part of a distributed step, as the report lists it (`steps[].shards[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardStepResult {
    /// Index from 0.
    pub shard: u32,
    /// How late after the step's common start instant this shard started, milliseconds.
    pub start_late_ms: f64,
    /// This shard's share of the offered rate.
    pub offered_rps: f64,
    pub achieved_rps: f64,
    pub requests: u64,
    pub errors: u64,
    pub latency_ms: LatencySummary,
    pub service_ms: LatencySummary,
    pub send_lag_ms: SendLag,
    pub peak_in_flight: u64,
    pub max_concurrency: u64,
    /// A concurrency step: the requests this shard kept in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
}

impl ShardStepResult {
    /// A shard's entry from its own step result.
    pub fn of(shard: u32, start_late_ms: f64, s: &StepResult) -> ShardStepResult {
        ShardStepResult {
            shard,
            start_late_ms: round3(start_late_ms),
            offered_rps: s.offered_rps,
            achieved_rps: s.achieved_rps,
            requests: s.requests,
            errors: s.errors,
            latency_ms: s.latency_ms,
            service_ms: s.service_ms,
            send_lag_ms: s.send_lag_ms,
            peak_in_flight: s.peak_in_flight,
            max_concurrency: s.max_concurrency,
            concurrency: s.concurrency,
        }
    }
}

impl StepResult {
    /// Successful responses per second, never above the offered rate: what MAX_RPS is read
    /// from. A step saved before `success_rps` existed (it reads 0 there) falls back to its
    /// achieved rate less its error share.
    pub fn successful_rps(&self) -> f64 {
        let success = if self.success_rps > 0.0 || self.achieved_rps <= 0.0 {
            self.success_rps
        } else {
            self.achieved_rps * (1.0 - self.error_percent / 100.0).max(0.0)
        };
        round3(success.min(self.offered_rps))
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A step's verdict. `Inconclusive` is neither: the generator was the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

/// The generator's send lag: actual minus intended send time, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SendLag {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// What the step runner measured, before a verdict is attached.
#[derive(Debug, Clone)]
pub struct StepMeasurement {
    pub offered_rps: f64,
    /// Set when the step was aborted for errors; `window_s` is then the part that ran.
    pub abort: Option<Abort>,
    /// Set when the step was stopped because it had clearly failed; `window_s` is then the
    /// part that ran.
    pub failed_early: Option<FailedEarly>,
    /// Successful answers per second after the step's first 250 ms, and whether it served
    /// them steadily.
    pub served: Served,
    pub window_s: f64,
    pub warmup_s: f64,
    pub sent: u64,
    pub unsent: u64,
    pub peak_in_flight: u64,
    pub max_concurrency: u64,
    pub shard: ShardSummary,
    /// A concurrency step's N.
    pub concurrency: Option<u64>,
    /// The wire format of a streamed target.
    pub stream_format: Option<&'static str>,
}

/// What a step served: successful answers per second, and whether it served them steadily.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Served {
    pub rps: f64,
    /// Every full sampling interval after the first served at least [`STEADY_SHARE`] of the
    /// busiest one's rate: no stall inside the step, so an overloaded step's rate is the
    /// endpoint's capacity rather than a disturbance.
    pub steady: bool,
}

/// See [`Served::steady`].
pub const STEADY_SHARE: f64 = 0.7;

/// A step stopped early because it had clearly failed (the fail-fast watcher).
#[derive(Debug, Clone, PartialEq)]
pub struct FailedEarly {
    /// Seconds since the step started (warm-up included).
    pub at_s: f64,
    pub reason: String,
}

/// Why and when a step was aborted: the error percent over the trailing window that crossed
/// the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Abort {
    pub error_percent: f64,
    /// Length of the window it was measured over, seconds.
    pub over_s: f64,
    /// Seconds since the step started (warm-up included).
    pub at_s: f64,
}

/// The plain-data content of a merged shard.
#[derive(Debug, Clone, Default)]
pub struct ShardSummary {
    pub requests: u64,
    pub clamped: u64,
    pub errors: [u64; CLASSES],
    pub latency: LatencySummary,
    pub service: LatencySummary,
    pub send_lag: SendLag,
    pub status_counts: BTreeMap<String, u64>,
    pub original_status_counts: BTreeMap<String, u64>,
    pub variants: BTreeMap<String, u64>,
    pub stream: StreamShard,
}

impl ShardSummary {
    pub fn from_shard(s: &Shard, variant_names: &[String]) -> ShardSummary {
        let counts = |a: &[u64; MAX_STATUS]| -> BTreeMap<String, u64> {
            a.iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| (k.to_string(), *n))
                .collect()
        };
        ShardSummary {
            requests: s.requests,
            clamped: s.clamped,
            errors: s.errors,
            latency: LatencySummary::from_histogram(&s.latency),
            service: LatencySummary::from_histogram(&s.service),
            send_lag: {
                let l = LatencySummary::from_histogram(&s.send_lag);
                SendLag {
                    p50: l.p50,
                    p99: l.p99,
                    max: l.max,
                }
            },
            status_counts: counts(&s.statuses),
            original_status_counts: counts(&s.original_statuses),
            variants: s
                .variants
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| {
                    (
                        variant_names
                            .get(k)
                            .cloned()
                            .unwrap_or_else(|| format!("variant-{k}")),
                        *n,
                    )
                })
                .collect(),
            stream: s.stream.clone(),
        }
    }
}

impl StepMeasurement {
    /// Turns a measurement into a step result; the verdict fills `pass` and `reasons`.
    pub fn into_result(self) -> StepResult {
        let s = self.shard;
        let errors: u64 = s.errors.iter().sum();
        let not_sent = s.errors[ErrorClass::NotSent.index()];
        // Every measured request counts, whenever its answer came: a window shorter than the
        // latency must not read as a shortfall of throughput.
        let per_s = |n: u64| {
            if self.window_s > 0.0 {
                round3(n as f64 / self.window_s)
            } else {
                0.0
            }
        };
        StepResult {
            offered_rps: round3(self.offered_rps),
            achieved_rps: per_s(s.requests - not_sent),
            success_rps: per_s(s.requests - errors),
            error_rps: per_s(errors - not_sent),
            duration_s: round3(self.window_s),
            requests: s.requests,
            errors,
            error_percent: if s.requests > 0 {
                round3(errors as f64 * 100.0 / s.requests as f64)
            } else {
                0.0
            },
            errors_by_class: ErrorClass::ALL
                .iter()
                .filter(|c| s.errors[c.index()] > 0)
                .map(|c| (c.name().to_string(), s.errors[c.index()]))
                .collect(),
            latency_ms: s.latency,
            service_ms: s.service,
            pass: false,
            reasons: Vec::new(),
            sent: self.sent,
            unsent: self.unsent,
            warmup_s: round3(self.warmup_s),
            status_counts: s.status_counts,
            original_status_counts: s.original_status_counts,
            variants: s.variants,
            aborted: self.abort.is_some() || self.failed_early.is_some(),
            clamped: s.clamped,
            peak_in_flight: self.peak_in_flight,
            max_concurrency: self.max_concurrency,
            send_lag_ms: s.send_lag,
            verdict: None,
            repeat_of: None,
            recovery_s: None,
            served_rps: Some(round3(self.served.rps)),
            served_steady: self.served.steady,
            unrecovered: false,
            concurrency: self.concurrency,
            stream: self
                .stream_format
                .map(|f| StreamStepStats::from_shard(&s.stream, f, self.window_s)),
            shards: Vec::new(),
            invalid_runs: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_keeps_a_multi_second_tail_without_panicking() {
        let r = Recorder::new(2);
        for i in 0..990u64 {
            r.record(i as usize, 10_000, 9_000, &Outcome::success(200));
        }
        for i in 0..10u64 {
            // a 40-minute request must be recorded, not rejected
            r.record(
                i as usize,
                40 * 60 * 1_000_000,
                1_000,
                &Outcome::error(ErrorClass::Timeout, None),
            );
        }
        let m = r.merged();
        let s = ShardSummary::from_shard(&m, &[]);
        assert_eq!(s.requests, 1000);
        assert_eq!(s.errors[ErrorClass::Timeout.index()], 10);
        assert!((s.latency.p50 - 10.0).abs() < 0.02, "{:?}", s.latency);
        assert!(s.latency.max > 2_390_000.0, "{:?}", s.latency);
        assert_eq!(s.clamped, 0, "40 minutes is inside the range");
        assert_eq!(s.status_counts.get("200"), Some(&990));
    }

    #[test]
    fn latencies_above_the_range_are_counted_as_clamped() {
        let r = Recorder::new(1);
        r.record(0, 10_000, 9_000, &Outcome::success(200));
        // 3 hours: above the 2-hour range
        r.record(0, 3 * 3600 * 1_000_000, 1_000, &Outcome::success(200));
        r.record_not_sent(0, 3 * 3600 * 1_000_000);
        let m = StepMeasurement {
            concurrency: None,
            stream_format: None,
            offered_rps: 1.0,
            abort: None,
            failed_early: None,
            served: Served {
                rps: 0.0,
                steady: false,
            },
            window_s: 3.0,
            warmup_s: 0.0,
            sent: 2,
            unsent: 1,
            peak_in_flight: 1,
            max_concurrency: 1,
            shard: ShardSummary::from_shard(&r.merged(), &[]),
        }
        .into_result();
        assert_eq!(m.requests, 3);
        assert_eq!(m.clamped, 2, "{m:?}");
        assert!(serde_json::to_string(&m).unwrap().contains("\"clamped\":2"));
    }

    #[test]
    fn http_statuses_map_onto_the_stable_classes() {
        assert_eq!(ErrorClass::from_http_status(200), None);
        assert_eq!(ErrorClass::from_http_status(204), None);
        assert_eq!(
            ErrorClass::from_http_status(429),
            Some(ErrorClass::Throttled)
        );
        assert_eq!(
            ErrorClass::from_http_status(503),
            Some(ErrorClass::ServiceUnavailable)
        );
        assert_eq!(
            ErrorClass::from_http_status(500),
            Some(ErrorClass::ModelError)
        );
        assert_eq!(
            ErrorClass::from_http_status(424),
            Some(ErrorClass::ModelError)
        );
        assert_eq!(
            ErrorClass::from_http_status(404),
            Some(ErrorClass::Validation)
        );
        assert_eq!(ErrorClass::from_http_status(302), Some(ErrorClass::Other));
    }

    #[test]
    fn max_rps_reads_successes_only_and_never_more_than_offered() {
        let mut s = StepResult {
            offered_rps: 100.0,
            achieved_rps: 101.0,
            success_rps: 101.0,
            ..Default::default()
        };
        assert_eq!(s.successful_rps(), 100.0, "capped at the offered rate");
        s.success_rps = 99.0;
        s.error_rps = 1.0;
        s.achieved_rps = 100.0;
        assert_eq!(
            s.successful_rps(),
            99.0,
            "failed responses are not capacity"
        );
        // A step saved before success_rps existed: achieved less its error share.
        s.success_rps = 0.0;
        s.error_percent = 2.0;
        assert_eq!(s.successful_rps(), 98.0);
    }

    #[test]
    fn class_names_match_their_serde_names() {
        for c in ErrorClass::ALL {
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.name())
            );
            assert_eq!(ErrorClass::ALL[c.index()], c);
        }
    }
}
