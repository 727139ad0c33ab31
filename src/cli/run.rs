//! `rightsize run` and `rightsize demo`: a sizing campaign from a campaign file, or the demo
//! campaign against the built-in simulated endpoint.

use std::path::PathBuf;

use super::args::load_prices;
use super::signals::{Repeat, interrupt_token, interrupt_token_repeat};
use crate::config::Campaign;
use crate::error::{Error, Result};
use crate::report::{render, text};
use crate::run::campaign::{self, RunOptions};
use crate::sim::{FakeConfig, FakeEndpoint};

// `rightsize run` (a plain comment: a doc comment here would replace the command's help text).
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The campaign file (TOML).
    pub campaign: PathBuf,
    /// Report folder (default: reports/<name>-<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress display and no per-step lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Price table (TOML, like configs/prices/us-east-1.toml) instead of the built-in one
    /// for the campaign's region.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Continue an interrupted, killed or capped campaign from its report folder: the steps
    /// in its journal.jsonl are kept and the final report is written into the same folder.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Run each step over this many load generators (shards) acting as one; overrides
    /// `[distributed] shards`.
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Where the shards run: local (child processes) or kubernetes (one Indexed Job per
    /// step); overrides `[distributed] backend`.
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<crate::config::BackendKind>,
    /// With --backend kubernetes: print the first step's Job manifest and exit.
    #[arg(long)]
    pub dry_run: bool,
}

// `rightsize demo` (a plain comment, as above).
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub quiet: bool,
    /// Price table instead of the built-in us-east-1 one.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
}

/// The demo campaign, compiled in so `rightsize demo` works from any folder.
pub const DEMO_CAMPAIGN: &str = include_str!("../../configs/demo.toml");

/// The simulated endpoint the demo runs against: 8 slots × 20 ms mean = 400 rps.
pub fn demo_endpoint() -> FakeConfig {
    FakeConfig {
        slots: 8,
        service_ms: 20.0,
        jitter: 0.25,
        queue_max: 64,
        ..FakeConfig::default()
    }
}

/// Runs a campaign file; the exit code is the campaign's outcome.
pub async fn run(args: RunArgs) -> Result<i32> {
    let RunArgs {
        campaign: path,
        out,
        quiet,
        prices,
        resume,
        shards,
        backend,
        dry_run,
    } = args;
    let mut c = Campaign::load(&path)?;
    if shards.is_some() || backend.is_some() {
        let d = c.distributed.get_or_insert_with(Default::default);
        if let Some(n) = shards {
            d.shards = n;
        }
        if let Some(b) = backend {
            d.backend = b;
        }
        crate::config::distributed::validate(d).map_err(|i| {
            Error::input(format!(
                "{}: [distributed] {} {} (from --shards/--backend)",
                path.display(),
                i.key,
                i.message
            ))
        })?;
    }
    if c.deploy.is_some() && c.distributed.is_some() {
        return Err(Error::input(format!(
            "{}: --shards/--backend and [distributed] cannot be combined with [deploy] yet: size each instance type with a managed campaign on one machine, or drop [deploy] and name the endpoint",
            path.display()
        )));
    }
    if dry_run {
        return crate::run::distributed::kubernetes::dry_run(&c, &path).map(|m| {
            println!("{m}");
            0
        });
    }
    let mut opts = RunOptions::new(out, quiet);
    opts.prices = load_prices(prices.as_deref())?;
    opts.resume = resume;
    if c.deploy.is_some() {
        opts.interrupt = interrupt_token_repeat(
            "interrupted: stopping the current step, writing what was measured, then deleting the endpoints this campaign created".into(),
            Repeat::Ignore(format!(
                "rightsize: still deleting the endpoints this campaign created; Ctrl-C is ignored until that is done so that nothing is left deployed (to abandon it: kill -9 {}, then run the `rightsize cleanup --campaign` command printed at the start)",
                std::process::id()
            )),
        );
        let finished = crate::run::managed::run(&c, &path, &opts).await?;
        print!("{}", crate::run::managed::summary(&finished));
        return Ok(finished.exit_code());
    }
    opts.interrupt = match c.distributed.as_ref().map(|d| d.backend) {
        Some(crate::config::BackendKind::Kubernetes) => interrupt_token_repeat(
            "interrupted: stopping the current step, deleting its Job, writing what was measured".into(),
            Repeat::Ignore("rightsize: still deleting this step's Job; Ctrl-C is ignored until that is done so that no shard is left running".into()),
        ),
        _ => interrupt_token(),
    };
    if let Some(d) = &c.distributed {
        let program = std::env::current_exe().map_err(|e| {
            Error::Other(format!(
                "cannot find the rightsize program to start shards: {e}"
            ))
        })?;
        let backend = crate::run::distributed::backend_for(&c, d, &path, program)?;
        opts.distributed = Some(std::sync::Arc::new(
            crate::run::distributed::Coordinator::new(backend, d),
        ));
    }
    if !quiet {
        eprintln!(
            "rightsize: campaign {:?} against {}",
            c.name,
            c.target_label()
        );
    }
    let finished = campaign::run(&c, &path, &opts).await?;
    print!("{}", text::summary(&finished.report));
    println!(
        "Report: {}",
        finished.dir.join(crate::report::REPORT_FILE).display()
    );
    print_pages(&finished.dir);
    Ok(finished.outcome.exit_code())
}

/// Runs the demo campaign against a simulated endpoint started for it.
pub async fn demo(args: DemoArgs) -> Result<i32> {
    let DemoArgs { out, quiet, prices } = args;
    let prices = load_prices(prices.as_deref())?;
    let fake_cfg = demo_endpoint();
    let endpoint = FakeEndpoint::start_local(fake_cfg.clone()).await?;
    let mut c = Campaign::parse(
        DEMO_CAMPAIGN,
        std::path::Path::new("configs/demo.toml"),
        std::path::Path::new("."),
    )?;
    c.target.url = Some(endpoint.invocations_url());
    if !quiet {
        eprintln!(
            "rightsize demo: simulated endpoint at {} ({} slots × {} ms mean = {:.0} rps capacity)",
            endpoint.invocations_url(),
            fake_cfg.slots,
            fake_cfg.service_ms,
            fake_cfg.capacity_rps()
        );
    }
    let mut opts = RunOptions::new(out, quiet);
    opts.interrupt = interrupt_token();
    opts.prices = prices;
    let finished = campaign::run(&c, std::path::Path::new("configs/demo.toml"), &opts).await?;
    endpoint.stop();
    print!("{}", text::summary(&finished.report));
    println!(
        "Report: {}",
        finished.dir.join(crate::report::REPORT_FILE).display()
    );
    print_pages(&finished.dir);
    Ok(finished.outcome.exit_code())
}

/// Names the pages written beside report.json, when they were.
fn print_pages(dir: &std::path::Path) {
    let html = dir.join(render::HTML_FILE);
    if html.exists() {
        println!(
            "Pages:  {} (open in a browser), {}, {}",
            html.display(),
            dir.join(render::SUMMARY_FILE).display(),
            dir.join(render::STEPS_FILE).display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_campaign_parses() {
        let c = Campaign::parse(
            DEMO_CAMPAIGN,
            std::path::Path::new("demo.toml"),
            std::path::Path::new("."),
        )
        .unwrap();
        assert_eq!(c.name, "demo");
    }
}
