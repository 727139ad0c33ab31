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
