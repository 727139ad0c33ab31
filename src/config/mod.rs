//! The campaign file: its types, defaults and validation, one file per section.
//!
//! A campaign is read once, checked completely, and then treated as plain data by the rest of
//! the pipeline. Every problem is reported as [`Error::Input`] naming the file, the key (with its
//! line when it can be found) and what is expected, so a typo never falls back to a default.
//! Each section (`target`, `payload`, `requirements`, `load`, `recommend`, `autoscaling`,
//! `deploy`) owns its types, defaults and checks; `issue` (the shared problem type) is at the
//! bottom, and nothing in a section imports this file back.

pub mod autoscaling;
pub mod deploy;
pub mod distributed;
mod issue;
pub mod load;
pub mod payload;
pub mod recommend;
pub mod requirements;
pub mod target;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use autoscaling::{AutoscalingConfig, CooldownFrom};
pub use deploy::DeployConfig;
pub use distributed::{BackendKind, DistributedConfig};
pub use issue::Issue;
use issue::{bad, line_at};
pub use load::{Arrivals, LoadConfig, LoadMode, SearchKind};
pub use payload::{PayloadConfig, PayloadFile};
pub use recommend::RecommendConfig;
pub use requirements::Requirements;
pub use target::{SagemakerClient, StreamFormat, TargetConfig, TargetKind, is_endpoint_name};

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
    pub autoscaling: AutoscalingConfig,
    /// Managed campaign: deploy the model on each instance type, measure, tear down, compare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployConfig>,
    /// Each step over several load generators acting as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed: Option<DistributedConfig>,
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
        campaign.payload.resolve_paths(base);
        campaign.target.resolve_paths(base);
        campaign
            .validate()
            .map_err(|issue| issue.into_error(file, text))?;
        if campaign.deploy.is_some() {
            crate::config::deploy::check_target_keys(text)
                .map_err(|issue| issue.into_error(file, text))?;
        }
        Ok(campaign)
    }

    /// Checks every value against its allowed range and the keys against each other.
    pub fn validate(&self) -> std::result::Result<(), Issue> {
        if self.name.trim().is_empty() {
            return Err(bad("", "name", "must not be empty".into()));
        }
        if let Some(d) = &self.deploy {
            // Checked first: with [deploy], the endpoint name is generated, not required.
            deploy::validate(d, &self.target)?;
        }
        target::validate(&self.target, self.deploy.is_some())?;
        payload::validate(&self.payload)?;
        requirements::validate(&self.requirements, self.target.stream.is_some())?;
        load::validate(&self.load)?;
        recommend::validate(&self.recommend)?;
        autoscaling::validate(&self.autoscaling, &self.requirements)?;
        self.validate_stream()?;
        if let Some(d) = &self.distributed {
            distributed::validate(d)?;
            if self.deploy.is_some() {
                return Err(bad(
                    "distributed",
                    "shards",
                    "cannot be combined with [deploy] yet: size each instance type with a managed campaign on one machine, or drop [deploy] and name the endpoint".into(),
                ));
            }
        }
        Ok(())
    }

    /// Stream keys belong together: a stream needs a TTFT, ITL or end-to-end limit, and those
    /// limits need a stream to measure.
    fn validate_stream(&self) -> std::result::Result<(), Issue> {
        let r = &self.requirements;
        match self.target.stream {
            Some(_) => {
                if r.ttft_p99_ms.is_none() && r.itl_p99_ms.is_none() && r.e2e_p99_ms.is_none() {
                    return Err(bad(
                        "requirements",
                        "ttft_p99_ms",
                        "is missing: a streamed target needs at least one of ttft_p99_ms, itl_p99_ms or e2e_p99_ms (for example ttft_p99_ms = 500 and itl_p99_ms = 50)".into(),
                    ));
                }
            }
            None => {
                for (key, set) in [
                    ("ttft_p99_ms", r.ttft_p99_ms.is_some()),
                    ("itl_p99_ms", r.itl_p99_ms.is_some()),
                    ("e2e_p99_ms", r.e2e_p99_ms.is_some()),
                    (
                        "min_output_tokens_per_s",
                        r.min_output_tokens_per_s.is_some(),
                    ),
                ] {
                    if set {
                        return Err(bad(
                            "requirements",
                            key,
                            "needs a streamed answer to measure; set [target] stream = \"openai\", \"tgi\" or \"jsonl\", or remove it".into(),
                        ));
                    }
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

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
    fn the_sagemaker_client_and_ca_cert_are_checked_and_ca_cert_resolves_from_the_campaign_folder()
    {
        let e = err(&MINIMAL.replace("[payload]", "client = \"sdk\"\n[payload]"));
        assert!(
            e.contains("client applies only to kind = \"sagemaker\""),
            "{e}"
        );
        let sm = MINIMAL.replace(
            "kind = \"http\"\nurl = \"http://127.0.0.1:9/invocations\"",
            "kind = \"sagemaker\"\nendpoint_name = \"ep\"",
        );
        let c = parse(&sm).unwrap();
        assert_eq!(c.target.sagemaker_client(), SagemakerClient::Fast);
        let e = err(&sm.replace("[payload]", "client = \"turbo\"\n[payload]"));
        assert!(e.contains("fast") && e.contains("sdk"), "{e}");
        let e = err(&sm.replace(
            "[payload]",
            "client = \"sdk\"\nca_cert = \"ca.pem\"\n[payload]",
        ));
        assert!(e.contains("ca_cert is used only by the fast client"), "{e}");
        let c = parse(&sm.replace("[payload]", "ca_cert = \"certs/ca.pem\"\n[payload]")).unwrap();
        assert_eq!(c.target.ca_cert, Some(PathBuf::from("/base/certs/ca.pem")));
        // Left out of the report's campaign when not set.
        let json = serde_json::to_value(parse(&sm).unwrap().target).unwrap();
        assert!(
            json.get("client").is_none() && json.get("ca_cert").is_none(),
            "{json}"
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

    #[test]
    fn a_stream_needs_a_peak_rate_or_concurrency_but_no_p99() {
        let stream = |req: &str| {
            format!(
                "name = \"t\"\n[target]\nkind = \"http\"\nurl = \"http://127.0.0.1:9/v1/completions\"\nstream = \"openai\"\n[payload]\nbody = '{{}}'\n[requirements]\nmax_error_percent = 1\nttft_p99_ms = 500\n{req}\n[load]\nmode = \"concurrency\"\n"
            )
        };
        let c = parse(&stream("peak_concurrency = 12")).unwrap();
        assert_eq!(c.requirements.p99_limit_ms(), None);
        assert_eq!(c.requirements.peak_concurrency, Some(12.0));
        assert!(parse(&stream("peak_tps = 5")).is_ok());
        let e = parse(&stream("")).unwrap_err().to_string();
        assert!(
            e.contains("peak_tps") && e.contains("peak_concurrency") && e.contains("c.toml"),
            "{e}"
        );
        let e = parse(&stream("peak_concurrency = 0"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("peak_concurrency"), "{e}");
        // Without a stream both stay required, each named with an example.
        let e = parse(&MINIMAL.replace("p99_ms = 100\n", ""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p99_ms is missing") && e.contains("p99_ms = 400"),
            "{e}"
        );
        let e = parse(&MINIMAL.replace("peak_tps = 50\n", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("peak_tps is missing"), "{e}");
    }
}
