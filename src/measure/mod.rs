//! What measures: the open-model load generator and everything it needs, and nothing that
//! judges. `load` runs one step at one rate (schedule, load threads, abort watcher);
//! `client` sends one request to the endpoint (HTTP/1.1, reqwest for https, the SageMaker
//! SDK); `payload` chooses each request's body; `stats` turns outcomes into a `StepResult`
//! (error classes, sharded HDR histograms); `stream` reads streamed LLM answers and
//! `stream_stats` keeps their TTFT, ITL and token figures. Knows nothing about search; of the
//! requirements it knows only the per-request stream limits that define goodput.

pub mod client;
pub mod load;
pub mod payload;
pub mod stats;
pub mod stream;
pub mod stream_stats;
pub mod threads;
