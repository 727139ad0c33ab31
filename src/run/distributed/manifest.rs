//! The Kubernetes Job of one distributed step: an Indexed Job whose pod `i` runs shard `i`
//! (`JOB_COMPLETION_INDEX`) from the step's common start instant. Plain data in, a manifest
//! out, so `run --backend kubernetes --dry-run` prints exactly what would be created.

use serde_json::{Value, json};

use super::backend::StepOrder;
use crate::config::DistributedConfig;

/// The environment variable that carries the campaign file's text to the pods.
pub const CAMPAIGN_ENV: &str = "RIGHTSIZE_CAMPAIGN";
/// The label every object of one campaign's distributed run carries.
pub const RUN_LABEL: &str = "rightsize.dev/run";
/// The label Kubernetes puts on every pod of a Job.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// The annotation that holds a pod's completion index.
pub const INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// Finished Jobs are removed by Kubernetes this long after finishing, should the
/// coordinator die before deleting them.
pub const TTL_SECONDS: u64 = 600;

/// Everything a Job manifest is made from.
#[derive(Debug, Clone)]
pub struct JobInput<'a> {
    pub name: &'a str,
    pub run_id: &'a str,
    pub order: &'a StepOrder,
    pub config: &'a DistributedConfig,
    pub campaign_text: &'a str,
}

/// A Job name: lower-case letters, digits and '-', at most 63 characters (pods add `-<i>-xxxxx`,
/// so it is kept to 40).
pub fn job_name(campaign: &str, run_id: &str, step: usize) -> String {
    let slug: String = campaign
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let slug = slug.trim_matches('-');
    let tail = format!("-{run_id}-s{step}");
    let keep = 40usize.saturating_sub("rs-".len() + tail.len());
    let slug: String = slug.chars().take(keep).collect();
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        format!("rs{tail}")
    } else {
        format!("rs-{slug}{tail}")
    }
}

/// The Job of one step.
pub fn job(input: &JobInput) -> Value {
    let d = input.config;
    let n = input.order.shards;
    let labels = json!({
        "app.kubernetes.io/name": "rightsize",
        "app.kubernetes.io/component": "shard",
        RUN_LABEL: input.run_id,
    });
    let mut container = json!({
        "name": "shard",
        "image": d.image.clone().unwrap_or_default(),
        "args": std::iter::once("shard".to_string())
            .chain(input.order.shard_args())
            .collect::<Vec<_>>(),
        "env": [ { "name": CAMPAIGN_ENV, "value": input.campaign_text } ],
        "resources": {
            "requests": { "cpu": d.cpu, "memory": d.memory },
            "limits": { "cpu": d.cpu, "memory": d.memory },
        },
    });
    if let Some(secret) = &d.credentials_secret {
        container["envFrom"] = json!([ { "secretRef": { "name": secret } } ]);
    }
    let mut pod_spec = json!({
        "restartPolicy": "Never",
        "containers": [ container ],
    });
    if let Some(sa) = &d.service_account {
        pod_spec["serviceAccountName"] = json!(sa);
    }
    if d.spread {
        pod_spec["affinity"] = json!({
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [ {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": { "matchLabels": { JOB_NAME_LABEL: input.name } },
                    },
                } ],
            },
        });
    }
    let deadline = input.order.deadline().as_secs().max(1);
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": input.name,
            "namespace": d.namespace,
            "labels": labels,
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": n,
            "parallelism": n,
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline,
            "ttlSecondsAfterFinished": TTL_SECONDS,
            "template": {
                "metadata": { "labels": labels },
                "spec": pod_spec,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BackendKind, LoadMode};
    use std::time::Duration;

    #[test]
    fn an_indexed_job_runs_one_shard_per_index_with_the_campaign_in_its_environment() {
        let order = StepOrder {
            step: 3,
            rate: 2500.0,
            mode: LoadMode::Rate,
            shards: 4,
            start_at: time::OffsetDateTime::now_utc() + time::Duration::seconds(60),
            longest: Duration::from_secs(70),
        };
        let d = DistributedConfig {
            backend: BackendKind::Kubernetes,
            image: Some("rightsize:1".into()),
            service_account: Some("rightsize-shard".into()),
            credentials_secret: Some("aws".into()),
            ..Default::default()
        };
        let name = job_name("My Campaign!", "abc123", 3);
        assert_eq!(name, "rs-my-campaign-abc123-s3");
        let j = job(&JobInput {
            name: &name,
            run_id: "abc123",
            order: &order,
            config: &d,
            campaign_text: "name = \"x\"",
        });
        let spec = &j["spec"];
        assert_eq!(spec["completionMode"], "Indexed");
        assert_eq!(spec["completions"], 4);
        assert_eq!(spec["parallelism"], 4);
        assert_eq!(spec["backoffLimit"], 0);
        assert!(spec["activeDeadlineSeconds"].as_u64().unwrap() >= 130);
        let pod = &spec["template"]["spec"];
        let c = &pod["containers"][0];
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(&args[..5], ["shard", "--rate", "2500", "--shards", "4"]);
        assert!(
            !args.iter().any(|a| a.contains("AWS")),
            "no credentials in args"
        );
        assert_eq!(c["env"][0]["name"], CAMPAIGN_ENV);
        assert_eq!(c["envFrom"][0]["secretRef"]["name"], "aws");
        assert_eq!(pod["serviceAccountName"], "rightsize-shard");
        assert_eq!(pod["restartPolicy"], "Never");
        assert!(pod["affinity"]["podAntiAffinity"].is_object());
        assert!(job_name(&"x".repeat(100), "abc123", 12).len() <= 40);
    }
}
