//! A step over several load generators acting as one: the coordinator's side.
//!
//! For each step the campaign loop asks a [`Backend`] to run every shard (`rightsize shard`)
//! from one common start instant, merges their histograms and counters exactly
//! (`measure::wire`), and judges the merged step with the same verdict as a one-machine step. A
//! run in which a shard started late, failed, or was itself generator-limited is invalid: it
//! is run again, and a second invalid run stops the campaign. Backends: `local` (child
//! processes) and `kubernetes` (one Indexed Job per step).

pub mod backend;
pub mod coordinator;
pub mod kubernetes;
pub mod local;
pub mod manifest;
pub mod shard;

use std::path::PathBuf;

pub use backend::{Backend, BoxFuture, ShardRun, StepOrder};
pub use coordinator::{Coordinator, MAX_INVALID_RUNS, MAX_START_LATE_MS, StepRun, read_results};

use crate::config::Campaign;
use crate::config::DistributedConfig;
use crate::error::Result;

/// The backend a campaign or the command line names.
pub fn backend_for(
    c: &Campaign,
    d: &DistributedConfig,
    campaign_file: &std::path::Path,
    program: PathBuf,
) -> Result<Box<dyn Backend>> {
    Ok(match d.backend {
        crate::config::BackendKind::Local => Box::new(local::Local {
            program,
            campaign_file: campaign_file.to_path_buf(),
        }),
        crate::config::BackendKind::Kubernetes => {
            Box::new(kubernetes::Kubernetes::new(c, d, campaign_file)?)
        }
    })
}
