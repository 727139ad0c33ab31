//! What measures: the open-model load generator and everything it needs, and nothing that
//! judges. `load` runs one step at one rate or concurrency (schedule, load threads, watchers);
//! `client` sends one request to the endpoint (the fast HTTP/1.1 client, plain or TLS and
//! signed for SageMaker; the SageMaker SDK; reqwest and the SDK's response stream for streamed
//! answers); `payload` chooses each request's body; `stats` turns outcomes into a `StepResult`
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
pub mod wire;
