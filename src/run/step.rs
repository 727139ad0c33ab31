//! What one step of a campaign is, apart from running it: the search plan the campaign
//! describes, the step it runs at a rate, and its target and request bodies. Shared by the
//! campaign loop and the shards of a distributed run.

use std::path::Path;
use std::time::Duration;

use crate::config::{Campaign, LoadMode, SearchKind};
use crate::decide::search::Plan;
use crate::error::Result;
use crate::measure::client::AnyTarget;
use crate::measure::load::{AbortRule, FailFast, StepSpec};
use crate::measure::payload::Payloads;
use crate::measure::stream;

/// Whether a content type is JSON (so payloads are checked as JSON).
pub fn is_json(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("application/json") || ct.contains("+json")
}

/// The target and the request bodies a campaign describes.
pub async fn target_and_payloads(
    c: &Campaign,
    campaign_file: &Path,
) -> Result<(AnyTarget, Payloads)> {
    let mut payloads = Payloads::load(&c.payload, campaign_file, is_json(&c.target.content_type))?;
    if let Some(format) = c.target.stream {
        payloads = payloads.map_bodies(|b| stream::request_body(format, b));
    }
    let target = AnyTarget::from_campaign(c).await?;
    Ok((target, payloads))
}

/// The search plan a campaign describes.
pub fn plan_of(c: &Campaign) -> Plan {
    let l = &c.load;
    if l.mode == LoadMode::Concurrency {
        return Plan::Concurrency {
            start: l.start_concurrency.unwrap_or(1),
            max: l.max_concurrency,
        };
    }
    match l.search {
        SearchKind::Adaptive => Plan::Adaptive {
            start_rps: l.start_rps,
            max_rps: l.max_rps,
            growth_factor: l.growth_factor,
            resolution_percent: l.resolution_percent,
            confirm: l.confirm,
        },
        SearchKind::Walk => Plan::Walk {
            rates: l.walk.clone().unwrap_or_default(),
            max_rps: l.max_rps,
        },
    }
}

/// The step a campaign runs at `rate` (a concurrency campaign: at that concurrency).
pub fn step_spec(c: &Campaign, rate: f64) -> StepSpec {
    let timeout = Duration::from_millis(c.target.timeout_ms);
    let mut spec = match c.load.mode {
        LoadMode::Concurrency => StepSpec::closed(
            rate.round().max(1.0) as usize,
            c.load.warmup_seconds,
            c.load.step_seconds,
            timeout,
        ),
        LoadMode::Rate => {
            let mut spec = StepSpec::new(
                rate,
                c.load.warmup_seconds,
                c.load.step_seconds,
                c.load.max_concurrency as usize,
                timeout,
            );
            spec.arrivals = c.load.arrivals;
            // Its rules read an open schedule's backlog; a closed step has none.
            // Without a p99 limit (a streamed campaign may leave it out) there is no rule.
            spec.fail_fast = c.requirements.p99_limit_ms().map(|p99_ms| FailFast {
                p99_ms,
                max_error_percent: c.requirements.max_error_percent,
                unloaded_service_ms: None,
            });
            spec
        }
    };
    spec.seed = c.payload.seed;
    spec.stream_format = c.target.stream.map(|f| f.name());
    spec.abort = (c.load.abort_error_percent < 100.0)
        .then(|| AbortRule::new(c.load.abort_error_percent, c.load.abort_after_seconds));
    spec
}
