//! `rightsize shard` (one load generator's share of one step, printed as one JSON line) and
//! `rightsize merge` (shard result files made by hand, merged exactly into one step).

use std::path::{Path, PathBuf};

use clap::Args;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;

use crate::config::Campaign;
use crate::decide::verdict;
use crate::error::{Error, Result};
use crate::measure::stats::ShardStepResult;
use crate::measure::wire;
use crate::run::distributed::{self, manifest::CAMPAIGN_ENV, shard::ShardSpec};

#[derive(Debug, Args)]
pub struct ShardArgs {
    /// The campaign file; without it, the campaign text is read from the RIGHTSIZE_CAMPAIGN
    /// environment variable (how the kubernetes backend passes it).
    pub campaign: Option<PathBuf>,
    /// The whole step's offered rate, requests/s (rate campaigns).
    #[arg(
        long,
        conflicts_with = "concurrency",
        required_unless_present = "concurrency"
    )]
    pub rate: Option<f64>,
    /// The whole step's concurrency (`[load] mode = "concurrency"` campaigns).
    #[arg(long)]
    pub concurrency: Option<f64>,
    /// This shard's index, from 0 (default: the JOB_COMPLETION_INDEX environment variable).
    #[arg(long)]
    pub index: Option<u32>,
    /// How many shards the step is split over.
    #[arg(long)]
    pub shards: u32,
    /// When the step starts on every shard, RFC 3339 (e.g. 2026-12-03T12:00:00.000Z).
    #[arg(long, value_name = "INSTANT")]
    pub start_at: String,
}

/// Runs one shard and prints its result line.
pub async fn shard(a: &ShardArgs, interrupt: CancellationToken) -> Result<i32> {
    let (c, file) = match &a.campaign {
        Some(p) => (Campaign::load(p)?, p.clone()),
        None => {
            let text = std::env::var(CAMPAIGN_ENV).map_err(|_| {
                Error::input(format!(
                    "no campaign: give the campaign file, or set {CAMPAIGN_ENV} to its text"
                ))
            })?;
            let file = PathBuf::from(format!("${CAMPAIGN_ENV}"));
            (Campaign::parse(&text, &file, Path::new("."))?, file)
        }
    };
    let index = match a.index {
        Some(i) => i,
        None => std::env::var("JOB_COMPLETION_INDEX")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| {
                Error::input("no shard index: give --index K, or set JOB_COMPLETION_INDEX")
            })?,
    };
    let start_at = OffsetDateTime::parse(&a.start_at, &Rfc3339).map_err(|e| {
        Error::input(format!(
            "--start-at {:?} is not an RFC 3339 instant ({e}); write for example 2026-12-03T12:00:00Z",
            a.start_at
        ))
    })?;
    let spec = ShardSpec {
        index,
        shards: a.shards,
        load: a.rate.or(a.concurrency).unwrap_or(0.0),
        start_at,
    };
    distributed::shard::check(&c, &spec, a.concurrency.is_some())?;
    let r = distributed::shard::run(&c, &file, &spec, &interrupt).await?;
    println!("{}", r.to_line());
    Ok(0)
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard result files: each holds lines `rightsize shard` printed.
    #[arg(required = true, num_args = 1..)]
    pub results: Vec<PathBuf>,
    /// Judge the merged step against this campaign's requirements.
    #[arg(long, value_name = "FILE")]
    pub campaign: Option<PathBuf>,
}

/// Merges shard results into one step and prints it (a `steps[]` element) as JSON.
pub fn merge(a: &MergeArgs) -> Result<i32> {
    let results = distributed::read_results(&a.results)?;
    let m = wire::merge(&results).map_err(|e| {
        Error::input(format!(
            "{}: {e}; give the results of one step's shards",
            a.results
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let mut shards = Vec::new();
    for r in &results {
        let own = r
            .own_measurement()
            .map_err(|e| Error::input(format!("shard {}: {e}", r.shard)))?
            .into_result();
        shards.push(ShardStepResult::of(r.shard, r.start_late_ms, &own));
    }
    let mut step = m.into_result();
    step.shards = shards;
    let mut code = 0;
    if let Some(p) = &a.campaign {
        let c = Campaign::load(p)?;
        let (v, reasons) = verdict::decide(&step, &c.requirements, None);
        step.pass = v == crate::measure::stats::Verdict::Pass;
        step.verdict = Some(v);
        step.reasons = reasons;
        if !step.pass {
            code = 3;
        }
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&step).map_err(|e| Error::Other(e.to_string()))?
    );
    eprintln!(
        "merged {} shard result(s): {} requests, achieved {:.1} rps, p99 {:.1} ms, errors {:.2}%",
        results.len(),
        step.requests,
        step.achieved_rps,
        step.latency_ms.p99,
        step.error_percent
    );
    Ok(code)
}
