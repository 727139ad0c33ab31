//! The SageMaker streaming target (`kind = "sagemaker"` with `[target] stream`): each body goes
//! through the AWS SDK's `InvokeEndpointWithResponseStream`, retries off as for `InvokeEndpoint`;
//! the payload parts (split by SageMaker at arbitrary byte boundaries) are re-framed by the
//! chosen format ([`crate::measure::stream`]) as they arrive.
//!
//! A `ModelStreamError` event is `model_stream_error` (its `ErrorCode` kept in the error
//! sample), an `InternalStreamFailure` event `internal_stream_failure`; a stream that ends
//! without its format's terminator, or stays silent longer than `stream_idle_timeout_ms`,
//! `stream_broken`; errors before the stream starts are classed as for `InvokeEndpoint`.

use std::time::{Duration, Instant};

use aws_sdk_sagemakerruntime::Client;
use aws_sdk_sagemakerruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemakerruntime::operation::invoke_endpoint_with_response_stream::InvokeEndpointWithResponseStreamError as StartError;
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_sdk_sagemakerruntime::types::ResponseStream;
use aws_sdk_sagemakerruntime::types::error::ResponseStreamError;
use bytes::Bytes;

use super::sagemaker::{
    SagemakerTargetConfig, classify_unmodelled, load_sdk_config, region_and_login,
};
use super::target::{ErrorSamples, Target};
use crate::config::StreamFormat;
use crate::error::Result;
use crate::measure::stats::{ErrorClass, Outcome};
use crate::measure::stream::{Decoder, StreamFailure, StreamTally};
use crate::measure::stream_stats::StreamRecord;

pub struct SagemakerStreamTarget {
    client: Client,
    cfg: SagemakerTargetConfig,
    format: StreamFormat,
    idle_timeout: Duration,
    samples: ErrorSamples,
    /// The region requests are signed for.
    region: String,
}

impl SagemakerStreamTarget {
    /// Resolves region and credentials and builds the client, like [`super::sagemaker`].
    pub async fn new(
        cfg: &SagemakerTargetConfig,
        format: StreamFormat,
        idle_timeout: Duration,
    ) -> Result<SagemakerStreamTarget> {
        // No operation timeout: silence inside a stream is judged by stream_idle_timeout_ms.
        let sdk = load_sdk_config(cfg, None).await;
        let region = region_and_login(&sdk, "run").await?;
        let mut conf = aws_sdk_sagemakerruntime::config::Builder::from(&sdk);
        if let Some(u) = &cfg.endpoint_url {
            conf = conf.endpoint_url(u);
        }
        Ok(SagemakerStreamTarget {
            client: Client::from_conf(conf.build()),
            cfg: cfg.clone(),
            format,
            idle_timeout,
            samples: ErrorSamples::default(),
            region,
        })
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    fn fail(
        &self,
        class: ErrorClass,
        status: Option<u16>,
        why: impl FnOnce() -> String,
    ) -> Outcome {
        self.samples.offer(class, why);
        Outcome::error(class, status)
    }
}

/// The class of an error answered before the stream started.
fn start_error_class(
    e: &SdkError<StartError, aws_sdk_sagemakerruntime::config::http::HttpResponse>,
) -> ErrorClass {
    match e {
        SdkError::ServiceError(ctx) => match ctx.err() {
            StartError::ModelError(_) => ErrorClass::ModelError,
            StartError::ServiceUnavailable(_) => ErrorClass::ServiceUnavailable,
            StartError::InternalFailure(_) => ErrorClass::InternalFailure,
            StartError::ValidationError(_) => ErrorClass::Validation,
            StartError::ModelStreamError(_) => ErrorClass::ModelStreamError,
            StartError::InternalStreamFailure(_) => ErrorClass::InternalStreamFailure,
            other => classify_unmodelled(other.code(), ctx.raw().status().as_u16()),
        },
        SdkError::TimeoutError(_) => ErrorClass::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => ErrorClass::Timeout,
        SdkError::DispatchFailure(d) if d.is_user() => ErrorClass::Other,
        SdkError::DispatchFailure(_) => ErrorClass::Connect,
        other => std::error::Error::source(other)
            .map(super::classify::source_chain)
            .unwrap_or(ErrorClass::Other),
    }
}

impl Target for SagemakerStreamTarget {
    async fn invoke(&self, body: Bytes) -> Outcome {
        let c = &self.cfg;
        let sent = Instant::now();
        let call = self
            .client
            .invoke_endpoint_with_response_stream()
            .endpoint_name(&c.endpoint_name)
            .content_type(&c.content_type)
            .accept(&c.accept)
            .set_custom_attributes(c.custom_attributes.clone())
            .set_target_variant(c.target_variant.clone())
            .set_target_container_hostname(c.target_container_hostname.clone())
            .set_inference_component_name(c.inference_component.clone())
            .set_inference_id(c.inference_id.clone())
            .body(Blob::new(body.to_vec()))
            .send();
        let mut out = match tokio::time::timeout(self.idle_timeout, call).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                let status = match &e {
                    SdkError::ServiceError(ctx) => Some(ctx.raw().status().as_u16()),
                    _ => None,
                };
                let class = start_error_class(&e);
                return self.fail(class, status, || {
                    let code = e.code().unwrap_or("");
                    let msg = e.message().unwrap_or("");
                    format!("{code} {msg}").trim().to_string()
                });
            }
            Err(_) => {
                return self.fail(ErrorClass::StreamBroken, None, || {
                    StreamFailure::Idle.to_string()
                });
            }
        };
        let mut decoder = Decoder::new(self.format);
        let mut tally = StreamTally::default();
        let mut pieces = Vec::new();
        let failure: Option<(ErrorClass, String)> = loop {
            match tokio::time::timeout(self.idle_timeout, out.body.recv()).await {
                Ok(Ok(Some(ResponseStream::PayloadPart(p)))) => {
                    let at = sent.elapsed();
                    if let Some(b) = p.bytes() {
                        decoder.feed(b.as_ref(), &mut pieces);
                    }
                    tally.take(at, &mut pieces);
                    if tally.error.is_some() {
                        break None;
                    }
                }
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None)) => {
                    let at = sent.elapsed();
                    decoder.finish(&mut pieces);
                    tally.take(at, &mut pieces);
                    break None;
                }
                Ok(Err(e)) => {
                    break Some(match e.as_service_error() {
                        Some(ResponseStreamError::ModelStreamError(m)) => (
                            ErrorClass::ModelStreamError,
                            format!(
                                "ModelStreamError {}: {}",
                                m.error_code().unwrap_or("(no ErrorCode)"),
                                m.message().unwrap_or("")
                            ),
                        ),
                        Some(ResponseStreamError::InternalStreamFailure(f)) => (
                            ErrorClass::InternalStreamFailure,
                            format!("InternalStreamFailure: {}", f.message().unwrap_or("")),
                        ),
                        _ => (ErrorClass::StreamBroken, format!("the stream was cut: {e}")),
                    });
                }
                Err(_) => break Some((ErrorClass::StreamBroken, StreamFailure::Idle.to_string())),
            }
        };
        let failure = failure.or_else(|| match tally.failure() {
            None => None,
            Some(StreamFailure::ErrorEvent(e)) => Some((
                ErrorClass::ModelError,
                format!("error inside the stream: {e}"),
            )),
            Some(f) => Some((ErrorClass::StreamBroken, f.to_string())),
        });
        let mut outcome = match failure {
            Some((class, why)) => self.fail(class, Some(200), || why),
            None => Outcome::success(200),
        };
        outcome.stream = Some(Box::new(StreamRecord { sent, tally }));
        outcome
    }

    fn error_samples(&self) -> Vec<(ErrorClass, String)> {
        self.samples.get()
    }
}
