//! SageMaker control-plane calls of a managed campaign, through `aws-sdk-sagemaker`: create an
//! endpoint configuration and an endpoint tagged with the campaign, read an endpoint's status,
//! scale its variant, delete both, and find what carries the campaign tag (`cleanup`).
//!
//! Unlike the runtime target, retries are on: a throttled control-plane call is not a
//! measurement, and teardown must get through. Region, credentials and endpoint overrides follow
//! the runtime target's rules (`[target] region`, the standard AWS chain, `AWS_ENDPOINT_URL_SAGEMAKER`
//! / `AWS_ENDPOINT_URL`, or an explicit URL).

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::config::{Credentials, Region};
use aws_sdk_sagemaker::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sagemaker::types::{
    DesiredWeightAndCapacity, EndpointStatus, ProductionVariant, ProductionVariantInstanceType, Tag,
};

use crate::error::{Error, Result};

/// The tag every resource of a managed campaign carries; its value is the campaign id.
pub const CAMPAIGN_TAG: &str = "rightsize:campaign";

/// Where control-plane calls go and as whom.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// `None`: the AWS config chain's region.
    pub region: Option<String>,
    /// `None`: the SDK's own resolution (`AWS_ENDPOINT_URL_SAGEMAKER`, `AWS_ENDPOINT_URL`, AWS).
    pub endpoint_url: Option<String>,
    /// Static credentials instead of the standard chain (embedding tools).
    pub credentials: Option<Credentials>,
}

/// One endpoint to create: an endpoint configuration and an endpoint of the same name.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSpec {
    pub name: String,
    pub model_name: String,
    pub variant_name: String,
    pub instance_type: String,
    pub instance_count: u32,
    pub campaign_id: String,
}

/// A failed control-plane call: which call, the service's error code, and its message.
#[derive(Debug, Clone, PartialEq)]
pub struct CallError {
    pub call: &'static str,
    pub code: Option<String>,
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SageMaker {} failed: {}", self.call, self.message)
    }
}

impl CallError {
    fn of<E, R>(call: &'static str, e: SdkError<E, R>) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = e.code().map(str::to_string);
        let message = match (&e, e.message()) {
            (SdkError::ServiceError(_), Some(m)) => {
                format!("{} ({m})", code.as_deref().unwrap_or("error"))
            }
            _ => DisplayErrorContext(&e).to_string(),
        };
        CallError {
            call,
            code,
            message,
        }
    }

    /// The resource does not exist (SageMaker says so with a ValidationException).
    pub fn is_not_found(&self) -> bool {
        self.message.contains("Could not find")
    }

    /// An error that every later call would meet too: no access, bad or expired credentials,
    /// or no answer from the control plane at all. A managed campaign stops on it rather than
    /// trying the next instance type.
    pub fn is_account_wide(&self) -> bool {
        match self.code.as_deref() {
            None => true,
            Some(code) => matches!(
                code,
                "AccessDeniedException"
                    | "AccessDenied"
                    | "UnauthorizedOperation"
                    | "ExpiredToken"
                    | "ExpiredTokenException"
                    | "UnrecognizedClientException"
                    | "InvalidClientTokenId"
                    | "IncompleteSignature"
                    | "InvalidSignatureException"
                    | "MissingAuthenticationToken"
                    | "SignatureDoesNotMatch"
            ),
        }
    }
}

/// An endpoint's status as DescribeEndpoint gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointState {
    pub status: EndpointStatus,
    pub failure_reason: Option<String>,
}

impl EndpointState {
    /// SageMaker is still working on the endpoint: it cannot be deleted until this ends.
    pub fn in_progress(&self) -> bool {
        matches!(
            self.status,
            EndpointStatus::Creating
                | EndpointStatus::Updating
                | EndpointStatus::SystemUpdating
                | EndpointStatus::RollingBack
        )
    }
}

/// A resource carrying the campaign tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Tagged {
    pub name: String,
    /// The campaign id in its tag.
    pub campaign: String,
}

/// What carries the campaign tag, endpoints and endpoint configurations apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaggedResources {
    pub endpoints: Vec<Tagged>,
    pub endpoint_configs: Vec<Tagged>,
}

/// A SageMaker control-plane client with its resolved region.
pub struct ControlPlane {
    client: Client,
    region: String,
}

impl ControlPlane {
    /// Resolves region and credentials (once, up front, so a missing login is one clear
    /// message) and builds the client.
    pub async fn connect(conn: &Connection) -> Result<ControlPlane> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(6))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(r) = &conn.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(c) = &conn.credentials {
            loader = loader.credentials_provider(c.clone());
        }
        let sdk = loader.load().await;
        let region = crate::measure::client::sagemaker::region_and_login(&sdk, "cleanup").await?;
        let mut conf = aws_sdk_sagemaker::config::Builder::from(&sdk);
        if let Some(u) = &conn.endpoint_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(Error::input(format!(
                    "endpoint URL {u:?} must start with http:// or https://"
                )));
            }
            conf = conf.endpoint_url(u);
        }
        Ok(ControlPlane {
            client: Client::from_conf(conf.build()),
            region,
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Whether the model exists (DescribeModel).
    pub async fn model_exists(&self, name: &str) -> Result<bool, CallError> {
        match self.client.describe_model().model_name(name).send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = CallError::of("DescribeModel", e);
                if e.is_not_found() { Ok(false) } else { Err(e) }
            }
        }
    }

    fn tag(campaign_id: &str) -> Tag {
        Tag::builder().key(CAMPAIGN_TAG).value(campaign_id).build()
    }

    /// CreateEndpointConfig: one variant of the model on `instance_count` × `instance_type`.
    pub async fn create_endpoint_config(&self, s: &EndpointSpec) -> Result<(), CallError> {
        let variant = ProductionVariant::builder()
            .variant_name(&s.variant_name)
            .model_name(&s.model_name)
            .instance_type(ProductionVariantInstanceType::from(
                s.instance_type.as_str(),
            ))
            .initial_instance_count(s.instance_count as i32)
            .build();
        self.client
            .create_endpoint_config()
            .endpoint_config_name(&s.name)
            .production_variants(variant)
            .tags(Self::tag(&s.campaign_id))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| CallError::of("CreateEndpointConfig", e))
    }

    /// CreateEndpoint from the configuration of the same name.
    pub async fn create_endpoint(&self, s: &EndpointSpec) -> Result<(), CallError> {
        self.client
            .create_endpoint()
            .endpoint_name(&s.name)
            .endpoint_config_name(&s.name)
            .tags(Self::tag(&s.campaign_id))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| CallError::of("CreateEndpoint", e))
    }

    /// DescribeEndpoint; `None` when the endpoint does not exist.
    pub async fn endpoint_state(&self, name: &str) -> Result<Option<EndpointState>, CallError> {
        match self
            .client
            .describe_endpoint()
            .endpoint_name(name)
            .send()
            .await
        {
            Ok(d) => Ok(Some(EndpointState {
                status: d
                    .endpoint_status()
                    .cloned()
                    .unwrap_or_else(|| EndpointStatus::from("Unknown")),
                failure_reason: d.failure_reason().map(str::to_string),
            })),
            Err(e) => {
                let e = CallError::of("DescribeEndpoint", e);
                if e.is_not_found() { Ok(None) } else { Err(e) }
            }
        }
    }

    /// UpdateEndpointWeightsAndCapacities: `instances` for the variant.
    pub async fn scale(
        &self,
        endpoint: &str,
        variant: &str,
        instances: u32,
    ) -> Result<(), CallError> {
        let desired = DesiredWeightAndCapacity::builder()
            .variant_name(variant)
            .desired_instance_count(i32::try_from(instances).unwrap_or(i32::MAX))
            .build();
        self.client
            .update_endpoint_weights_and_capacities()
            .endpoint_name(endpoint)
            .desired_weights_and_capacities(desired)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| CallError::of("UpdateEndpointWeightsAndCapacities", e))
    }

    /// DeleteEndpoint; `Ok(false)` when it did not exist.
    pub async fn delete_endpoint(&self, name: &str) -> Result<bool, CallError> {
        match self
            .client
            .delete_endpoint()
            .endpoint_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = CallError::of("DeleteEndpoint", e);
                if e.is_not_found() { Ok(false) } else { Err(e) }
            }
        }
    }

    /// DeleteEndpointConfig; `Ok(false)` when it did not exist.
    pub async fn delete_endpoint_config(&self, name: &str) -> Result<bool, CallError> {
        match self
            .client
            .delete_endpoint_config()
            .endpoint_config_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = CallError::of("DeleteEndpointConfig", e);
                if e.is_not_found() { Ok(false) } else { Err(e) }
            }
        }
    }

    /// The campaign id in a resource's tags, if it carries the campaign tag.
    async fn campaign_of(&self, arn: &str) -> Result<Option<String>, CallError> {
        let mut pages = self
            .client
            .list_tags()
            .resource_arn(arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => {
                    if let Some(t) = p.tags().iter().find(|t| t.key() == Some(CAMPAIGN_TAG)) {
                        return Ok(Some(t.value().unwrap_or_default().to_string()));
                    }
                }
                // Deleted between the listing and now: it carries nothing any more.
                Err(e) => {
                    let e = CallError::of("ListTags", e);
                    return if e.is_not_found() { Ok(None) } else { Err(e) };
                }
            }
        }
        Ok(None)
    }

    /// Endpoints and endpoint configurations whose campaign tag is `campaign` (any campaign
    /// when `None`). Untagged resources are never returned. Names are listed (filtered by
    /// `name_contains` when given, a cheap pre-filter) and each one's tags are read.
    pub async fn find_tagged(
        &self,
        campaign: Option<&str>,
        name_contains: Option<&str>,
    ) -> Result<TaggedResources, CallError> {
        let wanted = |c: &str| campaign.is_none_or(|id| id == c);
        let mut out = TaggedResources::default();
        let mut pages = self
            .client
            .list_endpoints()
            .set_name_contains(name_contains.map(str::to_string))
            .into_paginator()
            .send();
        let mut endpoints = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| CallError::of("ListEndpoints", e))?;
            for e in page.endpoints() {
                if let (Some(name), Some(arn)) = (e.endpoint_name(), e.endpoint_arn()) {
                    endpoints.push((name.to_string(), arn.to_string()));
                }
            }
        }
        for (name, arn) in endpoints {
            if let Some(c) = self.campaign_of(&arn).await?
                && wanted(&c)
            {
                out.endpoints.push(Tagged { name, campaign: c });
            }
        }
        let mut pages = self
            .client
            .list_endpoint_configs()
            .set_name_contains(name_contains.map(str::to_string))
            .into_paginator()
            .send();
        let mut configs = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| CallError::of("ListEndpointConfigs", e))?;
            for c in page.endpoint_configs() {
                if let (Some(name), Some(arn)) = (c.endpoint_config_name(), c.endpoint_config_arn())
                {
                    configs.push((name.to_string(), arn.to_string()));
                }
            }
        }
        for (name, arn) in configs {
            if let Some(c) = self.campaign_of(&arn).await?
                && wanted(&c)
            {
                out.endpoint_configs.push(Tagged { name, campaign: c });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: Option<&str>, message: &str) -> CallError {
        CallError {
            call: "DeleteEndpoint",
            code: code.map(str::to_string),
            message: message.into(),
        }
    }

    #[test]
    fn not_found_and_account_wide_errors_are_told_apart() {
        let gone = err(
            Some("ValidationException"),
            "ValidationException (Could not find endpoint \"arn:aws:sagemaker:us-east-1:1:endpoint/x\".)",
        );
        assert!(gone.is_not_found());
        assert!(!gone.is_account_wide());
        assert!(err(Some("AccessDeniedException"), "no").is_account_wide());
        assert!(err(Some("ExpiredTokenException"), "expired").is_account_wide());
        // No code at all: the control plane did not answer (after the retries).
        assert!(err(None, "dispatch failure: connection refused").is_account_wide());
        assert!(!err(Some("ResourceLimitExceeded"), "quota").is_account_wide());
        assert!(!err(Some("ValidationException"), "bad instance type").is_account_wide());
    }

    #[test]
    fn creating_and_updating_endpoints_are_in_progress() {
        let s = |status| EndpointState {
            status,
            failure_reason: None,
        };
        assert!(s(EndpointStatus::Creating).in_progress());
        assert!(s(EndpointStatus::Updating).in_progress());
        assert!(!s(EndpointStatus::InService).in_progress());
        assert!(!s(EndpointStatus::Failed).in_progress());
        assert!(!s(EndpointStatus::Deleting).in_progress());
    }
}
