//! The plain-text summary printed on stdout at the end of a run: one row per step, then the
//! recommendation.

use std::fmt::Write;

use super::Report;
use crate::measure::stats::{StepResult, Verdict};

/// A step's result column: its verdict, the step it repeats, and why it did not pass.
fn result(s: &StepResult) -> String {
    let repeat = s
        .repeat_of
        .map(|r| format!(" (repeat of #{})", r + 1))
        .unwrap_or_default();
    if s.pass {
        format!("pass{repeat}")
    } else if s.verdict == Some(Verdict::Inconclusive) {
        format!("INCONCLUSIVE{repeat}: {}", s.reasons.join("; "))
    } else {
        format!("FAIL{repeat}: {}", s.reasons.join("; "))
    }
}

/// The step table and the recommendation, as printed at the end of `run` and `demo`.
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>4}  {:>10}  {:>10}  {:>9}  {:>9}  {:>8}  result",
        "step", "offered", "achieved", "p50 ms", "p99 ms", "errors"
    );
    for (i, s) in report.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:>4}  {:>10.1}  {:>10.1}  {:>9.1}  {:>9.1}  {:>7.2}%  {}",
            i + 1,
            s.offered_rps,
            s.achieved_rps,
            s.latency_ms.p50,
            s.latency_ms.p99,
            s.error_percent,
            result(s)
        );
    }
    if report.steps.iter().any(|s| s.stream.is_some()) {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:>4}  {:>11}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>10}  {:>8}",
            "step",
            "concurrency",
            "TTFT p50",
            "TTFT p99",
            "ITL p50",
            "ITL p99",
            "gap p99",
            "e2e p99",
            "tokens/s",
            "goodput"
        );
        for (i, s) in report.steps.iter().enumerate() {
            let Some(st) = &s.stream else { continue };
            let _ = writeln!(
                out,
                "{:>4}  {:>11}  {:>9.1}  {:>9.1}  {:>9.1}  {:>9.1}  {:>9.1}  {:>9.1}  {:>10.1}  {:>8.2}",
                i + 1,
                s.concurrency.map(|n| n.to_string()).unwrap_or_default(),
                st.ttft_ms.p50,
                st.ttft_ms.p99,
                st.itl_ms.p50,
                st.itl_ms.p99,
                st.gap_ms.p99,
                st.e2e_ms.p99,
                st.output_tokens_per_s,
                st.goodput_rps
            );
        }
        let _ = writeln!(
            out,
            "(milliseconds from the intended send time; ITL = (last − first token) ÷ (tokens − 1); goodput in requests/s)"
        );
    }
    let _ = writeln!(out);
    if let Some(c) = report.max_concurrency_per_instance {
        let _ = writeln!(
            out,
            "C_max per instance: {c} concurrent requests (the highest concurrency that met every requirement)"
        );
    }
    if report.partial {
        let _ = writeln!(out, "Partial report: {}", report.stop_reason);
    } else if !report.stop_reason.is_empty() {
        let _ = writeln!(out, "Search stopped: {}", report.stop_reason);
    }
    match &report.recommendation {
        Some(r) => {
            let _ = writeln!(out, "Recommendation for {}:", r.instance_type);
            if let Some(k) = &r.concurrency {
                let one = k.unit.word();
                let _ = writeln!(
                    out,
                    "  C_max per {one:<13}{}  ({} requests/s, {} output tokens/s at C_max)",
                    k.max_concurrency_per_instance,
                    k.rps_per_instance,
                    k.output_tokens_per_s_per_instance
                );
                let _ = writeln!(
                    out,
                    "  TargetValue            {}  ({}, 10-s datapoints)",
                    k.target_value, k.metric
                );
            } else {
                let _ = writeln!(out, "  MAX_RPS per instance   {}", r.max_rps_per_instance);
                let _ = writeln!(
                    out,
                    "  invocations_target     {}  (SageMakerVariantInvocationsPerInstance, per minute)",
                    r.invocations_target
                );
            }
            let _ = writeln!(out, "  min_instances          {}", r.min_instances);
            let _ = writeln!(out, "  max_instances          {}", r.max_instances);
            if let Some(c) = &r.cost {
                let _ = writeln!(
                    out,
                    "  cost                   ${:.3}/h at min, ${:.3}/h at max, ${:.4} per million inferences",
                    c.hourly_usd_min, c.hourly_usd_max, c.usd_per_million
                );
                if let Some(t) = c.usd_per_million_output_tokens {
                    let _ = writeln!(out, "  cost per million output tokens ${t:.4}");
                }
            }
            for e in &r.explanation {
                let _ = writeln!(out, "  · {e}");
            }
        }
        None if report.steps.is_empty() => {
            let _ = writeln!(out, "No recommendation: no step was completed.");
        }
        None => {
            let what = if report.steps.iter().any(|s| s.concurrency.is_some()) {
                "concurrency"
            } else {
                "rate"
            };
            let _ = writeln!(
                out,
                "No recommendation: no tested {what} met p99 ≤ {} ms with errors ≤ {}%{}.",
                report.campaign.requirements.p99_ms,
                report.campaign.requirements.max_error_percent,
                if report.campaign.requirements.has_stream_limit() {
                    " and the stream limits"
                } else {
                    ""
                }
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::report;

    #[test]
    fn the_step_table_marks_repeats_and_inconclusive_steps() {
        let mut r = report(
            "ml.x",
            &[(100.0, true), (800.0, false), (800.0, false)],
            1000.0,
        );
        r.steps[1].verdict = Some(Verdict::Inconclusive);
        r.steps[2].repeat_of = Some(1);
        let out = summary(&r);
        let rows: Vec<&str> = out.lines().skip(1).take(3).collect();
        assert!(rows[0].ends_with("  pass"), "{out}");
        assert!(rows[1].contains("  INCONCLUSIVE: p99 80.0 ms"), "{out}");
        assert!(
            rows[2].contains("  FAIL (repeat of #2): p99 80.0 ms"),
            "{out}"
        );
    }
}
