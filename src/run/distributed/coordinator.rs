//! The coordinator's side of a distributed step: run every shard through a backend, check each
//! shard's run, merge them exactly, and run the step again when a run is invalid.

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::backend::{Backend, ShardRun, StepOrder};
use crate::config::{Campaign, DistributedConfig, LoadMode};
use crate::decide::verdict;
use crate::error::{Error, Result};
use crate::measure::stats::{ShardStepResult, StepMeasurement, Verdict};
use crate::measure::wire::{self, ShardResult};

/// A shard that started more than this after the common start instant measured another
/// window than the others: the run is invalid.
pub const MAX_START_LATE_MS: f64 = 250.0;

/// How many invalid runs of one step stop the campaign.
pub const MAX_INVALID_RUNS: usize = 2;

/// The distributed part of a run: which backend, how many shards, how far ahead to start.
pub struct Coordinator {
    pub backend: Box<dyn Backend>,
    pub shards: u32,
    pub start_delay: Duration,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("backend", &self.backend.name())
            .field("shards", &self.shards)
            .field("start_delay", &self.start_delay)
            .finish()
    }
}

/// The step a coordinator is asked to run: its index, its rate (or concurrency), its longest
/// phase, and the endpoint's unloaded service time so far ([`verdict::unloaded_service_ms`]),
/// against which each shard's own generator limit is judged.
#[derive(Debug, Clone, Copy)]
pub struct StepAt {
    pub index: usize,
    pub rate: f64,
    pub longest: Duration,
    pub unloaded_service_ms: Option<f64>,
}

/// How a distributed step ended.
#[derive(Debug)]
pub enum StepRun {
    /// A valid run: the merged measurement and each shard's part. `invalid_runs` says why
    /// earlier runs of the step were discarded.
    Measured {
        measurement: Box<StepMeasurement>,
        shards: Vec<ShardStepResult>,
        invalid_runs: Vec<String>,
    },
    /// Every run was invalid; why each was.
    Invalid(Vec<String>),
    Cancelled,
}

impl Coordinator {
    /// A coordinator from a campaign's `[distributed]` section.
    pub fn new(backend: Box<dyn Backend>, d: &DistributedConfig) -> Coordinator {
        Coordinator {
            backend,
            shards: d.shards,
            start_delay: Duration::from_secs_f64(d.start_delay_s()),
        }
    }

    /// The order for a step at `rate`, starting `start_delay` from now.
    pub fn order(&self, c: &Campaign, step: usize, rate: f64, longest: Duration) -> StepOrder {
        StepOrder::new(c, step, rate, self.shards, self.start_delay, longest)
    }

    /// Runs one step over the shards, again when a run is invalid, at most
    /// [`MAX_INVALID_RUNS`] times.
    pub async fn run_step(
        &self,
        c: &Campaign,
        at: StepAt,
        cancel: &CancellationToken,
        quiet: bool,
    ) -> Result<StepRun> {
        let StepAt {
            index: step, rate, ..
        } = at;
        let mut invalid_runs = Vec::new();
        while invalid_runs.len() < MAX_INVALID_RUNS {
            let order = self.order(c, step, rate, at.longest);
            if !quiet {
                eprintln!(
                    "step {step:>2}: {} {} over {} {} shards from {}",
                    match order.mode {
                        LoadMode::Rate => "offering",
                        LoadMode::Concurrency => "holding",
                    },
                    match order.mode {
                        LoadMode::Rate => format!("{} rps", crate::num::fmt_num(rate)),
                        LoadMode::Concurrency => format!("concurrency {}", rate.round()),
                    },
                    self.shards,
                    self.backend.name(),
                    order.shard_args().last().map_or("", |s| s.as_str())
                );
            }
            let runs = self.backend.run(&order, cancel).await?;
            if cancel.is_cancelled() {
                return Ok(StepRun::Cancelled);
            }
            match judge_run(c, &order, runs, at.unloaded_service_ms) {
                Ok((measurement, shards)) => {
                    return Ok(StepRun::Measured {
                        measurement: Box::new(measurement),
                        shards,
                        invalid_runs,
                    });
                }
                Err(problems) => {
                    let why = format!(
                        "run {} of step {step} over {} shards was invalid: {}",
                        invalid_runs.len() + 1,
                        self.shards,
                        problems.join("; ")
                    );
                    if !quiet {
                        eprintln!("rightsize: {why}");
                    }
                    invalid_runs.push(why);
                }
            }
        }
        Ok(StepRun::Invalid(invalid_runs))
    }
}

/// Checks every shard's run and merges them: `Err` lists why the run is invalid. A shard's own
/// generator limit is judged against `unloaded_service_ms`, as a whole step's is.
pub fn judge_run(
    c: &Campaign,
    order: &StepOrder,
    runs: Vec<ShardRun>,
    unloaded_service_ms: Option<f64>,
) -> std::result::Result<(StepMeasurement, Vec<ShardStepResult>), Vec<String>> {
    let mut problems = Vec::new();
    let mut results: Vec<ShardResult> = Vec::new();
    for r in runs {
        match r {
            ShardRun::Done(r) => results.push(*r),
            ShardRun::Failed { shard, reason } => {
                problems.push(format!("shard {shard} failed: {reason}"));
            }
        }
    }
    results.sort_by_key(|r| r.shard);
    for k in 0..order.shards {
        let n = results.iter().filter(|r| r.shard == k).count();
        if n == 0
            && !problems
                .iter()
                .any(|p| p.starts_with(&format!("shard {k} ")))
        {
            problems.push(format!("shard {k} returned no result"));
        } else if n > 1 {
            problems.push(format!("shard {k} returned {n} results"));
        }
    }
    let mut shards = Vec::new();
    for r in &results {
        if r.shards != order.shards || r.step_rate != expected_step_rate(order) {
            problems.push(format!(
                "shard {} ran another step (shard of {} at {} rps)",
                r.shard, r.shards, r.step_rate
            ));
            continue;
        }
        if r.start_late_ms > MAX_START_LATE_MS {
            problems.push(format!(
                "shard {} started {:.0} ms late (more than {MAX_START_LATE_MS} ms after the common start): raise [distributed] start_delay_seconds",
                r.shard, r.start_late_ms
            ));
        }
        let own = match r.own_measurement() {
            Ok(m) => m.into_result(),
            Err(e) => {
                problems.push(format!("shard {}: {e}", r.shard));
                continue;
            }
        };
        let (v, reasons) = verdict::decide(&own, &c.requirements, unloaded_service_ms);
        if v == Verdict::Inconclusive {
            problems.push(format!(
                "shard {} was itself generator-limited ({}): add shards or raise [load] max_concurrency",
                r.shard,
                reasons.first().map_or("", |s| s.as_str())
            ));
        }
        shards.push(ShardStepResult::of(r.shard, r.start_late_ms, &own));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    wire::merge(&results)
        .map(|m| (m, shards))
        .map_err(|e| vec![e.to_string()])
}

fn expected_step_rate(order: &StepOrder) -> f64 {
    match order.mode {
        LoadMode::Rate => order.rate,
        LoadMode::Concurrency => 0.0,
    }
}

/// Reads the shard results files given to `rightsize merge`.
pub fn read_results(paths: &[PathBuf]) -> Result<Vec<ShardResult>> {
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).map_err(|e| {
            Error::input(format!(
                "{}: cannot read the shard result: {e}",
                p.display()
            ))
        })?;
        let mut found = false;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let r = ShardResult::parse(line).map_err(|e| {
                Error::input(format!(
                    "{} line {}: {e}; give the line `rightsize shard` printed on stdout",
                    p.display(),
                    i + 1
                ))
            })?;
            out.push(r);
            found = true;
        }
        if !found {
            return Err(Error::input(format!(
                "{}: holds no shard result; give the line `rightsize shard` printed on stdout",
                p.display()
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::stats::{Served, Shard, ShardSummary};
    use crate::measure::wire::ShardPlace;
    use std::path::Path;

    fn campaign() -> Campaign {
        Campaign::parse(
            r#"name = "t"
[target]
kind = "http"
url = "http://127.0.0.1:9/invocations"
[payload]
body = '{"x": 1}'
[requirements]
p99_ms = 100
max_error_percent = 0.1
peak_tps = 50
"#,
            Path::new("c.toml"),
            Path::new("."),
        )
        .unwrap()
    }

    fn order(shards: u32) -> StepOrder {
        StepOrder::new(
            &campaign(),
            1,
            1000.0,
            shards,
            Duration::ZERO,
            Duration::from_secs(5),
        )
    }

    /// Shard `k` of 2 at 1,000 rps: 1,000 requests over 2 s, each taking `latency_us` from its
    /// intended send and 5 ms of service, with `peak` of its 8 slots in flight at most.
    fn shard(k: u32, late_ms: f64, latency_us: u64, peak: u64) -> ShardRun {
        let mut raw = Shard::new();
        for _ in 0..1000 {
            raw.latency.record(latency_us).unwrap();
            raw.service.record(5_000).unwrap();
            raw.send_lag
                .record(latency_us.saturating_sub(5_000).max(1))
                .unwrap();
        }
        raw.requests = 1000;
        let m = StepMeasurement {
            offered_rps: 500.0,
            abort: None,
            failed_early: None,
            served: Served {
                rps: 500.0,
                steady: true,
            },
            window_s: 2.0,
            warmup_s: 0.0,
            sent: 1000,
            unsent: 0,
            peak_in_flight: peak,
            max_concurrency: 8,
            shard: ShardSummary::from_shard(&raw, &[]),
            concurrency: None,
            stream_format: None,
        };
        let place = ShardPlace {
            shard: k,
            shards: 2,
            step_rate: 1000.0,
            start_at: "2026-01-01T00:00:00Z".into(),
            start_late_ms: late_ms,
        };
        ShardRun::Done(Box::new(ShardResult::new(&place, &raw, &m)))
    }

    #[test]
    fn a_run_is_valid_only_when_every_shard_ran_on_time_and_was_not_itself_the_limit() {
        let c = campaign();
        let (m, shards) = judge_run(
            &c,
            &order(2),
            vec![shard(0, 3.0, 6_000, 2), shard(1, 1.0, 6_000, 3)],
            None,
        )
        .unwrap();
        assert_eq!(m.shard.requests, 2000);
        assert_eq!(m.offered_rps, 1000.0);
        assert_eq!(shards.len(), 2);

        let late = judge_run(
            &c,
            &order(2),
            vec![shard(0, 3.0, 6_000, 2), shard(1, 900.0, 6_000, 3)],
            None,
        )
        .unwrap_err();
        assert!(late[0].contains("shard 1 started 900 ms late"), "{late:?}");

        let missing = judge_run(&c, &order(2), vec![shard(0, 3.0, 6_000, 2)], None).unwrap_err();
        assert!(
            missing[0].contains("shard 1 returned no result"),
            "{missing:?}"
        );

        let failed = judge_run(
            &c,
            &order(2),
            vec![
                shard(0, 3.0, 6_000, 2),
                ShardRun::Failed {
                    shard: 1,
                    reason: "was killed".into(),
                },
            ],
            None,
        )
        .unwrap_err();
        assert_eq!(failed, vec!["shard 1 failed: was killed".to_string()]);

        // Shard 1 fell behind its own schedule (send lag p99 395 ms with slots to spare) while
        // the endpoint answered in 5 ms: it, not the endpoint, was the limit.
        let limited = judge_run(
            &c,
            &order(2),
            vec![shard(0, 3.0, 6_000, 2), shard(1, 1.0, 400_000, 3)],
            None,
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            limited[0].contains("shard 1 was itself generator-limited"),
            "{limited:?}"
        );
    }
}
