//! From measured steps to a recommendation: MAX_RPS, `invocations_target`, instance counts and
//! a ready scaling policy, each with its formula spelled out. Pure.

use crate::decide::search::{self, Probe};
use serde::{Deserialize, Serialize};

use crate::config::{Campaign, Requirements, TargetConfig};
use crate::decide::autoscale::sizing::{self, RampAdvice, RampInputs};
use crate::measure::stats::StepResult;
use crate::num::fmt_num;

/// The predefined metric target tracking follows.
pub const METRIC: &str = "SageMakerVariantInvocationsPerInstance";
/// SageMaker's default cooldowns, seconds.
pub const DEFAULT_COOLDOWN_S: u32 = 300;

/// A target-tracking policy configuration, in the shape Application Auto Scaling accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingPolicy {
    #[serde(rename = "TargetValue")]
    pub target_value: f64,
    #[serde(rename = "PredefinedMetricSpecification")]
    pub predefined_metric_specification: PredefinedMetric,
    #[serde(rename = "ScaleInCooldown")]
    pub scale_in_cooldown: u32,
    #[serde(rename = "ScaleOutCooldown")]
    pub scale_out_cooldown: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredefinedMetric {
    #[serde(rename = "PredefinedMetricType")]
    pub predefined_metric_type: String,
}

/// The recommendation block of `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub instance_type: String,
    pub instance_count_tested: u32,
    pub max_rps_per_instance: f64,
    pub safety_factor: f64,
    /// floor(max_rps_per_instance × safety_factor × 60): invocations per minute per instance.
    pub invocations_target: u64,
    pub max_instances: u64,
    pub min_instances: u64,
    pub explanation: Vec<String>,
    pub scaling_policy: ScalingPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// The ramp simulation, when `ramp_minutes` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<RampAdvice>,
    /// Streams (`[load] mode = "concurrency"`): C_max per instance (per copy with an inference
    /// component), the concurrency the policy's TargetValue is taken from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency_per_instance: Option<u64>,
    /// Streams: how the concurrency recommendation was sized (see `decide::concurrency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<crate::decide::concurrency_sizing::ConcurrencySizing>,
}

/// Cost of the recommended fleet, when the instance type's price is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub hourly_usd_min: f64,
    pub hourly_usd_max: f64,
    pub usd_per_million: f64,
    /// The price the costs were computed from, USD per instance-hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_usd_per_instance: Option<f64>,
    /// The price table it came from: file, region, source, date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_source: Option<String>,
    /// Whether that table's prices were checked against the provider's published prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_verified: Option<bool>,
    /// Streams: price ÷ (output tokens per second per instance at C_max × 3600) × 1,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_million_output_tokens: Option<f64>,
}

/// The best standing pass's successful responses per second (never above its offered rate; a
/// pass that a repeat overruled does not stand), divided by the instances that served it.
pub fn max_rps_per_instance(steps: &[StepResult], instance_count: u32) -> Option<f64> {
    steps
        .iter()
        .zip(standing_passes(steps))
        .filter(|(_, stands)| *stands)
        .map(|(s, _)| s.successful_rps())
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))))
        .map(|best| best / f64::from(instance_count.max(1)))
}

/// Why a recommendation's scaling policy must not be written or applied: a `TargetValue` that
/// rounds to 0 invocations per minute would keep the metric above target at any load, so the
/// policy would scale out to MaxCapacity and stay there. `None` when the policy is usable.
/// (A concurrency target below 1 is usable: half a request in flight on average.)
pub fn target_value_refusal(r: &Recommendation) -> Option<String> {
    if r.concurrency.is_some() {
        return (r.scaling_policy.target_value <= 0.0).then(|| {
            "TargetValue is 0 concurrent requests: no scaling policy is written or applied; raise [recommend] safety_factor".to_string()
        });
    }
    (r.scaling_policy.target_value < 1.0).then(|| {
        format!(
            "TargetValue rounds to 0 (MAX_RPS {} × safety factor {} × 60 s < 1 invocation per minute per instance): no scaling policy is written or applied, since a target of 0 would scale out to MaxCapacity at any load; raise [recommend] safety_factor, or size this endpoint by hand",
            r3(r.max_rps_per_instance),
            fmt_num(r.safety_factor)
        )
    })
}

/// Per step, whether its pass counts: it passed and no repeat of it failed afterwards.
pub fn standing_passes(steps: &[StepResult]) -> Vec<bool> {
    let probes: Vec<Probe> = steps.iter().map(Probe::from).collect();
    search::standing_passes(&probes)
}

/// Builds the recommendation, or `None` when no step passed.
pub fn recommend(
    steps: &[StepResult],
    target: &TargetConfig,
    req: &Requirements,
    safety_factor: f64,
) -> Option<Recommendation> {
    let count = target.instance_count.max(1);
    let per_instance = max_rps_per_instance(steps, count)?;
    if per_instance <= 0.0 {
        return None;
    }
    let best_total = per_instance * f64::from(count);
    let target_value = (per_instance * safety_factor * 60.0).floor();
    let invocations_target = target_value as u64;
    let max_instances = ((req.peak_tps / per_instance).ceil() as u64).max(1);
    let min_tps = req.min_tps.unwrap_or(0.0);
    let min_instances = ((min_tps / (per_instance * safety_factor)).ceil() as u64)
        .max(1)
        .min(max_instances);

    let mut explanation = Vec::new();
    if count > 1 {
        explanation.push(format!(
            "MAX_RPS per instance = best passing step's successful responses {} per s (at most its offered rate) ÷ {count} instances tested = {} rps",
            r3(best_total),
            r3(per_instance)
        ));
    } else {
        explanation.push(format!(
            "MAX_RPS per instance = best passing step's successful responses per s (at most its offered rate) = {} rps (one instance tested)",
            r3(per_instance)
        ));
    }
    explanation.push(format!(
        "invocations_target = floor(MAX_RPS {} × safety factor {} × 60 s) = {invocations_target} invocations per minute per instance",
        r3(per_instance),
        fmt_num(safety_factor)
    ));
    explanation.push(format!(
        "max_instances = ceil(peak {} tps ÷ MAX_RPS {}) = {max_instances}",
        fmt_num(req.peak_tps),
        r3(per_instance)
    ));
    if min_tps > 0.0 {
        explanation.push(format!(
            "min_instances = max(1, ceil(min_tps {} ÷ (MAX_RPS {} × safety factor {}))) = {min_instances}",
            fmt_num(min_tps),
            r3(per_instance),
            fmt_num(safety_factor)
        ));
    } else {
        explanation.push(
            "min_instances = 1 (no [requirements] min_tps given; set it to size the floor)"
                .to_string(),
        );
    }

    let mut r = Recommendation {
        instance_type: target.instance_type.clone(),
        instance_count_tested: count,
        max_rps_per_instance: r3(per_instance),
        safety_factor,
        invocations_target,
        max_instances,
        min_instances,
        explanation,
        scaling_policy: ScalingPolicy {
            target_value,
            predefined_metric_specification: PredefinedMetric {
                predefined_metric_type: METRIC.to_string(),
            },
            scale_in_cooldown: DEFAULT_COOLDOWN_S,
            scale_out_cooldown: DEFAULT_COOLDOWN_S,
        },
        cost: None,
        autoscaling: None,
        max_concurrency_per_instance: None,
        concurrency: None,
    };
    if let Some(why) = target_value_refusal(&r) {
        r.explanation.push(why);
    }
    Some(r)
}

/// The recommendation of a whole campaign: [`recommend`], then `[autoscaling]` (cooldowns,
/// MaxCapacity) and, when `ramp_minutes` is given, a minimum from the ramp simulation.
/// C_max per instance: the highest concurrency whose latest step passed, divided by the
/// instances that served it (none for a rate campaign, or when nothing passed).
pub fn max_concurrency_per_instance(steps: &[StepResult], instance_count: u32) -> Option<u64> {
    let mut latest = std::collections::BTreeMap::new();
    for s in steps {
        if let Some(n) = s.concurrency {
            latest.insert(n, s.pass);
        }
    }
    let best = latest.iter().filter(|(_, p)| **p).map(|(n, _)| *n).max()?;
    let per = best / u64::from(instance_count.max(1));
    (per > 0).then_some(per)
}

pub fn recommend_campaign(steps: &[StepResult], c: &Campaign) -> Option<Recommendation> {
    // A knee the generator could not reach is not the endpoint's: no MAX_RPS from it, however
    // the report is recomputed.
    if steps
        .iter()
        .any(|s| s.verdict == Some(crate::measure::stats::Verdict::Inconclusive))
    {
        return None;
    }
    let a = &c.autoscaling;
    let req = &c.requirements;
    let mut r = recommend(steps, &c.target, req, c.recommend.safety_factor)?;
    r.scaling_policy.scale_in_cooldown = a.scale_in_cooldown_s;
    r.scaling_policy.scale_out_cooldown = a.scale_out_cooldown_s;
    if let Some(cap) = a.max_instances {
        r.explanation.push(format!(
            "max_instances = {cap} from [autoscaling] max_instances (the peak needs {})",
            r.max_instances
        ));
        r.max_instances = cap;
        r.min_instances = r.min_instances.min(cap);
    }
    let Some(ramp_minutes) = req.ramp_minutes else {
        return Some(r);
    };
    if r.invocations_target == 0 {
        r.explanation.push(
            "ramp not simulated: invocations_target is 0 (MAX_RPS × safety factor is below one invocation per minute)".to_string(),
        );
        return Some(r);
    }
    let advice = sizing::advise(
        &RampInputs {
            max_rps_per_instance: r.max_rps_per_instance,
            target_value: r.scaling_policy.target_value,
            min_tps: req.min_tps.unwrap_or(0.0),
            peak_tps: req.peak_tps,
            ramp_minutes,
            max_capacity: r.max_instances,
            floor_min_instances: r.min_instances,
            metric: crate::decide::autoscale::Metric::INVOCATIONS,
        },
        a,
    );
    r.min_instances = advice.min_instances;
    r.explanation.extend(advice.explanation.iter().cloned());
    r.autoscaling = Some(advice);
    Some(r)
}

fn r3(x: f64) -> f64 {
    crate::num::round3(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetKind;
    use crate::measure::stats::LatencySummary;

    fn step(achieved: f64, pass: bool) -> StepResult {
        StepResult {
            offered_rps: achieved,
            achieved_rps: achieved,
            duration_s: 10.0,
            requests: 100,
            errors: 0,
            error_percent: 0.0,
            errors_by_class: Default::default(),
            latency_ms: LatencySummary::default(),
            service_ms: LatencySummary::default(),
            pass,
            reasons: vec![],
            sent: 100,
            unsent: 0,
            warmup_s: 0.0,
            status_counts: Default::default(),
            original_status_counts: Default::default(),
            variants: Default::default(),
            aborted: false,
            ..Default::default()
        }
    }

    fn target(count: u32) -> TargetConfig {
        TargetConfig {
            kind: TargetKind::Http,
            url: Some("http://x".into()),
            headers: Default::default(),
            endpoint_name: None,
            region: None,
            endpoint_url: None,
            variant: None,
            target_model: None,
            target_container_hostname: None,
            inference_component: None,
            inference_id: None,
            custom_attributes: None,
            client: None,
            ca_cert: None,
            content_type: "application/json".into(),
            accept: "application/json".into(),
            timeout_ms: 1000,
            instance_type: "ml.c5.xlarge".into(),
            instance_count: count,
            stream: None,
            stream_idle_timeout_ms: None,
        }
    }

    fn req(peak: f64, min_tps: Option<f64>) -> Requirements {
        Requirements {
            p99_ms: 100.0,
            max_error_percent: 0.1,
            peak_tps: peak,
            ramp_minutes: None,
            min_tps,
            ttft_p99_ms: None,
            itl_p99_ms: None,
            e2e_p99_ms: None,
            min_output_tokens_per_s: None,
            peak_concurrency: None,
        }
    }

    #[test]
    fn a_generator_bound_campaign_gets_no_recommendation_even_when_recomputed() {
        let c = Campaign::parse(
            "name = \"t\"\n[target]\nkind = \"http\"\nurl = \"http://127.0.0.1:1/\"\n[payload]\nbody = '{}'\n[requirements]\np99_ms = 100\nmax_error_percent = 1\npeak_tps = 100\n",
            std::path::Path::new("t.toml"),
            std::path::Path::new("."),
        )
        .unwrap();
        let mut steps = vec![step(50.0, true), step(100.0, false)];
        assert!(recommend_campaign(&steps, &c).is_some());
        steps[1].verdict = Some(crate::measure::stats::Verdict::Inconclusive);
        assert!(recommend_campaign(&steps, &c).is_none());
    }

    #[test]
    fn a_target_value_that_rounds_to_0_is_refused_with_a_reason() {
        // 0.01 rps × 0.5 × 60 = 0.3 invocations per minute.
        let r = recommend(&[step(0.01, true)], &target(1), &req(1.0, None), 0.5).unwrap();
        assert_eq!(r.invocations_target, 0);
        let why = target_value_refusal(&r).expect("refused");
        assert!(why.contains("TargetValue rounds to 0"), "{why}");
        assert!(why.contains("safety_factor"), "{why}");
        assert!(
            r.explanation.iter().any(|l| l == &why),
            "{:?}",
            r.explanation
        );
        let ok = recommend(&[step(1.0, true)], &target(1), &req(1.0, None), 0.5).unwrap();
        assert_eq!(target_value_refusal(&ok), None);
    }

    #[test]
    fn max_rps_counts_successful_responses_only_and_says_so() {
        // 2 % of the best step failed, and its late answers made it read above its offer.
        let mut best = step(200.0, true);
        best.achieved_rps = 204.0;
        best.success_rps = 199.9;
        best.error_rps = 4.1;
        let steps = [step(100.0, true), best.clone(), step(300.0, false)];
        assert_eq!(max_rps_per_instance(&steps, 1), Some(199.9));
        best.success_rps = 203.0;
        let steps = [step(100.0, true), best];
        assert_eq!(
            max_rps_per_instance(&steps, 1),
            Some(200.0),
            "never above the offered rate"
        );
        let r = recommend(&steps, &target(1), &req(1000.0, None), 0.5).unwrap();
        assert!(
            r.explanation[0].contains("successful responses")
                && r.explanation[0].contains("at most its offered rate"),
            "{:?}",
            r.explanation
        );
    }

    #[test]
    fn formulas_with_the_numbers_filled_in() {
        // (steps, instances tested, peak, min_tps, safety) -> (per instance, target, max, min)
        let cases = [
            (
                vec![step(100.0, true), step(200.0, true), step(300.0, false)],
                1,
                1000.0,
                None,
                0.5,
                (200.0, 6000, 5, 1),
            ),
            (
                vec![step(390.5, true)],
                1,
                1000.0,
                Some(50.0),
                0.5,
                (390.5, 11715, 3, 1),
            ),
            (
                vec![step(390.5, true)],
                1,
                1000.0,
                Some(500.0),
                0.5,
                (390.5, 11715, 3, 3),
            ),
            (
                vec![step(400.0, true)],
                2,
                450.0,
                Some(150.0),
                0.5,
                (200.0, 6000, 3, 2),
            ),
            (
                vec![step(33.3, true)],
                1,
                100.0,
                None,
                0.7,
                (33.3, 1398, 4, 1),
            ),
            // the highest passing step wins even if it is not the last one run
            (
                vec![
                    step(120.0, true),
                    step(150.0, false),
                    step(130.0, true),
                    step(140.0, false),
                ],
                1,
                130.0,
                None,
                0.5,
                (130.0, 3900, 1, 1),
            ),
        ];
        for (steps, count, peak, min_tps, sf, (per, target_value, max, min)) in cases {
            let r = recommend(&steps, &target(count), &req(peak, min_tps), sf).unwrap();
            assert_eq!(r.max_rps_per_instance, per);
            assert_eq!(r.invocations_target, target_value);
            assert_eq!(r.scaling_policy.target_value, target_value as f64);
            assert_eq!(r.max_instances, max);
            assert_eq!(r.min_instances, min);
            assert_eq!(r.instance_count_tested, count);
            assert_eq!(r.explanation.len(), 4);
            assert!(
                r.explanation[1].contains(&format!("= {target_value} invocations")),
                "{:?}",
                r.explanation
            );
        }
    }

    #[test]
    fn min_instances_never_exceeds_max_instances() {
        let r = recommend(&[step(10.0, true)], &target(1), &req(20.0, Some(20.0)), 0.1).unwrap();
        assert_eq!(r.max_instances, 2);
        assert_eq!(r.min_instances, 2);
    }

    #[test]
    fn no_passing_step_gives_no_recommendation() {
        assert_eq!(
            recommend(&[step(10.0, false)], &target(1), &req(20.0, None), 0.5),
            None
        );
        assert_eq!(recommend(&[], &target(1), &req(20.0, None), 0.5), None);
    }

    #[test]
    fn the_policy_serialises_in_the_aws_shape() {
        let r = recommend(&[step(100.0, true)], &target(1), &req(20.0, None), 0.5).unwrap();
        let v = serde_json::to_value(&r.scaling_policy).unwrap();
        assert_eq!(v["TargetValue"], 3000.0);
        assert_eq!(
            v["PredefinedMetricSpecification"]["PredefinedMetricType"],
            METRIC
        );
        assert_eq!(v["ScaleInCooldown"], 300);
        assert_eq!(v["ScaleOutCooldown"], 300);
    }
}
