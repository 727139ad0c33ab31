//! `[distributed]`: run each step over several load generators (shards) acting as one, through
//! a backend (local child processes or a Kubernetes Indexed Job).

use serde::{Deserialize, Serialize};

use super::issue::{Issue, bad};

/// Where the shards run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// Child processes on this machine.
    #[default]
    Local,
    /// One Kubernetes Indexed Job per step.
    Kubernetes,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Kubernetes => "kubernetes",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DistributedConfig {
    /// Load generators per step.
    #[serde(default = "default_shards")]
    pub shards: u32,
    #[serde(default)]
    pub backend: BackendKind,
    /// Kubernetes: the namespace the Jobs are created in.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Kubernetes: the container image holding `rightsize` (see the Dockerfile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Kubernetes: the pods' service account (on EKS, the IRSA role that may invoke the
    /// endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Kubernetes: a Secret whose keys become the pods' environment (for example
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) when IRSA is not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
    /// Kubernetes: CPU requested and limited per shard, e.g. "2".
    #[serde(default = "default_cpu")]
    pub cpu: String,
    /// Kubernetes: memory requested and limited per shard, e.g. "1Gi".
    #[serde(default = "default_memory")]
    pub memory: String,
    /// Kubernetes: spread the shards over nodes (pod anti-affinity on the hostname).
    #[serde(default = "default_true")]
    pub spread: bool,
    /// How far ahead of now each step's common start instant is set, so that every shard is
    /// ready by then; default 2 s locally, 60 s on Kubernetes (pods must be scheduled and
    /// pull the image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_delay_seconds: Option<f64>,
}

fn default_shards() -> u32 {
    2
}
fn default_namespace() -> String {
    "default".into()
}
fn default_cpu() -> String {
    "2".into()
}
fn default_memory() -> String {
    "1Gi".into()
}
fn default_true() -> bool {
    true
}

impl Default for DistributedConfig {
    fn default() -> Self {
        DistributedConfig {
            shards: default_shards(),
            backend: BackendKind::Local,
            namespace: default_namespace(),
            image: None,
            service_account: None,
            credentials_secret: None,
            cpu: default_cpu(),
            memory: default_memory(),
            spread: true,
            start_delay_seconds: None,
        }
    }
}

impl DistributedConfig {
    /// The start delay in seconds, with the backend's default.
    pub fn start_delay_s(&self) -> f64 {
        self.start_delay_seconds.unwrap_or(match self.backend {
            BackendKind::Local => 2.0,
            BackendKind::Kubernetes => 60.0,
        })
    }
}

/// The most shards a step may be split over.
pub const MAX_SHARDS: u32 = 1000;

/// Checks `[distributed]`.
pub fn validate(d: &DistributedConfig) -> Result<(), Issue> {
    if d.shards == 0 || d.shards > MAX_SHARDS {
        return Err(bad(
            "distributed",
            "shards",
            format!("= {} must be between 1 and {MAX_SHARDS}", d.shards),
        ));
    }
    if let Some(s) = d.start_delay_seconds
        && !(s.is_finite() && (0.0..=3600.0).contains(&s))
    {
        return Err(bad(
            "distributed",
            "start_delay_seconds",
            format!("= {s} must be between 0 and 3600 seconds"),
        ));
    }
    if d.backend == BackendKind::Kubernetes {
        if d.image.as_deref().is_none_or(|i| i.trim().is_empty()) {
            return Err(bad(
                "distributed",
                "image",
                "is missing: the kubernetes backend needs the container image holding rightsize (build it from the Dockerfile), e.g. image = \"registry.example.com/rightsize:0.1.0\"".into(),
            ));
        }
        if !is_dns_label(&d.namespace) {
            return Err(bad(
                "distributed",
                "namespace",
                format!(
                    "= {:?} is not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)",
                    d.namespace
                ),
            ));
        }
        for (key, v) in [("cpu", &d.cpu), ("memory", &d.memory)] {
            if !is_quantity(v) {
                return Err(bad(
                    "distributed",
                    key,
                    format!(
                        "= {v:?} is not a Kubernetes quantity; write for example cpu = \"2\" or \"500m\", memory = \"1Gi\""
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Kubernetes resource quantity: a decimal number with an optional suffix.
fn is_quantity(s: &str) -> bool {
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(num_end);
    !num.is_empty()
        && num.parse::<f64>().is_ok_and(|n| n > 0.0)
        && ["", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"].contains(&suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_needs_an_image_and_valid_quantities() {
        let mut d = DistributedConfig {
            backend: BackendKind::Kubernetes,
            ..Default::default()
        };
        assert_eq!(validate(&d).unwrap_err().key, "image");
        d.image = Some("rightsize:1".into());
        assert!(validate(&d).is_ok());
        d.cpu = "two".into();
        assert_eq!(validate(&d).unwrap_err().key, "cpu");
        d.cpu = "500m".into();
        d.memory = "1Gi".into();
        assert!(validate(&d).is_ok());
        d.shards = 0;
        assert_eq!(validate(&d).unwrap_err().key, "shards");
    }
}
