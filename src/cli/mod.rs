//! The command line: clap definitions and the dispatch of each command to the library. The
//! commands with logic of their own have a file each (`run` for run and demo, `fake_endpoint`,
//! `probe`, `recompute`, `shard` for shard and merge); `args` holds the parsers they share and
//! `signals` what Ctrl-C does. Everything here sits on top: no module below imports the command
//! line.

pub mod args;
pub mod completions;
pub mod fake_endpoint;
pub mod probe;
pub mod recompute;
pub mod run;
pub mod shard;
pub mod signals;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::report::{Report, compare, compare_page, render};
use args::load_prices;
use probe::ProbeArgs;
use signals::interrupt_token;

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
    Run(run::RunArgs),
    /// Check that saved reports load, as `report`, `recommend` and `compare` read them.
    #[command(hide = true)]
    CheckReport {
        #[arg(required = true)]
        reports: Vec<PathBuf>,
    },
    /// Run a short campaign against the built-in simulated endpoint (no AWS account needed).
    Demo(run::DemoArgs),
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
    FakeEndpoint(fake_endpoint::FakeEndpointArgs),
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

async fn dispatch(cmd: Command) -> Result<i32> {
    match cmd {
        Command::Run(args) => run::run(args).await,
        Command::CheckReport { reports } => {
            for path in reports {
                let r = crate::report::Report::load(&path)?;
                println!("{}: ok, {} step(s)", path.display(), r.steps.len());
            }
            Ok(0)
        }
        Command::Demo(args) => run::demo(args).await,
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
        Command::FakeEndpoint(args) => fake_endpoint::serve(args).await,
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
