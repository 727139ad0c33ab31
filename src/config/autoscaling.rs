//! The campaign's `[autoscaling]` section: how Application Auto Scaling is assumed to behave
//! (every default of the simulation lives here, so a report names them all), the MaxCapacity to
//! register, the names the policy files use, and an optional schedule for a ramp-time minimum.

use serde::{Deserialize, Serialize};

use super::issue::Issue;
use super::requirements::Requirements;

/// The longest ramp (and hold) the simulation accepts, minutes: a day.
pub const MAX_MINUTES: f64 = 1440.0;

/// `[autoscaling]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutoscalingConfig {
    /// From the scale-out decision until a new instance serves traffic: launch, image pull,
    /// model load, health checks (and any metric publication delay you want to fold in).
    #[serde(default = "default_provisioning_minutes")]
    pub provisioning_minutes: f64,
    /// Consecutive one-minute periods above target before the scale-out alarm fires.
    #[serde(default = "default_scale_out_datapoints")]
    pub scale_out_datapoints: u32,
    /// Consecutive one-minute periods below the scale-in threshold before the scale-in alarm fires.
    #[serde(default = "default_scale_in_datapoints")]
    pub scale_in_datapoints: u32,
    /// The scale-in alarm's threshold, percent of the target value.
    #[serde(default = "default_scale_in_threshold_percent")]
    pub scale_in_threshold_percent: f64,
    /// ScaleOutCooldown of the policy, seconds.
    #[serde(default = "default_cooldown_s")]
    pub scale_out_cooldown_s: u32,
    /// ScaleInCooldown of the policy, seconds.
    #[serde(default = "default_cooldown_s")]
    pub scale_in_cooldown_s: u32,
    /// When the ramp simulation starts the scale-out cooldown: `in_service` (the default: when
    /// the scale-out's instances serve, as AWS documents for SageMaker target tracking, "after
    /// a scale out activity completes") or `decision` (when the scale-out is decided).
    #[serde(default, skip_serializing_if = "CooldownFrom::is_in_service")]
    pub cooldown_from: CooldownFrom,
    /// How long the simulation keeps traffic at peak after the ramp, minutes; default
    /// [`AutoscalingConfig::hold_minutes`]: 30, or twice what one scale-out takes if longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_minutes: Option<f64>,
    /// MaxCapacity to register; default ceil(peak_tps ÷ MAX_RPS per instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<u64>,
    /// Endpoint named in the policy files; default `[target] endpoint_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<String>,
    /// Variant named in the policy files; default `[target] variant`, else `AllTraffic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Streams: the inference component whose copies the concurrency policy scales (per copy,
    /// `inference-component/NAME`); default `[target] inference_component`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_component: Option<String>,
    /// When a ramp needs more instances than the traffic floor: the cron expression at which a
    /// scheduled action raises MinCapacity (shortly before the ramp starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Optional: the cron expression at which a second scheduled action lowers it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_end: Option<String>,
    /// IANA time zone of the schedules; Application Auto Scaling's default is UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

fn default_provisioning_minutes() -> f64 {
    6.0
}
fn default_scale_out_datapoints() -> u32 {
    3
}
fn default_scale_in_datapoints() -> u32 {
    15
}
fn default_scale_in_threshold_percent() -> f64 {
    90.0
}
fn default_cooldown_s() -> u32 {
    300
}

/// When the scale-out cooldown starts (`[autoscaling] cooldown_from`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CooldownFrom {
    /// When the scale-out's instances are in service.
    #[default]
    InService,
    /// When the scale-out is decided.
    Decision,
}

impl CooldownFrom {
    pub fn is_in_service(&self) -> bool {
        *self == CooldownFrom::InService
    }
}

impl Default for AutoscalingConfig {
    fn default() -> Self {
        AutoscalingConfig {
            provisioning_minutes: default_provisioning_minutes(),
            scale_out_datapoints: default_scale_out_datapoints(),
            scale_in_datapoints: default_scale_in_datapoints(),
            scale_in_threshold_percent: default_scale_in_threshold_percent(),
            scale_out_cooldown_s: default_cooldown_s(),
            scale_in_cooldown_s: default_cooldown_s(),
            cooldown_from: CooldownFrom::InService,
            hold_minutes: None,
            max_instances: None,
            endpoint_name: None,
            variant: None,
            inference_component: None,
            schedule: None,
            schedule_end: None,
            timezone: None,
        }
    }
}

impl AutoscalingConfig {
    /// The hold the simulation uses: as given, else 30 minutes or twice what one scale-out
    /// takes (alarm datapoints + provisioning), whichever is longer.
    pub fn hold_minutes(&self) -> f64 {
        self.hold_minutes.unwrap_or_else(|| {
            (2.0 * (self.provisioning_minutes + f64::from(self.scale_out_datapoints)))
                .max(30.0)
                .ceil()
        })
    }
}

fn issue(key: &'static str, message: String) -> Issue {
    Issue {
        section: "autoscaling",
        key,
        message,
    }
}

/// A SageMaker endpoint or variant name: letters, digits and hyphens, 1–63 characters, not
/// starting or ending with a hyphen.
pub fn is_sagemaker_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Checks a schedule as Application Auto Scaling's cron form: `cron(m h dom mon dow year)`.
pub fn check_cron(s: &str) -> std::result::Result<(), String> {
    let example = "for example \"cron(0 7 ? * MON-FRI *)\" (minutes hours day-of-month month day-of-week year)";
    let Some(inner) = s
        .trim()
        .strip_prefix("cron(")
        .and_then(|r| r.strip_suffix(')'))
    else {
        return Err(format!("= {s:?} is not a cron expression; write {example}"));
    };
    let fields = inner.split_whitespace().count();
    if fields != 6 {
        return Err(format!(
            "= {s:?} has {fields} fields; a cron expression has 6, {example}"
        ));
    }
    if !inner
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " *?,-/#L".contains(c))
    {
        return Err(format!(
            "= {s:?} contains characters a cron field cannot; {example}"
        ));
    }
    Ok(())
}

/// Validates `[autoscaling]` together with the requirements it simulates.
pub fn validate(a: &AutoscalingConfig, r: &Requirements) -> std::result::Result<(), Issue> {
    if let Some(m) = r.ramp_minutes
        && m > MAX_MINUTES
    {
        return Err(Issue {
            section: "requirements",
            key: "ramp_minutes",
            message: format!("= {m} must be at most {MAX_MINUTES} (a day)"),
        });
    }
    let p = a.provisioning_minutes;
    if !(p.is_finite() && p > 0.0 && p <= 120.0) {
        return Err(issue(
            "provisioning_minutes",
            format!(
                "= {p} must be above 0 and at most 120 (AWS's own example is about 4.3 to 8.75 minutes)"
            ),
        ));
    }
    for (key, v) in [
        ("scale_out_datapoints", a.scale_out_datapoints),
        ("scale_in_datapoints", a.scale_in_datapoints),
    ] {
        if !(1..=60).contains(&v) {
            return Err(issue(key, format!("= {v} must be between 1 and 60")));
        }
    }
    let t = a.scale_in_threshold_percent;
    if !(t.is_finite() && t > 0.0 && t <= 100.0) {
        return Err(issue(
            "scale_in_threshold_percent",
            format!("= {t} must be above 0 and at most 100"),
        ));
    }
    for (key, v) in [
        ("scale_out_cooldown_s", a.scale_out_cooldown_s),
        ("scale_in_cooldown_s", a.scale_in_cooldown_s),
    ] {
        if v > 86_400 {
            return Err(issue(key, format!("= {v} must be at most 86400 (a day)")));
        }
    }
    let react = p + f64::from(a.scale_out_datapoints);
    if let Some(h) = a.hold_minutes
        && !(h.is_finite() && h >= react && h <= MAX_MINUTES)
    {
        return Err(issue(
            "hold_minutes",
            format!(
                "= {h} must be at least provisioning_minutes + scale_out_datapoints = {react} (so the fleet can react to the peak) and at most {MAX_MINUTES}"
            ),
        ));
    }
    if a.max_instances == Some(0) {
        return Err(issue("max_instances", "must be at least 1".into()));
    }
    if let Some(n) = &a.endpoint_name
        && !is_sagemaker_name(n)
    {
        return Err(issue(
            "endpoint_name",
            format!(
                "= {n:?} is not a SageMaker endpoint name (letters, digits and hyphens, at most 63)"
            ),
        ));
    }
    if let Some(v) = &a.variant
        && !is_sagemaker_name(v)
    {
        return Err(issue(
            "variant",
            format!("= {v:?} is not a variant name (letters, digits and hyphens, at most 63)"),
        ));
    }
    if let Some(v) = &a.inference_component
        && !is_sagemaker_name(v)
    {
        return Err(issue(
            "inference_component",
            format!(
                "= {v:?} is not an inference component name (letters, digits and hyphens, at most 63)"
            ),
        ));
    }
    if let Some(s) = &a.schedule {
        check_cron(s).map_err(|m| issue("schedule", m))?;
    }
    if let Some(s) = &a.schedule_end {
        if a.schedule.is_none() {
            return Err(issue(
                "schedule_end",
                "needs schedule too (the cron expression that raises the minimum)".into(),
            ));
        }
        check_cron(s).map_err(|m| issue("schedule_end", m))?;
    }
    if let Some(z) = &a.timezone
        && (z.trim().is_empty() || z.contains(char::is_whitespace) || z.len() > 64)
    {
        return Err(issue(
            "timezone",
            format!("= {z:?} is not a time zone name; write for example \"Europe/Paris\""),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_expressions_need_six_fields_inside_cron() {
        assert!(check_cron("cron(0 7 ? * MON-FRI *)").is_ok());
        assert!(check_cron("cron(30 6 * * ? *)").is_ok());
        assert!(check_cron("0 7 * * *").unwrap_err().contains("not a cron"));
        assert!(
            check_cron("cron(0 7 * * *)")
                .unwrap_err()
                .contains("5 fields")
        );
        assert!(check_cron("cron(0 7 ? * MON-FRI *); rm").is_err());
        assert!(
            check_cron("cron(0 7 ? * MON;FRI *)")
                .unwrap_err()
                .contains("characters")
        );
    }

    #[test]
    fn sagemaker_names_are_letters_digits_and_inner_hyphens() {
        assert!(is_sagemaker_name("my-endpoint-1"));
        assert!(is_sagemaker_name("AllTraffic"));
        assert!(!is_sagemaker_name("-x"));
        assert!(!is_sagemaker_name("a_b"));
        assert!(!is_sagemaker_name(""));
        assert!(!is_sagemaker_name(&"a".repeat(64)));
    }
}
