//! `rightsize apply`: sends the requests of [`crate::aws::policy`] to Application Auto Scaling with
//! `aws-sdk-applicationautoscaling` — RegisterScalableTarget, PutScalingPolicy, then each
//! PutScheduledAction — or, in a dry run, prints exactly what it would send.

use aws_config::BehaviorVersion;
use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::config::Region;
use aws_sdk_applicationautoscaling::error::DisplayErrorContext;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ScalableTargetAction,
    ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};

use crate::aws::policy::Requests;
use crate::error::{Error, Result};

/// Where the calls go: a region (default from the AWS config chain) and, for local emulators,
/// an endpoint URL.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// A client for Application Auto Scaling; credentials come from the usual AWS chain.
pub async fn client(conn: &Connection) -> Result<Client> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = &conn.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(u) = &conn.endpoint_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(Error::input(format!(
                "--endpoint-url {u:?} must start with http:// or https://"
            )));
        }
        loader = loader.endpoint_url(u);
    }
    let cfg = loader.load().await;
    if cfg.region().is_none() {
        return Err(Error::input(
            "no AWS region: pass --region or set AWS_REGION (or a region in your AWS profile)",
        ));
    }
    Ok(Client::new(&cfg))
}

fn capacity(what: &str, n: u64) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::input(format!("{what} {n} is too large for AWS")))
}

fn failed<E>(call: &str, e: E) -> Error
where
    E: std::error::Error + 'static,
{
    Error::Other(format!(
        "Application Auto Scaling {call} failed: {}",
        DisplayErrorContext(e)
    ))
}

/// What a dry run prints: each call with its JSON input, in order.
pub fn describe(reqs: &Requests) -> String {
    let names = ["RegisterScalableTarget", "PutScalingPolicy"];
    let mut out = String::new();
    for (i, (file, text)) in reqs.files().into_iter().enumerate() {
        let call = names.get(i).copied().unwrap_or("PutScheduledAction");
        out.push_str(&format!("{}. {call} (as in {file}):\n{text}", i + 1));
    }
    out
}

/// Sends every request, stopping at the first failure. Returns one line per call made.
pub async fn apply(client: &Client, reqs: &Requests) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let t = &reqs.scalable_target;
    client
        .register_scalable_target()
        .service_namespace(ServiceNamespace::from(t.service_namespace.as_str()))
        .resource_id(&t.resource_id)
        .scalable_dimension(ScalableDimension::from(t.scalable_dimension.as_str()))
        .min_capacity(capacity("MinCapacity", t.min_capacity)?)
        .max_capacity(capacity("MaxCapacity", t.max_capacity)?)
        .send()
        .await
        .map_err(|e| failed("RegisterScalableTarget", e))?;
    done.push(format!(
        "registered {} (MinCapacity {}, MaxCapacity {})",
        t.resource_id, t.min_capacity, t.max_capacity
    ));

    let p = &reqs.scaling_policy;
    let c = &p.target_tracking_scaling_policy_configuration;
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::from(
            c.predefined_metric_specification
                .predefined_metric_type
                .as_str(),
        ))
        .build()
        .map_err(|e| Error::Other(format!("building the metric specification: {e}")))?;
    let config = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(c.target_value)
        .predefined_metric_specification(metric)
        .scale_in_cooldown(capacity("ScaleInCooldown", u64::from(c.scale_in_cooldown))?)
        .scale_out_cooldown(capacity(
            "ScaleOutCooldown",
            u64::from(c.scale_out_cooldown),
        )?)
        .build()
        .map_err(|e| Error::Other(format!("building the policy configuration: {e}")))?;
    client
        .put_scaling_policy()
        .policy_name(&p.policy_name)
        .service_namespace(ServiceNamespace::from(p.service_namespace.as_str()))
        .resource_id(&p.resource_id)
        .scalable_dimension(ScalableDimension::from(p.scalable_dimension.as_str()))
        .policy_type(PolicyType::from(p.policy_type.as_str()))
        .target_tracking_scaling_policy_configuration(config)
        .send()
        .await
        .map_err(|e| failed("PutScalingPolicy", e))?;
    done.push(format!(
        "put policy {} (TargetValue {})",
        p.policy_name, c.target_value
    ));

    for (_, a) in &reqs.scheduled_actions {
        let action = ScalableTargetAction::builder()
            .min_capacity(capacity(
                "MinCapacity",
                a.scalable_target_action.min_capacity,
            )?)
            .max_capacity(capacity(
                "MaxCapacity",
                a.scalable_target_action.max_capacity,
            )?)
            .build();
        client
            .put_scheduled_action()
            .service_namespace(ServiceNamespace::from(a.service_namespace.as_str()))
            .schedule(&a.schedule)
            .set_timezone(a.timezone.clone())
            .scheduled_action_name(&a.scheduled_action_name)
            .resource_id(&a.resource_id)
            .scalable_dimension(ScalableDimension::from(a.scalable_dimension.as_str()))
            .scalable_target_action(action)
            .send()
            .await
            .map_err(|e| failed("PutScheduledAction", e))?;
        done.push(format!(
            "put scheduled action {} ({}: MinCapacity {}, MaxCapacity {})",
            a.scheduled_action_name,
            a.schedule,
            a.scalable_target_action.min_capacity,
            a.scalable_target_action.max_capacity
        ));
    }
    Ok(done)
}

/// `rightsize apply`'s arguments.
#[derive(Debug, Clone)]
pub struct ApplyArgs {
    pub report: std::path::PathBuf,
    pub endpoint: Option<String>,
    /// Per-copy recommendations: the inference component to scale.
    pub inference_component: Option<String>,
    pub variant: Option<String>,
    /// Act; without it, only print what would be sent.
    pub yes: bool,
    pub connection: Connection,
}

/// The whole command; returns the text to print.
pub async fn apply_command(args: &ApplyArgs) -> Result<String> {
    let report = crate::report::Report::load(&args.report)?;
    let Some(r) = &report.recommendation else {
        return Err(Error::input(format!(
            "{}: has no recommendation to apply (no tested rate met the requirements)",
            args.report.display()
        )));
    };
    if let Some(why) = crate::decide::recommend::target_value_refusal(r) {
        return Err(Error::input(format!("{}: {why}", args.report.display())));
    }
    let per_copy = r
        .concurrency
        .as_ref()
        .is_some_and(|k| k.unit == crate::decide::concurrency::Unit::Copy);
    if !per_copy && args.endpoint.is_none() {
        return Err(Error::input(format!(
            "{}: the recommendation scales an endpoint variant: pass --endpoint NAME",
            args.report.display()
        )));
    }
    let names = crate::aws::policy::Names::resolve_with(
        &report.campaign,
        args.endpoint.as_deref(),
        args.variant.as_deref(),
        args.inference_component.as_deref(),
    )?;
    if per_copy && names.inference_component.is_none() {
        return Err(Error::input(format!(
            "{}: the recommendation scales copies of an inference component, and the report names none: pass --inference-component NAME",
            args.report.display()
        )));
    }
    let reqs = crate::aws::policy::requests(r, &names);
    let resource = names.resource_for(r);
    if !args.yes {
        return Ok(format!(
            "Dry run: nothing was sent. With --yes, rightsize would make these Application Auto Scaling calls for {resource}:\n\n{}",
            describe(&reqs)
        ));
    }
    let client = client(&args.connection).await?;
    let done = apply(&client, &reqs).await?;
    Ok(format!("Applied to {resource}:\n  {}\n", done.join("\n  ")))
}
