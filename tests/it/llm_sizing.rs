//! Sizing streaming (LLM) endpoints end to end: concurrency campaigns against two simulated
//! LLMs standing for two instance types, run by the binary over loopback; their
//! recommendations (C_max, the concurrency policy, instances for the peak, cost per million
//! output tokens), `compare` ranking them by the cost of the peak, the pages in Chromium, and
//! the policy files against moto's Application Auto Scaling and botocore's service model.

use std::path::Path;

use serde_json::Value;

use crate::common::browser::{Browser, assert_self_contained_with_charts};
use crate::common::*;
use rightsize::sim::llm::{LlmConfig, LlmEndpoint};

const PRICES: &str = r#"region = "test"
currency = "USD"
taken_on = "2026-12-03"
source = "made up for the tests"
verified = true

[hourly_usd]
"ml.llm.small" = 1.0
"ml.llm.big" = 3.0
"#;

/// A concurrency campaign: TTFT p99 ≤ 150 ms, 16 tokens per answer, peak `peak` in flight.
fn llm_campaign(url: &str, instance_type: &str, extra: &str) -> String {
    format!(
        r#"name = "llm"

[target]
kind = "http"
url = "{url}"
stream = "openai"
timeout_ms = 30000
stream_idle_timeout_ms = 5000
instance_type = "{instance_type}"

[payload]
body = '{{"model": "m", "messages": [{{"role": "user", "content": "Hello"}}], "max_tokens": 16}}'

[requirements]
max_error_percent = 0
ttft_p99_ms = 150
{extra}

[load]
mode = "concurrency"
step_seconds = 2
warmup_seconds = 0.5
cooldown_max_seconds = 0
max_concurrency = 8
"#
    )
}

/// One slot: a second request waits a whole answer (16 × 10 ms) for its first token.
fn small() -> LlmConfig {
    LlmConfig {
        slots: 1,
        prefill_ms: 20.0,
        itl_ms: 10.0,
        itl_growth: 0.0,
        ..LlmConfig::default()
    }
}

/// Eight slots that decode together without slowing down.
fn big() -> LlmConfig {
    LlmConfig {
        slots: 8,
        prefill_ms: 20.0,
        itl_ms: 10.0,
        itl_growth: 0.0,
        ..LlmConfig::default()
    }
}

async fn run_llm(d: &Path, name: &str, cfg: LlmConfig, ty: &str, extra: &str) -> Value {
    let llm = LlmEndpoint::start_local(cfg).await.unwrap();
    std::fs::write(d.join("prices.toml"), PRICES).unwrap();
    std::fs::write(
        d.join(format!("{name}.toml")),
        llm_campaign(&llm.chat_url(), ty, extra),
    )
    .unwrap();
    let file = format!("{name}.toml");
    let out = run_bin_async(
        &[
            "run",
            &file,
            "--out",
            name,
            "--quiet",
            "--prices",
            "prices.toml",
        ],
        d,
    )
    .await;
    llm.stop();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let report = read_json(&d.join(name).join("report.json"));
    assert_matches_schema(&report, "report.schema.json");
    report
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_ranks_two_simulated_llms_by_the_cost_of_serving_the_peak_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 16 requests in flight at the peak: the cheap one-slot type needs 16 instances, the
    // eight-slot type at three times the price needs 2.
    let extra = "peak_concurrency = 16\nramp_minutes = 10";
    let small_report = run_llm(d, "small", small(), "ml.llm.small", extra).await;
    let big_report = run_llm(d, "big", big(), "ml.llm.big", extra).await;

    // Each report's recommendation, checked against its own steps and the formulas.
    for (rep, price) in [(&small_report, 1.0), (&big_report, 3.0)] {
        let r = &rep["recommendation"];
        let k = &r["concurrency"];
        let c_max = r["max_concurrency_per_instance"].as_u64().unwrap();
        assert_eq!(rep["max_concurrency_per_instance"].as_u64(), Some(c_max));
        assert_eq!(k["max_concurrency_per_instance"].as_u64(), Some(c_max));
        let best = rep["steps"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s["concurrency"].as_u64() == Some(c_max))
            .unwrap();
        assert_eq!(best["pass"], true);
        assert_eq!(
            f(&r["scaling_policy"]["TargetValue"]),
            c_max as f64 * 0.5,
            "TargetValue = C_max × safety factor"
        );
        assert_eq!(
            r["scaling_policy"]["PredefinedMetricSpecification"]["PredefinedMetricType"],
            "SageMakerVariantConcurrentRequestsPerModelHighResolution"
        );
        let instances = (16.0 / c_max as f64).ceil();
        assert_eq!(f(&r["max_instances"]), instances);
        let tokens = f(&best["stream"]["output_tokens_per_s"]);
        assert_eq!(f(&k["output_tokens_per_s_per_instance"]), tokens);
        let per_m_tokens = f(&r["cost"]["usd_per_million_output_tokens"]);
        assert!(
            (per_m_tokens - price / (tokens * 3600.0) * 1e6).abs() < 1e-5,
            "{per_m_tokens}"
        );
        let text = r["explanation"].to_string();
        assert!(
            text.contains(&format!(
                "ceil(peak concurrency 16 ÷ C_max {c_max} per instance) = {instances} instances"
            )),
            "{text}"
        );
        assert!(text.contains("usd_per_million_output_tokens"), "{text}");
    }
    let small_c = small_report["max_concurrency_per_instance"]
        .as_u64()
        .unwrap();
    let big_c = big_report["max_concurrency_per_instance"].as_u64().unwrap();
    assert_eq!(
        small_c, 1,
        "one slot: a second stream waits past the TTFT limit"
    );
    assert!(big_c >= 4, "eight slots hold at least 4: {big_c}");

    let out = run_bin_async(
        &[
            "compare",
            "small/report.json",
            "big/report.json",
            "--prices",
            "prices.toml",
            "--out",
            "cmp",
        ],
        d,
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let cmp = read_json(&d.join("cmp/compare.json"));
    assert_matches_schema(&cmp, "compare.schema.json");
    let rows = cmp["rows"].as_array().unwrap();
    let hourly = |r: &Value| f(&r["hourly_usd_for_peak"]);
    assert_eq!(rows[0]["instance_type"], "ml.llm.big", "{cmp:#}");
    assert_eq!(rows[0]["rank"].as_u64(), Some(1));
    assert_eq!(rows[1]["rank"].as_u64(), Some(2));
    assert!(hourly(&rows[0]) < hourly(&rows[1]));
    for r in rows {
        let c = f(&r["max_concurrency_per_instance"]);
        let price = f(&r["hourly_usd_per_instance"]);
        assert_eq!(f(&r["instances_for_peak"]), (16.0 / c).ceil());
        assert!((hourly(r) - price * (16.0 / c).ceil()).abs() < 1e-6);
        let t = f(&r["output_tokens_per_s_per_instance"]);
        assert!((f(&r["usd_per_million_output_tokens"]) - price / (t * 3600.0) * 1e6).abs() < 1e-5);
    }
    let md = std::fs::read_to_string(d.join("cmp/compare.md")).unwrap();
    assert!(md.contains("$ per million output tokens"), "{md}");
    assert!(md.contains("for a peak of 16 requests in flight"), "{md}");

    let Some(mut browser) = Browser::start("llm pages") else {
        return;
    };
    let page = browser.open(&d.join("big/report.html"), "llm-report");
    // TTFT, ITL, tokens/s against concurrency, the three usual charts, the two ramp charts.
    assert_self_contained_with_charts(&page, 8);
    for want in [
        "TTFT against concurrency",
        "ITL against concurrency",
        "Output tokens per second against concurrency",
        "TTFT p99 limit 150 ms",
        "max_concurrency_per_instance",
        "per million output tokens",
        "SageMakerVariantConcurrentRequestsPerModelHighResolution",
        "output tokens/s",
    ] {
        assert!(page.text.contains(want), "{want:?} not shown");
    }
    let page = browser.open(&d.join("cmp/compare.html"), "llm-compare");
    assert_self_contained_with_charts(&page, 1);
    for want in [
        "C_max per instance",
        "$ per million output tokens",
        "ml.llm.big",
    ] {
        assert!(page.text.contains(want), "{want:?} not shown");
    }
}
