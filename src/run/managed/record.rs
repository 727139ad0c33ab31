//! What a managed campaign writes down: `managed.json` in the campaign folder (the campaign id,
//! every endpoint it creates and what became of it — written before anything is created, so a
//! killed run still says what to clean up), and the `managed` block of each type's report.json
//! (the deployment measured and, for the chosen type, the endurance check).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::report;
pub use crate::report::managed::{Endurance, ManagedInfo};

pub const MANIFEST_FILE: &str = "managed.json";
const MANIFEST_FORMAT: u32 = 1;

/// What happened to one instance type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeStatus {
    /// Not reached yet (or never: the campaign stopped before it).
    Pending,
    Deploying,
    Measuring,
    /// The search ran to its end (a report was written).
    Measured,
    /// The endpoint never became InService; the campaign went on with the next type.
    DeployFailed,
    /// Ctrl-C during this type; its report (if any) is partial.
    Interrupted,
    /// An error stopped the campaign during this type.
    Error,
}

/// One instance type's line in `managed.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeRecord {
    pub instance_type: String,
    /// The endpoint and endpoint configuration name.
    pub endpoint_name: String,
    pub status: TypeStatus,
    /// Why a deploy failed or what stopped the campaign; empty otherwise.
    pub detail: String,
    pub in_service_s: Option<f64>,
    /// The report, relative to the campaign folder.
    pub report: Option<String>,
    /// `not created`, `pending`, `deleted`, `kept`, or `failed: <why>`.
    pub teardown: String,
}

/// `managed.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub campaign_id: String,
    pub name: String,
    pub model_name: String,
    pub region: String,
    /// The tag on every endpoint and endpoint configuration: `rightsize:campaign=<id>`.
    pub tag: String,
    /// The command that deletes whatever this campaign left.
    pub cleanup: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub stop_reason: String,
    pub types: Vec<TypeRecord>,
}

impl Manifest {
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into());
        report::write_atomic(&dir.join(MANIFEST_FILE), json.as_bytes())
    }

    pub fn new(
        campaign_id: &str,
        name: &str,
        model_name: &str,
        region: &str,
        endpoint_url: Option<&str>,
        types: Vec<TypeRecord>,
    ) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            campaign_id: campaign_id.to_string(),
            name: name.to_string(),
            model_name: model_name.to_string(),
            region: region.to_string(),
            tag: format!("{}={campaign_id}", crate::aws::deploy::CAMPAIGN_TAG),
            cleanup: cleanup_command(campaign_id, region, endpoint_url),
            started_at: report::now_rfc3339(),
            finished_at: None,
            stop_reason: String::new(),
            types,
        }
    }
}

/// `rightsize cleanup --campaign ID --region R [--endpoint-url URL]`.
pub fn cleanup_command(campaign_id: &str, region: &str, endpoint_url: Option<&str>) -> String {
    let mut cmd = format!("rightsize cleanup --campaign {campaign_id} --region {region}");
    if let Some(u) = endpoint_url {
        cmd.push_str(&format!(" --endpoint-url {u}"));
    }
    cmd
}
