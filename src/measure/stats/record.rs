//! Recording a step while it runs: the error classes, and the mutex-guarded shards workers
//! record each answer into (latency, service time and send lag histograms, counters).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::measure::stream_stats::{StreamLimits, StreamRecord, StreamSample, StreamShard};

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
