//! `rightsize probe`: one constant-rate step against a URL or a SageMaker endpoint, measured
//! exactly like a campaign step, then a short summary (or the step as JSON). It is what a user
//! runs first, to see that an endpoint answers, how fast, and why it fails when it does.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Campaign;
use crate::decide::verdict;
use crate::error::{Error, Result};
use crate::measure::client::{AnyTarget, Target};
use crate::measure::load::{self, StepEnd, StepHandle, StepSpec};
use crate::measure::payload::Payloads;
use crate::measure::stats::{ErrorClass, Recorder, StepResult, Verdict};
use crate::run::campaign::{self, Progress};

/// The body sent when neither `--body` nor `--payload` is given.
pub const DEFAULT_BODY: &str = "{}";

// Everything `rightsize probe` is told on the command line (a plain comment: a doc comment
// here would replace the command's help text).
#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    /// http://HOST:PORT/PATH, https://…, or sagemaker://ENDPOINT_NAME.
    pub target: String,
    /// Requests per second offered (open model: sent on schedule whatever the answers).
    #[arg(long)]
    pub rps: f64,
    /// Length of the measured step, e.g. 30s, 2m.
    #[arg(long, default_value = "30s", value_parser = crate::cli::args::duration_arg)]
    pub duration: Duration,
    /// Discarded before the measured step (connection set-up, cold caches), e.g. 5s.
    #[arg(long, default_value = "0s", value_parser = crate::cli::args::warmup_arg)]
    pub warmup: Duration,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 1024)]
    pub max_concurrency: u32,
    /// How requests are spaced: uniform (evenly) or poisson (bursty, like real traffic).
    #[arg(long, default_value = "uniform", value_parser = ["uniform", "poisson"])]
    pub arrivals: String,
    /// Per-request timeout, milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub timeout_ms: u64,
    /// SageMaker: AWS region (default: AWS_REGION or the profile's region).
    #[arg(long)]
    pub region: Option<String>,
    /// SageMaker: send to this URL instead of AWS (like AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// SageMaker: the production variant to invoke (TargetVariant).
    #[arg(long)]
    pub variant: Option<String>,
    /// SageMaker: the client that sends requests: fast (signed requests on rightsize's own
    /// HTTP/1.1 client, the default) or sdk (the AWS SDK's InvokeEndpoint).
    #[arg(long, value_parser = ["fast", "sdk"])]
    pub client: Option<String>,
    /// A PEM file of CA certificates to trust for TLS, beside the system's.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    #[arg(long, default_value = "application/json")]
    pub content_type: String,
    #[arg(long, default_value = "application/json")]
    pub accept: String,
    /// The request body (default: {}).
    #[arg(long, conflicts_with = "payload")]
    pub body: Option<String>,
    /// A file holding the request body; a .jsonl file holds one body per line.
    #[arg(long)]
    pub payload: Option<PathBuf>,
    /// Fail (exit 3) when p99 latency exceeds this many milliseconds.
    #[arg(long)]
    pub p99_ms: Option<f64>,
    /// Fail (exit 3) when more than this percent of requests fail.
    #[arg(long)]
    pub max_error_percent: Option<f64>,
    /// Print the step as JSON (one `steps[]` element of report.json) on stdout; the
    /// summary goes to stderr.
    #[arg(long)]
    pub json: bool,
    /// No progress display and no summary on stderr.
    #[arg(long)]
    pub quiet: bool,
}

impl ProbeArgs {
    /// Arguments with the documented defaults for `target` at `rps`.
    pub fn new(target: &str, rps: f64) -> ProbeArgs {
        ProbeArgs {
            target: target.to_string(),
            rps,
            duration: Duration::from_secs(30),
            warmup: Duration::ZERO,
            max_concurrency: 1024,
            arrivals: "uniform".into(),
            timeout_ms: 60_000,
            region: None,
            endpoint_url: None,
            variant: None,
            client: None,
            ca_cert: None,
            content_type: "application/json".into(),
            accept: "application/json".into(),
            body: None,
            payload: None,
            p99_ms: None,
            max_error_percent: None,
            json: false,
            quiet: false,
        }
    }
}

/// Where a probe sends requests.
#[derive(Debug, Clone, PartialEq)]
enum Destination {
    Http(String),
    Sagemaker(String),
}

fn destination(target: &str) -> Result<Destination> {
    if let Some(name) = target.strip_prefix("sagemaker://") {
        let name = name.trim_end_matches('/');
        if name.is_empty() || name.contains('/') {
            return Err(Error::input(format!(
                "probe: {target:?} does not name an endpoint; write sagemaker://ENDPOINT_NAME"
            )));
        }
        return Ok(Destination::Sagemaker(name.to_string()));
    }
    if target.starts_with("http://") || target.starts_with("https://") {
        return Ok(Destination::Http(target.to_string()));
    }
    Err(Error::input(format!(
        "probe: {target:?} is not a target; give a URL (http://host:port/invocations) or sagemaker://ENDPOINT_NAME"
    )))
}

/// The one-step campaign a probe amounts to, checked like a campaign file.
pub fn campaign_of(a: &ProbeArgs) -> Result<Campaign> {
    use toml::Value;
    let mut target = toml::Table::new();
    let put = |t: &mut toml::Table, k: &str, v: Value| {
        t.insert(k.to_string(), v);
    };
    match destination(&a.target)? {
        Destination::Http(url) => {
            for (flag, set) in [
                ("--region", a.region.is_some()),
                ("--endpoint-url", a.endpoint_url.is_some()),
                ("--variant", a.variant.is_some()),
                ("--client", a.client.is_some()),
            ] {
                if set {
                    return Err(Error::input(format!(
                        "probe: {flag} applies only to sagemaker://ENDPOINT targets"
                    )));
                }
            }
            put(&mut target, "kind", "http".into());
            put(&mut target, "url", url.into());
        }
        Destination::Sagemaker(name) => {
            put(&mut target, "kind", "sagemaker".into());
            put(&mut target, "endpoint_name", name.into());
            for (k, v) in [
                ("region", &a.region),
                ("endpoint_url", &a.endpoint_url),
                ("variant", &a.variant),
                ("client", &a.client),
            ] {
                if let Some(v) = v {
                    put(&mut target, k, v.clone().into());
                }
            }
        }
    }
    if let Some(p) = &a.ca_cert {
        put(
            &mut target,
            "ca_cert",
            p.to_string_lossy().into_owned().into(),
        );
    }
    put(&mut target, "content_type", a.content_type.clone().into());
    put(&mut target, "accept", a.accept.clone().into());
    put(
        &mut target,
        "timeout_ms",
        Value::Integer(a.timeout_ms as i64),
    );

    let mut payload = toml::Table::new();
    match (&a.body, &a.payload) {
        (Some(_), Some(_)) => {
            return Err(Error::input(
                "probe: give --body or --payload, not both".to_string(),
            ));
        }
        (Some(b), None) => put(&mut payload, "body", b.clone().into()),
        (None, Some(p)) => {
            if let Err(e) = std::fs::metadata(p) {
                return Err(Error::input(format!(
                    "probe: --payload {}: cannot read it: {e}",
                    p.display()
                )));
            }
            let path: Value = p.to_string_lossy().into_owned().into();
            if p.extension().is_some_and(|e| e == "jsonl") {
                put(&mut payload, "jsonl", path);
            } else {
                let mut file = toml::Table::new();
                file.insert("path".into(), path);
                put(
                    &mut payload,
                    "files",
                    Value::Array(vec![Value::Table(file)]),
                );
            }
        }
        (None, None) => put(&mut payload, "body", DEFAULT_BODY.into()),
    }

    let mut requirements = toml::Table::new();
    put(
        &mut requirements,
        "p99_ms",
        Value::Float(a.p99_ms.unwrap_or(f64::MAX)),
    );
    put(
        &mut requirements,
        "max_error_percent",
        Value::Float(a.max_error_percent.unwrap_or(100.0)),
    );
    put(&mut requirements, "peak_tps", Value::Float(a.rps));

    let mut load = toml::Table::new();
    put(&mut load, "search", "walk".into());
    put(&mut load, "walk", Value::Array(vec![Value::Float(a.rps)]));
    put(&mut load, "start_rps", Value::Float(a.rps));
    put(&mut load, "max_rps", Value::Float(a.rps));
    put(
        &mut load,
        "step_seconds",
        Value::Float(a.duration.as_secs_f64()),
    );
    put(
        &mut load,
        "warmup_seconds",
        Value::Float(a.warmup.as_secs_f64()),
    );
    put(
        &mut load,
        "max_concurrency",
        Value::Integer(i64::from(a.max_concurrency)),
    );

    put(&mut load, "arrivals", a.arrivals.as_str().into());

    let mut root = toml::Table::new();
    put(&mut root, "name", "probe".into());
    put(&mut root, "target", Value::Table(target));
    put(&mut root, "payload", Value::Table(payload));
    put(&mut root, "requirements", Value::Table(requirements));
    put(&mut root, "load", Value::Table(load));
    let c: Campaign = root
        .try_into()
        .map_err(|e| Error::input(format!("probe: {e}")))?;
    c.validate().map_err(|i| {
        Error::input(format!(
            "probe: {} {}",
            flag_of(i.section, i.key),
            i.message
        ))
    })?;
    Ok(c)
}

/// The command-line flag a campaign key came from, for messages.
fn flag_of(section: &str, key: &str) -> String {
    let flag = match key {
        "url" | "endpoint_name" => "TARGET",
        "start_rps" | "max_rps" | "walk" | "peak_tps" => "--rps",
        "step_seconds" => "--duration",
        "warmup_seconds" => "--warmup",
        "timeout_ms" => "--timeout-ms",
        "max_concurrency" => "--max-concurrency",
        "endpoint_url" => "--endpoint-url",
        "region" => "--region",
        "variant" => "--variant",
        "client" => "--client",
        "ca_cert" => "--ca-cert",
        "content_type" => "--content-type",
        "accept" => "--accept",
        "p99_ms" => "--p99-ms",
        "max_error_percent" => "--max-error-percent",
        _ => return format!("[{section}] {key}"),
    };
    flag.to_string()
}

/// What a probe measured.
#[derive(Debug, Clone)]
pub struct Probed {
    pub label: String,
    pub step: StepResult,
    /// The first error message per class, when the target keeps them.
    pub samples: Vec<(ErrorClass, String)>,
    pub interrupted: bool,
}

impl Probed {
    /// Requests that got a successful answer.
    pub fn successes(&self) -> u64 {
        self.step.requests.saturating_sub(self.step.errors)
    }

    /// 0: the endpoint answered successfully (within any limits given); 3: it answered, but
    /// missed a limit or could not keep up with the rate; 1: no request succeeded at all;
    /// 130: interrupted.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            130
        } else if self.successes() == 0 {
            1
        } else if self.step.pass {
            0
        } else {
            3
        }
    }
}

/// Runs the probe: builds the target, sends one step, judges it against the limits given.
pub async fn probe(a: &ProbeArgs, interrupt: CancellationToken) -> Result<Probed> {
    let c = campaign_of(a)?;
    let payloads = Payloads::load(
        &c.payload,
        Path::new("probe"),
        campaign::is_json(&c.target.content_type),
    )?;
    let mut spec = StepSpec::new(
        a.rps,
        a.warmup.as_secs_f64(),
        a.duration.as_secs_f64(),
        a.max_concurrency as usize,
        Duration::from_millis(a.timeout_ms),
    );
    spec.arrivals = c.load.arrivals;
    spec.seed = c.payload.seed;
    if spec.schedule.measured() == 0 {
        return Err(Error::input(format!(
            "probe: --rps {} for --duration {:?} sends no measured request; raise one of them",
            a.rps, a.duration
        )));
    }
    let target = Arc::new(AnyTarget::from_campaign(&c).await?);
    let handle = StepHandle {
        recorder: Arc::new(Recorder::new((a.max_concurrency as usize).min(16))),
        cancel: interrupt.child_token(),
    };
    let progress = Progress::start(1, &spec, &handle, a.quiet);
    let (m, end) = load::run_step(target.clone(), Arc::new(payloads), &spec, &handle).await;
    progress.finish().await;
    let mut step = m.into_result();
    let (v, reasons) = verdict::decide(&step, &c.requirements, None);
    step.pass = v == Verdict::Pass;
    step.verdict = Some(v);
    step.reasons = reasons;
    Ok(Probed {
        label: c.target_label(),
        step,
        samples: target.error_samples(),
        interrupted: end == StepEnd::Cancelled,
    })
}

/// The human summary of a probe.
pub fn summary(p: &Probed, timeout_ms: u64) -> String {
    let s = &p.step;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "probe {}: offered {:.1} rps for {} s{}",
        p.label,
        s.offered_rps,
        s.duration_s,
        if p.interrupted { " (interrupted)" } else { "" }
    );
    let _ = writeln!(out, "  achieved    {:.1} rps", s.achieved_rps);
    let _ = writeln!(
        out,
        "  requests    {} answered, {} succeeded ({} sent, {} never sent)",
        s.requests.saturating_sub(s.unsent),
        p.successes(),
        s.sent,
        s.unsent
    );
    let classes = s
        .errors_by_class
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "  errors      {} ({:.2}%){}{}",
        s.errors,
        s.error_percent,
        if classes.is_empty() { "" } else { ": " },
        classes
    );
    let lat = |l: &crate::measure::stats::LatencySummary| {
        format!(
            "p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}  mean {:.1}",
            l.p50, l.p90, l.p99, l.max, l.mean
        )
    };
    let _ = writeln!(
        out,
        "  latency ms  {}   (from the intended send time)",
        lat(&s.latency_ms)
    );
    let _ = writeln!(
        out,
        "  service ms  {}   (from the actual send)",
        lat(&s.service_ms)
    );
    let _ = writeln!(
        out,
        "  generator   {} of max_concurrency {} in flight at most; send lag p50 {:.1}  p99 {:.1}  max {:.1} ms",
        s.peak_in_flight,
        s.max_concurrency,
        s.send_lag_ms.p50,
        s.send_lag_ms.p99,
        s.send_lag_ms.max
    );
    let counts = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !s.status_counts.is_empty() {
        let _ = writeln!(out, "  statuses    {}", counts(&s.status_counts));
    }
    if !s.original_status_counts.is_empty() {
        let _ = writeln!(
            out,
            "  model errors by container status  {}",
            counts(&s.original_status_counts)
        );
    }
    if !s.variants.is_empty() {
        let _ = writeln!(out, "  variants    {}", counts(&s.variants));
    }
    let mut explained: Vec<(String, String)> = p
        .samples
        .iter()
        .map(|(c, m)| (c.name().to_string(), m.clone()))
        .collect();
    if s.errors_by_class.contains_key("timeout") && !explained.iter().any(|(c, _)| c == "timeout") {
        explained.push((
            "timeout".into(),
            format!("no answer within {timeout_ms} ms (--timeout-ms)"),
        ));
    }
    explained.retain(|(c, _)| s.errors_by_class.contains_key(c));
    if !explained.is_empty() {
        let _ = writeln!(out, "  first error of each class:");
        for (c, m) in explained {
            let _ = writeln!(out, "    {c}: {m}");
        }
    }
    let verdict = if p.interrupted {
        "interrupted".to_string()
    } else if p.successes() == 0 {
        "no request succeeded".to_string()
    } else if s.pass {
        "pass".to_string()
    } else if s.verdict == Some(Verdict::Inconclusive) {
        format!("INCONCLUSIVE: {}", s.reasons.join("; "))
    } else {
        format!("FAIL: {}", s.reasons.join("; "))
    };
    let _ = writeln!(out, "  result      {verdict}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetKind;

    #[test]
    fn the_summary_names_the_generator_and_an_inconclusive_result() {
        let p = Probed {
            label: "http://x".into(),
            step: StepResult {
                offered_rps: 200.0,
                requests: 10,
                peak_in_flight: 8,
                max_concurrency: 8,
                verdict: Some(Verdict::Inconclusive),
                reasons: vec!["inconclusive: raise [load] max_concurrency".into()],
                ..Default::default()
            },
            samples: vec![],
            interrupted: false,
        };
        let text = summary(&p, 1000);
        assert!(text.contains("8 of max_concurrency 8 in flight"), "{text}");
        assert!(
            text.contains("result      INCONCLUSIVE: inconclusive"),
            "{text}"
        );
    }

    #[test]
    fn targets_are_urls_or_sagemaker_endpoints() {
        assert_eq!(
            destination("sagemaker://my-ep").unwrap(),
            Destination::Sagemaker("my-ep".into())
        );
        assert_eq!(
            destination("http://127.0.0.1:1/invocations").unwrap(),
            Destination::Http("http://127.0.0.1:1/invocations".into())
        );
        for bad in ["sagemaker://", "sagemaker://a/b", "my-ep", "ftp://x"] {
            assert_eq!(destination(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn a_probe_is_a_one_step_campaign_with_the_flags_applied() {
        let mut a = ProbeArgs::new("sagemaker://ep-1", 25.0);
        a.region = Some("eu-west-1".into());
        a.endpoint_url = Some("http://127.0.0.1:9".into());
        a.variant = Some("Blue".into());
        a.duration = Duration::from_secs(5);
        let c = campaign_of(&a).unwrap();
        assert_eq!(c.target.kind, TargetKind::Sagemaker);
        assert_eq!(c.target.endpoint_name.as_deref(), Some("ep-1"));
        assert_eq!(c.target.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.target.variant.as_deref(), Some("Blue"));
        assert_eq!(c.load.step_seconds, 5.0);
        assert_eq!(c.load.warmup_seconds, 0.0);
        assert_eq!(c.payload.body.as_deref(), Some(DEFAULT_BODY));
    }

    #[test]
    fn bad_probe_flags_name_the_flag() {
        let mut a = ProbeArgs::new("http://127.0.0.1:9/invocations", 10.0);
        a.region = Some("us-east-1".into());
        let e = campaign_of(&a).unwrap_err().to_string();
        assert!(e.contains("--region applies only to sagemaker://"), "{e}");

        let mut a = ProbeArgs::new("sagemaker://ep", 10.0);
        a.endpoint_url = Some("localhost:9".into());
        let e = campaign_of(&a).unwrap_err().to_string();
        assert!(e.contains("--endpoint-url"), "{e}");

        let mut a = ProbeArgs::new("sagemaker://ep", 10.0);
        a.timeout_ms = 0;
        let e = campaign_of(&a).unwrap_err().to_string();
        assert!(e.contains("--timeout-ms"), "{e}");

        let mut a = ProbeArgs::new("sagemaker://ep", 10.0);
        a.body = Some("{}".into());
        a.payload = Some(PathBuf::from("x.json"));
        assert_eq!(campaign_of(&a).unwrap_err().exit_code(), 2);
    }
}
