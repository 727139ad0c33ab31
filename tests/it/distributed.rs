//! Distributed runs: shards as real `rightsize shard` processes on loopback (the local
//! backend), the kubernetes backend against the stand-in API server (common/kube_standin.rs),
//! and the Job and RBAC manifests against Kubernetes' published schemas.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rightsize::config::DistributedConfig;
use rightsize::measure::wire::{self, ShardResult};
use rightsize::run::campaign::Outcome;
use rightsize::run::distributed::local::{self, Local};
use rightsize::run::distributed::{Backend, BoxFuture, Coordinator, ShardRun, StepOrder};
use rightsize::sim::{FakeConfig, FakeEndpoint};
use tokio_util::sync::CancellationToken;

use crate::common::kube_standin::StandIn;
use crate::common::{
    assert_matches_schema, bin, campaign, read_json, run_bin_async, run_campaign_file, text,
};

pub(crate) fn local(file: &Path) -> Local {
    Local {
        program: PathBuf::from(bin()),
        campaign_file: file.to_path_buf(),
    }
}

pub(crate) fn coordinator(backend: Box<dyn Backend>, shards: u32) -> Arc<Coordinator> {
    let d = DistributedConfig {
        shards,
        start_delay_seconds: Some(1.0),
        ..Default::default()
    };
    Arc::new(Coordinator::new(backend, &d))
}

/// A simulated endpoint with `cfg`, and `c.toml` in `dir` holding `text(its invocations URL)`.
async fn endpoint_and_campaign(
    dir: &Path,
    cfg: FakeConfig,
    text: impl FnOnce(&str) -> String,
) -> (FakeEndpoint, PathBuf) {
    let fake = FakeEndpoint::start_local(cfg).await.unwrap();
    let file = dir.join("c.toml");
    std::fs::write(&file, text(&fake.invocations_url())).unwrap();
    (fake, file)
}

/// The stand-in API server and a kubeconfig in `dir` that points at it.
async fn stand_in(dir: &Path) -> (StandIn, PathBuf) {
    let api = StandIn::start().await;
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig()).unwrap();
    (api, kubeconfig)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_and_four_local_shards_find_the_same_max_rps_as_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = FakeConfig {
        slots: 8,
        service_ms: 20.0,
        queue_max: 64,
        ..FakeConfig::default()
    };
    let (fake, file) = endpoint_and_campaign(dir.path(), cfg, |url| {
        campaign("knee", url, 100.0, "start_rps = 50\nresolution_percent = 3")
    })
    .await;
    let one = run_campaign_file(&file, &dir.path().join("one"), None).await;
    assert_eq!(one.outcome, Outcome::Recommended, "{:#?}", one.report.steps);
    let single = one.report.max_rps.unwrap();
    for n in [2u32, 4] {
        let out = dir.path().join(format!("n{n}"));
        let f = run_campaign_file(&file, &out, Some(coordinator(Box::new(local(&file)), n))).await;
        assert_eq!(
            f.outcome,
            Outcome::Recommended,
            "{n}: {:#?}",
            f.report.steps
        );
        let m = f.report.max_rps.unwrap();
        eprintln!("MAX_RPS: one process {single}, {n} shards {m}");
        assert!(
            (m - single).abs() <= single * 0.05,
            "{n} shards found MAX_RPS {m}, one process {single}"
        );
        for s in &f.report.steps {
            assert_eq!(s.shards.len(), n as usize, "every step lists its shards");
            let sum: u64 = s.shards.iter().map(|x| x.requests).sum();
            assert_eq!(sum, s.requests, "merged requests are the shards' sum");
        }
        assert_matches_schema(&read_json(&out.join("report.json")), "report.schema.json");
    }
    fake.stop();
}

/// Starts `n` shard processes of one step and returns their result lines.
async fn shards_at(file: &Path, rate: f64, n: u32) -> Vec<ShardResult> {
    let order = StepOrder {
        step: 1,
        rate,
        mode: rightsize::config::LoadMode::Rate,
        shards: n,
        start_at: time::OffsetDateTime::now_utc() + time::Duration::seconds(2),
        longest: Duration::from_secs(20),
    };
    let runs = local(file)
        .run(&order, &CancellationToken::new())
        .await
        .unwrap();
    runs.into_iter()
        .map(|r| match r {
            ShardRun::Done(r) => *r,
            ShardRun::Failed { shard, reason } => panic!("shard {shard} failed: {reason}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_at_20000_rps_achieve_the_offered_rate_and_merge_to_the_sum_of_shards() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = FakeConfig {
        slots: 4096,
        service_ms: 0.5,
        queue_max: 100_000,
        ..FakeConfig::default()
    };
    let (fake, file) = endpoint_and_campaign(dir.path(), cfg, |url| {
        campaign("fast", url, 1000.0, "").replace("max_concurrency = 256", "max_concurrency = 2048")
    })
    .await;
    let results = shards_at(&file, 20_000.0, 4).await;
    fake.stop();
    assert_eq!(results.len(), 4);
    let merged = wire::merge(&results).unwrap().into_result();
    let sum = |f: fn(&ShardResult) -> u64| results.iter().map(f).sum::<u64>();
    assert_eq!(merged.requests, sum(|r| r.requests));
    assert_eq!(merged.sent, sum(|r| r.sent));
    assert_eq!(
        merged.requests, 40_000,
        "the one-machine schedule's window holds 40,000"
    );
    eprintln!(
        "4 shards at 20,000 rps: achieved {} rps, p99 {} ms, shards' requests {:?}",
        merged.achieved_rps,
        merged.latency_ms.p99,
        results.iter().map(|r| r.requests).collect::<Vec<_>>()
    );
    assert!(
        merged.achieved_rps >= 20_000.0 * 0.99,
        "achieved {} of 20,000 rps: {merged:?}",
        merged.achieved_rps
    );

    // The same lines merged by the command line.
    let mut files = Vec::new();
    for r in &results {
        let p = dir.path().join(format!("shard-{}.json", r.shard));
        std::fs::write(&p, r.to_line()).unwrap();
        files.push(p.display().to_string());
    }
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    let o = run_bin_async(&args, dir.path()).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let step: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(step["requests"], 40_000);
    assert_eq!(step["shards"].as_array().unwrap().len(), 4);
    assert_eq!(step["latency_ms"]["p99"], merged.latency_ms.p99);

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"format\": 1}\n").unwrap();
    let o = run_bin_async(&["merge", &bad.display().to_string()], dir.path()).await;
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    assert!(text(&o).1.contains("bad.json line 1"), "{:?}", text(&o));
}

/// A local backend whose runs of the first step go wrong in a chosen way: a shard killed
/// mid-step, or a shard started late.
struct Sabotaged {
    inner: Local,
    runs: AtomicUsize,
    /// How many of the first runs to spoil.
    spoil: usize,
    late: bool,
}

impl Backend for Sabotaged {
    fn name(&self) -> &'static str {
        "sabotaged"
    }
    fn run<'a>(
        &'a self,
        order: &'a StepOrder,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, rightsize::error::Result<Vec<ShardRun>>> {
        Box::pin(async move {
            let n = self.runs.fetch_add(1, Ordering::SeqCst);
            if n >= self.spoil {
                return self.inner.run(order, cancel).await;
            }
            let mut children = Vec::new();
            for k in 0..order.shards {
                if self.late && k == 1 {
                    // Started a second after the common start instant.
                    let wait = order.start_at - time::OffsetDateTime::now_utc();
                    tokio::time::sleep(Duration::from_secs_f64(wait.as_seconds_f64().max(0.0)))
                        .await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                children.push((k, self.inner.command(order, k).spawn().unwrap()));
            }
            if !self.late {
                // Killed in the middle of the step.
                let wait = order.start_at - time::OffsetDateTime::now_utc();
                tokio::time::sleep(Duration::from_secs_f64(
                    wait.as_seconds_f64().max(0.0) + 1.0,
                ))
                .await;
                children[1].1.start_kill().unwrap();
            }
            Ok(local::collect(children, order, cancel).await)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_killed_mid_step_or_started_late_makes_the_step_invalid_and_it_is_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = FakeConfig {
        slots: 64,
        service_ms: 5.0,
        ..FakeConfig::default()
    };
    let (fake, file) = endpoint_and_campaign(dir.path(), cfg, |url| {
        campaign(
            "sabotage",
            url,
            500.0,
            "search = \"walk\"\nwalk = [100, 200]",
        )
    })
    .await;
    // Killed once: the step is run again, and the campaign goes on.
    let killed = Sabotaged {
        inner: local(&file),
        runs: AtomicUsize::new(0),
        spoil: 1,
        late: false,
    };
    let f = run_campaign_file(
        &file,
        &dir.path().join("killed"),
        Some(coordinator(Box::new(killed), 2)),
    )
    .await;
    assert_eq!(f.outcome, Outcome::Recommended, "{:#?}", f.report.steps);
    assert_eq!(f.report.steps.len(), 2, "{:#?}", f.report.steps);
    let first = &f.report.steps[0];
    assert_eq!(first.invalid_runs.len(), 1, "{:#?}", first);
    assert!(
        first.invalid_runs[0].contains("shard 1 failed"),
        "{:?}",
        first.invalid_runs
    );
    assert!(f.report.steps[1].invalid_runs.is_empty());
    assert!(!f.report.partial);
    // The page lists every shard of every step, and why a run was discarded.
    let html = std::fs::read_to_string(f.dir.join("report.html")).unwrap();
    let shard_rows: usize = f.report.steps.iter().map(|s| s.shards.len()).sum();
    assert_eq!(shard_rows, 4, "2 steps × 2 shards");
    let table = html
        .split("<h3>Shards</h3>")
        .nth(1)
        .expect("a shard table")
        .split("</table>")
        .next()
        .unwrap();
    assert_eq!(table.matches("<tr>").count(), 1 + shard_rows, "{table}");
    assert!(
        html.contains("Step 1 was run again: ") && html.contains("shard 1 failed"),
        "the discarded run is on the page"
    );

    // Late every time: two invalid runs stop the campaign with a partial report.
    let late = Sabotaged {
        inner: local(&file),
        runs: AtomicUsize::new(0),
        spoil: usize::MAX,
        late: true,
    };
    let out = dir.path().join("late");
    let f = run_campaign_file(&file, &out, Some(coordinator(Box::new(late), 2))).await;
    fake.stop();
    assert!(f.report.partial);
    assert!(f.report.steps.is_empty(), "{:#?}", f.report.steps);
    assert!(
        f.report.stop_reason.contains("step 1 was invalid 2 times")
            && f.report.stop_reason.contains("started")
            && f.report.stop_reason.contains("ms late"),
        "{}",
        f.report.stop_reason
    );
    assert_matches_schema(&read_json(&out.join("report.json")), "report.schema.json");
}

fn kube_campaign(url: &str, shards: u32) -> String {
    campaign(
        "kube",
        url,
        500.0,
        &format!(
            "search = \"walk\"\nwalk = [50, 100]\n\n[distributed]\nshards = {shards}\nbackend = \"kubernetes\"\nnamespace = \"load\"\nimage = \"rightsize:test\"\nservice_account = \"rightsize-shard\"\nstart_delay_seconds = 2"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_over_the_kubernetes_backend_runs_each_step_as_an_indexed_job_of_the_stand_in() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = FakeConfig {
        slots: 64,
        service_ms: 5.0,
        ..FakeConfig::default()
    };
    let (fake, file) = endpoint_and_campaign(dir.path(), cfg, |url| kube_campaign(url, 3)).await;
    let (api, kubeconfig) = stand_in(dir.path()).await;
    let out = dir.path().join("out");
    let o = tokio::process::Command::new(bin())
        .args(["run", &file.display().to_string(), "--quiet", "--out"])
        .arg(&out)
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .await
        .unwrap();
    fake.stop();
    let (stdout, stderr) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}\n{stderr}\n{:?}",
        api.calls()
    );
    let jobs = api.jobs();
    assert_eq!(jobs.len(), 2, "one Job per step: {:?}", api.calls());
    for (name, manifest, deleted, pods) in &jobs {
        assert!(deleted, "Job {name} was deleted afterwards");
        assert_eq!(manifest["metadata"]["namespace"], "load");
        assert_eq!(manifest["spec"]["completions"], 3);
        assert_eq!(pods.len(), 3);
        assert!(pods.iter().all(|p| p.phase == "Succeeded"), "{pods:?}");
    }
    let report = read_json(&out.join("report.json"));
    assert_matches_schema(&report, "report.schema.json");
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for s in steps {
        assert_eq!(s["shards"].as_array().unwrap().len(), 3, "{s}");
        let sum: u64 = s["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["requests"].as_u64().unwrap())
            .sum();
        assert_eq!(sum, s["requests"].as_u64().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_kubernetes_step_deletes_its_job() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, file) = endpoint_and_campaign(dir.path(), FakeConfig::default(), |url| {
        kube_campaign(url, 2).replace("step_seconds = 2", "step_seconds = 30")
    })
    .await;
    let (api, kubeconfig) = stand_in(dir.path()).await;
    let out = dir.path().join("out");
    let mut child = tokio::process::Command::new(bin())
        .args(["run", &file.display().to_string(), "--quiet", "--out"])
        .arg(&out)
        .env("KUBECONFIG", &kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the step's pods to run, then interrupt.
    let t0 = std::time::Instant::now();
    while !api.jobs().iter().any(|j| !j.3.is_empty()) {
        assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", api.calls());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the coordinator exits soon after Ctrl-C")
        .unwrap();
    fake.stop();
    assert_eq!(status.code(), Some(130));
    let jobs = api.jobs();
    assert_eq!(jobs.len(), 1);
    assert!(
        jobs[0].2,
        "the interrupted step's Job was deleted: {:?}",
        api.calls()
    );
    assert!(read_json(&out.join("report.json"))["partial"] == true);
}

/// `kubernetes-validate`, installed by scripts/test; missing under CI=true is a failure.
fn kubernetes_validate(test: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var("RIGHTSIZE_KUBERNETES_VALIDATE")
            .ok()
            .map(PathBuf::from),
        Some(
            crate::common::repo_root()
                .join("target/kubernetes-validate-venv/bin/kubernetes-validate"),
        ),
    ];
    if let Some(p) = candidates.into_iter().flatten().find(|p| p.exists()) {
        return Some(p);
    }
    let msg = "kubernetes-validate not found: run the tests with scripts/test (it installs it into target/kubernetes-validate-venv) or set RIGHTSIZE_KUBERNETES_VALIDATE";
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{test}: {msg}");
    }
    eprintln!("\n*** SKIPPED {test}: {msg} ***\n");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_and_rbac_manifests_match_the_published_kubernetes_schemas() {
    let Some(kv) =
        kubernetes_validate("the_job_and_rbac_manifests_match_the_published_kubernetes_schemas")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        kube_campaign("http://127.0.0.1:9/invocations", 4).replace(
            "[distributed]",
            "[distributed]\ncredentials_secret = \"aws\"\ncpu = \"1500m\"\nmemory = \"512Mi\"",
        ),
    )
    .unwrap();
    let o = run_bin_async(
        &["run", &file.display().to_string(), "--dry-run"],
        dir.path(),
    )
    .await;
    let (job, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&job).unwrap();
    assert_eq!(v["kind"], "Job");
    assert_eq!(v["spec"]["completions"], 4);
    let job_file = dir.path().join("job.json");
    std::fs::write(&job_file, &job).unwrap();
    let rbac = crate::common::repo_root().join("deploy/rbac.yaml");
    for f in [job_file.as_path(), rbac.as_path()] {
        let o = std::process::Command::new(&kv)
            .args(["-k", "1.33.0", "--strict"])
            .arg(f)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}: {:?}", f.display(), text(&o));
    }
    // Without the kubernetes backend there is no Job to print: bad input.
    let plain = dir.path().join("plain.toml");
    std::fs::write(
        &plain,
        campaign("p", "http://127.0.0.1:9/invocations", 100.0, ""),
    )
    .unwrap();
    let o = run_bin_async(
        &["run", &plain.display().to_string(), "--dry-run"],
        dir.path(),
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_shard_arguments_are_bad_input_named_with_their_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        campaign("b", "http://127.0.0.1:9/invocations", 100.0, ""),
    )
    .unwrap();
    let f = file.display().to_string();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--rate",
                "10",
                "--shards",
                "2",
                "--index",
                "0",
                "--start-at",
                "noon",
            ],
            "RFC 3339",
        ),
        (
            &[
                "--rate",
                "10",
                "--shards",
                "2",
                "--index",
                "2",
                "--start-at",
                "2026-01-01T00:00:00Z",
            ],
            "--index",
        ),
        (
            &[
                "--concurrency",
                "4",
                "--shards",
                "2",
                "--index",
                "0",
                "--start-at",
                "2026-01-01T00:00:00Z",
            ],
            "--rate",
        ),
        (
            &[
                "--rate",
                "10",
                "--shards",
                "2",
                "--start-at",
                "2026-01-01T00:00:00Z",
            ],
            "JOB_COMPLETION_INDEX",
        ),
        (
            &[
                "--rate",
                "0",
                "--shards",
                "2",
                "--index",
                "0",
                "--start-at",
                "2026-01-01T00:00:00Z",
            ],
            "above 0",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["shard", f.as_str()];
        all.extend_from_slice(args);
        let o = run_bin_async(&all, dir.path()).await;
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // Without a campaign file, the campaign comes from RIGHTSIZE_CAMPAIGN.
    let o = run_bin_async(
        &[
            "shard",
            "--rate",
            "10",
            "--shards",
            "1",
            "--index",
            "0",
            "--start-at",
            "2026-01-01T00:00:00Z",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("RIGHTSIZE_CAMPAIGN"), "{:?}", text(&o));
    let o = run_bin_async(&["run", &f, "--shards", "0"], dir.path()).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("shards"), "{:?}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_campaign_of_streams_over_two_shards_holds_the_concurrency_and_merges_the_token_figures()
 {
    let llm = rightsize::sim::llm::LlmEndpoint::start_local(rightsize::sim::llm::LlmConfig {
        slots: 8,
        prefill_ms: 20.0,
        itl_ms: 5.0,
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let example =
        std::fs::read_to_string(crate::common::repo_root().join("configs/llm-example.toml"))
            .unwrap();
    let file = dir.path().join("llm.toml");
    std::fs::write(
        &file,
        example
            .replace("http://127.0.0.1:8080/v1/chat/completions", &llm.chat_url())
            .replace("max_concurrency = 64", "max_concurrency = 4")
            .replace("step_seconds = 60", "step_seconds = 1")
            .replace("warmup_seconds = 10", "warmup_seconds = 0.2"),
    )
    .unwrap();
    let f = run_campaign_file(
        &file,
        &dir.path().join("out"),
        Some(coordinator(Box::new(local(&file)), 2)),
    )
    .await;
    llm.stop();
    assert_eq!(f.outcome, Outcome::Recommended, "{:#?}", f.report.steps);
    let concurrencies: Vec<_> = f.report.steps.iter().map(|s| s.concurrency).collect();
    assert_eq!(concurrencies, vec![Some(1), Some(2), Some(4)]);
    for s in &f.report.steps {
        let held: Vec<_> = s.shards.iter().map(|x| x.concurrency.unwrap()).collect();
        assert_eq!(held.iter().sum::<u64>(), s.concurrency.unwrap(), "{held:?}");
        let st = s.stream.as_ref().expect("merged stream figures");
        assert!(st.requests > 0);
        assert_eq!(st.output_tokens, 64 * st.requests, "{st:?}");
    }
    assert_eq!(f.report.max_concurrency_per_instance, Some(4));
    assert_matches_schema(
        &read_json(&dir.path().join("out/report.json")),
        "report.schema.json",
    );
}
