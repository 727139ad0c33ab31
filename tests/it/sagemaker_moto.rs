//! The SageMaker target through both clients (the fast one and the real AWS SDK) against moto,
//! the AWS emulator: an endpoint created through moto's control plane, then a campaign and a
//! probe to its InvokeEndpoint.
//! Under CI=true a missing moto is a failure; elsewhere the test says loudly that it skipped.

use crate::common::aws::*;
use crate::common::moto::Moto;
use crate::common::*;

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
async fn a_campaign_through_either_client_to_motos_invoke_endpoint_counts_successes() {
    let test = "a_campaign_through_either_client_to_motos_invoke_endpoint_counts_successes";
    let Some(moto) = Moto::start(test) else {
        return;
    };
    create_moto_endpoint(&moto, "moto-endpoint").await;

    // The fast client (the default), then the SDK.
    for client in ["fast", "sdk"] {
        campaign_and_probe_through(&moto, client).await;
    }
}

async fn campaign_and_probe_through(moto: &Moto, client: &str) {
    let dir = tempfile::tempdir().unwrap();
    let campaign_text = sagemaker_campaign(
        "moto",
        &moto.url(),
        2000.0,
        "search = \"walk\"\nwalk = [5, 10]",
    )
    .replace("sized-endpoint", "moto-endpoint")
    .replace(
        "region = \"us-east-1\"\n",
        &format!("region = \"us-east-1\"\nclient = \"{client}\"\n"),
    );
    std::fs::write(dir.path().join("c.toml"), campaign_text).unwrap();
    let o = run_bin_env(
        &["run", "c.toml", "--out", "r", "--quiet"],
        dir.path(),
        &AWS_ENV,
    )
    .await;
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{client}: {stdout}\n{stderr}");
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
            "--client",
            client,
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
