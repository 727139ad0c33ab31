//! The command line: clap definitions and the dispatch of each command to the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::campaign::{self, RunOptions};
use crate::config::Campaign;
use crate::error::{Error, Result};
use crate::fake::{FakeConfig, FakeEndpoint};
use crate::report::text;

#[derive(Debug, Parser)]
#[command(
    name = "rightsize",
    version,
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
        /// Continue an interrupted, killed or capped campaign from its report folder: the steps
        /// in its journal.jsonl are kept and the final report is written into the same folder.
        #[arg(long, value_name = "DIR", conflicts_with = "out")]
        resume: Option<PathBuf>,
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
        /// Variant name reported on the SageMaker runtime path.
        #[arg(long, default_value = "AllTraffic")]
        variant: String,
    },
}

/// The demo campaign, compiled in so `rightsize demo` works from any folder.
pub const DEMO_CAMPAIGN: &str = include_str!("../configs/demo.toml");

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
                eprintln!("interrupted again: exiting now");
                std::process::exit(130);
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
            resume,
        } => {
            let c = Campaign::load(&path)?;
            let mut opts = RunOptions::new(out, quiet);
            opts.interrupt = interrupt_token();
            opts.resume = resume;
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
            Ok(finished.outcome.exit_code())
        }
        Command::CheckReport { reports } => {
            for path in reports {
                let r = crate::report::Report::load(&path)?;
                println!("{}: ok, {} step(s)", path.display(), r.steps.len());
            }
            Ok(0)
        }
        Command::Demo { out, quiet } => {
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
            let finished =
                campaign::run(&c, std::path::Path::new("configs/demo.toml"), &opts).await?;
            endpoint.stop();
            print!("{}", text::summary(&finished.report));
            println!(
                "Report: {}",
                finished.dir.join(crate::report::REPORT_FILE).display()
            );
            Ok(finished.outcome.exit_code())
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
            variant,
        } => {
            let cfg = FakeConfig {
                slots,
                service_ms,
                jitter,
                queue_max,
                error_rate,
                throttle_rate,
                stall_every: stall_every_ms.map(Duration::from_millis),
                stall_for: Duration::from_millis(stall_ms),
                variant,
                seed: 1,
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
    }
}

/// Parses a duration such as `30s`, `500ms`, `2m`, `1h` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.trim().parse().map_err(|_| {
        Error::input(format!(
            "{s:?} is not a duration; write for example 30s, 500ms or 2m"
        ))
    })?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(Error::input(format!(
                "{s:?} has an unknown unit {unit:?}; use ms, s, m or h"
            )));
        }
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 7.0 * 24.0 * 3600.0 {
        return Err(Error::input(format!(
            "{s:?} must be a positive duration of at most a week"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        for bad in ["", "abc", "10x", "-3s", "0s"] {
            let e = parse_duration(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }

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
