//! The campaign's `[deploy]` section: which existing SageMaker model to deploy on which
//! instance types, how the endpoints a managed campaign creates are named and tagged, and how
//! long each may take. Pure: the names are computed here, the calls live in `aws::deploy`.

use serde::{Deserialize, Serialize};

use super::issue::Issue;
use super::target::{TargetConfig, TargetKind, is_endpoint_name};

/// Longest generated campaign id (the names must leave room for it).
pub const CAMPAIGN_ID_LEN: usize = 8;
/// Longest `endpoint_prefix`: a name is `prefix-slug-id`, at most 63 characters.
pub const MAX_PREFIX_LEN: usize = 24;
/// Longest in-service wait accepted, minutes (SageMaker's own container start-up limit is an
/// hour).
pub const MAX_IN_SERVICE_MINUTES: f64 = 180.0;
/// Longest endurance check accepted, minutes.
pub const MAX_ENDURANCE_MINUTES: f64 = 1440.0;
/// Most instances per endpoint accepted during a test.
pub const MAX_INSTANCE_COUNT: u32 = 100;

/// `[deploy]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// An existing SageMaker model (CreateModel is yours: it holds the image and the role).
    pub model_name: String,
    /// The candidate instance types, e.g. `["ml.c5.xlarge", "ml.g4dn.xlarge"]`, in the order
    /// they are measured.
    pub instance_types: Vec<String>,
    /// Instances of each endpoint during its test.
    #[serde(default = "default_instance_count")]
    pub instance_count: u32,
    /// The production variant of each endpoint configuration.
    #[serde(default = "default_variant_name")]
    pub variant_name: String,
    /// First part of every endpoint and endpoint configuration name.
    #[serde(default = "default_endpoint_prefix")]
    pub endpoint_prefix: String,
    /// How long an endpoint may take to become InService before its deploy counts as failed.
    #[serde(default = "default_in_service_timeout_minutes")]
    pub in_service_timeout_minutes: f64,
    /// Leave the endpoints of measured types deployed (and billing) after the campaign.
    #[serde(default)]
    pub keep: bool,
    /// After the search: the cheapest type, scaled to its recommended max_instances, at
    /// peak_tps for this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endurance_minutes: Option<f64>,
    /// Send control-plane calls here instead of AWS (like AWS_ENDPOINT_URL_SAGEMAKER).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
}

fn default_instance_count() -> u32 {
    1
}
fn default_variant_name() -> String {
    "AllTraffic".into()
}
fn default_endpoint_prefix() -> String {
    "rightsize".into()
}
fn default_in_service_timeout_minutes() -> f64 {
    30.0
}

fn issue(key: &'static str, message: String) -> Issue {
    Issue {
        section: "deploy",
        key,
        message,
    }
}

/// `ml.c5.xlarge` → `c5-xlarge`: the instance type as it appears in resource names.
pub fn slug(instance_type: &str) -> String {
    let t = instance_type.strip_prefix("ml.").unwrap_or(instance_type);
    t.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The name of the endpoint and of its endpoint configuration for one instance type of one
/// campaign: `prefix-slug-id`, in lower case (SageMaker writes names in lower case in ARNs).
pub fn resource_name(prefix: &str, instance_type: &str, campaign_id: &str) -> String {
    format!(
        "{}-{}-{}",
        prefix.to_ascii_lowercase(),
        slug(instance_type),
        campaign_id
    )
}

/// Whether the AWS SDK knows `t` as a real-time endpoint instance type.
pub fn is_known_instance_type(t: &str) -> bool {
    aws_sdk_sagemaker::types::ProductionVariantInstanceType::values().contains(&t)
}

/// Checks `[deploy]` and what it implies for `[target]`.
pub fn validate(d: &DeployConfig, t: &TargetConfig) -> Result<(), Issue> {
    if t.kind != TargetKind::Sagemaker {
        return Err(Issue {
            section: "target",
            key: "kind",
            message: "must be \"sagemaker\" when the campaign has a [deploy] section (rightsize deploys SageMaker endpoints)".into(),
        });
    }
    if let Some(n) = &t.endpoint_name {
        return Err(Issue {
            section: "target",
            key: "endpoint_name",
            message: format!(
                "= {n:?} cannot be used with [deploy]: each instance type gets its own endpoint, named from [deploy] endpoint_prefix; remove endpoint_name (or remove [deploy] to size an existing endpoint)"
            ),
        });
    }
    if let Some(v) = &t.variant
        && *v != d.variant_name
    {
        return Err(Issue {
            section: "target",
            key: "variant",
            message: format!(
                "= {v:?} names a variant the deployed endpoints do not have ([deploy] variant_name = {:?}); remove it or make them equal",
                d.variant_name
            ),
        });
    }
    if !is_endpoint_name(&d.model_name) {
        return Err(issue(
            "model_name",
            format!(
                "= {:?} is not a SageMaker model name (1 to 63 letters, digits and hyphens, starting and ending with a letter or digit)",
                d.model_name
            ),
        ));
    }
    if d.instance_types.is_empty() {
        return Err(issue(
            "instance_types",
            "must list at least one instance type, e.g. [\"ml.c5.xlarge\", \"ml.m5.xlarge\"]"
                .into(),
        ));
    }
    for (i, ty) in d.instance_types.iter().enumerate() {
        if !ty.starts_with("ml.") {
            return Err(issue(
                "instance_types",
                format!(
                    "has {ty:?}, which is not a SageMaker instance type (they start with \"ml.\", e.g. \"ml.c5.xlarge\")"
                ),
            ));
        }
        if !is_known_instance_type(ty) {
            return Err(issue(
                "instance_types",
                format!(
                    "has {ty:?}, which is not a real-time endpoint instance type this rightsize knows; check the spelling (e.g. \"ml.c5.xlarge\", \"ml.g5.2xlarge\")"
                ),
            ));
        }
        if d.instance_types[..i].contains(ty) {
            return Err(issue(
                "instance_types",
                format!("lists {ty:?} twice; each type is measured once"),
            ));
        }
    }
    if d.instance_count == 0 || d.instance_count > MAX_INSTANCE_COUNT {
        return Err(issue(
            "instance_count",
            format!(
                "= {} must be between 1 and {MAX_INSTANCE_COUNT}",
                d.instance_count
            ),
        ));
    }
    if !is_endpoint_name(&d.variant_name) {
        return Err(issue(
            "variant_name",
            format!(
                "= {:?} is not a SageMaker variant name (1 to 63 letters, digits and hyphens, starting and ending with a letter or digit)",
                d.variant_name
            ),
        ));
    }
    let p = &d.endpoint_prefix;
    if !is_endpoint_name(p) || p.len() > MAX_PREFIX_LEN {
        return Err(issue(
            "endpoint_prefix",
            format!(
                "= {p:?} must be 1 to {MAX_PREFIX_LEN} letters, digits and hyphens, starting and ending with a letter or digit"
            ),
        ));
    }
    for ty in &d.instance_types {
        let name = resource_name(p, ty, &"0".repeat(CAMPAIGN_ID_LEN));
        if !is_endpoint_name(&name) {
            return Err(issue(
                "endpoint_prefix",
                format!(
                    "= {p:?} makes the endpoint name for {ty} ({name}, {} characters) longer than SageMaker's 63; use a shorter prefix",
                    name.len()
                ),
            ));
        }
    }
    let m = d.in_service_timeout_minutes;
    if !(m.is_finite() && m > 0.0 && m <= MAX_IN_SERVICE_MINUTES) {
        return Err(issue(
            "in_service_timeout_minutes",
            format!("= {m} must be above 0 and at most {MAX_IN_SERVICE_MINUTES}"),
        ));
    }
    if let Some(m) = d.endurance_minutes
        && !(m.is_finite() && m > 0.0 && m <= MAX_ENDURANCE_MINUTES)
    {
        return Err(issue(
            "endurance_minutes",
            format!(
                "= {m} must be above 0 and at most {MAX_ENDURANCE_MINUTES} (leave it out for no endurance check)"
            ),
        ));
    }
    if let Some(u) = &d.endpoint_url
        && !((u.starts_with("http://") || u.starts_with("https://"))
            && u.parse::<hyper::Uri>().is_ok())
    {
        return Err(issue(
            "endpoint_url",
            format!("= {u:?} must be an http:// or https:// URL"),
        ));
    }
    Ok(())
}

/// `[target]` keys that a `[deploy]` section sets itself: given in the file, they would be
/// silently replaced, so they are refused. Needs the file's text, since both have defaults.
pub fn check_target_keys(text: &str) -> Result<(), Issue> {
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Ok(());
    };
    let Some(target) = doc.get("target").and_then(toml::Value::as_table) else {
        return Ok(());
    };
    for (key, instead) in [
        (
            "instance_type",
            "the types come from [deploy] instance_types",
        ),
        ("instance_count", "set [deploy] instance_count instead"),
    ] {
        if target.contains_key(key) {
            return Err(Issue {
                section: "target",
                key,
                message: format!("cannot be used with [deploy]: {instead}; remove it"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefix_type_and_campaign_id_in_lower_case() {
        assert_eq!(slug("ml.c5.xlarge"), "c5-xlarge");
        assert_eq!(slug("ml.g5.12xlarge"), "g5-12xlarge");
        assert_eq!(
            resource_name("Sizing", "ml.c5.xlarge", "a1b2c3d4"),
            "sizing-c5-xlarge-a1b2c3d4"
        );
        // The longest types the SDK knows still fit with the longest prefix.
        let prefix = "p".repeat(MAX_PREFIX_LEN);
        let longest = aws_sdk_sagemaker::types::ProductionVariantInstanceType::values()
            .iter()
            .map(|t| resource_name(&prefix, t, &"0".repeat(CAMPAIGN_ID_LEN)))
            .max_by_key(String::len)
            .unwrap();
        assert!(longest.len() <= 63, "{longest} ({})", longest.len());
    }

    #[test]
    fn instance_types_must_be_known_and_distinct() {
        assert!(is_known_instance_type("ml.c5.xlarge"));
        assert!(is_known_instance_type("ml.g5.2xlarge"));
        assert!(!is_known_instance_type("ml.c5.xlarg"));
        assert!(!is_known_instance_type("c5.xlarge"));
    }
}
