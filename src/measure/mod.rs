//! What measures: the open-model load generator and everything it needs, and nothing that
//! judges. `load` runs one step at one rate (schedule, load threads, abort watcher); `client`
//! sends one request to the endpoint (the fast HTTP/1.1 client, plain or TLS and signed for
//! SageMaker, or the SageMaker SDK); `payload` chooses each request's body; `stats` turns
//! outcomes into a `StepResult` (error classes, sharded HDR histograms). Knows nothing about
//! requirements or search.

pub mod client;
pub mod load;
pub mod payload;
pub mod stats;
pub mod threads;
