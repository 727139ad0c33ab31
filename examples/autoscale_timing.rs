//! How long the ramp simulation takes: one timeline, the minimum-instance search, and the whole
//! advice (with the shortest-ramp remedy). A measurement, not a test:
//! `cargo run --release --example autoscale_timing`.

use std::time::Instant;

use rightsize::decide::autoscale::sizing::{self, RampInputs};
use rightsize::decide::autoscale::{AutoscalingConfig, Policy, Scenario, Traffic, simulate};

fn time<T>(label: &str, runs: u32, mut f: impl FnMut() -> T) {
    let t0 = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(f());
    }
    let per = t0.elapsed().as_secs_f64() / f64::from(runs);
    println!("{label:<58} {:>10.3} ms", per * 1000.0);
}

fn main() {
    let cfg = AutoscalingConfig::default();
    for (name, max_rps, peak, ramp) in [
        (
            "demo endpoint (MAX_RPS 376.75, 50 → 1000 rps)",
            376.75,
            1000.0,
            60.0,
        ),
        ("demo endpoint, 5-minute ramp", 376.75, 1000.0, 5.0),
        (
            "large fleet (MAX_RPS 50, 50 → 20000 rps)",
            50.0,
            20000.0,
            60.0,
        ),
    ] {
        let target = (max_rps * 0.5 * 60.0_f64).floor();
        let max_cap = (peak / max_rps).ceil() as u64;
        let s = Scenario {
            metric: rightsize::decide::autoscale::Metric::INVOCATIONS,
            traffic: Traffic {
                min_tps: 50.0,
                peak_tps: peak,
                ramp_minutes: ramp,
                hold_minutes: cfg.hold_minutes(),
            },
            policy: Policy::from_config(&cfg, target),
            max_rps_per_instance: max_rps,
            max_capacity: max_cap,
        };
        let inputs = RampInputs {
            metric: rightsize::decide::autoscale::Metric::INVOCATIONS,
            max_rps_per_instance: max_rps,
            target_value: target,
            min_tps: 50.0,
            peak_tps: peak,
            ramp_minutes: ramp,
            max_capacity: max_cap,
            floor_min_instances: 1,
        };
        println!("{name}: MaxCapacity {max_cap}, ramp {ramp} min");
        time("  one timeline (simulate)", 2000, || simulate(&s, 1));
        time("  smallest MinCapacity (scan)", 200, || {
            sizing::smallest_min_capacity(&s)
        });
        time("  whole advice (minimum, remedies, timeline)", 50, || {
            sizing::advise(&inputs, &cfg)
        });
    }
}
