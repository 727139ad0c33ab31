//! `[requirements]`: what a step must meet to pass, and the production traffic to size for.

use serde::{Deserialize, Serialize};

use super::issue::{Issue, bad, positive};

/// What a step must meet to pass, and the production traffic to size for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// p99 of response time (from the intended send time, queueing included), milliseconds.
    pub p99_ms: f64,
    pub max_error_percent: f64,
    /// Traffic the endpoint must serve in production, requests per second.
    pub peak_tps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp_minutes: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tps: Option<f64>,
    /// Streams: p99 of time to first token (from the intended send time), milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p99_ms: Option<f64>,
    /// Streams: p99 over requests of the inter-token latency, (last token − first token) ÷
    /// (output tokens − 1), milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_p99_ms: Option<f64>,
    /// Streams: p99 of the end-to-end time (to the last token), milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_p99_ms: Option<f64>,
    /// Streams: output tokens per second each request must reach (output tokens ÷ end-to-end
    /// time); 99 % of a step's successful requests must.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_output_tokens_per_s: Option<f64>,
}

impl Requirements {
    /// Whether any stream limit is set.
    pub fn has_stream_limit(&self) -> bool {
        self.ttft_p99_ms.is_some()
            || self.itl_p99_ms.is_some()
            || self.e2e_p99_ms.is_some()
            || self.min_output_tokens_per_s.is_some()
    }
}

/// Checks `[requirements]`.
pub fn validate(r: &Requirements) -> Result<(), Issue> {
    positive("requirements", "p99_ms", r.p99_ms)?;
    if !(0.0..=100.0).contains(&r.max_error_percent) {
        return Err(bad(
            "requirements",
            "max_error_percent",
            format!("= {} must be between 0 and 100", r.max_error_percent),
        ));
    }
    positive("requirements", "peak_tps", r.peak_tps)?;
    for (key, v) in [
        ("ttft_p99_ms", r.ttft_p99_ms),
        ("itl_p99_ms", r.itl_p99_ms),
        ("e2e_p99_ms", r.e2e_p99_ms),
        ("min_output_tokens_per_s", r.min_output_tokens_per_s),
    ] {
        if let Some(v) = v {
            positive("requirements", key, v)?;
        }
    }
    if let Some(m) = r.ramp_minutes {
        positive("requirements", "ramp_minutes", m)?;
    }
    if let Some(m) = r.min_tps {
        if !m.is_finite() || m < 0.0 {
            return Err(bad(
                "requirements",
                "min_tps",
                format!("= {m} must be 0 or more"),
            ));
        }
        if m > r.peak_tps {
            return Err(bad(
                "requirements",
                "min_tps",
                format!("= {m} must not exceed peak_tps = {}", r.peak_tps),
            ));
        }
    }
    Ok(())
}
