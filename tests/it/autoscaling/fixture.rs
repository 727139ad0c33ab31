//! A saved report whose MAX_RPS is known (100 rps per instance), and helpers to run
//! `rightsize recommend` on it.

use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::{Value, json};

pub fn latency(ms: f64) -> Value {
    json!({ "p50": ms, "p90": ms, "p95": ms, "p99": ms, "p999": ms, "max": ms, "mean": ms })
}

pub fn step(rps: f64, pass: bool) -> Value {
    json!({
        "offered_rps": rps, "achieved_rps": rps, "duration_s": 60.0,
        "requests": (rps * 60.0) as u64, "errors": 0, "error_percent": 0.0,
        "errors_by_class": {}, "latency_ms": latency(if pass { 40.0 } else { 400.0 }),
        "service_ms": latency(30.0), "pass": pass,
        "reasons": if pass { json!([]) } else { json!(["p99 400 ms > 100 ms"]) },
        "sent": (rps * 60.0) as u64, "unsent": 0, "warmup_s": 10.0
    })
}

/// A saved report: one instance served 100 rps within the limits and failed at 120; production
/// peaks at 1000 rps with a floor of 50. `autoscaling` goes into the campaign as given.
pub fn fixture(dir: &Path, autoscaling: Value) -> PathBuf {
    let mut campaign = json!({
        "name": "fixture",
        "target": {
            "kind": "http", "url": "http://127.0.0.1:9/invocations",
            "content_type": "application/json", "accept": "application/json",
            "timeout_ms": 1000, "instance_type": "ml.c5.xlarge", "instance_count": 1
        },
        "payload": { "body": "{}", "seed": 1 },
        "requirements": { "p99_ms": 100.0, "max_error_percent": 0.1, "peak_tps": 1000.0, "min_tps": 50.0 },
        "load": {},
        "recommend": { "safety_factor": 0.5 }
    });
    if !autoscaling.is_null() {
        campaign["autoscaling"] = autoscaling;
    }
    let report = json!({
        "schema_version": 1, "tool_version": "0.1.0",
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:10:00Z",
        "campaign": campaign,
        "steps": [step(50.0, true), step(100.0, true), step(120.0, false)],
        "max_rps": 100.0, "recommendation": null, "partial": false,
        "stop_reason": "the best passing and lowest failing rates are within the resolution"
    });
    let folder = dir.join("measured");
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    path
}

/// Runs `rightsize recommend REPORT args...` and returns (exit code, stdout, stderr).
pub fn recommend(cwd: &Path, report: &Path, args: &[&str]) -> (i32, String, String) {
    let report = report.to_string_lossy().into_owned();
    let mut all = vec!["recommend", report.as_str()];
    all.extend_from_slice(args);
    let out = run_bin(&all, cwd);
    let (o, e) = text(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

pub fn ramp_advice(report: &Value) -> &Value {
    &report["recommendation"]["autoscaling"]
}
