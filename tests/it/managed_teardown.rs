//! Teardown of managed campaigns, however they end: SIGINT (a real signal to the real binary,
//! twice), a model that does not exist, an endpoint that never becomes InService, a failure in
//! the middle of the campaign, kill -9 followed by `cleanup`; and `cleanup` itself, which
//! deletes only what carries the rightsize tag.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::common::control_plane::Rules;
use crate::common::managed::*;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_in_the_second_type_tears_everything_down_writes_a_partial_report_and_exits_130() {
    let test =
        "sigint_in_the_second_type_tears_everything_down_writes_a_partial_report_and_exits_130";
    let profiles: Vec<&str> = TYPES.iter().map(|t| t.1).collect();
    let Some(w) = World::start(test, &profiles).await else {
        return;
    };
    let types: Vec<&str> = TYPES.iter().map(|t| t.0).collect();
    w.write(&w.campaign(&types, walk_all(), ""));
    let mut child = spawn(&w);
    let second = type_dir(&w.out(), types[1]).join("journal.jsonl");
    wait_until(&mut child, "a step of the second type", || {
        std::fs::read_to_string(&second).is_ok_and(|t| t.lines().count() >= 1)
    })
    .await;
    // Teardown takes a while, as it does on AWS: time for a second Ctrl-C during it.
    w.proxy.set_rules(Rules {
        delay: Some(("DeleteEndpoint".into(), Duration::from_secs(2))),
        ..Rules::default()
    });
    sigint(&child);
    let deletes_before = w.proxy.calls_of("DeleteEndpoint").len();
    wait_until(&mut child, "the teardown", || {
        w.proxy.calls_of("DeleteEndpoint").len() > deletes_before
    })
    .await;
    sigint(&child);
    let t0 = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code().unwrap_or(-1);
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("Ctrl-C is ignored"), "{stderr}");
    w.assert_nothing_left("after SIGINT").await;

    // The third type was never deployed; the first is complete, the second partial.
    assert_eq!(w.proxy.calls_of("CreateEndpoint").len(), 2);
    let m = w.manifest();
    assert_eq!(m["types"][0]["status"], "measured");
    assert_eq!(m["types"][1]["status"], "interrupted");
    assert_eq!(m["types"][2]["status"], "pending");
    assert_eq!(m["types"][0]["teardown"], "deleted");
    assert_eq!(m["types"][1]["teardown"], "deleted");
    assert_eq!(m["types"][2]["teardown"], "not created");
    let first = read_json(&type_dir(&w.out(), types[0]).join("report.json"));
    assert_eq!(first["partial"], false);
    let partial = read_json(&type_dir(&w.out(), types[1]).join("report.json"));
    assert_matches_schema(&partial, "report.schema.json");
    assert_eq!(partial["partial"], true);
    assert!(!partial["steps"].as_array().unwrap().is_empty());
    assert!(!type_dir(&w.out(), types[2]).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_does_not_exist_is_bad_input_and_creates_nothing() {
    let test = "a_model_that_does_not_exist_is_bad_input_and_creates_nothing";
    let Some(w) = World::start(test, &[TYPES[0].1]).await else {
        return;
    };
    w.write(&w.campaign(&[TYPES[0].0], walk_all(), "").replace(
        &format!("model_name = \"{MODEL}\""),
        "model_name = \"no-such-model\"",
    ));
    let (code, stdout, stderr) = w.run(&["run", "c.toml", "--out", "r", "--quiet"]).await;
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    for part in [
        "c.toml",
        "model_name",
        "no-such-model",
        "Nothing was created",
    ] {
        assert!(stderr.contains(part), "no {part:?} in {stderr}");
    }
    assert!(w.proxy.calls_of("CreateEndpointConfig").is_empty());
    w.assert_nothing_left("after a missing model").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_never_becomes_in_service_is_deleted_and_the_next_type_is_measured() {
    let test = "an_endpoint_that_never_becomes_in_service_is_deleted_and_the_next_type_is_measured";
    let Some(w) = World::start(test, &[TYPES[0].1, TYPES[1].1]).await else {
        return;
    };
    w.proxy.set_rules(Rules {
        creating: vec!["-c5-large-".into()],
        ..Rules::default()
    });
    w.write(&w.campaign(&[TYPES[0].0, TYPES[1].0], "[30]", "").replace(
        "in_service_timeout_minutes = 1",
        "in_service_timeout_minutes = 0.03",
    ));
    let (code, stdout, stderr) = w.run(RUN).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    w.assert_nothing_left("after an in-service timeout").await;
    let m = w.manifest();
    assert_eq!(m["types"][0]["status"], "deploy_failed");
    assert!(
        m["types"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("in_service_timeout_minutes"),
        "{m:#}"
    );
    assert_eq!(m["types"][0]["teardown"], "deleted");
    assert_eq!(m["types"][1]["status"], "measured");
    assert_eq!(w.fake.received_by_profile("-c5-large-"), 0);
    assert!(!type_dir(&w.out(), TYPES[0].0).exists());
    let compare = read_json(&w.out().join("compare.json"));
    assert_eq!(compare["rows"].as_array().unwrap().len(), 1);
    assert!(stderr.contains("deploy failed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_the_middle_of_a_campaign_stops_it_and_deletes_what_it_created() {
    let test = "a_failure_in_the_middle_of_a_campaign_stops_it_and_deletes_what_it_created";
    let profiles: Vec<&str> = TYPES.iter().map(|t| t.1).collect();
    let Some(w) = World::start(test, &profiles).await else {
        return;
    };
    // Credentials revoked while the second type is deploying.
    w.proxy.set_rules(Rules {
        fail_once: Some((
            "DescribeEndpoint".into(),
            "-c5-xlarge-".into(),
            "AccessDeniedException".into(),
        )),
        ..Rules::default()
    });
    let types: Vec<&str> = TYPES.iter().map(|t| t.0).collect();
    w.write(&w.campaign(&types, "[30]", ""));
    let (code, stdout, stderr) = w.run(RUN).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("AccessDeniedException"), "{stderr}");
    w.assert_nothing_left("after a failure mid-campaign").await;
    // The second type's endpoint existed when the failure came, and was deleted.
    let second = w.proxy.calls_of("CreateEndpoint")[1].name().to_string();
    assert!(
        w.proxy
            .calls_of("DeleteEndpoint")
            .iter()
            .any(|c| c.name() == second)
    );
    assert_eq!(w.proxy.calls_of("CreateEndpoint").len(), 2);
    let m = w.manifest();
    assert_eq!(m["types"][0]["status"], "measured");
    assert_eq!(m["types"][1]["status"], "error");
    assert_eq!(m["types"][1]["teardown"], "deleted");
    assert!(type_dir(&w.out(), types[0]).join("report.json").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_deletes_only_what_carries_the_campaign_tag() {
    let test = "cleanup_deletes_only_what_carries_the_campaign_tag";
    let Some(w) = World::start(test, &[]).await else {
        return;
    };
    let sm = sagemaker(&w.moto.url());
    create_endpoint(&sm, "rs-c5-large-aaaa1111", Some("aaaa1111")).await;
    create_endpoint(&sm, "rs-c5-large-bbbb2222", Some("bbbb2222")).await;
    // Named like ours, but without the tag: never ours to delete.
    create_endpoint(&sm, "rs-c5-xlarge-aaaa1111", None).await;
    let sorted = |(mut e, mut c): (Vec<String>, Vec<String>)| {
        e.sort();
        c.sort();
        (e, c)
    };

    let (code, stdout, stderr) = w.cleanup(&["--campaign", "aaaa1111"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("deleted endpoint rs-c5-large-aaaa1111"),
        "{stdout}"
    );
    let both = vec![
        "rs-c5-large-bbbb2222".to_string(),
        "rs-c5-xlarge-aaaa1111".to_string(),
    ];
    assert_eq!(sorted(w.left().await), (both.clone(), both.clone()));

    // --dry-run lists only.
    let (code, stdout, stderr) = w.cleanup(&["--all-mine", "--dry-run"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Dry run") && stdout.contains("rs-c5-large-bbbb2222"),
        "{stdout}"
    );
    assert!(!stdout.contains("rs-c5-xlarge-aaaa1111"), "{stdout}");
    assert_eq!(sorted(w.left().await), (both.clone(), both));

    let (code, stdout, stderr) = w.cleanup(&["--all-mine"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let untagged = vec!["rs-c5-xlarge-aaaa1111".to_string()];
    assert_eq!(w.left().await, (untagged.clone(), untagged));

    let (code, stdout, _) = w.cleanup(&["--all-mine"]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("Nothing to delete"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kill_9_the_cleanup_command_in_managed_json_deletes_what_was_left() {
    let test = "after_a_kill_9_the_cleanup_command_in_managed_json_deletes_what_was_left";
    let Some(w) = World::start(test, &[TYPES[0].1]).await else {
        return;
    };
    w.write(&w.campaign(&[TYPES[0].0], walk_all(), ""));
    let mut child = spawn(&w);
    let journal = type_dir(&w.out(), TYPES[0].0).join("journal.jsonl");
    wait_until(&mut child, "a measured step", || journal.is_file()).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let (endpoints, configs) = w.left().await;
    assert_eq!(
        (endpoints.len(), configs.len()),
        (1, 1),
        "the kill left nothing?"
    );

    let cleanup = w.manifest()["cleanup"].as_str().unwrap().to_string();
    let args: Vec<&str> = cleanup.split(' ').skip(1).collect();
    assert_eq!(args[..2], ["cleanup", "--campaign"], "{cleanup}");
    let (code, stdout, stderr) = w.run(&args).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    w.assert_nothing_left("after cleanup").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_true_leaves_the_measured_endpoint_deployed_and_tagged_until_cleanup() {
    let test = "keep_true_leaves_the_measured_endpoint_deployed_and_tagged_until_cleanup";
    let Some(w) = World::start(test, &[TYPES[1].1]).await else {
        return;
    };
    w.write(&w.campaign(&[TYPES[1].0], "[30]", "keep = true"));
    let (code, stdout, stderr) = w.run(RUN).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("Kept deployed"), "{stdout}");
    let m = w.manifest();
    let id = m["campaign_id"].as_str().unwrap();
    let name = format!("rs-c5-xlarge-{id}");
    assert_eq!(m["types"][0]["teardown"], "kept");
    assert_eq!(w.left().await, (vec![name.clone()], vec![name.clone()]));
    // As moto holds it: the type, and the campaign tag on both resources.
    let sm = sagemaker(&w.moto.url());
    let config = sm
        .describe_endpoint_config()
        .endpoint_config_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        config.production_variants()[0]
            .instance_type()
            .map(|t| t.as_str()),
        Some(TYPES[1].0)
    );
    for arn in [
        config.endpoint_config_arn().unwrap().to_string(),
        sm.describe_endpoint()
            .endpoint_name(&name)
            .send()
            .await
            .unwrap()
            .endpoint_arn()
            .unwrap()
            .to_string(),
    ] {
        let tags = sm.list_tags().resource_arn(&arn).send().await.unwrap();
        assert!(
            tags.tags()
                .iter()
                .any(|t| t.key() == Some(TAG) && t.value() == Some(id)),
            "{arn}: {tags:?}"
        );
    }
    let (code, stdout, stderr) = w.cleanup(&["--campaign", id]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    w.assert_nothing_left("after cleanup of a kept endpoint")
        .await;
}
