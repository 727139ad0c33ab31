//! Resume: `run CAMPAIGN --resume DIR` continues a killed, interrupted or capped campaign from
//! its journal, refuses a folder of another campaign, and — the search being a pure function of
//! the steps so far — reaches the same rates and recommendation as an uninterrupted run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use rightsize::report::Journal;
use rightsize::sim::{FakeConfig, FakeEndpoint};

/// 4 slots × 10 ms = 400 rps and no queue: 20, 40 and 80 rps pass with a wide margin and
/// 2000 rps fails with most requests refused, so every run takes the same decisions.
fn deterministic_endpoint() -> FakeConfig {
    FakeConfig {
        slots: 4,
        service_ms: 10.0,
        queue_max: 0,
        ..FakeConfig::default()
    }
}

fn walk(url: &str, extra: &str) -> String {
    campaign(
        "resumable",
        url,
        500.0,
        &format!("search = \"walk\"\nwalk = [20, 40, 80, 2000]\n{extra}"),
    )
    .replace("step_seconds = 2\n", "step_seconds = 1.5\n")
}

/// What must be equal between runs: the offered rates, the verdicts, and the step the
/// recommendation comes from (measured numbers differ a little from run to run).
fn decisions(report: &serde_json::Value) -> (Vec<(f64, bool)>, Option<f64>) {
    let steps: Vec<(f64, bool)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["offered_rps"].as_f64().unwrap(),
                s["pass"].as_bool().unwrap(),
            )
        })
        .collect();
    let best = steps
        .iter()
        .filter(|(_, pass)| *pass)
        .map(|(r, _)| *r)
        .reduce(f64::max);
    (steps, best)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_campaign_resumes_to_the_same_rates_and_recommendation() {
    let endpoint = FakeEndpoint::start_local(deterministic_endpoint())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        walk(&endpoint.invocations_url(), ""),
    )
    .unwrap();

    // The reference: the same campaign, uninterrupted.
    let out = run_bin_async(&["run", "c.toml", "--out", "ref", "--quiet"], dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let reference = read_json(&dir.path().join("ref/report.json"));

    // Killed with SIGKILL during its third step: no report, the journal holds two steps.
    let mut child = Command::new(bin())
        .args(["run", "c.toml", "--out", "killed", "--quiet"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let killed = dir.path().join("killed");
    let journal = killed.join("journal.jsonl");
    let t0 = Instant::now();
    while std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count()) < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "ended before it could be killed"
        );
        assert!(t0.elapsed() < Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    assert!(
        !killed.join("report.json").exists(),
        "SIGKILL leaves no report"
    );
    // A crash in the middle of a journal write leaves a torn last line; resume must cope.
    let before = std::fs::read_to_string(&journal).unwrap();
    let done = before.lines().count();
    assert!((2..4).contains(&done), "{done} steps journaled");
    std::fs::write(&journal, format!("{before}{{\"offered_rps\": 80, \"achi")).unwrap();

    let out = run_bin_async(
        &["run", "c.toml", "--resume", "killed", "--quiet"],
        dir.path(),
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let resumed = read_json(&killed.join("report.json"));
    assert_matches_schema(&resumed, "report.schema.json");
    assert_eq!(resumed["partial"], false);
    assert_eq!(decisions(&resumed), decisions(&reference));
    assert_eq!(decisions(&reference).1, Some(80.0));
    assert_eq!(
        resumed["recommendation"]["max_instances"],
        reference["recommendation"]["max_instances"]
    );

    // The journal kept its steps byte for byte, lost the torn line, and has every step.
    let after = std::fs::read_to_string(&journal).unwrap();
    assert!(
        after.starts_with(&before),
        "the completed steps were rewritten"
    );
    let steps = Journal::read(&journal).unwrap();
    assert_eq!(steps.len(), resumed["steps"].as_array().unwrap().len());
    // The resumed run only ran the steps that were missing.
    let state = read_json(&killed.join("campaign.json"));
    assert_eq!(resumed["started_at"], state["started_at"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_another_campaign_is_refused_with_what_differs() {
    let endpoint = FakeEndpoint::start_local(deterministic_endpoint())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = endpoint.invocations_url();
    std::fs::write(dir.path().join("a.toml"), walk(&url, "max_requests = 50")).unwrap();
    let out = run_bin_async(&["run", "a.toml", "--out", "r", "--quiet"], dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let journal_before = std::fs::read(dir.path().join("r/journal.jsonl")).unwrap();
    let report_before = std::fs::read(dir.path().join("r/report.json")).unwrap();

    std::fs::write(
        dir.path().join("b.toml"),
        walk(&url, "").replace("p99_ms = 500", "p99_ms = 400"),
    )
    .unwrap();
    let out = run_bin_async(&["run", "b.toml", "--resume", "r", "--quiet"], dir.path()).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("belongs to a different campaign"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[requirements] p99_ms: 500.0 → 400.0"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("r/journal.jsonl")).unwrap(),
        journal_before
    );
    assert_eq!(
        std::fs::read(dir.path().join("r/report.json")).unwrap(),
        report_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_campaign_resumes_when_the_cap_is_raised() {
    let endpoint = FakeEndpoint::start_local(deterministic_endpoint())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = endpoint.invocations_url();
    // 20 rps × 2 s = 40 requests, then 80 more would cross 100.
    std::fs::write(dir.path().join("c.toml"), walk(&url, "max_requests = 100")).unwrap();
    let out = run_bin_async(&["run", "c.toml", "--out", "r", "--quiet"], dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let capped = read_json(&dir.path().join("r/report.json"));
    assert_eq!(capped["partial"], true);
    assert_eq!(capped["steps"].as_array().unwrap().len(), 1);

    // The same campaign with the cap raised: the fingerprint ignores caps.
    std::fs::write(
        dir.path().join("c.toml"),
        walk(&url, "max_requests = 100000"),
    )
    .unwrap();
    let out = run_bin_async(&["run", "c.toml", "--resume", "r", "--quiet"], dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let done = read_json(&dir.path().join("r/report.json"));
    assert_eq!(done["partial"], false);
    let (steps, best) = decisions(&done);
    assert_eq!(
        steps.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![20.0, 40.0, 80.0, 2000.0]
    );
    assert_eq!(best, Some(80.0));
}

#[test]
fn resume_needs_a_folder_written_by_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), walk("http://127.0.0.1:9/x", "")).unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    for (args, fragment) in [
        (
            vec!["run", "c.toml", "--resume", "nowhere"],
            "no such report folder",
        ),
        (
            vec!["run", "c.toml", "--resume", "empty"],
            "cannot read campaign.json",
        ),
        (
            vec!["run", "c.toml", "--resume", "empty", "--out", "x"],
            "cannot be used with",
        ),
    ] {
        let out = run_bin(&args, dir.path());
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(fragment), "{args:?}: {stderr}");
    }
    assert!(!Path::new(&dir.path().join("reports")).exists());
}
