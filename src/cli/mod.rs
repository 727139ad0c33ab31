//! The command line: clap definitions and the dispatch of each command to the library. The
//! commands with logic of their own have a file each (`probe`, `recompute`); `args` holds the
//! parsers they share. Everything here sits on top: no module below imports the command line.

pub mod args;
pub mod completions;
pub mod probe;
pub mod recompute;
pub mod shard;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::Campaign;
use crate::error::{Error, Result};
use crate::prices::PriceTable;
use crate::report::{Report, compare, compare_page, render, text};
use crate::run::campaign::{self, RunOptions};
use crate::sim::{FakeConfig, FakeEndpoint};
use probe::ProbeArgs;

/// `rightsize --version`: the package version and the commit it was built from (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RIGHTSIZE_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "rightsize",
    version = VERSION,
    about = "Size an ML inference endpoint: find the peak rate one instance serves within your latency and error limits, and the auto-scaling settings that follow."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a sizing campaign described by a campaign file.
    Run {
        /// The campaign file (TOML).
        campaign: PathBuf,
        /// Report folder (default: reports/<name>-<UTC timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress display and no per-step lines on stderr.
        #[arg(long)]
        quiet: bool,
        /// Price table (TOML, like configs/prices/us-east-1.toml) instead of the built-in one
        /// for the campaign's region.
        #[arg(long, value_name = "FILE")]
        prices: Option<PathBuf>,
        /// Continue an interrupted, killed or capped campaign from its report folder: the steps
        /// in its journal.jsonl are kept and the final report is written into the same folder.
        #[arg(long, value_name = "DIR", conflicts_with = "out")]
        resume: Option<PathBuf>,
        /// Run each step over this many load generators (shards) acting as one; overrides
        /// `[distributed] shards`.
        #[arg(long, value_name = "N")]
        shards: Option<u32>,
        /// Where the shards run: local (child processes) or kubernetes (one Indexed Job per
        /// step); overrides `[distributed] backend`.
        #[arg(long, value_name = "BACKEND")]
        backend: Option<crate::config::BackendKind>,
        /// With --backend kubernetes: print the first step's Job manifest and exit.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check that saved reports load, as `report`, `recommend` and `compare` read them.
    #[command(hide = true)]
    CheckReport {
        #[arg(required = true)]
        reports: Vec<PathBuf>,
    },
    /// Run a short campaign against the built-in simulated endpoint (no AWS account needed).
    Demo {
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        quiet: bool,
        /// Price table instead of the built-in us-east-1 one.
        #[arg(long, value_name = "FILE")]
        prices: Option<PathBuf>,
    },
    /// Render report.html, summary.md and steps.csv again from a saved report.json.
    Report {
        /// The saved report.
        report: PathBuf,
        /// Where to write the files (default: the report's own folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare reports across instance types: rank them by the hourly cost of serving the
    /// peak, and write compare.html, compare.json and compare.md.
    Compare {
        /// The saved reports (report.json files).
        #[arg(required = true, num_args = 1..)]
        reports: Vec<PathBuf>,
        /// Price table used for every report instead of the built-in table of its region.
        #[arg(long, value_name = "FILE")]
        prices: Option<PathBuf>,
        /// Output folder (default: reports/compare-<UTC timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compare reports sized against different requirements, judging every report's steps
        /// against the first report's requirements.
        #[arg(long)]
        force: bool,
    },
    /// Serve the built-in simulated endpoint until interrupted.
    FakeEndpoint {
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Requests served at once.
        #[arg(long, default_value_t = 8)]
        slots: usize,
        /// Mean service time per request, milliseconds.
        #[arg(long, default_value_t = 20.0)]
        service_ms: f64,
        /// Spread of the service time (lognormal sigma, same mean); 0 = fixed.
        #[arg(long, default_value_t = 0.0)]
        jitter: f64,
        /// Requests that may wait for a slot; beyond that, 503 at once.
        #[arg(long, default_value_t = 128)]
        queue_max: usize,
        /// Share of requests that fail with a model error (0..1).
        #[arg(long, default_value_t = 0.0)]
        error_rate: f64,
        /// Share of requests that are throttled (0..1).
        #[arg(long, default_value_t = 0.0)]
        throttle_rate: f64,
        /// Pause the whole server every this many milliseconds...
        #[arg(long)]
        stall_every_ms: Option<u64>,
        /// ...for this many milliseconds.
        #[arg(long, default_value_t = 0)]
        stall_ms: u64,
        /// Pause the whole server once, this many milliseconds after it starts, for --stall-ms
        /// (a one-off disturbance).
        #[arg(long)]
        stall_once_at_ms: Option<u64>,
        /// Variant name reported on the SageMaker runtime path (several: A,B split round-robin).
        #[arg(long, default_value = "AllTraffic")]
        variant: String,
        /// Share of requests refused at once with 503 ServiceUnavailable (0..1).
        #[arg(long, default_value_t = 0.0)]
        unavailable_rate: f64,
        /// Share answered at once with 429 ModelNotReadyException (0..1).
        #[arg(long, default_value_t = 0.0)]
        not_ready_rate: f64,
        /// Share answered at once with 500 InternalFailure (0..1).
        #[arg(long, default_value_t = 0.0)]
        internal_failure_rate: f64,
        /// Share answered at once with 400 ValidationError (0..1).
        #[arg(long, default_value_t = 0.0)]
        validation_rate: f64,
        /// Share of requests whose answer is held back --slow-ms (0..1), to exercise timeouts.
        #[arg(long, default_value_t = 0.0)]
        slow_rate: f64,
        #[arg(long, default_value_t = 0)]
        slow_ms: u64,
        /// Runtime-path capacity for endpoints whose name contains NAME_PART, as
        /// NAME_PART=SLOTSxMS (e.g. c5-xlarge=8x20); repeat for several.
        #[arg(long, value_name = "NAME_PART=SLOTSxMS", value_parser = endpoint_profile_arg)]
        endpoint_profile: Vec<crate::sim::EndpointProfile>,
        #[command(flatten)]
        llm: LlmArgs,
    },
    /// Recompute a saved report's recommendation (no load is sent) and write the policy files.
    Recommend {
        /// The report to recompute (report.json of an earlier run); it is never modified.
        report: PathBuf,
        /// Production peak, requests/s.
        #[arg(long)]
        peak_tps: Option<f64>,
        /// Streams: requests in flight at the peak, instead of --peak-tps.
        #[arg(long)]
        peak_concurrency: Option<f64>,
        /// Streams: size and scale the copies of this inference component (per copy).
        #[arg(long)]
        inference_component: Option<String>,
        /// How fast traffic rises from --min-tps to the peak; simulates auto-scaling.
        #[arg(long)]
        ramp_minutes: Option<f64>,
        /// Traffic floor, requests/s.
        #[arg(long)]
        min_tps: Option<f64>,
        #[arg(long)]
        safety_factor: Option<f64>,
        /// From the scale-out decision until a new instance serves.
        #[arg(long)]
        provisioning_minutes: Option<f64>,
        /// MaxCapacity to register (default: what the peak needs).
        #[arg(long)]
        max_instances: Option<u64>,
        /// Cron expression at which a scheduled action raises MinCapacity for the ramp,
        /// e.g. "cron(0 7 ? * MON-FRI *)".
        #[arg(long)]
        schedule: Option<String>,
        /// Endpoint named in the policy files.
        #[arg(long)]
        endpoint: Option<String>,
        /// Variant named in the policy files (default AllTraffic).
        #[arg(long)]
        variant: Option<String>,
        /// Output folder (default: a new recommend-<UTC timestamp> folder beside the report).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Price table (TOML) replacing the built-in one of the campaign's region.
        #[arg(long)]
        prices: Option<PathBuf>,
    },
    /// Register a report's auto-scaling settings on a SageMaker endpoint variant, or on an
    /// inference component for a per-copy stream recommendation (a dry run that prints the
    /// calls unless --yes).
    Apply {
        report: PathBuf,
        /// The SageMaker endpoint to scale (required unless the recommendation is per copy).
        #[arg(long)]
        endpoint: Option<String>,
        /// The inference component whose copies a per-copy recommendation scales (default: the
        /// campaign's [autoscaling] or [target] inference_component).
        #[arg(long)]
        inference_component: Option<String>,
        /// Its production variant (default: the campaign's, else AllTraffic).
        #[arg(long)]
        variant: Option<String>,
        /// Send the calls; without it nothing is sent.
        #[arg(long)]
        yes: bool,
        /// AWS region (default: the AWS config chain).
        #[arg(long)]
        region: Option<String>,
        /// Send the calls to this URL instead of AWS (e.g. a local emulator).
        #[arg(long)]
        endpoint_url: Option<String>,
    },
    /// Delete the SageMaker endpoints and endpoint configurations a managed campaign created
    /// (those tagged rightsize:campaign=ID), e.g. after the run was killed. Untagged resources
    /// are never touched.
    ///
    /// --campaign ID deletes one campaign's; --all-mine those of every rightsize campaign in
    /// the region (one running now included). --dry-run lists without deleting.
    Cleanup {
        /// The campaign id `rightsize run` printed (also in the campaign folder's managed.json).
        #[arg(
            long,
            required_unless_present = "all_mine",
            conflicts_with = "all_mine"
        )]
        campaign: Option<String>,
        /// Every endpoint and endpoint configuration carrying a rightsize:campaign tag.
        #[arg(long)]
        all_mine: bool,
        /// List what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// AWS region (default: the AWS config chain).
        #[arg(long)]
        region: Option<String>,
        /// Send the calls to this URL instead of AWS (e.g. a local emulator).
        #[arg(long)]
        endpoint_url: Option<String>,
    },
    /// Send one constant-rate step to an endpoint and summarise what came back.
    ///
    /// Exit code 0 when requests succeeded (within --p99-ms / --max-error-percent when given,
    /// and at the offered rate); 3 when they succeeded but missed a limit or the rate; 1 when no
    /// request succeeded; 2 on bad input; 130 when interrupted.
    Probe(ProbeArgs),
    /// Run one load generator's share of one step from a common start instant and print what
    /// it measured as one JSON line (histograms included): what `run --shards` starts on each
    /// shard, and what can be run by hand on several machines (then `rightsize merge`).
    Shard(shard::ShardArgs),
    /// Merge shard result files (lines printed by `rightsize shard`) exactly into one step and
    /// print it as JSON: histograms are added bucket for bucket.
    Merge(shard::MergeArgs),
    /// Print a shell completion script on stdout.
    ///
    /// For example `source <(rightsize completions bash)` in ~/.bashrc, or
    /// `rightsize completions zsh > ~/.zfunc/_rightsize`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout, or write one page per command into a folder.
    ///
    /// For example `rightsize man | man -l -`, or `rightsize man --out /usr/local/share/man/man1`.
    Man {
        /// Write rightsize.1 and rightsize-COMMAND.1 for every command into DIR instead.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// `fake-endpoint --llm`: the simulated streaming LLM (OpenAI-compatible SSE).
#[derive(Debug, clap::Args)]
pub struct LlmArgs {
    /// Serve a simulated LLM instead: OpenAI-compatible streams, --slots sequences decoded
    /// together, a queue of --queue-max in front.
    #[arg(long)]
    pub llm: bool,
    /// --llm: time from getting a slot to the first token, milliseconds.
    #[arg(long, default_value_t = 50.0)]
    pub prefill_ms: f64,
    /// --llm: time per token with one sequence decoding, milliseconds.
    #[arg(long, default_value_t = 10.0)]
    pub itl_ms: f64,
    /// --llm: share each further active sequence adds to the time per token.
    #[arg(long, default_value_t = 0.25)]
    pub itl_growth: f64,
    /// --llm: tokens per answer when the request sets no max_tokens.
    #[arg(long, default_value_t = 32)]
    pub tokens: u32,
    /// --llm: share of streams whose connection is cut mid-stream (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub cut_rate: f64,
    /// --llm: share of streams that end without `data: [DONE]` (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub truncate_rate: f64,
    /// --llm: share of streams that send an error object mid-stream, with HTTP 200 (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub error_event_rate: f64,
}

fn endpoint_profile_arg(s: &str) -> Result<crate::sim::EndpointProfile> {
    crate::sim::EndpointProfile::parse(s)
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

/// Parses arguments, runs the command and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Cancels the returned token on the first Ctrl-C or SIGTERM; exits at once on the second.
pub fn interrupt_token() -> CancellationToken {
    interrupt_token_with(
        "interrupted: finishing up and writing a partial report (press Ctrl-C again to exit at once)",
    )
}

/// Like [`interrupt_token`], saying `message` on the first signal.
pub fn interrupt_token_with(message: &'static str) -> CancellationToken {
    interrupt_token_repeat(message.to_string(), Repeat::Exit)
}

/// What a signal after the first does.
#[derive(Debug, Clone)]
pub enum Repeat {
    /// Exit at once with 130.
    Exit,
    /// Say this and carry on: what the first signal started must finish (a managed campaign's
    /// teardown: exiting would leave endpoints billing).
    Ignore(String),
}

/// Cancels the returned token on the first Ctrl-C or SIGTERM, saying `message`; later signals
/// do what `repeat` says.
pub fn interrupt_token_repeat(message: String, repeat: Repeat) -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        for n in 0.. {
            if wait_for_signal().await.is_err() {
                return;
            }
            if n == 0 {
                eprintln!("\n{message}");
                t.cancel();
            } else {
                match &repeat {
                    Repeat::Exit => {
                        eprintln!("interrupted again: exiting now");
                        std::process::exit(130);
                    }
                    Repeat::Ignore(why) => eprintln!("\n{why}"),
                }
            }
        }
    });
    token
}

async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

async fn dispatch(cmd: Command) -> Result<i32> {
    match cmd {
        Command::Run {
            campaign: path,
            out,
            quiet,
            prices,
            resume,
            shards,
            backend,
            dry_run,
        } => {
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
        Command::CheckReport { reports } => {
            for path in reports {
                let r = crate::report::Report::load(&path)?;
                println!("{}: ok, {} step(s)", path.display(), r.steps.len());
            }
            Ok(0)
        }
        Command::Demo { out, quiet, prices } => {
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
            let finished =
                campaign::run(&c, std::path::Path::new("configs/demo.toml"), &opts).await?;
            endpoint.stop();
            print!("{}", text::summary(&finished.report));
            println!(
                "Report: {}",
                finished.dir.join(crate::report::REPORT_FILE).display()
            );
            print_pages(&finished.dir);
            Ok(finished.outcome.exit_code())
        }
        Command::Report { report, out } => {
            let r = Report::load(&report)?;
            let dir = match out {
                Some(d) => d,
                None => report
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."))
                    .to_path_buf(),
            };
            for f in render::write_outputs(&r, &dir)? {
                println!("Wrote {}", f.display());
            }
            Ok(0)
        }
        Command::Compare {
            reports,
            prices,
            out,
            force,
        } => {
            let prices = load_prices(prices.as_deref())?;
            let inputs = render::load_inputs(&reports)?;
            let comparison = compare::compare(&inputs, prices.as_ref(), force)?;
            let dir = match out {
                Some(d) => d,
                None => crate::report::create_report_dir(
                    None,
                    std::path::Path::new("reports"),
                    "compare",
                    &crate::report::now_stamp(),
                )?,
            };
            let files = render::write_comparison(&comparison, &inputs, &dir)?;
            print!("{}", compare_page::render_markdown(&comparison));
            for f in files {
                println!("Wrote {}", f.display());
            }
            // Like a campaign: 3 when nothing met the requirements.
            Ok(if comparison.rows.iter().any(|r| r.meets_requirements) {
                0
            } else {
                3
            })
        }
        Command::FakeEndpoint {
            host,
            port,
            slots,
            service_ms,
            jitter,
            queue_max,
            error_rate,
            throttle_rate,
            stall_every_ms,
            stall_ms,
            stall_once_at_ms,
            variant,
            unavailable_rate,
            not_ready_rate,
            internal_failure_rate,
            validation_rate,
            slow_rate,
            slow_ms,
            endpoint_profile,
            llm,
        } => {
            if llm.llm {
                let cfg = crate::sim::llm::LlmConfig {
                    slots,
                    queue_max,
                    prefill_ms: llm.prefill_ms,
                    itl_ms: llm.itl_ms,
                    itl_growth: llm.itl_growth,
                    tokens: llm.tokens,
                    cut_rate: llm.cut_rate,
                    truncate_rate: llm.truncate_rate,
                    error_event_rate: llm.error_event_rate,
                    seed: 1,
                };
                let endpoint =
                    crate::sim::llm::LlmEndpoint::start(cfg.clone(), SocketAddr::new(host, port))
                        .await?;
                eprintln!(
                    "simulated LLM on {} ({} slots, prefill {} ms, ITL {} ms + {}% per further active sequence); POST /v1/chat/completions or /v1/completions with stream; Ctrl-C stops it",
                    endpoint.chat_url(),
                    cfg.slots,
                    cfg.prefill_ms,
                    cfg.itl_ms,
                    cfg.itl_growth * 100.0
                );
                interrupt_token_with("stopping").cancelled().await;
                return Ok(0);
            }
            let cfg = FakeConfig {
                slots,
                service_ms,
                jitter,
                queue_max,
                error_rate,
                throttle_rate,
                stall_every: stall_every_ms.map(Duration::from_millis),
                stall_for: Duration::from_millis(stall_ms),
                stall_once_at: stall_once_at_ms.map(Duration::from_millis),
                variant,
                seed: 1,
                unavailable_rate,
                not_ready_rate,
                internal_failure_rate,
                validation_rate,
                slow_rate,
                slow_for: Duration::from_millis(slow_ms),
                endpoint_profiles: endpoint_profile,
            };
            let endpoint = FakeEndpoint::start(cfg.clone(), SocketAddr::new(host, port)).await?;
            eprintln!(
                "simulated endpoint on http://{} ({} slots × {} ms = {:.0} rps capacity); POST /invocations or /endpoints/NAME/invocations; Ctrl-C stops it",
                endpoint.addr(),
                cfg.slots,
                cfg.service_ms,
                cfg.capacity_rps()
            );
            let stop = interrupt_token_with(
                "stopping: finishing the requests in flight (press Ctrl-C again to exit at once)",
            );
            stop.cancelled().await;
            endpoint.drain().await;
            Ok(0)
        }
        Command::Recommend {
            report,
            peak_tps,
            peak_concurrency,
            inference_component,
            ramp_minutes,
            min_tps,
            safety_factor,
            provisioning_minutes,
            max_instances,
            schedule,
            endpoint,
            variant,
            out,
            prices,
        } => {
            let overrides = crate::cli::recompute::Overrides {
                prices: load_prices(prices.as_deref())?,
                peak_tps,
                peak_concurrency,
                inference_component,
                ramp_minutes,
                min_tps,
                safety_factor,
                provisioning_minutes,
                max_instances,
                schedule,
                endpoint,
                variant,
            };
            let done = crate::cli::recompute::run(&report, out.as_deref(), &overrides)?;
            print!("{}", crate::cli::recompute::summary(&done));
            Ok(if done.report.recommendation.is_some() {
                0
            } else {
                3
            })
        }
        Command::Apply {
            report,
            endpoint,
            inference_component,
            variant,
            yes,
            region,
            endpoint_url,
        } => {
            let args = crate::aws::autoscaling::ApplyArgs {
                report,
                endpoint,
                inference_component,
                variant,
                yes,
                connection: crate::aws::autoscaling::Connection {
                    region,
                    endpoint_url,
                },
            };
            print!("{}", crate::aws::autoscaling::apply_command(&args).await?);
            Ok(0)
        }
        Command::Cleanup {
            campaign,
            all_mine,
            dry_run,
            region,
            endpoint_url,
        } => {
            let args = crate::run::managed::cleanup::CleanupArgs {
                campaign,
                all_mine,
                dry_run,
                connection: crate::aws::deploy::Connection {
                    region,
                    endpoint_url,
                    credentials: None,
                },
            };
            print!("{}", crate::run::managed::cleanup::cleanup(&args).await?);
            Ok(0)
        }
        Command::Completions { shell } => {
            completions::print(&completions::completions(Cli::command(), shell))?;
            Ok(0)
        }
        Command::Man { out: None } => {
            completions::print(&completions::man_page(Cli::command()))?;
            Ok(0)
        }
        Command::Man { out: Some(dir) } => {
            completions::man_pages_to(Cli::command(), &dir)?;
            Ok(0)
        }
        Command::Shard(args) => shard::shard(&args, interrupt_token()).await,
        Command::Merge(args) => shard::merge(&args),
        Command::Probe(args) => {
            let probed = probe::probe(&args, interrupt_token()).await?;
            let summary = probe::summary(&probed, args.timeout_ms);
            if args.json {
                if !probed.interrupted {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&probed.step)
                            .map_err(|e| Error::Other(e.to_string()))?
                    );
                }
                if !args.quiet {
                    eprint!("{summary}");
                }
            } else {
                print!("{summary}");
            }
            Ok(probed.exit_code())
        }
    }
}

/// Reads a `--prices` table when one was given.
fn load_prices(path: Option<&std::path::Path>) -> Result<Option<PriceTable>> {
    path.map(PriceTable::load).transpose()
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
