//! SageMaker targets against the built-in simulated endpoint's runtime path: known capacity,
//! selectable errors, and what reaches the wire. Every case runs through both clients, the fast
//! signed one and the real AWS SDK (the reference), and they must agree.
//!
//! Both get explicit dummy credentials, region and endpoint URL: nothing reaches AWS and no
//! test changes its process environment.

use std::sync::Arc;
use std::time::Duration;

use crate::common::aws::*;
use crate::common::*;
use rightsize::config::{Campaign, SagemakerClient};
use rightsize::measure::client::sagemaker::SagemakerTargetConfig;
use rightsize::measure::client::{AnyTarget, Target};
use rightsize::measure::load::{self, StepHandle, StepSpec};
use rightsize::measure::payload::Payloads;
use rightsize::measure::stats::{ErrorClass, Recorder, StepResult};
use rightsize::run::campaign::{self, Outcome, RunOptions};
use rightsize::sim::{FakeConfig, FakeEndpoint};

const CLIENTS: [SagemakerClient; 2] = [SagemakerClient::Fast, SagemakerClient::Sdk];

/// A target aimed at `base_url` through `client`, with explicit region and credentials.
async fn sm_target(
    client: SagemakerClient,
    base_url: &str,
    tweak: impl FnOnce(&mut SagemakerTargetConfig),
) -> AnyTarget {
    let mut cfg = SagemakerTargetConfig::for_endpoint("test-endpoint");
    cfg.region = Some("us-east-1".into());
    cfg.endpoint_url = Some(base_url.into());
    cfg.credentials = Some(dummy_credentials());
    cfg.client = client;
    tweak(&mut cfg);
    AnyTarget::sagemaker(&cfg).await.unwrap()
}

/// One short constant-rate step.
async fn step<T: Target>(target: Arc<T>, rate: f64, window_s: f64) -> StepResult {
    let spec = StepSpec::new(rate, 0.0, window_s, 64, Duration::from_secs(10));
    let handle = StepHandle {
        recorder: Arc::new(Recorder::new(4)),
        cancel: Default::default(),
    };
    let (m, _) = load::run_step(target, Arc::new(Payloads::single("{}")), &spec, &handle).await;
    m.into_result()
}

fn knee_endpoint() -> FakeConfig {
    FakeConfig {
        slots: 8,
        service_ms: 20.0,
        queue_max: 64,
        ..FakeConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sagemaker_campaign_finds_the_same_max_rps_as_the_same_campaign_over_http() {
    let extra = "start_rps = 50\nresolution_percent = 3";
    let dir = tempfile::tempdir().unwrap();

    let http_fake = FakeEndpoint::start_local(knee_endpoint()).await.unwrap();
    let http_file = dir.path().join("http.toml");
    std::fs::write(
        &http_file,
        campaign("via-http", &http_fake.invocations_url(), 100.0, extra),
    )
    .unwrap();
    let c = Campaign::load(&http_file).unwrap();
    let http = campaign::run(
        &c,
        &http_file,
        &RunOptions::new(Some(dir.path().join("http")), true),
    )
    .await
    .unwrap();
    http_fake.stop();

    assert_eq!(
        http.outcome,
        Outcome::Recommended,
        "{:#?}",
        http.report.steps
    );
    let h = http.report.max_rps.unwrap();

    for client in CLIENTS {
        let sdk_fake = FakeEndpoint::start_local(knee_endpoint()).await.unwrap();
        let sdk_file = dir.path().join(format!("{client:?}.toml"));
        std::fs::write(
            &sdk_file,
            sagemaker_campaign("via-sdk", &sdk_fake.base_url(), 100.0, extra),
        )
        .unwrap();
        let c = Campaign::load(&sdk_file).unwrap();
        let mut cfg = SagemakerTargetConfig::from_campaign(&c).unwrap();
        // The campaign leaves the client to its default: the fast one.
        assert_eq!(cfg.client, SagemakerClient::Fast);
        cfg.client = client;
        cfg.credentials = Some(dummy_credentials());
        let target = Arc::new(AnyTarget::sagemaker(&cfg).await.unwrap());
        let payloads = Arc::new(Payloads::load(&c.payload, &sdk_file, true).unwrap());
        let sdk = campaign::run_with(
            &c,
            target,
            payloads,
            &RunOptions::new(Some(dir.path().join(format!("{client:?}"))), true),
        )
        .await
        .unwrap();

        assert_eq!(
            sdk.outcome,
            Outcome::Recommended,
            "{client:?}: {:#?}",
            sdk.report.steps
        );
        let s = sdk.report.max_rps.unwrap();
        eprintln!("MAX_RPS via HTTP {h}, via the {client:?} SageMaker client {s}");
        assert!(
            (s - h).abs() <= 0.10 * h,
            "MAX_RPS via the {client:?} client {s} is not within 10 % of {h} via HTTP:\n{:#?}",
            sdk.report.steps
        );
        // Requests really went through the runtime path, signed for SageMaker in the
        // campaign's region.
        let seen = sdk_fake.first_runtime_request().unwrap();
        assert_eq!(seen.path, "/endpoints/sized-endpoint/invocations");
        let scope = seen.signing_scope.unwrap();
        assert!(scope.starts_with("AWS4-HMAC-SHA256 "), "{scope}");
        assert!(
            scope.ends_with("/us-east-1/sagemaker/aws4_request"),
            "{scope}"
        );
        let json = read_json(&sdk.dir.join("report.json"));
        assert_matches_schema(&json, "report.schema.json");
        let passing = sdk.report.steps.iter().find(|s| s.pass).unwrap();
        assert_eq!(
            passing.variants.get("AllTraffic"),
            Some(&(passing.requests - passing.errors)),
            "every success names the variant that served it: {passing:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sagemaker_error_lands_in_the_same_class_through_both_clients() {
    struct Case {
        name: &'static str,
        fake: FakeConfig,
        class: ErrorClass,
        status: Option<&'static str>,
        sample: &'static str,
    }
    let fast = FakeConfig {
        service_ms: 1.0,
        ..FakeConfig::default()
    };
    let cases = [
        Case {
            name: "throttling (HTTP 400, unmodelled ThrottlingException)",
            fake: FakeConfig {
                throttle_rate: 1.0,
                ..fast.clone()
            },
            class: ErrorClass::Throttled,
            status: Some("400"),
            sample: "ThrottlingException",
        },
        Case {
            name: "model error",
            fake: FakeConfig {
                error_rate: 1.0,
                ..fast.clone()
            },
            class: ErrorClass::ModelError,
            status: Some("424"),
            sample: "ModelError",
        },
        Case {
            name: "service unavailable",
            fake: FakeConfig {
                unavailable_rate: 1.0,
                ..fast.clone()
            },
            class: ErrorClass::ServiceUnavailable,
            status: Some("503"),
            sample: "ServiceUnavailable",
        },
        Case {
            name: "model not ready",
            fake: FakeConfig {
                not_ready_rate: 1.0,
                ..fast.clone()
            },
            class: ErrorClass::ModelNotReady,
            status: Some("429"),
            sample: "ModelNotReadyException",
        },
        Case {
            name: "internal failure",
            fake: FakeConfig {
                internal_failure_rate: 1.0,
                ..fast.clone()
            },
            class: ErrorClass::InternalFailure,
            status: Some("500"),
            sample: "InternalFailure",
        },
        Case {
            name: "validation",
            fake: FakeConfig {
                validation_rate: 1.0,
                ..fast.clone()
            },
            class: ErrorClass::Validation,
            status: Some("400"),
            sample: "ValidationError",
        },
        Case {
            name: "timeout (the SDK's operation timeout)",
            fake: FakeConfig {
                slow_rate: 1.0,
                slow_for: Duration::from_secs(3),
                ..fast.clone()
            },
            class: ErrorClass::Timeout,
            status: None,
            sample: "timeout",
        },
    ];
    for case in cases {
        // What each client saw: classes, statuses and the container's statuses, whole.
        let mut results = Vec::new();
        for client in CLIENTS {
            let endpoint = FakeEndpoint::start_local(case.fake.clone()).await.unwrap();
            let target = Arc::new(
                sm_target(client, &endpoint.base_url(), |c| {
                    c.timeout = Duration::from_millis(300)
                })
                .await,
            );
            let s = step(target.clone(), 20.0, 1.0).await;
            let name = format!("{} via {client:?}", case.name);
            assert_eq!(s.requests, 20, "{name}: {s:#?}");
            // Retries are off: the endpoint saw each call once, so every attempt was counted.
            assert_eq!(endpoint.received(), 20, "{name}");
            assert_eq!(
                s.errors_by_class.get(case.class.name()),
                Some(&20),
                "{name}: {s:#?}"
            );
            match case.status {
                Some(st) => assert_eq!(s.status_counts.get(st), Some(&20), "{name}"),
                None => assert!(s.status_counts.is_empty(), "{name}: {s:#?}"),
            }
            let samples = target.error_samples();
            assert!(
                samples
                    .iter()
                    .any(|(c, m)| *c == case.class && m.contains(case.sample)),
                "{name}: {samples:?}"
            );
            if case.class == ErrorClass::ModelError {
                // The container's own status is kept, per status.
                assert_eq!(s.original_status_counts.get("500"), Some(&20), "{s:#?}");
            }
            // A service error is described in the same words by both clients.
            let first = samples.into_iter().find(|(c, _)| *c == case.class);
            let sample = first.filter(|_| case.status.is_some());
            results.push((
                s.errors_by_class.clone(),
                s.status_counts.clone(),
                s.original_status_counts.clone(),
                sample,
            ));
        }
        assert_eq!(results[0], results[1], "{}: fast vs SDK", case.name);
    }

    for client in CLIENTS {
        // A full queue answers 503 too: the class follows the service's answer, not a flag.
        let endpoint = FakeEndpoint::start_local(FakeConfig {
            slots: 1,
            service_ms: 200.0,
            queue_max: 0,
            ..FakeConfig::default()
        })
        .await
        .unwrap();
        let s = step(
            Arc::new(sm_target(client, &endpoint.base_url(), |_| {}).await),
            50.0,
            1.0,
        )
        .await;
        assert!(
            s.errors_by_class.get("service_unavailable").copied() >= Some(40),
            "{client:?}: {s:#?}"
        );

        // Nothing listening: a dispatch failure is a connect error.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let s = step(Arc::new(sm_target(client, &url, |_| {}).await), 20.0, 0.5).await;
        assert_eq!(
            s.errors_by_class.get("connect"),
            Some(&10),
            "{client:?}: {s:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invoke_endpoint_field_the_campaign_names_reaches_the_wire() {
    for client in CLIENTS {
        fields_reach_the_wire(client).await;
    }
}

async fn fields_reach_the_wire(client: SagemakerClient) {
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        service_ms: 1.0,
        variant: "AllTraffic,Blue".into(),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    let text = sagemaker_campaign("fields", &endpoint.base_url(), 100.0, "").replace(
        "region = \"us-east-1\"\n",
        r#"region = "eu-west-3"
variant = "Blue"
target_model = "model-a.tar.gz"
target_container_hostname = "container-2"
inference_component = "ic-1"
inference_id = "probe-42"
custom_attributes = "trace=on"
content_type = "text/csv"
accept = "application/jsonlines"
"#,
    );
    std::fs::write(&file, text).unwrap();
    let c = Campaign::load(&file).unwrap();
    let mut cfg = SagemakerTargetConfig::from_campaign(&c).unwrap();
    cfg.credentials = Some(dummy_credentials());
    cfg.client = client;
    let target = Arc::new(AnyTarget::sagemaker(&cfg).await.unwrap());
    assert_eq!(target.region(), Some("eu-west-3"));
    let s = step(target, 20.0, 0.5).await;
    assert_eq!(s.errors, 0, "{client:?}: {s:#?}");
    // The endpoint answers with the targeted variant, and the report counts it.
    assert_eq!(s.variants.get("Blue"), Some(&10), "{s:#?}");

    let seen = endpoint.first_runtime_request().unwrap();
    for (header, value) in [
        ("content-type", "text/csv"),
        ("accept", "application/jsonlines"),
        ("x-amzn-sagemaker-target-variant", "Blue"),
        ("x-amzn-sagemaker-target-model", "model-a.tar.gz"),
        ("x-amzn-sagemaker-target-container-hostname", "container-2"),
        ("x-amzn-sagemaker-inference-component", "ic-1"),
        ("x-amzn-sagemaker-inference-id", "probe-42"),
        ("x-amzn-sagemaker-custom-attributes", "trace=on"),
    ] {
        assert_eq!(
            seen.header(header),
            Some(value),
            "{client:?} {header}: {seen:#?}"
        );
    }
    let scope = seen.signing_scope.unwrap();
    assert!(
        scope.ends_with("/eu-west-3/sagemaker/aws4_request"),
        "{scope}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_counted_per_variant_that_served_them() {
    for client in CLIENTS {
        let endpoint = FakeEndpoint::start_local(FakeConfig {
            service_ms: 1.0,
            variant: "Blue,Green".into(),
            ..FakeConfig::default()
        })
        .await
        .unwrap();
        let s = step(
            Arc::new(sm_target(client, &endpoint.base_url(), |_| {}).await),
            40.0,
            1.0,
        )
        .await;
        assert_eq!(s.errors, 0, "{client:?}: {s:#?}");
        assert_eq!(s.variants.len(), 2, "{s:#?}");
        assert_eq!(s.variants["Blue"] + s.variants["Green"], 40, "{s:#?}");
        assert!(
            s.variants["Blue"] >= 15 && s.variants["Green"] >= 15,
            "{s:#?}"
        );
    }
}

#[test]
fn the_sagemaker_example_campaign_is_valid() {
    let c = Campaign::load(&repo_root().join("configs/sagemaker-example.toml")).unwrap();
    let cfg = SagemakerTargetConfig::from_campaign(&c).unwrap();
    assert_eq!(cfg.endpoint_name, "my-endpoint");
    assert_eq!(cfg.region.as_deref(), Some("us-east-1"));
}
