//! rightsize: how to size a machine-learning inference endpoint before it meets production.
//!
//! The pipeline: campaign file → search (which rate next?) → load (one step) → stats → verdict
//! → recommend → report. `search`, `verdict` and `recommend` are pure; `load` owns time and I/O.

/// Target-tracking auto-scaling simulated over a traffic ramp; the minimum instance count.
pub mod autoscale;
/// Control-plane calls to AWS (registering the scaling policy, deploying endpoints).
pub mod aws;
/// The campaign loop: search, step, judge, journal, recommend, report.
pub mod campaign;
/// Safety caps: max_duration_minutes and max_requests.
pub mod caps;
/// Command line: clap definitions and dispatch.
pub mod cli;
/// The campaign file: types, defaults, validation.
pub mod config;
/// Error type and exit codes.
pub mod error;
/// The built-in simulated endpoint.
pub mod fake;
/// The open-model load generator: one step at one rate.
pub mod load;
/// Managed campaigns: deploy on each instance type, measure, always tear down, compare.
pub mod managed;
/// Request bodies and their deterministic rotation.
pub mod payload;
/// The recommendation as Application Auto Scaling requests and policy files.
pub mod policy;
/// Price tables per region and the cost of a recommendation.
pub mod prices;
/// `rightsize probe`: one constant-rate step and its summary.
pub mod probe;
/// MAX_RPS → invocations_target, instance counts, scaling policy.
pub mod recommend;
/// `rightsize recommend`: recompute a saved report with other requirements.
pub mod recompute;
/// report.json, the journal, the text summary, and the pages rendered from it.
pub mod report;
/// The report folder across runs: campaign fingerprint, resume from the journal.
pub mod resume;
/// A small seeded PRNG.
pub mod rng;
/// Which rate to offer next.
pub mod search;
/// Error classes, histograms, step results.
pub mod stats;
/// HTTP and SageMaker targets.
pub mod target;
/// Sleeps accurate to microseconds, for the simulated endpoint.
pub mod timer;
/// Does a step meet the requirements.
pub mod verdict;
