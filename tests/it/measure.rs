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
