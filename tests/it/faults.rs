//! The fault matrix: endpoints that refuse, reset, hang, stall, speak garbage, or answer 5xx and
//! 429 storms, and a host name that cannot resolve. Each fault must land in its error class, the
//! step must end on time (its length + drain grace + the request timeout, never a hang), the
//! campaign must go on to its end, and the report must be written.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::faults::{Fault, FaultServer, refused_port};
use crate::common::*;
use rightsize::measure::client::http::{HttpTarget, HttpTargetConfig};
use rightsize::measure::load::{self, StepEnd, StepHandle, StepSpec};
use rightsize::measure::payload::Payloads;
use rightsize::measure::stats::{Recorder, StepResult};
use rightsize::run::campaign::Outcome;
use rightsize::sim::{FakeConfig, FakeEndpoint};

/// Margin for a loaded machine on top of a step's longest possible length. A hang lasts an hour.
const SLACK: Duration = Duration::from_secs(5);

/// One short step at 20 rps against `url` with a 1 s request timeout: the measured result, how
/// the step ended, its wall time and the longest it was allowed to take.
async fn one_step(url: &str) -> (StepResult, StepEnd, Duration, Duration) {
    let target = Arc::new(HttpTarget::new(&HttpTargetConfig::for_url(url)).unwrap());
    let spec = StepSpec::new(20.0, 0.2, 1.0, 64, Duration::from_secs(1));
    let handle = StepHandle {
        recorder: Arc::new(Recorder::new(4)),
        cancel: Default::default(),
    };
    let t0 = Instant::now();
    let (m, end) = load::run_step(target, Arc::new(Payloads::single("{}")), &spec, &handle).await;
    let took = t0.elapsed();
    eprintln!(
        "step against {url}: {:.2} s (bound {:.2} s)",
        took.as_secs_f64(),
        spec.longest().as_secs_f64()
    );
    (m.into_result(), end, took, spec.longest())
}

/// Every measured request of the step failed, all in `class`, and the step ended on time.
fn assert_all_in_class(name: &str, r: &(StepResult, StepEnd, Duration, Duration), class: &str) {
    let (s, end, took, longest) = r;
    assert_eq!(*end, StepEnd::Completed, "{name}");
    assert!(s.requests >= 15, "{name}: {s:?}");
    assert_eq!(
        s.errors, s.requests,
        "{name}: every request must fail: {s:?}"
    );
    assert_eq!(
        s.errors_by_class.get(class),
        Some(&s.requests),
        "{name}: expected every error in {class}: {:?}",
        s.errors_by_class
    );
    assert!(
        *took <= *longest + SLACK,
        "{name}: the step took {took:?}, more than its bound {longest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_a_connect_error() {
    let url = format!("http://127.0.0.1:{}/invocations", refused_port().await);
    assert_all_in_class("refused", &one_step(&url).await, "connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_under_invalid_fails_locally_as_a_connect_error() {
    // .invalid never resolves (RFC 6761); the target refuses it without asking a DNS server.
    let r = one_step("http://rightsize-fault-test.invalid:8080/invocations").await;
    assert_all_in_class("dns", &r, "connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_mid_response_is_a_connect_error() {
    let server = FaultServer::start(Fault::ResetMidResponse, 0).await;
    assert_all_in_class("reset", &one_step(&server.url()).await, "connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_without_an_answer_is_a_connect_error() {
    let server = FaultServer::start(Fault::CloseWithoutAnswer, 0).await;
    assert_all_in_class("close", &one_step(&server.url()).await, "connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_never_answers_times_out_and_the_step_still_ends() {
    let server = FaultServer::start(Fault::NeverAnswer, 0).await;
    assert_all_in_class("never answers", &one_step(&server.url()).await, "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_after_the_headers_times_out() {
    let server = FaultServer::start(Fault::StallBody, 0).await;
    assert_all_in_class("stalled body", &one_step(&server.url()).await, "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_is_not_http_is_other() {
    let server = FaultServer::start(Fault::InvalidHttp, 0).await;
    assert_all_in_class("invalid http", &one_step(&server.url()).await, "other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_storms_land_in_their_classes() {
    for (code, class) in [
        (500, "model_error"),
        (502, "model_error"),
        (503, "service_unavailable"),
        (504, "timeout"),
        (429, "throttled"),
        (400, "validation"),
    ] {
        let server = FaultServer::start(Fault::Status(code), 0).await;
        let r = one_step(&server.url()).await;
        assert_all_in_class(&format!("{code} storm"), &r, class);
        assert_eq!(
            r.0.status_counts.get(&code.to_string()),
            Some(&r.0.requests)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_endpoint_storms_land_in_their_classes() {
    for (cfg, class) in [
        (
            FakeConfig {
                error_rate: 1.0,
                service_ms: 1.0,
                ..FakeConfig::default()
            },
            "model_error",
        ),
        (
            FakeConfig {
                throttle_rate: 1.0,
                ..FakeConfig::default()
            },
            "throttled",
        ),
    ] {
        let endpoint = FakeEndpoint::start_local(cfg).await.unwrap();
        assert_all_in_class(class, &one_step(&endpoint.invocations_url()).await, class);
    }
}

/// A walk of two steps, 10 then 20 rps (0.5 s warm-up + 1.5 s each, 1 s timeout): the first
/// step sends exactly 20 requests.
fn walk_campaign(url: &str) -> String {
    // p99_ms above timeout_ms: a step cannot be stopped early for slowness before its requests
    // time out, so every fault lands in its error class.
    campaign("fault", url, 1500.0, "search = \"walk\"\nwalk = [10, 20]")
        .replace("step_seconds = 2\n", "step_seconds = 1.5\n")
        .replace("timeout_ms = 5000", "timeout_ms = 1000")
}

async fn run_campaign(url: &str) -> (rightsize::report::Report, Outcome, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let finished = crate::common::run_campaign(dir.path(), &walk_campaign(url)).await;
    let json = read_json(&finished.dir.join("report.json"));
    assert_matches_schema(&json, "report.schema.json");
    (finished.report, finished.outcome, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_survives_an_endpoint_that_breaks_in_its_second_step() {
    // The server answers the whole first step (20 requests) properly, then commits its fault:
    // the campaign must record the failing step with its class, stop the walk there, and
    // still recommend from the first step.
    for (fault, class) in [
        (Fault::ResetMidResponse, "connect"),
        (Fault::CloseWithoutAnswer, "connect"),
        (Fault::NeverAnswer, "timeout"),
        (Fault::StallBody, "timeout"),
        (Fault::InvalidHttp, "other"),
        (Fault::Status(503), "service_unavailable"),
        (Fault::Status(429), "throttled"),
    ] {
        let server = FaultServer::start(fault, 20).await;
        let (report, outcome, _) = run_campaign(&server.url()).await;
        let name = format!("{fault:?}");
        assert_eq!(report.steps.len(), 2, "{name}: {:#?}", report.steps);
        assert!(report.steps[0].pass, "{name}: {:?}", report.steps[0]);
        let broken = &report.steps[1];
        assert!(!broken.pass, "{name}");
        assert!(
            broken.errors_by_class.get(class).copied().unwrap_or(0) > 0,
            "{name}: {:?}",
            broken.errors_by_class
        );
        assert_eq!(outcome, Outcome::Recommended, "{name}");
        assert!(!report.partial, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_against_an_unreachable_endpoint_ends_with_a_report_and_no_recommendation() {
    for url in [
        format!("http://127.0.0.1:{}/invocations", refused_port().await),
        "http://rightsize-fault-test.invalid/invocations".to_string(),
    ] {
        let (report, outcome, json) = run_campaign(&url).await;
        assert_eq!(outcome, Outcome::NoPassingRate, "{url}");
        assert_eq!(report.steps.len(), 1, "{url}");
        assert!(report.steps[0].errors_by_class["connect"] > 0);
        assert!(json["recommendation"].is_null());
    }
}
