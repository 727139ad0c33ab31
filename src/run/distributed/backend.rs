//! What a backend is told and gives back: a step's order to its shards, each shard's run, and
//! the `Backend` trait every way of running shards implements.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;

use crate::config::{Campaign, LoadMode};
use crate::error::Result;
use crate::measure::wire::ShardResult;

/// What every shard of one step is told.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOrder {
    /// The campaign's step number (from 1), for names and messages.
    pub step: usize,
    /// The whole step's offered rate, or (concurrency mode) its concurrency.
    pub rate: f64,
    pub mode: LoadMode,
    pub shards: u32,
    pub start_at: OffsetDateTime,
    /// The longest the step can last once started (the shards' own deadline is this after
    /// `start_at`, plus a margin).
    pub longest: Duration,
}

impl StepOrder {
    /// The order for step `step` at `rate` over `shards`, starting `start_delay` from now.
    pub fn new(
        c: &Campaign,
        step: usize,
        rate: f64,
        shards: u32,
        start_delay: Duration,
        longest: Duration,
    ) -> StepOrder {
        let start_at = OffsetDateTime::now_utc()
            + time::Duration::try_from(start_delay).unwrap_or(time::Duration::ZERO);
        StepOrder {
            step,
            rate,
            mode: c.load.mode,
            shards,
            // Whole milliseconds: the instant travels as text.
            start_at: start_at
                .replace_nanosecond(start_at.millisecond() as u32 * 1_000_000)
                .unwrap_or(start_at),
            longest,
        }
    }

    /// The arguments of `rightsize shard` after the campaign, without the shard index (the
    /// kubernetes backend gives it through `JOB_COMPLETION_INDEX`).
    pub fn shard_args(&self) -> Vec<String> {
        let start = self
            .start_at
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.start_at.unix_timestamp().to_string());
        let load = match self.mode {
            LoadMode::Rate => "--rate",
            LoadMode::Concurrency => "--concurrency",
        };
        vec![
            load.to_string(),
            crate::num::fmt_num(self.rate),
            "--shards".to_string(),
            self.shards.to_string(),
            "--start-at".to_string(),
            start,
        ]
    }

    /// How long to wait for every shard before giving up on them: the start delay, the
    /// step's longest duration, and a margin for process start and exit.
    pub fn deadline(&self) -> Duration {
        let until_start = (self.start_at - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
        Duration::from_secs_f64(until_start.as_seconds_f64())
            + self.longest
            + Duration::from_secs(30)
    }
}

/// What one shard came to.
#[derive(Debug, Clone, PartialEq)]
pub enum ShardRun {
    Done(Box<ShardResult>),
    /// It ran but gave no result (exited with an error, was killed, printed nothing readable).
    Failed {
        shard: u32,
        reason: String,
    },
}

/// A boxed future, so that backends fit behind `dyn Backend`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where shards run. `run` starts every shard of a step, waits for all of them (or for
/// `cancel`, then stops them) and returns one entry per shard.
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    fn run<'a>(
        &'a self,
        order: &'a StepOrder,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<ShardRun>>>;
}
