//! What a step measured once it ended: the merged [`StepMeasurement`], and the
//! [`StepResult`] it becomes in `report.json`.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::record::{CLASSES, ErrorClass, MAX_STATUS, Shard};
use crate::measure::stream_stats::{StreamShard, StreamStepStats};
use crate::num::round3;

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
