//! The `kubernetes` backend: one Indexed Job per step through the `kube` client, pod `i`
//! running shard `i`; results read from each pod's log; the Job deleted afterwards whatever
//! happens (an error, the deadline, Ctrl-C).
//!
//! Credentials for the API are the standard ones (kubeconfig, or the in-cluster service
//! account). The endpoint's credentials reach the pods through their service account (IRSA)
//! or a named Secret (`[distributed] service_account`, `credentials_secret`), never through the
//! Job's arguments. The campaign file's text travels in the pods' environment.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use tokio_util::sync::CancellationToken;

use super::backend::{Backend, BoxFuture, ShardRun, StepOrder};
use super::local::parse_output;
use super::manifest::{self, INDEX_ANNOTATION, JOB_NAME_LABEL, JobInput};
use crate::config::{Campaign, DistributedConfig};
use crate::decide::search::{self, Next};
use crate::error::{Error, Result};

/// How often the Job's status is read while it runs.
const POLL: Duration = Duration::from_secs(1);

pub struct Kubernetes {
    config: DistributedConfig,
    campaign_name: String,
    campaign_text: String,
    run_id: String,
}

impl Kubernetes {
    pub fn new(c: &Campaign, d: &DistributedConfig, campaign_file: &Path) -> Result<Kubernetes> {
        Ok(Kubernetes {
            config: d.clone(),
            campaign_name: c.name.clone(),
            campaign_text: campaign_text(campaign_file)?,
            run_id: run_id(),
        })
    }

    fn job(&self, order: &StepOrder) -> (String, serde_json::Value) {
        let name = manifest::job_name(&self.campaign_name, &self.run_id, order.step);
        let job = manifest::job(&JobInput {
            name: &name,
            run_id: &self.run_id,
            order,
            config: &self.config,
            campaign_text: &self.campaign_text,
        });
        (name, job)
    }
}

fn campaign_text(campaign_file: &Path) -> Result<String> {
    std::fs::read_to_string(campaign_file).map_err(|e| {
        Error::input(format!(
            "{}: cannot read the campaign file: {e}",
            campaign_file.display()
        ))
    })
}

/// A short id that tells one run's Jobs from another's.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut rng = crate::rng::Rng::new(nanos ^ u64::from(std::process::id()));
    (0..6)
        .map(|_| {
            let i = (rng.next_f64() * 36.0) as u8 % 36;
            (if i < 10 { b'0' + i } else { b'a' + i - 10 }) as char
        })
        .collect()
}

/// `run --backend kubernetes --dry-run`: the first step's Job manifest, as JSON.
pub fn dry_run(c: &Campaign, campaign_file: &Path) -> Result<String> {
    let d = match &c.distributed {
        Some(d) if d.backend == crate::config::BackendKind::Kubernetes => d,
        _ => {
            return Err(Error::input(
                "--dry-run prints the Job of the kubernetes backend: add --backend kubernetes (or [distributed] backend = \"kubernetes\")",
            ));
        }
    };
    let k = Kubernetes::new(c, d, campaign_file)?;
    let rate = match search::next(&crate::run::step::plan_of(c), &[]) {
        Next::Offer(r) => r,
        _ => c.load.start_rps,
    };
    let spec = crate::run::step::step_spec(c, rate);
    let order = StepOrder::new(
        c,
        1,
        rate,
        d.shards,
        Duration::from_secs_f64(d.start_delay_s()),
        spec.longest(),
    );
    let (_, job) = k.job(&order);
    serde_json::to_string_pretty(&job).map_err(|e| Error::Other(e.to_string()))
}

fn kube_error(what: &str, e: kube::Error) -> Error {
    Error::Other(format!(
        "kubernetes: {what}: {e} (the API is reached through the kubeconfig, KUBECONFIG, or the in-cluster service account; deploy/rbac.yaml lists the permissions needed)"
    ))
}

impl Backend for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn run<'a>(
        &'a self,
        order: &'a StepOrder,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<ShardRun>>> {
        Box::pin(async move {
            let client = kube::Client::try_default()
                .await
                .map_err(|e| kube_error("no client", e))?;
            let ns = &self.config.namespace;
            let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
            let pods: Api<Pod> = Api::namespaced(client, ns);
            let (name, manifest) = self.job(order);
            let job: Job = serde_json::from_value(manifest)
                .map_err(|e| Error::Other(format!("the Job manifest does not fit: {e}")))?;
            jobs.create(&PostParams::default(), &job)
                .await
                .map_err(|e| kube_error(&format!("creating Job {ns}/{name}"), e))?;
            let runs = watch(&jobs, &pods, &name, order, cancel).await;
            // Deleted whatever happened; its pods go with it (background propagation).
            let deleted = jobs.delete(&name, &DeleteParams::background()).await;
            if let Err(e) = deleted {
                eprintln!(
                    "warning: Job {ns}/{name} was not deleted ({e}); delete it with `kubectl delete job -n {ns} {name}` (Kubernetes removes it {} s after it finished anyway)",
                    manifest::TTL_SECONDS
                );
            }
            runs
        })
    }
}

/// Waits for the Job to finish (or `cancel`, or its deadline), then reads every pod's result.
async fn watch(
    jobs: &Api<Job>,
    pods: &Api<Pod>,
    name: &str,
    order: &StepOrder,
    cancel: &CancellationToken,
) -> Result<Vec<ShardRun>> {
    let deadline = tokio::time::Instant::now() + order.deadline();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = cancel.cancelled() => return Ok(Vec::new()),
        }
        let job = jobs
            .get(name)
            .await
            .map_err(|e| kube_error(&format!("reading Job {name}"), e))?;
        if finished(&job, order.shards) || tokio::time::Instant::now() >= deadline {
            break;
        }
    }
    let list = pods
        .list(&ListParams::default().labels(&format!("{JOB_NAME_LABEL}={name}")))
        .await
        .map_err(|e| kube_error(&format!("listing the pods of Job {name}"), e))?;
    let mut runs = Vec::new();
    for pod in list.items {
        let Some(pod_name) = pod.metadata.name.clone() else {
            continue;
        };
        let Some(k) = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(INDEX_ANNOTATION))
            .and_then(|i| i.parse::<u32>().ok())
        else {
            continue;
        };
        let code = exit_code(&pod);
        let log = pods
            .logs(&pod_name, &LogParams::default())
            .await
            .unwrap_or_else(|e| format!("its log could not be read: {e}"));
        runs.push(parse_output(k, code, &log, &log));
    }
    Ok(runs)
}

/// Every index has succeeded or failed, or the Job has a final condition.
fn finished(job: &Job, shards: u32) -> bool {
    let Some(st) = &job.status else { return false };
    let done = st.succeeded.unwrap_or(0) + st.failed.unwrap_or(0);
    let final_condition = st.conditions.as_ref().is_some_and(|cs| {
        cs.iter()
            .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
    });
    done >= shards as i32 || final_condition
}

/// A pod's exit code: 0 when it succeeded, its container's code when it failed, none while it
/// has not finished.
fn exit_code(pod: &Pod) -> Option<i32> {
    let st = pod.status.as_ref()?;
    match st.phase.as_deref() {
        Some("Succeeded") => Some(0),
        Some("Failed") => Some(
            st.container_statuses
                .as_ref()
                .and_then(|cs| cs.first())
                .and_then(|c| c.state.as_ref())
                .and_then(|s| s.terminated.as_ref())
                .map_or(1, |t| if t.exit_code == 0 { 1 } else { t.exit_code }),
        ),
        _ => None,
    }
}
