//! Abort on a broken endpoint: when more than `abort_error_percent` of requests fail over
//! `abort_after_seconds`, the step stops at once, counts as failed with a reason, and the
//! search never offers a higher rate after it.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use rightsize::config::Campaign;
use rightsize::measure::client::http::{HttpTarget, HttpTargetConfig};
use rightsize::measure::load::{self, AbortRule, FailFast, StepEnd, StepHandle, StepSpec, recover};
use rightsize::measure::payload::Payloads;
use rightsize::measure::stats::{Recorder, StepResult};
use rightsize::run::campaign::Outcome;
use rightsize::sim::{FakeConfig, FakeEndpoint};

fn always_failing() -> FakeConfig {
    FakeConfig {
        error_rate: 1.0,
        service_ms: 1.0,
        ..FakeConfig::default()
    }
}

async fn step_against(
    endpoint: &FakeEndpoint,
    abort: Option<AbortRule>,
    window_s: f64,
) -> (rightsize::measure::stats::StepResult, StepEnd) {
    let target =
        Arc::new(HttpTarget::new(&HttpTargetConfig::for_url(&endpoint.invocations_url())).unwrap());
    let mut spec = StepSpec::new(50.0, 0.5, window_s, 64, Duration::from_secs(2));
    spec.abort = abort;
    let handle = StepHandle {
        recorder: Arc::new(Recorder::new(4)),
        cancel: Default::default(),
    };
    let (m, end) = load::run_step(target, Arc::new(Payloads::single("{}")), &spec, &handle).await;
    (m.into_result(), end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_against_a_broken_endpoint_stops_early_instead_of_running_its_window() {
    let endpoint = FakeEndpoint::start_local(always_failing()).await.unwrap();
    // A 30 s window at 50 rps would send 1525 requests; the abort after 1 s of failures
    // (sampled every 250 ms, warm-up included) must stop it within the first 1.25 s.
    let (s, end) = step_against(&endpoint, Some(AbortRule::new(50.0, 1.0)), 30.0).await;
    assert_eq!(end, StepEnd::Aborted);
    assert!(s.aborted, "{s:?}");
    assert!(s.duration_s < 1.5, "the window was cut: {s:?}");
    assert!(s.sent < 100, "{s:?}");
    assert_eq!(s.errors, s.requests, "{s:?}");
    assert!(
        s.achieved_rps <= 50.0 * 1.2,
        "achieved is over the part that ran: {s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_abort_rule_or_below_the_threshold_the_step_runs_its_window() {
    let endpoint = FakeEndpoint::start_local(always_failing()).await.unwrap();
    let (s, end) = step_against(&endpoint, None, 1.5).await;
    assert_eq!(end, StepEnd::Completed);
    assert!(!s.aborted);
    assert_eq!(s.duration_s, 1.5);
    // 20 % errors stay below a 50 % threshold
    let flaky = FakeEndpoint::start_local(FakeConfig {
        error_rate: 0.2,
        service_ms: 1.0,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let (s, end) = step_against(&flaky, Some(AbortRule::new(50.0, 0.5)), 2.0).await;
    assert_eq!(end, StepEnd::Completed, "{s:?}");
    assert!(s.errors > 0 && !s.aborted, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_step_fails_with_a_reason_and_no_higher_rate_is_tried() {
    // One slot of 20 ms and no queue: 50 rps at most. 10 rps passes; at 200 rps three requests
    // in four are refused with 503, so the step aborts; the walk must not go on to 400.
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        slots: 1,
        service_ms: 20.0,
        queue_max: 0,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let finished = run_campaign(
        dir.path(),
        &campaign(
            "abort",
            &endpoint.invocations_url(),
            500.0,
            "search = \"walk\"\nwalk = [10, 200, 400]\nabort_after_seconds = 1",
        )
        .replace("step_seconds = 2\n", "step_seconds = 6\n"),
    )
    .await;
    let c = Campaign::load(&dir.path().join("c.toml")).unwrap();
    assert_eq!(c.load.abort_error_percent, 50.0, "the documented default");
    let steps = &finished.report.steps;
    assert_eq!(steps.len(), 2, "{steps:#?}");
    assert!(steps[0].pass && !steps[0].aborted, "{:?}", steps[0]);
    let aborted = &steps[1];
    assert!(aborted.aborted && !aborted.pass, "{aborted:?}");
    // Three requests in four fail: the step stops as soon as its failure is certain (more than
    // max_error_percent of its requests failed), before the abort rule's second has passed.
    assert!(
        aborted.reasons[0].starts_with("stopped after")
            && aborted.reasons[0].contains("could no longer pass")
            && aborted.reasons[0].contains("max_error_percent = 0.1"),
        "{:?}",
        aborted.reasons
    );
    assert!(aborted.duration_s < 1.0, "{aborted:?}");
    assert!(aborted.errors_by_class["service_unavailable"] > 0);
    assert_eq!(finished.outcome, Outcome::Recommended);
    // The journal and the report agree, and the report still validates.
    let json = read_json(&finished.dir.join("report.json"));
    assert_matches_schema(&json, "report.schema.json");
    assert_eq!(json["steps"][1]["aborted"], serde_json::json!(true));
    let journal = std::fs::read_to_string(finished.dir.join("journal.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 2);
}

/// One slot of 20 ms and a queue that never refuses: 50 rps at most, and an overload builds a
/// backlog inside the endpoint, as a real model server does.
fn one_slot_unbounded_queue() -> FakeConfig {
    FakeConfig {
        slots: 1,
        service_ms: 20.0,
        queue_max: 100_000,
        ..FakeConfig::default()
    }
}

async fn fail_fast_step(
    endpoint: &FakeEndpoint,
    rate: f64,
    window_s: f64,
) -> (StepResult, StepEnd) {
    let target =
        Arc::new(HttpTarget::new(&HttpTargetConfig::for_url(&endpoint.invocations_url())).unwrap());
    let mut spec = StepSpec::new(rate, 0.5, window_s, 1024, Duration::from_secs(60));
    spec.fail_fast = Some(FailFast {
        unloaded_service_ms: None,
        p99_ms: 100.0,
        max_error_percent: 0.1,
    });
    let handle = StepHandle {
        recorder: Arc::new(Recorder::new(4)),
        cancel: Default::default(),
    };
    let (m, end) = load::run_step(target, Arc::new(Payloads::single("{}")), &spec, &handle).await;
    let failed_early = m.failed_early.clone();
    let mut s = m.into_result();
    if let Some(f) = failed_early {
        s.reasons.push(f.reason);
    }
    (s, end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_step_stops_once_it_can_no_longer_pass_and_a_passing_one_runs_its_window() {
    let endpoint = FakeEndpoint::start_local(one_slot_unbounded_queue())
        .await
        .unwrap();
    // Twice the capacity for a 20 s window: 2000 measured requests, of which more than 20
    // slower than 100 ms decide the step; the backlog passes that in well under a second.
    let (s, end) = fail_fast_step(&endpoint, 100.0, 20.0).await;
    assert_eq!(end, StepEnd::Aborted, "{s:?}");
    assert!(s.aborted, "{s:?}");
    assert!(s.duration_s < 2.0, "it ran on: {s:?}");
    assert!(
        s.reasons
            .iter()
            .any(|r| r.contains("slower than p99_ms = 100")),
        "{s:?}"
    );
    // At 80 % of capacity the step passes and is not stopped.
    let (s, end) = fail_fast_step(&endpoint, 40.0, 3.0).await;
    assert_eq!(end, StepEnd::Completed, "{s:?}");
    assert!(!s.aborted && s.duration_s == 3.0, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_the_baseline_outlasts_a_stall_and_gives_up_at_its_bound() {
    let stalled = || FakeConfig {
        slots: 2,
        service_ms: 5.0,
        stall_once_at: Some(Duration::ZERO),
        stall_for: Duration::from_millis(1500),
        ..FakeConfig::default()
    };
    let endpoint = FakeEndpoint::start_local(stalled()).await.unwrap();
    let target =
        Arc::new(HttpTarget::new(&HttpTargetConfig::for_url(&endpoint.invocations_url())).unwrap());
    let payloads = Arc::new(Payloads::single("{}"));
    let baseline = Duration::from_millis(5);
    let cancel = Default::default();
    let (waited, recovered) = recover::wait_for_baseline(
        target.clone(),
        payloads.clone(),
        baseline,
        Duration::from_secs(10),
        &cancel,
    )
    .await;
    assert!(recovered);
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    // A bound shorter than the stall: it gives up at the bound.
    let endpoint = FakeEndpoint::start_local(stalled()).await.unwrap();
    let target =
        Arc::new(HttpTarget::new(&HttpTargetConfig::for_url(&endpoint.invocations_url())).unwrap());
    let (waited, recovered) = recover::wait_for_baseline(
        target,
        payloads,
        baseline,
        Duration::from_millis(500),
        &cancel,
    )
    .await;
    assert!(!recovered);
    assert!(waited < Duration::from_millis(1400), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_abandoned_by_a_stopped_step_give_their_queue_places_back() {
    // One slot of 20 ms and a queue of 8: a step at four times the capacity stops early and
    // abandons the requests waiting in the queue; the next step, below capacity, must find the
    // queue empty rather than refused.
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        slots: 1,
        service_ms: 20.0,
        queue_max: 8,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let (s, end) = fail_fast_step(&endpoint, 200.0, 10.0).await;
    assert_eq!(end, StepEnd::Aborted, "{s:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (s, end) = fail_fast_step(&endpoint, 30.0, 3.0).await;
    assert_eq!(end, StepEnd::Completed, "{s:?}");
    assert_eq!(s.errors, 0, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_starts_before_the_endpoint_recovered_and_fails_is_not_judged_but_run_again() {
    // A 400 rps endpoint stalls for 3 s inside the second step (100 rps). That step fails;
    // the recovery wait gives up after 1 s; its repeat starts on the still-stalled endpoint and
    // fails too. It must not decide anything: the rate is offered again once the endpoint is
    // back, and passes.
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        slots: 8,
        service_ms: 20.0,
        queue_max: 64,
        stall_once_at: Some(Duration::from_millis(3200)),
        stall_for: Duration::from_secs(3),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let finished = run_campaign(
        dir.path(),
        &campaign(
            "unrecovered",
            &endpoint.invocations_url(),
            100.0,
            "start_rps = 50\ngrowth_factor = 2\nresolution_percent = 20\nmax_rps = 200\ncooldown_max_seconds = 1",
        ),
    )
    .await;
    let steps = &finished.report.steps;
    let brief: Vec<_> = steps
        .iter()
        .map(|s| {
            (
                s.offered_rps,
                s.pass,
                s.repeat_of,
                s.unrecovered,
                s.recovery_s,
            )
        })
        .collect();
    let k = steps
        .iter()
        .position(|s| s.unrecovered)
        .unwrap_or_else(|| panic!("no step was left unjudged: {brief:?}"));
    let s = &steps[k];
    assert!(!s.pass && s.reasons[0].starts_with("not judged"), "{s:?}");
    assert!(s.recovery_s.is_some_and(|r| r >= 0.9), "{brief:?}");
    // The same rate again, after a wait, and this time the endpoint is back.
    let again = &steps[k + 1];
    assert_eq!(again.offered_rps, s.offered_rps, "{brief:?}");
    assert!(again.pass && !again.unrecovered, "{brief:?}");
    assert_eq!(finished.outcome, Outcome::Recommended, "{brief:?}");
    assert_eq!(finished.report.max_rps, Some(200.0), "{brief:?}");
    // The report says so.
    let json = read_json(&finished.dir.join("report.json"));
    assert_eq!(json["steps"][k]["unrecovered"], true);
    assert_matches_schema(&json, "report.schema.json");
}
