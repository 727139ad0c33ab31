//! Targets: the one thing that differs between an HTTP model server and a SageMaker endpoint.
//!
//! A [`Target`] sends one request body and says what became of it as an [`Outcome`]; the load
//! generator owns the clock, so every target is timed the same way. [`AnyTarget`] picks the
//! implementation a campaign names.

pub mod http;
pub mod resolve;

use std::future::Future;

use bytes::Bytes;

use crate::config::{Campaign, TargetKind};
use crate::error::{Error, Result};
use crate::stats::Outcome;

/// Something requests can be sent to.
pub trait Target: Send + Sync + 'static {
    /// Sends one request and reports its outcome. Must not panic; every failure is an outcome.
    fn invoke(&self, body: Bytes) -> impl Future<Output = Outcome> + Send;

    /// Names for the variant indices that outcomes carry, in index order.
    fn variant_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The target a campaign names.
pub enum AnyTarget {
    Http(http::HttpTarget),
}

impl AnyTarget {
    /// Builds the target of a validated campaign. `pool` is the number of connections to keep.
    pub async fn from_campaign(c: &Campaign) -> Result<AnyTarget> {
        match c.target.kind {
            TargetKind::Http => Ok(AnyTarget::Http(http::HttpTarget::new(
                &http::HttpTargetConfig::from_campaign(c)?,
            )?)),
            TargetKind::Sagemaker => Err(Error::input(
                "[target] kind = \"sagemaker\" is not available in this build yet".to_string(),
            )),
        }
    }
}

impl Target for AnyTarget {
    async fn invoke(&self, body: Bytes) -> Outcome {
        match self {
            AnyTarget::Http(t) => t.invoke(body).await,
        }
    }

    fn variant_names(&self) -> Vec<String> {
        match self {
            AnyTarget::Http(t) => t.variant_names(),
        }
    }
}
