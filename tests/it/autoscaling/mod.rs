//! Auto-scaling end to end: `rightsize recommend` on a saved report (a fixture whose MAX_RPS is
//! known), the policy files it writes, `rightsize apply`, a campaign run that writes them, and
//! (in `moto`) the files and `apply --yes` against moto's Application Auto Scaling.

mod fixture;
mod llm;
mod moto;

use std::path::{Path, PathBuf};

use crate::common::*;
use fixture::*;
use serde_json::{Value, json};

#[test]
fn a_5_minute_ramp_needs_more_minimum_instances_than_a_60_minute_one() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(dir.path(), Value::Null);
    let before = std::fs::read(&src).unwrap();

    let mut mins = Vec::new();
    for (ramp, out) in [("60", "r60"), ("5", "r5")] {
        let (code, stdout, stderr) =
            recommend(dir.path(), &src, &["--ramp-minutes", ramp, "--out", out]);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert!(
            stdout.contains("Ramp timeline with MinCapacity"),
            "{stdout}"
        );
        let report = read_json(&dir.path().join(out).join("report.json"));
        assert_matches_schema(&report, "report.schema.json");
        let a = ramp_advice(&report);
        let min = report["recommendation"]["min_instances"].as_u64().unwrap();
        assert_eq!(a["min_instances"].as_u64(), Some(min));
        assert_eq!(a["holds"], true);
        assert_eq!(a["parameters"]["ramp_minutes"].as_f64(), ramp.parse().ok());
        // Every default is named: provisioning, datapoints, cooldowns, hold.
        assert_eq!(a["parameters"]["provisioning_minutes"], 6.0);
        assert_eq!(a["parameters"]["scale_out_datapoints"], 3);
        assert_eq!(a["parameters"]["scale_in_datapoints"], 15);
        assert_eq!(a["parameters"]["scale_out_cooldown_s"], 300);
        assert_eq!(
            report["campaign"]["autoscaling"]["provisioning_minutes"],
            6.0
        );
        // The timeline: one row per minute plus the steady state, never above MAX_RPS.
        let rows = a["timeline"]["rows"].as_array().unwrap();
        let hold = a["parameters"]["hold_minutes"].as_f64().unwrap();
        assert_eq!(rows.len() as f64, ramp.parse::<f64>().unwrap() + hold + 1.0);
        assert!(
            rows.iter()
                .all(|r| r["load_per_instance_rps"].as_f64().unwrap() <= 100.0)
        );
        assert_eq!(rows.last().unwrap()["offered_rps"], 1000.0);
        assert!(
            rows.iter()
                .all(|r| r["in_service"].as_u64().unwrap() >= min)
        );
        // The policy files carry the same minimum and the measured target.
        let target = read_json(&dir.path().join(out).join("scalable-target.json"));
        assert_eq!(target["MinCapacity"].as_u64(), Some(min));
        assert_eq!(target["MaxCapacity"].as_u64(), Some(10));
        let policy = read_json(&dir.path().join(out).join("scaling-policy.json"));
        assert_eq!(
            policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"],
            3000.0
        );
        mins.push((min, a.clone()));
    }
    let (min60, _) = &mins[0];
    let (min5, a5) = &mins[1];
    assert!(min5 > min60, "5-minute ramp min {min5}, 60-minute {min60}");
    // One instance fewer than the 5-minute answer overloads the fleet: the explanation says so.
    let text = serde_json::to_string(a5).unwrap();
    assert!(
        a5["shortest_ramp_minutes"].as_f64().unwrap() > 5.0,
        "{text}"
    );
    assert_eq!(
        a5["scheduled_minimum"]["min_capacity"].as_u64(),
        Some(*min5)
    );
    // The measurement report is untouched.
    assert_eq!(std::fs::read(&src).unwrap(), before);
}

#[test]
fn without_a_ramp_the_minimum_comes_from_the_traffic_floor() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(dir.path(), Value::Null);
    let (code, stdout, stderr) = recommend(
        dir.path(),
        &src,
        &["--min-tps", "400", "--safety-factor", "0.8", "--out", "o"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report = read_json(&dir.path().join("o/report.json"));
    assert_matches_schema(&report, "report.schema.json");
    let r = &report["recommendation"];
    assert!(r.get("autoscaling").is_none());
    // max(1, ceil(min_tps ÷ (MAX_RPS × safety factor))).
    assert_eq!(
        r["min_instances"],
        (400.0_f64 / (100.0 * 0.8)).ceil() as u64
    );
    assert_eq!(r["invocations_target"], 4800);
    assert_eq!(report["campaign"]["requirements"]["min_tps"], 400.0);
    let last = r["explanation"].as_array().unwrap().last().unwrap().clone();
    assert!(last.as_str().unwrap().contains("--min-tps 400"), "{last}");
}

#[test]
fn the_recomputed_report_goes_beside_the_original_and_never_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(dir.path(), Value::Null);
    let before = std::fs::read(&src).unwrap();
    let (code, stdout, _) = recommend(dir.path(), &src, &["--ramp-minutes", "30"]);
    assert_eq!(code, 0, "{stdout}");
    let made: Vec<PathBuf> = std::fs::read_dir(src.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let name = made[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("recommend-"), "{name}");
    assert!(made[0].join("report.json").exists());
    assert!(made[0].join("scaling-policy.json").exists());

    // Pointing --out at the measured report's own folder is refused.
    let measured = src.parent().unwrap().to_string_lossy().into_owned();
    let (code, _, stderr) = recommend(dir.path(), &src, &["--out", &measured]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("already holds a report"), "{stderr}");
    assert_eq!(std::fs::read(&src).unwrap(), before);
}

#[test]
fn bad_reports_and_bad_flags_are_input_errors_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(dir.path(), Value::Null);
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    let (code, _, stderr) = recommend(dir.path(), &garbage, &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("garbage.json"), "{stderr}");
    let (code, _, stderr) = recommend(dir.path(), &dir.path().join("missing.json"), &[]);
    assert_eq!(code, 2, "{stderr}");

    for (args, expect) in [
        (vec!["--ramp-minutes=-3"], "--ramp-minutes"),
        (vec!["--ramp-minutes", "5000"], "at most 1440"),
        (vec!["--min-tps", "2000"], "must not exceed peak_tps"),
        (vec!["--safety-factor", "2"], "--safety-factor"),
        (
            vec!["--provisioning-minutes", "0"],
            "--provisioning-minutes",
        ),
        (vec!["--schedule", "0 7 * * *"], "--schedule"),
        (vec!["--endpoint", "bad_name"], "--endpoint"),
    ] {
        let (code, stdout, stderr) = recommend(dir.path(), &src, &args);
        assert_eq!(code, 2, "{args:?}: {stdout}\n{stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
    // Nothing was written for the refused flags.
    let dirs = std::fs::read_dir(src.parent().unwrap())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(dirs, 0);
}

#[test]
fn when_even_min_equal_to_max_fails_the_report_says_by_how_much() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(dir.path(), Value::Null);
    // The peak needs 10 instances of 100 rps; allow only 5.
    let (code, stdout, stderr) = recommend(
        dir.path(),
        &src,
        &["--ramp-minutes", "30", "--max-instances", "5", "--out", "o"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report = read_json(&dir.path().join("o/report.json"));
    assert_matches_schema(&report, "report.schema.json");
    let a = ramp_advice(&report);
    assert_eq!(a["holds"], false);
    assert!(a["ramp_min_instances"].is_null());
    assert_eq!(a["min_instances"], 5);
    let s = &a["shortfall"];
    assert_eq!(s["instances_needed_at_peak"], 10);
    // 1000 rps on 5 instances is 200 rps each: 100 % above MAX_RPS.
    assert_eq!(s["worst_load_per_instance_rps"], 200.0);
    assert_eq!(s["over_percent"], 100.0);
    assert!(stdout.contains("does not hold"), "{stdout}");
    assert!(stdout.contains("DOES NOT HOLD"), "{stdout}");
    assert_eq!(a["scheduled_minimum"]["min_capacity"], 10);
}

#[test]
fn a_schedule_keeps_the_floor_outside_the_ramp_and_raises_the_minimum_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(
        dir.path(),
        json!({ "schedule_end": "cron(0 12 ? * MON-FRI *)", "schedule": "cron(0 6 ? * MON-FRI *)",
                "timezone": "Europe/Paris", "endpoint_name": "prod-endpoint",
                "scale_out_cooldown_s": 120, "provisioning_minutes": 4.3 }),
    );
    let (code, stdout, stderr) = recommend(
        dir.path(),
        &src,
        &[
            "--ramp-minutes",
            "5",
            "--schedule",
            "cron(45 6 ? * MON-FRI *)",
            "--out",
            "o",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let o = dir.path().join("o");
    let report = read_json(&o.join("report.json"));
    let a = ramp_advice(&report);
    let floor = a["floor_min_instances"].as_u64().unwrap();
    let ramp_min = a["ramp_min_instances"].as_u64().unwrap();
    assert!(ramp_min > floor);
    let target = read_json(&o.join("scalable-target.json"));
    assert_eq!(target["MinCapacity"].as_u64(), Some(floor));
    assert_eq!(
        target["ResourceId"],
        "endpoint/prod-endpoint/variant/AllTraffic"
    );
    let up = read_json(&o.join("scheduled-action.json"));
    assert_eq!(up["Schedule"], "cron(45 6 ? * MON-FRI *)");
    assert_eq!(up["Timezone"], "Europe/Paris");
    assert_eq!(
        up["ScalableTargetAction"]["MinCapacity"].as_u64(),
        Some(ramp_min)
    );
    let down = read_json(&o.join("scheduled-action-end.json"));
    assert_eq!(down["Schedule"], "cron(0 12 ? * MON-FRI *)");
    assert_eq!(
        down["ScalableTargetAction"]["MinCapacity"].as_u64(),
        Some(floor)
    );
    assert!(!stdout.contains("REPLACE_WITH_ENDPOINT_NAME"), "{stdout}");
    // The campaign's cooldown reaches both the simulation and the policy.
    let policy = read_json(&o.join("scaling-policy.json"));
    let c = &policy["TargetTrackingScalingPolicyConfiguration"];
    assert_eq!(
        (c["ScaleOutCooldown"].clone(), c["ScaleInCooldown"].clone()),
        (json!(120), json!(300))
    );
    assert_eq!(a["parameters"]["scale_out_cooldown_s"], 120);
    assert_eq!(a["parameters"]["provisioning_minutes"], 4.3);
}

#[test]
fn a_report_where_no_step_passed_recomputes_to_no_recommendation_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(dir.path(), Value::Null);
    let mut report = read_json(&src);
    for s in report["steps"].as_array_mut().unwrap() {
        s["pass"] = json!(false);
    }
    report["max_rps"] = Value::Null;
    std::fs::write(&src, report.to_string()).unwrap();
    let (code, stdout, stderr) =
        recommend(dir.path(), &src, &["--ramp-minutes", "5", "--out", "o"]);
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stdout.contains("No recommendation"), "{stdout}");
    let out = read_json(&dir.path().join("o/report.json"));
    assert_matches_schema(&out, "report.schema.json");
    assert!(out["recommendation"].is_null());
    assert!(!dir.path().join("o/scalable-target.json").exists());
}

#[test]
fn apply_without_yes_prints_the_calls_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(dir.path(), Value::Null);
    let (code, _, _) = recommend(dir.path(), &src, &["--ramp-minutes", "5", "--out", "o"]);
    assert_eq!(code, 0);
    // A closed port: any call would fail.
    let out = run_bin(
        &[
            "apply",
            "o/report.json",
            "--endpoint",
            "my-endpoint",
            "--endpoint-url",
            "http://127.0.0.1:1",
        ],
        dir.path(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("Dry run: nothing was sent"), "{stdout}");
    assert!(stdout.contains("1. RegisterScalableTarget"), "{stdout}");
    assert!(stdout.contains("2. PutScalingPolicy"), "{stdout}");
    assert!(
        stdout.contains("\"ResourceId\": \"endpoint/my-endpoint/variant/AllTraffic\""),
        "{stdout}"
    );

    // A report without a recommendation has nothing to apply.
    let out = run_bin(
        &["apply", &src.to_string_lossy(), "--endpoint", "my-endpoint"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no recommendation"));
}

#[test]
fn an_autoscaling_section_with_a_typo_is_refused_with_its_line() {
    let text = campaign("t", "http://127.0.0.1:9/invocations", 100.0, "")
        + "\n[autoscaling]\nprovisioning_minutes = 4\nscale_out_datapoint = 2\n";
    let e =
        rightsize::config::Campaign::parse(&text, Path::new("c.toml"), Path::new(".")).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("scale_out_datapoint"), "{e}");
    let text = campaign("t", "http://127.0.0.1:9/invocations", 100.0, "")
        + "\n[autoscaling]\nschedule = \"daily at 7\"\n";
    let e =
        rightsize::config::Campaign::parse(&text, Path::new("c.toml"), Path::new(".")).unwrap_err();
    assert!(e.to_string().contains("[autoscaling] schedule"), "{e}");
    assert!(e.to_string().contains("line"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_with_a_ramp_writes_its_timeline_and_the_policy_files() {
    use rightsize::sim::{FakeConfig, FakeEndpoint};
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        slots: 4,
        service_ms: 10.0,
        queue_max: 64,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    let text = campaign(
        "ramp",
        &endpoint.invocations_url(),
        100.0,
        "search = \"walk\"\nwalk = [40, 80]\nstep_seconds = 1\nwarmup_seconds = 0.2",
    )
    .replace("step_seconds = 2\nwarmup_seconds = 0.5\n", "")
    .replace("min_tps = 20", "min_tps = 20\nramp_minutes = 10")
        + "\n[autoscaling]\nendpoint_name = \"ramp-endpoint\"\nprovisioning_minutes = 4.3\n";
    std::fs::write(&file, text).unwrap();
    let c = rightsize::config::Campaign::load(&file).unwrap();
    let opts = rightsize::run::campaign::RunOptions::new(Some(dir.path().join("out")), true);
    let finished = rightsize::run::campaign::run(&c, &file, &opts)
        .await
        .unwrap();
    let out = &finished.dir;
    let report = read_json(&out.join("report.json"));
    assert_matches_schema(&report, "report.schema.json");
    let a = ramp_advice(&report);
    assert_eq!(a["parameters"]["provisioning_minutes"], 4.3);
    assert_eq!(a["parameters"]["ramp_minutes"], 10.0);
    assert!(!a["timeline"]["rows"].as_array().unwrap().is_empty());
    let min = report["recommendation"]["min_instances"].clone();
    assert_eq!(a["min_instances"], min);
    let target = read_json(&out.join("scalable-target.json"));
    assert_eq!(
        target["ResourceId"],
        "endpoint/ramp-endpoint/variant/AllTraffic"
    );
    assert_eq!(target["MinCapacity"], min);
    assert!(out.join("scaling-policy.json").exists());
}
