//! Which rate to offer next. Pure: the next rate is a function of the plan and the steps so
//! far, so a campaign resumed from its journal asks the same questions in the same order.
//!
//! `adaptive` grows the rate geometrically from `start_rps` while steps pass, then narrows the
//! bracket between the best pass and the lowest failure above it until they are within
//! `resolution_percent`: aimed at the capacity an overloaded step measured when there is one
//! (see [`aim`]), by bisection otherwise. With `confirm`, one noisy step cannot decide the
//! result: a failure is repeated before it bounds the search (unless a false one could not move
//! the result by more than [`CONFIRM_ABOVE_PERCENT`]), and the best pass is repeated before the
//! search stops on it; the latest measurement of a rate gives its verdict. `walk` offers an
//! explicit list and stops at the first failure (the semantics users know from perfsize).
//! Neither ever offers more than `max_rps`.

use crate::measure::stats::StepResult;

/// The search strategy of a campaign.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Adaptive {
        start_rps: f64,
        max_rps: f64,
        growth_factor: f64,
        resolution_percent: f64,
        /// Repeat a bounding failure and the best pass before trusting them.
        confirm: bool,
    },
    Walk {
        rates: Vec<f64>,
        max_rps: f64,
    },
    /// `[load] mode = "concurrency"`: double N from `start` while steps pass, then bisect the
    /// integers between the best pass and the lowest failure above it until they are adjacent;
    /// the best pass is C_max. A probe's `offered_rps` is its N. No repeats: a step at a fixed
    /// concurrency cannot be overloaded by its own backlog the way a rate step is.
    Concurrency {
        start: u32,
        max: u32,
    },
}

/// What the search needs to know of a finished step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub offered_rps: f64,
    pub pass: bool,
    /// The step (its index in the history) this step repeats.
    pub repeat_of: Option<usize>,
    /// Successful answers per second it delivered; an overloaded step's is about the
    /// endpoint's capacity.
    pub served_rps: Option<f64>,
    /// The step served steadily (no stall inside it): an overloaded steady step's
    /// `served_rps` is the capacity without a repeat to confirm it.
    pub served_steady: bool,
    /// The step measured the previous step's backlog rather than its own rate: the search
    /// ignores it (and so offers the same rate again).
    pub unjudged: bool,
    /// The generator, not the endpoint, limited the step (`max_concurrency` or the send
    /// lag): nothing above it can be measured by this generator.
    pub inconclusive: bool,
}

impl From<&StepResult> for Probe {
    fn from(s: &StepResult) -> Probe {
        Probe {
            // A concurrency step is placed by its N.
            offered_rps: s.concurrency.map_or(s.offered_rps, |n| n as f64),
            pass: s.pass,
            repeat_of: s.repeat_of,
            served_rps: s.served_rps,
            served_steady: s.served_steady,
            unjudged: s.unrecovered,
            inconclusive: s.verdict == Some(crate::measure::stats::Verdict::Inconclusive),
        }
    }
}

impl Probe {
    pub fn new(offered_rps: f64, pass: bool) -> Probe {
        Probe {
            offered_rps,
            pass,
            repeat_of: None,
            served_rps: None,
            served_steady: false,
            unjudged: false,
            inconclusive: false,
        }
    }
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
    /// A step was inconclusive: the generator was the limit, and no MAX_RPS can be given.
    GeneratorBound,
    /// Concurrency: the best pass and the lowest failure above it are adjacent integers.
    ConcurrencyConverged,
    /// Concurrency: `max_concurrency` itself passed.
    ConcurrencyCapReached,
    /// Concurrency: the first N tried failed and none below it is left (N = 1 failed).
    ConcurrencyFirstFailed,
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
            Stop::GeneratorBound => {
                "the knee is generator-bound: a step was inconclusive; no MAX_RPS is given"
            }
            Stop::ConcurrencyConverged => {
                "C_max found: the highest passing concurrency is one below the lowest failing one"
            }
            Stop::ConcurrencyCapReached => {
                "max_concurrency passed; raise [load] max_concurrency to look higher"
            }
            Stop::ConcurrencyFirstFailed => {
                "one request at a time already failed; relax the requirements or check the endpoint"
            }
        }
    }
}

/// The search's answer: offer this rate next, or stop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    Offer(f64),
    /// Offer again the rate of this step (its index in the history), to confirm its verdict.
    Repeat(usize),
    Stop(Stop),
}

/// With `confirm`, a failure is repeated before it bounds the search unless the next failure
/// above it is within this of the best pass: then a false failure cannot move the result by more.
pub const CONFIRM_ABOVE_PERCENT: f64 = 5.0;

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
    // An inconclusive step is not the endpoint's failure, and nothing above it can be measured
    // by this generator: the search ends there.
    if history.iter().any(|p| p.inconclusive) {
        return Next::Stop(Stop::GeneratorBound);
    }
    match plan {
        Plan::Concurrency { start, max } => next_concurrency(*start, *max, history),
        Plan::Walk { rates, max_rps } => {
            let judged = history.iter().filter(|p| !p.unjudged);
            if judged.clone().any(|p| !p.pass) {
                return Next::Stop(Stop::WalkFailed);
            }
            match rates.get(judged.count()) {
                Some(r) => Next::Offer(r.min(*max_rps)),
                None => Next::Stop(Stop::WalkExhausted),
            }
        }
        Plan::Adaptive {
            start_rps,
            max_rps,
            growth_factor,
            resolution_percent,
            confirm,
        } => {
            if history.iter().all(|p| p.unjudged) {
                return Next::Offer(tidy(start_rps.min(*max_rps)));
            }
            let v = Verdicts::of(history);
            let unconfirmed = |i: usize| *confirm && !v.settled[i];
            let Some((lo_i, lo)) = v.best_pass() else {
                // Every step failed: the search ran only its first step (and perhaps its repeat).
                return if unconfirmed(0) {
                    Next::Repeat(0)
                } else {
                    Next::Stop(Stop::FirstStepFailed)
                };
            };
            // The best pass is confirmed before the search stops on it.
            let stop_on = |stop: Stop| {
                if unconfirmed(lo_i) {
                    Next::Repeat(lo_i)
                } else {
                    Next::Stop(stop)
                }
            };
            // A failure below the best pass is noise; the bracket is above the best pass.
            match v.lowest_fail_above(lo) {
                None => {
                    if lo >= *max_rps {
                        stop_on(Stop::CapReached)
                    } else {
                        Next::Offer(tidy((lo * growth_factor).min(*max_rps)))
                    }
                }
                Some((hi_i, hi)) => {
                    let capacity = capacity_estimate(history, &v, *confirm, lo);
                    // A false failure here can cost at most the distance from the best pass to
                    // the failure above this one (or to the capacity an overloaded step
                    // measured, above which nothing passes): confirm it unless that is small.
                    let above = v
                        .lowest_fail_above(hi)
                        .map_or(f64::INFINITY, |(_, r)| r)
                        .min(capacity.unwrap_or(f64::INFINITY));
                    let res = resolution_percent / 100.0;
                    let converged = (hi - lo) <= lo * res;
                    // A steadily overloaded failure far above the best pass is confirmed only
                    // if the search comes to stop on it: the search aims below the capacity it
                    // measured, and a lower failure usually takes over as the bound first.
                    let deferred = !converged && overloaded(&history[hi_i], true);
                    if unconfirmed(hi_i)
                        && !deferred
                        && above > lo * (1.0 + CONFIRM_ABOVE_PERCENT / 100.0)
                    {
                        return Next::Repeat(hi_i);
                    }
                    if converged {
                        return stop_on(Stop::Converged);
                    }
                    let mid = tidy((lo + hi) / 2.0);
                    // Aim a resolution below the capacity: latency rises before throughput
                    // saturates, and a knee found from below needs no step back down.
                    let aimed = capacity.map(|c| aim(lo, hi, c * (1.0 - res), res));
                    match aimed.filter(|r| *r > lo && *r < hi) {
                        Some(r) => Next::Offer(r),
                        None if mid <= lo || mid >= hi => {
                            // Rounding closed the gap: nothing between them can be offered.
                            stop_on(Stop::Converged)
                        }
                        None => Next::Offer(mid),
                    }
                }
            }
        }
    }
}

/// The concurrency search: integers only, doubling then bisecting; the latest step at an N
/// gives its verdict.
fn next_concurrency(start: u32, max: u32, history: &[Probe]) -> Next {
    let max = max.max(1);
    let start = start.clamp(1, max);
    if history.iter().all(|p| p.unjudged) {
        return Next::Offer(f64::from(start));
    }
    // The latest verdict of each N tried.
    let mut verdicts: std::collections::BTreeMap<u32, bool> = Default::default();
    for p in history.iter().filter(|p| !p.unjudged) {
        verdicts.insert(p.offered_rps.round().max(0.0) as u32, p.pass);
    }
    let best = verdicts
        .iter()
        .filter(|(_, pass)| **pass)
        .map(|(n, _)| *n)
        .max();
    let fail_above = |lo: u32| {
        verdicts
            .iter()
            .filter(|(n, pass)| !**pass && **n > lo)
            .map(|(n, _)| *n)
            .min()
    };
    match best {
        None => {
            // Nothing passed yet: bisect down towards 1.
            let lowest_fail = verdicts.keys().next().copied().unwrap_or(start);
            if lowest_fail <= 1 {
                Next::Stop(Stop::ConcurrencyFirstFailed)
            } else {
                Next::Offer(f64::from(lowest_fail / 2))
            }
        }
        Some(lo) => match fail_above(lo) {
            None if lo >= max => Next::Stop(Stop::ConcurrencyCapReached),
            None => Next::Offer(f64::from(lo.saturating_mul(2).min(max))),
            Some(hi) if hi - lo <= 1 => Next::Stop(Stop::ConcurrencyConverged),
            Some(hi) => Next::Offer(f64::from(lo + (hi - lo) / 2)),
        },
    }
}

/// A failing step that delivered less than this share of its offered rate was overloaded: what
/// it served is about the endpoint's capacity.
pub const OVERLOADED_BELOW: f64 = 0.9;

/// Whether a failing step was overloaded: it served less than [`OVERLOADED_BELOW`] of its
/// offered rate (and, with `steady`, served it steadily: no stall inside it).
fn overloaded(p: &Probe, steady: bool) -> bool {
    !p.pass
        && (!steady || p.served_steady)
        && p.served_rps
            .is_some_and(|s| s > 0.0 && s < p.offered_rps * OVERLOADED_BELOW)
}

/// The endpoint's capacity as the overloaded failing steps measured it (the highest, as a
/// disturbance only ever lowers what a step delivers). With `confirm`, a step counts only if
/// it served steadily or a repeat confirmed its rate's failure: a stall also makes a step fail
/// and serve less than offered, and its low figure must neither aim the search nor excuse a
/// failure from its repeat. An unconfirmed steady figure well below `best_pass` (a rate that
/// passed; a step's served rate reads a little under what it was offered) contradicts itself
/// and does not count either.
fn capacity_estimate(
    history: &[Probe],
    v: &Verdicts,
    confirm: bool,
    best_pass: f64,
) -> Option<f64> {
    history
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            let o = v.original(*i);
            overloaded(p, false)
                && v.counts[o] == Some(false)
                && (!confirm
                    || v.settled[o]
                    || (p.served_steady
                        && p.served_rps
                            .is_some_and(|s| s > best_pass * OVERLOADED_BELOW)))
        })
        .filter_map(|(_, p)| p.served_rps)
        .reduce(f64::max)
}

/// The next rate inside the bracket (`lo`, `hi`) when the capacity is estimated: first just
/// below the estimate (`guess`); then away from it in steps that double from the resolution —
/// up while rates pass, down while they fail — and bisection once both sides are known. Up to
/// four resolutions above the capacity itself it climbs one resolution at a time: a knee there
/// is a short step outlasting a small backlog, never far above. On an endpoint whose knee is
/// its capacity, the search ends within a step or two of the guess.
fn aim(lo: f64, hi: f64, guess: f64, res: f64) -> f64 {
    let mid = (lo + hi) / 2.0;
    let near = guess * res / 4.0;
    let capacity = guess / (1.0 - res);
    let next = if lo >= capacity && lo < capacity * (1.0 + 4.0 * res) {
        // A pass at or just above the measured capacity: a short step can pass a little over
        // what the endpoint sustains, but not much. One resolution up settles it.
        (lo * (1.0 + res * 0.99)).min(mid)
    } else if lo >= guess - near {
        // The guess passed: climb.
        let d = (lo / guess - 1.0).max(0.0);
        (guess * (1.0 + 2.0 * d + res * 0.99)).min(mid)
    } else if hi <= guess + near {
        // The guess failed: descend.
        let d = (1.0 - hi / guess).max(0.0);
        (guess * (1.0 - 2.0 * d - res * 0.99)).max(mid)
    } else {
        guess
    };
    tidy(next)
}

/// Which steps' passes stand: a pass at a rate whose latest measurement (the step or a repeat
/// of it) also passed. A pass overruled by a failed repeat does not count towards MAX_RPS.
pub fn standing_passes(history: &[Probe]) -> Vec<bool> {
    let v = Verdicts::of(history);
    history
        .iter()
        .enumerate()
        .map(|(i, p)| p.pass && v.counts[v.original(i)] == Some(true))
        .collect()
}

/// What the steps so far say of each rate offered. A step that is not a repeat opens a rate;
/// its repeats point back at it. The rate's verdict is its latest measurement's; it is settled
/// once its last two measurements agree or it has been measured three times (a third
/// measurement only follows two that disagree, so it is the majority too).
struct Verdicts<'a> {
    history: &'a [Probe],
    /// Per step: the rate's verdict for steps that open a rate, `None` for repeats.
    counts: Vec<Option<bool>>,
    settled: Vec<bool>,
}

impl<'a> Verdicts<'a> {
    fn of(history: &'a [Probe]) -> Verdicts<'a> {
        let n = history.len();
        let mut measured: Vec<Vec<bool>> = vec![Vec::new(); n];
        for (i, p) in history.iter().enumerate() {
            if p.unjudged {
                continue;
            }
            let o = match p.repeat_of {
                Some(o) if o < i && history[o].repeat_of.is_none() => o,
                _ => i,
            };
            measured[o].push(p.pass);
        }
        let counts = measured.iter().map(|m| m.last().copied()).collect();
        let settled = measured
            .iter()
            .map(|m| m.len() >= 3 || (m.len() == 2 && m[0] == m[1]))
            .collect();
        Verdicts {
            history,
            counts,
            settled,
        }
    }

    /// The step that opened the rate step `i` measured.
    fn original(&self, i: usize) -> usize {
        match self.history[i].repeat_of {
            Some(o) if o < i && self.history[o].repeat_of.is_none() => o,
            _ => i,
        }
    }

    fn rates(&self, pass: bool) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(move |(_, c)| **c == Some(pass))
            .map(|(i, _)| (i, self.history[i].offered_rps))
    }

    fn best_pass(&self) -> Option<(usize, f64)> {
        self.rates(true)
            .reduce(|a, b| if b.1 > a.1 { b } else { a })
    }

    fn lowest_fail_above(&self, lo: f64) -> Option<(usize, f64)> {
        self.rates(false)
            .filter(|(_, r)| *r > lo)
            .reduce(|a, b| if b.1 < a.1 { b } else { a })
    }
}

#[cfg(test)]
mod concurrency_tests {
    use super::*;

    /// Runs the concurrency search against an endpoint that passes up to `c_max`.
    fn search(start: u32, max: u32, c_max: u32) -> (Vec<u32>, Stop) {
        let plan = Plan::Concurrency { start, max };
        let mut history = Vec::new();
        loop {
            match next(&plan, &history) {
                Next::Offer(n) => {
                    assert_eq!(n.fract(), 0.0, "integer concurrency");
                    history.push(Probe::new(n, n as u32 <= c_max));
                }
                Next::Repeat(_) => panic!("the concurrency search does not repeat"),
                Next::Stop(s) => {
                    return (history.iter().map(|p| p.offered_rps as u32).collect(), s);
                }
            }
        }
    }

    #[test]
    fn finds_every_c_max_exactly_by_doubling_then_bisecting() {
        for c_max in 1..=70 {
            let (tried, stop) = search(1, 256, c_max);
            let best = tried.iter().filter(|n| **n <= c_max).max().copied();
            assert_eq!(best, Some(c_max), "tried {tried:?}");
            assert_eq!(stop, Stop::ConcurrencyConverged, "tried {tried:?}");
            assert!(
                tried.contains(&(c_max + 1)),
                "the failure above is measured"
            );
            assert!(tried.len() <= 16, "{} steps for {c_max}", tried.len());
        }
        assert_eq!(search(1, 256, 5).0, vec![1, 2, 4, 8, 6, 5]);
    }

    #[test]
    fn stops_at_the_cap_and_bisects_down_from_a_failing_start() {
        let (tried, stop) = search(1, 12, 100);
        assert_eq!(tried, vec![1, 2, 4, 8, 12]);
        assert_eq!(stop, Stop::ConcurrencyCapReached);
        let (tried, stop) = search(16, 64, 3);
        assert_eq!(tried, vec![16, 8, 4, 2, 3]);
        assert_eq!(stop, Stop::ConcurrencyConverged);
        let (tried, stop) = search(4, 64, 0);
        assert_eq!(tried, vec![4, 2, 1]);
        assert_eq!(stop, Stop::ConcurrencyFirstFailed);
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
            confirm: false,
        }
    }

    fn confirming(start: f64, max: f64, res: f64) -> Plan {
        Plan::Adaptive {
            start_rps: start,
            max_rps: max,
            growth_factor: 2.0,
            resolution_percent: res,
            confirm: true,
        }
    }

    /// Runs a search; `verdict(k, rate)` is the verdict of the k-th step taken (from 0).
    fn drive_with(plan: &Plan, mut verdict: impl FnMut(usize, f64) -> bool) -> (Vec<Probe>, Stop) {
        let mut history: Vec<Probe> = Vec::new();
        loop {
            let (rate, repeat_of) = match next(plan, &history) {
                Next::Offer(r) => (r, None),
                Next::Repeat(i) => (history[i].offered_rps, Some(i)),
                Next::Stop(s) => return (history, s),
            };
            let pass = verdict(history.len(), rate);
            history.push(Probe {
                offered_rps: rate,
                pass,
                repeat_of,
                served_rps: None,
                served_steady: false,
                unjudged: false,
                inconclusive: false,
            });
        }
    }

    /// The result a campaign would recommend from: the best standing pass.
    fn result(history: &[Probe]) -> Option<f64> {
        history
            .iter()
            .zip(standing_passes(history))
            .filter(|(_, s)| *s)
            .map(|(p, _)| p.offered_rps)
            .reduce(f64::max)
    }

    /// Runs a search against an endpoint that passes every rate up to `capacity`.
    fn drive(plan: &Plan, capacity: f64) -> (Vec<f64>, Stop) {
        let (history, stop) = drive_with(plan, |_, r| r <= capacity);
        (history.iter().map(|p| p.offered_rps).collect(), stop)
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
            Probe::new(10.0, true),
            Probe::new(20.0, true),
            Probe::new(40.0, false),
            Probe::new(30.0, true),
            Probe::new(35.0, true),
            Probe::new(37.5, false),
            Probe::new(36.25, true),
        ];
        // best pass 36.25, lowest fail above it 37.5: gap 3.4 % > 2 %, so bisect
        assert_eq!(next(&plan, &h), Next::Offer(36.875));
        let mut h2 = h.to_vec();
        h2.push(Probe::new(25.0, false)); // noise below the best pass
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
                    history.push(Probe::new(r, rng.next_f64() < 0.6));
                }
            }
        }
    }

    #[test]
    fn with_confirm_no_rate_above_a_standing_failure_is_ever_offered() {
        // A failure stands unless a repeat of it passed; repeats offer the same rate again.
        let mut rng = crate::rng::Rng::new(7);
        for plan in [confirming(1.0, 5000.0, 2.0), confirming(7.0, 300.0, 0.5)] {
            for _ in 0..2000 {
                let mut history: Vec<Probe> = Vec::new();
                loop {
                    let (r, repeat_of) = match next(&plan, &history) {
                        Next::Offer(r) => (r, None),
                        Next::Repeat(i) => {
                            assert!(history[i].repeat_of.is_none(), "{history:?}");
                            (history[i].offered_rps, Some(i))
                        }
                        Next::Stop(_) => break,
                    };
                    let v = Verdicts::of(&history);
                    if repeat_of.is_none()
                        && let Some(lowest) = v.rates(false).map(|(_, f)| f).reduce(f64::min)
                    {
                        assert!(r < lowest, "offered {r} above {lowest}: {history:?}");
                    }
                    history.push(Probe {
                        offered_rps: r,
                        pass: rng.next_f64() < 0.6,
                        repeat_of,
                        served_rps: None,
                        served_steady: false,
                        unjudged: false,
                        inconclusive: false,
                    });
                }
                assert!(history.len() <= MAX_STEPS);
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

    #[test]
    fn confirm_repeats_the_bounding_failures_and_the_best_pass_once() {
        // (capacity, the steps taken as (rate, repeat of step k)): a deterministic endpoint, so
        // every repeat agrees with its step.
        type Steps = Vec<(f64, Option<usize>)>;
        let cases: Vec<(f64, Steps)> = vec![
            (
                400.0,
                vec![
                    (10.0, None),
                    (20.0, None),
                    (40.0, None),
                    (80.0, None),
                    (160.0, None),
                    (320.0, None),
                    (640.0, None),
                    (640.0, Some(6)),
                    (480.0, None),
                    (480.0, Some(8)),
                    (400.0, None),
                    (440.0, None),
                    (440.0, Some(11)),
                    (420.0, None),
                    // 420 failed with the next failure (440) more than 5 % above the best
                    // pass (400): a false failure at 420 could cost 9 %, so it is confirmed
                    (420.0, Some(13)),
                    (410.0, None),
                    (405.0, None),
                    // converged: the best pass is confirmed before the search stops on it
                    (400.0, Some(10)),
                ],
            ),
            // the first step fails twice: the search stops
            (5.0, vec![(10.0, None), (10.0, Some(0))]),
        ];
        for (capacity, want) in cases {
            let (h, _) = drive_with(&confirming(10.0, 5000.0, 2.0), |_, r| r <= capacity);
            let got: Steps = h.iter().map(|p| (p.offered_rps, p.repeat_of)).collect();
            assert_eq!(got, want, "capacity {capacity}");
        }
        // A cap that passes is confirmed too.
        let (h, stop) = drive_with(&confirming(10.0, 100.0, 2.0), |_, _| true);
        assert_eq!(stop, Stop::CapReached);
        assert_eq!(
            h.last().map(|p| (p.offered_rps, p.repeat_of)),
            Some((100.0, Some(4)))
        );
        // Without confirm nothing is repeated.
        let (h, _) = drive_with(&adaptive(10.0, 5000.0, 2.0), |_, r| r <= 400.0);
        assert!(h.iter().all(|p| p.repeat_of.is_none()));
    }

    #[test]
    fn a_repeat_decides_its_rate() {
        let plan = confirming(10.0, 1000.0, 2.0);
        let p = |r: f64, pass: bool, repeat_of: Option<usize>| Probe {
            offered_rps: r,
            pass,
            repeat_of,
            served_rps: None,
            served_steady: false,
            unjudged: false,
            inconclusive: false,
        };
        // (history, next): a failure is repeated at once; a passing repeat lets the search go on
        // above it; a failing repeat of the best pass sends the search below it.
        let cases: Vec<(Vec<Probe>, Next)> = vec![
            (vec![p(10.0, false, None)], Next::Repeat(0)),
            (
                vec![p(10.0, false, None), p(10.0, true, Some(0))],
                Next::Offer(20.0),
            ),
            (
                vec![p(10.0, false, None), p(10.0, false, Some(0))],
                Next::Stop(Stop::FirstStepFailed),
            ),
            (
                vec![p(10.0, true, None), p(20.0, false, None)],
                Next::Repeat(1),
            ),
            (
                vec![
                    p(10.0, true, None),
                    p(20.0, false, None),
                    p(20.0, true, Some(1)),
                ],
                Next::Offer(40.0),
            ),
            (
                vec![
                    p(10.0, true, None),
                    p(20.0, true, None),
                    p(40.0, false, None),
                    p(40.0, false, Some(2)),
                    p(30.0, true, None),
                    p(35.0, false, None),
                    p(35.0, false, Some(5)),
                    p(32.5, true, None),
                    p(33.75, false, None),
                    p(33.75, false, Some(8)),
                    p(33.125, true, None),
                ],
                // 33.125 – 33.75 is within 2 %: confirm the best pass
                Next::Repeat(10),
            ),
            (
                vec![
                    p(10.0, true, None),
                    p(20.0, true, None),
                    p(40.0, false, None),
                    p(40.0, false, Some(2)),
                    p(30.0, true, None),
                    p(35.0, false, None),
                    p(35.0, false, Some(5)),
                    p(32.5, true, None),
                    p(33.75, false, None),
                    p(33.75, false, Some(8)),
                    p(33.125, true, None),
                    p(33.125, false, Some(10)),
                ],
                // the repeat failed: 32.5 – 33.125 is within 2 % and 32.5 is unconfirmed
                Next::Repeat(7),
            ),
            // a rate whose repeat disagreed is measured a third time before the search stops
            // on it
            (
                vec![
                    p(10.0, true, None),
                    p(20.0, false, None),
                    p(20.0, true, Some(1)),
                    p(20.4, false, None),
                    p(20.4, false, Some(3)),
                ],
                Next::Repeat(1),
            ),
        ];
        for (h, want) in cases {
            assert_eq!(next(&plan, &h), want, "{h:?}");
        }
        // standing passes: a pass overruled by its failed repeat does not count
        let h = [
            p(10.0, true, None),
            p(20.0, true, None),
            p(20.0, false, Some(1)),
        ];
        assert_eq!(standing_passes(&h), vec![true, false, false]);
        assert_eq!(result(&h), Some(10.0));
    }

    #[test]
    fn one_wrong_verdict_anywhere_moves_the_result_by_at_most_5_percent() {
        // A transient disturbance (a stall: a step that should pass fails) or a lucky step (one
        // that should fail passes), at every position of the search in turn.
        for capacity in [3.0, 17.5, 99.0, 400.0, 1234.0, 4999.0] {
            for start in [1.0, 10.0] {
                if start > capacity {
                    continue;
                }
                let plan = confirming(start, 5000.0, 2.0);
                let (clean, _) = drive_with(&plan, |_, r| r <= capacity);
                let want = result(&clean).unwrap();
                assert!(want >= capacity * 0.98 - 0.002, "{capacity}: {clean:?}");
                for k in 0..clean.len() + 4 {
                    let (h, stop) = drive_with(&plan, |i, r| (r <= capacity) != (i == k));
                    let got = result(&h).unwrap_or(0.0);
                    assert!(
                        (got - want).abs() <= want * 0.05 && got <= capacity,
                        "capacity {capacity}, start {start}, step {k} flipped: {got} vs {want}, {stop:?}, {h:?}"
                    );
                }
            }
        }
    }

    /// An endpoint of capacity `capacity` whose knee is its capacity: a failing step above it
    /// serves the capacity (overloaded), one at or just above it about what it was offered.
    fn endpoint(capacity: f64) -> impl FnMut(usize, f64) -> (bool, Option<f64>) {
        move |_, r| (r <= capacity, Some(r.min(capacity)))
    }

    /// Drives the search with `step` (step index, rate) → (pass, served rps). A step that
    /// served something served it steadily unless `step` says otherwise through
    /// [`drive_stalled`].
    fn drive_served(
        plan: &Plan,
        mut step: impl FnMut(usize, f64) -> (bool, Option<f64>),
    ) -> (Vec<Probe>, Stop) {
        drive_stalled(plan, |i, r| {
            let (pass, served) = step(i, r);
            (pass, served, served.is_some())
        })
    }

    /// Like [`drive_served`], `step` also saying whether the step served steadily.
    fn drive_stalled(
        plan: &Plan,
        mut step: impl FnMut(usize, f64) -> (bool, Option<f64>, bool),
    ) -> (Vec<Probe>, Stop) {
        let mut history: Vec<Probe> = Vec::new();
        loop {
            let (rate, repeat_of) = match next(plan, &history) {
                Next::Offer(r) => (r, None),
                Next::Repeat(i) => (history[i].offered_rps, Some(i)),
                Next::Stop(s) => return (history, s),
            };
            let (pass, served_rps, served_steady) = step(history.len(), rate);
            history.push(Probe {
                offered_rps: rate,
                pass,
                repeat_of,
                served_rps,
                served_steady,
                unjudged: false,
                inconclusive: false,
            });
        }
    }

    #[test]
    fn aiming_at_the_measured_capacity_finds_the_knee_in_at_most_12_steps_repeats_included() {
        // start_rps 1, growth 4, resolution 2 %, confirm: the default campaign.
        let plan = Plan::Adaptive {
            start_rps: 1.0,
            max_rps: 5000.0,
            growth_factor: 4.0,
            resolution_percent: 2.0,
            confirm: true,
        };
        for capacity in [17.5, 99.0, 400.0, 1234.0, 3000.0] {
            // the measured capacity may be a few percent off either way
            for error in [0.97, 1.0, 1.03] {
                let (h, stop) = drive_served(&plan, |_, r| {
                    (r <= capacity, Some((r.min(capacity * error)).min(r)))
                });
                let got = result(&h).unwrap();
                assert_eq!(stop, Stop::Converged, "{capacity}: {h:?}");
                assert!(
                    got >= capacity * 0.98 - 0.002 && got <= capacity,
                    "capacity {capacity} × {error}: {got}, {h:?}"
                );
                if capacity == 400.0 {
                    assert!(h.len() <= 12, "{} steps: {h:?}", h.len());
                }
            }
        }
        // Without a capacity estimate (no step was overloaded) it bisects as before.
        let (h, _) = drive_served(&plan, |_, r| (r <= 400.0, None));
        assert!(h.len() > 12, "{h:?}");
        let (h, _) = drive_served(&plan, endpoint(400.0));
        assert!(h.len() <= 12, "{h:?}");
    }

    #[test]
    fn one_stalled_step_anywhere_moves_the_aimed_result_by_at_most_5_percent() {
        // A stalled step fails and serves half what it was offered, as if overloaded.
        for capacity in [17.5, 99.0, 400.0, 1234.0] {
            let plan = Plan::Adaptive {
                start_rps: 1.0,
                max_rps: 5000.0,
                growth_factor: 4.0,
                resolution_percent: 2.0,
                confirm: true,
            };
            let (clean, _) = drive_served(&plan, endpoint(capacity));
            let want = result(&clean).unwrap();
            for k in 0..clean.len() + 4 {
                let mut ok = endpoint(capacity);
                let (h, _) = drive_stalled(&plan, |i, r| {
                    if i == k {
                        (false, Some(r * 0.5), false)
                    } else {
                        let (pass, served) = ok(i, r);
                        (pass, served, served.is_some())
                    }
                });
                let got = result(&h).unwrap_or(0.0);
                assert!(
                    (got - want).abs() <= want * 0.05,
                    "capacity {capacity}, step {k} stalled: {got} vs {want}, {h:?}"
                );
            }
        }
    }

    #[test]
    fn a_steadily_overloaded_failure_aims_at_once_and_is_confirmed_only_if_it_bounds_the_end() {
        let plan = confirming(1.0, 5000.0, 2.0);
        let pass = |r: f64| Probe::new(r, true);
        let overloaded = |r: f64, served: f64, steady: bool| Probe {
            served_rps: Some(served),
            served_steady: steady,
            ..Probe::new(r, false)
        };
        // Steady: no repeat, the next rate is aimed just below what it served.
        let h = [pass(256.0), overloaded(1024.0, 390.0, true)];
        assert_eq!(next(&plan, &h), Next::Offer(382.2));
        // Not steady (a stall inside it): repeated first, as before.
        let h = [pass(256.0), overloaded(1024.0, 390.0, false)];
        assert_eq!(next(&plan, &h), Next::Repeat(1));
        // The search converged on it after all (its figure, below a rate that passed, was
        // wrong): it is repeated before the end.
        let h = [pass(1000.0), overloaded(1015.0, 390.0, true)];
        assert_eq!(next(&plan, &h), Next::Repeat(1));
    }

    #[test]
    fn an_unjudged_step_is_ignored_so_its_rate_is_offered_again() {
        let unjudged = |r: f64| Probe {
            unjudged: true,
            ..Probe::new(r, false)
        };
        let plan = confirming(10.0, 1000.0, 2.0);
        let mut h = vec![Probe::new(10.0, true), Probe::new(20.0, true)];
        let want = next(&plan, &h);
        assert_eq!(want, Next::Offer(40.0));
        h.push(unjudged(40.0));
        assert_eq!(next(&plan, &h), want);
        // Its failure bounds nothing: no rate below it is aimed at or bisected to.
        h.push(Probe::new(40.0, true));
        assert_eq!(next(&plan, &h), Next::Offer(80.0));
        // An unjudged first step: the search starts again.
        assert_eq!(next(&plan, &[unjudged(10.0)]), Next::Offer(10.0));
        // A walk offers the same listed rate again.
        let walk = Plan::Walk {
            rates: vec![5.0, 10.0, 20.0],
            max_rps: 100.0,
        };
        let h = [Probe::new(5.0, true), unjudged(10.0)];
        assert_eq!(next(&walk, &h), Next::Offer(10.0));
    }

    #[test]
    fn an_inconclusive_step_ends_the_search_as_generator_bound() {
        let inconclusive = Probe {
            inconclusive: true,
            ..Probe::new(80.0, false)
        };
        for plan in [
            confirming(10.0, 1000.0, 2.0),
            Plan::Walk {
                rates: vec![10.0, 80.0, 160.0],
                max_rps: 1000.0,
            },
        ] {
            let h = [Probe::new(10.0, true), inconclusive];
            assert_eq!(next(&plan, &h), Next::Stop(Stop::GeneratorBound));
        }
    }

    #[test]
    fn a_stalled_step_that_served_little_is_still_repeated() {
        // 200 rps stalled: it failed and served 40 rps, less than the 50 rps that passed.
        let plan = confirming(50.0, 5000.0, 2.0);
        let h = [
            Probe {
                served_rps: Some(50.0),
                ..Probe::new(50.0, true)
            },
            Probe {
                served_rps: Some(40.0),
                ..Probe::new(200.0, false)
            },
        ];
        assert_eq!(next(&plan, &h), Next::Repeat(1));
    }

    #[test]
    fn a_knee_below_the_capacity_is_found_by_stepping_down_from_the_estimate() {
        // p99 limits the endpoint at 300 rps though it serves 400.
        let plan = confirming(1.0, 5000.0, 2.0);
        for knee in [300.0, 380.0, 395.0] {
            let (h, stop) = drive_served(&plan, |_, r| (r <= knee, Some(r.min(400.0))));
            assert_eq!(stop, Stop::Converged);
            let got = result(&h).unwrap();
            assert!(
                got >= knee * 0.98 - 0.002 && got <= knee,
                "{knee}: {got} {h:?}"
            );
        }
    }
}
