//! Managed campaigns (`[deploy]`): for each instance type, deploy the model on a new endpoint,
//! wait for InService, warm it up, run the campaign's search against it (one report folder per
//! type, through [`campaign::run_with`]) and tear it down; then rank the types by the cost of
//! serving the peak, after an optional endurance check of the winner.
//!
//! Whatever ends the campaign — success, an error, the first Ctrl-C, a failed deploy, even a
//! panic in the loop — every endpoint and endpoint configuration it created is deleted before
//! [`run`] returns (unless `keep`): the loop runs as its own task, and teardown of whatever
//! [`lifecycle::Live`] still holds follows it unconditionally.

pub mod cleanup;
mod endurance;
pub mod lifecycle;
pub mod record;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::aws::deploy::{Connection, ControlPlane, EndpointSpec};
use crate::config::Campaign;
use crate::error::{Error, Result};
use crate::measure::client::AnyTarget;
use crate::measure::load::{self, StepHandle, StepSpec};
use crate::measure::payload::Payloads;
use crate::measure::stats::Recorder;
use crate::prices::{PriceSource, usd};
use crate::report::compare::{self, Comparison, Input};
use crate::report::{self, Report, render};
use crate::run::campaign::{self, Outcome, RunOptions, is_json};

use crate::config::deploy::{DeployConfig, resource_name};
use lifecycle::{Display, Live, NotInService, fmt_elapsed};
use record::{MANIFEST_FILE, ManagedInfo, Manifest, TypeRecord, TypeStatus};
use state::{Run, Shared};

/// A finished managed campaign.
#[derive(Debug)]
pub struct ManagedFinished {
    /// The campaign folder: managed.json, one folder per type, the comparison.
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Over the types measured (absent when none was).
    pub comparison: Option<Comparison>,
    /// The chosen type's endurance check, when one ran.
    pub endurance: Option<record::Endurance>,
    pub outcome: Outcome,
}

impl ManagedFinished {
    pub fn exit_code(&self) -> i32 {
        self.outcome.exit_code()
    }
}

/// An 8-hex-digit id, unique enough among one account's campaigns.
fn new_campaign_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let x = crate::rng::splitmix64(nanos ^ (u64::from(std::process::id()) << 40));
    format!("{:08x}", x as u32)
}

/// Runs the managed campaign of `c` (which must have `[deploy]`).
pub async fn run(c: &Campaign, campaign_file: &Path, opts: &RunOptions) -> Result<ManagedFinished> {
    let Some(d) = c.deploy.clone() else {
        return Err(Error::input(format!(
            "{}: has no [deploy] section",
            campaign_file.display()
        )));
    };
    if opts.resume.is_some() {
        return Err(Error::input(
            "--resume does not apply to a managed campaign ([deploy]): its endpoints were deleted when it stopped; run it again",
        ));
    }
    let display = Display { quiet: opts.quiet };
    let payloads = Arc::new(Payloads::load(
        &c.payload,
        campaign_file,
        is_json(&c.target.content_type),
    )?);
    let cp = ControlPlane::connect(&Connection {
        region: c.target.region.clone(),
        endpoint_url: d.endpoint_url.clone(),
        credentials: None,
    })
    .await?;
    // Before anything is created or billed: the model must exist.
    match cp.model_exists(&d.model_name).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(Error::input(format!(
                "{}: [deploy] model_name = {:?}: there is no SageMaker model of that name in region {}; create it first (CreateModel, the console or the SageMaker SDK) — rightsize deploys an existing model. Nothing was created.",
                campaign_file.display(),
                d.model_name,
                cp.region()
            )));
        }
        Err(e) => {
            return Err(Error::Other(format!(
                "{e}. Nothing was created. rightsize needs the IAM permissions listed in docs/managed.md (IAM permissions)"
            )));
        }
    }
    let id = new_campaign_id();
    let dir = report::create_report_dir(
        opts.out.as_deref(),
        &opts.reports_root,
        &c.name,
        &report::now_stamp(),
    )?;
    if dir.join(MANIFEST_FILE).exists() {
        return Err(Error::input(format!(
            "{}: already holds a managed campaign; choose another --out folder",
            dir.display()
        )));
    }
    let types: Vec<TypeRecord> = d
        .instance_types
        .iter()
        .map(|ty| TypeRecord {
            instance_type: ty.clone(),
            endpoint_name: resource_name(&d.endpoint_prefix, ty, &id),
            status: TypeStatus::Pending,
            detail: String::new(),
            in_service_s: None,
            report: None,
            teardown: "not created".into(),
        })
        .collect();
    let manifest = Manifest::new(
        &id,
        &c.name,
        &d.model_name,
        cp.region(),
        d.endpoint_url.as_deref(),
        types,
    );
    // Written before anything is created: even after kill -9 it names the campaign to clean up.
    manifest.write(&dir)?;
    announce(c, &d, &manifest, opts);

    let shared = Shared::new(manifest, dir.clone());
    let run = Arc::new(Run {
        c: c.clone(),
        d,
        id,
        dir: dir.clone(),
        cp,
        live: Live::default(),
        payloads,
        opts: opts.clone(),
        display,
    });
    let task = tokio::spawn(campaign_loop(run.clone(), shared.clone()));
    let result = match task.await {
        Ok(r) => r,
        Err(e) => Err(Error::Other(format!(
            "internal error during the campaign ({e})"
        ))),
    };

    // Teardown, whatever happened above.
    let failures = if run.live.to_delete().is_empty() {
        Vec::new()
    } else {
        if run.opts.interrupt.is_cancelled() || result.is_err() {
            eprintln!("rightsize: deleting the endpoints this campaign created");
        }
        lifecycle::teardown_all(&run.cp, &run.live, display).await
    };
    shared.after_teardown(&run.live, &failures);

    let comparison = write_comparison(&run, &shared);
    let endurance = shared.endurance();
    let interrupted = run.opts.interrupt.is_cancelled();
    let stop_reason = match (&result, interrupted) {
        (Err(e), _) => format!("error: {e}"),
        (Ok(()), true) => "interrupted".to_string(),
        (Ok(()), false) => "every instance type was tried".to_string(),
    };
    let manifest = shared.finish(&stop_reason);

    if !failures.is_empty() {
        return Err(Error::Other(format!(
            "could not delete {} — they may still be running and billing. Delete them with `{}`{}",
            failures.join("; "),
            manifest.cleanup,
            result
                .err()
                .map(|e| format!(" (the campaign had stopped on: {e})"))
                .unwrap_or_default()
        )));
    }
    result?;
    let measured_any = manifest.types.iter().any(|t| t.report.is_some());
    if !measured_any && !interrupted {
        let why: Vec<String> = manifest
            .types
            .iter()
            .filter(|t| !t.detail.is_empty())
            .map(|t| format!("{}: {}", t.instance_type, t.detail))
            .collect();
        return Err(Error::Other(format!(
            "no instance type could be deployed ({}); nothing is left deployed",
            why.join("; ")
        )));
    }
    let met = comparison
        .as_ref()
        .is_some_and(|c| c.rows.iter().any(|r| r.meets_requirements));
    let outcome = if interrupted {
        Outcome::Interrupted
    } else if met && endurance.as_ref().is_none_or(|e| e.pass) {
        Outcome::Recommended
    } else {
        Outcome::NoPassingRate
    };
    Ok(ManagedFinished {
        dir,
        manifest,
        comparison,
        endurance,
        outcome,
    })
}

/// The first lines of a managed run: what will be created, what it costs, how to clean up.
fn announce(c: &Campaign, d: &DeployConfig, m: &Manifest, opts: &RunOptions) {
    if opts.quiet {
        // Even quiet: the one line that says how to delete what a killed run leaves.
        eprintln!(
            "rightsize: managed campaign {} (if this process is killed: {})",
            m.campaign_id, m.cleanup
        );
        return;
    }
    let source = PriceSource::select(opts.prices.as_ref(), Some(&m.region));
    let price = |ty: &str| match &source {
        PriceSource::Table(t) => t.hourly(ty),
        PriceSource::Missing { .. } => None,
    };
    eprintln!(
        "rightsize: managed campaign {} — model {} on {} instance type(s) in {}, {} instance(s) each",
        m.campaign_id,
        d.model_name,
        d.instance_types.len(),
        m.region,
        d.instance_count
    );
    for t in &m.types {
        let cost = price(&t.instance_type)
            .map(|p| format!("${}/h", usd(p * f64::from(d.instance_count))))
            .unwrap_or_else(|| {
                "price unknown: this type will not be ranked (pass --prices FILE)".into()
            });
        eprintln!(
            "  {} → endpoint {} ({cost})",
            t.instance_type, t.endpoint_name
        );
    }
    eprintln!(
        "WARNING: these are real SageMaker endpoints, billed to your AWS account while they exist, and each one serves load up to [load] max_rps = {}. rightsize deletes each one after measuring it{}; if this process is killed, run `{}`.",
        c.load.max_rps,
        if d.keep {
            " except that keep = true leaves the measured ones deployed"
        } else {
            ""
        },
        m.cleanup
    );
}

/// The per-type campaign: the generated endpoint, the type, the instance count, the resolved
/// region (so the right price table applies), and no `[deploy]`.
fn type_campaign(run: &Run, instance_type: &str, endpoint: &str) -> Result<Campaign> {
    let mut t = run.c.clone();
    t.deploy = None;
    t.target.endpoint_name = Some(endpoint.to_string());
    t.target.instance_type = instance_type.to_string();
    t.target.instance_count = run.d.instance_count;
    t.target.region = Some(run.cp.region().to_string());
    t.validate().map_err(|i| {
        Error::Other(format!(
            "internal: per-type campaign: [{}] {} {}",
            i.section, i.key, i.message
        ))
    })?;
    Ok(t)
}

/// The loop over instance types. Tears down each type as it finishes; anything it leaves
/// (an error, a panic, an interrupt) is torn down by [`run`].
async fn campaign_loop(run: Arc<Run>, shared: Shared) -> Result<()> {
    let n = run.d.instance_types.len();
    let limit = Duration::from_secs_f64(run.d.in_service_timeout_minutes * 60.0);
    let cancel = run.opts.interrupt.clone();
    // The measured type kept deployed for the endurance check (the cheapest so far).
    let mut leader: Option<usize> = None;
    for (i, ty) in run.d.instance_types.iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        let name = resource_name(&run.d.endpoint_prefix, ty, &run.id);
        run.display.line(&format!("[{}/{n}] {ty}", i + 1));
        shared.status(i, TypeStatus::Deploying, "");
        shared.teardown_state(i, "pending");
        let spec = EndpointSpec {
            name: name.clone(),
            model_name: run.d.model_name.clone(),
            variant_name: run.d.variant_name.clone(),
            instance_type: ty.clone(),
            instance_count: run.d.instance_count,
            campaign_id: run.id.clone(),
        };
        let in_service_s =
            match lifecycle::deploy(&run.cp, &run.live, &spec, limit, &cancel, run.display).await {
                Ok(s) => s,
                Err(NotInService::Interrupted) => {
                    shared.status(i, TypeStatus::Interrupted, "interrupted while deploying");
                    break;
                }
                Err(NotInService::Failed(why)) => {
                    eprintln!("  {ty}: deploy failed: {why}; going on with the next type");
                    shared.status(i, TypeStatus::DeployFailed, &why);
                    teardown_type(&run, &shared, i, &name).await?;
                    continue;
                }
                Err(NotInService::Fatal(e)) => {
                    shared.status(i, TypeStatus::Error, &e.to_string());
                    return Err(Error::Other(e.to_string()));
                }
            };
        shared.in_service(i, in_service_s);
        match measure_type(&run, &shared, i, ty, &name, in_service_s).await {
            Ok(true) => {}
            Ok(false) => break, // interrupted: run() tears down
            Err(e) => {
                shared.status(i, TypeStatus::Error, &e.to_string());
                return Err(e);
            }
        }
        if run.d.keep {
            run.live.keep(&name);
            shared.teardown_state(i, "kept");
        }
        if run.d.endurance_minutes.is_some() {
            // Keep the cheapest type so far deployed, to scale it for the endurance check
            // without a redeploy; at most two endpoints exist at once.
            let best = shared.leader(run.opts.prices.as_ref());
            if best == Some(i) {
                if let Some(old) = leader.replace(i)
                    && !run.d.keep
                {
                    let old_name = shared.endpoint_name(old);
                    teardown_type(&run, &shared, old, &old_name).await?;
                }
                continue;
            }
        }
        if !run.d.keep {
            teardown_type(&run, &shared, i, &name).await?;
        }
    }
    if let (Some(minutes), Some(i), false) =
        (run.d.endurance_minutes, leader, cancel.is_cancelled())
    {
        endurance::check(&run, &shared, i, minutes).await?;
    } else if run.d.endurance_minutes.is_some() && leader.is_none() && !cancel.is_cancelled() {
        // Said rather than skipped silently: the user asked for the check.
        eprintln!(
            "endurance: not run — no instance type met the requirements with a known price, so none was chosen to check (a missing price: pass --prices FILE)"
        );
    }
    Ok(())
}

/// Tears down one type's endpoint now; a failure stops the campaign (no more deploys).
async fn teardown_type(run: &Run, shared: &Shared, i: usize, name: &str) -> Result<()> {
    match lifecycle::teardown(&run.cp, &run.live, name, run.display).await {
        Ok(()) => {
            shared.teardown_state(i, "deleted");
            Ok(())
        }
        Err(e) => {
            shared.teardown_state(i, &format!("failed: {e}"));
            Err(Error::Other(format!(
                "could not delete endpoint {name}: {e}; stopping before deploying anything else"
            )))
        }
    }
}

/// Warms up and measures one deployed type; `Ok(false)` when interrupted.
async fn measure_type(
    run: &Run,
    shared: &Shared,
    i: usize,
    ty: &str,
    name: &str,
    in_service_s: f64,
) -> Result<bool> {
    shared.status(i, TypeStatus::Measuring, "");
    let ct = type_campaign(run, ty, name)?;
    let target = Arc::new(AnyTarget::from_campaign(&ct).await?);
    if !warm_up(run, &ct, target.clone()).await {
        shared.status(i, TypeStatus::Interrupted, "interrupted during the warm-up");
        return Ok(false);
    }
    let folder = report::sanitize(ty);
    let mut opts = run.opts.clone();
    opts.out = Some(run.dir.join(&folder));
    opts.resume = None;
    let finished = campaign::run_with(&ct, target, run.payloads.clone(), &opts).await?;
    let mut report = finished.report;
    report.managed = Some(ManagedInfo {
        campaign_id: run.id.clone(),
        model_name: run.d.model_name.clone(),
        endpoint_name: name.to_string(),
        variant_name: run.d.variant_name.clone(),
        instance_type: ty.to_string(),
        instance_count: run.d.instance_count,
        in_service_s: crate::num::round3(in_service_s),
        endurance: None,
    });
    write_type_report(run, &finished.dir, &report)?;
    let interrupted = finished.outcome == Outcome::Interrupted;
    shared.measured(
        i,
        format!("{folder}/{}", report::REPORT_FILE),
        finished.dir,
        report,
        if interrupted {
            TypeStatus::Interrupted
        } else {
            TypeStatus::Measured
        },
    );
    Ok(!interrupted)
}

/// Rewrites a type's report.json with its `managed` block, and its policy files so that they
/// name `[autoscaling] endpoint_name` (or the placeholder), not the temporary endpoint.
fn write_type_report(run: &Run, dir: &Path, report: &Report) -> Result<()> {
    report::write_atomic(&dir.join(report::REPORT_FILE), report.to_json().as_bytes())?;
    let mut unnamed = report.clone();
    unnamed.campaign.target.endpoint_name = None;
    crate::aws::policy::write_for_report(dir, &unnamed, None, Some(&run.d.variant_name))?;
    Ok(())
}

/// Unmeasured traffic after InService (`[load] warmup_seconds` at `start_rps`): a new
/// endpoint's first requests pay for lazy loading, and no step should. `false` if interrupted.
async fn warm_up(run: &Run, c: &Campaign, target: Arc<AnyTarget>) -> bool {
    let seconds = c.load.warmup_seconds;
    if seconds <= 0.0 {
        return true;
    }
    let spec = StepSpec::new(
        c.load.start_rps,
        0.0,
        seconds,
        c.load.max_concurrency as usize,
        Duration::from_millis(c.target.timeout_ms),
    );
    let handle = StepHandle {
        recorder: Arc::new(Recorder::new(4)),
        cancel: run.opts.interrupt.child_token(),
    };
    let (m, end) = load::run_step(target, run.payloads.clone(), &spec, &handle).await;
    if end == load::StepEnd::Cancelled {
        return false;
    }
    let errors: u64 = m.shard.errors.iter().sum();
    run.display.line(&format!(
        "  warm-up: {} request(s) at {} rps over {}, {} error(s) (not measured)",
        m.shard.requests,
        crate::num::fmt_num(c.load.start_rps),
        fmt_elapsed(Duration::from_secs_f64(seconds)),
        errors
    ));
    true
}

/// Compares the measured types and writes compare.json/.md/.html into the campaign folder.
fn write_comparison(run: &Run, shared: &Shared) -> Option<Comparison> {
    let inputs: Vec<Input> = shared.inputs();
    if inputs.is_empty() {
        return None;
    }
    let mut comparison = match compare::compare(&inputs, run.opts.prices.as_ref(), false) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warning: no comparison ({e})");
            return None;
        }
    };
    comparison.notes.extend(shared.notes());
    if let Err(e) = render::write_comparison(&comparison, &inputs, &run.dir) {
        eprintln!("warning: the comparison was not written ({e})");
    }
    Some(comparison)
}

/// What `rightsize run` prints at the end of a managed campaign.
pub fn summary(f: &ManagedFinished) -> String {
    let m = &f.manifest;
    let mut out = format!(
        "\nManaged campaign {} (model {}, region {}):\n",
        m.campaign_id, m.model_name, m.region
    );
    for t in &m.types {
        let status = match t.status {
            TypeStatus::Pending => "not reached",
            TypeStatus::Deploying => "deploying",
            TypeStatus::Measuring => "measuring",
            TypeStatus::Measured => "measured",
            TypeStatus::DeployFailed => "deploy failed",
            TypeStatus::Interrupted => "interrupted",
            TypeStatus::Error => "error",
        };
        out.push_str(&format!(
            "  {:<18} {:<14} endpoint {}: {}{}\n",
            t.instance_type,
            status,
            t.endpoint_name,
            t.teardown,
            if t.detail.is_empty() {
                String::new()
            } else {
                format!(" — {}", t.detail)
            }
        ));
    }
    if let Some(c) = &f.comparison {
        out.push('\n');
        out.push_str(&crate::report::compare_page::render_markdown(c));
    }
    if let Some(e) = &f.endurance {
        out.push_str(&format!(
            "\nEndurance: {} × {} at {} requests/s for {} min: {}{}\n",
            e.instance_type,
            e.instances,
            crate::num::fmt_num(e.offered_rps),
            crate::num::fmt_num(e.minutes),
            if e.pass { "pass" } else { "FAIL" },
            if e.reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", e.reasons.join("; "))
            }
        ));
    }
    let kept: Vec<&str> = m
        .types
        .iter()
        .filter(|t| t.teardown == "kept")
        .map(|t| t.endpoint_name.as_str())
        .collect();
    if !kept.is_empty() {
        out.push_str(&format!(
            "\nKept deployed (keep = true), still billing: {}. Delete them with `{}`.\n",
            kept.join(", "),
            m.cleanup
        ));
    }
    out.push_str(&format!(
        "\nCampaign folder: {} (managed.json, one folder per instance type{})\n",
        f.dir.display(),
        if f.comparison.is_some() {
            ", compare.html, compare.md, compare.json"
        } else {
            ""
        }
    ));
    out
}
