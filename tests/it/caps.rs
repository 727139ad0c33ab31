//! Safety caps: `[load] max_requests` and `max_duration_minutes` end a campaign before it
//! crosses them; the report is written, marked partial, names the cap in `stop_reason`, and
//! keeps every step measured. The exit code follows what was found: 0 with a recommendation,
//! 3 without (a cap is a limit the user set, not an interruption).

use std::time::{Duration, Instant};

use crate::common::faults::{Fault, FaultServer};
use crate::common::*;
use rightsize::sim::{FakeConfig, FakeEndpoint};

fn fast_endpoint() -> FakeConfig {
    FakeConfig {
        slots: 8,
        service_ms: 2.0,
        ..FakeConfig::default()
    }
}

/// Walk 10, 20, 40, 80 rps with 0.5 s warm-up + 1.5 s windows: 20, 40, 80, 160 requests.
fn walk(url: &str, extra: &str) -> String {
    campaign(
        "capped",
        url,
        500.0,
        &format!("search = \"walk\"\nwalk = [10, 20, 40, 80]\n{extra}"),
    )
    .replace("step_seconds = 2\n", "step_seconds = 1.5\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_requests_stops_before_a_step_that_could_cross_it_and_keeps_what_was_measured() {
    let endpoint = FakeEndpoint::start_local(fast_endpoint()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        walk(&endpoint.invocations_url(), "max_requests = 70"),
    )
    .unwrap();
    let out = run_bin_async(&["run", "c.toml", "--out", "r", "--quiet"], dir.path()).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let json = read_json(&dir.path().join("r/report.json"));
    assert_matches_schema(&json, "report.schema.json");
    assert_eq!(json["partial"], true);
    let reason = json["stop_reason"].as_str().unwrap();
    assert!(reason.contains("max_requests = 70"), "{reason}");
    // 20 + 40 sent; the third step (80 more) would cross 70, so it never started.
    assert_eq!(json["steps"].as_array().unwrap().len(), 2);
    assert!(endpoint.served() <= 70, "served {}", endpoint.served());
    assert_eq!(endpoint.served(), 60);
    assert!(json["recommendation"].is_object());
    assert!(
        stdout.contains("max_requests"),
        "the summary says why it stopped: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_duration_stops_before_a_step_that_would_end_past_it() {
    let endpoint = FakeEndpoint::start_local(fast_endpoint()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // 0.1 minutes = 6 s; each step takes 2 s and could last 3.65 s (+ drain grace 1.15 s +
    // timeout 0.5 s), so the walk of four cannot finish.
    std::fs::write(
        dir.path().join("c.toml"),
        walk(&endpoint.invocations_url(), "max_duration_minutes = 0.1")
            .replace("timeout_ms = 5000", "timeout_ms = 500"),
    )
    .unwrap();
    let out = run_bin_async(&["run", "c.toml", "--out", "r", "--quiet"], dir.path()).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let json = read_json(&dir.path().join("r/report.json"));
    assert_eq!(json["partial"], true);
    assert!(
        json["stop_reason"]
            .as_str()
            .unwrap()
            .contains("max_duration_minutes = 0.1"),
        "{}",
        json["stop_reason"]
    );
    let steps = json["steps"].as_array().unwrap().len();
    assert!((1..4).contains(&steps), "{steps} steps");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_duration_does_not_start_a_step_that_could_hang_past_it() {
    // The endpoint never answers and requests may wait 60 s each: without the cap the step
    // would last a minute. The cap (0.05 minutes = 3 s) counts the timeout before starting the
    // step, so the step never starts, and the run exits 3 (nothing passed) at once. (A step
    // still running at the cap is cut and discarded, but a step that fits the cap by its
    // longest possible length cannot overrun it.)
    let server = FaultServer::start(Fault::NeverAnswer, 0).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        walk(&server.url(), "max_duration_minutes = 0.05")
            .replace("timeout_ms = 5000", "timeout_ms = 60000")
            .replace("p99_ms = 500", "p99_ms = 100000")
            .replace("step_seconds = 1.5\n", "step_seconds = 1\n"),
    )
    .unwrap();
    let t0 = Instant::now();
    let out = run_bin_async(&["run", "c.toml", "--out", "r", "--quiet"], dir.path()).await;
    let took = t0.elapsed();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        took < Duration::from_secs(10),
        "the cap did not stop the step: {took:?}"
    );
    let json = read_json(&dir.path().join("r/report.json"));
    assert_matches_schema(&json, "report.schema.json");
    assert_eq!(json["partial"], true);
    assert_eq!(json["steps"].as_array().unwrap().len(), 0);
    let reason = json["stop_reason"].as_str().unwrap();
    assert!(
        reason.contains("max_duration_minutes") && reason.contains("would end after it"),
        "{reason}"
    );
}
