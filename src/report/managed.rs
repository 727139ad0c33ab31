//! The `managed` block of a report.json: the deployment a managed campaign measured and, for
//! the chosen type, the endurance check. Owned here because it is part of the report's schema;
//! `run::managed` fills it in.

use serde::{Deserialize, Serialize};

use crate::measure::stats::StepResult;

/// The `managed` block of a type's report.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedInfo {
    pub campaign_id: String,
    pub model_name: String,
    /// The endpoint measured; its endpoint configuration has the same name.
    pub endpoint_name: String,
    pub variant_name: String,
    pub instance_type: String,
    pub instance_count: u32,
    /// From CreateEndpoint to InService, seconds.
    pub in_service_s: f64,
    /// The endurance check, on the type the comparison chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endurance: Option<Endurance>,
}

/// The endurance check: the chosen type at its recommended max_instances, at peak_tps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endurance {
    pub instance_type: String,
    /// Instances serving during the check (the recommendation's max_instances).
    pub instances: u32,
    pub offered_rps: f64,
    pub minutes: f64,
    /// The step met the requirements for the whole check.
    pub pass: bool,
    pub reasons: Vec<String>,
    /// The measured step; absent when the check was interrupted (a cut step is discarded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepResult>,
}
