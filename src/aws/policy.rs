//! The recommendation as Application Auto Scaling requests: `scalable-target.json`,
//! `scaling-policy.json` and `scheduled-action*.json`, in the shapes
//! `aws application-autoscaling register-scalable-target|put-scaling-policy|put-scheduled-action
//! --cli-input-json file://...` accepts (the API's own member names). `rightsize apply` sends the
//! very same requests, so the files and the command cannot disagree.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::autoscaling::is_sagemaker_name;
use crate::config::{Campaign, TargetKind};
use crate::decide::concurrency::Unit;
use crate::decide::recommend::{Recommendation, ScalingPolicy};
use crate::error::{Error, Result};
use crate::report::{self, Report};

pub const SERVICE_NAMESPACE: &str = "sagemaker";
pub const SCALABLE_DIMENSION: &str = "sagemaker:variant:DesiredInstanceCount";
pub const POLICY_TYPE: &str = "TargetTrackingScaling";
pub const POLICY_NAME: &str = "rightsize-invocations-per-instance";
/// The policy name of a stream recommendation (concurrency per instance, or per copy).
pub const CONCURRENCY_POLICY_NAME: &str = "rightsize-concurrency";
/// Used when a per-copy recommendation names no inference component; not a valid name either.
pub const PLACEHOLDER_COMPONENT: &str = "REPLACE_WITH_INFERENCE_COMPONENT_NAME";
pub const SCHEDULED_ACTION_NAME: &str = "rightsize-ramp-minimum";
pub const SCHEDULED_ACTION_END_NAME: &str = "rightsize-ramp-minimum-end";
/// Used when no endpoint name is known. Not a valid SageMaker endpoint name (underscores), so a
/// file applied without replacing it is refused rather than scaling some other endpoint.
pub const PLACEHOLDER_ENDPOINT: &str = "REPLACE_WITH_ENDPOINT_NAME";
/// SageMaker's usual name for a single production variant.
pub const DEFAULT_VARIANT: &str = "AllTraffic";

pub const SCALABLE_TARGET_FILE: &str = "scalable-target.json";
pub const SCALING_POLICY_FILE: &str = "scaling-policy.json";
pub const SCHEDULED_ACTION_FILE: &str = "scheduled-action.json";
pub const SCHEDULED_ACTION_END_FILE: &str = "scheduled-action-end.json";

/// RegisterScalableTarget's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ScalableTargetRequest {
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub min_capacity: u64,
    pub max_capacity: u64,
}

/// PutScalingPolicy's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ScalingPolicyRequest {
    pub policy_name: String,
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub policy_type: String,
    pub target_tracking_scaling_policy_configuration: ScalingPolicy,
}

/// PutScheduledAction's `ScalableTargetAction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ScalableTargetAction {
    pub min_capacity: u64,
    pub max_capacity: u64,
}

/// PutScheduledAction's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ScheduledActionRequest {
    pub service_namespace: String,
    pub schedule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    pub scheduled_action_name: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub scalable_target_action: ScalableTargetAction,
}

/// Which endpoint variant the requests scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub endpoint: String,
    pub variant: String,
    /// The endpoint name is [`PLACEHOLDER_ENDPOINT`]: nobody said which endpoint.
    pub placeholder: bool,
    /// The inference component whose copies a per-copy policy scales (flag, then
    /// `[autoscaling]`, then `[target]`); a per-copy recommendation without one gets
    /// [`PLACEHOLDER_COMPONENT`].
    pub inference_component: Option<String>,
}

impl Names {
    /// Flags first, then `[autoscaling]`, then `[target]` (SageMaker campaigns); an unknown
    /// endpoint becomes [`PLACEHOLDER_ENDPOINT`], an unknown variant [`DEFAULT_VARIANT`].
    pub fn resolve(c: &Campaign, endpoint: Option<&str>, variant: Option<&str>) -> Result<Names> {
        Names::resolve_with(c, endpoint, variant, None)
    }

    /// [`Names::resolve`] with an `--inference-component` flag.
    pub fn resolve_with(
        c: &Campaign,
        endpoint: Option<&str>,
        variant: Option<&str>,
        component: Option<&str>,
    ) -> Result<Names> {
        for (flag, v) in [
            ("--endpoint", endpoint),
            ("--variant", variant),
            ("--inference-component", component),
        ] {
            if let Some(v) = v
                && !is_sagemaker_name(v)
            {
                return Err(Error::input(format!(
                    "{flag} {v:?}: not a SageMaker name (letters, digits and hyphens, at most 63 characters)"
                )));
            }
        }
        let sagemaker = c.target.kind == TargetKind::Sagemaker;
        let endpoint = endpoint
            .map(str::to_string)
            .or_else(|| c.autoscaling.endpoint_name.clone())
            .or_else(|| {
                c.target
                    .endpoint_name
                    .clone()
                    .filter(|n| sagemaker && is_sagemaker_name(n))
            });
        let variant = variant
            .map(str::to_string)
            .or_else(|| c.autoscaling.variant.clone())
            .or_else(|| c.target.variant.clone().filter(|_| sagemaker))
            .unwrap_or_else(|| DEFAULT_VARIANT.to_string());
        let inference_component = component
            .map(str::to_string)
            .or_else(|| c.autoscaling.inference_component.clone())
            .or_else(|| c.target.inference_component.clone().filter(|_| sagemaker));
        Ok(Names {
            inference_component,
            placeholder: endpoint.is_none(),
            endpoint: endpoint.unwrap_or_else(|| PLACEHOLDER_ENDPOINT.to_string()),
            variant,
        })
    }

    /// `endpoint/<endpoint>/variant/<variant>`.
    pub fn resource_id(&self) -> String {
        format!("endpoint/{}/variant/{}", self.endpoint, self.variant)
    }

    /// The resource a recommendation scales: the variant, or `inference-component/<name>` for
    /// a per-copy recommendation.
    pub fn resource_for(&self, r: &Recommendation) -> String {
        if per_copy(r) {
            format!(
                "inference-component/{}",
                self.inference_component
                    .as_deref()
                    .unwrap_or(PLACEHOLDER_COMPONENT)
            )
        } else {
            self.resource_id()
        }
    }
}

/// Whether a recommendation scales copies of an inference component.
fn per_copy(r: &Recommendation) -> bool {
    r.concurrency.as_ref().is_some_and(|k| k.unit == Unit::Copy)
}

/// Everything `apply` sends, in order; each scheduled action with the file it is written to.
#[derive(Debug, Clone, PartialEq)]
pub struct Requests {
    pub scalable_target: ScalableTargetRequest,
    pub scaling_policy: ScalingPolicyRequest,
    pub scheduled_actions: Vec<(&'static str, ScheduledActionRequest)>,
}

/// The requests that put a recommendation in place on one endpoint variant.
///
/// With a scheduled minimum and a schedule, the target's MinCapacity is the floor and the
/// scheduled action raises it for the ramp; otherwise MinCapacity is the recommended minimum.
pub fn requests(r: &Recommendation, names: &Names) -> Requests {
    let resource_id = names.resource_for(r);
    let dimension = r
        .concurrency
        .as_ref()
        .map_or(SCALABLE_DIMENSION, |k| k.unit.dimension());
    let policy_name = match &r.concurrency {
        Some(k) => format!("{CONCURRENCY_POLICY_NAME}-per-{}", k.unit.word()),
        None => POLICY_NAME.to_string(),
    };
    let scheduled = r
        .autoscaling
        .as_ref()
        .and_then(|a| a.scheduled_minimum.as_ref())
        .and_then(|s| s.schedule.clone().map(|cron| (s, cron)));
    let min_capacity = match &scheduled {
        Some((s, _)) => s.outside_min_capacity.min(r.max_instances),
        None => r.min_instances,
    };
    let action = |file, name: &str, cron: &str, tz: &Option<String>, min, max| {
        (
            file,
            ScheduledActionRequest {
                service_namespace: SERVICE_NAMESPACE.into(),
                schedule: cron.to_string(),
                timezone: tz.clone(),
                scheduled_action_name: name.to_string(),
                resource_id: resource_id.clone(),
                scalable_dimension: dimension.into(),
                scalable_target_action: ScalableTargetAction {
                    min_capacity: min,
                    max_capacity: max,
                },
            },
        )
    };
    let mut scheduled_actions = Vec::new();
    if let Some((s, cron)) = &scheduled {
        scheduled_actions.push(action(
            SCHEDULED_ACTION_FILE,
            SCHEDULED_ACTION_NAME,
            cron,
            &s.timezone,
            s.min_capacity,
            s.max_capacity,
        ));
        if let Some(end) = &s.schedule_end {
            scheduled_actions.push(action(
                SCHEDULED_ACTION_END_FILE,
                SCHEDULED_ACTION_END_NAME,
                end,
                &s.timezone,
                min_capacity,
                r.max_instances,
            ));
        }
    }
    Requests {
        scalable_target: ScalableTargetRequest {
            service_namespace: SERVICE_NAMESPACE.into(),
            resource_id: resource_id.clone(),
            scalable_dimension: dimension.into(),
            min_capacity,
            max_capacity: r.max_instances,
        },
        scaling_policy: ScalingPolicyRequest {
            policy_name,
            service_namespace: SERVICE_NAMESPACE.into(),
            resource_id,
            scalable_dimension: dimension.into(),
            policy_type: POLICY_TYPE.into(),
            target_tracking_scaling_policy_configuration: r.scaling_policy.clone(),
        },
        scheduled_actions,
    }
}

fn pretty<T: Serialize>(v: &T) -> String {
    // Plain data with string keys: serialising cannot fail.
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

impl Requests {
    /// (file name, JSON text) of every request, in the order they are applied.
    pub fn files(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (SCALABLE_TARGET_FILE, pretty(&self.scalable_target)),
            (SCALING_POLICY_FILE, pretty(&self.scaling_policy)),
        ];
        for (file, a) in &self.scheduled_actions {
            out.push((file, pretty(a)));
        }
        out
    }

    /// Writes the files into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for (name, text) in self.files() {
            let path = dir.join(name);
            report::write_atomic(&path, text.as_bytes())?;
            paths.push(path);
        }
        Ok(paths)
    }
}

/// Writes the policy files of a report into `dir` (none when there is no recommendation).
pub fn write_for_report(
    dir: &Path,
    report: &Report,
    endpoint: Option<&str>,
    variant: Option<&str>,
) -> Result<(Vec<PathBuf>, Option<Names>)> {
    let Some(r) = &report.recommendation else {
        return Ok((Vec::new(), None));
    };
    if let Some(why) = crate::decide::recommend::target_value_refusal(r) {
        // The explanation already carries the reason; a policy file would invite applying it.
        eprintln!("rightsize: {why}");
        return Ok((Vec::new(), None));
    }
    let names = Names::resolve(&report.campaign, endpoint, variant)?;
    Ok((requests(r, &names).write(dir)?, Some(names)))
}

/// A line telling the user about a per-copy recommendation's placeholder, when there is one.
pub fn component_placeholder_note(r: &Recommendation, names: &Names) -> Option<String> {
    (per_copy(r) && names.inference_component.is_none()).then(|| {
        format!(
            "The policy files name the inference component {PLACEHOLDER_COMPONENT}: replace it, set [autoscaling] inference_component, or pass --inference-component NAME to `rightsize apply`."
        )
    })
}

/// A line telling the user about the placeholder, when there is one.
pub fn placeholder_note(names: &Names) -> Option<String> {
    names.placeholder.then(|| {
        format!(
            "The policy files name the endpoint {PLACEHOLDER_ENDPOINT}: replace it, or pass --endpoint NAME to `rightsize recommend` or `rightsize apply`."
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(target: &str, autoscaling: &str) -> Campaign {
        let text = format!(
            "name = \"t\"\n[target]\n{target}\n[payload]\nbody = '{{}}'\n[requirements]\np99_ms = 100\nmax_error_percent = 1\npeak_tps = 10\n{autoscaling}"
        );
        Campaign::parse(&text, Path::new("c.toml"), Path::new(".")).unwrap()
    }

    #[test]
    fn no_policy_file_is_written_for_a_target_value_of_0() {
        let dir = tempfile::tempdir().unwrap();
        let report = crate::report::test_support::report("ml.c5.large", &[(0.01, true)], 1.0);
        assert_eq!(
            report
                .recommendation
                .as_ref()
                .unwrap()
                .scaling_policy
                .target_value,
            0.0
        );
        let (written, _) = write_for_report(dir.path(), &report, None, None).unwrap();
        assert!(written.is_empty(), "{written:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let ok = crate::report::test_support::report("ml.c5.large", &[(10.0, true)], 1.0);
        let (written, _) = write_for_report(dir.path(), &ok, None, None).unwrap();
        assert!(!written.is_empty());
    }

    #[test]
    fn names_come_from_flags_then_autoscaling_then_the_sagemaker_target() {
        let sm = "kind = \"sagemaker\"\nendpoint_name = \"sm-ep\"\nvariant = \"blue\"";
        let n = Names::resolve(&campaign(sm, ""), None, None).unwrap();
        assert_eq!(n.resource_id(), "endpoint/sm-ep/variant/blue");
        assert!(!n.placeholder);
        let c = campaign(
            sm,
            "[autoscaling]\nendpoint_name = \"prod\"\nvariant = \"green\"",
        );
        let n = Names::resolve(&c, None, None).unwrap();
        assert_eq!(n.resource_id(), "endpoint/prod/variant/green");
        let n = Names::resolve(&c, Some("flag-ep"), Some("red")).unwrap();
        assert_eq!(n.resource_id(), "endpoint/flag-ep/variant/red");
    }

    #[test]
    fn an_unknown_endpoint_gets_a_placeholder_aws_would_refuse() {
        let http = "kind = \"http\"\nurl = \"http://127.0.0.1:9/x\"";
        let n = Names::resolve(&campaign(http, ""), None, None).unwrap();
        assert!(n.placeholder);
        assert_eq!(
            n.resource_id(),
            format!("endpoint/{PLACEHOLDER_ENDPOINT}/variant/{DEFAULT_VARIANT}")
        );
        assert!(!is_sagemaker_name(PLACEHOLDER_ENDPOINT));
        assert!(placeholder_note(&n).unwrap().contains("--endpoint"));
        let e = Names::resolve(&campaign(http, ""), Some("no_such"), None).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
