//! Safety caps of a campaign (`[load] max_duration_minutes` and `max_requests`; `max_rps` is
//! the search's own): whether the next step may start, and when a running step is cut.
//!
//! A cap is checked before each step against what that step could take at most, so a campaign
//! stops *before* a cap is crossed and never wastes a half-run step; the duration cap also cuts
//! a step that overruns (a hanging endpoint), and that step is discarded.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::LoadConfig;
use crate::measure::load::{Schedule, StepSpec};
use crate::measure::stats::StepResult;
use crate::num::fmt_num;

/// Which cap ended a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    MaxDuration,
    MaxRequests,
}

impl Cap {
    /// The campaign file key that sets it.
    pub fn key(self) -> &'static str {
        match self {
            Cap::MaxDuration => "max_duration_minutes",
            Cap::MaxRequests => "max_requests",
        }
    }
}

/// A cap that ends the campaign, and the words for `stop_reason`.
#[derive(Debug, Clone, PartialEq)]
pub struct CapStop {
    pub cap: Cap,
    pub reason: String,
}

/// The caps of one `rightsize run`.
#[derive(Debug, Clone)]
pub struct Caps {
    max_requests: Option<u64>,
    max_minutes: Option<f64>,
    deadline: Option<Instant>,
}

impl Caps {
    /// Caps for a run that started at `started`.
    pub fn new(load: &LoadConfig, started: Instant) -> Caps {
        Caps {
            max_requests: load.max_requests,
            max_minutes: load.max_duration_minutes,
            deadline: load
                .max_duration_minutes
                .map(|m| started + Duration::from_secs_f64((m * 60.0).min(1e9))),
        }
    }

    /// Whether the step `spec` may start now, after `sent_so_far` requests.
    pub fn check_before(&self, spec: &StepSpec, sent_so_far: u64, now: Instant) -> Option<CapStop> {
        let rate = fmt_num(spec.schedule.rate);
        if let Some(max) = self.max_requests {
            let planned = spec.schedule.total();
            if sent_so_far.saturating_add(planned) > max {
                return Some(CapStop {
                    cap: Cap::MaxRequests,
                    reason: format!(
                        "cap [load] max_requests = {max} reached: {sent_so_far} requests sent, and the next step ({rate} rps) would send up to {planned} more"
                    ),
                });
            }
        }
        if let (Some(deadline), Some(minutes)) = (self.deadline, self.max_minutes) {
            // The longest the step can last: its warm-up and window, the drain grace, and the
            // timeout of the last request sent.
            let length = spec.longest();
            if now + length > deadline {
                return Some(CapStop {
                    cap: Cap::MaxDuration,
                    reason: format!(
                        "cap [load] max_duration_minutes = {} reached: the next step ({rate} rps, {:.1} s) would end after it",
                        fmt_num(minutes),
                        length.as_secs_f64()
                    ),
                });
            }
        }
        None
    }

    /// Why a step cut at the deadline ended the campaign.
    pub fn cut_reason(&self, index: usize) -> CapStop {
        CapStop {
            cap: Cap::MaxDuration,
            reason: format!(
                "cap [load] max_duration_minutes = {} reached during step {index}; that step was discarded",
                fmt_num(self.max_minutes.unwrap_or_default())
            ),
        }
    }

    /// Cancels `step` at the deadline, if there is one, until the returned guard is dropped.
    pub fn cut_at_deadline(&self, step: &CancellationToken) -> Option<DeadlineGuard> {
        let deadline = self.deadline?;
        let token = step.clone();
        Some(DeadlineGuard(tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            token.cancel();
        })))
    }
}

/// Stops the deadline timer of one step when dropped.
pub struct DeadlineGuard(tokio::task::JoinHandle<()>);

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Requests a recorded step sent, warm-up included. The warm-up requests are counted from the
/// schedule (all of them are due before the window), so steps read back from a journal count
/// the same as steps just run.
pub fn requests_sent(step: &StepResult) -> u64 {
    let warmup = Schedule {
        rate: step.offered_rps,
        warmup_s: step.warmup_s,
        window_s: step.duration_s,
    }
    .first_measured();
    warmup + step.sent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rate: f64, warmup: f64, window: f64) -> StepSpec {
        StepSpec::new(rate, warmup, window, 16, Duration::from_secs(1))
    }

    fn load(max_requests: Option<u64>, minutes: Option<f64>) -> LoadConfig {
        LoadConfig {
            max_requests,
            max_duration_minutes: minutes,
            ..LoadConfig::default()
        }
    }

    #[test]
    fn a_step_that_could_cross_max_requests_does_not_start() {
        let now = Instant::now();
        let caps = Caps::new(&load(Some(100), None), now);
        // 20 rps for 1 + 2 s plans 60 requests
        assert_eq!(caps.check_before(&spec(20.0, 1.0, 2.0), 40, now), None);
        let stop = caps.check_before(&spec(20.0, 1.0, 2.0), 41, now).unwrap();
        assert_eq!(stop.cap, Cap::MaxRequests);
        assert!(
            stop.reason.contains("max_requests = 100"),
            "{}",
            stop.reason
        );
        assert!(stop.reason.contains("41 requests sent"), "{}", stop.reason);
    }

    #[test]
    fn the_duration_cap_counts_the_drain_grace_and_the_timeout() {
        let t0 = Instant::now();
        let caps = Caps::new(&load(None, Some(0.1)), t0); // 6 s
        // 1 s warm-up + 2 s window + 1.2 s drain grace + 1 s timeout = 5.2 s: at 1 s it could
        // end at 6.2 s, past the cap, although its window ends at 4 s.
        let later = t0 + Duration::from_secs(1);
        let stop = caps.check_before(&spec(5.0, 1.0, 2.0), 0, later).unwrap();
        assert_eq!(stop.cap, Cap::MaxDuration);
        assert!(stop.reason.contains("5.2 s"), "{}", stop.reason);
        assert_eq!(
            caps.check_before(&spec(5.0, 1.0, 2.0), 0, t0 + Duration::from_millis(700)),
            None
        );
    }

    #[test]
    fn a_step_that_would_end_past_max_duration_does_not_start() {
        let t0 = Instant::now();
        let caps = Caps::new(&load(None, Some(0.1)), t0); // 6 s
        assert_eq!(caps.check_before(&spec(5.0, 1.0, 2.0), 0, t0), None);
        let later = t0 + Duration::from_secs(4);
        let stop = caps.check_before(&spec(5.0, 1.0, 2.0), 0, later).unwrap();
        assert_eq!(stop.cap, Cap::MaxDuration);
        assert!(stop.reason.contains("max_duration_minutes = 0.1"));
        assert!(
            Caps::new(&load(None, None), t0)
                .cut_at_deadline(&Default::default())
                .is_none()
        );
    }

    #[test]
    fn recorded_steps_count_their_warmup_requests() {
        let mut s = crate::measure::stats::StepMeasurement {
            concurrency: None,
            stream_format: None,
            offered_rps: 10.0,
            abort: None,
            failed_early: None,
            served: crate::measure::stats::Served {
                rps: 0.0,
                steady: false,
            },
            window_s: 2.0,
            warmup_s: 0.5,
            sent: 20,
            unsent: 0,
            peak_in_flight: 0,
            max_concurrency: 1,
            shard: Default::default(),
        }
        .into_result();
        assert_eq!(requests_sent(&s), 25);
        s.warmup_s = 0.0;
        assert_eq!(requests_sent(&s), 20);
    }
}
