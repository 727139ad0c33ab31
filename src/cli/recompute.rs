//! `rightsize recommend`: recompute a saved report's recommendation with other requirements
//! (peak, ramp, floor, safety factor, provisioning time) without sending any load, and write the
//! result as a new report folder with its policy files. The original report is never touched.

use std::path::{Path, PathBuf};

use crate::aws::policy::{self, Names};
use crate::config::Issue;
use crate::error::{Error, Result};
use crate::report::{self, Report};

/// The command's arguments.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--prices`: replaces the built-in price table of the campaign's region.
    pub prices: Option<crate::prices::PriceTable>,
    pub peak_tps: Option<f64>,
    /// Streams: requests in flight at the peak (replaces `peak_tps` as the peak to size for).
    pub peak_concurrency: Option<f64>,
    /// Streams: size and scale the copies of this inference component.
    pub inference_component: Option<String>,
    pub ramp_minutes: Option<f64>,
    pub min_tps: Option<f64>,
    pub safety_factor: Option<f64>,
    pub provisioning_minutes: Option<f64>,
    pub max_instances: Option<u64>,
    pub schedule: Option<String>,
    pub endpoint: Option<String>,
    pub variant: Option<String>,
}

impl Overrides {
    /// The flags given, as the user typed them, for the report's explanation.
    pub fn describe(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut num = |flag: &str, x: Option<f64>| {
            if let Some(x) = x {
                v.push(format!("{flag} {}", crate::num::fmt_num(x)));
            }
        };
        num("--peak-tps", self.peak_tps);
        num("--peak-concurrency", self.peak_concurrency);
        num("--ramp-minutes", self.ramp_minutes);
        num("--min-tps", self.min_tps);
        num("--safety-factor", self.safety_factor);
        num("--provisioning-minutes", self.provisioning_minutes);
        num("--max-instances", self.max_instances.map(|n| n as f64));
        if let Some(s) = &self.schedule {
            v.push(format!("--schedule {s:?}"));
        }
        if let Some(s) = &self.inference_component {
            v.push(format!("--inference-component {s}"));
        }
        v
    }
}

/// A recomputed report and where it went.
#[derive(Debug)]
pub struct Recomputed {
    pub report: Report,
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub names: Option<Names>,
}

/// Applies the overrides to a loaded report and recomputes its recommendation (pure).
pub fn recompute(original: &Report, source: &Path, o: &Overrides) -> Result<Report> {
    let mut c = original.campaign.clone();
    let stream = c.target.stream.is_some();
    for (flag, given) in [
        ("--peak-concurrency", o.peak_concurrency.is_some()),
        ("--inference-component", o.inference_component.is_some()),
    ] {
        if given && !stream {
            return Err(Error::input(format!(
                "{flag}: applies to a streamed campaign's report, and {} is not one; use --peak-tps",
                source.display()
            )));
        }
    }
    if o.peak_tps.is_some() && o.peak_concurrency.is_some() {
        return Err(Error::input(
            "--peak-tps and --peak-concurrency: give one peak to size for, not both".to_string(),
        ));
    }
    if let Some(x) = o.peak_tps {
        c.requirements.peak_tps = x;
        // The peak asked for is a rate: a peak concurrency from the campaign no longer applies.
        c.requirements.peak_concurrency = None;
    }
    if let Some(x) = o.peak_concurrency {
        c.requirements.peak_concurrency = Some(x);
    }
    if let Some(x) = &o.inference_component {
        c.autoscaling.inference_component = Some(x.clone());
    }
    if let Some(x) = o.ramp_minutes {
        c.requirements.ramp_minutes = Some(x);
    }
    if let Some(x) = o.min_tps {
        c.requirements.min_tps = Some(x);
    }
    if let Some(x) = o.safety_factor {
        c.recommend.safety_factor = x;
    }
    if let Some(x) = o.provisioning_minutes {
        c.autoscaling.provisioning_minutes = x;
    }
    if let Some(x) = o.max_instances {
        c.autoscaling.max_instances = Some(x);
    }
    if let Some(x) = &o.schedule {
        c.autoscaling.schedule = Some(x.clone());
    }
    c.validate().map_err(|i| flag_error(&i, source))?;

    let prices = crate::prices::PriceSource::select(o.prices.as_ref(), c.target.region.as_deref());
    let mut recommendation = crate::decide::concurrency::recommend_for(&original.steps, &c)
        .map(|r| crate::prices::attach_cost(r, &prices));
    if let Some(r) = &mut recommendation {
        let flags = o.describe();
        r.explanation.push(format!(
            "recomputed by `rightsize recommend` from {}{}",
            source.display(),
            if flags.is_empty() {
                String::new()
            } else {
                format!(" with {}", flags.join(" "))
            }
        ));
    }
    Ok(Report {
        campaign: c,
        recommendation,
        max_concurrency_per_instance: original.max_concurrency_per_instance,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        ..original.clone()
    })
}

/// Names the flag (or the report's key) behind a validation problem.
fn flag_error(i: &Issue, source: &Path) -> Error {
    let flag = match (i.section, i.key) {
        ("requirements", "peak_tps") => Some("--peak-tps"),
        ("requirements", "peak_concurrency") => Some("--peak-concurrency"),
        ("autoscaling", "inference_component") => Some("--inference-component"),
        ("requirements", "ramp_minutes") => Some("--ramp-minutes"),
        ("requirements", "min_tps") => Some("--min-tps"),
        ("recommend", "safety_factor") => Some("--safety-factor"),
        ("autoscaling", "provisioning_minutes") => Some("--provisioning-minutes"),
        ("autoscaling", "max_instances") => Some("--max-instances"),
        ("autoscaling", "schedule") => Some("--schedule"),
        _ => None,
    };
    let key = format!("[{}] {}", i.section, i.key);
    match flag {
        Some(f) => Error::input(format!(
            "{f}: {key} {} (recomputing {})",
            i.message,
            source.display()
        )),
        None => Error::input(format!(
            "{}: campaign {key} {}",
            source.display(),
            i.message
        )),
    }
}

/// The whole command: load, recompute, write `report.json` and the policy files into `out`
/// (default: a new `recommend-<UTC timestamp>` folder inside the original report's folder).
pub fn run(source: &Path, out: Option<&Path>, o: &Overrides) -> Result<Recomputed> {
    let original = Report::load(source)?;
    let report = recompute(&original, source, o)?;
    // Bad names are refused before anything is written.
    Names::resolve(
        &report.campaign,
        o.endpoint.as_deref(),
        o.variant.as_deref(),
    )?;
    let parent = source
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = report::create_report_dir(out, parent, "recommend", &report::now_stamp())?;
    report::write_atomic(&dir.join(report::REPORT_FILE), report.to_json().as_bytes())?;
    report::render::write_outputs(&report, &dir)?;
    let (files, names) =
        policy::write_for_report(&dir, &report, o.endpoint.as_deref(), o.variant.as_deref())?;
    Ok(Recomputed {
        report,
        dir,
        files,
        names,
    })
}

/// What the command prints: the summary, the ramp's events, the files written.
pub fn summary(done: &Recomputed) -> String {
    use std::fmt::Write;
    let mut out = report::text::summary(&done.report);
    if let Some(a) = done
        .report
        .recommendation
        .as_ref()
        .and_then(|r| r.autoscaling.as_ref())
    {
        let t = &a.timeline;
        let _ = writeln!(
            out,
            "\nRamp timeline with MinCapacity {} (MaxCapacity {}): worst load per instance {} rps at minute {} against MAX_RPS {} — {}",
            t.min_capacity,
            t.max_capacity,
            t.worst_load_per_instance_rps,
            crate::num::fmt_num(t.worst_at_min),
            t.max_rps_per_instance,
            if t.holds { "holds" } else { "DOES NOT HOLD" }
        );
        for e in &t.events {
            let _ = writeln!(out, "  {:>7.2} min  {}", e.t_min, e.message);
        }
    }
    let _ = writeln!(
        out,
        "\nReport: {}",
        done.dir.join(report::REPORT_FILE).display()
    );
    for f in &done.files {
        let _ = writeln!(out, "Policy file: {}", f.display());
    }
    let rec = done.report.recommendation.as_ref();
    let per_copy = rec.is_some_and(|r| {
        r.concurrency
            .as_ref()
            .is_some_and(|k| k.unit == crate::decide::concurrency::Unit::Copy)
    });
    if let Some(names) = done.names.as_ref() {
        let note = match rec {
            Some(r) if per_copy => policy::component_placeholder_note(r, names),
            _ => policy::placeholder_note(names),
        };
        if let Some(note) = note {
            let _ = writeln!(out, "{note}");
        }
    }
    out
}
