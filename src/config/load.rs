//! `[load]`: how load is applied: the search, the steps, the in-flight cap, aborts and caps.

use serde::{Deserialize, Serialize};

use super::issue::{Issue, bad, positive};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SearchKind {
    Adaptive,
    Walk,
}

/// How requests are spaced in time (`[load] arrivals`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced: a metronome at the offered rate.
    #[default]
    Uniform,
    /// A Poisson process at the offered rate: exponential gaps, bursty like real traffic.
    Poisson,
}

impl Arrivals {
    pub fn is_uniform(&self) -> bool {
        *self == Arrivals::Uniform
    }

    pub fn name(self) -> &'static str {
        match self {
            Arrivals::Uniform => "uniform",
            Arrivals::Poisson => "poisson",
        }
    }
}

/// What a step holds constant (`[load] mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadMode {
    /// An offered request rate (open model): the default.
    #[default]
    Rate,
    /// N requests in flight: a new one starts when one ends (closed model). The natural
    /// control for streams; the adaptive search doubles then bisects N.
    Concurrency,
}

impl LoadMode {
    pub fn is_rate(&self) -> bool {
        *self == LoadMode::Rate
    }
}

/// How load is applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    /// `rate` (default) or `concurrency`. Left out of the file when `rate`.
    #[serde(default, skip_serializing_if = "LoadMode::is_rate")]
    pub mode: LoadMode,
    /// Concurrency mode: the first N the search tries (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_concurrency: Option<u32>,
    #[serde(default = "default_search")]
    pub search: SearchKind,
    #[serde(default = "default_start_rps")]
    pub start_rps: f64,
    /// Hard cap: never offered above this.
    #[serde(default = "default_max_rps")]
    pub max_rps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walk: Option<Vec<f64>>,
    /// Measured length of a step, after the warm-up.
    #[serde(default = "default_step_seconds")]
    pub step_seconds: f64,
    /// Discarded at the start of each step.
    #[serde(default = "default_warmup_seconds")]
    pub warmup_seconds: f64,
    /// Adaptive search stops when best pass and first failure are this close.
    #[serde(default = "default_resolution_percent")]
    pub resolution_percent: f64,
    /// Adaptive search multiplies the rate by this while steps pass.
    #[serde(default = "default_growth_factor")]
    pub growth_factor: f64,
    /// Adaptive search: repeat a failure before it bounds the search and the best pass before
    /// it is recommended, so one noisy step cannot decide the result.
    #[serde(default = "default_confirm")]
    pub confirm: bool,
    /// After a failed step, wait at most this long for the endpoint to answer at its baseline
    /// again before the next step (0: do not wait).
    #[serde(default = "default_cooldown_max_seconds")]
    pub cooldown_max_seconds: f64,
    /// Requests in flight at most.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: u32,
    /// How requests are spaced: `uniform` (evenly, the default) or `poisson` (exponential
    /// gaps from the payload seed). Left out of the file (and the resume fingerprint) when
    /// uniform, so reports saved before it existed resume unchanged.
    #[serde(default, skip_serializing_if = "Arrivals::is_uniform")]
    pub arrivals: Arrivals,
    /// A step stops at once, failed, when more than this percent of its requests fail...
    #[serde(default = "default_abort_error_percent")]
    pub abort_error_percent: f64,
    /// ...over this many seconds (100 percent disables the abort).
    #[serde(default = "default_abort_after_seconds")]
    pub abort_after_seconds: f64,
    /// Safety cap: the campaign (one `rightsize run`) stops before a step would end past this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_minutes: Option<f64>,
    /// Safety cap: the campaign stops before a step could take the requests sent (warm-up
    /// included, resumed steps included) past this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u64>,
}

fn default_search() -> SearchKind {
    SearchKind::Adaptive
}
fn default_start_rps() -> f64 {
    1.0
}
fn default_max_rps() -> f64 {
    5000.0
}
fn default_step_seconds() -> f64 {
    60.0
}
fn default_warmup_seconds() -> f64 {
    10.0
}
fn default_resolution_percent() -> f64 {
    2.0
}
fn default_growth_factor() -> f64 {
    // An overshoot is cheap now that a failing step stops early, and the search aims from the
    // throughput an overloaded step measured: growing fast saves steps. From 1 rps, 8 reaches
    // a 400 rps endpoint's overload in 4 steps where 4 takes 6 and 16 overshoots a 100 rps
    // endpoint's by 40 times.
    8.0
}
fn default_confirm() -> bool {
    true
}
fn default_cooldown_max_seconds() -> f64 {
    60.0
}
fn default_max_concurrency() -> u32 {
    1024
}
fn default_abort_error_percent() -> f64 {
    50.0
}
fn default_abort_after_seconds() -> f64 {
    10.0
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            mode: LoadMode::Rate,
            start_concurrency: None,
            search: default_search(),
            start_rps: default_start_rps(),
            max_rps: default_max_rps(),
            walk: None,
            step_seconds: default_step_seconds(),
            warmup_seconds: default_warmup_seconds(),
            resolution_percent: default_resolution_percent(),
            growth_factor: default_growth_factor(),
            confirm: default_confirm(),
            cooldown_max_seconds: default_cooldown_max_seconds(),
            max_concurrency: default_max_concurrency(),
            arrivals: Arrivals::Uniform,
            abort_error_percent: default_abort_error_percent(),
            abort_after_seconds: default_abort_after_seconds(),
            max_duration_minutes: None,
            max_requests: None,
        }
    }
}

/// Checks `[load]`.
pub fn validate(l: &LoadConfig) -> Result<(), Issue> {
    positive("load", "start_rps", l.start_rps)?;
    positive("load", "max_rps", l.max_rps)?;
    if l.start_rps > l.max_rps {
        return Err(bad(
            "load",
            "start_rps",
            format!("= {} must not exceed max_rps = {}", l.start_rps, l.max_rps),
        ));
    }
    positive("load", "step_seconds", l.step_seconds)?;
    if !l.warmup_seconds.is_finite() || l.warmup_seconds < 0.0 {
        return Err(bad(
            "load",
            "warmup_seconds",
            format!("= {} must be 0 or more", l.warmup_seconds),
        ));
    }
    if !(l.resolution_percent > 0.0 && l.resolution_percent < 100.0) {
        return Err(bad(
            "load",
            "resolution_percent",
            format!("= {} must be above 0 and below 100", l.resolution_percent),
        ));
    }
    if !(l.growth_factor > 1.0 && l.growth_factor <= 100.0) {
        return Err(bad(
            "load",
            "growth_factor",
            format!("= {} must be above 1 and at most 100", l.growth_factor),
        ));
    }
    if l.max_concurrency == 0 || l.max_concurrency > 100_000 {
        return Err(bad(
            "load",
            "max_concurrency",
            format!("= {} must be between 1 and 100000", l.max_concurrency),
        ));
    }
    if !(0.0..=100.0).contains(&l.abort_error_percent) {
        return Err(bad(
            "load",
            "abort_error_percent",
            format!(
                "= {} must be between 0 and 100 (100 never aborts)",
                l.abort_error_percent
            ),
        ));
    }
    if !(l.abort_after_seconds.is_finite()
        && l.abort_after_seconds >= 0.25
        && l.abort_after_seconds <= 86_400.0)
    {
        return Err(bad(
            "load",
            "abort_after_seconds",
            format!("= {} must be between 0.25 and 86400", l.abort_after_seconds),
        ));
    }
    if !(l.cooldown_max_seconds.is_finite()
        && l.cooldown_max_seconds >= 0.0
        && l.cooldown_max_seconds <= 3600.0)
    {
        return Err(bad(
            "load",
            "cooldown_max_seconds",
            format!(
                "= {} must be between 0 and 3600 (0 does not wait for the endpoint to recover)",
                l.cooldown_max_seconds
            ),
        ));
    }
    if let Some(m) = l.max_duration_minutes {
        positive("load", "max_duration_minutes", m)?;
    }
    if l.max_requests == Some(0) {
        return Err(bad(
            "load",
            "max_requests",
            "= 0 must be at least 1 (leave it out for no cap)".into(),
        ));
    }
    if let Some(n) = l.start_concurrency {
        if l.mode != LoadMode::Concurrency {
            return Err(bad(
                "load",
                "start_concurrency",
                "applies only to mode = \"concurrency\"; remove it or set mode = \"concurrency\""
                    .into(),
            ));
        }
        if n == 0 || n > l.max_concurrency {
            return Err(bad(
                "load",
                "start_concurrency",
                format!(
                    "= {n} must be between 1 and max_concurrency = {}",
                    l.max_concurrency
                ),
            ));
        }
    }
    if l.mode == LoadMode::Concurrency && l.search == SearchKind::Walk {
        return Err(bad(
            "load",
            "search",
            "= \"walk\" is not available with mode = \"concurrency\"; use search = \"adaptive\" (it doubles then bisects the concurrency up to max_concurrency)".into(),
        ));
    }
    match (l.search, &l.walk) {
        (SearchKind::Walk, None) => {
            return Err(bad(
                "load",
                "walk",
                "is required when search = \"walk\" (for example walk = [1, 2, 5, 10])".into(),
            ));
        }
        (SearchKind::Adaptive, Some(_)) => {
            return Err(bad(
                "load",
                "walk",
                "applies only to search = \"walk\"; remove it or set search = \"walk\"".into(),
            ));
        }
        (SearchKind::Walk, Some(rates)) => {
            if rates.is_empty() {
                return Err(bad("load", "walk", "must list at least one rate".into()));
            }
            for r in rates {
                positive("load", "walk", *r)?;
                if *r > l.max_rps {
                    return Err(bad(
                        "load",
                        "walk",
                        format!("rate {r} exceeds max_rps = {}", l.max_rps),
                    ));
                }
            }
            if rates.windows(2).any(|w| w[1] <= w[0]) {
                return Err(bad(
                    "load",
                    "walk",
                    "rates must be strictly increasing".into(),
                ));
            }
        }
        (SearchKind::Adaptive, None) => {}
    }
    Ok(())
}
