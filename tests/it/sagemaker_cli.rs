//! The binary against SageMaker targets: `probe`, credentials never shown, region and
//! credential errors. Each run gets an explicit environment (dummy credentials, endpoint URLs
//! pointing at a local server), so nothing reaches AWS.

use std::path::Path;

use crate::common::aws::*;
use crate::common::*;
use rightsize::sim::{FakeConfig, FakeEndpoint};

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
