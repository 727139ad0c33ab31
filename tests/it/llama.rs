//! A real model: a concurrency campaign against llama.cpp's `llama-server` running
//! SmolLM2-135M on the CPU finds a C_max, and its TTFT and ITL agree with an independent client
//! (`tests/llm_reference_client.py`, Python's standard library) at the same concurrency.

use crate::common::llama::Llama;
use crate::common::*;
use rightsize::config::Campaign;
use rightsize::run::campaign::{self, Outcome, RunOptions};

const BODY: &str = r#"{"model": "smollm2", "messages": [{"role": "user", "content": "Write a short story about a robot."}], "max_tokens": 24, "ignore_eos": true, "temperature": 0}"#;

/// Runs the reference client; its p50 TTFT and ITL in milliseconds.
fn reference(url: &str, concurrency: u64, per_thread: u32) -> (f64, f64) {
    let out = std::process::Command::new("python3")
        .arg(repo_root().join("tests/llm_reference_client.py"))
        .args([url, &concurrency.to_string(), &per_thread.to_string(), BODY])
        .output()
        .expect("python3 runs the reference client");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "reference client: {stdout}{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(v["errors"].as_array().map(Vec::len), Some(0), "{v}");
    eprintln!("reference client: {v}");
    (
        v["ttft_p50_ms"].as_f64().expect("a TTFT"),
        v["itl_p50_ms"].as_f64().expect("an ITL"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_campaign_against_llama_server_finds_c_max_and_agrees_with_a_reference_client()
 {
    let test = "llama::a_concurrency_campaign_against_llama_server_finds_c_max_and_agrees_with_a_reference_client";
    let Some(llama) = Llama::start(test, 2) else {
        return;
    };
    let url = format!("{}/v1/chat/completions", llama.base_url());
    // The limit comes from the server's own pace here: one stream alone gives TTFT t1 and ITL
    // i1. With 2 decoding slots, a third stream waits for up to a whole answer (23 more tokens,
    // decoded two at a time) before its prefill, so a TTFT limit of t1 × 2 + 10 × i1 passes at
    // 1 and 2 and fails above.
    let (t1, i1) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || reference(&url, 1, 3)
    })
    .await
    .unwrap();
    let limit = (t1 * 2.0 + 10.0 * i1).round();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        format!(
            r#"name = "llama"
[target]
kind = "http"
url = "{url}"
stream = "openai"
timeout_ms = 60000

[payload]
body = '{BODY}'

[requirements]
p99_ms = 120000
max_error_percent = 0
peak_tps = 1
ttft_p99_ms = {limit}

[load]
mode = "concurrency"
max_concurrency = 8
step_seconds = 8
warmup_seconds = 2
cooldown_max_seconds = 0
"#
        ),
    )
    .unwrap();
    let c = Campaign::load(&file).unwrap();
    let finished = campaign::run(
        &c,
        &file,
        &RunOptions::new(Some(dir.path().join("out")), true),
    )
    .await
    .unwrap();
    let json = read_json(&finished.dir.join("report.json"));
    assert_matches_schema(&json, "report.schema.json");
    let report = finished.report;
    for s in &report.steps {
        let st = s.stream.as_ref().unwrap();
        eprintln!(
            "llama-server -np 2, concurrency {:?}: TTFT p50 {} p99 {} ms, ITL p50 {} p99 {} ms, {} tokens/s, {} requests, pass {} {:?} {:?}",
            s.concurrency,
            st.ttft_ms.p50,
            st.ttft_ms.p99,
            st.itl_ms.p50,
            st.itl_ms.p99,
            st.output_tokens_per_s,
            st.requests,
            s.pass,
            s.reasons,
            s.errors_by_class
        );
        assert_eq!(st.token_source, "usage", "llama-server reports usage");
    }
    assert_eq!(
        outcome_name(finished.outcome),
        "recommended",
        "TTFT limit {limit} ms"
    );
    let c_max = report.max_concurrency_per_instance.expect("a C_max");
    eprintln!("C_max = {c_max} with TTFT p99 limit {limit} ms (t1 {t1:.1} ms, i1 {i1:.1} ms)");
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.concurrency == Some(c_max + 1) && !s.pass),
        "the failure above C_max was measured"
    );
    let at_step = report
        .steps
        .iter()
        .rev()
        .find(|s| s.concurrency == Some(c_max) && s.pass)
        .unwrap();
    // The recommendation of a real stream is made from C_max: the concurrency policy, and the
    // peak by Little's law from the mean end-to-end latency measured at C_max.
    let rec = report.recommendation.as_ref().expect("a recommendation");
    let sizing = rec.concurrency.as_ref().expect("a concurrency sizing");
    assert_eq!(rec.max_concurrency_per_instance, Some(c_max));
    assert_eq!(
        rec.scaling_policy
            .predefined_metric_specification
            .predefined_metric_type,
        "SageMakerVariantConcurrentRequestsPerModelHighResolution"
    );
    assert_eq!(rec.scaling_policy.target_value, c_max as f64 * 0.5);
    let e2e_s = at_step.latency_ms.mean / 1000.0;
    assert!(e2e_s > 0.0, "a mean end-to-end latency at C_max");
    // peak_tps = 1: the peak concurrency is the mean end-to-end time in seconds (rounded to 3 places).
    assert!(
        (sizing.peak_concurrency - e2e_s).abs() <= 0.0006,
        "peak concurrency {} vs 1 request/s × {e2e_s} s",
        sizing.peak_concurrency
    );
    assert_eq!(
        rec.max_instances,
        (sizing.peak_concurrency / c_max as f64).ceil().max(1.0) as u64
    );
    assert!(sizing.output_tokens_per_s_per_instance > 0.0);
    let at = at_step.stream.clone().unwrap();
    let (ttft, itl) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || reference(&url, c_max, 3)
    })
    .await
    .unwrap();
    eprintln!(
        "at concurrency {c_max}: rightsize TTFT p50 {} ms, ITL p50 {} ms; reference TTFT p50 {ttft:.1} ms, ITL p50 {itl:.1} ms",
        at.ttft_ms.p50, at.itl_ms.p50
    );
    // Two runs of a real model on a shared CPU: close, not equal.
    let close = |ours: f64, theirs: f64| (ours - theirs).abs() <= theirs * 0.35 + 15.0;
    assert!(
        close(at.ttft_ms.p50, ttft),
        "TTFT {} vs {ttft}",
        at.ttft_ms.p50
    );
    assert!(close(at.itl_ms.p50, itl), "ITL {} vs {itl}", at.itl_ms.p50);
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Recommended => "recommended",
        Outcome::NoPassingRate => "no passing step",
        Outcome::Interrupted => "interrupted",
    }
}
