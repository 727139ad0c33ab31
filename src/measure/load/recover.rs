//! Waiting for an endpoint to recover after a failed step: a step that overloaded it may have
//! left a backlog inside it (a server keeps working on requests the generator has given up
//! on), and the next step must measure its own rate, not that backlog. Requests are sent one at
//! a time until the endpoint answers at its baseline again.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::measure::client::Target;
use crate::measure::payload::Payloads;

/// Answers in a row at the baseline that count as recovered.
pub const IN_A_ROW: usize = 3;

/// Whether one answer's service time is back near the baseline: at most twice it, or 5 ms above
/// it for very fast endpoints (where scheduling noise is larger than the service time).
pub fn at_baseline(service: Duration, baseline: Duration) -> bool {
    service <= (baseline * 2).max(baseline + Duration::from_millis(5))
}

/// Sends requests one at a time until [`IN_A_ROW`] successive ones succeed at the baseline
/// service time, or `max` has passed, or `cancel` fires. Returns how long it waited and whether
/// the endpoint recovered.
pub async fn wait_for_baseline<T: Target>(
    target: Arc<T>,
    payloads: Arc<Payloads>,
    baseline: Duration,
    max: Duration,
    cancel: &CancellationToken,
) -> (Duration, bool) {
    let start = Instant::now();
    let deadline = start + max;
    let mut in_a_row = 0;
    let mut i = 0u64;
    while in_a_row < IN_A_ROW {
        let now = Instant::now();
        if now >= deadline || cancel.is_cancelled() {
            return (start.elapsed(), false);
        }
        let sent = Instant::now();
        let outcome = tokio::select! {
            o = target.invoke(payloads.pick(i)) => Some(o),
            _ = tokio::time::sleep_until(deadline) => None,
            _ = cancel.cancelled() => None,
        };
        i += 1;
        match outcome {
            Some(o) if o.class.is_none() && at_baseline(sent.elapsed(), baseline) => in_a_row += 1,
            Some(o) => {
                in_a_row = 0;
                if o.class.is_some() {
                    // A refusal comes back at once: do not hammer an endpoint that is shedding load.
                    tokio::time::sleep(baseline.max(Duration::from_millis(10))).await;
                }
            }
            None => return (start.elapsed(), false),
        }
    }
    (start.elapsed(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_allows_twice_the_service_time_or_5_ms() {
        let ms = Duration::from_millis;
        assert!(at_baseline(ms(40), ms(20)));
        assert!(!at_baseline(ms(41), ms(20)));
        assert!(at_baseline(ms(6), ms(1)));
        assert!(!at_baseline(ms(7), ms(1)));
    }
}
