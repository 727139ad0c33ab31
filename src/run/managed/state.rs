//! The state of a managed campaign shared between its loop (a task of its own) and the code
//! that tears down and concludes after it: the manifest, rewritten on every change, and the
//! reports measured so far.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use crate::aws::deploy::ControlPlane;
use crate::config::Campaign;
use crate::config::deploy::DeployConfig;
use crate::measure::payload::Payloads;
use crate::prices::PriceTable;
use crate::report::Report;
use crate::report::compare::{self, Input};
use crate::run::campaign::RunOptions;

use super::lifecycle::{Display, Live};
use super::record::{Endurance, Manifest, TypeStatus};

/// Everything the campaign loop needs, shared with the task it runs in.
pub(super) struct Run {
    pub(super) c: Campaign,
    pub(super) d: DeployConfig,
    pub(super) id: String,
    pub(super) dir: PathBuf,
    pub(super) cp: ControlPlane,
    pub(super) live: Live,
    pub(super) payloads: Arc<Payloads>,
    pub(super) opts: RunOptions,
    pub(super) display: Display,
}

/// One measured type: its report and where it is.
#[derive(Debug, Clone)]
pub struct Measured {
    pub index: usize,
    /// `<type folder>/report.json`, relative to the campaign folder.
    pub label: String,
    pub dir: PathBuf,
    pub report: Report,
}

struct Inner {
    manifest: Manifest,
    dir: PathBuf,
    measured: Vec<Measured>,
    /// The manifest could not be written once already: warn only once.
    warned: bool,
}

#[derive(Clone)]
pub struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    pub fn new(manifest: Manifest, dir: PathBuf) -> Shared {
        Shared(Arc::new(Mutex::new(Inner {
            manifest,
            dir,
            measured: Vec::new(),
            warned: false,
        })))
    }

    /// Applies `f` and writes the manifest (a failed write warns once: the campaign goes on).
    fn update<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut g = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let r = f(&mut g);
        if let Err(e) = g.manifest.write(&g.dir)
            && !g.warned
        {
            eprintln!("warning: managed.json not updated ({e})");
            g.warned = true;
        }
        r
    }

    fn read<R>(&self, f: impl FnOnce(&Inner) -> R) -> R {
        f(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn status(&self, i: usize, status: TypeStatus, detail: &str) {
        self.update(|s| {
            if let Some(t) = s.manifest.types.get_mut(i) {
                t.status = status;
                t.detail = detail.to_string();
            }
        });
    }

    pub fn teardown_state(&self, i: usize, state: &str) {
        self.update(|s| {
            if let Some(t) = s.manifest.types.get_mut(i) {
                t.teardown = state.to_string();
            }
        });
    }

    pub fn in_service(&self, i: usize, seconds: f64) {
        self.update(|s| {
            if let Some(t) = s.manifest.types.get_mut(i) {
                t.in_service_s = Some(crate::num::round3(seconds));
            }
        });
    }

    pub fn endpoint_name(&self, i: usize) -> String {
        self.read(|s| {
            s.manifest
                .types
                .get(i)
                .map(|t| t.endpoint_name.clone())
                .unwrap_or_default()
        })
    }

    pub fn measured(
        &self,
        i: usize,
        label: String,
        dir: PathBuf,
        report: Report,
        status: TypeStatus,
    ) {
        self.update(|s| {
            if let Some(t) = s.manifest.types.get_mut(i) {
                t.status = status;
                t.report = Some(label.clone());
                if status == TypeStatus::Interrupted {
                    t.detail = "interrupted during the search; its report is partial".into();
                }
            }
            s.measured.push(Measured {
                index: i,
                label,
                dir,
                report,
            });
        });
    }

    pub fn measured_type(&self, i: usize) -> Option<Measured> {
        self.read(|s| s.measured.iter().find(|m| m.index == i).cloned())
    }

    /// Replaces a measured type's report (after the endurance check).
    pub fn replace_report(&self, i: usize, report: Report) {
        self.update(|s| {
            if let Some(m) = s.measured.iter_mut().find(|m| m.index == i) {
                m.report = report;
            }
        });
    }

    /// The comparison's inputs: every measured report, in the order of `instance_types`.
    pub fn inputs(&self) -> Vec<Input> {
        self.read(|s| {
            let mut m = s.measured.clone();
            m.sort_by_key(|m| m.index);
            m.into_iter()
                .map(|m| Input {
                    label: m.label,
                    report: m.report,
                })
                .collect()
        })
    }

    /// The index of the type ranked first among those measured so far, if any is ranked.
    pub fn leader(&self, prices: Option<&PriceTable>) -> Option<usize> {
        let inputs = self.inputs();
        let c = compare::compare(&inputs, prices, false).ok()?;
        let first = c.rows.iter().find(|r| r.rank == Some(1))?;
        self.read(|s| {
            s.measured
                .iter()
                .find(|m| m.label == first.report)
                .map(|m| m.index)
        })
    }

    /// The endurance check recorded on the chosen type's report, if one ran.
    pub fn endurance(&self) -> Option<Endurance> {
        self.read(|s| {
            s.measured
                .iter()
                .find_map(|m| m.report.managed.as_ref()?.endurance.clone())
        })
    }

    /// Lines for the comparison about types without a report.
    pub fn notes(&self) -> Vec<String> {
        self.read(|s| {
            s.manifest
                .types
                .iter()
                .filter(|t| t.report.is_none() && t.status != TypeStatus::Pending)
                .map(|t| format!("{}: not measured ({})", t.instance_type, t.detail))
                .chain(
                    s.manifest
                        .types
                        .iter()
                        .filter(|t| t.status == TypeStatus::Pending)
                        .map(|t| {
                            format!(
                                "{}: not measured (the campaign stopped before it)",
                                t.instance_type
                            )
                        }),
                )
                .collect()
        })
    }

    /// After the final teardown: what was created is `deleted`, unless it is still live
    /// (`failed: …`) or kept.
    pub fn after_teardown(&self, live: &Live, failures: &[String]) {
        let left = live.to_delete();
        self.update(|s| {
            for t in &mut s.manifest.types {
                if t.teardown == "pending" || t.teardown.starts_with("failed") {
                    t.teardown = if left.contains(&t.endpoint_name) {
                        let why = failures
                            .iter()
                            .find(|f| f.starts_with(&t.endpoint_name))
                            .cloned()
                            .unwrap_or_else(|| "not deleted".into());
                        format!("failed: {why}")
                    } else {
                        "deleted".into()
                    };
                }
            }
        });
    }

    /// Marks the campaign finished and returns the final manifest.
    pub fn finish(&self, stop_reason: &str) -> Manifest {
        self.update(|s| {
            s.manifest.finished_at = Some(crate::report::now_rfc3339());
            s.manifest.stop_reason = stop_reason.to_string();
            s.manifest.clone()
        })
    }
}
