//! rightsize: how to size a machine-learning inference endpoint before it meets production.
//!
//! The pipeline: campaign file → search (which rate next?) → load (one step) → stats → verdict
//! → recommend → report. The modules are layered; each imports only from the layers above it
//! in this list (lowest first), and `tests/it/layout.rs` checks that no import goes up a layer
//! or round in a circle.

// Foundation.
/// Error type and exit codes.
pub mod error;
/// Rounding and number formatting, as reports show numbers.
pub mod num;
/// A small seeded PRNG.
pub mod rng;

/// The campaign file, one file per section: types, defaults, validation.
pub mod config;

/// What measures: the open-model load generator, the endpoint clients, payloads, statistics.
pub mod measure;

/// What decides (pure): verdict, search, recommendation, the auto-scaling simulation.
pub mod decide;

/// Price tables per region and the cost of a recommendation.
pub mod prices;

/// report.json, the journal, the text summary, and the pages rendered from it.
pub mod report;

/// AWS's control plane: policy files, registering them, deploying endpoints.
pub mod aws;

/// Orchestration: the campaign loop, caps, resume, managed campaigns.
pub mod run;

/// The commands: clap definitions and dispatch, probe, recompute.
pub mod cli;

/// The built-in simulated endpoint (beside the layers: it imports only the foundation).
pub mod sim;
