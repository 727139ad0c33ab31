//! Helpers shared by the integration tests: the binary, campaign files, schema validation.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rightsize")
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary with arguments in `cwd` and returns its output.
pub fn run_bin(args: &[&str], cwd: &Path) -> Output {
    std::process::Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the rightsize binary runs")
}

/// Same, from an async test, without blocking the runtime that serves the simulated endpoint.
pub async fn run_bin_async(args: &[&str], cwd: &Path) -> Output {
    tokio::process::Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("the rightsize binary runs")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A campaign against `url` with short steps; `extra_load` lines go into `[load]`.
pub fn campaign(name: &str, url: &str, p99_ms: f64, extra_load: &str) -> String {
    format!(
        r#"name = "{name}"

[target]
kind = "http"
url = "{url}"
instance_type = "ml.test.large"
timeout_ms = 5000

[payload]
body = '{{"inputs": [1, 2, 3]}}'

[requirements]
p99_ms = {p99_ms}
max_error_percent = 0.1
peak_tps = 1000
min_tps = 20

[load]
step_seconds = 2
warmup_seconds = 0.5
max_concurrency = 256
{extra_load}
"#
    )
}

/// Writes `text` as `c.toml` in `dir`, runs that campaign quietly with its report in
/// `dir/out`, and returns how it finished.
pub async fn run_campaign(dir: &Path, text: &str) -> rightsize::run::campaign::Finished {
    let file = dir.join("c.toml");
    std::fs::write(&file, text).unwrap();
    run_campaign_file(&file, &dir.join("out"), None).await
}

/// Runs the campaign in `file` quietly with its report in `out`, over `shards` when given.
pub async fn run_campaign_file(
    file: &Path,
    out: &Path,
    shards: Option<std::sync::Arc<rightsize::run::distributed::Coordinator>>,
) -> rightsize::run::campaign::Finished {
    let c = rightsize::config::Campaign::load(file).unwrap();
    let mut opts = rightsize::run::campaign::RunOptions::new(Some(out.to_path_buf()), true);
    opts.distributed = shards;
    rightsize::run::campaign::run(&c, file, &opts)
        .await
        .unwrap()
}

/// Checks a JSON document against a schema file in `docs/`.
pub fn assert_matches_schema(doc: &serde_json::Value, schema_file: &str) {
    let path = repo_root().join("docs").join(schema_file);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("schema file exists"))
            .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{schema_file} violations:\n{}",
        errors.join("\n")
    );
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("valid JSON")
}
pub mod aws;
pub mod browser;
pub mod control_plane;
pub mod faults;
pub mod kube_standin;
pub mod llama;
pub mod managed;
pub mod mlflow;
pub mod moto;
pub mod sigv4_server;
