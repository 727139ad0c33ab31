//! The life of one endpoint in a managed campaign: created (configuration, then endpoint),
//! waited for until InService (a spinner with the elapsed time), and deleted (endpoint, then
//! configuration) however the campaign ends. [`Live`] remembers every name from *before* its
//! create call until its deletion is confirmed, so teardown never misses a resource whose create
//! call failed half-way.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_sagemaker::types::EndpointStatus;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::aws::deploy::{CallError, ControlPlane, EndpointSpec};

/// How long teardown waits for SageMaker to finish creating or updating an endpoint (it refuses
/// to delete one before), and then for the deletion: SageMaker's own start-up limits (model
/// download and container health check) are an hour each.
pub const TEARDOWN_LIMIT: Duration = Duration::from_secs(2 * 3600);

/// How long to wait for a deleted endpoint to disappear before its configuration is deleted
/// anyway (AWS asks not to delete the configuration of a live endpoint).
const GONE_LIMIT: Duration = Duration::from_secs(15 * 60);

/// The endpoints (and their same-named configurations) a campaign may have created and not yet
/// deleted.
#[derive(Clone, Default)]
pub struct Live(Arc<Mutex<Vec<LiveEndpoint>>>);

#[derive(Debug, Clone, PartialEq)]
struct LiveEndpoint {
    name: String,
    /// `keep = true`: left deployed on purpose.
    kept: bool,
}

impl Live {
    fn with<R>(&self, f: impl FnOnce(&mut Vec<LiveEndpoint>) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Records `name` before its first create call.
    pub fn add(&self, name: &str) {
        self.with(|v| {
            if !v.iter().any(|e| e.name == name) {
                v.push(LiveEndpoint {
                    name: name.to_string(),
                    kept: false,
                });
            }
        });
    }

    pub fn keep(&self, name: &str) {
        self.with(|v| {
            v.iter_mut()
                .filter(|e| e.name == name)
                .for_each(|e| e.kept = true)
        });
    }

    pub fn remove(&self, name: &str) {
        self.with(|v| v.retain(|e| e.name != name));
    }

    /// Names still to delete (kept ones excluded).
    pub fn to_delete(&self) -> Vec<String> {
        self.with(|v| {
            v.iter()
                .filter(|e| !e.kept)
                .map(|e| e.name.clone())
                .collect()
        })
    }
}

/// Where stderr output goes: a spinner on a terminal, one line per event otherwise, nothing
/// but warnings with `--quiet`.
#[derive(Debug, Clone, Copy)]
pub struct Display {
    pub quiet: bool,
}

impl Display {
    pub fn line(&self, s: &str) {
        if !self.quiet {
            eprintln!("{s}");
        }
    }

    fn spinner(&self, msg: String) -> ProgressBar {
        let target = if self.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]") {
            bar.set_style(style);
        }
        bar.set_message(msg);
        if !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        bar
    }
}

/// Why an endpoint did not become InService.
#[derive(Debug)]
pub enum NotInService {
    /// The first Ctrl-C arrived while waiting.
    Interrupted,
    /// SageMaker said no: the status `Failed` (with its reason), a create call refused, or the
    /// wait ran past the campaign's limit. The campaign goes on with the next type.
    Failed(String),
    /// A call failed in a way the next type would meet too (access, credentials, no answer).
    Fatal(CallError),
}

impl NotInService {
    fn from_call(e: CallError) -> NotInService {
        if e.is_account_wide() {
            NotInService::Fatal(e)
        } else {
            NotInService::Failed(e.to_string())
        }
    }
}

/// `4m 12s`, `38s`, `1h 02m`.
pub fn fmt_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{:.1}s", d.as_secs_f64()),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The pause between two DescribeEndpoint calls: SageMaker takes minutes, so every 15 s, or
/// more often when the limit itself is short.
fn poll_interval(limit: Duration) -> Duration {
    (limit / 20).clamp(Duration::from_millis(200), Duration::from_secs(15))
}

/// Creates the endpoint configuration and the endpoint (recorded in `live` first) and waits for
/// InService. Returns the seconds from CreateEndpoint to InService.
pub async fn deploy(
    cp: &ControlPlane,
    live: &Live,
    spec: &EndpointSpec,
    limit: Duration,
    cancel: &CancellationToken,
    display: Display,
) -> Result<f64, NotInService> {
    live.add(&spec.name);
    display.line(&format!(
        "  creating endpoint configuration and endpoint {} ({} × {}, model {}, variant {})",
        spec.name, spec.instance_count, spec.instance_type, spec.model_name, spec.variant_name
    ));
    cp.create_endpoint_config(spec)
        .await
        .map_err(NotInService::from_call)?;
    cp.create_endpoint(spec)
        .await
        .map_err(NotInService::from_call)?;
    wait_in_service(cp, &spec.name, limit, cancel, display, "to be InService").await
}

/// Polls DescribeEndpoint until `name` is InService, showing the status and the elapsed time.
pub async fn wait_in_service(
    cp: &ControlPlane,
    name: &str,
    limit: Duration,
    cancel: &CancellationToken,
    display: Display,
    what: &str,
) -> Result<f64, NotInService> {
    let t0 = Instant::now();
    let bar = display.spinner(format!("waiting for {name} {what}"));
    let logged = bar.is_hidden();
    if logged {
        display.line(&format!("  waiting for {name} {what}"));
    }
    let result = loop {
        let state = match cp.endpoint_state(name).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                break Err(NotInService::Failed(format!(
                    "endpoint {name} disappeared while rightsize waited for it (deleted by someone else?)"
                )));
            }
            Err(e) => break Err(NotInService::from_call(e)),
        };
        match state.status {
            EndpointStatus::InService => break Ok(t0.elapsed().as_secs_f64()),
            EndpointStatus::Failed
            | EndpointStatus::OutOfService
            | EndpointStatus::UpdateRollbackFailed
            | EndpointStatus::Deleting => {
                break Err(NotInService::Failed(format!(
                    "endpoint {name} is {}{}",
                    state.status.as_str(),
                    state
                        .failure_reason
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )));
            }
            _ => {}
        }
        if t0.elapsed() >= limit {
            break Err(NotInService::Failed(format!(
                "endpoint {name} was still {} after {} ([deploy] in_service_timeout_minutes)",
                state.status.as_str(),
                fmt_elapsed(limit)
            )));
        }
        bar.set_message(format!(
            "waiting for {name} {what}: {}",
            state.status.as_str()
        ));
        let pause = poll_interval(limit).min(limit.saturating_sub(t0.elapsed()));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = cancel.cancelled() => break Err(NotInService::Interrupted),
        }
    };
    bar.finish_and_clear();
    if let Ok(s) = &result {
        display.line(&format!(
            "  {name} is InService after {}",
            fmt_elapsed(Duration::from_secs_f64(*s))
        ));
    }
    result
}

/// Deletes the endpoint `name`, then its configuration. SageMaker refuses to delete an endpoint
/// it is still creating or updating, so that is waited out (up to [`TEARDOWN_LIMIT`]); the
/// configuration is deleted once the endpoint is gone (AWS asks not to delete the configuration
/// of a live endpoint). Not found counts as deleted. On success the name leaves `live`.
pub async fn teardown(
    cp: &ControlPlane,
    live: &Live,
    name: &str,
    display: Display,
) -> Result<(), String> {
    delete_endpoint(cp, name).await?;
    cp.delete_endpoint_config(name)
        .await
        .map_err(|e| e.to_string())?;
    live.remove(name);
    display.line(&format!(
        "  deleted endpoint {name} and its endpoint configuration"
    ));
    Ok(())
}

/// Deletes the endpoint `name` (not its configuration), waiting out a status SageMaker does not
/// delete from (Creating, Updating, …), and then for the endpoint to go (a while). Not found
/// counts as deleted.
pub async fn delete_endpoint(cp: &ControlPlane, name: &str) -> Result<(), String> {
    let t0 = Instant::now();
    let poll = Duration::from_secs(5);
    let mut told = false;
    loop {
        let refused = cp.delete_endpoint(name).await.err();
        if let Some(e) = &refused
            && e.is_account_wide()
        {
            return Err(e.to_string());
        }
        match cp.endpoint_state(name).await {
            Ok(None) => break,
            Ok(Some(s)) if s.status == EndpointStatus::Deleting => {
                // Accepted: wait (a while) for it to go before deleting its configuration.
                wait_gone(cp, name, poll).await;
                break;
            }
            Ok(Some(s)) if s.in_progress() || refused.is_none() => {
                if t0.elapsed() > TEARDOWN_LIMIT {
                    return Err(format!(
                        "endpoint {name} is still {} after {}; SageMaker does not delete it before that ends",
                        s.status.as_str(),
                        fmt_elapsed(t0.elapsed())
                    ));
                }
                if !told {
                    eprintln!(
                        "  endpoint {name} is {}: SageMaker deletes it only once that ends; waiting",
                        s.status.as_str()
                    );
                    told = true;
                }
                tokio::time::sleep(poll).await;
            }
            Ok(Some(s)) => {
                return Err(format!(
                    "{} (endpoint {name} is {})",
                    refused.map(|e| e.to_string()).unwrap_or_default(),
                    s.status.as_str()
                ));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

async fn wait_gone(cp: &ControlPlane, name: &str, poll: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < GONE_LIMIT {
        match cp.endpoint_state(name).await {
            Ok(Some(s)) if s.status == EndpointStatus::Deleting => {
                tokio::time::sleep(poll).await;
            }
            _ => return,
        }
    }
}

/// Tears down everything still in `live` (kept endpoints excepted); returns one message per
/// endpoint that could not be deleted.
pub async fn teardown_all(cp: &ControlPlane, live: &Live, display: Display) -> Vec<String> {
    let mut failed = Vec::new();
    for name in live.to_delete() {
        if let Err(e) = teardown(cp, live, &name, display).await {
            failed.push(format!("{name}: {e}"));
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_names_are_recorded_once_and_kept_ones_are_not_deleted() {
        let live = Live::default();
        live.add("a");
        live.add("b");
        live.add("a");
        assert_eq!(live.to_delete(), ["a", "b"]);
        live.keep("a");
        assert_eq!(live.to_delete(), ["b"]);
        live.remove("b");
        assert!(live.to_delete().is_empty());
    }

    #[test]
    fn elapsed_times_read_naturally() {
        assert_eq!(fmt_elapsed(Duration::from_millis(38_400)), "38.4s");
        assert_eq!(fmt_elapsed(Duration::from_secs(252)), "4m 12s");
        assert_eq!(fmt_elapsed(Duration::from_secs(3720)), "1h 02m");
    }

    #[test]
    fn polling_follows_the_limit_within_bounds() {
        assert_eq!(
            poll_interval(Duration::from_secs(1800)),
            Duration::from_secs(15)
        );
        assert_eq!(
            poll_interval(Duration::from_secs(4)),
            Duration::from_millis(200)
        );
        assert_eq!(
            poll_interval(Duration::from_secs(60)),
            Duration::from_secs(3)
        );
    }
}
