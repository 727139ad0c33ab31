//! The data of a stream (LLM) recommendation, as `report.json` carries it: what one unit of
//! capacity is (an instance or an inference-component copy), the concurrency metrics AWS
//! scales on, and `recommendation.concurrency`. Computed in [`crate::decide::concurrency`].

use serde::{Deserialize, Serialize};

/// Requests in flight per instance of a variant, emitted every 10 s.
pub const METRIC_PER_INSTANCE: &str = "SageMakerVariantConcurrentRequestsPerModelHighResolution";
/// Requests in flight per copy of an inference component, emitted every 10 s.
pub const METRIC_PER_COPY: &str =
    "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution";

/// What one unit of capacity is: an instance of a variant, or a copy of an inference component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Instance,
    Copy,
}

impl Unit {
    pub fn word(self) -> &'static str {
        match self {
            Unit::Instance => "instance",
            Unit::Copy => "copy",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Unit::Instance => "instances",
            Unit::Copy => "copies",
        }
    }

    /// The scalable dimension Application Auto Scaling registers for this unit.
    pub fn dimension(self) -> &'static str {
        match self {
            Unit::Instance => "sagemaker:variant:DesiredInstanceCount",
            Unit::Copy => "sagemaker:inference-component:DesiredCopyCount",
        }
    }

    /// The predefined metric a target-tracking policy on this unit follows.
    pub fn metric(self) -> &'static str {
        match self {
            Unit::Instance => METRIC_PER_INSTANCE,
            Unit::Copy => METRIC_PER_COPY,
        }
    }
}

/// Where the peak concurrency came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeakFrom {
    /// `[requirements] peak_concurrency`.
    PeakConcurrency,
    /// `peak_tps` × mean end-to-end latency at C_max.
    LittlesLaw,
}

/// `recommendation.concurrency` in `report.json`: the numbers the stream recommendation is
/// made of, each per instance (or per copy) unless it says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConcurrencySizing {
    /// `instance`, or `copy` for an inference component.
    pub unit: Unit,
    /// The predefined metric of the policy.
    pub metric: String,
    /// The highest concurrency whose step met every requirement, over everything tested.
    pub max_concurrency_tested: u64,
    /// Instances (or copies) that served the test (`[target] instance_count`).
    pub units_tested: u32,
    /// C_max ÷ units tested (rounded down).
    pub max_concurrency_per_instance: u64,
    /// Successful requests per second at C_max, per instance.
    pub rps_per_instance: f64,
    /// Output tokens per second at C_max, per instance.
    pub output_tokens_per_s_per_instance: f64,
    /// Mean end-to-end latency at C_max (queueing included), milliseconds.
    pub e2e_mean_ms: f64,
    /// C_max per instance × safety factor: the policy's TargetValue.
    pub target_value: f64,
    /// Requests in flight at the production peak, over the whole endpoint.
    pub peak_concurrency: f64,
    pub peak_concurrency_from: PeakFrom,
    /// The peak request rate, given or (from `peak_concurrency`) derived by Little's law.
    pub peak_tps: f64,
}
