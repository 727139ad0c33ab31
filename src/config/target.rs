//! `[target]`: what requests are sent to, an HTTP model server or a SageMaker endpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::issue::{Issue, bad};

/// How a streamed answer is framed (`[target] stream`); absent: one response per request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StreamFormat {
    /// OpenAI-compatible Server-Sent Events (`/v1/chat/completions`, `/v1/completions`).
    Openai,
    /// Text Generation Inference's `/generate_stream` events.
    Tgi,
    /// One JSON object per line.
    Jsonl,
}

impl StreamFormat {
    pub fn name(self) -> &'static str {
        match self {
            StreamFormat::Openai => "openai",
            StreamFormat::Tgi => "tgi",
            StreamFormat::Jsonl => "jsonl",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Http,
    Sagemaker,
}

/// Which client sends SageMaker requests.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SagemakerClient {
    /// The load generator's own HTTP/1.1 client, each request signed with the SDK's SigV4
    /// signer: the cheapest path per request.
    #[default]
    Fast,
    /// The AWS SDK's `InvokeEndpoint`: the reference the fast client is tested against.
    Sdk,
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
    /// sagemaker only: `fast` (default) or `sdk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<SagemakerClient>,
    /// A PEM file of CA certificates trusted beside the platform's for TLS (private CAs,
    /// TLS-inspecting proxies). Relative to the campaign file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
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
    /// The answer streams in this format: TTFT, ITL and tokens are measured (absent: today's
    /// request/response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamFormat>,
    /// A stream with no byte for longer than this is a failed request of class
    /// `stream_broken` (default 30000 when `stream` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_idle_timeout_ms: Option<u64>,
}

impl TargetConfig {
    /// The idle limit of a stream.
    pub fn stream_idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.stream_idle_timeout_ms.unwrap_or(30_000))
    }
}

impl TargetConfig {
    /// Resolves a relative `ca_cert` against the campaign file's folder.
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(p) = &self.ca_cert
            && p.is_relative()
        {
            self.ca_cert = Some(base.join(p));
        }
    }

    /// The SageMaker client this target uses.
    pub fn sagemaker_client(&self) -> SagemakerClient {
        self.client.unwrap_or_default()
    }
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

/// Checks `[target]`. With a `[deploy]` section (`deployed`), the endpoint name is generated.
pub fn validate(t: &TargetConfig, deployed: bool) -> Result<(), Issue> {
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
                ("client", t.client.is_some()),
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
                None if deployed => {}
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
                    "applies only to kind = \"http\"; use custom_attributes for SageMaker".into(),
                ));
            }
            if t.ca_cert.is_some() && t.client == Some(SagemakerClient::Sdk) {
                return Err(bad(
                    "target",
                    "ca_cert",
                    "is used only by the fast client; remove client = \"sdk\" or ca_cert".into(),
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
    if let Some(ms) = t.stream_idle_timeout_ms {
        if t.stream.is_none() {
            return Err(bad(
                "target",
                "stream_idle_timeout_ms",
                "applies only to a streamed answer; set stream = \"openai\", \"tgi\" or \"jsonl\", or remove it".into(),
            ));
        }
        if ms == 0 || ms > 3_600_000 {
            return Err(bad(
                "target",
                "stream_idle_timeout_ms",
                format!("= {ms} must be between 1 and 3600000"),
            ));
        }
    }
    if t.instance_count == 0 {
        return Err(bad("target", "instance_count", "must be at least 1".into()));
    }
    if t.instance_type.trim().is_empty() {
        return Err(bad("target", "instance_type", "must not be empty".into()));
    }
    Ok(())
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
