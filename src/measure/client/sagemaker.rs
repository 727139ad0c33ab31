//! The SageMaker target: each body goes through the AWS SDK's `InvokeEndpoint`, signed and routed
//! exactly as AWS clients send it, and every failure is sorted into the class SageMaker reports.
//!
//! One client serves all workers. Retries are off, so every attempt is measured and counted, and
//! the operation timeout is the campaign's `timeout_ms`. Credentials and region come from the
//! standard AWS chain (environment, profiles, SSO, process, instance roles) unless given here.

use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sagemakerruntime::Client;
use aws_sdk_sagemakerruntime::config::{
    Credentials, ProvideCredentials, Region, SharedCredentialsProvider,
};
use aws_sdk_sagemakerruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::builders::InvokeEndpointInputBuilder;
use aws_sdk_sagemakerruntime::primitives::Blob;
use bytes::Bytes;

use crate::config::{Campaign, SagemakerClient};
use crate::error::{Error, Result};
use crate::measure::stats::{ErrorClass, MAX_VARIANTS, Outcome};

use super::target::{ErrorSamples, Target};
use super::tls::ExtraCa;

/// What the SageMaker target needs to know.
#[derive(Debug, Clone)]
pub struct SagemakerTargetConfig {
    pub endpoint_name: String,
    /// `None`: the AWS config chain's region.
    pub region: Option<String>,
    /// `None`: the SDK's own resolution, which honours `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` and
    /// `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    pub content_type: String,
    pub accept: String,
    pub custom_attributes: Option<String>,
    pub target_model: Option<String>,
    pub target_variant: Option<String>,
    pub target_container_hostname: Option<String>,
    pub inference_component: Option<String>,
    pub inference_id: Option<String>,
    pub timeout: Duration,
    /// Static credentials instead of the standard chain (tests, embedding tools).
    pub credentials: Option<Credentials>,
    /// Another credentials provider instead of the standard chain (tests of expiry).
    pub credentials_provider: Option<SharedCredentialsProvider>,
    /// The fast client (signed requests on the load generator's HTTP/1.1 client,
    /// [`super::sigv4`]) or the SDK's `InvokeEndpoint` (this module).
    pub client: SagemakerClient,
    /// CA certificates the fast client trusts beside the platform's.
    pub extra_ca: Vec<ExtraCa>,
}

impl SagemakerTargetConfig {
    pub fn from_campaign(c: &Campaign) -> Result<SagemakerTargetConfig> {
        let t = &c.target;
        let endpoint_name = t.endpoint_name.clone().ok_or_else(|| {
            Error::input("[target] endpoint_name is required when kind = \"sagemaker\"")
        })?;
        Ok(SagemakerTargetConfig {
            endpoint_name,
            region: t.region.clone(),
            endpoint_url: t.endpoint_url.clone(),
            content_type: t.content_type.clone(),
            accept: t.accept.clone(),
            custom_attributes: t.custom_attributes.clone(),
            target_model: t.target_model.clone(),
            target_variant: t.variant.clone(),
            target_container_hostname: t.target_container_hostname.clone(),
            inference_component: t.inference_component.clone(),
            inference_id: t.inference_id.clone(),
            timeout: Duration::from_millis(t.timeout_ms),
            credentials: None,
            credentials_provider: None,
            client: t.sagemaker_client(),
            extra_ca: super::tls::extra_ca(t),
        })
    }

    /// A plain target for `endpoint_name` with JSON content types and nothing else set.
    pub fn for_endpoint(endpoint_name: &str) -> SagemakerTargetConfig {
        SagemakerTargetConfig {
            endpoint_name: endpoint_name.to_string(),
            region: None,
            endpoint_url: None,
            content_type: "application/json".into(),
            accept: "application/json".into(),
            custom_attributes: None,
            target_model: None,
            target_variant: None,
            target_container_hostname: None,
            inference_component: None,
            inference_id: None,
            timeout: Duration::from_secs(60),
            credentials: None,
            credentials_provider: None,
            client: SagemakerClient::default(),
            extra_ca: Vec::new(),
        }
    }
}

pub struct SagemakerTarget {
    client: Client,
    /// Every request field but the body, built once; a request clones it and adds the body.
    request: Box<InvokeEndpointInputBuilder>,
    variants: VariantTable,
    samples: ErrorSamples,
    region: String,
}

impl SagemakerTarget {
    /// Resolves region and credentials and builds the shared client. Fails (rather than sending
    /// a campaign of doomed requests) when either cannot be found.
    pub async fn new(cfg: &SagemakerTargetConfig) -> Result<SagemakerTarget> {
        let sdk = load_sdk_config(cfg, Some(cfg.timeout)).await;
        let region = region_and_login(&sdk, "probe").await?;

        let mut conf = aws_sdk_sagemakerruntime::config::Builder::from(&sdk);
        if let Some(u) = &cfg.endpoint_url {
            conf = conf.endpoint_url(u);
        }
        let client = Client::from_conf(conf.build());

        let request = Box::new(
            InvokeEndpointInputBuilder::default()
                .endpoint_name(&cfg.endpoint_name)
                .content_type(&cfg.content_type)
                .accept(&cfg.accept)
                .set_custom_attributes(cfg.custom_attributes.clone())
                .set_target_model(cfg.target_model.clone())
                .set_target_variant(cfg.target_variant.clone())
                .set_target_container_hostname(cfg.target_container_hostname.clone())
                .set_inference_component_name(cfg.inference_component.clone())
                .set_inference_id(cfg.inference_id.clone()),
        );
        Ok(SagemakerTarget {
            client,
            request,
            variants: VariantTable::default(),
            samples: ErrorSamples::default(),
            region,
        })
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }
}

/// The SDK configuration every SageMaker client starts from: the standard chain for region and
/// credentials (unless the target names them), retries off, the campaign's connect timeout,
/// and `operation_timeout` when given (a stream has none: its silence is judged by
/// `stream_idle_timeout_ms`).
pub(super) async fn load_sdk_config(
    cfg: &SagemakerTargetConfig,
    operation_timeout: Option<Duration>,
) -> aws_config::SdkConfig {
    let mut timeouts =
        TimeoutConfig::builder().connect_timeout(cfg.timeout.min(Duration::from_secs(10)));
    if let Some(t) = operation_timeout {
        timeouts = timeouts.operation_timeout(t);
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // Every attempt is measured: an SDK retry would hide throttling and inflate latency.
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts.build())
        // A slow answer is the endpoint's to report, as a timeout, not the SDK's to cut off.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    if let Some(r) = &cfg.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(c) = &cfg.credentials {
        loader = loader.credentials_provider(c.clone());
    }
    if let Some(p) = &cfg.credentials_provider {
        loader = loader.credentials_provider(p.clone());
    }
    loader.load().await
}

impl Target for SagemakerTarget {
    async fn invoke(&self, body: Bytes) -> Outcome {
        // `from_maybe_shared` keeps the payload's shared buffer: no copy of the body.
        let result = (*self.request)
            .clone()
            .body(Blob::from_maybe_shared(body))
            .send_with(&self.client)
            .await;
        match result {
            Ok(out) => {
                let mut o = Outcome::success(200);
                o.variant = out
                    .invoked_production_variant()
                    .map(|v| self.variants.intern(v));
                o
            }
            Err(e) => {
                let o = outcome_of_error(&e);
                if let Some(class) = o.class {
                    self.samples.offer(class, || describe(&e));
                }
                o
            }
        }
    }

    fn variant_names(&self) -> Vec<String> {
        self.variants.names()
    }

    fn error_samples(&self) -> Vec<(ErrorClass, String)> {
        self.samples.get()
    }
}

type InvokeError =
    SdkError<InvokeEndpointError, aws_sdk_sagemakerruntime::config::http::HttpResponse>;

/// How one failed call counts.
fn outcome_of_error(e: &InvokeError) -> Outcome {
    match e {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let err = ctx.err();
            let mut o = Outcome::error(classify_service_error(err, status), Some(status));
            if let InvokeEndpointError::ModelError(m) = err {
                o.original_status = m.original_status_code().and_then(|s| u16::try_from(s).ok());
            }
            o
        }
        SdkError::TimeoutError(_) => Outcome::error(ErrorClass::Timeout, None),
        SdkError::DispatchFailure(d) => {
            let class = if d.is_timeout() {
                ErrorClass::Timeout
            } else if d.is_user() {
                ErrorClass::Other
            } else {
                // I/O and "other" connector errors: refused, reset, DNS, TLS.
                ErrorClass::Connect
            };
            Outcome::error(class, None)
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            let class = std::error::Error::source(e)
                .map(super::classify::source_chain)
                .unwrap_or(ErrorClass::Other);
            Outcome::error(class, Some(status))
        }
        _ => Outcome::error(ErrorClass::Other, None),
    }
}

/// The class of an error SageMaker answered with.
fn classify_service_error(err: &InvokeEndpointError, status: u16) -> ErrorClass {
    match err {
        InvokeEndpointError::ModelError(_) => ErrorClass::ModelError,
        InvokeEndpointError::ModelNotReadyException(_) => ErrorClass::ModelNotReady,
        InvokeEndpointError::ServiceUnavailable(_) => ErrorClass::ServiceUnavailable,
        InvokeEndpointError::InternalFailure(_) => ErrorClass::InternalFailure,
        // Also a failure inside AWS, not in the caller's request or the model.
        InvokeEndpointError::InternalDependencyException(_) => ErrorClass::InternalFailure,
        InvokeEndpointError::ValidationError(_) => ErrorClass::Validation,
        other => classify_unmodelled(other.code(), status),
    }
}

/// Errors the service model does not name (throttling among them) by code, then by status.
pub(super) fn classify_unmodelled(code: Option<&str>, status: u16) -> ErrorClass {
    match code {
        Some(
            "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded",
        ) => ErrorClass::Throttled,
        Some("ModelNotReadyException") => ErrorClass::ModelNotReady,
        _ => match status {
            429 => ErrorClass::Throttled,
            503 => ErrorClass::ServiceUnavailable,
            408 | 504 => ErrorClass::Timeout,
            // Access denied, bad signature, unknown endpoint: something to fix in the request.
            400..=499 => ErrorClass::Validation,
            500..=599 => ErrorClass::InternalFailure,
            _ => ErrorClass::Other,
        },
    }
}

/// A one-line description of a failed call for the summary. SDK errors carry the response, never
/// the signed request, so no credential can appear here.
fn describe(e: &InvokeError) -> String {
    match e {
        SdkError::ServiceError(ctx) => {
            let err = ctx.err();
            format!(
                "HTTP {} {}: {}",
                ctx.raw().status().as_u16(),
                err.code().unwrap_or("(no error code)"),
                err.message().unwrap_or("(no message)")
            )
        }
        other => error_chain(other),
    }
}

/// An error and its sources on one line, each cause once (SDK errors often repeat their
/// source in their own message).
/// The region an SDK configuration settled on, with its credentials resolved once up front so
/// that a missing region is bad input and a missing or expired login is one clear message, not
/// a campaign of failed requests. The message never carries a credential value. `command`
/// names the command whose `--region` sets the region.
pub(crate) async fn region_and_login(sdk: &aws_config::SdkConfig, command: &str) -> Result<String> {
    let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
        Error::input(format!(
            "no AWS region for SageMaker: set region in the campaign's [target] (--region for {command}), AWS_REGION, or a region in your AWS profile"
        ))
    })?;
    let provider = sdk.credentials_provider().ok_or_else(|| {
        Error::Other("no AWS credentials provider is configured for SageMaker".into())
    })?;
    provider.provide_credentials().await.map_err(|e| {
        Error::Other(format!(
            "no usable AWS credentials for SageMaker ({}); set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`",
            error_chain(&e)
        ))
    })?;
    Ok(region)
}

pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let m = err.to_string();
        if !m.is_empty() && !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cur = err.source();
    }
    out
}

/// Variant names seen in responses, each given a small index once, so a response costs one
/// read lock and a short scan rather than a string allocation.
#[derive(Default)]
pub(super) struct VariantTable {
    names: RwLock<Vec<Box<str>>>,
}

/// The name the last slot takes when an endpoint has more variants than slots.
const OTHER_VARIANTS: &str = "(other variants)";

impl VariantTable {
    pub(super) fn intern(&self, name: &str) -> u8 {
        {
            let names = self.names.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(i) = names.iter().position(|n| &**n == name) {
                return i as u8;
            }
        }
        let mut names = self.names.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = names.iter().position(|n| &**n == name) {
            return i as u8;
        }
        let last = MAX_VARIANTS - 1;
        if names.len() < last {
            names.push(name.into());
            return (names.len() - 1) as u8;
        }
        if names.len() == last {
            names.push(OTHER_VARIANTS.into());
        }
        last as u8
    }

    pub(super) fn names(&self) -> Vec<String> {
        self.names
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|n| n.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmodelled_errors_are_classed_by_code_then_status() {
        let cases = [
            (Some("ThrottlingException"), 400, ErrorClass::Throttled),
            (Some("TooManyRequestsException"), 400, ErrorClass::Throttled),
            (None, 429, ErrorClass::Throttled),
            (Some("AccessDeniedException"), 403, ErrorClass::Validation),
            (
                Some("InvalidSignatureException"),
                403,
                ErrorClass::Validation,
            ),
            (Some("SomethingNew"), 503, ErrorClass::ServiceUnavailable),
            (None, 504, ErrorClass::Timeout),
            (None, 502, ErrorClass::InternalFailure),
            (None, 302, ErrorClass::Other),
        ];
        for (code, status, want) in cases {
            assert_eq!(classify_unmodelled(code, status), want, "{code:?} {status}");
        }
    }

    #[test]
    fn variant_names_get_stable_indices_and_overflow_into_one_slot() {
        let t = VariantTable::default();
        assert_eq!(t.intern("Blue"), 0);
        assert_eq!(t.intern("Green"), 1);
        assert_eq!(t.intern("Blue"), 0);
        for i in 0..40 {
            let k = t.intern(&format!("v{i}"));
            assert!((k as usize) < MAX_VARIANTS);
        }
        let names = t.names();
        assert_eq!(names.len(), MAX_VARIANTS);
        assert_eq!(names[0], "Blue");
        assert_eq!(names[MAX_VARIANTS - 1], OTHER_VARIANTS);
        assert_eq!(t.intern("v39") as usize, MAX_VARIANTS - 1);
    }
}
