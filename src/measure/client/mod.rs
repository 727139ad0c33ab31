//! Targets: the one thing that differs between an HTTP model server and a SageMaker endpoint.
//!
//! A [`Target`] sends one request body and says what became of it as an [`Outcome`]; the load
//! generator owns the clock, so every target is timed the same way. [`AnyTarget`] picks the
//! implementation a campaign names: HTTP, SageMaker through the fast signed client (the
//! default), or SageMaker through the AWS SDK (`[target] client = "sdk"`).

pub mod classify;
mod credentials;
pub mod h1;
pub mod http;
pub mod pool;
pub mod resolve;
pub mod sagemaker;
pub mod sagemaker_stream;
pub mod sigv4;
pub mod stream_http;
mod target;
pub mod tls;

use bytes::Bytes;

use crate::config::{Campaign, SagemakerClient, TargetKind};
use crate::error::Result;
use crate::measure::stats::{ErrorClass, Outcome};

pub use target::{ErrorSamples, Target};

/// The target a campaign names.
pub enum AnyTarget {
    Http(http::HttpTarget),
    Sagemaker(sagemaker::SagemakerTarget),
    FastSagemaker(sigv4::FastSagemakerTarget),
    /// An HTTP target whose answers stream (`[target] stream`).
    Stream(stream_http::StreamHttpTarget),
    /// A SageMaker endpoint whose answers stream (`InvokeEndpointWithResponseStream`).
    SagemakerStream(sagemaker_stream::SagemakerStreamTarget),
}

impl AnyTarget {
    /// Builds the target of a validated campaign. `pool` is the number of connections to keep.
    pub async fn from_campaign(c: &Campaign) -> Result<AnyTarget> {
        match c.target.kind {
            TargetKind::Http if let Some(format) = c.target.stream => {
                Ok(AnyTarget::Stream(stream_http::StreamHttpTarget::new(
                    &stream_http::StreamHttpConfig::from_campaign(c, format)?,
                )?))
            }
            TargetKind::Sagemaker if let Some(format) = c.target.stream => {
                Ok(AnyTarget::SagemakerStream(
                    sagemaker_stream::SagemakerStreamTarget::new(
                        &sagemaker::SagemakerTargetConfig::from_campaign(c)?,
                        format,
                        c.target.stream_idle_timeout(),
                    )
                    .await?,
                ))
            }
            TargetKind::Http => Ok(AnyTarget::Http(http::HttpTarget::new(
                &http::HttpTargetConfig::from_campaign(c)?,
            )?)),
            TargetKind::Sagemaker => {
                AnyTarget::sagemaker(&sagemaker::SagemakerTargetConfig::from_campaign(c)?).await
            }
        }
    }

    /// The SageMaker target through the client `cfg.client` names.
    pub async fn sagemaker(cfg: &sagemaker::SagemakerTargetConfig) -> Result<AnyTarget> {
        Ok(match cfg.client {
            SagemakerClient::Fast => {
                AnyTarget::FastSagemaker(sigv4::FastSagemakerTarget::new(cfg).await?)
            }
            SagemakerClient::Sdk => {
                AnyTarget::Sagemaker(sagemaker::SagemakerTarget::new(cfg).await?)
            }
        })
    }

    /// The region a SageMaker target signs for.
    pub fn region(&self) -> Option<&str> {
        match self {
            AnyTarget::Http(_) => None,
            AnyTarget::Sagemaker(t) => Some(t.region()),
            AnyTarget::FastSagemaker(t) => Some(t.region()),
            AnyTarget::Stream(_) => None,
            AnyTarget::SagemakerStream(t) => Some(t.region()),
        }
    }
}

impl Target for AnyTarget {
    async fn invoke(&self, body: Bytes) -> Outcome {
        match self {
            AnyTarget::Http(t) => t.invoke(body).await,
            AnyTarget::Sagemaker(t) => t.invoke(body).await,
            AnyTarget::FastSagemaker(t) => t.invoke(body).await,
            AnyTarget::Stream(t) => t.invoke(body).await,
            AnyTarget::SagemakerStream(t) => t.invoke(body).await,
        }
    }

    fn variant_names(&self) -> Vec<String> {
        match self {
            AnyTarget::Http(t) => t.variant_names(),
            AnyTarget::Sagemaker(t) => t.variant_names(),
            AnyTarget::FastSagemaker(t) => t.variant_names(),
            AnyTarget::Stream(t) => t.variant_names(),
            AnyTarget::SagemakerStream(t) => t.variant_names(),
        }
    }

    fn error_samples(&self) -> Vec<(ErrorClass, String)> {
        match self {
            AnyTarget::Http(t) => t.error_samples(),
            AnyTarget::Sagemaker(t) => t.error_samples(),
            AnyTarget::FastSagemaker(t) => t.error_samples(),
            AnyTarget::Stream(t) => t.error_samples(),
            AnyTarget::SagemakerStream(t) => t.error_samples(),
        }
    }
}
