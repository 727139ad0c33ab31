//! `[requirements]`: what a step must meet to pass, and the production traffic to size for.

use serde::{Deserialize, Serialize};

use super::issue::{Issue, bad, positive};

/// What a step must meet to pass, and the production traffic to size for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// p99 of response time (from the intended send time, queueing included), milliseconds.
    /// Optional for a streamed target (0 when not given: the stream limits judge the steps).
    #[serde(default, skip_serializing_if = "is_unset")]
    pub p99_ms: f64,
    pub max_error_percent: f64,
    /// Traffic the endpoint must serve in production, requests per second. A streamed target
    /// may give `peak_concurrency` instead (0 when not given).
    #[serde(default, skip_serializing_if = "is_unset")]
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
    /// Streams: requests in flight at the production peak, over the whole endpoint. Without it
    /// the peak concurrency is `peak_tps` × the mean end-to-end latency at C_max (Little's law).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_concurrency: Option<f64>,
}

fn is_unset(x: &f64) -> bool {
    *x == 0.0
}

impl Requirements {
    /// The p99 limit, when one applies (a streamed campaign may leave it out).
    pub fn p99_limit_ms(&self) -> Option<f64> {
        (self.p99_ms > 0.0).then_some(self.p99_ms)
    }

    /// Whether any stream limit is set.
    pub fn has_stream_limit(&self) -> bool {
        self.ttft_p99_ms.is_some()
            || self.itl_p99_ms.is_some()
            || self.e2e_p99_ms.is_some()
            || self.min_output_tokens_per_s.is_some()
    }
}

/// Checks `[requirements]`; `stream`: the target is streamed, so `p99_ms` may be left out and
/// `peak_concurrency` may stand for `peak_tps`.
pub fn validate(r: &Requirements, stream: bool) -> Result<(), Issue> {
    if r.p99_ms == 0.0 && !stream {
        return Err(bad(
            "requirements",
            "p99_ms",
            "is missing: give the p99 response time allowed, in milliseconds (for example p99_ms = 400)".into(),
        ));
    }
    if r.p99_ms != 0.0 {
        positive("requirements", "p99_ms", r.p99_ms)?;
    }
    if !(0.0..=100.0).contains(&r.max_error_percent) {
        return Err(bad(
            "requirements",
            "max_error_percent",
            format!("= {} must be between 0 and 100", r.max_error_percent),
        ));
    }
    if r.peak_tps == 0.0 {
        if !stream {
            return Err(bad(
                "requirements",
                "peak_tps",
                "is missing: give the production peak in requests per second (for example peak_tps = 100)".into(),
            ));
        }
        if r.peak_concurrency.is_none() {
            return Err(bad(
                "requirements",
                "peak_tps",
                "is missing: a streamed target is sized for its peak; give peak_tps (requests per second at the peak) or peak_concurrency (requests in flight at the peak)".into(),
            ));
        }
    } else {
        positive("requirements", "peak_tps", r.peak_tps)?;
    }
    for (key, v) in [
        ("ttft_p99_ms", r.ttft_p99_ms),
        ("itl_p99_ms", r.itl_p99_ms),
        ("e2e_p99_ms", r.e2e_p99_ms),
        ("min_output_tokens_per_s", r.min_output_tokens_per_s),
        ("peak_concurrency", r.peak_concurrency),
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
        if r.peak_tps > 0.0 && m > r.peak_tps {
            return Err(bad(
                "requirements",
                "min_tps",
                format!("= {m} must not exceed peak_tps = {}", r.peak_tps),
            ));
        }
    }
    Ok(())
}
