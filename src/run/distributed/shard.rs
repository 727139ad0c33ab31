//! `rightsize shard`: one load generator's share of one step, from a common start instant,
//! measured and returned as one [`ShardResult`] line.
//!
//! Shard k of N with uniform arrivals sends the whole schedule's requests i ≡ k (mod N); with
//! Poisson arrivals it draws its own seeded stream at rate ÷ N; in concurrency mode it holds its
//! share of the concurrency. Each gets its share of `[load] max_concurrency`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;

use crate::config::{Arrivals, Campaign, LoadMode};
use crate::error::{Error, Result};
use crate::measure::client::Target;
use crate::measure::load::{self, Part, StepEnd, StepHandle, StepSpec};
use crate::measure::stats::{Recorder, Served, Shard, ShardSummary, StepMeasurement};
use crate::measure::stream_stats::StreamLimits;
use crate::measure::wire::{ShardPlace, ShardResult};
use crate::run::step;

/// Which share of which step a shard runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardSpec {
    pub index: u32,
    pub shards: u32,
    /// The whole step's offered rate (rate mode) or concurrency (concurrency mode).
    pub load: f64,
    pub start_at: OffsetDateTime,
}

/// This shard's step: the campaign's step at the whole rate, cut to its share.
pub fn shard_step(c: &Campaign, s: &ShardSpec) -> StepSpec {
    let n = u64::from(s.shards.max(1));
    let k = u64::from(s.index);
    match c.load.mode {
        LoadMode::Concurrency => {
            let total = s.load.round().max(0.0) as u64;
            let share = total / n + u64::from(k < total % n);
            let mut spec = step::step_spec(c, share as f64);
            spec.concurrency = Some(share as usize);
            spec.max_concurrency = share as usize;
            spec
        }
        LoadMode::Rate => {
            let mut spec = step::step_spec(c, s.load);
            spec.max_concurrency = (c.load.max_concurrency as u64).div_ceil(n).max(1) as usize;
            // The fail-fast rules judge a one-machine backlog; the coordinator judges the
            // merged step.
            spec.fail_fast = None;
            match c.load.arrivals {
                Arrivals::Uniform => spec.part = Some(Part { index: k, of: n }),
                Arrivals::Poisson => {
                    spec.schedule.rate = s.load / n as f64;
                    spec.seed = c.payload.seed ^ (k + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                }
            }
            spec
        }
    }
}

/// Checks a shard's arguments against its campaign.
pub fn check(c: &Campaign, s: &ShardSpec, concurrency_flag: bool) -> Result<()> {
    if s.shards == 0 || s.index >= s.shards {
        return Err(Error::input(format!(
            "shard index {} is not below --shards {}; give --index from 0 to {}",
            s.index,
            s.shards,
            s.shards.saturating_sub(1)
        )));
    }
    match (c.load.mode, concurrency_flag) {
        (LoadMode::Rate, true) => Err(Error::input(
            "--concurrency needs a campaign with [load] mode = \"concurrency\"; give --rate",
        )),
        (LoadMode::Concurrency, false) => Err(Error::input(
            "the campaign has [load] mode = \"concurrency\"; give --concurrency instead of --rate",
        )),
        _ if !(s.load.is_finite() && s.load > 0.0) => Err(Error::input(format!(
            "the step's load {} must be a number above 0",
            s.load
        ))),
        _ => Ok(()),
    }
}

/// Runs this shard's share of the step and returns what it measured.
pub async fn run(
    c: &Campaign,
    campaign_file: &Path,
    s: &ShardSpec,
    interrupt: &CancellationToken,
) -> Result<ShardResult> {
    let (target, payloads) = step::target_and_payloads(c, campaign_file).await?;
    run_with(c, Arc::new(target), Arc::new(payloads), s, interrupt).await
}

/// [`run`] with an already built target.
pub async fn run_with<T: Target>(
    c: &Campaign,
    target: Arc<T>,
    payloads: Arc<crate::measure::payload::Payloads>,
    s: &ShardSpec,
    interrupt: &CancellationToken,
) -> Result<ShardResult> {
    let spec = shard_step(c, s);
    let wait = s.start_at - OffsetDateTime::now_utc();
    if wait.is_positive() {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(wait.as_seconds_f64())) => {}
            _ = interrupt.cancelled() => return Err(Error::Other("interrupted before the start".into())),
        }
    }
    let late = (OffsetDateTime::now_utc() - s.start_at).as_seconds_f64() * 1000.0;
    let place = ShardPlace {
        shard: s.index,
        shards: s.shards,
        step_rate: match c.load.mode {
            LoadMode::Rate => s.load,
            LoadMode::Concurrency => 0.0,
        },
        start_at: s.start_at.format(&Rfc3339).unwrap_or_default(),
        start_late_ms: crate::num::round3(late.max(0.0)),
    };
    if spec.concurrency == Some(0) {
        // Fewer requests to hold than shards: this one holds none.
        return Ok(ShardResult::new(&place, &Shard::new(), &empty(&spec)));
    }
    let handle = StepHandle {
        recorder: Arc::new(
            Recorder::new(spec.max_concurrency.min(16))
                .with_stream_limits(StreamLimits::from_requirements(&c.requirements)),
        ),
        cancel: interrupt.child_token(),
    };
    let (measurement, end) = load::run_step(target, payloads, &spec, &handle).await;
    if end == StepEnd::Cancelled {
        return Err(Error::Other(
            "interrupted during the step; nothing measured is returned".into(),
        ));
    }
    let raw = handle.recorder.merged();
    Ok(ShardResult::new(&place, &raw, &measurement))
}

fn empty(spec: &StepSpec) -> StepMeasurement {
    StepMeasurement {
        offered_rps: 0.0,
        abort: None,
        failed_early: None,
        served: Served {
            rps: 0.0,
            steady: true,
        },
        window_s: spec.schedule.window_s,
        warmup_s: spec.schedule.warmup_s,
        sent: 0,
        unsent: 0,
        peak_in_flight: 0,
        max_concurrency: 0,
        shard: ShardSummary::default(),
        concurrency: Some(0),
        stream_format: spec.stream_format,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(load: &str) -> Campaign {
        let text = format!(
            r#"name = "t"
[target]
kind = "http"
url = "http://127.0.0.1:9/invocations"
[payload]
body = '{{"x": 1}}'
[requirements]
p99_ms = 100
max_error_percent = 0.1
peak_tps = 50
[load]
{load}
"#
        );
        Campaign::parse(&text, Path::new("c.toml"), Path::new(".")).unwrap()
    }

    fn spec(index: u32, shards: u32, load: f64) -> ShardSpec {
        ShardSpec {
            index,
            shards,
            load,
            start_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn uniform_shards_take_every_nth_request_and_share_the_in_flight_cap() {
        let c = campaign("max_concurrency = 10");
        let st = shard_step(&c, &spec(1, 4, 100.0));
        assert_eq!(st.part, Some(Part { index: 1, of: 4 }));
        assert_eq!(st.schedule.rate, 100.0, "due times of the whole schedule");
        assert_eq!(st.max_concurrency, 3, "ceil(10 / 4)");
        assert!(st.fail_fast.is_none());
    }

    #[test]
    fn poisson_shards_draw_their_own_streams_at_a_share_of_the_rate() {
        let c = campaign("arrivals = \"poisson\"");
        let a = shard_step(&c, &spec(0, 4, 100.0));
        let b = shard_step(&c, &spec(1, 4, 100.0));
        assert_eq!(a.schedule.rate, 25.0);
        assert_eq!(a.part, None);
        assert_ne!(a.seed, b.seed);
    }

    #[test]
    fn concurrency_shards_hold_their_share() {
        let c = campaign("mode = \"concurrency\"\nmax_concurrency = 64");
        let shares: Vec<_> = (0..4)
            .map(|k| shard_step(&c, &spec(k, 4, 10.0)).concurrency.unwrap())
            .collect();
        assert_eq!(shares, vec![3, 3, 2, 2]);
        assert!(
            check(&c, &spec(0, 4, 10.0), false).is_err(),
            "needs --concurrency"
        );
        assert!(
            check(&c, &spec(4, 4, 10.0), true).is_err(),
            "index below shards"
        );
        assert!(check(&c, &spec(3, 4, 10.0), true).is_ok());
    }
}
