//! Target-tracking auto-scaling, simulated: how a SageMaker variant's instance count follows a
//! traffic ramp under a policy on `SageMakerVariantInvocationsPerInstance`, and (in [`sizing`])
//! the smallest MinCapacity that keeps every instance in service at or below MAX_RPS. Pure.
//!
//! Time advances in 10-second ticks; the metric, the alarms and the policy work on one-minute
//! periods (six ticks), as CloudWatch's one-minute datapoints do — or, for the high-resolution
//! concurrency metrics of LLM endpoints ([`Metric::concurrency`]), on 10-second periods (one
//! tick). docs/autoscaling.md lists which rules are documented AWS behaviour and which are
//! inferences.

mod metric;
pub mod sizing;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use crate::config::{AutoscalingConfig, CooldownFrom};
pub use metric::{Metric, TICK_S, TICKS_PER_MINUTE, Tracked};

/// How the policy and the service behave: the target, the alarms, the cooldowns, provisioning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// TargetValue: invocations per minute per instance in service.
    pub target_value: f64,
    pub scale_out_datapoints: u32,
    pub scale_in_datapoints: u32,
    pub scale_in_threshold_percent: f64,
    pub scale_out_cooldown_s: u32,
    pub scale_in_cooldown_s: u32,
    pub provisioning_minutes: f64,
    /// When the scale-out cooldown starts (absent: `in_service`).
    #[serde(default, skip_serializing_if = "CooldownFrom::is_in_service")]
    pub cooldown_from: CooldownFrom,
}

impl Policy {
    /// The policy a campaign's `[autoscaling]` section describes, for a given target value.
    pub fn from_config(a: &AutoscalingConfig, target_value: f64) -> Policy {
        Policy {
            target_value,
            scale_out_datapoints: a.scale_out_datapoints,
            scale_in_datapoints: a.scale_in_datapoints,
            scale_in_threshold_percent: a.scale_in_threshold_percent,
            scale_out_cooldown_s: a.scale_out_cooldown_s,
            scale_in_cooldown_s: a.scale_in_cooldown_s,
            provisioning_minutes: a.provisioning_minutes,
            cooldown_from: a.cooldown_from,
        }
    }
}

/// Traffic: `min_tps` until t = 0, rising linearly to `peak_tps` at `ramp_minutes`, then held
/// for `hold_minutes`. A ramp of 0 is a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    pub min_tps: f64,
    pub peak_tps: f64,
    pub ramp_minutes: f64,
    pub hold_minutes: f64,
}

impl Traffic {
    /// Offered rate at `t` seconds from the start of the ramp.
    pub fn rate_at(&self, t: f64) -> f64 {
        let ramp_s = self.ramp_minutes * 60.0;
        if t <= 0.0 && ramp_s > 0.0 {
            return self.min_tps;
        }
        let f = if ramp_s <= 0.0 {
            1.0
        } else {
            (t / ramp_s).min(1.0)
        };
        self.min_tps + (self.peak_tps - self.min_tps) * f
    }

    /// Requests offered from 0 to `t` seconds (the integral of the rate).
    pub fn requests_until(&self, t: f64) -> f64 {
        let ramp_s = self.ramp_minutes * 60.0;
        if t <= 0.0 {
            return 0.0;
        }
        if t <= ramp_s {
            self.min_tps * t + (self.peak_tps - self.min_tps) * t * t / (2.0 * ramp_s)
        } else {
            (self.min_tps + self.peak_tps) / 2.0 * ramp_s + self.peak_tps * (t - ramp_s)
        }
    }

    /// Whole minutes simulated: the ramp and the hold.
    pub fn minutes(&self) -> u64 {
        (self.ramp_minutes + self.hold_minutes).ceil().max(1.0) as u64
    }
}

/// Everything one simulation needs except the MinCapacity under test.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// What the policy tracks and the datapoint length.
    pub metric: Metric,
    pub traffic: Traffic,
    pub policy: Policy,
    /// MAX_RPS: the highest rate one instance serves within the latency and error limits.
    pub max_rps_per_instance: f64,
    /// MaxCapacity.
    pub max_capacity: u64,
}

/// What happened, for the event list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ScaleOutAlarm,
    ScaleOutAlarmOk,
    ScaleInAlarm,
    ScaleInAlarmOk,
    ScaleOut,
    ScaleIn,
    InService,
    OverloadStart,
    OverloadEnd,
}

impl EventKind {
    /// A change of desired or in-service capacity (alarms and overloads are not).
    pub fn is_scaling(self) -> bool {
        matches!(
            self,
            EventKind::ScaleOut | EventKind::ScaleIn | EventKind::InService
        )
    }
}

/// One event on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Minutes from the start of the ramp.
    pub t_min: f64,
    pub kind: EventKind,
    /// Desired instance count after the event.
    pub desired: u64,
    /// Instances in service after the event.
    pub in_service: u64,
    pub message: String,
}

/// The state at the end of one minute (`t_min` = 0 is the steady state before the ramp).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Minutes from the start of the ramp; the row describes the minute that ends here.
    pub t_min: f64,
    /// Offered rate at `t_min`: the highest of the minute, since traffic never falls.
    pub offered_rps: f64,
    /// The datapoint's invocations per instance, per minute (for a 10-second datapoint, its
    /// invocations × 6).
    pub invocations_per_instance: f64,
    /// Concurrency simulations: the datapoint of the concurrency metric, requests in flight per
    /// instance (Little's law: the rate per instance × the mean end-to-end latency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_per_instance: Option<f64>,
    /// Instances in service at `t_min`.
    pub in_service: u64,
    /// Desired instance count at `t_min`, after the policy acted.
    pub desired: u64,
    /// `in_service` × MAX_RPS: the rate the fleet serves within the limits.
    pub capacity_rps: f64,
    /// The highest offered rate per instance in service during the minute (10 s resolution).
    pub load_per_instance_rps: f64,
    pub over_max_rps: bool,
    pub scale_out_alarm: bool,
    pub scale_in_alarm: bool,
}

/// One simulated ramp for one MinCapacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub min_capacity: u64,
    pub max_capacity: u64,
    pub max_rps_per_instance: f64,
    /// Tick length, seconds; rows are one datapoint apart (a minute, or 10 s for concurrency).
    pub resolution_s: f64,
    /// The highest per-instance load anywhere on the timeline.
    pub worst_load_per_instance_rps: f64,
    /// When it happened, minutes from the start of the ramp (end of its tick).
    pub worst_at_min: f64,
    /// Time with some instance above MAX_RPS, minutes.
    pub overloaded_minutes: f64,
    /// No instance in service ever exceeds MAX_RPS.
    pub holds: bool,
    pub rows: Vec<Row>,
    pub events: Vec<Event>,
}

/// `ceil` that ignores float noise just above an integer (6.000000001 → 6).
fn ceil_count(x: f64) -> u64 {
    if !x.is_finite() || x <= 0.0 {
        return 0;
    }
    (x - 1e-9 * x.max(1.0)).ceil().max(0.0) as u64
}

fn above(x: f64, limit: f64) -> bool {
    x > limit * (1.0 + 1e-9)
}

fn below(x: f64, limit: f64) -> bool {
    x < limit * (1.0 - 1e-9)
}

fn r3(x: f64) -> f64 {
    crate::num::round3(x)
}

/// The instance count target tracking settles at for a steady rate: the fewest instances that
/// keep the metric at or below target, within [min, max].
pub fn steady_count(rate: f64, target_value: f64, min: u64, max: u64) -> u64 {
    steady_count_for(&Metric::INVOCATIONS, rate, target_value, min, max)
}

/// [`steady_count`] for any tracked metric.
pub fn steady_count_for(m: &Metric, rate: f64, target_value: f64, min: u64, max: u64) -> u64 {
    ceil_count(rate * m.per_rps / target_value).clamp(min, max)
}

struct Sim {
    /// Keep rows and events; without it the run only answers whether the ramp holds.
    record: bool,
    desired: u64,
    in_service: u64,
    /// (tick at which they serve, how many), in order of readiness.
    pending: Vec<(u64, u64)>,
    events: Vec<Event>,
}

impl Sim {
    fn event(&mut self, tick: u64, kind: EventKind, message: impl FnOnce() -> String) {
        if self.record {
            self.events.push(Event {
                t_min: r3(tick as f64 * TICK_S / 60.0),
                kind,
                desired: self.desired,
                in_service: self.in_service,
                message: message(),
            });
        }
    }

    fn arrivals(&mut self, tick: u64) {
        let ready: u64 = self
            .pending
            .iter()
            .filter(|(t, _)| *t <= tick)
            .map(|(_, n)| n)
            .sum();
        if ready > 0 {
            self.pending.retain(|(t, _)| *t > tick);
            let before = self.in_service;
            self.in_service += ready;
            let after = self.in_service;
            self.event(tick, EventKind::InService, || {
                format!("{ready} new instance(s) in service: {before} → {after}")
            });
        }
    }

    fn pending_count(&self) -> u64 {
        self.pending.iter().map(|(_, n)| n).sum()
    }

    /// Removes `n` instances: those still provisioning first (latest first), then serving ones.
    fn remove(&mut self, mut n: u64) {
        while n > 0 {
            match self.pending.last_mut() {
                Some((_, c)) if *c > n => {
                    *c -= n;
                    n = 0;
                }
                Some((_, c)) => {
                    n -= *c;
                    self.pending.pop();
                }
                None => {
                    self.in_service = self.in_service.saturating_sub(n).max(1);
                    n = 0;
                }
            }
        }
    }
}

/// Simulates the ramp with the given MinCapacity.
///
/// Before t = 0 traffic has been at `min_tps` long enough for the fleet to settle at
/// [`steady_count`] and for every alarm to have seen that steady metric.
pub fn simulate(s: &Scenario, min_capacity: u64) -> Timeline {
    run(s, min_capacity, true)
}

/// Whether no instance in service ever exceeds MAX_RPS: [`simulate`] without the record, and
/// stopping at the first overload.
pub fn holds(s: &Scenario, min_capacity: u64) -> bool {
    run(s, min_capacity, false).holds
}

fn run(s: &Scenario, min_capacity: u64, record: bool) -> Timeline {
    let p = &s.policy;
    let max_cap = s.max_capacity.max(1);
    let min_cap = min_capacity.clamp(1, max_cap);
    let target = p.target_value;
    let scale_in_level = target * p.scale_in_threshold_percent / 100.0;
    let provisioning_ticks = ceil_count(p.provisioning_minutes * 60.0 / TICK_S).max(1);
    let out_cooldown_ticks = ceil_count(f64::from(p.scale_out_cooldown_s) / TICK_S);
    let in_cooldown_ticks = ceil_count(f64::from(p.scale_in_cooldown_s) / TICK_S);
    let max_rps = s.max_rps_per_instance;

    let m = s.metric;
    let period_ticks = m.period_ticks.max(1);
    // metric = Σ over the datapoint's ticks of (requests ÷ instances) × this.
    let per_request = m.per_rps / m.period_s();
    let n0 = steady_count_for(&m, s.traffic.min_tps, target, min_cap, max_cap);
    let mut sim = Sim {
        record,
        desired: n0,
        in_service: n0,
        pending: Vec::new(),
        events: Vec::new(),
    };
    let metric0 = s.traffic.min_tps * m.per_rps / n0 as f64;
    let concurrency = |metric: f64| (m.tracked == Tracked::Concurrency).then(|| r3(metric));
    let out_needed = u64::from(p.scale_out_datapoints);
    let in_needed = u64::from(p.scale_in_datapoints);
    let mut out_streak = if above(metric0, target) {
        out_needed
    } else {
        0
    };
    let mut in_streak = if below(metric0, scale_in_level) {
        in_needed
    } else {
        0
    };
    let mut out_alarm = out_streak >= out_needed;
    let mut in_alarm = in_streak >= in_needed;
    let mut last_out: Option<u64> = None;
    let mut last_in: Option<u64> = None;

    let load0 = s.traffic.min_tps / n0 as f64;
    let mut rows = Vec::new();
    let first = Row {
        t_min: 0.0,
        offered_rps: r3(s.traffic.min_tps),
        invocations_per_instance: r3(s.traffic.min_tps * 60.0 / n0 as f64),
        concurrency_per_instance: concurrency(metric0),
        in_service: n0,
        desired: n0,
        capacity_rps: r3(n0 as f64 * max_rps),
        load_per_instance_rps: r3(load0),
        over_max_rps: above(load0, max_rps),
        scale_out_alarm: out_alarm,
        scale_in_alarm: in_alarm,
    };
    if record {
        rows.push(first);
    }
    let mut worst = load0;
    let mut worst_tick = 0u64;
    let mut overloaded_ticks = 0u64;
    let mut overloaded = false;

    let periods = s.traffic.minutes() * TICKS_PER_MINUTE / period_ticks;
    let (unit, period_word) = (m.unit(), m.period_word());
    for minute in 0..periods {
        let mut per_instance = 0.0;
        let mut requests = 0.0;
        let mut minute_worst: f64 = 0.0;
        for j in 0..period_ticks {
            let k = minute * period_ticks + j;
            sim.arrivals(k);
            let (t0, t1) = (k as f64 * TICK_S, (k + 1) as f64 * TICK_S);
            let inv = s.traffic.requests_until(t1) - s.traffic.requests_until(t0);
            let n = sim.in_service as f64;
            // The rate only rises, so the tick's highest load is at its end.
            let load = s.traffic.rate_at(t1) / n;
            per_instance += inv / n;
            requests += inv;
            minute_worst = minute_worst.max(load);
            if load > worst {
                worst = load;
                worst_tick = k + 1;
            }
            let over = above(load, max_rps);
            if over {
                overloaded_ticks += 1;
            }
            if over && !record {
                return Timeline {
                    holds: false,
                    ..empty(min_cap, max_cap, max_rps)
                };
            }
            if over != overloaded {
                overloaded = over;
                let kind = if over {
                    EventKind::OverloadStart
                } else {
                    EventKind::OverloadEnd
                };
                sim.event(k, kind, || {
                    if over {
                        format!(
                            "load per instance {} rps exceeds MAX_RPS {} rps",
                            r3(load),
                            r3(max_rps)
                        )
                    } else {
                        format!("load per instance back within MAX_RPS ({} rps)", r3(load))
                    }
                });
            }
        }

        // The end of the datapoint: it is complete, the alarms and the policy act.
        let metric = per_instance * per_request;
        let b = (minute + 1) * period_ticks;
        sim.arrivals(b);
        out_streak = if above(metric, target) {
            out_streak + 1
        } else {
            0
        };
        in_streak = if below(metric, scale_in_level) {
            in_streak + 1
        } else {
            0
        };
        let (now_out, now_in) = (out_streak >= out_needed, in_streak >= in_needed);
        if now_out != out_alarm {
            out_alarm = now_out;
            let kind = if now_out {
                EventKind::ScaleOutAlarm
            } else {
                EventKind::ScaleOutAlarmOk
            };
            sim.event(b, kind, || {
                if now_out {
                    format!(
                        "scale-out alarm: {out_needed} consecutive {period_word}(s) above target {} (last {} {unit})",
                        r3(target),
                        r3(metric)
                    )
                } else {
                    format!(
                        "scale-out alarm clears ({} {unit} ≤ target {})",
                        r3(metric),
                        r3(target)
                    )
                }
            });
        }
        if now_in != in_alarm {
            in_alarm = now_in;
            let kind = if now_in {
                EventKind::ScaleInAlarm
            } else {
                EventKind::ScaleInAlarmOk
            };
            sim.event(b, kind, || {
                if now_in {
                    format!(
                        "scale-in alarm: {in_needed} consecutive {period_word}(s) below {} ({}% of target)",
                        r3(scale_in_level),
                        p.scale_in_threshold_percent
                    )
                } else {
                    format!(
                        "scale-in alarm clears ({} {unit})",
                        r3(metric)
                    )
                }
            });
        }

        // ceil(in_service × metric / target), with the datapoint's requests standing for
        // in_service × metric so that an instance arriving mid-minute is not double counted.
        let fleet_metric = requests * per_request;
        let wanted = ceil_count(fleet_metric / target);
        if out_alarm {
            let proposal = wanted.min(max_cap);
            let in_cooldown = last_out.is_some_and(|t| b < t + out_cooldown_ticks);
            let pending = sim.pending_count();
            let new = if in_cooldown {
                // Capacity still provisioning counts: only a larger scale-out goes through.
                proposal
            } else {
                // Inference: once the cooldown is over, capacity still provisioning is no
                // longer credited, so the policy adds what the metric asks for on top.
                (sim.desired + proposal.saturating_sub(sim.in_service)).min(max_cap)
            };
            if new > sim.desired {
                let before = sim.desired;
                sim.pending.push((b + provisioning_ticks, new - before));
                sim.desired = new;
                // AWS starts the scale-out cooldown "after a scale out activity completes":
                // when the new instances serve (until then only a larger scale-out goes
                // through, as in the cooldown), unless `cooldown_from = "decision"`.
                last_out = Some(match p.cooldown_from {
                    CooldownFrom::InService => b + provisioning_ticks,
                    CooldownFrom::Decision => b,
                });
                let serving = sim.in_service;
                sim.event(b, EventKind::ScaleOut, || {
                    let cap = if wanted > max_cap {
                        format!(", capped at MaxCapacity {max_cap}")
                    } else {
                        String::new()
                    };
                    let why = if in_cooldown {
                        "; a larger scale-out during the cooldown".to_string()
                    } else if pending > 0 {
                        format!(
                            " with {serving} in service; the cooldown is over, so the {pending} instance(s) still provisioning are not credited and {} more are added",
                            new - before
                        )
                    } else {
                        String::new()
                    };
                    let what = match m.tracked {
                        Tracked::Invocations => "invocations",
                        Tracked::Concurrency => "concurrent requests",
                    };
                    format!(
                        "scale out: desired {before} → {new} (ceil({} {what} ÷ target {}) = {wanted}{cap}{why}); serving from minute {}",
                        r3(fleet_metric),
                        r3(target),
                        r3((b + provisioning_ticks) as f64 * TICK_S / 60.0)
                    )
                });
            }
        } else if in_alarm {
            let in_cooldown = last_in.is_some_and(|t| b - t < in_cooldown_ticks);
            let proposal = wanted.clamp(min_cap, max_cap);
            if !in_cooldown && proposal < sim.desired {
                let before = sim.desired;
                sim.remove(before - proposal);
                sim.desired = proposal;
                last_in = Some(b);
                sim.event(b, EventKind::ScaleIn, || {
                    format!(
                        "scale in: desired {before} → {proposal} (removing whole instances only while the metric stays at or below target)"
                    )
                });
            }
        }

        if !record {
            continue;
        }
        let t_end = b as f64 * TICK_S;
        rows.push(Row {
            t_min: r3(t_end / 60.0),
            offered_rps: r3(s.traffic.rate_at(t_end)),
            invocations_per_instance: r3(per_instance * 60.0 / m.period_s()),
            concurrency_per_instance: concurrency(metric),
            in_service: sim.in_service,
            desired: sim.desired,
            capacity_rps: r3(sim.in_service as f64 * max_rps),
            load_per_instance_rps: r3(minute_worst),
            over_max_rps: above(minute_worst, max_rps),
            scale_out_alarm: out_alarm,
            scale_in_alarm: in_alarm,
        });
    }

    Timeline {
        worst_load_per_instance_rps: r3(worst),
        worst_at_min: r3(worst_tick as f64 * TICK_S / 60.0),
        overloaded_minutes: r3(overloaded_ticks as f64 * TICK_S / 60.0),
        holds: !above(worst, max_rps),
        rows,
        events: sim.events,
        ..empty(min_cap, max_cap, max_rps)
    }
}

fn empty(min_capacity: u64, max_capacity: u64, max_rps: f64) -> Timeline {
    Timeline {
        min_capacity,
        max_capacity,
        max_rps_per_instance: r3(max_rps),
        resolution_s: TICK_S,
        worst_load_per_instance_rps: 0.0,
        worst_at_min: 0.0,
        overloaded_minutes: 0.0,
        holds: true,
        rows: Vec::new(),
        events: Vec::new(),
    }
}
