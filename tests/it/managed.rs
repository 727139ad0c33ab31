//! Managed campaigns (`[deploy]`) end to end with the real binary: the control plane is moto's
//! server (behind a recording proxy, tests/it/common/control_plane.rs), the runtime calls go to
//! the built-in simulated endpoint, which gives each instance type's endpoint its own known
//! capacity (tests/it/common/managed.rs). Every campaign must leave moto with no endpoint and
//! no endpoint configuration; the comparison ranks the cheapest type for the peak.

use crate::common::managed::*;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_over_three_types_measures_each_ranks_the_cheapest_for_the_peak_and_leaves_nothing()
 {
    let test = "a_campaign_over_three_types_measures_each_ranks_the_cheapest_for_the_peak_and_leaves_nothing";
    let profiles: Vec<&str> = TYPES.iter().map(|t| t.1).collect();
    let Some(w) = World::start(test, &profiles).await else {
        return;
    };
    let types: Vec<&str> = TYPES.iter().map(|t| t.0).collect();
    w.write(&w.campaign(&types, walk_all(), ""));
    let (code, stdout, stderr) = w.run(RUN).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    w.assert_nothing_left("after a successful campaign").await;

    let m = w.manifest();
    let id = m["campaign_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 8, "{id}");
    // Even with --quiet, the way to clean up after a kill is said first.
    assert!(
        stderr.contains(&format!("rightsize cleanup --campaign {id}")),
        "{stderr}"
    );
    // Created with the right type, count, model, variant, unique name and the campaign tag.
    let configs = w.proxy.calls_of("CreateEndpointConfig");
    let endpoints = w.proxy.calls_of("CreateEndpoint");
    assert_eq!(configs.len(), 3);
    assert_eq!(endpoints.len(), 3);
    let tag = serde_json::json!([{ "Key": TAG, "Value": id }]);
    let mut max_rps = Vec::new();
    // What each step found, for the message of a failed assertion.
    let mut steps = String::new();
    for (i, ty) in types.iter().enumerate() {
        let name = format!("rs-{}-{id}", &ty[3..].replace('.', "-"));
        let c = &configs[i];
        assert_eq!(c.name(), name);
        let v = &c.body["ProductionVariants"][0];
        assert_eq!(v["InstanceType"], *ty);
        assert_eq!(v["InitialInstanceCount"], 1);
        assert_eq!(v["ModelName"], MODEL);
        assert_eq!(v["VariantName"], "AllTraffic");
        assert_eq!(c.body["Tags"], tag, "{name}");
        assert_eq!(endpoints[i].name(), name);
        assert_eq!(endpoints[i].body["EndpointConfigName"], name.as_str());
        assert_eq!(endpoints[i].body["Tags"], tag, "{name}");
        // The endpoint went before its configuration.
        let calls = w.proxy.calls();
        let deleted_at = |op: &str| {
            calls
                .iter()
                .position(|c| c.op == op && c.name() == name)
                .unwrap_or_else(|| panic!("no {op} for {name}"))
        };
        assert!(deleted_at("DeleteEndpoint") < deleted_at("DeleteEndpointConfig"));
        // Each endpoint was measured on its own capacity.
        assert!(
            w.fake
                .received_by_profile(TYPES[i].1.split('=').next().unwrap())
                > 0
        );
        let report = read_json(&type_dir(&w.out(), ty).join("report.json"));
        assert_matches_schema(&report, "report.schema.json");
        assert_eq!(report["partial"], false);
        assert_eq!(report["managed"]["endpoint_name"], name.as_str());
        assert_eq!(report["managed"]["campaign_id"], id.as_str());
        assert_eq!(report["campaign"]["target"]["instance_type"], *ty);
        assert_eq!(m["types"][i]["status"], "measured");
        assert_eq!(m["types"][i]["teardown"], "deleted");
        max_rps.push(report["max_rps"].as_f64());
        for s in report["steps"].as_array().unwrap() {
            steps += &format!(
                "\n{ty} {} pass {} {}",
                s["offered_rps"], s["pass"], s["reasons"]
            );
        }
    }
    // Each type's own capacity (90, 180, 360 requests/s) shows in its result: c5.large
    // passes no step of the walk, c5.xlarge fewer than c5.2xlarge.
    match max_rps[..] {
        [None, Some(x), Some(x2)] if x < x2 => {}
        _ => panic!("MAX_RPS per type {max_rps:?}{steps}"),
    }

    let compare = read_json(&w.out().join("compare.json"));
    assert_matches_schema(&compare, "compare.schema.json");
    let rows = compare["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0]["instance_type"], "ml.c5.xlarge",
        "{compare:#}{steps}"
    );
    assert_eq!(rows[0]["rank"], 1);
    assert_eq!(rows[0]["instances_for_peak"], 2);
    assert_eq!(rows[1]["instance_type"], "ml.c5.2xlarge", "{compare:#}");
    assert_eq!(rows[1]["rank"], 2);
    assert_eq!(rows[2]["instance_type"], "ml.c5.large", "{compare:#}");
    assert_eq!(rows[2]["meets_requirements"], false);
    for f in ["compare.md", "compare.html"] {
        assert!(w.out().join(f).is_file(), "{f}");
    }
    assert!(stdout.contains("ml.c5.xlarge"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_no_type_meets_the_requirements_the_campaign_exits_3_and_leaves_nothing() {
    let test = "when_no_type_meets_the_requirements_the_campaign_exits_3_and_leaves_nothing";
    let Some(w) = World::start(test, &[TYPES[0].1, TYPES[1].1]).await else {
        return;
    };
    // 33 ms of service time cannot meet a p99 of 20 ms.
    w.write(
        &w.campaign(&[TYPES[0].0, TYPES[1].0], "[30]", "")
            .replace("p99_ms = 500", "p99_ms = 20"),
    );
    let (code, stdout, stderr) = w.run(RUN).await;
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    w.assert_nothing_left("after a campaign that found nothing")
        .await;
    let compare = read_json(&w.out().join("compare.json"));
    let rows = compare["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["meets_requirements"] == false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endurance_check_scales_the_chosen_type_to_max_instances_and_records_pass() {
    let test = "the_endurance_check_scales_the_chosen_type_to_max_instances_and_records_pass";
    // This c5.2xlarge serves 720 requests/s but the walk stops at 120: it is sized at 2
    // instances for the peak of 200 (c5.large at 4), and the check at 200 requests/s has room
    // to pass.
    let Some(w) = World::start(test, &[TYPES[0].1, "-c5-2xlarge-=24x33.3"]).await else {
        return;
    };
    let prices = PRICES.replace("\"ml.c5.2xlarge\" = 0.45", "\"ml.c5.2xlarge\" = 0.15");
    std::fs::write(w.dir.path().join("prices.toml"), prices).unwrap();
    w.write(&w.campaign(
        &[TYPES[0].0, TYPES[2].0],
        "[60, 120]",
        "endurance_minutes = 0.1",
    ));
    let (code, stdout, stderr) = w.run(RUN).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    w.assert_nothing_left("after the endurance check").await;
    let id = w.manifest()["campaign_id"].as_str().unwrap().to_string();
    let chosen = format!("rs-c5-2xlarge-{id}");
    let scaled = w.proxy.calls_of("UpdateEndpointWeightsAndCapacities");
    assert_eq!(scaled.len(), 1, "{scaled:?}");
    assert_eq!(scaled[0].name(), chosen);
    let desired = &scaled[0].body["DesiredWeightsAndCapacities"][0];
    assert_eq!(desired["DesiredInstanceCount"], 2);
    assert_eq!(desired["VariantName"], "AllTraffic");

    let report = read_json(&type_dir(&w.out(), TYPES[2].0).join("report.json"));
    assert_matches_schema(&report, "report.schema.json");
    let e = &report["managed"]["endurance"];
    assert_eq!(e["pass"], true, "{e:#}");
    assert_eq!(e["instances"], 2);
    assert_eq!(e["offered_rps"], 200.0);
    assert_eq!(e["minutes"], 0.1);
    assert!(e["step"]["requests"].as_u64().unwrap() > 0);
    // Only the chosen type carries a check.
    let other = read_json(&type_dir(&w.out(), TYPES[0].0).join("report.json"));
    assert!(other["managed"].get("endurance").is_none());
    assert!(stdout.contains("Endurance"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endurance_check_the_chosen_type_cannot_hold_is_recorded_as_a_failure_and_exits_3() {
    let test =
        "an_endurance_check_the_chosen_type_cannot_hold_is_recorded_as_a_failure_and_exits_3";
    // c5.large serves 90 requests/s in all, whatever the instance count: 4 instances for the
    // peak of 200 are sized from its 60 per instance, and the check at 200 cannot pass.
    let Some(w) = World::start(test, &[TYPES[0].1]).await else {
        return;
    };
    w.write(&w.campaign(&[TYPES[0].0], "[60]", "endurance_minutes = 0.05"));
    let (code, stdout, stderr) = w.run(RUN).await;
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    w.assert_nothing_left("after a failed endurance check")
        .await;
    let report = read_json(&type_dir(&w.out(), TYPES[0].0).join("report.json"));
    assert_matches_schema(&report, "report.schema.json");
    let e = &report["managed"]["endurance"];
    assert_eq!(e["pass"], false, "{e:#}");
    assert_eq!(e["instances"], 4);
    assert!(!e["reasons"].as_array().unwrap().is_empty(), "{e:#}");
    assert!(stdout.contains("FAIL"), "{stdout}");
}
