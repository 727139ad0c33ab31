//! The fast SageMaker target: `InvokeEndpoint` built by hand on the load generator's own
//! HTTP/1.1 client ([`super::pool`], plain or TLS), each request signed with the `aws-sigv4`
//! crate (the signer the AWS SDK uses) and its answer classed exactly as the SDK path
//! ([`super::sagemaker`]) classes it. The SDK path stays as the reference: the tests send every
//! SageMaker case through both and require the same classes, counts and wire fields.
//!
//! Everything but the signature is settled once per target: region and credentials from the
//! same `aws-config` chain as the SDK, the endpoint URL from the SDK's own resolver (region,
//! `endpoint_url`, `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`, `AWS_ENDPOINT_URL`, FIPS and
//! dual-stack settings), the request line and the headers the SDK sends for the campaign's
//! fields. A request costs one signature (a SHA-256 of the body and four HMACs) on top of the
//! plain HTTP path.

use std::sync::Arc;
use std::time::SystemTime;

use aws_sdk_sagemakerruntime::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use hyper::Uri;

use super::credentials::CredentialCache;
use super::h1::Kept;
use super::pool::Pool;
use super::sagemaker::{
    SagemakerTargetConfig, VariantTable, classify_unmodelled, error_chain, load_sdk_config,
    region_and_login,
};
use super::target::{ErrorSamples, Target};
use super::tls;
use crate::error::{Error, Result};
use crate::measure::stats::{ErrorClass, Outcome};

/// The signing name of the SageMaker runtime.
const SIGNING_NAME: &str = "sagemaker";

pub struct FastSagemakerTarget {
    pool: Pool,
    /// `POST /endpoints/NAME/invocations HTTP/1.1` and every unsigned-per-request header.
    head: Vec<u8>,
    /// The headers that are signed, in the order sent (names in lower case).
    signed: Vec<(&'static str, String)>,
    /// The URL the signature covers (scheme, authority, path).
    url: String,
    region: String,
    credentials: Arc<CredentialCache>,
    timeout: std::time::Duration,
    variants: VariantTable,
    samples: ErrorSamples,
}

impl FastSagemakerTarget {
    /// Resolves region, credentials and the endpoint URL once. Fails (rather than sending a
    /// campaign of doomed requests) when any cannot be found.
    pub async fn new(cfg: &SagemakerTargetConfig) -> Result<FastSagemakerTarget> {
        let sdk = load_sdk_config(cfg, Some(cfg.timeout)).await;
        let region = region_and_login(&sdk, "probe").await?;
        let provider = sdk.credentials_provider().ok_or_else(|| {
            Error::Other("no AWS credentials provider is configured for SageMaker".into())
        })?;
        let credentials = CredentialCache::new(provider).await.map_err(|e| {
            Error::Other(format!(
                "no usable AWS credentials for SageMaker ({})",
                error_chain(&e)
            ))
        })?;

        let base = endpoint_url(cfg, &sdk, &region).await?;
        let base_uri: Uri = base.parse().map_err(|e| {
            Error::input(format!(
                "the SageMaker runtime URL {base:?} is not a valid URL: {e}"
            ))
        })?;
        let host = base_uri.host().ok_or_else(|| {
            Error::input(format!("the SageMaker runtime URL {base:?} has no host"))
        })?;
        let https = match base_uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(Error::input(format!(
                    "the SageMaker runtime URL {base:?} must start with http:// or https://"
                )));
            }
        };
        let port = base_uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        // What the SDK writes in Host: the authority without a default port.
        let authority = match base_uri.port_u16() {
            Some(p) if p != if https { 443 } else { 80 } => format!("{host}:{p}"),
            _ => host.to_string(),
        };
        let prefix = base_uri.path().trim_end_matches('/');
        let path = format!("{prefix}/endpoints/{}/invocations", cfg.endpoint_name);
        let scheme = if https { "https" } else { "http" };
        let url = format!("{scheme}://{authority}{path}");

        let tls = if https {
            Some(tls::client_config(&cfg.extra_ca)?)
        } else {
            None
        };
        let pool = Pool::new(
            host,
            port,
            cfg.timeout.min(std::time::Duration::from_secs(10)),
            tls,
        )?;

        let mut signed: Vec<(&'static str, String)> = vec![
            ("host", authority),
            ("content-type", cfg.content_type.clone()),
            ("accept", cfg.accept.clone()),
        ];
        for (name, value) in [
            ("x-amzn-sagemaker-custom-attributes", &cfg.custom_attributes),
            ("x-amzn-sagemaker-target-model", &cfg.target_model),
            ("x-amzn-sagemaker-target-variant", &cfg.target_variant),
            (
                "x-amzn-sagemaker-target-container-hostname",
                &cfg.target_container_hostname,
            ),
            ("x-amzn-sagemaker-inference-id", &cfg.inference_id),
            (
                "x-amzn-sagemaker-inference-component",
                &cfg.inference_component,
            ),
        ] {
            if let Some(v) = value {
                signed.push((name, v.clone()));
            }
        }
        for (name, value) in &signed {
            if hyper::header::HeaderValue::from_str(value).is_err() {
                return Err(Error::input(format!(
                    "the value for header {name} ({value:?}) cannot be sent in an HTTP header"
                )));
            }
        }
        let mut head = format!("POST {path} HTTP/1.1\r\n").into_bytes();
        for (name, value) in &signed {
            push_header(&mut head, name, value);
        }
        // Not signed (the signer leaves User-Agent out), as in the SDK.
        push_header(
            &mut head,
            "user-agent",
            concat!("rightsize/", env!("CARGO_PKG_VERSION")),
        );

        Ok(FastSagemakerTarget {
            pool,
            head,
            signed,
            url,
            region,
            credentials,
            timeout: cfg.timeout,
            variants: VariantTable::default(),
            samples: ErrorSamples::default(),
        })
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The request head for `body`, signed now: the fixed part, then the signing headers.
    async fn signed_head(&self, body: &Bytes) -> std::result::Result<Vec<u8>, String> {
        let now = SystemTime::now();
        let creds = self.credentials.get(now).await?;
        let params = v4::SigningParams::builder()
            .identity(&creds.identity)
            .region(&self.region)
            .name(SIGNING_NAME)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into();
        let mut len = [0u8; 20];
        let len = fmt_len(body.len(), &mut len);
        let headers = self
            .signed
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(std::iter::once(("content-length", len)));
        let request = SignableRequest::new("POST", &self.url, headers, SignableBody::Bytes(body))
            .map_err(|e| format!("cannot sign the request: {e}"))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into_parts();
        let mut head = Vec::with_capacity(self.head.len() + 512);
        head.extend_from_slice(&self.head);
        for (name, value) in instructions.headers() {
            push_header(&mut head, name, value);
        }
        Ok(head)
    }

    async fn send(&self, body: Bytes) -> Outcome {
        let head = match self.signed_head(&body).await {
            Ok(h) => h,
            Err(m) => {
                self.samples.offer(ErrorClass::Other, || m);
                return Outcome::error(ErrorClass::Other, None);
            }
        };
        let idle = self.pool.stack();
        let mut conn = match self.pool.checkout(idle).await {
            Ok(c) => c,
            Err(f) => {
                self.samples.offer(f.class, || f.describe(&self.pool));
                return Outcome::error(f.class, None);
            }
        };
        let outcome = match conn.exchange_keeping(&head, &body).await {
            Ok((answer, kept)) => {
                let o = self.outcome_of(answer.status, kept);
                (o, answer.reusable)
            }
            Err(class) => {
                self.samples.offer(class, || {
                    format!(
                        "the connection to the SageMaker runtime failed before a whole answer arrived ({})",
                        class.name()
                    )
                });
                (Outcome::error(class, None), false)
            }
        };
        if outcome.1 {
            Pool::checkin(idle, conn);
        }
        outcome.0
    }

    /// How an answer counts, as the SDK path counts it.
    fn outcome_of(&self, status: u16, kept: &Kept) -> Outcome {
        if (200..300).contains(&status) {
            let mut o = Outcome::success(status);
            o.variant = kept
                .variant
                .as_deref()
                .map(|v| self.variants.intern(&String::from_utf8_lossy(v)));
            return o;
        }
        let e = RuntimeError::parse(status, kept);
        let mut o = Outcome::error(e.class(), Some(status));
        if e.code.as_deref() == Some("ModelError") {
            o.original_status = e.original_status;
        }
        self.samples.offer(e.class(), || e.describe());
        o
    }
}

impl Target for FastSagemakerTarget {
    async fn invoke(&self, body: Bytes) -> Outcome {
        // The SDK path's operation timeout, with the same class.
        match tokio::time::timeout(self.timeout, self.send(body)).await {
            Ok(o) => o,
            Err(_) => {
                self.samples.offer(ErrorClass::Timeout, || {
                    format!(
                        "timeout: no answer within {} ms (timeout_ms)",
                        self.timeout.as_millis()
                    )
                });
                Outcome::error(ErrorClass::Timeout, None)
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

/// The runtime URL requests go to, as the SDK resolves it: the target's `endpoint_url`, else
/// the service's or the global endpoint URL from the environment or profile, else AWS's
/// endpoint for the region (with the FIPS and dual-stack settings of the chain).
async fn endpoint_url(
    cfg: &SagemakerTargetConfig,
    sdk: &aws_config::SdkConfig,
    region: &str,
) -> Result<String> {
    let configured = cfg.endpoint_url.clone().or_else(|| {
        sdk.service_config()
            .and_then(|conf| {
                let key = aws_types::service_config::ServiceConfigKey::builder()
                    .service_id("SageMaker Runtime")
                    .env("AWS_ENDPOINT_URL")
                    .profile("endpoint_url")
                    .build()
                    .ok()?;
                conf.load_config(key)
            })
            .or_else(|| sdk.endpoint_url().map(str::to_string))
    });
    let params = Params::builder()
        .region(region)
        .set_use_fips(sdk.use_fips())
        .set_use_dual_stack(sdk.use_dual_stack())
        .set_endpoint(configured)
        .build()
        .map_err(|e| Error::Other(format!("cannot resolve the SageMaker runtime URL: {e}")))?;
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| {
            Error::input(format!(
                "cannot resolve the SageMaker runtime URL for region {region:?}: {e}"
            ))
        })?;
    Ok(endpoint.url().to_string())
}

fn push_header(head: &mut Vec<u8>, name: &str, value: &str) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(value.as_bytes());
    head.extend_from_slice(b"\r\n");
}

/// `n` in decimal, without allocating.
fn fmt_len(mut n: usize, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// An error answer of the runtime, read the way the SDK's restJson1 parser reads it: the code
/// from `X-Amzn-Errortype`, else `__type` or `code` in the JSON body (namespace and `:suffix`
/// removed); the message from `message` or `Message`.
#[derive(Debug, PartialEq)]
struct RuntimeError {
    status: u16,
    code: Option<String>,
    message: Option<String>,
    original_status: Option<u16>,
}

impl RuntimeError {
    fn parse(status: u16, kept: &Kept) -> RuntimeError {
        let json: Option<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(&kept.body).ok();
        let field = |names: &[&str]| {
            let j = json.as_ref()?;
            names
                .iter()
                .find_map(|n| j.get(*n).and_then(|v| v.as_str()).map(str::to_string))
        };
        let code = kept
            .error_type
            .as_deref()
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .or_else(|| field(&["__type", "code"]))
            .map(|c| sanitize_error_code(&c).to_string())
            .filter(|c| !c.is_empty());
        let original_status = json
            .as_ref()
            .and_then(|j| j.get("OriginalStatusCode"))
            .and_then(|v| v.as_i64())
            .and_then(|s| u16::try_from(s).ok());
        RuntimeError {
            status,
            code,
            message: field(&["message", "Message"]),
            original_status,
        }
    }

    /// The class the SDK path gives the same answer (`InvokeEndpointError` variants by code,
    /// the rest by code then status).
    fn class(&self) -> ErrorClass {
        match self.code.as_deref() {
            Some("ModelError") => ErrorClass::ModelError,
            Some("ModelNotReadyException") => ErrorClass::ModelNotReady,
            Some("ServiceUnavailable") => ErrorClass::ServiceUnavailable,
            Some("InternalFailure" | "InternalDependencyException") => ErrorClass::InternalFailure,
            Some("ValidationError") => ErrorClass::Validation,
            other => classify_unmodelled(other, self.status),
        }
    }

    /// The same line the SDK path writes for a service error.
    fn describe(&self) -> String {
        format!(
            "HTTP {} {}: {}",
            self.status,
            self.code.as_deref().unwrap_or("(no error code)"),
            self.message.as_deref().unwrap_or("(no message)")
        )
    }
}

/// `aws.protocoltests#FooError:http://…` → `FooError`, as the SDK sanitises error codes.
fn sanitize_error_code(code: &str) -> &str {
    let code = code.split(':').next().unwrap_or(code);
    code.rsplit('#').next().unwrap_or(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(error_type: Option<&str>, body: &str) -> Kept {
        Kept {
            variant: None,
            error_type: error_type.map(|s| s.as_bytes().to_vec()),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn error_answers_are_read_as_the_sdks_rest_json_parser_reads_them() {
        let cases = [
            // The header wins over the body.
            (
                400,
                Some("ThrottlingException"),
                r#"{"__type":"ValidationError","message":"Rate exceeded"}"#,
                ErrorClass::Throttled,
                "HTTP 400 ThrottlingException: Rate exceeded",
            ),
            // Namespaced codes and suffixes are removed.
            (
                424,
                None,
                r#"{"__type":"com.amazonaws.sagemaker#ModelError","Message":"boom","OriginalStatusCode":503}"#,
                ErrorClass::ModelError,
                "HTTP 424 ModelError: boom",
            ),
            (
                500,
                Some("InternalDependencyException:http://internal.amazon.com/"),
                "",
                ErrorClass::InternalFailure,
                "HTTP 500 InternalDependencyException: (no message)",
            ),
            (
                400,
                None,
                r#"{"code":"ValidationError","message":"no such endpoint"}"#,
                ErrorClass::Validation,
                "HTTP 400 ValidationError: no such endpoint",
            ),
            // No code at all: by status, as for unmodelled errors.
            (
                503,
                None,
                "<html>busy</html>",
                ErrorClass::ServiceUnavailable,
                "HTTP 503 (no error code): (no message)",
            ),
            (
                403,
                Some("AccessDeniedException"),
                r#"{"Message":"not allowed"}"#,
                ErrorClass::Validation,
                "HTTP 403 AccessDeniedException: not allowed",
            ),
            (
                429,
                Some("ModelNotReadyException"),
                "{}",
                ErrorClass::ModelNotReady,
                "HTTP 429 ModelNotReadyException: (no message)",
            ),
        ];
        for (status, header, body, class, line) in cases {
            let e = RuntimeError::parse(status, &kept(header, body));
            assert_eq!(e.class(), class, "{status} {header:?} {body}");
            assert_eq!(e.describe(), line);
        }
        let e = RuntimeError::parse(
            424,
            &kept(Some("ModelError"), r#"{"OriginalStatusCode":503}"#),
        );
        assert_eq!(e.original_status, Some(503));
    }

    #[test]
    fn lengths_render_in_decimal() {
        for n in [0usize, 9, 10, 65536, usize::MAX] {
            assert_eq!(fmt_len(n, &mut [0; 20]), n.to_string());
        }
    }
}
