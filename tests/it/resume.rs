//! Resume: `run CAMPAIGN --resume DIR` continues a killed, interrupted or capped campaign from
//! its journal, refuses a folder of another campaign, and — the search being a pure function of
//! the steps so far — reaches the same rates and recommendation as an uninterrupted run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use rightsize::config::Campaign;
use rightsize::decide::search::{self, Next, Probe};
use rightsize::report::Journal;
use rightsize::run::campaign;
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

/// Runs `c.toml` in `dir` into `killed/` and kills it with SIGKILL once its journal holds
/// `steps` steps (during the next one); returns the report folder.
async fn run_and_kill_after_steps(dir: &Path, steps: usize) -> PathBuf {
    let mut child = Command::new(bin())
        .args(["run", "c.toml", "--out", "killed", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let killed = dir.join("killed");
    let journal = killed.join("journal.jsonl");
    let t0 = Instant::now();
    while std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count()) < steps {
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
    killed
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
    let killed = run_and_kill_after_steps(dir.path(), 2).await;
    let journal = killed.join("journal.jsonl");
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

/// The adaptive search's decisions in a report: for every step, what the search asked for
/// given the steps before it. A run that took its own decisions would differ from these.
fn replayed(file: &Path, report: &serde_json::Value) -> Vec<Next> {
    let c = Campaign::load(file).unwrap();
    let plan = campaign::plan_of(&c);
    let probes: Vec<Probe> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Probe {
            offered_rps: s["offered_rps"].as_f64().unwrap(),
            pass: s["pass"].as_bool().unwrap(),
            repeat_of: s["repeat_of"].as_u64().map(|i| i as usize),
            served_rps: s["served_rps"].as_f64(),
            served_steady: s["served_steady"].as_bool().unwrap_or(false),
            unjudged: s["unrecovered"].as_bool().unwrap_or(false),
            inconclusive: s["verdict"] == "inconclusive",
        })
        .collect();
    (0..=probes.len())
        .map(|k| search::next(&plan, &probes[..k]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_adaptive_search_with_repeats_resumes_to_the_same_decisions() {
    let endpoint = FakeEndpoint::start_local(deterministic_endpoint())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    // 100 rps passes, 800 fails (most requests refused); the kill comes during the step
    // after that. The search confirms its best pass (a repeat) after the resume.
    std::fs::write(
        &file,
        campaign(
            "adaptive",
            &endpoint.invocations_url(),
            500.0,
            "start_rps = 100\ngrowth_factor = 8\nresolution_percent = 20",
        ),
    )
    .unwrap();
    let killed = run_and_kill_after_steps(dir.path(), 3).await;
    let journal = killed.join("journal.jsonl");
    let before = Journal::read(&journal).unwrap();
    assert_eq!(
        before
            .iter()
            .map(|s| (s.offered_rps, s.pass, s.repeat_of))
            .collect::<Vec<_>>()[..2],
        [(100.0, true, None), (800.0, false, None)]
    );
    // A steady overload aims the next step below what it served; one stopped too soon to
    // tell (under two full 250 ms samples) is repeated first. Either way the resumed run must
    // take the decisions the search takes.
    if before[1].served_steady {
        let served = before[1].served_rps.unwrap();
        assert!(
            before[2].offered_rps < served && before[2].repeat_of.is_none(),
            "{:?}",
            before[2]
        );
    } else {
        assert_eq!(before[2].repeat_of, Some(1), "{:?}", before[2]);
    }

    let out = run_bin_async(
        &["run", "c.toml", "--resume", "killed", "--quiet"],
        dir.path(),
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let resumed = read_json(&killed.join("report.json"));
    assert_matches_schema(&resumed, "report.schema.json");
    let steps = resumed["steps"].as_array().unwrap();
    assert!(steps.len() > before.len(), "the resumed run ran more steps");
    // Every step, before and after the kill, is the one the search asks for given the steps
    // before it, and the search ended by confirming its best pass.
    let asked = replayed(&file, &resumed);
    for (k, s) in steps.iter().enumerate() {
        let rate = s["offered_rps"].as_f64().unwrap();
        match (asked[k], s["repeat_of"].as_u64()) {
            (Next::Offer(r), None) => assert_eq!(r, rate, "step {k}"),
            (Next::Repeat(i), Some(j)) => assert_eq!(i as u64, j, "step {k}"),
            (want, got) => panic!("step {k}: the search asked for {want:?}, the run did {got:?}"),
        }
    }
    assert!(matches!(asked[steps.len()], Next::Stop(_)));
    let last = steps.last().unwrap();
    assert_eq!(last["pass"], true);
    let confirmed = last["repeat_of"]
        .as_u64()
        .expect("the best pass was confirmed") as usize;
    let best = steps[confirmed]["offered_rps"].as_f64().unwrap();
    let max = resumed["max_rps"].as_f64().unwrap();
    assert!(
        (best * 0.97..=best).contains(&max),
        "MAX_RPS {max} does not come from the confirmed {best} rps"
    );
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
