//! Does a step meet the requirements, and if not, why not. Pure.

use crate::config::Requirements;
use crate::measure::stats::StepResult;
use crate::num::fmt_num;

/// A step whose achieved rate falls below this share of the offered rate has not passed: the
/// endpoint (or the generator) could not keep up, whatever its percentiles say.
pub const MIN_ACHIEVED_RATIO: f64 = 0.97;

/// Judges a step: `(pass, reasons)`, with one reason per unmet requirement.
pub fn judge(step: &StepResult, req: &Requirements) -> (bool, Vec<String>) {
    let mut reasons = Vec::new();
    if step.requests == 0 {
        reasons.push("no measured request completed".to_string());
        return (false, reasons);
    }
    if step.latency_ms.p99 > req.p99_ms {
        reasons.push(format!(
            "p99 {:.1} ms > {} ms",
            step.latency_ms.p99,
            fmt_num(req.p99_ms)
        ));
    }
    if step.error_percent > req.max_error_percent {
        reasons.push(format!(
            "errors {:.2}% > {}%",
            step.error_percent,
            fmt_num(req.max_error_percent)
        ));
    }
    if step.achieved_rps < step.offered_rps * MIN_ACHIEVED_RATIO {
        reasons.push(format!(
            "achieved {:.1} rps < {:.0}% of offered {:.1} rps",
            step.achieved_rps,
            MIN_ACHIEVED_RATIO * 100.0,
            step.offered_rps
        ));
    }
    (reasons.is_empty(), reasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::stats::LatencySummary;

    fn step(offered: f64, achieved: f64, p99: f64, err_pct: f64, requests: u64) -> StepResult {
        StepResult {
            offered_rps: offered,
            achieved_rps: achieved,
            duration_s: 10.0,
            requests,
            errors: (requests as f64 * err_pct / 100.0) as u64,
            error_percent: err_pct,
            errors_by_class: Default::default(),
            latency_ms: LatencySummary {
                p99,
                ..Default::default()
            },
            service_ms: LatencySummary::default(),
            pass: false,
            reasons: vec![],
            sent: requests,
            unsent: 0,
            warmup_s: 1.0,
            status_counts: Default::default(),
            original_status_counts: Default::default(),
            variants: Default::default(),
            aborted: false,
            repeat_of: None,
            recovery_s: None,
            served_rps: None,
        }
    }

    #[test]
    fn judges_each_requirement_with_a_reason() {
        let req = Requirements {
            p99_ms: 400.0,
            max_error_percent: 0.1,
            peak_tps: 100.0,
            ramp_minutes: None,
            min_tps: None,
        };
        // (step, pass, reason fragments)
        let cases: Vec<(StepResult, bool, Vec<&str>)> = vec![
            (step(100.0, 100.0, 399.0, 0.0, 1000), true, vec![]),
            (step(100.0, 100.0, 400.0, 0.1, 1000), true, vec![]),
            (
                step(100.0, 100.0, 612.0, 0.0, 1000),
                false,
                vec!["p99 612.0 ms > 400 ms"],
            ),
            (
                step(100.0, 100.0, 10.0, 0.5, 1000),
                false,
                vec!["errors 0.50% > 0.1%"],
            ),
            (step(100.0, 97.0, 10.0, 0.0, 1000), true, vec![]),
            (
                step(100.0, 96.9, 10.0, 0.0, 1000),
                false,
                vec!["achieved 96.9 rps < 97% of offered 100.0 rps"],
            ),
            (
                step(100.0, 50.0, 900.0, 5.0, 1000),
                false,
                vec!["p99 900.0 ms", "errors 5.00%", "achieved 50.0 rps"],
            ),
            (
                step(100.0, 0.0, 0.0, 0.0, 0),
                false,
                vec!["no measured request completed"],
            ),
        ];
        for (s, pass, fragments) in cases {
            let (p, reasons) = judge(&s, &req);
            assert_eq!(p, pass, "{s:?} -> {reasons:?}");
            assert_eq!(reasons.len(), fragments.len(), "{reasons:?}");
            for (r, f) in reasons.iter().zip(fragments) {
                assert!(r.contains(f), "{r:?} should contain {f:?}");
            }
        }
    }
}
