//! Does a step meet the requirements, and if not, why not. Pure.

use crate::config::Requirements;
use crate::measure::stats::{ErrorClass, StepResult, Verdict};
use crate::num::fmt_num;

/// A step whose achieved rate falls below this share of the offered rate has not passed: the
/// endpoint (or the generator) could not keep up, whatever its percentiles say.
pub const MIN_ACHIEVED_RATIO: f64 = 0.97;

/// A send lag p99 above this says the generator fell behind its own schedule (it runs about
/// 1 ms on an idle machine: the timer's tick).
pub const MAX_SEND_LAG_MS: f64 = 50.0;

/// Judges a step as pass, fail or inconclusive. A step that failed while the generator was
/// the limit (`max_concurrency` reached, or the generator behind its schedule) and whose
/// endpoint met its own part of the requirements (service time p99, errors other than
/// `not_sent`) is inconclusive: the generator's queueing made it fail, not the endpoint. Its
/// first reason names the limit and what to change. A step that passed passed with the
/// generator's queueing counted against it, so it stays a pass.
///
/// `unloaded_service_ms` is the endpoint's service time when it was not the bottleneck (see
/// [`unloaded_service_ms`]); `None` when no step has shown it yet.
pub fn decide(
    step: &StepResult,
    req: &Requirements,
    unloaded_service_ms: Option<f64>,
) -> (Verdict, Vec<String>) {
    let (pass, mut reasons) = judge(step, req);
    if pass {
        return (Verdict::Pass, reasons);
    }
    if step.requests > 0
        && endpoint_met_its_part(step, req)
        && let Some(why) = generator_limit(step, unloaded_service_ms)
    {
        reasons.insert(0, why);
        return (Verdict::Inconclusive, reasons);
    }
    (Verdict::Fail, reasons)
}

/// Whether the endpoint's own share of the requirements held: service time (from the actual
/// send) and the errors it answered with.
fn endpoint_met_its_part(step: &StepResult, req: &Requirements) -> bool {
    let not_sent = step
        .errors_by_class
        .get(ErrorClass::NotSent.name())
        .copied()
        .unwrap_or(0);
    let answered = step.requests.saturating_sub(not_sent);
    let endpoint_errors = step.errors.saturating_sub(not_sent);
    let error_percent = if answered > 0 {
        endpoint_errors as f64 * 100.0 / answered as f64
    } else {
        0.0
    };
    answered > 0
        && req.p99_limit_ms().is_none_or(|l| step.service_ms.p99 <= l)
        && error_percent <= req.max_error_percent
}

pub use crate::measure::load::CEILING_SHARE;
use crate::measure::load::slots_ceiling_rps;

/// The endpoint's unloaded service time: the lowest mean service time among the steps that
/// passed (`None` before one has). A later step's slots are judged against it.
pub fn unloaded_service_ms(steps: &[StepResult]) -> Option<f64> {
    steps
        .iter()
        .filter(|s| s.pass && s.service_ms.mean > 0.0)
        .map(|s| s.service_ms.mean)
        .min_by(f64::total_cmp)
}

/// Why the generator, not the endpoint, limited a step, and what to change; `None` when it did
/// not.
///
/// Every slot in flight is the generator's limit only when the offered rate is near what
/// `max_concurrency` slots can carry at the endpoint's *unloaded* service time (Little's law):
/// the lower of `unloaded_service_ms` and this step's own mean. An endpoint that stalls, or
/// that queues requests inside itself once saturated (a model server's worker queue: its
/// service time grows from milliseconds to the queue's length), also fills every slot, and at
/// its loaded service time `max_concurrency` slots carry just its own throughput; but at its
/// unloaded service time they carry far more than the offered rate: that is the endpoint's
/// failure, and more slots would only lengthen its queue.
pub fn generator_limit(step: &StepResult, unloaded_service_ms: Option<f64>) -> Option<String> {
    // A concurrency step holds every slot busy by design: that is its load, not a limit.
    if step.concurrency.is_some() {
        return None;
    }
    let mean_ms = unloaded_service_ms
        .filter(|u| *u > 0.0)
        .map_or(step.service_ms.mean, |u| u.min(step.service_ms.mean));
    let ceiling = slots_ceiling_rps(step.max_concurrency, mean_ms);
    if step.max_concurrency > 0
        && step.peak_in_flight >= step.max_concurrency
        && let Some(ceiling) = ceiling
        && step.offered_rps >= ceiling * CEILING_SHARE
    {
        return Some(format!(
            "inconclusive: the generator was the limit, not the endpoint: all max_concurrency = {} \
             requests were in flight and the rest waited in the generator (send lag p99 {:.1} ms); \
             at a mean service time of {:.1} ms it can send at most {:.0} rps; raise \
             [load] max_concurrency",
            step.max_concurrency, step.send_lag_ms.p99, mean_ms, ceiling
        ));
    }
    // Behind schedule with slots to spare: the machine, not the cap. (With every slot in
    // flight the lag is the queue behind them, judged above.)
    if step.peak_in_flight < step.max_concurrency && step.send_lag_ms.p99 > MAX_SEND_LAG_MS {
        return Some(format!(
            "inconclusive: the generator fell behind its schedule (send lag p99 {:.1} ms > {} ms \
             with at most {} of max_concurrency = {} in flight): run it on a faster or less busy \
             machine, or split the rate across shards",
            step.send_lag_ms.p99,
            fmt_num(MAX_SEND_LAG_MS),
            step.peak_in_flight,
            step.max_concurrency
        ));
    }
    None
}

/// Judges a step: `(pass, reasons)`, with one reason per unmet requirement.
pub fn judge(step: &StepResult, req: &Requirements) -> (bool, Vec<String>) {
    let mut reasons = Vec::new();
    if step.requests == 0 {
        reasons.push("no measured request completed".to_string());
        return (false, reasons);
    }
    if let Some(limit) = req.p99_limit_ms()
        && step.latency_ms.p99 > limit
    {
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
    stream_limits(step, req, &mut reasons);
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

/// The stream limits: p99 of TTFT, ITL and end-to-end time, and the per-request token rate
/// that 99 % of requests must reach. A streamed step without a successful stream meets none.
fn stream_limits(step: &StepResult, req: &Requirements, reasons: &mut Vec<String>) {
    if !req.has_stream_limit() {
        return;
    }
    let Some(st) = &step.stream else {
        reasons.push("no streamed answer was measured".to_string());
        return;
    };
    if st.requests == 0 {
        reasons.push("no stream completed".to_string());
        return;
    }
    for (name, limit, p99) in [
        ("TTFT", req.ttft_p99_ms, st.ttft_ms.p99),
        ("ITL", req.itl_p99_ms, st.itl_ms.p99),
        ("end-to-end", req.e2e_p99_ms, st.e2e_ms.p99),
    ] {
        if let Some(limit) = limit
            && p99 > limit
        {
            reasons.push(format!("{name} p99 {p99:.1} ms > {} ms", fmt_num(limit)));
        }
    }
    if let Some(min) = req.min_output_tokens_per_s
        && st.output_tokens_per_s_per_request.p1 < min
    {
        reasons.push(format!(
            "1% of requests got under {:.1} output tokens/s < {} (min_output_tokens_per_s)",
            st.output_tokens_per_s_per_request.p1,
            fmt_num(min)
        ));
    }
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
            ..Default::default()
        }
    }

    /// A p99 limit and an error limit, nothing else (peak_tps 100).
    fn requirements(p99_ms: f64, max_error_percent: f64) -> Requirements {
        Requirements {
            p99_ms,
            max_error_percent,
            peak_tps: 100.0,
            ramp_minutes: None,
            min_tps: None,
            ttft_p99_ms: None,
            itl_p99_ms: None,
            e2e_p99_ms: None,
            min_output_tokens_per_s: None,
            peak_concurrency: None,
        }
    }

    #[test]
    fn a_failure_caused_by_the_generator_is_inconclusive_and_names_the_limit() {
        let req = requirements(400.0, 1.0);
        // Queued behind a full max_concurrency: p99 from the intended send is high, the
        // endpoint's own service time is fine, and requests were never sent.
        let mut s = step(200.0, 80.0, 1500.0, 20.0, 1000);
        s.errors_by_class.insert("not_sent".into(), 200);
        s.errors = 200;
        s.service_ms.p50 = 100.0;
        s.service_ms.mean = 100.0;
        s.service_ms.p99 = 101.0;
        s.peak_in_flight = 8;
        s.max_concurrency = 8;
        s.send_lag_ms.p99 = 900.0;
        let (v, reasons) = decide(&s, &req, None);
        assert_eq!(v, Verdict::Inconclusive, "{reasons:?}");
        assert!(reasons[0].contains("max_concurrency"), "{reasons:?}");
        assert!(
            reasons[0].contains("80 rps"),
            "the ceiling 8 ÷ 100 ms: {reasons:?}"
        );
        // Every slot held by a stalled endpoint, far below the slots' ceiling (16 ÷ 33 ms =
        // 485 rps at 100 rps offered): the endpoint's failure, not the generator's.
        let mut stall = s.clone();
        stall.offered_rps = 100.0;
        stall.max_concurrency = 16;
        stall.peak_in_flight = 16;
        stall.send_lag_ms.p99 = 3.0;
        stall.service_ms.mean = 33.0;
        stall.service_ms.p99 = 12.0;
        assert_eq!(decide(&stall, &req, None).0, Verdict::Fail);
        // Below the cap but far behind schedule: a slow machine.
        s.peak_in_flight = 3;
        let (v, reasons) = decide(&s, &req, None);
        assert_eq!(v, Verdict::Inconclusive, "{reasons:?}");
        assert!(reasons[0].contains("faster"), "{reasons:?}");
        // The endpoint's own service time misses the limit: its failure, whatever the cap.
        s.peak_in_flight = 8;
        s.service_ms.p99 = 900.0;
        assert_eq!(decide(&s, &req, None).0, Verdict::Fail);
        // Or it answered with errors of its own.
        s.service_ms.p99 = 101.0;
        s.errors_by_class.insert("service_unavailable".into(), 100);
        s.errors = 300;
        assert_eq!(decide(&s, &req, None).0, Verdict::Fail);
        // The generator was busy but the step met everything: a pass stays a pass.
        let mut ok = step(100.0, 100.0, 10.0, 0.0, 1000);
        ok.peak_in_flight = 8;
        ok.max_concurrency = 8;
        assert_eq!(decide(&ok, &req, None).0, Verdict::Pass);
    }

    #[test]
    fn an_endpoint_queueing_inside_itself_fails_though_its_loaded_service_time_fills_the_slots() {
        let req = requirements(1000.0, 1.0);
        // Seen on MLflow's scoring server past its capacity: 6 ms unloaded, 700 ms once its
        // worker queue is full. 256 slots at 700 ms carry 366 rps, under the 400 offered, so
        // the loaded service time alone calls it the generator's limit.
        let mut s = step(400.0, 330.0, 1400.0, 0.0, 3000);
        s.service_ms.mean = 700.0;
        s.service_ms.p99 = 797.0;
        s.peak_in_flight = 256;
        s.max_concurrency = 256;
        s.send_lag_ms.p99 = 600.0;
        assert_eq!(decide(&s, &req, None).0, Verdict::Inconclusive);
        // Against the 6 ms it took when it passed, 256 slots carry 42,667 rps: the endpoint's
        // queue filled them, and the step is its failure.
        let (v, reasons) = decide(&s, &req, Some(6.0));
        assert_eq!(v, Verdict::Fail, "{reasons:?}");
        assert!(reasons[0].starts_with("p99 1400.0 ms"), "{reasons:?}");
        // A generator whose few slots are the limit stays inconclusive with the baseline: 8
        // slots at 95 ms unloaded carry 84 rps, under the 100 offered.
        let mut few = s.clone();
        few.offered_rps = 100.0;
        few.max_concurrency = 8;
        few.peak_in_flight = 8;
        few.service_ms.mean = 100.0;
        few.service_ms.p99 = 120.0;
        let (v, reasons) = decide(&few, &req, Some(95.0));
        assert_eq!(v, Verdict::Inconclusive, "{reasons:?}");
        assert!(reasons[0].contains("95.0 ms"), "{reasons:?}");
        assert!(reasons[0].contains("84 rps"), "{reasons:?}");
        // A baseline slower than the step itself does not raise the ceiling's service time.
        assert!(
            decide(&few, &req, Some(400.0)).1[0].contains("100.0 ms"),
            "the step's own 100 ms"
        );
    }

    #[test]
    fn the_unloaded_service_time_is_the_fastest_passing_steps() {
        let mut a = step(10.0, 10.0, 10.0, 0.0, 100);
        a.pass = true;
        a.service_ms.mean = 9.0;
        let mut b = a.clone();
        b.service_ms.mean = 6.5;
        let mut failed = a.clone();
        failed.pass = false;
        failed.service_ms.mean = 2.0;
        let mut empty = a.clone();
        empty.service_ms.mean = 0.0;
        assert_eq!(unloaded_service_ms(&[]), None);
        assert_eq!(unloaded_service_ms(&[failed.clone()]), None);
        assert_eq!(unloaded_service_ms(&[a, failed, empty, b]), Some(6.5));
    }

    #[test]
    fn judges_each_requirement_with_a_reason() {
        let req = requirements(400.0, 0.1);
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
