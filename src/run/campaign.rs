//! The campaign loop: ask the search for the next rate, run a step, judge it, journal it, and
//! finally recommend and write the report.
//!
//! It owns the interrupt token and the progress display; everything it calls below is either
//! pure (search, verdict, recommend) or measures one step (load).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::config::Campaign;
use crate::decide::recommend;
use crate::decide::search::{self, Next, Probe, Stop};
use crate::decide::verdict;
use crate::error::Result;
use crate::measure::client::Target;
use crate::measure::load::{self, StepEnd, StepHandle, StepSpec};
use crate::measure::payload::Payloads;
use crate::measure::stats::{Recorder, StepResult, Verdict};
use crate::measure::stream_stats::StreamLimits;
use crate::prices::{self, PriceSource, PriceTable};
use crate::report::{self, Report};
use crate::run::caps::{self, CapStop, Caps};
use crate::run::distributed::coordinator::{Coordinator, StepAt, StepRun};
use crate::run::resume;
pub use crate::run::step::{is_json, plan_of, step_spec, target_and_payloads};

/// How a campaign ended; each maps to an exit code (architecture.md). A campaign ended by a
/// safety cap is not interrupted: it ends as `Recommended` or `NoPassingRate` by what its
/// completed steps found, and its report is marked partial with the cap in `stop_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A recommendation was found: 0.
    Recommended,
    /// The campaign ran but no tested rate met the requirements: 3.
    NoPassingRate,
    /// Interrupted; a partial report was written: 130.
    Interrupted,
}

impl Outcome {
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Recommended => 0,
            Outcome::NoPassingRate => 3,
            Outcome::Interrupted => 130,
        }
    }
}

/// Options of one run that are not part of the campaign file.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Report folder; default `<reports_root>/<name>-<timestamp>`.
    pub out: Option<PathBuf>,
    pub reports_root: PathBuf,
    /// No progress display and no per-step lines on stderr.
    pub quiet: bool,
    /// Cancelled on the first Ctrl-C: the current step stops and a partial report is written.
    pub interrupt: CancellationToken,
    /// `--prices`: replaces the built-in price table of the campaign's region.
    pub prices: Option<PriceTable>,
    /// Continue the campaign whose report folder this is (`run --resume DIR`).
    pub resume: Option<PathBuf>,
    /// Run each step over several shards (`[distributed]`, `run --shards`).
    pub distributed: Option<Arc<Coordinator>>,
}

impl RunOptions {
    pub fn new(out: Option<PathBuf>, quiet: bool) -> RunOptions {
        RunOptions {
            out,
            reports_root: PathBuf::from("reports"),
            quiet,
            interrupt: CancellationToken::new(),
            prices: None,
            resume: None,
            distributed: None,
        }
    }
}

/// A finished campaign.
#[derive(Debug)]
pub struct Finished {
    pub report: Report,
    pub dir: PathBuf,
    pub outcome: Outcome,
}

/// Runs a campaign loaded from `campaign_file`.
pub async fn run(c: &Campaign, campaign_file: &Path, opts: &RunOptions) -> Result<Finished> {
    let (target, payloads) = target_and_payloads(c, campaign_file).await?;
    run_with(c, Arc::new(target), Arc::new(payloads), opts).await
}

/// Runs a campaign against an already built target.
pub async fn run_with<T: Target>(
    c: &Campaign,
    target: Arc<T>,
    payloads: Arc<Payloads>,
    opts: &RunOptions,
) -> Result<Finished> {
    let session = match &opts.resume {
        Some(dir) => resume::resume(dir, c, &payloads)?,
        None => resume::start(c, &payloads, opts.out.as_deref(), &opts.reports_root)?,
    };
    let resume::Session {
        dir,
        mut journal,
        mut steps,
        started_at,
    } = session;
    if opts.resume.is_some() && !opts.quiet {
        eprintln!(
            "rightsize: resuming {} after {} completed step(s)",
            dir.display(),
            steps.len()
        );
    }
    let plan = plan_of(c);
    let caps = Caps::new(&c.load, tokio::time::Instant::now());
    let mut sent_so_far: u64 = steps.iter().map(caps::requests_sent).sum();
    let mut interrupted = false;
    let mut capped: Option<CapStop> = None;
    let mut generator_bound = false;
    let mut invalid_stop = false;
    let stop = loop {
        let history: Vec<Probe> = steps.iter().map(Probe::from).collect();
        let (rate, repeat_of) = match search::next(&plan, &history) {
            Next::Offer(r) => (r, None),
            Next::Repeat(i) => (steps[i].offered_rps, Some(i)),
            Next::Stop(Stop::GeneratorBound) => {
                generator_bound = true;
                let s = steps
                    .iter()
                    .find(|s| s.verdict == Some(Verdict::Inconclusive));
                break format!(
                    "the knee is generator-bound: the step at {} rps was {}; no MAX_RPS is given",
                    s.map_or_else(String::new, |s| crate::num::fmt_num(s.offered_rps)),
                    s.and_then(|s| s.reasons.first())
                        .map_or("inconclusive", |r| r.as_str())
                );
            }
            Next::Stop(s) => break s.describe().to_string(),
        };
        if opts.interrupt.is_cancelled() {
            interrupted = true;
            break "interrupted".to_string();
        }
        // A failed step may have left a backlog inside the endpoint: the next step starts when
        // the endpoint answers at its baseline (the first passing step's service time) again.
        let mut recovery_s = None;
        let mut recovered = true;
        if let (Some(last), Some(baseline)) = (steps.last(), baseline(&steps))
            && !last.pass
            && c.load.cooldown_max_seconds > 0.0
        {
            let waited;
            (waited, recovered) = load::recover::wait_for_baseline(
                target.clone(),
                payloads.clone(),
                baseline,
                Duration::from_secs_f64(c.load.cooldown_max_seconds),
                &opts.interrupt,
            )
            .await;
            if opts.interrupt.is_cancelled() {
                interrupted = true;
                break "interrupted".to_string();
            }
            if !recovered && !opts.quiet {
                eprintln!(
                    "rightsize: the endpoint did not answer at its baseline within cooldown_max_seconds = {}; going on",
                    crate::num::fmt_num(c.load.cooldown_max_seconds)
                );
            }
            recovery_s = Some(crate::num::round3(waited.as_secs_f64()));
        }
        let index = steps.len() + 1;
        // The endpoint's unloaded service time so far: the early stop, each shard's check and
        // the verdict judge a full set of slots against it.
        let unloaded_service_ms = verdict::unloaded_service_ms(&steps);
        let mut spec = step_spec(c, rate);
        if let Some(f) = spec.fail_fast.as_mut() {
            f.unloaded_service_ms = unloaded_service_ms;
        }
        if let Some(cap) = caps.check_before(&spec, sent_so_far, tokio::time::Instant::now()) {
            let reason = cap.reason.clone();
            capped = Some(cap);
            break reason;
        }
        let handle = StepHandle {
            recorder: Arc::new(
                Recorder::new((c.load.max_concurrency as usize).min(16))
                    .with_stream_limits(StreamLimits::from_requirements(&c.requirements)),
            ),
            cancel: opts.interrupt.child_token(),
        };
        let deadline = caps.cut_at_deadline(&handle.cancel);
        let mut shards = Vec::new();
        let mut invalid_runs = Vec::new();
        let (measurement, end) = match &opts.distributed {
            Some(d) => {
                match d
                    .run_step(
                        c,
                        StepAt {
                            index,
                            rate,
                            longest: spec.longest(),
                            unloaded_service_ms,
                        },
                        &handle.cancel,
                        opts.quiet,
                    )
                    .await?
                {
                    StepRun::Measured {
                        measurement,
                        shards: s,
                        invalid_runs: i,
                    } => {
                        shards = s;
                        invalid_runs = i;
                        let end = if measurement.abort.is_some() {
                            StepEnd::Aborted
                        } else {
                            StepEnd::Completed
                        };
                        (*measurement, end)
                    }
                    StepRun::Cancelled => {
                        drop(deadline);
                        if opts.interrupt.is_cancelled() {
                            interrupted = true;
                            break format!(
                                "interrupted during step {index}; that step was discarded"
                            );
                        }
                        let cap = caps.cut_reason(index);
                        let reason = cap.reason.clone();
                        capped = Some(cap);
                        break reason;
                    }
                    StepRun::Invalid(why) => {
                        invalid_stop = true;
                        break format!(
                            "stopped: step {index} was invalid {} times over {} shards, so no verdict can be given at {} ({}); the report holds the steps before it",
                            why.len(),
                            d.shards,
                            crate::num::fmt_num(rate),
                            why.join(" / ")
                        );
                    }
                }
            }
            None => {
                let progress = Progress::start(index, &spec, &handle, opts.quiet);
                let r = load::run_step(target.clone(), payloads.clone(), &spec, &handle).await;
                progress.finish().await;
                r
            }
        };
        drop(deadline);
        if end == StepEnd::Cancelled {
            if opts.interrupt.is_cancelled() {
                interrupted = true;
                break format!("interrupted during step {index}; that step was discarded");
            }
            let cap = caps.cut_reason(index);
            let reason = cap.reason.clone();
            capped = Some(cap);
            break reason;
        }
        let abort = measurement.abort;
        let failed_early = measurement.failed_early.clone();
        let mut step = measurement.into_result();
        let (v, mut reasons) = verdict::decide(&step, &c.requirements, unloaded_service_ms);
        if let Some(a) = abort {
            reasons.insert(
                0,
                format!(
                    "aborted after {:.1} s: {:.1}% of requests failed over {:.1} s (abort_error_percent = {})",
                    a.at_s,
                    a.error_percent,
                    a.over_s,
                    crate::num::fmt_num(c.load.abort_error_percent)
                ),
            );
        }
        if let Some(f) = &failed_early {
            reasons.insert(
                0,
                format!(
                    "stopped after {:.1} s, as it could no longer pass: {}",
                    f.at_s, f.reason
                ),
            );
        }
        // Stopped early for failing is a failure, unless the generator was what limited the
        // step (its queueing is what made the verdict hopeless): that stays inconclusive.
        let v = match v {
            _ if abort.is_some() => Verdict::Fail,
            Verdict::Inconclusive => Verdict::Inconclusive,
            _ if failed_early.is_some() => Verdict::Fail,
            v => v,
        };
        step.pass = v == Verdict::Pass;
        step.verdict = Some(v);
        // A failure measured on an endpoint still working off the previous step's backlog says
        // nothing of this rate: it is offered again (once; a second time it is judged).
        if !recovered && !step.pass && steps.last().is_some_and(|l| !l.unrecovered) {
            step.unrecovered = true;
            reasons.insert(
                0,
                format!(
                    "not judged: the endpoint had not recovered from the previous step within cooldown_max_seconds = {}, so this rate is offered again",
                    crate::num::fmt_num(c.load.cooldown_max_seconds)
                ),
            );
        }
        step.reasons = reasons;
        step.repeat_of = repeat_of;
        step.recovery_s = recovery_s;
        step.shards = shards;
        step.invalid_runs = invalid_runs;
        sent_so_far += caps::requests_sent(&step);
        if !opts.quiet {
            eprintln!("{}", step_line(index, &step));
        }
        // A journal that cannot be written must not lose the run: the report still gets the step.
        if let Err(e) = journal.append(&step) {
            eprintln!("warning: {e}");
        }
        steps.push(step);
    };

    let recommendation = (!generator_bound)
        .then(|| crate::decide::concurrency::recommend_for(&steps, c))
        .flatten()
        .map(|r| {
            let source = PriceSource::select(opts.prices.as_ref(), c.target.region.as_deref());
            prices::attach_cost(r, &source)
        });
    let report = Report {
        schema_version: report::SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        finished_at: report::now_rfc3339(),
        campaign: c.redacted(),
        max_rps: (!generator_bound)
            .then(|| recommend::max_rps_per_instance(&steps, c.target.instance_count))
            .flatten(),
        max_concurrency_per_instance: (!generator_bound)
            .then(|| recommend::max_concurrency_per_instance(&steps, c.target.instance_count))
            .flatten(),
        steps,
        recommendation,
        partial: interrupted || capped.is_some() || invalid_stop,
        stop_reason: stop,
        managed: None,
    };
    report::write_atomic(&dir.join(report::REPORT_FILE), report.to_json().as_bytes())?;
    // report.json is the contract and is safe on disk; the pages can be rendered again from it.
    if let Err(e) = report::render::write_outputs(&report, &dir) {
        eprintln!(
            "warning: report.html, summary.md or steps.csv not written ({e}); `rightsize report {}` renders them again",
            dir.join(report::REPORT_FILE).display()
        );
    }
    crate::aws::policy::write_for_report(&dir, &report, None, None)?;
    let outcome = if interrupted {
        Outcome::Interrupted
    } else if report.recommendation.is_some() {
        Outcome::Recommended
    } else {
        Outcome::NoPassingRate
    };
    Ok(Finished {
        report,
        dir,
        outcome,
    })
}

/// The service time an endpoint at rest answers in: the first passing step's median.
fn baseline(steps: &[StepResult]) -> Option<Duration> {
    steps
        .iter()
        .find(|s| s.pass && s.service_ms.p50 > 0.0)
        .map(|s| Duration::from_secs_f64(s.service_ms.p50 / 1000.0))
}

/// One line per finished step, for logs.
pub fn step_line(index: usize, s: &StepResult) -> String {
    let load = match s.concurrency {
        Some(n) => format!("concurrency {n:>4}, {:>8.1} rps", s.achieved_rps),
        None => format!(
            "offered {:>8.1} rps, achieved {:>8.1} rps",
            s.offered_rps, s.achieved_rps
        ),
    };
    let stream = s
        .stream
        .as_ref()
        .map(|st| {
            format!(
                ", TTFT p99 {:.1} ms, ITL p99 {:.1} ms, {:.1} tokens/s",
                st.ttft_ms.p99, st.itl_ms.p99, st.output_tokens_per_s
            )
        })
        .unwrap_or_default();
    format!(
        "step {index:>2}: {load}, p50 {:>7.1} ms, p99 {:>7.1} ms{stream}, errors {:>5.2}%  {}{}",
        s.latency_ms.p50,
        s.latency_ms.p99,
        s.error_percent,
        if s.pass {
            "pass".to_string()
        } else if s.verdict == Some(Verdict::Inconclusive) {
            format!("INCONCLUSIVE ({})", s.reasons.join("; "))
        } else {
            format!("FAIL ({})", s.reasons.join("; "))
        },
        s.repeat_of
            .map(|i| format!("  (repeat of step {})", i + 1))
            .unwrap_or_default()
    )
}

/// The live progress bar of one step; hidden with `--quiet` or when stderr is not a terminal.
pub(crate) struct Progress {
    bar: ProgressBar,
    stop: CancellationToken,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub(crate) fn start(
        index: usize,
        spec: &StepSpec,
        handle: &StepHandle,
        quiet: bool,
    ) -> Progress {
        let total_ms = ((spec.schedule.warmup_s + spec.schedule.window_s) * 1000.0) as u64;
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(total_ms), target);
        if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:24}] {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(match spec.concurrency {
            Some(n) => format!("step {index:>2} @ concurrency {n}"),
            None => format!("step {index:>2} @ {:.1} rps", spec.schedule.rate),
        });
        let stop = CancellationToken::new();
        let ticker = if bar.is_hidden() {
            None
        } else {
            let bar = bar.clone();
            let stop = stop.clone();
            let recorder = handle.recorder.clone();
            let warmup = spec.schedule.warmup_s;
            Some(tokio::spawn(async move {
                let t0 = tokio::time::Instant::now();
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                        _ = stop.cancelled() => return,
                    }
                    let elapsed = t0.elapsed().as_secs_f64();
                    bar.set_position((elapsed * 1000.0) as u64);
                    let done = recorder.live_done.load(Ordering::Relaxed);
                    let errors = recorder.live_errors.load(Ordering::Relaxed);
                    if elapsed < warmup {
                        bar.set_message("warming up");
                    } else {
                        // Measured requests answered so far: the final figure counts late
                        // answers too, so this one reads low while answers are in flight.
                        bar.set_message(format!(
                            "achieved {:.1} rps · p99 {:.1} ms · errors {:.2}%",
                            done as f64 / (elapsed - warmup).max(1e-3),
                            recorder.live_p99_ms(),
                            if done > 0 {
                                errors as f64 * 100.0 / done as f64
                            } else {
                                0.0
                            }
                        ));
                    }
                }
            }))
        };
        Progress { bar, stop, ticker }
    }

    pub(crate) async fn finish(self) {
        self.stop.cancel();
        if let Some(t) = self.ticker {
            let _ = t.await;
        }
        self.bar.finish_and_clear();
    }
}
