//! The plain-HTTP target's connections: kept alive and reused across requests and steps, as
//! many as the requests in flight at once (not one per worker), and a server that closes
//! connections costs reconnects, never errors.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::faults::{Fault, FaultServer};
use rightsize::measure::client::http::{HttpTarget, HttpTargetConfig};
use rightsize::measure::load::{self, StepHandle, StepSpec};
use rightsize::measure::payload::Payloads;
use rightsize::measure::stats::{Recorder, StepResult};

async fn step(target: &Arc<HttpTarget>, rate: f64, workers: usize) -> StepResult {
    let spec = StepSpec::new(rate, 0.0, 1.0, workers, Duration::from_secs(2));
    let handle = StepHandle {
        recorder: Arc::new(Recorder::new(workers)),
        cancel: Default::default(),
    };
    let (m, _) = load::run_step(
        target.clone(),
        Arc::new(Payloads::single("{}")),
        &spec,
        &handle,
    )
    .await;
    m.into_result()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reused_across_requests_and_steps() {
    // A well-behaved keep-alive server: its fault never comes.
    let server = FaultServer::start(Fault::Status(500), usize::MAX).await;
    let target = Arc::new(HttpTarget::new(&HttpTargetConfig::for_url(&server.url())).unwrap());
    let first = step(&target, 100.0, 4).await;
    let second = step(&target, 100.0, 4).await;
    for s in [&first, &second] {
        assert_eq!(s.requests, 100, "{s:?}");
        assert_eq!(s.errors, 0, "{s:?}");
    }
    // 200 requests, at most 4 in flight: at most 4 connections, kept for the second step.
    let conns = server.connections.load(Ordering::SeqCst);
    assert!(
        (1..=4).contains(&conns),
        "{conns} connections for 200 requests from 4 workers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_closing_after_each_answer_costs_reconnects_not_errors() {
    let server = FaultServer::start(Fault::CloseAfterAnswer, 0).await;
    let target = Arc::new(HttpTarget::new(&HttpTargetConfig::for_url(&server.url())).unwrap());
    let s = step(&target, 50.0, 4).await;
    assert_eq!(s.requests, 50, "{s:?}");
    assert_eq!(s.errors, 0, "every answer was a 200: {s:?}");
    assert!(
        server.connections.load(Ordering::SeqCst) >= 50,
        "each answer closed its connection, so each request needed a new one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_answers_after_an_interim_one_are_read_whole_and_keep_the_connection() {
    let server = FaultServer::start(Fault::Chunked, 0).await;
    let target = Arc::new(HttpTarget::new(&HttpTargetConfig::for_url(&server.url())).unwrap());
    let s = step(&target, 50.0, 4).await;
    assert_eq!(s.requests, 50, "{s:?}");
    assert_eq!(s.errors, 0, "{s:?}");
    assert_eq!(s.status_counts.get("200"), Some(&50), "{s:?}");
    // Had a chunk been left unread, the next answer on that connection would not parse.
    let conns = server.connections.load(Ordering::SeqCst);
    assert!((1..=4).contains(&conns), "{conns} connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_delimited_by_the_close_is_a_success_on_a_fresh_connection_each_time() {
    let server = FaultServer::start(Fault::BodyUntilClose, 0).await;
    let target = Arc::new(HttpTarget::new(&HttpTargetConfig::for_url(&server.url())).unwrap());
    let s = step(&target, 50.0, 4).await;
    assert_eq!(s.requests, 50, "{s:?}");
    assert_eq!(s.errors, 0, "{s:?}");
    assert!(server.connections.load(Ordering::SeqCst) >= 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_rate_opens_as_many_connections_as_requests_in_flight_not_one_per_worker() {
    // 50 requests over a second under a cap of 256: 50 workers, each sending once, but a fast
    // server has at most a request or two in flight at a time.
    let server = FaultServer::start(Fault::Status(500), usize::MAX).await;
    let target = Arc::new(HttpTarget::new(&HttpTargetConfig::for_url(&server.url())).unwrap());
    let s = step(&target, 50.0, 256).await;
    assert_eq!((s.requests, s.errors), (50, 0), "{s:?}");
    let conns = server.connections.load(Ordering::SeqCst);
    assert!(
        conns <= 10,
        "{conns} connections for 50 requests 20 ms apart"
    );
}
