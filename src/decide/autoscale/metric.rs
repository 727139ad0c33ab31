//! What a target-tracking policy tracks and how the simulation makes its datapoints: invocations
//! per instance per minute, or requests in flight per instance on 10-second datapoints (the
//! high-resolution concurrency metrics of LLM endpoints).

use serde::{Deserialize, Serialize};

/// Length of one simulation tick, seconds.
pub const TICK_S: f64 = 10.0;
/// Ticks per one-minute metric period.
pub const TICKS_PER_MINUTE: u64 = 6;

/// What the policy tracks, and how its datapoints are made from the offered rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tracked {
    /// `SageMakerVariantInvocationsPerInstance`: invocations per instance per minute.
    #[default]
    Invocations,
    /// `SageMakerVariantConcurrentRequestsPerModelHighResolution` (or the per-copy metric of
    /// inference components): requests in flight per instance, 10-second datapoints.
    Concurrency,
}

/// How a datapoint is made: its length, and the metric one request per second per instance
/// adds to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub tracked: Tracked,
    /// Ticks per datapoint (6: one minute; 1: ten seconds).
    pub period_ticks: u64,
    /// The metric that one request per second per instance contributes: 60 invocations per
    /// minute, or (Little's law) the mean end-to-end latency in seconds of concurrency.
    pub per_rps: f64,
}

impl Metric {
    /// Invocations per instance per minute, one-minute datapoints.
    pub const INVOCATIONS: Metric = Metric {
        tracked: Tracked::Invocations,
        period_ticks: TICKS_PER_MINUTE,
        per_rps: 60.0,
    };

    /// Concurrent requests per instance on 10-second datapoints, for requests that take
    /// `mean_e2e_s` seconds each: by Little's law, `rate × mean_e2e_s` are in flight.
    pub fn concurrency(mean_e2e_s: f64) -> Metric {
        Metric {
            tracked: Tracked::Concurrency,
            period_ticks: 1,
            per_rps: mean_e2e_s,
        }
    }

    /// Datapoint length, seconds.
    pub fn period_s(&self) -> f64 {
        self.period_ticks as f64 * TICK_S
    }

    /// How the datapoint is named in messages.
    pub(super) fn unit(&self) -> &'static str {
        match self.tracked {
            Tracked::Invocations => "invocations per instance",
            Tracked::Concurrency => "concurrent requests per instance",
        }
    }

    pub(super) fn period_word(&self) -> &'static str {
        match self.tracked {
            Tracked::Invocations => "minute",
            Tracked::Concurrency => "10-s datapoint",
        }
    }
}
