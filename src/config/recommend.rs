//! `[recommend]`: how a measured MAX_RPS becomes a target (the safety factor).

use serde::{Deserialize, Serialize};

use super::issue::{Issue, bad};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecommendConfig {
    #[serde(default = "default_safety_factor")]
    pub safety_factor: f64,
}

fn default_safety_factor() -> f64 {
    0.5
}

impl Default for RecommendConfig {
    fn default() -> Self {
        RecommendConfig {
            safety_factor: default_safety_factor(),
        }
    }
}

/// Checks `[recommend]`.
pub fn validate(r: &RecommendConfig) -> Result<(), Issue> {
    let sf = r.safety_factor;
    if !(sf > 0.0 && sf <= 1.0) {
        return Err(bad(
            "recommend",
            "safety_factor",
            format!("= {sf} must be above 0 and at most 1"),
        ));
    }
    Ok(())
}
