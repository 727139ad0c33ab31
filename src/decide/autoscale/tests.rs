//! The simulator against timelines worked out by hand, and its properties over a grid of inputs.

use super::sizing::{failing_above, shortest_ramp_minutes, smallest_min_capacity};
use super::*;

/// MAX_RPS 10 per instance, safety factor 0.5: target 300 invocations per minute per instance
/// (5 rps). Traffic from `min_tps` to `peak`; 3 / 15 datapoints, 90 %, 300 s cooldowns.
fn scenario(min_tps: f64, peak: f64, ramp: f64, hold: f64, prov: f64, max_cap: u64) -> Scenario {
    Scenario {
        metric: Metric::INVOCATIONS,
        traffic: Traffic {
            min_tps,
            peak_tps: peak,
            ramp_minutes: ramp,
            hold_minutes: hold,
        },
        policy: Policy {
            target_value: 300.0,
            scale_out_datapoints: 3,
            scale_in_datapoints: 15,
            scale_in_threshold_percent: 90.0,
            scale_out_cooldown_s: 300,
            scale_in_cooldown_s: 300,
            provisioning_minutes: prov,
            cooldown_from: CooldownFrom::InService,
        },
        max_rps_per_instance: 10.0,
        max_capacity: max_cap,
    }
}

/// (minute, kind, desired, in service) of every event.
fn events(t: &Timeline) -> Vec<(f64, EventKind, u64, u64)> {
    t.events
        .iter()
        .map(|e| (e.t_min, e.kind, e.desired, e.in_service))
        .collect()
}

fn row(t: &Timeline, minute: f64) -> &Row {
    t.rows.iter().find(|r| r.t_min == minute).unwrap()
}

use EventKind::*;

#[test]
fn a_30_minute_ramp_scales_out_twice_and_holds_with_one_instance() {
    // Rate 5 + (2/3)·t rps. With one instance minute m carries 320 + 40m invocations: above
    // target from the first minute, so the alarm fires at 3 and asks ceil(400/300) = 2. With
    // two, minutes 8–10 are above target again (320, 340, 360): alarm at 11, ceil(720/300) = 3.
    let t = simulate(&scenario(5.0, 25.0, 30.0, 20.0, 2.0, 3), 1);
    assert_eq!(
        events(&t),
        vec![
            (3.0, ScaleOutAlarm, 1, 1),
            (3.0, ScaleOut, 2, 1),
            (5.0, InService, 2, 2),
            (6.0, ScaleOutAlarmOk, 2, 2),
            (11.0, ScaleOutAlarm, 2, 2),
            (11.0, ScaleOut, 3, 2),
            (13.0, InService, 3, 3),
            (14.0, ScaleOutAlarmOk, 3, 3),
            (18.0, ScaleOutAlarm, 3, 3),
        ],
        "{:#?}",
        t.events
    );
    assert!(t.holds);
    // One instance until minute 5 at 8.333 rps, three at the 25 rps peak: 8.333 rps.
    assert_eq!(t.worst_load_per_instance_rps, 8.333);
    assert_eq!(t.overloaded_minutes, 0.0);
    assert_eq!(t.rows.len(), 51);
    let r0 = row(&t, 0.0);
    assert_eq!((r0.offered_rps, r0.in_service, r0.desired), (5.0, 1, 1));
    assert_eq!(r0.invocations_per_instance, 300.0);
    let r3 = row(&t, 3.0);
    assert_eq!(
        (r3.in_service, r3.desired, r3.scale_out_alarm),
        (1, 2, true)
    );
    assert_eq!(r3.invocations_per_instance, 400.0);
    assert_eq!(r3.offered_rps, 7.0);
    assert_eq!(row(&t, 13.0).capacity_rps, 30.0);
    assert_eq!(row(&t, 50.0).offered_rps, 25.0);
}

#[test]
fn a_10_minute_ramp_overloads_one_instance_until_help_arrives() {
    // Rate 5 + 2t rps: one instance passes 10 rps at minute 2.5. Alarm at 3 asks
    // ceil(600/300) = 2; at 4, still in cooldown, ceil(720/300) = 3 is a larger scale-out and
    // goes through. Instances serve 2 minutes after each decision.
    let t = simulate(&scenario(5.0, 25.0, 10.0, 20.0, 2.0, 3), 1);
    assert_eq!(
        events(&t),
        vec![
            (2.5, OverloadStart, 1, 1),
            (3.0, ScaleOutAlarm, 1, 1),
            (3.0, ScaleOut, 2, 1),
            (4.0, ScaleOut, 3, 1),
            (5.0, InService, 3, 2),
            (5.0, OverloadEnd, 3, 2),
            (6.0, InService, 3, 3),
        ],
        "{:#?}",
        t.events
    );
    assert!(
        t.events[3]
            .message
            .contains("larger scale-out during the cooldown")
    );
    assert!(!t.holds);
    assert_eq!(t.worst_load_per_instance_rps, 15.0);
    assert_eq!(t.worst_at_min, 5.0);
    assert_eq!(t.overloaded_minutes, 2.5);
    assert!(row(&t, 3.0).over_max_rps);
    assert!(!row(&t, 6.0).over_max_rps);
    assert_eq!(row(&t, 3.0).load_per_instance_rps, 11.0);
}

#[test]
fn two_instances_last_longer_but_the_10_minute_ramp_still_needs_three() {
    // Minimum 2: the metric (180 + 60m) passes 300 in minute 3, alarm at 6, the third instance
    // serves at 8; two instances pass 10 rps each at minute 7.5.
    let s = scenario(5.0, 25.0, 10.0, 20.0, 2.0, 3);
    let t = simulate(&s, 2);
    assert_eq!(t.rows[0].in_service, 2);
    let scale_outs: Vec<_> = events(&t)
        .into_iter()
        .filter(|e| e.1 == ScaleOut || e.1 == OverloadStart)
        .collect();
    assert_eq!(
        scale_outs,
        vec![(6.0, ScaleOut, 3, 2), (7.5, OverloadStart, 3, 2)]
    );
    assert_eq!(t.worst_load_per_instance_rps, 10.5);
    assert_eq!(smallest_min_capacity(&s), Some(3));
    assert_eq!(
        smallest_min_capacity(&scenario(5.0, 25.0, 30.0, 20.0, 2.0, 3)),
        Some(1)
    );
}

#[test]
fn after_the_cooldown_capacity_still_provisioning_is_not_credited() {
    // A step from 5 to 25 rps, provisioning 7 min > cooldown 5 min. Alarm at 3 asks
    // ceil(1500/300) = 5; at 8 the cooldown is over and the 4 pending instances are not
    // counted: 5 + (5 − 1) = 9. Once all 9 serve, the metric (166.7) stays below 270 for 15
    // minutes and the policy scales in to ceil(1500/300) = 5. (Cooldown from the decision.)
    let mut s = scenario(5.0, 25.0, 0.0, 40.0, 7.0, 10);
    s.policy.cooldown_from = CooldownFrom::Decision;
    let t = simulate(&s, 1);
    assert_eq!(
        events(&t),
        vec![
            (0.0, OverloadStart, 1, 1),
            (3.0, ScaleOutAlarm, 1, 1),
            (3.0, ScaleOut, 5, 1),
            (8.0, ScaleOut, 9, 1),
            (10.0, InService, 9, 5),
            (10.0, OverloadEnd, 9, 5),
            (11.0, ScaleOutAlarmOk, 9, 5),
            (15.0, InService, 9, 9),
            (30.0, ScaleInAlarm, 9, 9),
            (30.0, ScaleIn, 5, 5),
            (31.0, ScaleInAlarmOk, 5, 5),
        ],
        "{:#?}",
        t.events
    );
    assert!(
        t.events[3]
            .message
            .contains("4 instance(s) still provisioning")
    );
    assert_eq!(t.worst_load_per_instance_rps, 25.0);
}

#[test]
fn by_default_the_scale_out_cooldown_starts_when_the_instances_serve() {
    // The scenario above with the AWS default: the cooldown runs from minute 10 (when the 4
    // added instances serve) to 15, so minute 8 adds nothing; at 10 the 5 instances meet the
    // target (1500 ÷ 5 = 300, not above it) and no second scale-out is needed.
    let t = simulate(&scenario(5.0, 25.0, 0.0, 40.0, 7.0, 10), 1);
    let outs: Vec<_> = events(&t).into_iter().filter(|e| e.1 == ScaleOut).collect();
    assert_eq!(outs, vec![(3.0, ScaleOut, 5, 1)], "{:#?}", t.events);
    assert_eq!(t.worst_load_per_instance_rps, 25.0);
}

#[test]
fn provisioning_time_is_kept_to_the_10_second_tick() {
    // 258 s (AWS's example with container caching) rounds up to 260 s: 180 s + 260 s = 440 s.
    let t = simulate(&scenario(5.0, 25.0, 0.0, 20.0, 4.3, 10), 1);
    let arrival = t.events.iter().find(|e| e.kind == InService).unwrap();
    assert_eq!(arrival.t_min, 7.333);
    // The minute's row shows the state at its end: in service from 7:20, so 5 at minute 8.
    assert_eq!(row(&t, 7.0).in_service, 1);
    assert_eq!(row(&t, 8.0).in_service, 5);
}

#[test]
fn the_scale_out_proposal_is_capped_at_max_capacity() {
    let t = simulate(&scenario(5.0, 100.0, 0.0, 20.0, 2.0, 4), 1);
    let out = t.events.iter().find(|e| e.kind == ScaleOut).unwrap();
    assert_eq!(out.desired, 4);
    assert!(
        out.message.contains("capped at MaxCapacity 4"),
        "{}",
        out.message
    );
    assert_eq!(t.rows.last().unwrap().in_service, 4);
}

#[test]
fn the_fleet_starts_where_target_tracking_settles_for_the_floor() {
    // 40 rps floor = 2400 invocations per minute: 8 instances at target 300.
    let t = simulate(&scenario(40.0, 40.0, 10.0, 20.0, 2.0, 20), 1);
    assert_eq!(t.rows[0].in_service, 8);
    assert_eq!(steady_count(40.0, 300.0, 1, 20), 8);
    assert_eq!(steady_count(40.0, 300.0, 10, 20), 10);
    assert_eq!(steady_count(40.0, 300.0, 1, 5), 5);
    assert_eq!(steady_count(0.0, 300.0, 1, 5), 1);
}

#[test]
fn a_shortest_ramp_is_found_for_a_given_minimum() {
    let s = scenario(5.0, 25.0, 10.0, 20.0, 2.0, 3);
    let m = shortest_ramp_minutes(&s, 1).unwrap();
    let with = |ramp: f64| {
        let mut t = s.clone();
        t.traffic.ramp_minutes = ramp;
        simulate(&t, 1).holds
    };
    assert!(with(m));
    assert!(!with(m - 1.0));
    assert!(m > 10.0 && m <= 30.0, "{m}");
    assert!((m as u64..=200).all(|r| with(r as f64)));
    // Already enough: the ramp as given.
    assert_eq!(shortest_ramp_minutes(&s, 3), Some(10.0));
}

#[test]
fn a_higher_minimum_can_delay_the_alarm_and_fail_where_a_lower_one_holds() {
    // 5 → 200 rps over 30 min, target 480 (safety 0.8), cooldown 120 s, provisioning 2.5 min,
    // MaxCapacity 20. With 18 the metric crosses the target earlier and the fleet grows in
    // time; with 19 the alarm fires at minute 26 and one instance is briefly over MAX_RPS.
    let mut s = scenario(5.0, 200.0, 30.0, 40.0, 2.5, 20);
    s.policy.target_value = 480.0;
    s.policy.scale_out_cooldown_s = 120;
    s.policy.scale_in_cooldown_s = 120;
    assert!(simulate(&s, 18).holds);
    let t19 = simulate(&s, 19);
    assert!(!t19.holds);
    assert_eq!(t19.worst_load_per_instance_rps, 10.013);
    assert_eq!(smallest_min_capacity(&s), Some(18));
    assert_eq!(failing_above(&s, 18), vec![19]);
}

// ---- properties over a grid ----------------------------------------------------------------

struct Case {
    target: f64,
    min_tps: f64,
    peak: f64,
    cooldown: u32,
    max_cap: u64,
}

fn grid() -> Vec<Case> {
    let mut v = Vec::new();
    for sf in [0.5, 0.8] {
        for (min_tps, peak) in [(0.0, 40.0), (10.0, 40.0), (5.0, 200.0), (30.0, 200.0)] {
            for cooldown in [120, 300] {
                let need = (peak / 10.0_f64).ceil() as u64;
                for max_cap in [need, need + need / 2] {
                    v.push(Case {
                        target: (10.0 * sf * 60.0_f64).floor(),
                        min_tps,
                        peak,
                        cooldown,
                        max_cap,
                    });
                }
            }
        }
    }
    v
}

const RAMPS: [f64; 10] = [0.0, 1.0, 3.0, 5.0, 10.0, 15.0, 30.0, 45.0, 60.0, 120.0];
const PROVISIONING: [f64; 6] = [1.0, 2.5, 4.0, 6.0, 9.0, 15.0];

fn make(c: &Case, ramp: f64, prov: f64) -> Scenario {
    let mut s = scenario(c.min_tps, c.peak, ramp, 40.0, prov, c.max_cap);
    s.policy.target_value = c.target;
    s.policy.scale_out_cooldown_s = c.cooldown;
    s.policy.scale_in_cooldown_s = c.cooldown;
    s
}

fn needed(s: &Scenario) -> u64 {
    smallest_min_capacity(s).unwrap_or(u64::MAX)
}

#[test]
fn a_longer_ramp_never_needs_more_minimum_instances() {
    for c in grid() {
        for prov in PROVISIONING {
            let mins: Vec<u64> = RAMPS.iter().map(|r| needed(&make(&c, *r, prov))).collect();
            assert!(
                mins.windows(2).all(|w| w[1] <= w[0]),
                "ramps {RAMPS:?} need {mins:?} (provisioning {prov}, min_tps {}, peak {}, target {}, cooldown {}, max {})",
                c.min_tps,
                c.peak,
                c.target,
                c.cooldown,
                c.max_cap
            );
        }
    }
}

#[test]
fn a_longer_provisioning_time_never_needs_fewer_minimum_instances() {
    for c in grid() {
        for ramp in RAMPS {
            let mins: Vec<u64> = PROVISIONING
                .iter()
                .map(|p| needed(&make(&c, ramp, *p)))
                .collect();
            assert!(
                mins.windows(2).all(|w| w[1] >= w[0]),
                "provisioning {PROVISIONING:?} needs {mins:?} (ramp {ramp}, min_tps {}, peak {}, target {}, cooldown {}, max {})",
                c.min_tps,
                c.peak,
                c.target,
                c.cooldown,
                c.max_cap
            );
        }
    }
}

#[test]
fn an_instant_ramp_needs_min_equal_to_max() {
    for c in grid() {
        // Unless the floor alone already keeps the whole fleet running.
        if steady_count(c.min_tps, c.target, 1, c.max_cap) >= c.max_cap {
            continue;
        }
        // The peak needs ceil(peak ÷ MAX_RPS) instances from the first second.
        let need = (c.peak / 10.0).ceil() as u64;
        for prov in PROVISIONING {
            let s = make(&c, 0.0, prov);
            assert_eq!(needed(&s), need, "peak {} max {}", c.peak, c.max_cap);
            if c.max_cap == need {
                assert_eq!(needed(&s), c.max_cap);
            }
        }
    }
}

#[test]
fn traffic_that_never_changes_causes_no_scale_events() {
    for c in grid() {
        for rate in [0.0, 1.0, c.min_tps, c.peak / 2.0, c.peak] {
            for prov in PROVISIONING {
                for min in [1, 2, c.max_cap] {
                    let mut s = make(&c, 30.0, prov);
                    s.traffic.min_tps = rate;
                    s.traffic.peak_tps = rate;
                    let t = simulate(&s, min);
                    let scaling: Vec<_> = t.events.iter().filter(|e| e.kind.is_scaling()).collect();
                    assert!(scaling.is_empty(), "rate {rate} min {min}: {scaling:#?}");
                    assert!(t.rows.iter().all(|r| r.desired == t.rows[0].desired));
                }
            }
        }
    }
}

#[test]
fn the_minimum_found_is_the_smallest_that_holds() {
    for c in grid() {
        for ramp in RAMPS {
            for prov in [2.5, 9.0] {
                let s = make(&c, ramp, prov);
                let linear = (1..=c.max_cap).find(|m| simulate(&s, *m).holds);
                assert_eq!(smallest_min_capacity(&s), linear, "ramp {ramp} prov {prov}");
            }
        }
    }
}

#[test]
fn the_shortest_ramp_holds_and_so_do_ramps_up_to_twice_as_long() {
    for c in grid().iter().step_by(4) {
        for prov in [2.5, 9.0] {
            for min in [1, c.max_cap / 2] {
                let s = make(c, 5.0, prov);
                let holds_with = |m: f64| {
                    let mut t = s.clone();
                    t.traffic.ramp_minutes = m;
                    holds(&t, min)
                };
                match shortest_ramp_minutes(&s, min) {
                    Some(5.0) => assert!(holds_with(5.0)),
                    Some(r) => {
                        let r = r as u64;
                        let end = (2 * r).max(r + 60);
                        for m in (r..=end).step_by(3) {
                            assert!(holds_with(m as f64), "min {min} prov {prov}: {m} fails");
                        }
                        // Nothing just shorter has such a window.
                        for shorter in r.saturating_sub(3).max(6)..r {
                            let e = (2 * shorter).max(shorter + 60);
                            assert!(
                                (shorter..=e).any(|m| !holds_with(m as f64)),
                                "min {min} prov {prov}: {shorter} would do"
                            );
                        }
                    }
                    None => assert!(!holds_with(1440.0)),
                }
            }
        }
    }
}

/// A step from 1 to 3 rps at t = 0 on one instance; requests take 2 s end to end, so 6 are in
/// flight against a target of 2 per instance.
fn concurrency_step(metric: Metric) -> Scenario {
    let mut s = scenario(1.0, 3.0, 0.0, 10.0, 2.0, 10);
    s.metric = metric;
    s.policy.target_value = match metric.tracked {
        Tracked::Concurrency => 2.0,
        Tracked::Invocations => 60.0,
    };
    // C_max 4 per instance ÷ 2 s: 2 rps per instance hold the limits.
    s.max_rps_per_instance = 2.0;
    s
}

#[test]
fn on_10_second_datapoints_the_concurrency_alarm_fires_after_30_s_not_3_minutes() {
    let t = simulate(&concurrency_step(Metric::concurrency(2.0)), 1);
    // Rows are 10 s apart and carry the concurrency datapoint: 3 rps × 2 s on one instance.
    assert_eq!(t.rows[1].t_min, r3(10.0 / 60.0));
    assert_eq!(t.rows[1].concurrency_per_instance, Some(6.0));
    assert_eq!(t.rows[1].invocations_per_instance, 180.0, "3 rps × 60 s");
    let out: Vec<_> = events(&t)
        .into_iter()
        .filter(|e| matches!(e.1, ScaleOutAlarm | ScaleOut | InService))
        .take(3)
        .collect();
    // Three datapoints above target (10, 20, 30 s): ceil(6 in flight ÷ 2) = 3 instances,
    // serving 2 minutes later.
    assert_eq!(
        out,
        vec![
            (0.5, ScaleOutAlarm, 1, 1),
            (0.5, ScaleOut, 3, 1),
            (2.5, InService, 3, 3),
        ]
    );
    assert!(!t.holds, "one instance above C_max for 2.5 minutes");
    assert_eq!(t.overloaded_minutes, 2.5);

    // The same step on the one-minute invocations metric waits three whole minutes.
    let slow = simulate(&concurrency_step(Metric::INVOCATIONS), 1);
    let first = slow.events.iter().find(|e| e.kind == ScaleOut).unwrap();
    assert_eq!(first.t_min, 3.0);
    assert!(slow.overloaded_minutes > t.overloaded_minutes);
}

#[test]
fn concurrency_held_at_target_causes_no_scale_event() {
    // Settled at 3 rps on 3 instances (2 in flight each = target); nothing changes, so no
    // alarm fires and no row leaves the target.
    let mut s = concurrency_step(Metric::concurrency(2.0));
    s.traffic.min_tps = 3.0;
    let t = simulate(&s, 1);
    assert_eq!(t.rows[0].in_service, 3);
    assert!(t.events.is_empty(), "{:?}", t.events);
    assert!(
        t.rows
            .iter()
            .all(|r| r.concurrency_per_instance == Some(2.0))
    );
}
