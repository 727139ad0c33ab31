//! What a step measures, against the simulated endpoint on loopback: the achieved rate does
//! not depend on latency, every request due in the window is in the step, the generator's own
//! limits are named, and the arrival process is the one asked for.

use std::sync::Arc;
use std::time::Duration;

use rightsize::cli::probe::{self, ProbeArgs};
use rightsize::measure::client::http::{HttpTarget, HttpTargetConfig};
use rightsize::measure::load::{self, StepHandle, StepSpec};
use rightsize::measure::payload::Payloads;
use rightsize::measure::stats::{Recorder, StepResult};
use rightsize::sim::{FakeConfig, FakeEndpoint};

async fn run(endpoint: &FakeEndpoint, spec: &StepSpec) -> StepResult {
    let target =
        Arc::new(HttpTarget::new(&HttpTargetConfig::for_url(&endpoint.invocations_url())).unwrap());
    let handle = StepHandle {
        recorder: Arc::new(Recorder::new(4)),
        cancel: Default::default(),
    };
    let (m, _) = load::run_step(target, Arc::new(Payloads::single("{}")), spec, &handle).await;
    m.into_result()
}

/// 3 s per request and room for every one of them at once.
fn slow_and_ample() -> FakeConfig {
    FakeConfig {
        slots: 256,
        service_ms: 3000.0,
        queue_max: 256,
        ..FakeConfig::default()
    }
}

fn within_one_percent(s: &StepResult) {
    let ratio = s.achieved_rps / s.offered_rps;
    assert!(
        (0.99..=1.01).contains(&ratio),
        "achieved {} of offered {}: {s:#?}",
        s.achieved_rps,
        s.offered_rps
    );
    assert_eq!(s.errors, 0, "{s:#?}");
    assert_eq!(s.success_rps, s.achieved_rps, "{s:#?}");
    assert_eq!(s.error_rps, 0.0, "{s:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_3_s_endpoint_with_ample_capacity_achieves_the_offered_rate_after_a_1_s_warmup() {
    let endpoint = FakeEndpoint::start_local(slow_and_ample()).await.unwrap();
    let spec = StepSpec::new(20.0, 1.0, 3.0, 1024, Duration::from_secs(10));
    let s = run(&endpoint, &spec).await;
    assert_eq!(s.requests, 60, "{s:#?}");
    within_one_percent(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_of_a_3_s_endpoint_without_warmup_achieves_the_offered_rate() {
    let endpoint = FakeEndpoint::start_local(slow_and_ample()).await.unwrap();
    let mut a = ProbeArgs::new(&endpoint.invocations_url(), 20.0);
    a.duration = Duration::from_secs(3);
    a.timeout_ms = 10_000;
    a.quiet = true;
    let p = probe::probe(&a, Default::default()).await.unwrap();
    within_one_percent(&p.step);
    assert!(p.step.pass, "{:#?}", p.step);
    assert_eq!(p.exit_code(), 0);
}

/// The worked example of issue 12 scaled down: 100 rps, 16 in flight at most, and the endpoint
/// stalls from 1 s before the window ends until after the drain grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_never_sent_behind_a_stall_are_failures_of_the_step_and_fail_it() {
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        slots: 64,
        service_ms: 5.0,
        // Stalled from 2.5 s to 6 s after the start: the window (0.5 s + 3 s) ends at 3.5 s,
        // sending stops at 4.8 s (drain grace 1.3 s).
        stall_every: Some(Duration::from_millis(6000)),
        stall_for: Duration::from_millis(3500),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let spec = StepSpec::new(100.0, 0.5, 3.0, 16, Duration::from_secs(10));
    let s = run(&endpoint, &spec).await;
    let not_sent = s.errors_by_class.get("not_sent").copied().unwrap_or(0);
    assert_eq!(s.requests, 300, "every request due in the window: {s:#?}");
    assert!(
        (60..=100).contains(&not_sent),
        "about 84 never sent: {s:#?}"
    );
    assert_eq!(s.unsent, not_sent, "{s:#?}");
    assert_eq!(s.sent + s.unsent, s.requests, "{s:#?}");
    assert!(s.errors >= not_sent, "{s:#?}");
    // Each one waited at least from its due time (≤ 3.5 s) until sending stopped (≥ 4.8 s).
    assert!(s.latency_ms.p99 >= 1000.0, "{s:#?}");
    let req = rightsize::config::Requirements {
        p99_ms: 500.0,
        max_error_percent: 1.0,
        peak_tps: 100.0,
        ramp_minutes: None,
        min_tps: None,
        ttft_p99_ms: None,
        itl_p99_ms: None,
        e2e_p99_ms: None,
        min_output_tokens_per_s: None,
        peak_concurrency: None,
    };
    let (verdict, reasons) = rightsize::decide::verdict::decide(&s, &req, None);
    assert_eq!(
        verdict,
        rightsize::measure::stats::Verdict::Fail,
        "a stalled endpoint filling every slot is the endpoint's failure: {reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("errors")),
        "the never-sent requests count against the error limit: {reasons:?}"
    );
}

/// The generator, not the endpoint: 8 in flight at most against 100 ms answers can send 80 rps,
/// whatever the endpoint (room for 1,000 rps) could do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_limited_by_max_concurrency_is_inconclusive_and_says_to_raise_it() {
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        slots: 100,
        service_ms: 100.0,
        queue_max: 1000,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let mut a = ProbeArgs::new(&endpoint.invocations_url(), 200.0);
    a.duration = Duration::from_secs(2);
    a.warmup = Duration::from_millis(500);
    a.max_concurrency = 8;
    a.timeout_ms = 5000;
    a.p99_ms = Some(500.0);
    a.max_error_percent = Some(1.0);
    a.quiet = true;
    let p = probe::probe(&a, Default::default()).await.unwrap();
    let s = &p.step;
    assert_eq!(s.peak_in_flight, 8, "{s:#?}");
    assert_eq!(s.max_concurrency, 8, "{s:#?}");
    assert!(
        s.send_lag_ms.p99 > 100.0,
        "requests waited to be sent: {s:#?}"
    );
    assert_eq!(
        s.verdict,
        Some(rightsize::measure::stats::Verdict::Inconclusive),
        "{s:#?}"
    );
    assert!(!s.pass);
    assert!(
        s.reasons[0].contains("max_concurrency"),
        "the reason names the limit: {:?}",
        s.reasons
    );
    assert_eq!(p.exit_code(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_whose_knee_is_generator_bound_gives_no_max_rps_and_says_why() {
    use crate::common::run_campaign;
    use rightsize::run::campaign::Outcome;
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        slots: 100,
        service_ms: 100.0,
        queue_max: 1000,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = crate::common::campaign(
        "generator-bound",
        &endpoint.invocations_url(),
        500.0,
        "search = \"walk\"\nwalk = [40, 200, 400]",
    )
    .replace("max_concurrency = 256", "max_concurrency = 8");
    let finished = run_campaign(dir.path(), &text).await;
    let r = &finished.report;
    assert_eq!(finished.outcome, Outcome::NoPassingRate, "{r:#?}");
    assert_eq!(finished.outcome.exit_code(), 3);
    assert_eq!(
        r.steps.len(),
        2,
        "no rate above the inconclusive one: {r:#?}"
    );
    assert!(r.steps[0].pass, "{:#?}", r.steps[0]);
    assert_eq!(r.max_rps, None);
    assert!(r.recommendation.is_none());
    assert!(
        r.stop_reason.contains("generator-bound") && r.stop_reason.contains("max_concurrency"),
        "{}",
        r.stop_reason
    );
    let json = crate::common::read_json(&finished.dir.join("report.json"));
    crate::common::assert_matches_schema(&json, "report.schema.json");
    assert_eq!(json["steps"][1]["verdict"], "inconclusive");
}

/// Near capacity a metronome never queues, while Poisson arrivals at the same mean rate do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_capacity_poisson_arrivals_raise_p99_above_uniform_ones_at_the_same_rate() {
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        slots: 4,
        service_ms: 20.0,
        queue_max: 1000,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let mut p99 = Vec::new();
    for arrivals in ["uniform", "poisson"] {
        // 150 rps on 200 rps of capacity.
        let mut a = ProbeArgs::new(&endpoint.invocations_url(), 150.0);
        a.duration = Duration::from_secs(3);
        a.warmup = Duration::from_millis(500);
        a.arrivals = arrivals.into();
        a.quiet = true;
        let p = probe::probe(&a, Default::default()).await.unwrap();
        assert_eq!(p.step.requests, 450, "{:#?}", p.step);
        assert_eq!(p.step.errors, 0, "{:#?}", p.step);
        p99.push(p.step.latency_ms.p99);
    }
    assert!(
        p99[1] > p99[0] * 1.5,
        "p99 uniform {} ms, poisson {} ms",
        p99[0],
        p99[1]
    );
}
