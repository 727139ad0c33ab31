//! The policy files and `rightsize apply` against moto's Application Auto Scaling, read back
//! with the Rust SDK. Dummy credentials, loopback only.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::autoscaling::fixture::fixture;
use crate::common::*;
use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_applicationautoscaling::types::ServiceNamespace;

/// Dummy credentials and loopback only: nothing can reach AWS.
pub(super) fn aws_env(cmd: &mut tokio::process::Command) {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

pub(super) fn sdk(url: &str) -> Client {
    let config = aws_sdk_applicationautoscaling::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(url)
        .build();
    Client::from_conf(config)
}

/// The Python of moto's virtual environment, which has boto3.
pub(super) fn moto_python() -> PathBuf {
    std::env::var("RIGHTSIZE_MOTO_SERVER")
        .map(PathBuf::from)
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("python")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| repo_root().join("target/moto-venv/bin/python"))
}

/// Sends a file's JSON, unchanged, as the parameters of one call, the way
/// `aws application-autoscaling <call> --cli-input-json file://FILE` does: botocore validates
/// every key and type against the service model before sending.
pub(super) async fn send_file_with_botocore(file: &Path, operation: &str, url: &str) {
    let script = "import boto3, json, sys\n\
c = boto3.client('application-autoscaling', endpoint_url=sys.argv[3], region_name='us-east-1')\n\
params = json.load(open(sys.argv[1]))\n\
print(json.dumps(getattr(c, sys.argv[2])(**params)['ResponseMetadata']['HTTPStatusCode']))\n";
    let mut cmd = tokio::process::Command::new(moto_python());
    cmd.args(["-c", script]).arg(file).arg(operation).arg(url);
    aws_env(&mut cmd);
    let out = cmd.output().await.expect("moto's python runs");
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success() && stdout.trim() == "200",
        "{operation} {}: {stdout}\n{stderr}",
        file.display()
    );
}

/// What Application Auto Scaling holds for one resource, as plain JSON for comparison.
pub(super) async fn read_back(client: &Client, resource_id: &str) -> (Value, Value, Vec<Value>) {
    let targets = client
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_ids(resource_id)
        .send()
        .await
        .unwrap();
    let t = targets.scalable_targets();
    assert_eq!(t.len(), 1, "{t:?}");
    let target = json!({
        "ServiceNamespace": t[0].service_namespace().as_str(),
        "ResourceId": t[0].resource_id(),
        "ScalableDimension": t[0].scalable_dimension().as_str(),
        "MinCapacity": t[0].min_capacity(),
        "MaxCapacity": t[0].max_capacity(),
    });
    let policies = client
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(resource_id)
        .send()
        .await
        .unwrap();
    let p = policies.scaling_policies();
    assert_eq!(p.len(), 1, "{p:?}");
    let c = p[0].target_tracking_scaling_policy_configuration().unwrap();
    let policy = json!({
        "PolicyName": p[0].policy_name(),
        "ServiceNamespace": p[0].service_namespace().as_str(),
        "ResourceId": p[0].resource_id(),
        "ScalableDimension": p[0].scalable_dimension().as_str(),
        "PolicyType": p[0].policy_type().as_str(),
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": c.target_value(),
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": c.predefined_metric_specification().unwrap().predefined_metric_type().as_str()
            },
            "ScaleInCooldown": c.scale_in_cooldown(),
            "ScaleOutCooldown": c.scale_out_cooldown(),
        }
    });
    let actions = client
        .describe_scheduled_actions()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(resource_id)
        .send()
        .await
        .unwrap();
    let mut scheduled: Vec<Value> = actions
        .scheduled_actions()
        .iter()
        .map(|a| {
            let mut v = json!({
                "ServiceNamespace": a.service_namespace().as_str(),
                "Schedule": a.schedule(),
                "ScheduledActionName": a.scheduled_action_name(),
                "ResourceId": a.resource_id(),
                "ScalableDimension": a.scalable_dimension().map(|d| d.as_str()),
                "ScalableTargetAction": {
                    "MinCapacity": a.scalable_target_action().and_then(|x| x.min_capacity()),
                    "MaxCapacity": a.scalable_target_action().and_then(|x| x.max_capacity()),
                },
            });
            if let Some(tz) = a.timezone() {
                v["Timezone"] = json!(tz);
            }
            v
        })
        .collect();
    scheduled.sort_by_key(|v| v["ScheduledActionName"].as_str().unwrap_or("").to_string());
    (target, policy, scheduled)
}

/// A recomputed report with every file: a 5-minute ramp needs a scheduled minimum.
async fn recommended_with_schedule(dir: &Path) -> PathBuf {
    let src = fixture(
        dir,
        json!({ "schedule": "cron(0 6 ? * MON-FRI *)", "schedule_end": "cron(0 12 ? * MON-FRI *)",
                "timezone": "Europe/Paris" }),
    );
    let out = run_bin_async(
        &[
            "recommend",
            &src.to_string_lossy(),
            "--ramp-minutes",
            "5",
            "--endpoint",
            "files-endpoint",
            "--out",
            "o",
        ],
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    dir.join("o")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_files_are_accepted_unchanged_by_application_auto_scaling() {
    let Some(moto) = crate::common::moto::Moto::start("the_policy_files_are_accepted_unchanged")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let o = recommended_with_schedule(dir.path()).await;
    for (file, operation) in [
        ("scalable-target.json", "register_scalable_target"),
        ("scaling-policy.json", "put_scaling_policy"),
        ("scheduled-action.json", "put_scheduled_action"),
        ("scheduled-action-end.json", "put_scheduled_action"),
    ] {
        send_file_with_botocore(&o.join(file), operation, &moto.url()).await;
    }
    let (target, policy, scheduled) = read_back(
        &sdk(&moto.url()),
        "endpoint/files-endpoint/variant/AllTraffic",
    )
    .await;
    assert_eq!(target, read_json(&o.join("scalable-target.json")));
    assert_eq!(policy, read_json(&o.join("scaling-policy.json")));
    assert_eq!(
        scheduled,
        vec![
            read_json(&o.join("scheduled-action.json")),
            read_json(&o.join("scheduled-action-end.json")),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_yes_registers_the_target_the_policy_and_the_schedule() {
    let Some(moto) = crate::common::moto::Moto::start("apply_yes_registers") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let o = recommended_with_schedule(dir.path()).await;
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args([
        "apply",
        "o/report.json",
        "--endpoint",
        "applied-endpoint",
        "--variant",
        "blue",
        "--yes",
        "--region",
        "us-east-1",
        "--endpoint-url",
        &moto.url(),
    ])
    .current_dir(dir.path())
    .stdin(std::process::Stdio::null());
    aws_env(&mut cmd);
    let out = cmd.output().await.unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Applied to endpoint/applied-endpoint/variant/blue"),
        "{stdout}"
    );

    // The same requests as the files, for the endpoint and variant given to apply.
    let resource = "endpoint/applied-endpoint/variant/blue";
    let retarget = |mut v: Value| {
        v["ResourceId"] = json!(resource);
        v
    };
    let (target, policy, scheduled) = read_back(&sdk(&moto.url()), resource).await;
    assert_eq!(target, retarget(read_json(&o.join("scalable-target.json"))));
    assert_eq!(policy, retarget(read_json(&o.join("scaling-policy.json"))));
    assert_eq!(
        scheduled,
        vec![
            retarget(read_json(&o.join("scheduled-action.json"))),
            retarget(read_json(&o.join("scheduled-action-end.json"))),
        ]
    );
}
