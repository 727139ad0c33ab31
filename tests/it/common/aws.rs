//! Helpers for tests of SageMaker targets: recognisable dummy credentials, SageMaker campaign
//! files, and the binary run with an explicit AWS environment.

use std::path::Path;
use std::process::Output;

use aws_sdk_sagemakerruntime::config::Credentials;

use super::{bin, campaign};

/// Recognisable dummy credentials: none of these strings may appear in any output.
pub const ACCESS_KEY: &str = "AKIARIGHTSIZELEAKCHECK";
pub const SECRET_KEY: &str = "rightsizeSecretLeakCheck/Do+Not+Print";
pub const SESSION_TOKEN: &str = "rightsizeSessionTokenLeakCheck//Do+Not+Print";

pub fn dummy_credentials() -> Credentials {
    Credentials::new(
        ACCESS_KEY,
        SECRET_KEY,
        Some(SESSION_TOKEN.into()),
        None,
        "rightsize-tests",
    )
}

/// The binary with only the environment given (plus PATH), so no developer profile, region or
/// credential leaks into the test, and no test mutates its own process environment.
pub async fn run_bin_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
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

/// Dummy credentials and a region, as a binary gets them from its environment.
pub const AWS_ENV: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
    ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ("AWS_SESSION_TOKEN", SESSION_TOKEN),
    ("AWS_REGION", "us-east-1"),
];

/// A campaign file text for a SageMaker endpoint; `endpoint_url` may be empty (then the
/// environment decides where requests go).
pub fn sagemaker_campaign(name: &str, endpoint_url: &str, p99_ms: f64, extra_load: &str) -> String {
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
