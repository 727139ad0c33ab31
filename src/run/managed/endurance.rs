//! The endurance check, the final proof of a managed campaign: the type the comparison chose,
//! scaled to its recommended `max_instances` with UpdateEndpointWeightsAndCapacities, serves
//! `peak_tps` for `endurance_minutes` as one step judged against the requirements. Its pass or
//! fail (and the step) goes into that type's report.json.

use std::sync::Arc;
use std::time::Duration;

use crate::decide::verdict;
use crate::error::{Error, Result};
use crate::measure::client::AnyTarget;
use crate::measure::load::{self, AbortRule, StepEnd, StepHandle, StepSpec};
use crate::measure::stats::Recorder;
use crate::num::fmt_num;
use crate::prices::{PriceSource, usd};
use crate::report;
use crate::run::campaign::Progress;

use super::lifecycle::{self, NotInService};
use super::record::Endurance;
use super::state::{Measured, Run, Shared};

/// Runs the check on measured type `i` and records it in its report.
pub async fn check(run: &Run, shared: &Shared, i: usize, minutes: f64) -> Result<()> {
    let Some(m) = shared.measured_type(i) else {
        return Ok(());
    };
    let Some(rec) = m.report.recommendation.clone() else {
        return Ok(());
    };
    let c = m.report.campaign.clone();
    let name = shared.endpoint_name(i);
    let instances = u32::try_from(rec.max_instances).unwrap_or(u32::MAX);
    // A stream sized on peak_concurrency alone has its peak rate from Little's law.
    let peak = rec
        .concurrency
        .as_ref()
        .map_or(c.requirements.peak_tps, |k| k.peak_tps);
    let mut e = Endurance {
        instance_type: c.target.instance_type.clone(),
        instances,
        offered_rps: peak,
        minutes,
        pass: false,
        reasons: Vec::new(),
        step: None,
    };
    let cost = match PriceSource::select(run.opts.prices.as_ref(), c.target.region.as_deref()) {
        PriceSource::Table(t) => t
            .hourly(&e.instance_type)
            .map(|p| format!(", about ${}/h", usd(p * f64::from(instances))))
            .unwrap_or_default(),
        PriceSource::Missing { .. } => String::new(),
    };
    run.display.line(&format!(
        "endurance: {} × {instances} (the recommended max_instances{cost}) at {} requests/s for {} min",
        e.instance_type,
        fmt_num(peak),
        fmt_num(minutes)
    ));
    let cancel = run.opts.interrupt.clone();
    if instances != run.d.instance_count {
        if let Err(err) = run.cp.scale(&name, &run.d.variant_name, instances).await {
            if err.is_account_wide() {
                return Err(Error::Other(err.to_string()));
            }
            e.reasons
                .push(format!("could not scale to {instances} instances: {err}"));
            return record(shared, &m, e);
        }
        let limit = Duration::from_secs_f64(run.d.in_service_timeout_minutes * 60.0);
        let what = format!("to scale to {instances} instances");
        match lifecycle::wait_in_service(&run.cp, &name, limit, &cancel, run.display, &what).await {
            Ok(_) => {}
            Err(NotInService::Interrupted) => {
                e.reasons.push("interrupted while scaling".into());
                return record(shared, &m, e);
            }
            Err(NotInService::Failed(why)) => {
                e.reasons.push(format!("could not scale: {why}"));
                return record(shared, &m, e);
            }
            Err(NotInService::Fatal(err)) => return Err(Error::Other(err.to_string())),
        }
    }

    let target = Arc::new(AnyTarget::from_campaign(&c).await?);
    let mut spec = StepSpec::new(
        peak,
        c.load.warmup_seconds,
        minutes * 60.0,
        c.load.max_concurrency as usize,
        Duration::from_millis(c.target.timeout_ms),
    );
    spec.abort = (c.load.abort_error_percent < 100.0)
        .then(|| AbortRule::new(c.load.abort_error_percent, c.load.abort_after_seconds));
    let handle = StepHandle {
        recorder: Arc::new(Recorder::new((c.load.max_concurrency as usize).min(16))),
        cancel: cancel.child_token(),
    };
    let progress = Progress::start(m.report.steps.len() + 1, &spec, &handle, run.opts.quiet);
    let (measurement, end) = load::run_step(target, run.payloads.clone(), &spec, &handle).await;
    progress.finish().await;
    if end == StepEnd::Cancelled {
        e.reasons
            .push("interrupted: the check was stopped (its step is discarded)".into());
        return record(shared, &m, e);
    }
    let abort = measurement.abort;
    let mut step = measurement.into_result();
    let (pass, mut reasons) = verdict::judge(&step, &c.requirements);
    if let Some(a) = abort {
        reasons.insert(
            0,
            format!(
                "aborted after {:.1} s: {:.1}% of requests failed over {:.1} s",
                a.at_s, a.error_percent, a.over_s
            ),
        );
    }
    step.pass = pass && abort.is_none();
    step.reasons = reasons.clone();
    e.pass = step.pass;
    e.reasons = reasons;
    run.display.line(&format!(
        "  endurance: {}",
        crate::run::campaign::step_line(m.report.steps.len() + 1, &step)
    ));
    e.step = Some(step);
    record(shared, &m, e)?;
    if run.d.keep && instances != run.d.instance_count {
        // A kept endpoint goes back to the tested size rather than billing at the peak's.
        if let Err(err) = run
            .cp
            .scale(&name, &run.d.variant_name, run.d.instance_count)
            .await
        {
            eprintln!("warning: {name} stays at {instances} instances: {err}");
        }
    }
    Ok(())
}

/// Writes the check into the type's report.json.
fn record(shared: &Shared, m: &Measured, e: Endurance) -> Result<()> {
    let mut r = m.report.clone();
    if let Some(info) = &mut r.managed {
        info.endurance = Some(e);
    }
    report::write_atomic(&m.dir.join(report::REPORT_FILE), r.to_json().as_bytes())?;
    shared.replace_report(m.index, r);
    Ok(())
}
