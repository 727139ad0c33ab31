//! The recommendation for a streaming (LLM) endpoint, from C_max instead of MAX_RPS: AWS scales
//! such endpoints on requests in flight, so the policy tracks the high-resolution concurrency
//! metric (per instance, or per copy of an inference component) with `TargetValue` = C_max ×
//! safety factor, the fleet is sized for the peak concurrency (Little's law), and the ramp is
//! simulated on 10-second datapoints. Pure.

use crate::config::Campaign;
use crate::decide::autoscale::Metric;
use crate::decide::autoscale::sizing::{self, RampInputs};
use crate::decide::recommend::{PredefinedMetric, Recommendation, ScalingPolicy};
use crate::measure::stats::{StepResult, Verdict};
use crate::num::{fmt_num, round3};

pub use crate::decide::concurrency_sizing::{
    ConcurrencySizing, METRIC_PER_COPY, METRIC_PER_INSTANCE, PeakFrom, Unit,
};

/// The recommendation of a whole campaign: from C_max for a concurrency campaign
/// ([`recommend_stream`]), else from MAX_RPS ([`crate::decide::recommend::recommend_campaign`]).
pub fn recommend_for(steps: &[StepResult], c: &Campaign) -> Option<Recommendation> {
    match c.load.mode {
        crate::config::LoadMode::Concurrency => recommend_stream(steps, c),
        crate::config::LoadMode::Rate => crate::decide::recommend::recommend_campaign(steps, c),
    }
}

/// C_max's step: the latest step at the highest concurrency whose latest step passed.
pub fn best_step(steps: &[StepResult]) -> Option<&StepResult> {
    let mut latest = std::collections::BTreeMap::new();
    for s in steps {
        if let Some(n) = s.concurrency {
            latest.insert(n, s);
        }
    }
    latest.values().rev().find(|s| s.pass).copied()
}

/// The mean end-to-end latency of a concurrency step, seconds: measured (from the send time; in
/// a closed loop the intended and actual send coincide), else C ÷ throughput (Little's law).
pub fn mean_e2e_s(step: &StepResult) -> Option<f64> {
    let measured = step.latency_ms.mean / 1000.0;
    if measured > 0.0 {
        return Some(measured);
    }
    let n = step.concurrency? as f64;
    let rps = step.successful_rps();
    (rps > 0.0).then(|| n / rps)
}

/// Whether the campaign sizes copies of an inference component rather than instances.
pub fn unit_of(c: &Campaign) -> Unit {
    if c.autoscaling.inference_component.is_some() || c.target.inference_component.is_some() {
        Unit::Copy
    } else {
        Unit::Instance
    }
}

fn ceil_count(x: f64) -> u64 {
    if !x.is_finite() || x <= 0.0 {
        return 0;
    }
    (x - 1e-9 * x.max(1.0)).ceil() as u64
}

/// The recommendation of a concurrency campaign, or `None` when no concurrency passed (or the
/// generator, not the endpoint, limited a step).
pub fn recommend_stream(steps: &[StepResult], c: &Campaign) -> Option<Recommendation> {
    if steps
        .iter()
        .any(|s| s.verdict == Some(Verdict::Inconclusive))
    {
        return None;
    }
    let step = best_step(steps)?;
    let tested = step.concurrency?;
    let unit = unit_of(c);
    let (one, many) = (unit.word(), unit.plural());
    let units = c.target.instance_count.max(1);
    let per = tested / u64::from(units);
    if per == 0 {
        return None;
    }
    let e2e_s = mean_e2e_s(step)?;
    let sf = c.recommend.safety_factor;
    let req = &c.requirements;
    let rps = step.successful_rps() / f64::from(units);
    let tokens = step
        .stream
        .as_ref()
        .map_or(0.0, |s| s.output_tokens_per_s / f64::from(units));
    let target_value = round3(per as f64 * sf);
    let (peak_concurrency, from) = match req.peak_concurrency {
        Some(p) => (p, PeakFrom::PeakConcurrency),
        None => (req.peak_tps * e2e_s, PeakFrom::LittlesLaw),
    };
    let peak_tps = match from {
        PeakFrom::PeakConcurrency => peak_concurrency / e2e_s,
        PeakFrom::LittlesLaw => req.peak_tps,
    };
    let max_units = ceil_count(peak_concurrency / per as f64).max(1);
    let min_tps = req.min_tps.unwrap_or(0.0);
    let min_units = ceil_count(min_tps * e2e_s / target_value)
        .max(1)
        .min(max_units);

    let mut explanation = Vec::new();
    let split = if units > 1 {
        format!(" ÷ {units} {many} tested")
    } else {
        format!(" (one {one} tested)")
    };
    explanation.push(format!(
        "max_concurrency_per_instance (C_max per {one}) = highest concurrency whose latest step met every requirement, {tested}{split} = {per} concurrent requests"
    ));
    explanation.push(format!(
        "at C_max: {} successful requests/s and {} output tokens/s per {one}, mean end-to-end {} ms (step at concurrency {tested})",
        fmt_num(round3(rps)),
        fmt_num(round3(tokens)),
        fmt_num(round3(e2e_s * 1000.0))
    ));
    explanation.push(format!(
        "TargetValue = C_max {per} × safety factor {} = {} concurrent requests per {one} ({}, 10-s datapoints)",
        fmt_num(sf),
        fmt_num(target_value),
        unit.metric()
    ));
    match from {
        PeakFrom::PeakConcurrency => explanation.push(format!(
            "peak concurrency = {} from [requirements] peak_concurrency (≈ {} requests/s by Little's law: ÷ mean end-to-end {} s)",
            fmt_num(peak_concurrency),
            fmt_num(round3(peak_tps)),
            fmt_num(round3(e2e_s))
        )),
        PeakFrom::LittlesLaw => explanation.push(format!(
            "peak concurrency = peak {} requests/s × mean end-to-end {} s at C_max = {} requests in flight (Little's law)",
            fmt_num(req.peak_tps),
            fmt_num(round3(e2e_s)),
            fmt_num(round3(peak_concurrency))
        )),
    }
    explanation.push(format!(
        "max_instances = ceil(peak concurrency {} ÷ C_max {per} per {one}) = {max_units} {many}",
        fmt_num(round3(peak_concurrency)),
    ));
    if min_tps > 0.0 {
        explanation.push(format!(
            "min_instances = max(1, ceil(min_tps {} × mean end-to-end {} s ÷ TargetValue {})) = {min_units} {many}",
            fmt_num(min_tps),
            fmt_num(round3(e2e_s)),
            fmt_num(target_value)
        ));
    } else {
        explanation.push(format!(
            "min_instances = 1 {one} (no [requirements] min_tps given; set it to size the floor)"
        ));
    }
    let invocations_target = (rps * sf * 60.0).floor() as u64;
    explanation.push(format!(
        "for reference only (the policy tracks concurrency): MAX_RPS per {one} = the {} requests/s measured at C_max; floor(× safety factor × 60 s) = {invocations_target} invocations per minute",
        fmt_num(round3(rps))
    ));

    let a = &c.autoscaling;
    let mut r = Recommendation {
        instance_type: c.target.instance_type.clone(),
        instance_count_tested: units,
        max_rps_per_instance: round3(rps),
        safety_factor: sf,
        invocations_target,
        max_instances: max_units,
        min_instances: min_units,
        explanation,
        scaling_policy: ScalingPolicy {
            target_value,
            predefined_metric_specification: PredefinedMetric {
                predefined_metric_type: unit.metric().to_string(),
            },
            scale_in_cooldown: a.scale_in_cooldown_s,
            scale_out_cooldown: a.scale_out_cooldown_s,
        },
        cost: None,
        autoscaling: None,
        max_concurrency_per_instance: Some(per),
        concurrency: Some(ConcurrencySizing {
            unit,
            metric: unit.metric().to_string(),
            max_concurrency_tested: tested,
            units_tested: units,
            max_concurrency_per_instance: per,
            rps_per_instance: round3(rps),
            output_tokens_per_s_per_instance: round3(tokens),
            e2e_mean_ms: round3(e2e_s * 1000.0),
            target_value,
            peak_concurrency: round3(peak_concurrency),
            peak_concurrency_from: from,
            peak_tps: round3(peak_tps),
        }),
    };
    if let Some(cap) = a.max_instances {
        r.explanation.push(format!(
            "max_instances = {cap} from [autoscaling] max_instances (the peak needs {max_units})"
        ));
        r.max_instances = cap;
        r.min_instances = r.min_instances.min(cap);
    }
    let Some(ramp_minutes) = req.ramp_minutes else {
        return Some(r);
    };
    let advice = sizing::advise(
        &RampInputs {
            // The rate at which one unit holds C_max in flight: MAX_RPS in the ramp's terms.
            max_rps_per_instance: per as f64 / e2e_s,
            target_value,
            min_tps,
            peak_tps,
            ramp_minutes,
            max_capacity: r.max_instances,
            floor_min_instances: r.min_instances,
            metric: Metric::concurrency(e2e_s),
        },
        a,
    );
    r.explanation.push(format!(
        "ramp simulation on 10-s datapoints of the concurrency metric: requests in flight per {one} = rate per {one} × mean end-to-end {} s; \"MAX_RPS\" below is the rate at which one {one} holds C_max = {per} ÷ {} s = {} requests/s",
        fmt_num(round3(e2e_s)),
        fmt_num(round3(e2e_s)),
        fmt_num(round3(per as f64 / e2e_s))
    ));
    r.min_instances = advice.min_instances;
    r.explanation.extend(advice.explanation.iter().cloned());
    r.autoscaling = Some(advice);
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::stats::LatencySummary;
    use crate::measure::stream_stats::StreamStepStats;

    fn step(n: u64, pass: bool, rps: f64, e2e_mean_ms: f64, tokens_per_s: f64) -> StepResult {
        StepResult {
            offered_rps: rps,
            achieved_rps: rps,
            success_rps: rps,
            duration_s: 30.0,
            requests: (rps * 30.0) as u64,
            latency_ms: LatencySummary {
                mean: e2e_mean_ms,
                ..Default::default()
            },
            pass,
            concurrency: Some(n),
            stream: Some(StreamStepStats {
                output_tokens_per_s: tokens_per_s,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn campaign(extra_req: &str, target_extra: &str, autoscaling: &str) -> Campaign {
        let text = format!(
            "name = \"llm\"\n[target]\nkind = \"http\"\nurl = \"http://127.0.0.1:9/v1/completions\"\nstream = \"openai\"\ninstance_type = \"ml.g5.xlarge\"\n{target_extra}\n[payload]\nbody = '{{}}'\n[requirements]\np99_ms = 60000\nmax_error_percent = 1\nttft_p99_ms = 500\n{extra_req}\n[load]\nmode = \"concurrency\"\n{autoscaling}"
        );
        Campaign::parse(
            &text,
            std::path::Path::new("c.toml"),
            std::path::Path::new("."),
        )
        .unwrap()
    }

    /// Concurrency 1, 2, 4 pass, 8 fails: C_max 4 at 2 requests/s, mean e2e 2 s, 64 tokens/s.
    fn steps() -> Vec<StepResult> {
        vec![
            step(1, true, 0.8, 1250.0, 26.0),
            step(2, true, 1.3, 1540.0, 42.0),
            step(4, true, 2.0, 2000.0, 64.0),
            step(8, false, 2.2, 3600.0, 70.0),
        ]
    }

    #[test]
    fn target_max_and_min_follow_the_formulas_with_the_numbers_shown() {
        // peak 10 rps × 2 s = 20 in flight; ceil(20 ÷ 4) = 5; TargetValue 4 × 0.5 = 2;
        // min: 1 rps × 2 s ÷ 2 = 1.
        let c = campaign("peak_tps = 10\nmin_tps = 1", "", "");
        let r = recommend_stream(&steps(), &c).unwrap();
        let k = r.concurrency.as_ref().unwrap();
        assert_eq!(r.max_concurrency_per_instance, Some(4));
        assert_eq!(r.scaling_policy.target_value, 2.0);
        assert_eq!(
            r.scaling_policy
                .predefined_metric_specification
                .predefined_metric_type,
            METRIC_PER_INSTANCE
        );
        assert_eq!(k.peak_concurrency, 20.0);
        assert_eq!(k.peak_concurrency_from, PeakFrom::LittlesLaw);
        assert_eq!(r.max_instances, 5);
        assert_eq!(r.min_instances, 1);
        assert_eq!(k.rps_per_instance, 2.0);
        assert_eq!(k.output_tokens_per_s_per_instance, 64.0);
        let text = r.explanation.join("\n");
        for want in [
            "C_max 4 × safety factor 0.5 = 2 concurrent requests per instance",
            "peak 10 requests/s × mean end-to-end 2 s at C_max = 20 requests in flight",
            "ceil(peak concurrency 20 ÷ C_max 4 per instance) = 5 instances",
            "2 successful requests/s and 64 output tokens/s per instance",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
    }

    #[test]
    fn peak_concurrency_given_wins_and_copies_are_sized_per_copy() {
        // Two copies served C_max 4 in total: 2 per copy; 9 in flight at peak → ceil(9/2) = 5.
        let c = campaign(
            "peak_concurrency = 9",
            "",
            "[autoscaling]\ninference_component = \"ic-llm\"",
        );
        let mut c = c;
        c.target.instance_count = 2;
        let r = recommend_stream(&steps(), &c).unwrap();
        let k = r.concurrency.as_ref().unwrap();
        assert_eq!(k.unit, Unit::Copy);
        assert_eq!(r.max_concurrency_per_instance, Some(2));
        assert_eq!(r.scaling_policy.target_value, 1.0);
        assert_eq!(
            r.scaling_policy
                .predefined_metric_specification
                .predefined_metric_type,
            METRIC_PER_COPY
        );
        assert_eq!(k.peak_concurrency_from, PeakFrom::PeakConcurrency);
        assert_eq!(r.max_instances, 5);
        assert_eq!(k.peak_tps, 4.5, "9 in flight ÷ 2 s");
        assert!(
            r.explanation
                .iter()
                .any(|l| l.contains("ceil(peak concurrency 9 ÷ C_max 2 per copy) = 5 copies")),
            "{:?}",
            r.explanation
        );
    }

    #[test]
    fn a_failed_repeat_overrules_an_earlier_pass_and_nothing_passing_gives_nothing() {
        let c = campaign("peak_tps = 10", "", "");
        let mut s = steps();
        s.push(step(4, false, 1.9, 2100.0, 60.0));
        let r = recommend_stream(&s, &c).unwrap();
        assert_eq!(r.max_concurrency_per_instance, Some(2));
        let none = [step(1, false, 0.5, 2000.0, 10.0)];
        assert!(recommend_stream(&none, &c).is_none());
    }

    #[test]
    fn the_ramp_is_simulated_on_10_second_datapoints_of_concurrency() {
        let c = campaign("peak_tps = 10\nramp_minutes = 10", "", "");
        let r = recommend_stream(&steps(), &c).unwrap();
        let a = r.autoscaling.as_ref().unwrap();
        assert_eq!(a.parameters.period_s, 10.0);
        let rows = &a.timeline.rows;
        assert_eq!(rows[1].t_min, round3(10.0 / 60.0), "one row per 10 s");
        assert!(rows.iter().all(|r| r.concurrency_per_instance.is_some()));
        // 45 s of scale-in in minutes is kept: 15 one-minute datapoints → 90 of 10 s.
        assert_eq!(a.parameters.policy.scale_in_datapoints, 90);
    }
}
