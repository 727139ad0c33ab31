//! The fast SageMaker client against the AWS SDK, its reference: signatures checked by an
//! independent SigV4 verifier, the same fields on the wire, credentials refreshed mid-step, and
//! TLS (a private CA, a wrong CA or certificate, session resumption) on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use rightsize::config::SagemakerClient;
use rightsize::measure::client::http::{HttpTarget, HttpTargetConfig};
use rightsize::measure::client::sagemaker::SagemakerTargetConfig;
use rightsize::measure::client::tls::ExtraCa;
use rightsize::measure::client::{AnyTarget, Target};
use rightsize::measure::load::{self, StepHandle, StepSpec};
use rightsize::measure::payload::Payloads;
use rightsize::measure::stats::{ErrorClass, Recorder, StepResult};

use crate::common::aws::*;
use crate::common::sigv4_server::Sigv4Server;

const CLIENTS: [SagemakerClient; 2] = [SagemakerClient::Fast, SagemakerClient::Sdk];

fn config(base_url: &str, client: SagemakerClient) -> SagemakerTargetConfig {
    let mut cfg = SagemakerTargetConfig::for_endpoint("test-endpoint");
    cfg.region = Some("us-east-1".into());
    cfg.endpoint_url = Some(base_url.into());
    cfg.credentials = Some(dummy_credentials());
    cfg.client = client;
    cfg
}

async fn step_with<T: Target>(target: Arc<T>, rate: f64, window_s: f64, body: &str) -> StepResult {
    let spec = StepSpec::new(rate, 0.0, window_s, 64, Duration::from_secs(10));
    let handle = StepHandle {
        recorder: Arc::new(Recorder::new(4)),
        cancel: Default::default(),
    };
    let (m, _) = load::run_step(
        target,
        Arc::new(Payloads::single(body.to_string())),
        &spec,
        &handle,
    )
    .await;
    m.into_result()
}

fn ca_file(dir: &std::path::Path, pem: &str) -> ExtraCa {
    let path = dir.join("ca.pem");
    std::fs::write(&path, pem).unwrap();
    ExtraCa {
        path,
        named_by: "[target] ca_cert".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_clients_sign_requests_an_independent_sigv4_check_accepts_and_a_wrong_key_fails() {
    for client in CLIENTS {
        let server = Sigv4Server::start(SECRET_KEY).await;
        let target = Arc::new(
            AnyTarget::sagemaker(&config(&server.base_url(), client))
                .await
                .unwrap(),
        );
        let s = step_with(target, 40.0, 0.5, r#"{"inputs":[1,2,3]}"#).await;
        assert_eq!(s.requests, 20, "{client:?}: {s:#?}");
        assert_eq!(
            s.errors,
            0,
            "{client:?}: {s:#?}\n{:#?}",
            server.seen().first()
        );
        assert_eq!(server.verified(), (20, 0), "{client:?}");
        assert_eq!(
            s.variants.get("AllTraffic"),
            Some(&20),
            "{client:?}: {s:#?}"
        );

        // The verifier is not a rubber stamp: another secret fails every request, and the
        // answer (403 InvalidSignatureException) is `validation` through either client.
        let server = Sigv4Server::start("another-secret").await;
        let target = Arc::new(
            AnyTarget::sagemaker(&config(&server.base_url(), client))
                .await
                .unwrap(),
        );
        let s = step_with(target.clone(), 40.0, 0.25, "{}").await;
        assert_eq!(server.verified(), (0, 10), "{client:?}");
        assert_eq!(
            s.errors_by_class.get("validation"),
            Some(&10),
            "{client:?}: {s:#?}"
        );
        assert_eq!(s.status_counts.get("403"), Some(&10), "{client:?}: {s:#?}");
        let samples = target.error_samples();
        assert!(
            samples.iter().any(|(c, m)| *c == ErrorClass::Validation
                && m.starts_with("HTTP 403 InvalidSignatureException: signature mismatch")),
            "{client:?}: {samples:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fast_client_puts_the_same_fields_on_the_wire_as_the_sdk() {
    let body = "a,b,c\n1,2,3\n";
    let mut firsts = Vec::new();
    let mut hosts = Vec::new();
    for client in CLIENTS {
        let server = Sigv4Server::start(SECRET_KEY).await;
        let mut cfg = config(&server.base_url(), client);
        cfg.region = Some("eu-west-3".into());
        cfg.content_type = "text/csv".into();
        cfg.accept = "application/jsonlines".into();
        cfg.custom_attributes = Some("trace=on".into());
        cfg.target_model = Some("model-a.tar.gz".into());
        cfg.target_variant = Some("Blue".into());
        cfg.target_container_hostname = Some("container-2".into());
        cfg.inference_component = Some("ic-1".into());
        cfg.inference_id = Some("probe-42".into());
        let target = Arc::new(AnyTarget::sagemaker(&cfg).await.unwrap());
        assert_eq!(target.region(), Some("eu-west-3"));
        let s = step_with(target, 20.0, 0.2, body).await;
        assert_eq!(s.errors, 0, "{client:?}: {s:#?}");
        firsts.push(server.seen().into_iter().next().unwrap());
        hosts.push(format!("127.0.0.1:{}", server.addr.port()));
    }
    // Each client had its own server: the Host header names each one's port.
    assert_eq!(firsts[0].header("host"), Some(hosts[0].as_str()));
    assert_eq!(firsts[1].header("host"), Some(hosts[1].as_str()));
    let (fast, sdk) = (&firsts[0], &firsts[1]);
    assert_eq!(fast.method, sdk.method);
    assert_eq!(fast.path, sdk.path);
    assert_eq!(fast.path, "/endpoints/test-endpoint/invocations");
    assert_eq!(fast.body, sdk.body);
    assert_eq!(fast.body, body.as_bytes());
    assert_eq!(fast.scope().unwrap()[8..], sdk.scope().unwrap()[8..]);
    assert!(
        fast.scope()
            .unwrap()
            .ends_with("/eu-west-3/sagemaker/aws4_request")
    );
    assert_eq!(fast.access_key(), sdk.access_key());
    // Every header the SDK sends for the campaign's fields, with the same value; what only
    // the SDK sends is its own bookkeeping (user agents, invocation id, retry counter).
    let sdk_only = [
        "user-agent",
        "x-amz-user-agent",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
    ];
    let per_request = ["authorization", "x-amz-date", "host"];
    for (name, value) in &sdk.headers {
        if sdk_only.contains(&name.as_str()) || per_request.contains(&name.as_str()) {
            continue;
        }
        assert_eq!(
            fast.header(name),
            Some(value.as_str()),
            "{name}: fast {fast:#?}\nsdk {sdk:#?}"
        );
    }
    for (name, _) in &fast.headers {
        assert!(
            sdk.header(name).is_some() || name == "user-agent",
            "the fast client sends {name}, the SDK does not"
        );
    }
    // The same headers are signed, apart from the SDK's own bookkeeping.
    let sdk_signed: Vec<String> = sdk
        .signed_headers()
        .into_iter()
        .filter(|h| !sdk_only.contains(&h.as_str()))
        .collect();
    assert_eq!(fast.signed_headers(), sdk_signed);
}

/// Hands out credentials that live `life` and counts the fetches; each set has its own
/// access key, all with the test secret.
#[derive(Debug)]
struct ShortLived {
    life: Duration,
    fetched: Arc<AtomicU32>,
}

impl ProvideCredentials for ShortLived {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.fetched.fetch_add(1, Ordering::SeqCst);
        future::ProvideCredentials::ready(Ok(Credentials::new(
            format!("ASIASHORTLIVED{n:04}"),
            SECRET_KEY,
            Some(SESSION_TOKEN.into()),
            Some(SystemTime::now() + self.life),
            "short-lived",
        )))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_expiring_during_a_step_are_refreshed_without_a_failed_request() {
    let server = Sigv4Server::start(SECRET_KEY).await;
    let fetched = Arc::new(AtomicU32::new(0));
    let mut cfg = config(&server.base_url(), SagemakerClient::Fast);
    cfg.credentials = None;
    // SigV4 dates have one-second resolution; credentials living 2 s are replaced after 1 s.
    cfg.credentials_provider = Some(SharedCredentialsProvider::new(ShortLived {
        life: Duration::from_secs(2),
        fetched: fetched.clone(),
    }));
    let target = Arc::new(AnyTarget::sagemaker(&cfg).await.unwrap());
    let s = step_with(target, 100.0, 3.5, "{}").await;
    assert_eq!(s.requests, 350, "{s:#?}");
    assert_eq!(s.errors, 0, "{s:#?}");
    assert_eq!(server.verified(), (350, 0));
    let keys: std::collections::BTreeSet<String> = server
        .seen()
        .iter()
        .filter_map(|r| r.access_key())
        .collect();
    assert!(fetched.load(Ordering::SeqCst) >= 3, "fetched {fetched:?}");
    assert!(keys.len() >= 3, "requests were signed with {keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_goes_through_the_fast_client_with_a_private_ca_for_http_and_sagemaker_targets() {
    let server = Sigv4Server::start_tls(SECRET_KEY, &["localhost", "127.0.0.1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_file(dir.path(), server.cert_pem.as_deref().unwrap());

    let mut cfg = config(&server.base_url(), SagemakerClient::Fast);
    cfg.extra_ca = vec![ca.clone()];
    let target = Arc::new(AnyTarget::sagemaker(&cfg).await.unwrap());
    let s = step_with(target, 40.0, 0.5, "{}").await;
    assert_eq!((s.requests, s.errors), (20, 0), "{s:#?}");
    assert_eq!(server.verified(), (20, 0));

    // An HTTP target over TLS, by name: the certificate is checked for "localhost".
    let mut hc = HttpTargetConfig::for_url(&format!(
        "https://localhost:{}/endpoints/x/invocations",
        server.addr.port()
    ));
    hc.extra_ca = vec![ca];
    let s = step_with(Arc::new(HttpTarget::new(&hc).unwrap()), 40.0, 0.5, "{}").await;
    // Unsigned: the verifier answers 403, which proves the request arrived over TLS.
    assert_eq!(s.status_counts.get("403"), Some(&20), "{s:#?}");
    assert_eq!(s.errors_by_class.get("connect"), None, "{s:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_ca_or_a_certificate_for_another_name_is_a_connect_error_naming_tls() {
    let dir = tempfile::tempdir().unwrap();
    // Signed by nobody the client trusts.
    let server = Sigv4Server::start_tls(SECRET_KEY, &["127.0.0.1"]).await;
    // A certificate the client trusts, for another name.
    let other = Sigv4Server::start_tls(SECRET_KEY, &["other.example"]).await;
    let trusted_other = ca_file(dir.path(), other.cert_pem.as_deref().unwrap());
    for (url, extra, why) in [
        (server.base_url(), vec![], "UnknownIssuer"),
        (other.base_url(), vec![trusted_other], "not valid for name"),
    ] {
        let mut cfg = config(&url, SagemakerClient::Fast);
        cfg.extra_ca = extra.clone();
        let fast = Arc::new(AnyTarget::sagemaker(&cfg).await.unwrap());
        let mut hc = HttpTargetConfig::for_url(&format!("{url}/invocations"));
        hc.extra_ca = extra;
        let http = Arc::new(HttpTarget::new(&hc).unwrap());
        for (what, s, samples) in [
            (
                "sagemaker",
                step_with(fast.clone(), 20.0, 0.5, "{}").await,
                fast.error_samples(),
            ),
            (
                "http",
                step_with(http.clone(), 20.0, 0.5, "{}").await,
                http.error_samples(),
            ),
        ] {
            assert_eq!(
                s.errors_by_class.get("connect"),
                Some(&10),
                "{what} {why}: {s:#?}"
            );
            let (class, msg) = &samples[0];
            assert_eq!(*class, ErrorClass::Connect);
            assert!(msg.starts_with("TLS handshake with 127.0.0.1:"), "{msg}");
            assert!(msg.contains(why), "{what}: {msg}");
        }
    }
    assert_eq!(server.verified(), (0, 0));
    assert_eq!(other.verified(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_trusts_a_private_ca_from_ca_cert_or_aws_ca_bundle_and_a_bad_ca_file_is_bad_input() {
    let server = Sigv4Server::start_tls(SECRET_KEY, &["127.0.0.1"]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ca.pem"),
        server.cert_pem.as_deref().unwrap(),
    )
    .unwrap();
    let url = server.base_url();
    let probe = |extra: &[&str]| {
        let mut v = vec![
            "probe",
            "sagemaker://tls-endpoint",
            "--rps",
            "20",
            "--duration",
            "1s",
            "--json",
            "--quiet",
            "--endpoint-url",
            &url,
        ];
        v.extend_from_slice(extra);
        v.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let bundle = dir.path().join("ca.pem");
    let bundle = bundle.to_str().unwrap();
    let mut with_bundle = AWS_ENV.to_vec();
    with_bundle.push(("AWS_CA_BUNDLE", bundle));
    for (args, env) in [
        (probe(&["--ca-cert", "ca.pem"]), AWS_ENV.to_vec()),
        (probe(&[]), with_bundle),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run_bin_env(&args, dir.path(), &env).await;
        let (stdout, stderr) = crate::common::text(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}\n{stdout}\n{stderr}");
        let step: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(step["requests"].as_u64(), Some(20), "{step:#}");
        assert_eq!(step["errors"].as_u64(), Some(0), "{step:#}");
    }
    assert_eq!(server.verified(), (40, 0));

    // Without the CA: every request fails to connect, and the summary says TLS.
    let loud: Vec<String> = probe(&[]).into_iter().filter(|a| a != "--quiet").collect();
    let o = run_bin_env(
        &loud.iter().map(String::as_str).collect::<Vec<_>>(),
        dir.path(),
        &AWS_ENV,
    )
    .await;
    let (stdout, stderr) = crate::common::text(&o);
    let step: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        step["errors_by_class"]["connect"].as_u64(),
        Some(20),
        "{step:#}"
    );
    assert!(stderr.contains("TLS handshake"), "{stderr}");

    // A CA file that is not there, or a client that does not use it: exit 2, naming the fix.
    for (extra, want) in [
        (vec!["--ca-cert", "missing.pem"], "missing.pem"),
        (vec!["--ca-cert", "ca.pem", "--client", "sdk"], "--ca-cert"),
    ] {
        let args = probe(&extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run_bin_env(&args, dir.path(), &AWS_ENV).await;
        let (stdout, stderr) = crate::common::text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}\n{stdout}\n{stderr}");
        assert!(stderr.contains(want), "{stderr}");
    }
}
