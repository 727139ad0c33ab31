//! Hand-built reports for unit tests of the renderers and the comparison.

use crate::config::Campaign;
use crate::measure::stats::{LatencySummary, StepResult};

use super::{Report, SCHEMA_VERSION};

/// A step at `achieved` requests/s (offered the same) whose p99 is a tenth of its rate in ms.
pub fn step(achieved: f64, pass: bool) -> StepResult {
    let p99 = achieved / 10.0;
    StepResult {
        offered_rps: achieved,
        achieved_rps: achieved,
        duration_s: 10.0,
        requests: (achieved * 10.0) as u64,
        errors: 0,
        error_percent: 0.0,
        errors_by_class: Default::default(),
        latency_ms: LatencySummary {
            p50: p99 / 2.0,
            p90: p99 * 0.8,
            p95: p99 * 0.9,
            p99,
            p999: p99 * 1.2,
            max: p99 * 1.5,
            mean: p99 / 2.0,
        },
        service_ms: LatencySummary::default(),
        pass,
        reasons: if pass {
            vec![]
        } else {
            vec![format!("p99 {p99:.1} ms > 50 ms")]
        },
        sent: (achieved * 10.0) as u64,
        unsent: 0,
        warmup_s: 1.0,
        aborted: false,
        repeat_of: None,
        recovery_s: None,
        served_rps: None,
        status_counts: Default::default(),
        original_status_counts: Default::default(),
        variants: Default::default(),
        ..Default::default()
    }
}

/// A report of one instance of `instance_type` with the given (achieved rps, pass) steps,
/// judged against p99 ≤ 50 ms and errors ≤ 0.1 %, sized for `peak_tps`.
pub fn report(instance_type: &str, steps: &[(f64, bool)], peak_tps: f64) -> Report {
    let text = format!(
        "name = \"t\"\n[target]\nkind = \"http\"\nurl = \"http://127.0.0.1:1/invocations\"\ninstance_type = \"{instance_type}\"\n[payload]\nbody = '{{}}'\n[requirements]\np99_ms = 50\nmax_error_percent = 0.1\npeak_tps = {peak_tps}\n"
    );
    let campaign = Campaign::parse(
        &text,
        std::path::Path::new("t.toml"),
        std::path::Path::new("."),
    )
    .unwrap();
    let steps: Vec<StepResult> = steps.iter().map(|(r, p)| step(*r, *p)).collect();
    let recommendation = crate::decide::recommend::recommend(
        &steps,
        &campaign.target,
        &campaign.requirements,
        campaign.recommend.safety_factor,
    );
    Report {
        schema_version: SCHEMA_VERSION,
        tool_version: "test".into(),
        started_at: "2026-11-23T00:00:00Z".into(),
        finished_at: "2026-11-23T00:01:00Z".into(),
        max_rps: crate::decide::recommend::max_rps_per_instance(&steps, 1),
        steps,
        recommendation,
        max_concurrency_per_instance: None,
        partial: false,
        stop_reason: "resolution reached".into(),
        managed: None,
        campaign,
    }
}
