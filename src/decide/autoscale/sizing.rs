//! From simulations to advice: the smallest MinCapacity that survives the ramp, what happens
//! when even MinCapacity = MaxCapacity does not, and the two remedies (a scheduled minimum for
//! the ramp window, a longer ramp). Pure.

use serde::{Deserialize, Serialize};

use super::{
    AutoscalingConfig, Metric, Policy, Scenario, TICK_S, TICKS_PER_MINUTE, Timeline, Tracked,
    Traffic, holds, simulate,
};
use crate::config::autoscaling::MAX_MINUTES;
use crate::num::fmt_num;

/// The smallest MinCapacity in 1..=MaxCapacity whose timeline holds, or `None` when none does.
///
/// A plain scan, because holding is not monotone in the minimum: a higher minimum keeps the
/// metric under target longer, so the scale-out alarm can fire later and the extra capacity
/// arrive too late (the tests show such a case). Minimums up to the count the fleet settles at
/// for the traffic floor give the same timeline, so the scan starts there.
pub fn smallest_min_capacity(s: &Scenario) -> Option<u64> {
    let max = s.max_capacity.max(1);
    if holds(s, 1) {
        return Some(1);
    }
    let settled =
        super::steady_count_for(&s.metric, s.traffic.min_tps, s.policy.target_value, 1, max);
    (settled.max(2)..=max).find(|m| holds(s, *m))
}

/// The minimums above `min` (up to MaxCapacity) that do not hold although `min` does.
pub fn failing_above(s: &Scenario, min: u64) -> Vec<u64> {
    (min + 1..=s.max_capacity.max(1))
        .filter(|m| !holds(s, *m))
        .collect()
}

/// The shortest whole-minute ramp, longer than the scenario's, with which `min_capacity` holds
/// and keeps holding for every whole-minute ramp up to twice as long (at least an hour more);
/// the scenario's own ramp when it already holds; `None` when nothing up to a day does.
///
/// The window matters because holding is not monotone in the ramp length either: on a slightly
/// longer ramp an alarm can fire a minute later and the extra capacity arrive too late.
pub fn shortest_ramp_minutes(s: &Scenario, min_capacity: u64) -> Option<f64> {
    let with_ramp = |m: u64| {
        let mut t = s.clone();
        t.traffic.ramp_minutes = m as f64;
        holds(&t, min_capacity)
    };
    if holds(s, min_capacity) {
        return Some(s.traffic.ramp_minutes);
    }
    let day = MAX_MINUTES as u64;
    let mut r = s.traffic.ramp_minutes.floor() as u64 + 1;
    loop {
        r = (r..=day).find(|m| with_ramp(*m))?;
        let end = (2 * r).max(r + 60).min(day);
        match (r + 1..=end).find(|m| !with_ramp(*m)) {
            Some(fails) => r = fails + 1,
            None => return Some(r as f64),
        }
    }
}

/// Every input of the simulation, as the report names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    #[serde(flatten)]
    pub traffic: Traffic,
    #[serde(flatten)]
    pub policy: Policy,
    pub max_rps_per_instance: f64,
    pub max_capacity: u64,
    /// Simulation tick, seconds.
    pub resolution_s: f64,
    /// Metric period, seconds.
    pub period_s: f64,
}

/// When even MinCapacity = MaxCapacity does not hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shortfall {
    pub max_capacity: u64,
    pub worst_load_per_instance_rps: f64,
    /// How far the worst load is above MAX_RPS, percent.
    pub over_percent: f64,
    /// ceil(peak_tps ÷ MAX_RPS).
    pub instances_needed_at_peak: u64,
}

/// A higher minimum for the ramp window only: the scheduled-action remedy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledMinimum {
    /// MinCapacity during the ramp window.
    pub min_capacity: u64,
    /// MaxCapacity during the ramp window.
    pub max_capacity: u64,
    /// MinCapacity outside the window (what the traffic floor needs).
    pub outside_min_capacity: u64,
    /// The user's cron expression; without it no scheduled-action file is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// `recommendation.autoscaling` in `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RampAdvice {
    pub parameters: Parameters,
    /// What the traffic floor (`min_tps`) alone needs.
    pub floor_min_instances: u64,
    /// The smallest MinCapacity that survives the ramp; null when even MinCapacity =
    /// MaxCapacity does not.
    pub ramp_min_instances: Option<u64>,
    /// The recommended MinCapacity: the larger of the two (MaxCapacity when none holds).
    pub min_instances: u64,
    /// The recommended configuration keeps every instance at or below MAX_RPS.
    pub holds: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortfall: Option<Shortfall>,
    /// The shortest ramp over which the floor minimum alone would hold, minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortest_ramp_minutes: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_minimum: Option<ScheduledMinimum>,
    /// The recommended configuration, minute by minute.
    pub timeline: Timeline,
    /// Also appended to the recommendation's explanation, so not written twice.
    #[serde(skip)]
    pub explanation: Vec<String>,
}

/// What [`advise`] needs besides `[autoscaling]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RampInputs {
    pub max_rps_per_instance: f64,
    pub target_value: f64,
    pub min_tps: f64,
    pub peak_tps: f64,
    pub ramp_minutes: f64,
    pub max_capacity: u64,
    pub floor_min_instances: u64,
    /// What the policy tracks ([`Metric::INVOCATIONS`] for request/response endpoints).
    pub metric: Metric,
}

fn r3(x: f64) -> f64 {
    crate::num::round3(x)
}

fn at(t: &Timeline) -> String {
    format!(
        "{} rps at minute {}",
        r3(t.worst_load_per_instance_rps),
        fmt_num(t.worst_at_min)
    )
}

/// Simulates the ramp and decides the minimum instance count, with the remedies when the ramp
/// forces a minimum above the floor.
pub fn advise(inp: &RampInputs, cfg: &AutoscalingConfig) -> RampAdvice {
    let max_cap = inp.max_capacity.max(1);
    let mut policy = Policy::from_config(cfg, inp.target_value);
    let concurrency = inp.metric.tracked == Tracked::Concurrency;
    if concurrency {
        // 10-second datapoints: scale-out alarms after scale_out_datapoints of them; scale-in
        // keeps its usual pace, scale_in_datapoints minutes (× 6 datapoints).
        policy.scale_in_datapoints = policy
            .scale_in_datapoints
            .saturating_mul((TICKS_PER_MINUTE / inp.metric.period_ticks.max(1)) as u32);
    }
    let s = Scenario {
        metric: inp.metric,
        traffic: Traffic {
            min_tps: inp.min_tps,
            peak_tps: inp.peak_tps,
            ramp_minutes: inp.ramp_minutes,
            hold_minutes: cfg.hold_minutes(),
        },
        policy,
        max_rps_per_instance: inp.max_rps_per_instance,
        max_capacity: max_cap,
    };
    let floor = inp.floor_min_instances.clamp(1, max_cap);
    let ramp_min = smallest_min_capacity(&s);
    let max_rps = inp.max_rps_per_instance;
    let p = &s.policy;
    let (target_unit, datapoint) = if concurrency {
        (
            format!(
                "concurrent requests per instance on 10-s datapoints (Little's law: rate per instance × mean end-to-end {} s)",
                fmt_num(r3(inp.metric.per_rps))
            ),
            "10-s datapoint(s)",
        )
    } else {
        (
            "invocations per instance per minute".to_string(),
            "minute(s)",
        )
    };
    let mut explanation = vec![format!(
        "ramp: traffic rises from {} to {} tps over {} min, then holds {} min; simulated in {} s steps against target {} {target_unit} (scale out after {} {datapoint} above target, scale in after {} below {}% of it, ScaleOutCooldown {} s, ScaleInCooldown {} s, new instances serve {} min after the decision)",
        fmt_num(r3(inp.min_tps)),
        fmt_num(r3(inp.peak_tps)),
        fmt_num(inp.ramp_minutes),
        fmt_num(cfg.hold_minutes()),
        fmt_num(TICK_S),
        fmt_num(inp.target_value),
        p.scale_out_datapoints,
        p.scale_in_datapoints,
        fmt_num(p.scale_in_threshold_percent),
        p.scale_out_cooldown_s,
        p.scale_in_cooldown_s,
        fmt_num(p.provisioning_minutes)
    )];

    let scheduled = |min_capacity: u64, max_capacity: u64| ScheduledMinimum {
        min_capacity,
        max_capacity,
        outside_min_capacity: floor,
        schedule: cfg.schedule.clone(),
        schedule_end: cfg.schedule_end.clone(),
        timezone: cfg.timezone.clone(),
    };
    let how_to_schedule = if cfg.schedule.is_some() {
        "scheduled-action.json raises it at the given schedule".to_string()
    } else {
        "give [autoscaling] schedule = \"cron(...)\" or --schedule to get scheduled-action.json"
            .to_string()
    };

    let (min_instances, timeline, shortfall, shortest, scheduled_minimum) = match ramp_min {
        Some(r) => {
            let min = r.max(floor);
            let timeline = simulate(&s, min);
            let failing = failing_above(&s, min);
            if min > 1 {
                let fewer = simulate(&s, min - 1);
                if !fewer.holds {
                    explanation.push(format!(
                        "min_instances = {min} from the ramp simulation: the smallest MinCapacity for which no instance in service exceeds MAX_RPS {} during the ramp (worst {}); with {} the worst is {}",
                        r3(max_rps),
                        at(&timeline),
                        min - 1,
                        at(&fewer)
                    ));
                } else {
                    explanation.push(format!(
                        "min_instances = {min} (the traffic floor); the ramp alone would need {r} (worst load per instance {})",
                        at(&timeline)
                    ));
                }
            } else {
                explanation.push(format!(
                    "min_instances = 1: the ramp holds with a single instance as the minimum (worst per-instance load {} against MAX_RPS {})",
                    at(&timeline),
                    r3(max_rps)
                ));
            }
            if !failing.is_empty() {
                let list: Vec<String> = failing.iter().map(u64::to_string).collect();
                let or_max = if failing.contains(&max_cap) {
                    String::new()
                } else {
                    format!(" (or at MaxCapacity {max_cap})")
                };
                explanation.push(format!(
                    "note: MinCapacity {} does not hold although {min} does: a higher minimum keeps the metric under target longer, so the scale-out alarm fires later; keep MinCapacity at exactly {min}{or_max}",
                    list.join(", ")
                ));
            }
            if r > floor {
                let shortest = shortest_ramp_minutes(&s, floor);
                let longer = match shortest {
                    Some(m) => format!(
                        "or have traffic rise over at least {} min, with which {floor} instance(s) suffice",
                        fmt_num(m)
                    ),
                    None => format!(
                        "no ramp up to {} min lets {floor} instance(s) suffice",
                        fmt_num(MAX_MINUTES)
                    ),
                };
                explanation.push(format!(
                    "remedies: the ramp needs {r} instance(s) where the traffic floor needs {floor}; keep {floor} outside the ramp and raise MinCapacity to {r} shortly before it with a scheduled action ({how_to_schedule}), {longer}"
                ));
                (min, timeline, None, shortest, Some(scheduled(r, max_cap)))
            } else {
                (min, timeline, None, None, None)
            }
        }
        None => {
            let timeline = simulate(&s, max_cap);
            let needed = ((inp.peak_tps / max_rps - 1e-9).ceil() as u64).max(1);
            let worst = timeline.worst_load_per_instance_rps;
            let over = r3((worst / max_rps - 1.0) * 100.0);
            explanation.push(format!(
                "even MinCapacity = MaxCapacity = {max_cap} does not hold: the load per instance reaches {}, {over}% above MAX_RPS {}; the peak alone needs {needed} instances, so no ramp length helps: raise [autoscaling] max_instances to {needed}, or raise MinCapacity and MaxCapacity to {needed} for the ramp window with a scheduled action ({how_to_schedule})",
                at(&timeline),
                r3(max_rps)
            ));
            let shortfall = Shortfall {
                max_capacity: max_cap,
                worst_load_per_instance_rps: worst,
                over_percent: over,
                instances_needed_at_peak: needed,
            };
            (
                max_cap,
                timeline,
                Some(shortfall),
                None,
                Some(scheduled(needed, needed)),
            )
        }
    };
    if scheduled_minimum.is_none() && cfg.schedule.is_some() {
        explanation.push(
            "schedule not used: the ramp needs no more instances than the traffic floor, so no scheduled action is written".to_string(),
        );
    }
    if p.provisioning_minutes * 60.0 > f64::from(p.scale_out_cooldown_s)
        && timeline
            .events
            .iter()
            .any(|e| e.kind == super::EventKind::ScaleOut && e.message.contains("not credited"))
    {
        explanation.push(format!(
            "note: ScaleOutCooldown {} s is shorter than provisioning ({} min), so the policy scaled out again before earlier instances served (inference about AWS's behaviour; see the timeline events)",
            p.scale_out_cooldown_s,
            fmt_num(p.provisioning_minutes)
        ));
    }
    RampAdvice {
        parameters: Parameters {
            traffic: s.traffic.clone(),
            policy: s.policy.clone(),
            max_rps_per_instance: max_rps,
            max_capacity: max_cap,
            resolution_s: TICK_S,
            period_s: s.metric.period_s(),
        },
        floor_min_instances: floor,
        ramp_min_instances: ramp_min,
        min_instances,
        holds: timeline.holds,
        shortfall,
        shortest_ramp_minutes: shortest,
        scheduled_minimum,
        timeline,
        explanation,
    }
}
