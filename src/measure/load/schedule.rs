//! The open-model schedule of one step: with uniform arrivals request `i` is due at
//! `start + i / rate`; with Poisson arrivals the same number of requests arrive in the warm-up
//! and in the window, at times drawn from the seeded generator.
//!
//! Pure arithmetic, so the edges (fractional rates, warm-up boundaries) are unit-tested.

use std::time::Duration;

pub use crate::config::Arrivals;
use crate::rng::Rng;

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

/// One shard's share of a uniform schedule: shard `index` of `of` sends the requests `i` with
/// `i ≡ index (mod of)`, at their one-machine due times, so the shards together send exactly
/// the one-machine schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub index: u64,
    pub of: u64,
}

impl Part {
    /// How many of the global requests `0..n` are this part's.
    pub fn count(&self, n: u64) -> u64 {
        if n <= self.index {
            0
        } else {
            (n - self.index).div_ceil(self.of)
        }
    }

    /// The global index of this part's `j`-th request.
    pub fn global(&self, j: u64) -> u64 {
        self.index + j * self.of
    }
}

/// Poisson send offsets for every request of `sched`, sorted, reproducible for a seed.
///
/// The warm-up and the window get exactly the requests the uniform schedule gives them (so the
/// offered rate is exact and `first_measured` still divides them), placed as a Poisson process
/// conditioned on its count: given `n` arrivals in an interval, their times are `n` sorted
/// uniform draws, generated in order from `n + 1` exponential spacings.
pub fn poisson_offsets(sched: &Schedule, seed: u64) -> Vec<Duration> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(sched.total() as usize);
    let segments = [
        (0.0, sched.warmup_s, sched.first_measured()),
        (sched.warmup_s, sched.window_s, sched.measured()),
    ];
    for (from, len, n) in segments {
        let gaps: Vec<f64> = (0..=n).map(|_| -(1.0 - rng.next_f64()).ln()).collect();
        let sum: f64 = gaps.iter().sum();
        let mut acc = 0.0;
        for g in &gaps[..n as usize] {
            acc += g;
            out.push(Duration::from_secs_f64(from + len * acc / sum));
        }
    }
    out
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

    fn poisson(seed: u64) -> (Schedule, Vec<Duration>) {
        let s = Schedule {
            rate: 200.0,
            warmup_s: 1.0,
            window_s: 50.0,
        };
        (s, poisson_offsets(&s, seed))
    }

    #[test]
    fn poisson_send_times_are_reproducible_for_a_seed() {
        assert_eq!(poisson(7).1, poisson(7).1);
        assert_ne!(poisson(7).1, poisson(8).1);
    }

    #[test]
    fn poisson_arrivals_keep_the_counts_and_have_exponential_gaps() {
        let (s, t) = poisson(42);
        assert_eq!(t.len() as u64, s.total());
        assert!(t.windows(2).all(|w| w[0] <= w[1]), "sorted");
        let first = s.first_measured() as usize;
        assert!(t[first - 1].as_secs_f64() < 1.0 && t[first].as_secs_f64() >= 1.0);
        assert!(t.last().unwrap().as_secs_f64() < 51.0);
        // Exponential gaps: the coefficient of variation is 1 (a metronome's is 0).
        let gaps: Vec<f64> = t[first..]
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean;
        assert!((0.95..=1.05).contains(&cv), "cv {cv}");
        assert!((mean - 1.0 / 200.0).abs() < 0.0002, "mean gap {mean}");
    }

    #[test]
    fn the_parts_of_a_schedule_together_are_the_one_machine_schedule() {
        for (rate, warmup, window) in [(1000.0, 0.5, 2.0), (7.3, 0.0, 3.1), (3.0, 0.1, 0.9)] {
            let s = Schedule {
                rate,
                warmup_s: warmup,
                window_s: window,
            };
            let whole: Vec<(Duration, bool)> = (0..s.total())
                .map(|i| (s.due(i), i >= s.first_measured()))
                .collect();
            for of in [1u64, 2, 3, 4, 7] {
                let mut joined = Vec::new();
                let mut measured = 0;
                for index in 0..of {
                    let p = Part { index, of };
                    let first = p.count(s.first_measured());
                    for j in 0..p.count(s.total()) {
                        joined.push((s.due(p.global(j)), j >= first));
                    }
                    measured += p.count(s.total()) - first;
                }
                joined.sort();
                assert_eq!(joined, whole, "{of} parts of {s:?}");
                assert_eq!(measured, s.measured(), "{of} parts of {s:?}");
            }
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
