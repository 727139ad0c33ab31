//! The open-model schedule of one step: request `i` is due at `start + i / rate`.
//!
//! Pure arithmetic, so the edges (fractional rates, warm-up boundaries) are unit-tested.

use std::time::Duration;

/// When each request of a step is due, and which requests are measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub rate: f64,
    pub warmup_s: f64,
    pub window_s: f64,
}

impl Schedule {
    /// Number of requests due in the step: every `i` with `i / rate < warmup + window`.
    pub fn total(&self) -> u64 {
        count_before(self.rate, self.warmup_s + self.window_s)
    }

    /// Index of the first measured request: the first `i` with `i / rate >= warmup`.
    pub fn first_measured(&self) -> u64 {
        count_before(self.rate, self.warmup_s)
    }

    /// Offered requests in the measured window.
    pub fn measured(&self) -> u64 {
        self.total() - self.first_measured()
    }

    /// Offset of request `i` from the step start.
    pub fn due(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }
}

/// How many non-negative integers `i` satisfy `i / rate < t`.
fn count_before(rate: f64, t: f64) -> u64 {
    if t <= 0.0 {
        return 0;
    }
    let x = t * rate;
    // Guard against 2.9999999996 becoming 3 extra requests, or 3.0000000004 becoming 4.
    let r = x.round();
    if (x - r).abs() < 1e-9 {
        r as u64
    } else {
        x.ceil() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_in_whole_and_fractional_rates() {
        let cases = [
            // rate, warmup, window, total, first measured
            (10.0, 1.0, 5.0, 60, 10),
            (0.5, 0.0, 60.0, 30, 0),
            (0.3, 0.0, 10.0, 3, 0), // due at 0, 3.33, 6.67
            (0.1, 1.0, 4.0, 1, 1),  // the one request is due at 0, inside the warm-up
            (400.0, 0.5, 2.0, 1000, 200),
            (3.0, 0.1, 0.9, 3, 1),
        ];
        for (rate, w, d, total, first) in cases {
            let s = Schedule {
                rate,
                warmup_s: w,
                window_s: d,
            };
            assert_eq!(s.total(), total, "total for {s:?}");
            assert_eq!(s.first_measured(), first, "first measured for {s:?}");
        }
    }

    #[test]
    fn due_times_are_evenly_spaced() {
        let s = Schedule {
            rate: 4.0,
            warmup_s: 0.0,
            window_s: 1.0,
        };
        let d: Vec<_> = (0..4).map(|i| s.due(i).as_millis()).collect();
        assert_eq!(d, vec![0, 250, 500, 750]);
    }
}
