//! The concurrency policy of a streaming (LLM) report against moto's Application Auto Scaling
//! and botocore's service model (what `aws ... --cli-input-json` validates against): for an
//! endpoint variant and for the copies of an inference component. Dummy credentials, loopback.

use std::path::{Path, PathBuf};

use aws_sdk_applicationautoscaling::types::ServiceNamespace;
use serde_json::{Value, json};

use super::moto::{aws_env, moto_python, read_back, sdk, send_file_with_botocore};
use crate::common::*;

fn quantiles(ms: f64) -> Value {
    json!({ "p50": ms, "p90": ms, "p99": ms, "max": ms })
}

/// One concurrency step: `n` in flight, `rps` answers per second taking `e2e_ms` on average,
/// 16 tokens each.
fn step(n: u64, pass: bool, rps: f64, e2e_ms: f64) -> Value {
    let lat = json!({ "p50": e2e_ms, "p90": e2e_ms, "p95": e2e_ms, "p99": e2e_ms,
                      "p999": e2e_ms, "max": e2e_ms, "mean": e2e_ms });
    json!({
        "offered_rps": rps, "achieved_rps": rps, "success_rps": rps, "duration_s": 30.0,
        "requests": (rps * 30.0) as u64, "errors": 0, "error_percent": 0.0,
        "errors_by_class": {}, "latency_ms": lat, "service_ms": lat, "pass": pass,
        "reasons": if pass { json!([]) } else { json!(["TTFT p99 900 ms > 500 ms"]) },
        "sent": (rps * 30.0) as u64, "unsent": 0, "warmup_s": 5.0, "concurrency": n,
        "stream": {
            "format": "openai", "requests": (rps * 30.0) as u64,
            "ttft_ms": quantiles(if pass { 200.0 } else { 900.0 }), "itl_ms": quantiles(20.0),
            "gap_ms": quantiles(20.0), "e2e_ms": quantiles(e2e_ms),
            "output_tokens_per_s_per_request": { "p1": 8.0, "p50": 10.0 },
            "output_tokens": (rps * 30.0 * 16.0) as u64, "output_tokens_per_s": rps * 16.0,
            "goodput_rps": if pass { rps } else { 0.0 }, "token_source": "usage"
        }
    })
}

/// A saved stream report: concurrency 1, 2, 4 passed and 8 failed on one instance; at C_max 4
/// the endpoint answered 2 requests/s in 2 s each. Peak 10 requests/s, so 20 in flight by
/// Little's law: ceil(20 ÷ 4) = 5 instances, TargetValue 4 × 0.5 = 2.
fn stream_report(dir: &Path, autoscaling: Value) -> PathBuf {
    let report = json!({
        "schema_version": 1, "tool_version": "0.1.0",
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:10:00Z",
        "campaign": {
            "name": "llm",
            "target": {
                "kind": "http", "url": "http://127.0.0.1:9/v1/chat/completions",
                "stream": "openai", "content_type": "application/json",
                "accept": "application/json", "timeout_ms": 30000,
                "instance_type": "ml.g5.xlarge", "instance_count": 1
            },
            "payload": { "body": "{}", "seed": 1 },
            "requirements": { "max_error_percent": 0.1, "ttft_p99_ms": 500.0,
                              "peak_tps": 10.0, "ramp_minutes": 10.0 },
            "load": { "mode": "concurrency" },
            "recommend": { "safety_factor": 0.5 },
            "autoscaling": autoscaling
        },
        "steps": [step(1, true, 0.8, 1250.0), step(2, true, 1.3, 1540.0),
                  step(4, true, 2.0, 2000.0), step(8, false, 2.2, 3600.0)],
        "max_rps": null, "max_concurrency_per_instance": 4, "recommendation": null,
        "partial": false, "stop_reason": "C_max found"
    });
    let folder = dir.join("measured");
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    path
}

async fn recommended(dir: &Path, autoscaling: Value, out: &str) -> PathBuf {
    let src = stream_report(dir, autoscaling);
    let o = run_bin_async(&["recommend", &src.to_string_lossy(), "--out", out], dir).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let rep = read_json(&dir.join(out).join("report.json"));
    assert_matches_schema(&rep, "report.schema.json");
    dir.join(out)
}

/// Checks a file against botocore's model of the call, as `--cli-input-json` does, including
/// the enumerations at every depth (which botocore's client does not check) — without sending
/// it.
async fn validate_against_the_service_model(file: &Path, operation: &str) {
    let script = r#"import botocore.session, json, sys
from botocore.validate import validate_parameters
m = botocore.session.get_session().get_service_model('application-autoscaling')
op = m.operation_model(sys.argv[2])
params = json.load(open(sys.argv[1]))
validate_parameters(params, op.input_shape)
def check(shape, value, path):
    if shape.type_name == 'structure':
        for k, v in value.items():
            check(shape.members[k], v, path + '.' + k)
    enum = getattr(shape, 'enum', None)
    if enum and value not in enum:
        sys.exit(path + ' = ' + str(value) + ' is not one of ' + str(enum))
check(op.input_shape, params, sys.argv[2])
print('ok')
"#;
    let mut cmd = tokio::process::Command::new(moto_python());
    cmd.args(["-c", script]).arg(file).arg(operation);
    aws_env(&mut cmd);
    let out = cmd.output().await.expect("moto's python runs");
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "{operation} {}: {stdout}\n{stderr}",
        file.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_policy_of_a_variant_is_accepted_and_applied_on_moto() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = recommended(d, json!({ "endpoint_name": "llm-endpoint" }), "v").await;
    let policy = read_json(&o.join("scaling-policy.json"));
    let target = read_json(&o.join("scalable-target.json"));
    assert_eq!(
        target["ResourceId"],
        "endpoint/llm-endpoint/variant/AllTraffic"
    );
    assert_eq!(
        target["ScalableDimension"],
        "sagemaker:variant:DesiredInstanceCount"
    );
    assert_eq!(target["MaxCapacity"], 5, "ceil(10 rps × 2 s ÷ 4)");
    let c = &policy["TargetTrackingScalingPolicyConfiguration"];
    assert_eq!(c["TargetValue"], 2.0, "C_max 4 × 0.5");
    assert_eq!(
        c["PredefinedMetricSpecification"]["PredefinedMetricType"],
        "SageMakerVariantConcurrentRequestsPerModelHighResolution"
    );
    for (file, op) in [
        ("scalable-target.json", "RegisterScalableTarget"),
        ("scaling-policy.json", "PutScalingPolicy"),
    ] {
        validate_against_the_service_model(&o.join(file), op).await;
    }
    let rep = read_json(&o.join("report.json"));
    let rows = rep["recommendation"]["autoscaling"]["timeline"]["rows"]
        .as_array()
        .unwrap();
    assert!(rows.len() > 60, "10-s rows over the ramp and hold");
    assert!(
        rows.iter()
            .all(|r| r["concurrency_per_instance"].is_number())
    );

    let Some(moto) = crate::common::moto::Moto::start("llm variant policy on moto") else {
        return;
    };
    send_file_with_botocore(
        &o.join("scalable-target.json"),
        "register_scalable_target",
        &moto.url(),
    )
    .await;
    send_file_with_botocore(
        &o.join("scaling-policy.json"),
        "put_scaling_policy",
        &moto.url(),
    )
    .await;
    let (t, p, _) = read_back(
        &sdk(&moto.url()),
        "endpoint/llm-endpoint/variant/AllTraffic",
    )
    .await;
    assert_eq!(t, target);
    assert_eq!(p, policy);

    // apply --yes sends the same requests, for the endpoint it is given.
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args([
        "apply",
        "v/report.json",
        "--endpoint",
        "applied-llm",
        "--yes",
        "--region",
        "us-east-1",
        "--endpoint-url",
        &moto.url(),
    ])
    .current_dir(d)
    .stdin(std::process::Stdio::null());
    aws_env(&mut cmd);
    let out = cmd.output().await.unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let resource = "endpoint/applied-llm/variant/AllTraffic";
    let (t, p, _) = read_back(&sdk(&moto.url()), resource).await;
    let retarget = |mut v: Value| {
        v["ResourceId"] = json!(resource);
        v
    };
    assert_eq!(t, retarget(target));
    assert_eq!(p, retarget(policy));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_copy_policy_of_an_inference_component_fits_the_service_model_and_moto() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = recommended(d, json!({ "inference_component": "ic-llm" }), "ic").await;
    let target = read_json(&o.join("scalable-target.json"));
    let policy = read_json(&o.join("scaling-policy.json"));
    assert_eq!(target["ResourceId"], "inference-component/ic-llm");
    assert_eq!(
        target["ScalableDimension"],
        "sagemaker:inference-component:DesiredCopyCount"
    );
    assert_eq!(target["MaxCapacity"], 5, "copies");
    assert_eq!(policy["PolicyName"], "rightsize-concurrency-per-copy");
    assert_eq!(
        policy["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"],
        "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
    );
    for (file, op) in [
        ("scalable-target.json", "RegisterScalableTarget"),
        ("scaling-policy.json", "PutScalingPolicy"),
    ] {
        validate_against_the_service_model(&o.join(file), op).await;
    }

    // A dry run of apply names the inference component, not an endpoint.
    let out = run_bin_async(&["apply", "ic/report.json"], d).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("calls for inference-component/ic-llm"),
        "{stdout}"
    );
    assert!(stdout.contains("sagemaker:inference-component:DesiredCopyCount"));

    let Some(moto) = crate::common::moto::Moto::start("llm copy policy on moto") else {
        return;
    };
    // moto 5.2.5 does not list the inference-component dimension for RegisterScalableTarget
    // (botocore's model, checked above, does); its PutScalingPolicy takes the policy.
    send_file_with_botocore(
        &o.join("scaling-policy.json"),
        "put_scaling_policy",
        &moto.url(),
    )
    .await;
    let got = sdk(&moto.url())
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id("inference-component/ic-llm")
        .send()
        .await
        .unwrap();
    let p = got.scaling_policies();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        p[0].scalable_dimension().as_str(),
        "sagemaker:inference-component:DesiredCopyCount"
    );
    let c = p[0].target_tracking_scaling_policy_configuration().unwrap();
    assert_eq!(c.target_value(), 2.0);
    assert_eq!(
        c.predefined_metric_specification()
            .unwrap()
            .predefined_metric_type()
            .as_str(),
        "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
    );
}

#[test]
fn recommend_resizes_a_stream_for_another_peak_concurrency_or_per_copy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = stream_report(d, json!({}));
    let src = src.to_string_lossy().into_owned();
    // 40 in flight ÷ C_max 4 = 10 instances; the explanation shows the numbers.
    let o = run_bin(
        &["recommend", &src, "--peak-concurrency", "40", "--out", "a"],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let r = read_json(&d.join("a/report.json"));
    assert_eq!(r["recommendation"]["max_instances"], 10);
    assert_eq!(
        r["recommendation"]["concurrency"]["peak_concurrency_from"],
        "peak_concurrency"
    );
    assert!(
        r["recommendation"]["explanation"]
            .to_string()
            .contains("ceil(peak concurrency 40 ÷ C_max 4 per instance) = 10 instances")
    );
    let o = run_bin(
        &[
            "recommend",
            &src,
            "--inference-component",
            "ic-b",
            "--out",
            "b",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let t = read_json(&d.join("b/scalable-target.json"));
    assert_eq!(t["ResourceId"], "inference-component/ic-b");
    // Both peaks at once, or a stream flag on a rate report, are refused with the flag named.
    let o = run_bin(
        &[
            "recommend",
            &src,
            "--peak-tps",
            "5",
            "--peak-concurrency",
            "9",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--peak-concurrency"), "{:?}", text(&o));
    let rate = super::fixture::fixture(&d.join("rate"), Value::Null);
    let o = run_bin(
        &[
            "recommend",
            &rate.to_string_lossy(),
            "--peak-concurrency",
            "9",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("streamed"), "{:?}", text(&o));
}
