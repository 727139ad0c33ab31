//! How the simulated endpoint behaves: its capacity, queue, errors, stalls and per-endpoint
//! profiles, and the checks `fake-endpoint`'s flags go through.

use std::time::Duration;

use crate::error::{Error, Result};

/// How the simulated endpoint behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeConfig {
    /// Requests served at once.
    pub slots: usize,
    /// Mean service time of one request, milliseconds.
    pub service_ms: f64,
    /// Spread of the service time: the sigma of a lognormal with the same mean; 0 = fixed.
    pub jitter: f64,
    /// Requests that may wait for a slot; one more gets 503 at once.
    pub queue_max: usize,
    /// Share of requests answered with a model error (500 on the container path, 424 ModelError
    /// on the runtime path).
    pub error_rate: f64,
    /// Share of requests answered with throttling (429, or 400 ThrottlingException on the runtime path).
    pub throttle_rate: f64,
    /// Every `stall_every`, the whole server pauses for `stall_for` (at the end of each period).
    pub stall_every: Option<Duration>,
    pub stall_for: Duration,
    /// The whole server pauses once, this long after it starts, for `stall_for`.
    pub stall_once_at: Option<Duration>,
    /// Variant name returned on the runtime path. Several names separated by commas split the
    /// traffic round-robin; a request naming a `TargetVariant` gets that name back.
    pub variant: String,
    pub seed: u64,
    /// Share of requests refused at once with 503 ServiceUnavailable (before the queue).
    pub unavailable_rate: f64,
    /// Share answered at once with 429 ModelNotReadyException (503 on the container path).
    pub not_ready_rate: f64,
    /// Share answered at once with 500 InternalFailure.
    pub internal_failure_rate: f64,
    /// Share answered at once with 400 ValidationError.
    pub validation_rate: f64,
    /// Share of requests whose answer is held back `slow_for` after service (without holding a
    /// slot): a hung request, for exercising client timeouts.
    pub slow_rate: f64,
    pub slow_for: Duration,
    /// Capacities for some endpoints on the runtime path only; empty: every request is served
    /// by `slots` and `service_ms`.
    pub endpoint_profiles: Vec<EndpointProfile>,
}

/// The capacity of the endpoints whose name contains `name_contains`, on the runtime path
/// (`POST /endpoints/{name}/invocations`): its own `slots`, mean service time and wait queue
/// (of `queue_max`), so one simulated server stands for several endpoints of different sizes,
/// e.g. one per instance type of a managed campaign. The first matching profile applies; other
/// names, and the container path, get the server's own capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointProfile {
    pub name_contains: String,
    pub slots: usize,
    pub service_ms: f64,
}

impl EndpointProfile {
    /// Requests per second the profile serves at most.
    pub fn capacity_rps(&self) -> f64 {
        self.slots as f64 * 1000.0 / self.service_ms
    }

    /// Parses `NAME_PART=SLOTSxMS`, e.g. `c5-xlarge=8x20` (8 slots × 20 ms = 400 rps).
    pub fn parse(s: &str) -> Result<EndpointProfile> {
        let bad = || {
            Error::input(format!(
                "--endpoint-profile {s:?}: write NAME_PART=SLOTSxMS, e.g. c5-xlarge=8x20 (8 slots × 20 ms mean service time)"
            ))
        };
        let (name, cap) = s.split_once('=').ok_or_else(bad)?;
        let (slots, ms) = cap.split_once('x').ok_or_else(bad)?;
        let p = EndpointProfile {
            name_contains: name.trim().to_string(),
            slots: slots.trim().parse().map_err(|_| bad())?,
            service_ms: ms.trim().parse().map_err(|_| bad())?,
        };
        if p.name_contains.is_empty()
            || p.slots == 0
            || !(p.service_ms.is_finite() && p.service_ms >= 0.0)
        {
            return Err(bad());
        }
        Ok(p)
    }
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            slots: 8,
            service_ms: 20.0,
            jitter: 0.0,
            queue_max: 128,
            error_rate: 0.0,
            throttle_rate: 0.0,
            stall_every: None,
            stall_for: Duration::ZERO,
            stall_once_at: None,
            variant: "AllTraffic".into(),
            seed: 1,
            unavailable_rate: 0.0,
            not_ready_rate: 0.0,
            internal_failure_rate: 0.0,
            validation_rate: 0.0,
            slow_rate: 0.0,
            slow_for: Duration::ZERO,
            endpoint_profiles: Vec::new(),
        }
    }
}

impl FakeConfig {
    /// Requests per second the endpoint can serve at most.
    pub fn capacity_rps(&self) -> f64 {
        self.slots as f64 * 1000.0 / self.service_ms
    }

    pub fn validate(&self) -> Result<()> {
        if self.slots == 0 {
            return Err(Error::input("--slots must be at least 1"));
        }
        if !(self.service_ms.is_finite() && self.service_ms >= 0.0) {
            return Err(Error::input("--service-ms must be 0 or more"));
        }
        if !(self.jitter.is_finite() && (0.0..=3.0).contains(&self.jitter)) {
            return Err(Error::input(
                "--jitter must be between 0 and 3 (a lognormal sigma)",
            ));
        }
        for (name, v) in [
            ("--error-rate", self.error_rate),
            ("--throttle-rate", self.throttle_rate),
            ("--unavailable-rate", self.unavailable_rate),
            ("--not-ready-rate", self.not_ready_rate),
            ("--internal-failure-rate", self.internal_failure_rate),
            ("--validation-rate", self.validation_rate),
            ("--slow-rate", self.slow_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::input(format!("{name} must be between 0 and 1")));
            }
        }
        if self.front_door_rate() > 1.0 + 1e-9 {
            return Err(Error::input(
                "--unavailable-rate, --not-ready-rate, --internal-failure-rate and --validation-rate must add up to at most 1",
            ));
        }
        if self.variant_names().is_empty() {
            return Err(Error::input(
                "--variant must name at least one variant (several: A,B)",
            ));
        }
        if let Some(every) = self.stall_every
            && self.stall_for >= every
        {
            return Err(Error::input(
                "--stall-ms must be shorter than --stall-every-ms",
            ));
        }
        for p in &self.endpoint_profiles {
            if p.name_contains.is_empty()
                || p.slots == 0
                || !(p.service_ms.is_finite() && p.service_ms >= 0.0)
            {
                return Err(Error::input(format!(
                    "endpoint profile {:?} needs a non-empty name part, at least 1 slot and a service time of 0 ms or more",
                    p.name_contains
                )));
            }
        }
        Ok(())
    }

    /// Share of requests answered with an error before reaching the queue (throttling aside).
    pub(super) fn front_door_rate(&self) -> f64 {
        self.unavailable_rate
            + self.not_ready_rate
            + self.internal_failure_rate
            + self.validation_rate
    }

    /// The variant names in `variant`, in order.
    pub fn variant_names(&self) -> Vec<String> {
        self.variant
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
            .collect()
    }
}
