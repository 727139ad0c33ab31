//! `[payload]`: which request bodies are sent (files with weights, JSON lines, or one body).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::issue::{Issue, bad};

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

fn default_seed() -> u64 {
    1
}
fn default_one() -> u32 {
    1
}

impl PayloadConfig {
    /// Makes the payload paths relative to the campaign file's folder.
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        if let Some(files) = &mut self.files {
            for f in files {
                f.path = base.join(&f.path);
            }
        }
        if let Some(j) = &mut self.jsonl {
            *j = base.join(&*j);
        }
    }
}

/// Checks `[payload]`: exactly one source, and files with positive weights.
pub fn validate(p: &PayloadConfig) -> Result<(), Issue> {
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
    Ok(())
}
