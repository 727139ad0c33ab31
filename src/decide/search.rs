//! Which rate to offer next. Pure: the next rate is a function of the plan and the steps so
//! far, so a campaign resumed from its journal asks the same questions in the same order.
//!
//! `adaptive` grows the rate geometrically from `start_rps` while steps pass, then bisects
//! between the best pass and the lowest failure above it until they are within
//! `resolution_percent`. `walk` offers an explicit list and stops at the first failure (the
//! semantics users know from perfsize). Neither ever offers more than `max_rps`.

/// The search strategy of a campaign.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Adaptive {
        start_rps: f64,
        max_rps: f64,
        growth_factor: f64,
        resolution_percent: f64,
    },
    Walk {
        rates: Vec<f64>,
        max_rps: f64,
    },
}

/// What the search needs to know of a finished step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub offered_rps: f64,
    pub pass: bool,
}

/// Why a search stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Best pass and lowest failure are within the resolution.
    Converged,
    /// `max_rps` itself passed: the endpoint may do more, but the cap forbids trying.
    CapReached,
    /// The first rate tried failed.
    FirstStepFailed,
    /// Walk: a step failed.
    WalkFailed,
    /// Walk: every listed rate passed.
    WalkExhausted,
    /// Safety net against a search that does not converge.
    TooManySteps,
}

impl Stop {
    pub fn describe(self) -> &'static str {
        match self {
            Stop::Converged => {
                "the best passing and lowest failing rates are within the resolution"
            }
            Stop::CapReached => "max_rps passed; raise [load] max_rps to look higher",
            Stop::FirstStepFailed => {
                "the first rate failed; lower [load] start_rps or relax the requirements"
            }
            Stop::WalkFailed => "a walk step failed",
            Stop::WalkExhausted => "every walk rate passed",
            Stop::TooManySteps => "the step limit was reached",
        }
    }
}

/// The search's answer: offer this rate next, or stop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    Offer(f64),
    Stop(Stop),
}

/// The most steps one search may take.
pub const MAX_STEPS: usize = 64;

/// Rates are offered in steps of 0.001 rps, so every rate in a report reads the same as it ran.
fn tidy(rate: f64) -> f64 {
    (rate * 1000.0).round() / 1000.0
}

/// Decides the next step from the plan and the steps so far (in the order they ran).
pub fn next(plan: &Plan, history: &[Probe]) -> Next {
    if history.len() >= MAX_STEPS {
        return Next::Stop(Stop::TooManySteps);
    }
    match plan {
        Plan::Walk { rates, max_rps } => {
            if history.iter().any(|p| !p.pass) {
                return Next::Stop(Stop::WalkFailed);
            }
            match rates.get(history.len()) {
                Some(r) => Next::Offer(r.min(*max_rps)),
                None => Next::Stop(Stop::WalkExhausted),
            }
        }
        Plan::Adaptive {
            start_rps,
            max_rps,
            growth_factor,
            resolution_percent,
        } => {
            let Some(first) = history.first() else {
                return Next::Offer(tidy(start_rps.min(*max_rps)));
            };
            let best_pass = history
                .iter()
                .filter(|p| p.pass)
                .map(|p| p.offered_rps)
                .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
            let Some(lo) = best_pass else {
                debug_assert!(!first.pass);
                return Next::Stop(Stop::FirstStepFailed);
            };
            // A failure below the best pass is noise; the bracket is above the best pass.
            let hi = history
                .iter()
                .filter(|p| !p.pass && p.offered_rps > lo)
                .map(|p| p.offered_rps)
                .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))));
            match hi {
                None => {
                    if lo >= *max_rps {
                        Next::Stop(Stop::CapReached)
                    } else {
                        Next::Offer(tidy((lo * growth_factor).min(*max_rps)))
                    }
                }
                Some(hi) => {
                    if (hi - lo) <= lo * resolution_percent / 100.0 {
                        return Next::Stop(Stop::Converged);
                    }
                    let mid = tidy((lo + hi) / 2.0);
                    if mid <= lo || mid >= hi {
                        // Rounding closed the gap: nothing between them can be offered.
                        Next::Stop(Stop::Converged)
                    } else {
                        Next::Offer(mid)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adaptive(start: f64, max: f64, res: f64) -> Plan {
        Plan::Adaptive {
            start_rps: start,
            max_rps: max,
            growth_factor: 2.0,
            resolution_percent: res,
        }
    }

    /// Runs a search against an endpoint that passes every rate up to `capacity`.
    fn drive(plan: &Plan, capacity: f64) -> (Vec<f64>, Stop) {
        let mut history = Vec::new();
        loop {
            match next(plan, &history) {
                Next::Offer(r) => history.push(Probe {
                    offered_rps: r,
                    pass: r <= capacity,
                }),
                Next::Stop(s) => return (history.iter().map(|p| p.offered_rps).collect(), s),
            }
        }
    }

    #[test]
    fn brackets_geometrically_then_bisects_to_the_resolution() {
        let (rates, stop) = drive(&adaptive(10.0, 5000.0, 2.0), 400.0);
        assert_eq!(stop, Stop::Converged);
        assert_eq!(&rates[..7], &[10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0]);
        // Bisection: 480 f, 400 p, 440 f, 420 f, 410 f, 405 f, 402.5 f ... until within 2 %
        assert_eq!(&rates[7..10], &[480.0, 400.0, 440.0]);
        let best = rates
            .iter()
            .copied()
            .filter(|r| *r <= 400.0)
            .fold(0.0, f64::max);
        let lowest_fail = rates
            .iter()
            .copied()
            .filter(|r| *r > 400.0)
            .fold(f64::MAX, f64::min);
        assert!((lowest_fail - best) <= best * 0.02, "{rates:?}");
        assert!((400.0 * 0.98..=400.0).contains(&best));
    }

    #[test]
    fn finds_every_capacity_within_the_resolution() {
        for capacity in [3.0, 17.5, 99.0, 400.0, 1234.0, 4999.0] {
            let (rates, stop) = drive(&adaptive(1.0, 5000.0, 2.0), capacity);
            assert_eq!(stop, Stop::Converged, "capacity {capacity}: {rates:?}");
            let best = rates
                .iter()
                .copied()
                .filter(|r| *r <= capacity)
                .fold(0.0, f64::max);
            assert!(
                best >= capacity * 0.98 - 0.002,
                "capacity {capacity}: best {best}, {rates:?}"
            );
            assert!(rates.len() < 30, "{rates:?}");
        }
    }

    #[test]
    fn never_offers_above_the_cap_and_stops_when_the_cap_passes() {
        let (rates, stop) = drive(&adaptive(10.0, 100.0, 2.0), 1e9);
        assert_eq!(stop, Stop::CapReached);
        assert_eq!(rates, vec![10.0, 20.0, 40.0, 80.0, 100.0]);
        let (rates, _) = drive(&adaptive(10.0, 100.0, 2.0), 90.0);
        assert!(rates.iter().all(|r| *r <= 100.0), "{rates:?}");
    }

    #[test]
    fn a_failing_first_step_stops_the_search() {
        let (rates, stop) = drive(&adaptive(10.0, 100.0, 2.0), 5.0);
        assert_eq!(rates, vec![10.0]);
        assert_eq!(stop, Stop::FirstStepFailed);
    }

    #[test]
    fn a_failure_below_the_best_pass_does_not_break_the_bracket() {
        let plan = adaptive(10.0, 1000.0, 2.0);
        let h = [
            Probe {
                offered_rps: 10.0,
                pass: true,
            },
            Probe {
                offered_rps: 20.0,
                pass: true,
            },
            Probe {
                offered_rps: 40.0,
                pass: false,
            },
            Probe {
                offered_rps: 30.0,
                pass: true,
            },
            Probe {
                offered_rps: 35.0,
                pass: true,
            },
            Probe {
                offered_rps: 37.5,
                pass: false,
            },
            Probe {
                offered_rps: 36.25,
                pass: true,
            },
        ];
        // best pass 36.25, lowest fail above it 37.5: gap 3.4 % > 2 %, so bisect
        assert_eq!(next(&plan, &h), Next::Offer(36.875));
        let mut h2 = h.to_vec();
        h2.push(Probe {
            offered_rps: 25.0,
            pass: false,
        }); // noise below the best pass
        assert_eq!(next(&plan, &h2), Next::Offer(36.875));
    }

    #[test]
    fn walk_offers_the_list_and_stops_at_the_first_failure() {
        let plan = Plan::Walk {
            rates: vec![1.0, 2.0, 5.0, 10.0, 20.0],
            max_rps: 100.0,
        };
        let (rates, stop) = drive(&plan, 7.0);
        assert_eq!(rates, vec![1.0, 2.0, 5.0, 10.0]);
        assert_eq!(stop, Stop::WalkFailed);
        let (rates, stop) = drive(&plan, 1e9);
        assert_eq!(rates, vec![1.0, 2.0, 5.0, 10.0, 20.0]);
        assert_eq!(stop, Stop::WalkExhausted);
    }

    #[test]
    fn no_rate_above_a_failed_or_aborted_step_is_ever_offered_again() {
        // Any pattern of passes and failures (an aborted step is a failure): once a rate has
        // failed, every later offer is lower, so a broken endpoint is never pushed harder.
        let plans = [
            adaptive(1.0, 5000.0, 2.0),
            adaptive(7.0, 300.0, 0.5),
            Plan::Walk {
                rates: vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0],
                max_rps: 100.0,
            },
        ];
        let mut rng = crate::rng::Rng::new(42);
        for plan in &plans {
            for _ in 0..2000 {
                let mut history: Vec<Probe> = Vec::new();
                while let Next::Offer(r) = next(plan, &history) {
                    if let Some(lowest_fail) = history
                        .iter()
                        .filter(|p| !p.pass)
                        .map(|p| p.offered_rps)
                        .reduce(f64::min)
                    {
                        assert!(
                            r < lowest_fail,
                            "{plan:?}: offered {r} after a failure at {lowest_fail}: {history:?}"
                        );
                    }
                    history.push(Probe {
                        offered_rps: r,
                        pass: rng.next_f64() < 0.6,
                    });
                }
            }
        }
    }

    #[test]
    fn the_step_limit_stops_a_search_that_never_converges() {
        let plan = adaptive(1.0, 1e12, 1e-9);
        let (rates, stop) = drive(&plan, 1e11);
        assert_eq!(stop, Stop::TooManySteps);
        assert_eq!(rates.len(), MAX_STEPS);
    }
}
