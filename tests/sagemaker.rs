//! SageMaker targets through the real AWS SDK: against the built-in simulated endpoint's runtime
//! path (known capacity, selectable errors) and against moto, the AWS emulator.
//!
//! In-process tests give the SDK explicit dummy credentials and endpoint URLs; tests of the
//! binary set its environment explicitly. Nothing here reaches AWS.

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sagemakerruntime::config::Credentials;
use common::moto::Moto;
use common::*;
use rightsize::campaign::{self, Outcome, RunOptions};
use rightsize::config::Campaign;
use rightsize::fake::{FakeConfig, FakeEndpoint};
use rightsize::load::{self, StepHandle, StepSpec};
use rightsize::payload::Payloads;
use rightsize::stats::{ErrorClass, Recorder, StepResult};
use rightsize::target::Target;
use rightsize::target::sagemaker::{SagemakerTarget, SagemakerTargetConfig};

/// Recognisable dummy credentials: none of these strings may appear in any output.
const ACCESS_KEY: &str = "AKIARIGHTSIZELEAKCHECK";
const SECRET_KEY: &str = "rightsizeSecretLeakCheck/Do+Not+Print";
const SESSION_TOKEN: &str = "rightsizeSessionTokenLeakCheck//Do+Not+Print";

fn dummy_credentials() -> Credentials {
    Credentials::new(
        ACCESS_KEY,
        SECRET_KEY,
        Some(SESSION_TOKEN.into()),
        None,
        "rightsize-tests",
    )
}

/// An SDK target aimed at `base_url`, with explicit region and credentials.
async fn sdk_target(
    base_url: &str,
    tweak: impl FnOnce(&mut SagemakerTargetConfig),
) -> SagemakerTarget {
    let mut cfg = SagemakerTargetConfig::for_endpoint("test-endpoint");
    cfg.region = Some("us-east-1".into());
    cfg.endpoint_url = Some(base_url.into());
    cfg.credentials = Some(dummy_credentials());
    tweak(&mut cfg);
    SagemakerTarget::new(&cfg).await.unwrap()
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

/// The binary with only the environment given (plus PATH), so no developer profile, region or
/// credential leaks into the test, and no test mutates its own process environment.
async fn run_bin_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .env("AWS_CONFIG_FILE", cwd.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            cwd.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.expect("the rightsize binary runs")
}

const AWS_ENV: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
    ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ("AWS_SESSION_TOKEN", SESSION_TOKEN),
    ("AWS_REGION", "us-east-1"),
];

/// A campaign file text for a SageMaker endpoint; `endpoint_url` may be empty (then the
/// environment decides where requests go).
fn sagemaker_campaign(name: &str, endpoint_url: &str, p99_ms: f64, extra_load: &str) -> String {
    let url_line = if endpoint_url.is_empty() {
        String::new()
    } else {
        format!("endpoint_url = \"{endpoint_url}\"\n")
    };
    campaign(name, "http://unused", p99_ms, extra_load).replace(
        "kind = \"http\"\nurl = \"http://unused\"\n",
        &format!("kind = \"sagemaker\"\nendpoint_name = \"sized-endpoint\"\nregion = \"us-east-1\"\n{url_line}"),
    )
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

    let sdk_fake = FakeEndpoint::start_local(knee_endpoint()).await.unwrap();
    let sdk_file = dir.path().join("sdk.toml");
    std::fs::write(
        &sdk_file,
        sagemaker_campaign("via-sdk", &sdk_fake.base_url(), 100.0, extra),
    )
    .unwrap();
    let c = Campaign::load(&sdk_file).unwrap();
    let mut cfg = SagemakerTargetConfig::from_campaign(&c).unwrap();
    cfg.credentials = Some(dummy_credentials());
    let target = Arc::new(SagemakerTarget::new(&cfg).await.unwrap());
    let payloads = Arc::new(Payloads::load(&c.payload, &sdk_file, true).unwrap());
    let sdk = campaign::run_with(
        &c,
        target,
        payloads,
        &RunOptions::new(Some(dir.path().join("sdk")), true),
    )
    .await
    .unwrap();

    assert_eq!(
        http.outcome,
        Outcome::Recommended,
        "{:#?}",
        http.report.steps
    );
    assert_eq!(sdk.outcome, Outcome::Recommended, "{:#?}", sdk.report.steps);
    let (h, s) = (http.report.max_rps.unwrap(), sdk.report.max_rps.unwrap());
    eprintln!("MAX_RPS via HTTP {h}, via the SageMaker SDK {s}");
    assert!(
        (s - h).abs() <= 0.10 * h,
        "MAX_RPS via the SDK {s} is not within 10 % of {h} via HTTP:\n{:#?}",
        sdk.report.steps
    );
    // The SDK really went through the runtime path, signed for SageMaker in the campaign's region.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sagemaker_error_lands_in_its_class_through_the_sdk() {
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
        let endpoint = FakeEndpoint::start_local(case.fake).await.unwrap();
        let target = Arc::new(
            sdk_target(&endpoint.base_url(), |c| {
                c.timeout = Duration::from_millis(300)
            })
            .await,
        );
        let s = step(target.clone(), 20.0, 1.0).await;
        assert_eq!(s.requests, 20, "{}: {s:#?}", case.name);
        assert_eq!(
            s.errors_by_class.get(case.class.name()),
            Some(&20),
            "{}: {s:#?}",
            case.name
        );
        match case.status {
            Some(st) => assert_eq!(s.status_counts.get(st), Some(&20), "{}", case.name),
            None => assert!(s.status_counts.is_empty(), "{}: {s:#?}", case.name),
        }
        let samples = target.error_samples();
        assert!(
            samples
                .iter()
                .any(|(c, m)| *c == case.class && m.contains(case.sample)),
            "{}: {samples:?}",
            case.name
        );
        if case.class == ErrorClass::ModelError {
            // The container's own status is kept, per status.
            assert_eq!(s.original_status_counts.get("500"), Some(&20), "{s:#?}");
        }
    }

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
        Arc::new(sdk_target(&endpoint.base_url(), |_| {}).await),
        50.0,
        1.0,
    )
    .await;
    assert!(
        s.errors_by_class.get("service_unavailable").copied() >= Some(40),
        "{s:#?}"
    );

    // Nothing listening: a dispatch failure is a connect error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let s = step(Arc::new(sdk_target(&url, |_| {}).await), 20.0, 0.5).await;
    assert_eq!(s.errors_by_class.get("connect"), Some(&10), "{s:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invoke_endpoint_field_the_campaign_names_reaches_the_wire() {
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
    let target = Arc::new(SagemakerTarget::new(&cfg).await.unwrap());
    assert_eq!(target.region(), "eu-west-3");
    let s = step(target, 20.0, 0.5).await;
    assert_eq!(s.errors, 0, "{s:#?}");
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
        assert_eq!(seen.header(header), Some(value), "{header}: {seen:#?}");
    }
    let scope = seen.signing_scope.unwrap();
    assert!(
        scope.ends_with("/eu-west-3/sagemaker/aws4_request"),
        "{scope}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_counted_per_variant_that_served_them() {
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        service_ms: 1.0,
        variant: "Blue,Green".into(),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let s = step(
        Arc::new(sdk_target(&endpoint.base_url(), |_| {}).await),
        40.0,
        1.0,
    )
    .await;
    assert_eq!(s.errors, 0, "{s:#?}");
    assert_eq!(s.variants.len(), 2, "{s:#?}");
    assert_eq!(s.variants["Blue"] + s.variants["Green"], 40, "{s:#?}");
    assert!(
        s.variants["Blue"] >= 15 && s.variants["Green"] >= 15,
        "{s:#?}"
    );
}

/// Every file under `dir`, recursively, as text.
fn all_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            out.push((p.display().to_string(), text));
        }
    }
    out
}

fn assert_no_credentials(what: &str, text: &str) {
    for secret in [ACCESS_KEY, SECRET_KEY, SESSION_TOKEN] {
        assert!(
            !text.contains(secret),
            "{what} contains the credential {secret:?}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_value_appears_in_any_report_log_or_error_message() {
    // Errors of several classes, so error paths and their messages are exercised too.
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        service_ms: 1.0,
        throttle_rate: 0.1,
        error_rate: 0.1,
        validation_rate: 0.1,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        sagemaker_campaign(
            "leak-check",
            "",
            100.0,
            "search = \"walk\"\nwalk = [20, 40]",
        ),
    )
    .unwrap();
    let mut env = AWS_ENV.to_vec();
    let base = endpoint.base_url();
    // The standard variable routes the SDK to the simulated endpoint.
    env.push(("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", &base));
    env.push(("RUST_LOG", "trace"));
    let mut outputs = Vec::new();

    let run = run_bin_env(&["run", "c.toml", "--out", "r"], dir.path(), &env).await;
    let (stdout, stderr) = text(&run);
    assert_eq!(run.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        endpoint.served() > 0,
        "the environment's endpoint URL was used"
    );
    outputs.push(run);

    let probe_args = [
        "probe",
        "sagemaker://leak-check",
        "--rps",
        "20",
        "--duration",
        "1s",
        "--json",
    ];
    outputs.push(run_bin_env(&probe_args, dir.path(), &env).await);
    // A refused connection and a timeout: the error messages the summary prints.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut args = probe_args.to_vec();
    args.extend(["--endpoint-url", &closed_url]);
    let refused = run_bin_env(&args, dir.path(), &env).await;
    assert_eq!(refused.status.code(), Some(1), "{:?}", text(&refused));
    assert!(text(&refused).1.contains("Connection refused"));
    outputs.push(refused);
    // Bad input and a missing region: error messages on the way out.
    outputs.push(run_bin_env(&["run", "missing.toml"], dir.path(), &env).await);
    outputs.push(
        run_bin_env(
            &["probe", "sagemaker://no-region", "--rps", "1"],
            dir.path(),
            &env[..3],
        )
        .await,
    );

    for (i, o) in outputs.iter().enumerate() {
        let (stdout, stderr) = text(o);
        assert_no_credentials(&format!("stdout of run {i}"), &stdout);
        assert_no_credentials(&format!("stderr of run {i}"), &stderr);
    }
    let files = all_files(dir.path());
    assert!(files.iter().any(|(p, _)| p.ends_with("report.json")));
    for (path, content) in files {
        assert_no_credentials(&path, &content);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_region_is_bad_input_and_missing_credentials_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["probe", "sagemaker://ep", "--rps", "1", "--duration", "1s"];
    let o = run_bin_env(&args, dir.path(), &AWS_ENV[..3]).await;
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no AWS region"), "{stderr}");

    let o = run_bin_env(&args, dir.path(), &[("AWS_REGION", "us-east-1")]).await;
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no usable AWS credentials"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_prints_one_report_step_as_json_and_exits_by_what_came_back() {
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        service_ms: 1.0,
        error_rate: 0.5,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = endpoint.base_url();
    let mut env = AWS_ENV.to_vec();
    env.push(("AWS_ENDPOINT_URL", &base));

    // Over HTTP: half the requests fail, which passes with no limit given...
    let url = endpoint.invocations_url();
    let args = ["probe", &url, "--rps", "40", "--duration", "1s", "--json"];
    let o = run_bin_env(&args, dir.path(), &[]).await;
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let step: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is one JSON step");
    assert_step_matches_schema(&step);
    assert_eq!(step["offered_rps"].as_f64(), Some(40.0));
    assert_eq!(step["requests"].as_u64(), Some(40));
    assert!(step["errors_by_class"]["model_error"].as_u64().unwrap() > 0);
    assert!(
        stderr.contains("result"),
        "the summary goes to stderr: {stderr}"
    );

    // ...and exits 3 with a reason when an error limit is given (here through the SDK, routed
    // by AWS_ENDPOINT_URL).
    let o = run_bin_env(
        &[
            "probe",
            "sagemaker://ep",
            "--rps",
            "40",
            "--duration",
            "1s",
            "--max-error-percent",
            "1",
        ],
        dir.path(),
        &env,
    )
    .await;
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stdout.contains("FAIL: errors"), "{stdout}");
    assert!(
        stdout.contains("model_error: HTTP 424 ModelError"),
        "{stdout}"
    );
    assert!(
        stdout.contains("model errors by container status  500"),
        "{stdout}"
    );

    // An endpoint failing every request exits 1 and says why.
    let failing = FakeEndpoint::start_local(FakeConfig {
        validation_rate: 1.0,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let failing_url = failing.base_url();
    let o = run_bin_env(
        &[
            "probe",
            "sagemaker://ep",
            "--rps",
            "20",
            "--duration",
            "1s",
            "--endpoint-url",
            &failing_url,
        ],
        dir.path(),
        &AWS_ENV,
    )
    .await;
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("no request succeeded"), "{stdout}");
    assert!(
        stdout.contains("validation: HTTP 400 ValidationError"),
        "{stdout}"
    );
}

/// Checks one step against the `step` definition of the report schema.
fn assert_step_matches_schema(step: &serde_json::Value) {
    let path = repo_root().join("docs/report.schema.json");
    let report_schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let schema = serde_json::json!({
        "$ref": "#/$defs/step",
        "$defs": report_schema["$defs"],
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(step).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// Creates a model, an endpoint configuration and an endpoint in moto through its control plane.
async fn create_moto_endpoint(moto: &Moto, name: &str) {
    use aws_sdk_sagemaker::types::{
        ContainerDefinition, EndpointStatus, ProductionVariant, ProductionVariantInstanceType,
    };
    let conf = aws_sdk_sagemaker::config::Builder::new()
        .behavior_version(aws_sdk_sagemaker::config::BehaviorVersion::latest())
        .region(aws_sdk_sagemaker::config::Region::new("us-east-1"))
        .endpoint_url(moto.url())
        .credentials_provider(dummy_credentials())
        .build();
    let sm = aws_sdk_sagemaker::Client::from_conf(conf);
    sm.create_model()
        .model_name(format!("{name}-model"))
        .execution_role_arn("arn:aws:iam::123456789012:role/rightsize-test")
        .primary_container(
            ContainerDefinition::builder()
                .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/model:latest")
                .build(),
        )
        .send()
        .await
        .unwrap();
    sm.create_endpoint_config()
        .endpoint_config_name(format!("{name}-config"))
        .production_variants(
            ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name(format!("{name}-model"))
                .initial_instance_count(1)
                .instance_type(ProductionVariantInstanceType::MlC5Xlarge)
                .build(),
        )
        .send()
        .await
        .unwrap();
    sm.create_endpoint()
        .endpoint_name(name)
        .endpoint_config_name(format!("{name}-config"))
        .send()
        .await
        .unwrap();
    let d = sm
        .describe_endpoint()
        .endpoint_name(name)
        .send()
        .await
        .unwrap();
    assert_eq!(d.endpoint_status(), Some(&EndpointStatus::InService));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_through_the_sdk_to_motos_invoke_endpoint_counts_successes() {
    let test = "a_campaign_through_the_sdk_to_motos_invoke_endpoint_counts_successes";
    let Some(moto) = Moto::start(test) else {
        return;
    };
    create_moto_endpoint(&moto, "moto-endpoint").await;

    let dir = tempfile::tempdir().unwrap();
    let campaign_text = sagemaker_campaign(
        "moto",
        &moto.url(),
        2000.0,
        "search = \"walk\"\nwalk = [5, 10]",
    )
    .replace("sized-endpoint", "moto-endpoint");
    std::fs::write(dir.path().join("c.toml"), campaign_text).unwrap();
    let o = run_bin_env(
        &["run", "c.toml", "--out", "r", "--quiet"],
        dir.path(),
        &AWS_ENV,
    )
    .await;
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let json = read_json(&dir.path().join("r/report.json"));
    assert_matches_schema(&json, "report.schema.json");
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{json:#}");
    for s in steps {
        assert!(s["requests"].as_u64().unwrap() >= 5, "{s:#}");
        assert_eq!(s["errors"].as_u64(), Some(0), "{s:#}");
        assert_eq!(
            s["status_counts"]["200"].as_u64(),
            s["requests"].as_u64(),
            "{s:#}"
        );
        // moto's canned answer names a variant; every call is counted under it.
        let served: u64 = s["variants"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(Some(served), s["requests"].as_u64(), "{s:#}");
    }
    assert!(json["max_rps"].as_f64().unwrap() > 0.0);

    // The probe, routed to moto by the standard environment variable alone.
    let url = moto.url();
    let mut env = AWS_ENV.to_vec();
    env.push(("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", &url));
    let o = run_bin_env(
        &[
            "probe",
            "sagemaker://moto-endpoint",
            "--rps",
            "5",
            "--duration",
            "1s",
            "--json",
        ],
        dir.path(),
        &env,
    )
    .await;
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let step: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(step["requests"].as_u64(), Some(5), "{step:#}");
    assert_eq!(step["errors"].as_u64(), Some(0), "{step:#}");
}

#[test]
fn the_sagemaker_example_campaign_is_valid() {
    let c = Campaign::load(&repo_root().join("configs/sagemaker-example.toml")).unwrap();
    let cfg = SagemakerTargetConfig::from_campaign(&c).unwrap();
    assert_eq!(cfg.endpoint_name, "my-endpoint");
    assert_eq!(cfg.region.as_deref(), Some("us-east-1"));
}
