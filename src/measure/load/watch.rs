//! The step's watchers: tasks that sample the recorder's counters every 250 ms and stop the
//! step early, so an endpoint is not hammered for the rest of a step whose outcome is known.
//! The abort watcher stops a step when too many requests fail (`[load] abort_error_percent`);
//! the fail-fast watcher stops a step that can no longer pass, or whose backlog grows beyond
//! what the latency limit allows. Nothing is added to the per-request path.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::measure::load::schedule::Schedule;
use crate::measure::stats::{Abort, FailedEarly, Recorder, STEADY_SHARE, Served};

/// How often the counters are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// The watchers' clock: one sample every [`SAMPLE_EVERY`] from the step's start.
struct Sampling(Interval);

impl Sampling {
    fn new(start: Instant) -> Sampling {
        let mut tick = tokio::time::interval_at(start + SAMPLE_EVERY, SAMPLE_EVERY);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Sampling(tick)
    }

    /// Waits for the next sample; false once the step ended (`done`) or was stopped (`stop`).
    async fn next(&mut self, stop: &CancellationToken, done: &CancellationToken) -> bool {
        tokio::select! {
            _ = self.0.tick() => true,
            _ = done.cancelled() => false,
            _ = stop.cancelled() => false,
        }
    }
}

/// A window with fewer finished requests than this says too little to abort on: one early
/// failure at 1 rps must not end a step.
pub const MIN_FINISHED: u64 = 5;

/// Abort a step when more than `error_percent` of the requests finished over the trailing
/// `after` failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbortRule {
    pub error_percent: f64,
    pub after: Duration,
}

impl AbortRule {
    pub fn new(error_percent: f64, after_seconds: f64) -> AbortRule {
        AbortRule {
            error_percent,
            after: Duration::from_secs_f64(after_seconds.max(0.0)),
        }
    }

    /// Whether `failed` of `finished` is over the threshold (never at 100 percent).
    pub fn exceeded(&self, finished: u64, failed: u64) -> bool {
        finished >= MIN_FINISHED && failed as f64 * 100.0 > self.error_percent * finished as f64
    }
}

/// Samples until `done` is cancelled (the step ended) or the rule fires; on firing it cancels
/// `stop` and says why.
pub async fn watch_errors(
    recorder: Arc<Recorder>,
    rule: AbortRule,
    start: Instant,
    stop: CancellationToken,
    done: CancellationToken,
) -> Option<Abort> {
    // (time, finished, failed); the front is the newest sample at least `after` old.
    let mut samples: VecDeque<(Instant, u64, u64)> = VecDeque::new();
    samples.push_back((start, 0, 0));
    let mut clock = Sampling::new(start);
    loop {
        if !clock.next(&stop, &done).await {
            return None;
        }
        let now = Instant::now();
        let (finished, failed) = recorder.finished_and_failed();
        while samples.len() >= 2 && now.duration_since(samples[1].0) >= rule.after {
            samples.pop_front();
        }
        let (t0, finished0, failed0) = samples[0];
        samples.push_back((now, finished, failed));
        let over = now.duration_since(t0);
        if over < rule.after {
            continue;
        }
        let (n, e) = (finished - finished0, failed - failed0);
        if rule.exceeded(n, e) {
            stop.cancel();
            return Some(Abort {
                error_percent: e as f64 * 100.0 / n as f64,
                over_s: over.as_secs_f64(),
                at_s: now.duration_since(start).as_secs_f64(),
            });
        }
    }
}

/// Stop a step as soon as it has clearly failed: enough of the requests it measures are already
/// slower than `p99_ms` (or have failed) that its verdict can only be a failure, or its backlog
/// (requests due and not yet answered) grows beyond twice what `p99_ms` allows at its rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailFast {
    pub p99_ms: f64,
    pub max_error_percent: f64,
    /// The endpoint's unloaded mean service time, when a passing step has shown it: with every
    /// slot in flight, it tells whether the slots or the endpoint's own queue hold the step
    /// back ([`slots_can_limit`]).
    pub unloaded_service_ms: Option<f64>,
}

/// The share of the slots' ceiling (`max_concurrency` ÷ mean service time) above which an
/// offered rate is the generator's limit: near it, random bunching fills every slot.
pub const CEILING_SHARE: f64 = 0.8;

/// The most requests per second `max_concurrency` slots carry at a mean service time of
/// `service_ms` (Little's law); `None` without a service time.
pub fn slots_ceiling_rps(max_concurrency: u64, service_ms: f64) -> Option<f64> {
    (service_ms > 0.0).then(|| max_concurrency as f64 * 1000.0 / service_ms)
}

/// Whether `max_concurrency` slots may be what limits a step offered at `rate`: its rate is
/// near what they carry at the endpoint's unloaded service time. Without that service time it
/// may always be. When it may not, every slot in flight means the endpoint's own queue.
pub fn slots_can_limit(rate: f64, max_concurrency: u64, unloaded_service_ms: Option<f64>) -> bool {
    match unloaded_service_ms.and_then(|u| slots_ceiling_rps(max_concurrency, u)) {
        Some(ceiling) => rate >= ceiling * CEILING_SHARE,
        None => true,
    }
}

/// A backlog below this many requests never stops a step: a few slow answers at a low rate are
/// not a trend.
pub const MIN_BACKLOG: u64 = 20;

impl FailFast {
    /// Why a step with `measured` requests in all can no longer pass, given `slow` measured
    /// requests known to be slower than the limit and `failed` measured requests failed.
    pub fn decided(&self, measured: u64, slow: u64, failed: u64) -> Option<String> {
        let n = measured as f64;
        if failed as f64 * 100.0 > self.max_error_percent * n {
            return Some(format!(
                "{failed} of the step's {measured} requests had already failed (max_error_percent = {})",
                crate::num::fmt_num(self.max_error_percent)
            ));
        }
        // More than 1 % of the step's requests above the limit: its p99 is above it too.
        if slow as f64 * 100.0 > n {
            return Some(format!(
                "{slow} of the step's {measured} requests were already slower than p99_ms = {}",
                crate::num::fmt_num(self.p99_ms)
            ));
        }
        None
    }

    /// Whether a backlog of `now` requests, `before` one second earlier, at `rate`, has
    /// clearly outgrown the limit: more than twice the requests in flight that `p99_ms` allows
    /// (Little's law: rate × p99_ms), and still growing.
    pub fn runaway(&self, rate: f64, now: u64, before: u64) -> bool {
        let allowed = rate * self.p99_ms / 1000.0;
        now >= MIN_BACKLOG && now as f64 > 2.0 * allowed && now > before
    }
}

/// Requests of `sched` due at or before `t` after its start (the schedule is increasing).
fn due_by(sched: &Schedule, total: u64, t: Duration) -> u64 {
    let (mut lo, mut hi) = (0u64, total);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if sched.due(mid) <= t {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Samples until `done` is cancelled (the step ended) or the step has clearly failed; then it
/// cancels `stop` and says why.
pub async fn watch_fail_fast(
    recorder: Arc<Recorder>,
    rule: FailFast,
    sched: Schedule,
    start: Instant,
    max_concurrency: u64,
    stop: CancellationToken,
    done: CancellationToken,
) -> Option<FailedEarly> {
    let total = sched.total();
    let first_measured = sched.first_measured();
    let measured = total - first_measured;
    let limit = Duration::from_secs_f64(rule.p99_ms / 1000.0);
    let limit_us = (rule.p99_ms * 1000.0) as u64;
    // Backlog samples of the last second, oldest first.
    let mut backlog: VecDeque<(Instant, u64)> = VecDeque::new();
    let mut clock = Sampling::new(start);
    loop {
        if !clock.next(&stop, &done).await {
            return None;
        }
        let now = Instant::now();
        let elapsed = now.duration_since(start);
        let (finished, _) = recorder.finished_and_failed();
        let measured_done = recorder
            .live_done
            .load(std::sync::atomic::Ordering::Relaxed);
        let failed = recorder
            .live_errors
            .load(std::sync::atomic::Ordering::Relaxed);
        // Requests waiting behind max_concurrency wait in the generator, not the endpoint: their
        // latencies say more about the generator than the endpoint. Judge the endpoint's own
        // part only — its failures and its service times — and stop on those alone. Unless the
        // slots could carry far more than this rate at the endpoint's unloaded service time:
        // then the endpoint's own queue filled them, and the whole latency is judged below.
        if recorder
            .peak_in_flight
            .load(std::sync::atomic::Ordering::Relaxed)
            >= max_concurrency
            && slots_can_limit(sched.rate, max_concurrency, rule.unloaded_service_ms)
        {
            let slow = recorder.served_slower_than(limit_us);
            if let Some(reason) = rule.decided(measured, slow, failed) {
                stop.cancel();
                return Some(FailedEarly {
                    at_s: elapsed.as_secs_f64(),
                    reason: format!(
                        "{reason} (service time, from the actual send: max_concurrency was reached)"
                    ),
                });
            }
            continue;
        }
        // Slow: measured answers above the limit, plus (at least) the measured requests due
        // more than the limit ago and not answered yet, whose latency can only exceed it.
        let overdue = due_by(&sched, total, elapsed.saturating_sub(limit))
            .saturating_sub(first_measured)
            .saturating_sub(measured_done);
        let slow = recorder.measured_slower_than(limit_us) + overdue;
        let mut why = rule.decided(measured, slow, failed);
        let queued = due_by(&sched, total, elapsed).saturating_sub(finished);
        while backlog
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(1))
        {
            backlog.pop_front();
        }
        if why.is_none()
            && let Some(&(t0, before)) = backlog.front()
            && now.duration_since(t0) >= Duration::from_millis(750)
            && rule.runaway(sched.rate, queued, before)
        {
            why = Some(format!(
                "{queued} requests were waiting for an answer and growing (p99_ms = {} allows about {:.0} at this rate)",
                crate::num::fmt_num(rule.p99_ms),
                sched.rate * rule.p99_ms / 1000.0
            ));
        }
        backlog.push_back((now, queued));
        if let Some(reason) = why {
            stop.cancel();
            return Some(FailedEarly {
                at_s: elapsed.as_secs_f64(),
                reason,
            });
        }
    }
}

/// Samples the step's successful answers on the watchers' clock until `done` is cancelled (the
/// step ended) or `stop` is: (seconds since the step's start, successes so far).
pub async fn watch_served(
    recorder: Arc<Recorder>,
    start: Instant,
    stop: CancellationToken,
    done: CancellationToken,
) -> Vec<(f64, u64)> {
    let mut samples = Vec::new();
    let mut clock = Sampling::new(start);
    while clock.next(&stop, &done).await {
        let (finished, failed) = recorder.finished_and_failed();
        samples.push((
            start.elapsed().as_secs_f64(),
            finished.saturating_sub(failed),
        ));
    }
    samples
}

/// The step's served rate from its successes `samples` (see [`watch_served`]) and the end
/// (`end_s` seconds after its start, `end_successes` in all). The first sampling interval is
/// left out when the step ran past it: an endpoint's first answers take a service time to
/// come, and a step stopped after 0.8 s would otherwise read its capacity a few percent low.
pub fn served(samples: &[(f64, u64)], end_s: f64, end_successes: u64) -> Served {
    let mut points: Vec<(f64, u64)> = vec![(0.0, 0)];
    points.extend(samples.iter().copied().filter(|(t, _)| *t < end_s));
    points.push((end_s, end_successes));
    let (t0, n0) = if points.len() > 2 {
        points[1]
    } else {
        points[0]
    };
    let span = end_s - t0;
    let rps = if span > 0.0 {
        end_successes.saturating_sub(n0) as f64 / span
    } else {
        0.0
    };
    // Full intervals after the first: each lasts one sampling period (a shorter last one says
    // little).
    let period = SAMPLE_EVERY.as_secs_f64();
    let rates: Vec<f64> = points
        .windows(2)
        .skip(1)
        .filter(|w| w[1].0 - w[0].0 >= period * 0.9)
        .map(|w| w[1].1.saturating_sub(w[0].1) as f64 / (w[1].0 - w[0].0))
        .collect();
    let busiest = rates.iter().copied().fold(0.0, f64::max);
    let steady =
        rates.len() >= 2 && busiest > 0.0 && rates.iter().all(|r| *r >= STEADY_SHARE * busiest);
    Served { rps, steady }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_strict_and_needs_enough_requests() {
        let r = AbortRule::new(50.0, 10.0);
        assert!(!r.exceeded(10, 5), "exactly 50 % does not exceed 50 %");
        assert!(r.exceeded(10, 6));
        assert!(!r.exceeded(4, 4), "too few requests to judge");
        assert!(!AbortRule::new(100.0, 1.0).exceeded(1000, 1000));
        assert!(AbortRule::new(0.0, 1.0).exceeded(1000, 1));
    }

    #[test]
    fn a_step_is_decided_once_its_verdict_can_only_be_a_failure() {
        let r = FailFast {
            unloaded_service_ms: None,
            p99_ms: 100.0,
            max_error_percent: 0.1,
        };
        // (measured, slow, failed, decided)
        let cases = [
            (1000, 10, 1, false), // 1 % slow: p99 may still be at the limit; 0.1 % failed
            (1000, 11, 0, true),  // more than 1 % slow: p99 is above the limit
            (1000, 0, 2, true),   // 0.2 % failed
            (100, 1, 0, false),
            (100, 2, 0, true),
        ];
        for (measured, slow, failed, want) in cases {
            assert_eq!(
                r.decided(measured, slow, failed).is_some(),
                want,
                "{measured} {slow} {failed}"
            );
        }
        // 100 rps × 100 ms = 10 in flight allowed; a runaway backlog is over 20 and growing.
        assert!(r.runaway(100.0, 21, 15));
        assert!(!r.runaway(100.0, 21, 21), "not growing");
        assert!(!r.runaway(100.0, 19, 1), "too few");
        assert!(!r.runaway(1000.0, 150, 100), "within twice rate × p99_ms");
    }

    #[test]
    fn served_leaves_out_the_first_interval_and_sees_a_stall() {
        // 400 per second from 20 ms on, stopped at 0.8 s: 312 answers in all (390 per second
        // over the whole step).
        let samples = [(0.25, 92), (0.5, 192), (0.75, 292)];
        let s = served(&samples, 0.8, 312);
        assert!((s.rps - 400.0).abs() < 1e-9, "{s:?}");
        assert!(s.steady);
        // A stall from 0.5 s to 1.0 s: intervals of 100, 0, 100 answers.
        let stalled = [
            (0.25, 100),
            (0.5, 200),
            (0.75, 200),
            (1.0, 200),
            (1.25, 300),
        ];
        let s = served(&stalled, 1.5, 400);
        assert!(!s.steady, "{s:?}");
        assert!((s.rps - 300.0 / 1.25).abs() < 1e-9, "{s:?}");
        // One full interval after the first says too little to call steady.
        assert!(!served(&[(0.25, 100), (0.5, 200)], 0.6, 240).steady);
        // A step shorter than one interval: its whole length.
        let s = served(&[], 0.2, 20);
        assert!((s.rps - 100.0).abs() < 1e-9 && !s.steady, "{s:?}");
        assert_eq!(served(&[], 0.0, 0).rps, 0.0);
    }

    #[test]
    fn due_by_counts_the_requests_due_so_far() {
        let s = Schedule {
            rate: 10.0,
            warmup_s: 1.0,
            window_s: 2.0,
        };
        let total = s.total();
        assert_eq!(due_by(&s, total, Duration::ZERO), 1);
        assert_eq!(due_by(&s, total, Duration::from_millis(250)), 3);
        assert_eq!(due_by(&s, total, Duration::from_secs(60)), total);
    }

    #[test]
    fn full_slots_are_the_generators_limit_only_near_what_they_carry_unloaded() {
        // 32 slots at 20 ms carry 1,600 rps; 80 % of it is 1,280.
        assert_eq!(slots_ceiling_rps(32, 20.0), Some(1600.0));
        assert_eq!(slots_ceiling_rps(32, 0.0), None);
        assert!(
            !slots_can_limit(480.0, 32, Some(20.0)),
            "the endpoint's queue"
        );
        assert!(
            slots_can_limit(1300.0, 32, Some(20.0)),
            "near the slots' ceiling"
        );
        assert!(
            slots_can_limit(480.0, 32, None),
            "nothing passed yet: maybe"
        );
    }
}
