//! The campaign file: its types, defaults and validation.
//!
//! A campaign is read once, checked completely, and then treated as plain data by the rest of
//! the pipeline. Every problem is reported as [`Error::Input`] naming the file, the key (with its
//! line when it can be found) and what is expected, so a typo never falls back to a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A whole sizing campaign, as written in `campaign.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Prefix of the report folder.
    pub name: String,
    pub target: TargetConfig,
    pub payload: PayloadConfig,
    pub requirements: Requirements,
    #[serde(default)]
    pub load: LoadConfig,
    #[serde(default)]
    pub recommend: RecommendConfig,
    /// How auto-scaling is simulated and which policy files are written.
    #[serde(default)]
    pub autoscaling: crate::autoscale::AutoscalingConfig,
    /// Managed campaign: deploy the model on each instance type, measure, tear down, compare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<crate::managed::config::DeployConfig>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Http,
    Sagemaker,
}

/// What to send requests to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub kind: TargetKind,
    /// http only: the full URL requests are POSTed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// http only: extra request headers. Their values never appear in a report.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// sagemaker only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<String>,
    /// sagemaker only; default from the AWS config chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// sagemaker only: overrides the runtime endpoint URL (like AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_container_hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_component: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_attributes: Option<String>,
    #[serde(default = "default_json")]
    pub content_type: String,
    #[serde(default = "default_json")]
    pub accept: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// A label for reports, comparison and cost.
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    /// Instances serving the endpoint during the test; MAX_RPS is divided by it.
    #[serde(default = "default_one")]
    pub instance_count: u32,
}

/// Request bodies: exactly one of `files`, `jsonl` or `body`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PayloadConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<PayloadFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonl: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Seed of the deterministic payload rotation.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PayloadFile {
    pub path: PathBuf,
    #[serde(default = "default_one")]
    pub weight: u32,
}

/// What a step must meet to pass, and the production traffic to size for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// p99 of response time (from the intended send time, queueing included), milliseconds.
    pub p99_ms: f64,
    pub max_error_percent: f64,
    /// Traffic the endpoint must serve in production, requests per second.
    pub peak_tps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp_minutes: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tps: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SearchKind {
    Adaptive,
    Walk,
}

/// How load is applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    #[serde(default = "default_search")]
    pub search: SearchKind,
    #[serde(default = "default_start_rps")]
    pub start_rps: f64,
    /// Hard cap: never offered above this.
    #[serde(default = "default_max_rps")]
    pub max_rps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walk: Option<Vec<f64>>,
    /// Measured length of a step, after the warm-up.
    #[serde(default = "default_step_seconds")]
    pub step_seconds: f64,
    /// Discarded at the start of each step.
    #[serde(default = "default_warmup_seconds")]
    pub warmup_seconds: f64,
    /// Adaptive search stops when best pass and first failure are this close.
    #[serde(default = "default_resolution_percent")]
    pub resolution_percent: f64,
    /// Adaptive search multiplies the rate by this while steps pass.
    #[serde(default = "default_growth_factor")]
    pub growth_factor: f64,
    /// Requests in flight at most.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: u32,
    /// A step stops at once, failed, when more than this percent of its requests fail...
    #[serde(default = "default_abort_error_percent")]
    pub abort_error_percent: f64,
    /// ...over this many seconds (100 percent disables the abort).
    #[serde(default = "default_abort_after_seconds")]
    pub abort_after_seconds: f64,
    /// Safety cap: the campaign (one `rightsize run`) stops before a step would end past this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_minutes: Option<f64>,
    /// Safety cap: the campaign stops before a step could take the requests sent (warm-up
    /// included, resumed steps included) past this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecommendConfig {
    #[serde(default = "default_safety_factor")]
    pub safety_factor: f64,
}

fn default_json() -> String {
    "application/json".into()
}
fn default_timeout_ms() -> u64 {
    60_000
}
fn default_instance_type() -> String {
    "unspecified".into()
}
fn default_one() -> u32 {
    1
}
fn default_seed() -> u64 {
    1
}
fn default_search() -> SearchKind {
    SearchKind::Adaptive
}
fn default_start_rps() -> f64 {
    1.0
}
fn default_max_rps() -> f64 {
    5000.0
}
fn default_step_seconds() -> f64 {
    60.0
}
fn default_warmup_seconds() -> f64 {
    10.0
}
fn default_resolution_percent() -> f64 {
    2.0
}
fn default_growth_factor() -> f64 {
    2.0
}
fn default_max_concurrency() -> u32 {
    1024
}
fn default_abort_error_percent() -> f64 {
    50.0
}
fn default_abort_after_seconds() -> f64 {
    10.0
}
fn default_safety_factor() -> f64 {
    0.5
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            search: default_search(),
            start_rps: default_start_rps(),
            max_rps: default_max_rps(),
            walk: None,
            step_seconds: default_step_seconds(),
            warmup_seconds: default_warmup_seconds(),
            resolution_percent: default_resolution_percent(),
            growth_factor: default_growth_factor(),
            max_concurrency: default_max_concurrency(),
            abort_error_percent: default_abort_error_percent(),
            abort_after_seconds: default_abort_after_seconds(),
            max_duration_minutes: None,
            max_requests: None,
        }
    }
}

impl Default for RecommendConfig {
    fn default() -> Self {
        RecommendConfig {
            safety_factor: default_safety_factor(),
        }
    }
}

impl Campaign {
    /// Reads, parses and validates a campaign file; relative paths become relative to its folder.
    pub fn load(path: &Path) -> Result<Campaign> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::input(format!(
                "{}: cannot read the campaign file: {e}",
                path.display()
            ))
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Campaign::parse(&text, path, base)
    }

    /// Parses and validates campaign text. `file` names the source in messages; relative payload
    /// paths are resolved against `base`.
    pub fn parse(text: &str, file: &Path, base: &Path) -> Result<Campaign> {
        let mut campaign: Campaign = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| format!(" line {}", line_at(text, s.start)))
                .unwrap_or_default();
            Error::input(format!(
                "{}{line}: {}",
                file.display(),
                e.message().trim_end()
            ))
        })?;
        campaign.resolve_paths(base);
        campaign
            .validate()
            .map_err(|issue| issue.into_error(file, text))?;
        if campaign.deploy.is_some() {
            crate::managed::config::check_target_keys(text)
                .map_err(|issue| issue.into_error(file, text))?;
        }
        Ok(campaign)
    }

    fn resolve_paths(&mut self, base: &Path) {
        if let Some(files) = &mut self.payload.files {
            for f in files {
                f.path = base.join(&f.path);
            }
        }
        if let Some(j) = &mut self.payload.jsonl {
            *j = base.join(&*j);
        }
    }

    /// Checks every value against its allowed range and the keys against each other.
    pub fn validate(&self) -> std::result::Result<(), Issue> {
        let bad = |section: &'static str, key: &'static str, msg: String| Issue {
            section,
            key,
            message: msg,
        };
        if self.name.trim().is_empty() {
            return Err(bad("", "name", "must not be empty".into()));
        }
        let t = &self.target;
        if let Some(d) = &self.deploy {
            // Checked first: with [deploy], the endpoint name is generated, not required.
            crate::managed::config::validate(d, t)?;
        }
        match t.kind {
            TargetKind::Http => {
                let Some(url) = &t.url else {
                    return Err(bad(
                        "target",
                        "url",
                        "is required when kind = \"http\" (for example url = \"http://127.0.0.1:8080/invocations\")".into(),
                    ));
                };
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(bad(
                        "target",
                        "url",
                        format!("= {url:?} must start with http:// or https://"),
                    ));
                }
                if url.parse::<hyper::Uri>().is_err() {
                    return Err(bad(
                        "target",
                        "url",
                        format!("= {url:?} is not a valid URL"),
                    ));
                }
                for (key, set) in [
                    ("endpoint_name", t.endpoint_name.is_some()),
                    ("region", t.region.is_some()),
                    ("endpoint_url", t.endpoint_url.is_some()),
                    ("variant", t.variant.is_some()),
                    ("target_model", t.target_model.is_some()),
                    (
                        "target_container_hostname",
                        t.target_container_hostname.is_some(),
                    ),
                    ("inference_component", t.inference_component.is_some()),
                    ("inference_id", t.inference_id.is_some()),
                    ("custom_attributes", t.custom_attributes.is_some()),
                ] {
                    if set {
                        return Err(bad(
                            "target",
                            key,
                            "applies only to kind = \"sagemaker\"; remove it or change kind".into(),
                        ));
                    }
                }
                for (name, value) in &t.headers {
                    if name.parse::<hyper::header::HeaderName>().is_err() {
                        return Err(bad(
                            "target",
                            "headers",
                            format!("has an invalid header name {name:?}"),
                        ));
                    }
                    if value.parse::<hyper::header::HeaderValue>().is_err() {
                        return Err(bad(
                            "target",
                            "headers",
                            format!("has an invalid value for header {name:?}"),
                        ));
                    }
                }
            }
            TargetKind::Sagemaker => {
                match &t.endpoint_name {
                    None if self.deploy.is_some() => {}
                    None => {
                        return Err(bad(
                            "target",
                            "endpoint_name",
                            "is required when kind = \"sagemaker\"".into(),
                        ));
                    }
                    Some(n) if n.trim().is_empty() => {
                        return Err(bad("target", "endpoint_name", "must not be empty".into()));
                    }
                    Some(n) if !is_endpoint_name(n) => {
                        return Err(bad(
                            "target",
                            "endpoint_name",
                            format!(
                                "= {n:?} is not a SageMaker endpoint name (1 to 63 letters, digits and hyphens, starting and ending with a letter or digit)"
                            ),
                        ));
                    }
                    Some(_) => {}
                }
                if t.url.is_some() {
                    return Err(bad(
                        "target",
                        "url",
                        "applies only to kind = \"http\"; to point the SDK at another server use endpoint_url".into(),
                    ));
                }
                if !t.headers.is_empty() {
                    return Err(bad(
                        "target",
                        "headers",
                        "applies only to kind = \"http\"; use custom_attributes for SageMaker"
                            .into(),
                    ));
                }
                if let Some(u) = &t.endpoint_url
                    && !(u.starts_with("http://") || u.starts_with("https://"))
                {
                    return Err(bad(
                        "target",
                        "endpoint_url",
                        format!("= {u:?} must start with http:// or https://"),
                    ));
                }
            }
        }
        if t.timeout_ms == 0 || t.timeout_ms > 3_600_000 {
            return Err(bad(
                "target",
                "timeout_ms",
                format!("= {} must be between 1 and 3600000", t.timeout_ms),
            ));
        }
        if t.instance_count == 0 {
            return Err(bad("target", "instance_count", "must be at least 1".into()));
        }
        if t.instance_type.trim().is_empty() {
            return Err(bad("target", "instance_type", "must not be empty".into()));
        }

        let p = &self.payload;
        let given = [p.files.is_some(), p.jsonl.is_some(), p.body.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if given != 1 {
            return Err(bad(
                "payload",
                "files",
                format!("exactly one of files, jsonl or body must be given (found {given})"),
            ));
        }
        if let Some(files) = &p.files {
            if files.is_empty() {
                return Err(bad(
                    "payload",
                    "files",
                    "must list at least one file".into(),
                ));
            }
            if files.iter().any(|f| f.weight == 0) {
                return Err(bad(
                    "payload",
                    "files",
                    "every weight must be at least 1".into(),
                ));
            }
        }

        let r = &self.requirements;
        positive("requirements", "p99_ms", r.p99_ms)?;
        if !(0.0..=100.0).contains(&r.max_error_percent) {
            return Err(bad(
                "requirements",
                "max_error_percent",
                format!("= {} must be between 0 and 100", r.max_error_percent),
            ));
        }
        positive("requirements", "peak_tps", r.peak_tps)?;
        if let Some(m) = r.ramp_minutes {
            positive("requirements", "ramp_minutes", m)?;
        }
        if let Some(m) = r.min_tps {
            if !m.is_finite() || m < 0.0 {
                return Err(bad(
                    "requirements",
                    "min_tps",
                    format!("= {m} must be 0 or more"),
                ));
            }
            if m > r.peak_tps {
                return Err(bad(
                    "requirements",
                    "min_tps",
                    format!("= {m} must not exceed peak_tps = {}", r.peak_tps),
                ));
            }
        }

        let l = &self.load;
        positive("load", "start_rps", l.start_rps)?;
        positive("load", "max_rps", l.max_rps)?;
        if l.start_rps > l.max_rps {
            return Err(bad(
                "load",
                "start_rps",
                format!("= {} must not exceed max_rps = {}", l.start_rps, l.max_rps),
            ));
        }
        positive("load", "step_seconds", l.step_seconds)?;
        if !l.warmup_seconds.is_finite() || l.warmup_seconds < 0.0 {
            return Err(bad(
                "load",
                "warmup_seconds",
                format!("= {} must be 0 or more", l.warmup_seconds),
            ));
        }
        if !(l.resolution_percent > 0.0 && l.resolution_percent < 100.0) {
            return Err(bad(
                "load",
                "resolution_percent",
                format!("= {} must be above 0 and below 100", l.resolution_percent),
            ));
        }
        if !(l.growth_factor > 1.0 && l.growth_factor <= 100.0) {
            return Err(bad(
                "load",
                "growth_factor",
                format!("= {} must be above 1 and at most 100", l.growth_factor),
            ));
        }
        if l.max_concurrency == 0 || l.max_concurrency > 100_000 {
            return Err(bad(
                "load",
                "max_concurrency",
                format!("= {} must be between 1 and 100000", l.max_concurrency),
            ));
        }
        if !(0.0..=100.0).contains(&l.abort_error_percent) {
            return Err(bad(
                "load",
                "abort_error_percent",
                format!(
                    "= {} must be between 0 and 100 (100 never aborts)",
                    l.abort_error_percent
                ),
            ));
        }
        if !(l.abort_after_seconds.is_finite()
            && l.abort_after_seconds >= 0.25
            && l.abort_after_seconds <= 86_400.0)
        {
            return Err(bad(
                "load",
                "abort_after_seconds",
                format!("= {} must be between 0.25 and 86400", l.abort_after_seconds),
            ));
        }
        if let Some(m) = l.max_duration_minutes {
            positive("load", "max_duration_minutes", m)?;
        }
        if l.max_requests == Some(0) {
            return Err(bad(
                "load",
                "max_requests",
                "= 0 must be at least 1 (leave it out for no cap)".into(),
            ));
        }
        match (l.search, &l.walk) {
            (SearchKind::Walk, None) => {
                return Err(bad(
                    "load",
                    "walk",
                    "is required when search = \"walk\" (for example walk = [1, 2, 5, 10])".into(),
                ));
            }
            (SearchKind::Adaptive, Some(_)) => {
                return Err(bad(
                    "load",
                    "walk",
                    "applies only to search = \"walk\"; remove it or set search = \"walk\"".into(),
                ));
            }
            (SearchKind::Walk, Some(rates)) => {
                if rates.is_empty() {
                    return Err(bad("load", "walk", "must list at least one rate".into()));
                }
                for r in rates {
                    positive("load", "walk", *r)?;
                    if *r > l.max_rps {
                        return Err(bad(
                            "load",
                            "walk",
                            format!("rate {r} exceeds max_rps = {}", l.max_rps),
                        ));
                    }
                }
                if rates.windows(2).any(|w| w[1] <= w[0]) {
                    return Err(bad(
                        "load",
                        "walk",
                        "rates must be strictly increasing".into(),
                    ));
                }
            }
            (SearchKind::Adaptive, None) => {}
        }

        let sf = self.recommend.safety_factor;
        if !(sf > 0.0 && sf <= 1.0) {
            return Err(bad(
                "recommend",
                "safety_factor",
                format!("= {sf} must be above 0 and at most 1"),
            ));
        }
        crate::autoscale::config::validate(&self.autoscaling, &self.requirements)?;
        Ok(())
    }

    /// A copy that is safe to write into a report: header values are replaced.
    pub fn redacted(&self) -> Campaign {
        let mut c = self.clone();
        for v in c.target.headers.values_mut() {
            *v = "<redacted>".into();
        }
        c
    }

    /// Where requests go, for display.
    pub fn target_label(&self) -> String {
        match self.target.kind {
            TargetKind::Http => self.target.url.clone().unwrap_or_default(),
            TargetKind::Sagemaker => match (&self.target.endpoint_name, &self.deploy) {
                (None, Some(d)) => format!(
                    "model {} deployed on {}",
                    d.model_name,
                    d.instance_types.join(", ")
                ),
                (name, _) => format!("sagemaker://{}", name.clone().unwrap_or_default()),
            },
        }
    }
}

/// A validation problem before it is tied to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub section: &'static str,
    pub key: &'static str,
    pub message: String,
}

impl Issue {
    fn into_error(self, file: &Path, text: &str) -> Error {
        let line = find_key_line(text, self.section, self.key)
            .map(|l| format!(" line {l}"))
            .unwrap_or_default();
        let key = if self.section.is_empty() {
            self.key.to_string()
        } else {
            format!("[{}] {}", self.section, self.key)
        };
        Error::input(format!("{}{line}: {key} {}", file.display(), self.message))
    }
}

fn positive(section: &'static str, key: &'static str, v: f64) -> std::result::Result<(), Issue> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Issue {
            section,
            key,
            message: format!("= {v} must be a number greater than 0"),
        })
    }
}

/// Whether `n` matches SageMaker's endpoint name pattern `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`.
pub fn is_endpoint_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// 1-based line number of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The 1-based line where `key` is set inside `[section]` ("" for the top level), if any.
fn find_key_line(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix('[') {
            current = rest.trim_end_matches(']').trim().to_string();
            continue;
        }
        if current == section
            && let Some(after) = l.strip_prefix(key)
            && after.trim_start().starts_with('=')
        {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
[target]
kind = "http"
url = "http://127.0.0.1:9/invocations"
[payload]
body = '{"x": 1}'
[requirements]
p99_ms = 100
max_error_percent = 0.1
peak_tps = 50
"#;

    fn parse(text: &str) -> Result<Campaign> {
        Campaign::parse(text, Path::new("c.toml"), Path::new("/base"))
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => {
                assert_eq!(e.exit_code(), 2, "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn a_minimal_campaign_gets_the_documented_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.load, LoadConfig::default());
        assert_eq!(c.load.start_rps, 1.0);
        assert_eq!(c.load.max_rps, 5000.0);
        assert_eq!(c.load.step_seconds, 60.0);
        assert_eq!(c.load.warmup_seconds, 10.0);
        assert_eq!(c.load.max_concurrency, 1024);
        assert_eq!(c.load.abort_error_percent, 50.0);
        assert_eq!(c.load.abort_after_seconds, 10.0);
        assert_eq!(c.load.max_duration_minutes, None);
        assert_eq!(c.load.max_requests, None);
        assert_eq!(c.recommend.safety_factor, 0.5);
        assert_eq!(c.target.timeout_ms, 60_000);
        assert_eq!(c.target.instance_count, 1);
        assert_eq!(c.target.content_type, "application/json");
    }

    #[test]
    fn relative_payload_paths_resolve_from_the_campaign_folder() {
        let text = MINIMAL.replace(
            "body = '{\"x\": 1}'",
            "files = [{ path = \"p/a.json\", weight = 2 }]\njsonl_unused = 1",
        );
        // the unknown key must be refused, not ignored
        assert!(err(&text).contains("jsonl_unused"));
        let text = MINIMAL.replace(
            "body = '{\"x\": 1}'",
            "files = [{ path = \"p/a.json\", weight = 2 }]",
        );
        let c = parse(&text).unwrap();
        assert_eq!(
            c.payload.files.unwrap()[0].path,
            PathBuf::from("/base/p/a.json")
        );
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let text = MINIMAL.replace("[payload]", "stepseconds = 3\n[payload]");
        let e = err(&text);
        assert!(e.contains("c.toml line 6"), "{e}");
        assert!(e.contains("stepseconds"), "{e}");
    }

    #[test]
    fn missing_required_keys_are_named() {
        let e = err(&MINIMAL.replace("p99_ms = 100\n", ""));
        assert!(e.contains("p99_ms"), "{e}");
        let e = err(&MINIMAL.replace("url = \"http://127.0.0.1:9/invocations\"\n", ""));
        assert!(e.contains("[target] url is required"), "{e}");
    }

    #[test]
    fn wrong_types_are_refused() {
        let e = err(&MINIMAL.replace("p99_ms = 100", "p99_ms = \"fast\""));
        assert!(e.contains("line 9"), "{e}");
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn out_of_range_values_name_section_key_and_line() {
        let text = format!("{MINIMAL}[load]\nstart_rps = -1\n");
        let e = err(&text);
        assert!(e.contains("line 13"), "{e}");
        assert!(
            e.contains("[load] start_rps = -1 must be a number greater than 0"),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}[recommend]\nsafety_factor = 1.5\n"));
        assert!(e.contains("safety_factor"), "{e}");
        let e = err(&MINIMAL.replace("max_error_percent = 0.1", "max_error_percent = 101"));
        assert!(e.contains("max_error_percent"), "{e}");
        let e = err(&format!("{MINIMAL}[load]\nstart_rps = 10\nmax_rps = 5\n"));
        assert!(e.contains("must not exceed max_rps"), "{e}");
    }

    #[test]
    fn payload_options_are_exclusive() {
        let e = err(&MINIMAL.replace("[payload]", "[payload]\njsonl = \"x.jsonl\""));
        assert!(e.contains("exactly one of files, jsonl or body"), "{e}");
    }

    #[test]
    fn walk_needs_a_rising_list_within_the_cap() {
        let e = err(&format!("{MINIMAL}[load]\nsearch = \"walk\"\n"));
        assert!(e.contains("[load] walk is required"), "{e}");
        let e = err(&format!(
            "{MINIMAL}[load]\nsearch = \"walk\"\nwalk = [1, 5, 3]\n"
        ));
        assert!(e.contains("strictly increasing"), "{e}");
        let e = err(&format!(
            "{MINIMAL}[load]\nsearch = \"walk\"\nmax_rps = 10\nwalk = [1, 50]\n"
        ));
        assert!(e.contains("exceeds max_rps"), "{e}");
        let c = parse(&format!(
            "{MINIMAL}[load]\nsearch = \"walk\"\nwalk = [1, 2, 5]\n"
        ))
        .unwrap();
        assert_eq!(c.load.walk, Some(vec![1.0, 2.0, 5.0]));
    }

    #[test]
    fn sagemaker_keys_are_refused_on_http_targets() {
        let e = err(&MINIMAL.replace("[payload]", "endpoint_name = \"x\"\n[payload]"));
        assert!(
            e.contains("endpoint_name applies only to kind = \"sagemaker\""),
            "{e}"
        );
    }

    #[test]
    fn sagemaker_endpoint_names_follow_the_service_pattern() {
        for good in ["a", "my-endpoint-1", "A--b", &"x".repeat(63)] {
            assert!(is_endpoint_name(good), "{good}");
        }
        for bad in ["-a", "a-", "my_endpoint", "a/b", "", &"x".repeat(64)] {
            assert!(!is_endpoint_name(bad), "{bad}");
        }
        let text = MINIMAL.replace(
            "kind = \"http\"\nurl = \"http://127.0.0.1:9/invocations\"",
            "kind = \"sagemaker\"\nendpoint_name = \"my_endpoint\"",
        );
        let e = err(&text);
        assert!(e.contains("c.toml line 5"), "{e}");
        assert!(e.contains("is not a SageMaker endpoint name"), "{e}");
    }

    #[test]
    fn header_values_are_redacted_for_reports() {
        let text = MINIMAL.replace(
            "[payload]",
            "headers = { Authorization = \"Bearer SECRET123\" }\n[payload]",
        );
        let c = parse(&text).unwrap();
        let json = serde_json::to_string(&c.redacted()).unwrap();
        assert!(!json.contains("SECRET123"));
        assert!(json.contains("<redacted>"));
    }
}
