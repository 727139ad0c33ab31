//! The built-in simulated endpoint: a real HTTP/1.1 server with a known capacity.
//!
//! It is modelled as `slots` workers each taking a service time (fixed, or lognormal with a
//! given spread around the same mean), a bounded wait queue that answers 503 at once when full,
//! optional random errors, and an optional periodic (or one-off) stall of the whole server. Capacity is
//! `slots / mean service time`, so tests can assert what a sizing campaign must find. It serves
//! the container paths (`GET /ping`, `POST /invocations`) and the SageMaker runtime path
//! (`POST /endpoints/{name}/invocations`), answering the latter the way the real service does.
//! Used by `rightsize fake-endpoint`, the demo and the tests; it imports only the foundation.
//! `config` holds how it behaves, `answers` the error answers of either path.

mod answers;
mod config;
pub mod llm;
pub mod timer;

pub use answers::RuntimeRequestSeen;
use answers::{
    Path, front_door_error, is_runtime_path, response, runtime_endpoint_name, runtime_error,
    service_unavailable,
};
pub use config::{EndpointProfile, FakeConfig};

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::rng::splitmix64;

/// Slots and a wait queue with their own service time: the server's own, or a profile's.
struct Lane {
    slots: Semaphore,
    waiting: AtomicUsize,
    service_ms: f64,
    /// Requests received on this lane, whatever their answer.
    received: AtomicU64,
}

impl Lane {
    fn new(slots: usize, service_ms: f64) -> Lane {
        Lane {
            slots: Semaphore::new(slots),
            waiting: AtomicUsize::new(0),
            service_ms,
            received: AtomicU64::new(0),
        }
    }
}

struct State {
    /// Connections open now; a drain waits for them to finish their requests.
    connections: AtomicUsize,
    cfg: FakeConfig,
    /// The server's own capacity.
    lane: Lane,
    /// One lane per endpoint profile, in the profiles' order.
    profile_lanes: Vec<Lane>,
    counter: AtomicU64,
    started: Instant,
    served: AtomicU64,
    /// Requests received on the invocation paths, whatever their answer.
    received: AtomicU64,
    variants: Vec<hyper::header::HeaderValue>,
    first_runtime: OnceLock<RuntimeRequestSeen>,
}

impl State {
    fn new(cfg: FakeConfig) -> State {
        let variants = cfg
            .variant_names()
            .iter()
            .filter_map(|v| hyper::header::HeaderValue::from_str(v).ok())
            .collect();
        State {
            connections: AtomicUsize::new(0),
            lane: Lane::new(cfg.slots, cfg.service_ms),
            profile_lanes: cfg
                .endpoint_profiles
                .iter()
                .map(|p| Lane::new(p.slots, p.service_ms))
                .collect(),
            cfg,
            counter: AtomicU64::new(0),
            started: Instant::now(),
            served: AtomicU64::new(0),
            received: AtomicU64::new(0),
            variants,
            first_runtime: OnceLock::new(),
        }
    }

    /// A deterministic pseudo-random number in [0, 1) per draw.
    fn draw(&self) -> f64 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        (splitmix64(self.cfg.seed ^ splitmix64(n)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The lane that serves a request: a profile's when the runtime path names a matching
    /// endpoint, else the server's own.
    fn lane_for(&self, endpoint: Option<&str>) -> &Lane {
        endpoint
            .and_then(|name| {
                self.cfg
                    .endpoint_profiles
                    .iter()
                    .position(|p| name.contains(&p.name_contains))
            })
            .map_or(&self.lane, |i| &self.profile_lanes[i])
    }

    fn service_time(&self, mean_ms: f64) -> Duration {
        let mean = mean_ms / 1000.0;
        if self.cfg.jitter <= 0.0 || mean <= 0.0 {
            return Duration::from_secs_f64(mean);
        }
        let sigma = self.cfg.jitter;
        // lognormal with the given mean: mu = ln(mean) - sigma^2 / 2
        let mu = mean.ln() - sigma * sigma / 2.0;
        let u1 = 1.0 - self.draw();
        let u2 = self.draw();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        Duration::from_secs_f64((mu + sigma * z).exp().min(3600.0))
    }

    /// If the server is inside a stall window now, how long until it ends.
    fn stall_remaining(&self) -> Option<Duration> {
        if self.cfg.stall_for.is_zero() {
            return None;
        }
        if let Some(at) = self.cfg.stall_once_at {
            let end = at + self.cfg.stall_for;
            let elapsed = self.started.elapsed();
            if elapsed >= at && elapsed < end {
                return Some(end - elapsed);
            }
        }
        let every = self.cfg.stall_every?;
        let elapsed = self.started.elapsed().as_nanos() % every.as_nanos();
        let stall_start = (every - self.cfg.stall_for).as_nanos();
        (elapsed >= stall_start).then(|| Duration::from_nanos((every.as_nanos() - elapsed) as u64))
    }

    async fn wait_out_stall(&self) {
        if let Some(d) = self.stall_remaining() {
            tokio::time::sleep(d).await;
        }
    }
}

/// A running simulated endpoint; dropping it (or calling [`FakeEndpoint::stop`]) stops it.
pub struct FakeEndpoint {
    addr: SocketAddr,
    /// Stops everything at once.
    cancel: CancellationToken,
    /// Stops accepting and lets open connections finish their requests.
    draining: CancellationToken,
    state: Arc<State>,
}

impl FakeEndpoint {
    /// Starts the endpoint on `addr` (port 0 picks a free port) in the current tokio runtime.
    pub async fn start(cfg: FakeConfig, addr: SocketAddr) -> Result<FakeEndpoint> {
        cfg.validate()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Other(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Other(format!("cannot read the listening address: {e}")))?;
        let state = Arc::new(State::new(cfg));
        let cancel = CancellationToken::new();
        let draining = CancellationToken::new();
        tokio::spawn(accept_loop(
            listener,
            state.clone(),
            cancel.clone(),
            draining.clone(),
        ));
        Ok(FakeEndpoint {
            addr,
            cancel,
            draining,
            state,
        })
    }

    /// Starts on a free loopback port.
    pub async fn start_local(cfg: FakeConfig) -> Result<FakeEndpoint> {
        FakeEndpoint::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The container invocation URL.
    pub fn invocations_url(&self) -> String {
        format!("http://{}/invocations", self.addr)
    }

    /// The base URL to give the AWS SDK as its endpoint.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Successful invocations so far.
    pub fn served(&self) -> u64 {
        self.state.served.load(Ordering::Relaxed)
    }

    /// Invocation requests received so far, whatever their answer (a retried call counts twice).
    pub fn received(&self) -> u64 {
        self.state.received.load(Ordering::Relaxed)
    }

    /// Invocation requests received by the endpoints of profile `name_contains` (see
    /// [`EndpointProfile`]), whatever their answer; 0 for an unknown profile.
    pub fn received_by_profile(&self, name_contains: &str) -> u64 {
        self.state
            .cfg
            .endpoint_profiles
            .iter()
            .position(|p| p.name_contains == name_contains)
            .map_or(0, |i| {
                self.state.profile_lanes[i].received.load(Ordering::Relaxed)
            })
    }

    /// The first request seen on the runtime path, if any (what a SageMaker client sent).
    pub fn first_runtime_request(&self) -> Option<RuntimeRequestSeen> {
        self.state.first_runtime.get().cloned()
    }

    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// Stops accepting connections, lets every request in flight finish, then stops.
    pub async fn drain(&self) {
        self.draining.cancel();
        while self.state.connections.load(Ordering::Acquire) > 0 && !self.cancel.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.stop();
    }

    /// Runs until the token is cancelled (for the `fake-endpoint` command).
    pub async fn wait(&self, until: CancellationToken) {
        until.cancelled().await;
        self.stop();
    }
}

impl Drop for FakeEndpoint {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    cancel: CancellationToken,
    draining: CancellationToken,
) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(_) => {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
            _ = draining.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let cancel = cancel.clone();
        let draining = draining.clone();
        state.connections.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(async move {
            let counted = state.clone();
            let service = service_fn(move |req| handle(state.clone(), req));
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = cancel.cancelled() => {}
                _ = draining.cancelled() => {
                    // Finish the request in progress (if any), then close.
                    conn.as_mut().graceful_shutdown();
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = cancel.cancelled() => {}
                    }
                }
            }
            counted.connections.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = match (req.method(), req.uri().path()) {
        (&Method::GET, "/ping") => return Ok(response(StatusCode::OK, "")),
        (&Method::POST, "/invocations") => Path::Container,
        (&Method::POST, p) if is_runtime_path(p) => Path::Runtime,
        _ => return Ok(response(StatusCode::NOT_FOUND, "not found")),
    };
    state.received.fetch_add(1, Ordering::Relaxed);
    let endpoint = (path == Path::Runtime)
        .then(|| runtime_endpoint_name(req.uri().path()))
        .flatten();
    let lane = state.lane_for(endpoint);
    lane.received.fetch_add(1, Ordering::Relaxed);
    // SageMaker answers with the variant the caller targeted.
    let mut target_variant = None;
    if path == Path::Runtime {
        if state.first_runtime.get().is_none() {
            let _ = state
                .first_runtime
                .set(RuntimeRequestSeen::from_request(&req));
        }
        target_variant = req
            .headers()
            .get("x-amzn-sagemaker-target-variant")
            .cloned();
    }
    // Read the whole request body, as a real server must before answering.
    if req.into_body().collect().await.is_err() {
        return Ok(response(StatusCode::BAD_REQUEST, "unreadable body"));
    }
    state.wait_out_stall().await;

    if state.cfg.throttle_rate > 0.0 && state.draw() < state.cfg.throttle_rate {
        return Ok(match path {
            Path::Container => response(StatusCode::TOO_MANY_REQUESTS, "throttled"),
            Path::Runtime => runtime_error(400, "ThrottlingException", "Rate exceeded", None),
        });
    }
    if state.cfg.front_door_rate() > 0.0
        && let Some(r) = front_door_error(&state.cfg, state.draw(), path)
    {
        return Ok(r);
    }

    // Bounded queue: a request that would wait beyond `queue_max` is refused at once.
    let permit = match lane.slots.try_acquire() {
        Ok(p) => p,
        Err(_) => {
            let waiting = lane.waiting.fetch_add(1, Ordering::AcqRel);
            // Leaves the queue however the wait ends: a client that gives up closes its
            // connection and this future is dropped mid-wait, which must not keep its place.
            let place = Waiting(&lane.waiting);
            if waiting >= state.cfg.queue_max {
                drop(place);
                return Ok(service_unavailable(path));
            }
            let p = lane.slots.acquire().await;
            drop(place);
            match p {
                Ok(p) => p,
                Err(_) => return Ok(response(StatusCode::SERVICE_UNAVAILABLE, "shutting down")),
            }
        }
    };
    crate::sim::timer::sleep(state.service_time(lane.service_ms)).await;
    drop(permit);
    if state.cfg.slow_rate > 0.0 && state.draw() < state.cfg.slow_rate {
        tokio::time::sleep(state.cfg.slow_for).await;
    }
    state.wait_out_stall().await;

    if state.cfg.error_rate > 0.0 && state.draw() < state.cfg.error_rate {
        return Ok(match path {
            Path::Container => response(StatusCode::INTERNAL_SERVER_ERROR, "model failure"),
            Path::Runtime => runtime_error(
                424,
                "ModelError",
                "Received server error (500) from primary with message \"simulated model failure\".",
                Some(500),
            ),
        });
    }
    let n = state.served.fetch_add(1, Ordering::Relaxed);
    let mut r = response(StatusCode::OK, r#"{"predictions":[0.5]}"#);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if path == Path::Runtime {
        let variant = target_variant.or_else(|| {
            let k = state.variants.len();
            (k > 0).then(|| state.variants[(n % k as u64) as usize].clone())
        });
        if let Some(v) = variant {
            r.headers_mut()
                .insert("x-amzn-invoked-production-variant", v);
        }
    }
    Ok(r)
}

/// A place in a lane's wait queue, given back when dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::answers::signing_scope;
    use super::*;

    #[test]
    fn capacity_is_slots_over_service_time() {
        let c = FakeConfig {
            slots: 8,
            service_ms: 20.0,
            ..Default::default()
        };
        assert_eq!(c.capacity_rps(), 400.0);
    }

    #[test]
    fn endpoint_profiles_pick_the_lane_by_endpoint_name_and_default_otherwise() {
        let cfg = FakeConfig {
            slots: 8,
            service_ms: 20.0,
            endpoint_profiles: vec![
                EndpointProfile::parse("-c5-large-=2x10").unwrap(),
                EndpointProfile::parse("-c5-xlarge-=4x5").unwrap(),
            ],
            ..Default::default()
        };
        cfg.validate().unwrap();
        assert_eq!(cfg.endpoint_profiles[0].capacity_rps(), 200.0);
        assert_eq!(cfg.endpoint_profiles[1].capacity_rps(), 800.0);
        let state = State::new(cfg);
        let lane = |name: Option<&str>| state.lane_for(name).service_ms;
        assert_eq!(lane(Some("rs-c5-large-abc")), 10.0);
        assert_eq!(lane(Some("rs-c5-xlarge-abc")), 5.0);
        assert_eq!(lane(Some("other-endpoint")), 20.0);
        assert_eq!(lane(None), 20.0);
        assert_eq!(
            runtime_endpoint_name("/endpoints/rs-c5-large-abc/invocations"),
            Some("rs-c5-large-abc")
        );
        for bad in ["c5", "=2x10", "a=0x10", "a=2x-1", "a=2", "a=twox10"] {
            assert_eq!(
                EndpointProfile::parse(bad).unwrap_err().exit_code(),
                2,
                "{bad}"
            );
        }
    }

    #[test]
    fn runtime_paths_are_recognised() {
        assert!(is_runtime_path("/endpoints/my-ep/invocations"));
        assert!(!is_runtime_path("/endpoints//invocations"));
        assert!(!is_runtime_path("/endpoints/a/b/invocations"));
        assert!(!is_runtime_path("/invocations"));
    }

    #[test]
    fn lognormal_service_time_keeps_the_configured_mean() {
        let cfg = FakeConfig {
            service_ms: 20.0,
            jitter: 0.5,
            ..Default::default()
        };
        let state = State::new(cfg);
        let n = 50_000;
        let total: f64 = (0..n).map(|_| state.service_time(20.0).as_secs_f64()).sum();
        let mean_ms = total / n as f64 * 1000.0;
        assert!((mean_ms - 20.0).abs() < 0.5, "mean {mean_ms} ms");
    }

    #[test]
    fn front_door_errors_split_the_draw_by_their_shares() {
        let cfg = FakeConfig {
            unavailable_rate: 0.1,
            not_ready_rate: 0.2,
            internal_failure_rate: 0.3,
            validation_rate: 0.4,
            ..Default::default()
        };
        let status = |u: f64| front_door_error(&cfg, u, Path::Runtime).map(|r| r.status().as_u16());
        assert_eq!(status(0.05), Some(503));
        assert_eq!(status(0.15), Some(429));
        assert_eq!(status(0.45), Some(500));
        assert_eq!(status(0.95), Some(400));
        let none = FakeConfig::default();
        assert!(front_door_error(&none, 0.0, Path::Runtime).is_none());
    }

    #[test]
    fn error_shares_above_one_are_refused() {
        let cfg = FakeConfig {
            unavailable_rate: 0.6,
            validation_rate: 0.6,
            ..Default::default()
        };
        assert_eq!(cfg.validate().unwrap_err().exit_code(), 2);
        let cfg = FakeConfig {
            variant: " , ".into(),
            ..Default::default()
        };
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn the_signing_scope_keeps_no_key_or_signature() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-west-2/sagemaker/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcdef";
        assert_eq!(
            signing_scope(auth).as_deref(),
            Some("AWS4-HMAC-SHA256 20260101/us-west-2/sagemaker/aws4_request")
        );
        assert_eq!(signing_scope("Bearer token"), None);
    }
}
