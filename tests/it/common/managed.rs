//! Helpers for the managed-campaign tests (tests/it/managed.rs, managed_teardown.rs): moto
//! behind a recording proxy as the control plane, the simulated endpoint as the runtime with
//! one known capacity per instance type, a model to deploy, and the binary run against them.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sagemaker::types::{
    ContainerDefinition, ProductionVariant, ProductionVariantInstanceType, Tag,
};
use serde_json::Value;

use super::aws::*;
use super::control_plane::ControlPlaneProxy;
use super::moto::Moto;
use super::*;
use rightsize::sim::{EndpointProfile, FakeConfig, FakeEndpoint};

pub const MODEL: &str = "sized-model";
pub const TAG: &str = "rightsize:campaign";

/// Three instance types and their simulated capacities (slots × 33.3 ms): 90, 180 and 360
/// requests/s. The walk [120, 240] fails c5.large at once, passes c5.xlarge up to 120 and
/// c5.2xlarge up to 240: every passing step is at two thirds of the capacity or less, every
/// failing one at 133 % (short of the rate, and refused requests). Steps are 5 s and the p99
/// limit is 15 times the service time, so that a stall of the shared machine (up to 150 ms at
/// the end of a step) cannot fail a passing step.
pub const TYPES: [(&str, &str); 3] = [
    ("ml.c5.large", "-c5-large-=3x33.3"),
    ("ml.c5.xlarge", "-c5-xlarge-=6x33.3"),
    ("ml.c5.2xlarge", "-c5-2xlarge-=12x33.3"),
];

/// For the peak of 200 requests/s: c5.xlarge needs 2 × $0.15 (the cheapest), c5.2xlarge
/// 1 × $0.45; c5.large at 60 requests/s would need 4 × $0.10.
pub const PRICES: &str = r#"region = "us-east-1"
currency = "USD"
taken_on = "2026-11-23"
source = "test prices"
verified = false

[hourly_usd]
"ml.c5.large" = 0.10
"ml.c5.xlarge" = 0.15
"ml.c5.2xlarge" = 0.45
"#;

/// moto, the proxy in front of it, the simulated runtime, and a model to deploy.
pub struct World {
    pub moto: Moto,
    pub proxy: ControlPlaneProxy,
    pub fake: FakeEndpoint,
    pub dir: tempfile::TempDir,
}

pub fn sagemaker(moto_url: &str) -> aws_sdk_sagemaker::Client {
    let conf = aws_sdk_sagemaker::config::Builder::new()
        .behavior_version(aws_sdk_sagemaker::config::BehaviorVersion::latest())
        .region(aws_sdk_sagemaker::config::Region::new("us-east-1"))
        .endpoint_url(moto_url)
        .credentials_provider(dummy_credentials())
        .build();
    aws_sdk_sagemaker::Client::from_conf(conf)
}

pub async fn create_model(sm: &aws_sdk_sagemaker::Client) {
    sm.create_model()
        .model_name(MODEL)
        .execution_role_arn("arn:aws:iam::123456789012:role/rightsize-test")
        .primary_container(
            ContainerDefinition::builder()
                .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/model:latest")
                .build(),
        )
        .send()
        .await
        .unwrap();
}

impl World {
    pub async fn start(test: &str, profiles: &[&str]) -> Option<World> {
        let moto = Moto::start(test)?;
        create_model(&sagemaker(&moto.url())).await;
        let proxy = ControlPlaneProxy::start(&moto.url()).await;
        let fake = FakeEndpoint::start_local(FakeConfig {
            slots: 1,
            service_ms: 33.3,
            queue_max: 16,
            endpoint_profiles: profiles
                .iter()
                .map(|p| EndpointProfile::parse(p).unwrap())
                .collect(),
            ..FakeConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("prices.toml"), PRICES).unwrap();
        Some(World {
            moto,
            proxy,
            fake,
            dir,
        })
    }

    /// A managed campaign file over `types`; `deploy_extra` lines go into `[deploy]`.
    pub fn campaign(&self, types: &[&str], walk: &str, deploy_extra: &str) -> String {
        let types: Vec<String> = types.iter().map(|t| format!("{t:?}")).collect();
        format!(
            r#"name = "managed"

[target]
kind = "sagemaker"
region = "us-east-1"
endpoint_url = "{runtime}"
timeout_ms = 5000

[payload]
body = '{{"inputs": [1, 2, 3]}}'

[requirements]
p99_ms = 500
max_error_percent = 1
peak_tps = 200

[load]
search = "walk"
walk = {walk}
step_seconds = 5
warmup_seconds = 0.3
max_concurrency = 256

[deploy]
model_name = "{MODEL}"
instance_types = [{types}]
endpoint_prefix = "rs"
in_service_timeout_minutes = 1
endpoint_url = "{control}"
{deploy_extra}
"#,
            runtime = self.fake.base_url(),
            types = types.join(", "),
            control = self.proxy.url,
        )
    }

    pub fn write(&self, text: &str) {
        std::fs::write(self.dir.path().join("c.toml"), text).unwrap();
    }

    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = run_bin_env(args, self.dir.path(), &AWS_ENV).await;
        let (stdout, stderr) = text(&o);
        (o.status.code().unwrap_or(-1), stdout, stderr)
    }

    /// The endpoints and endpoint configurations moto holds now.
    pub async fn left(&self) -> (Vec<String>, Vec<String>) {
        let sm = sagemaker(&self.moto.url());
        let endpoints = sm.list_endpoints().send().await.unwrap();
        let configs = sm.list_endpoint_configs().send().await.unwrap();
        (
            endpoints
                .endpoints()
                .iter()
                .filter_map(|e| e.endpoint_name().map(str::to_string))
                .collect(),
            configs
                .endpoint_configs()
                .iter()
                .filter_map(|c| c.endpoint_config_name().map(str::to_string))
                .collect(),
        )
    }

    pub async fn assert_nothing_left(&self, context: &str) {
        let (endpoints, configs) = self.left().await;
        assert!(
            endpoints.is_empty() && configs.is_empty(),
            "{context}: left deployed: endpoints {endpoints:?}, configurations {configs:?}"
        );
    }

    /// `rightsize cleanup EXTRA… --region us-east-1 --endpoint-url MOTO`.
    pub async fn cleanup(&self, extra: &[&str]) -> (i32, String, String) {
        let moto = self.moto.url();
        let mut args = vec!["cleanup", "--region", "us-east-1", "--endpoint-url", &moto];
        args.extend_from_slice(extra);
        self.run(&args).await
    }

    pub fn out(&self) -> std::path::PathBuf {
        self.dir.path().join("r")
    }

    pub fn manifest(&self) -> Value {
        read_json(&self.out().join("managed.json"))
    }
}

pub fn walk_all() -> &'static str {
    "[120, 240]"
}

/// A type's report folder in the campaign folder.
pub fn type_dir(out: &Path, instance_type: &str) -> std::path::PathBuf {
    out.join(rightsize::report::sanitize(instance_type))
}

/// The managed campaign every test runs: `c.toml` into `r/`, quietly, with the test prices.
pub const RUN: &[&str] = &[
    "run",
    "c.toml",
    "--out",
    "r",
    "--quiet",
    "--prices",
    "prices.toml",
];

/// Spawns the binary on the campaign file (stderr piped, read after exit).
pub fn spawn(w: &World) -> Child {
    Command::new(bin())
        .args(RUN)
        .current_dir(w.dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", w.dir.path())
        .env("AWS_CONFIG_FILE", w.dir.path().join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            w.dir.path().join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(AWS_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn sigint(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT failed");
}

/// Waits (at most 60 s) for `done`; fails if the process exits first.
pub async fn wait_until(child: &mut Child, what: &str, done: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !done() {
        if let Some(s) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("the campaign exited ({s}) before {what}: {err}");
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no {what} in 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates an endpoint configuration and an endpoint named `name`, tagged with `campaign` when
/// given.
pub async fn create_endpoint(sm: &aws_sdk_sagemaker::Client, name: &str, campaign: Option<&str>) {
    let tags: Vec<Tag> = campaign
        .map(|c| Tag::builder().key(TAG).value(c).build())
        .into_iter()
        .collect();
    sm.create_endpoint_config()
        .endpoint_config_name(name)
        .production_variants(
            ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name(MODEL)
                .initial_instance_count(1)
                .instance_type(ProductionVariantInstanceType::MlC5Large)
                .build(),
        )
        .set_tags(Some(tags.clone()))
        .send()
        .await
        .unwrap();
    sm.create_endpoint()
        .endpoint_name(name)
        .endpoint_config_name(name)
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap();
}
