//! The abort watcher: one task per step that samples the recorder's counters every 250 ms and
//! stops the step when the endpoint is plainly broken, so it is not hammered for the rest of
//! the step. Nothing is added to the per-request path.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::measure::stats::{Abort, Recorder};

/// How often the counters are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);

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
    let mut tick = tokio::time::interval_at(start + SAMPLE_EVERY, SAMPLE_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = done.cancelled() => return None,
            _ = stop.cancelled() => return None,
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
}
