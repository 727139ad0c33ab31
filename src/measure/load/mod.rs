//! The load generator: runs one step at one offered rate and measures it.
//!
//! Open model: request `i` is due at `start + i / rate` whatever the endpoint does, so a stalled
//! endpoint builds a backlog whose waiting shows in `latency_ms` instead of being hidden
//! (coordinated omission). Up to `max_concurrency` workers each take the next due request from a
//! shared counter, sleep until it is due, send it and record it; a late worker sends at once.
//! This module knows nothing about requirements: it only measures.

pub mod recover;
pub mod schedule;
mod watch;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::measure::client::Target;
use crate::measure::payload::Payloads;
use crate::measure::stats::{ErrorClass, Outcome, Recorder, ShardSummary, StepMeasurement};
use crate::measure::stream_stats::StreamSample;
use crate::measure::threads;

pub use schedule::{Arrivals, Part, Schedule};
pub use watch::{AbortRule, CEILING_SHARE, FailFast, slots_can_limit, slots_ceiling_rps};

/// The resolution of tokio's timer.
const TICK: Duration = Duration::from_millis(1);

/// Everything one step needs to know.
#[derive(Debug, Clone)]
pub struct StepSpec {
    pub schedule: Schedule,
    pub max_concurrency: usize,
    /// A request that takes longer is abandoned and counted as `timeout`.
    pub timeout: Duration,
    /// After the window ends, measured requests still queued in the generator are sent for at
    /// most this long; the rest are failures of class `not_sent`.
    pub drain_grace: Duration,
    /// Stop the step early, failed, when too many requests fail (none: never).
    pub abort: Option<AbortRule>,
    /// How requests are spaced, and the seed of Poisson arrivals.
    pub arrivals: Arrivals,
    pub seed: u64,
    /// Stop the step early, failed, once it has clearly failed (none: never).
    pub fail_fast: Option<FailFast>,
    /// Closed model: keep this many requests in flight for the warm-up and the window instead
    /// of offering `schedule.rate` (a new request starts when one ends; each is measured from
    /// its own send, which is also its intended send time).
    pub concurrency: Option<usize>,
    /// The target streams its answers in this format (named in the step's figures).
    pub stream_format: Option<&'static str>,
    /// Uniform arrivals only: this generator is one shard of several and sends only its part
    /// of the schedule (`schedule.rate` stays the whole step's rate).
    pub part: Option<Part>,
}

impl StepSpec {
    pub fn new(
        rate: f64,
        warmup_s: f64,
        window_s: f64,
        max_concurrency: usize,
        timeout: Duration,
    ) -> StepSpec {
        StepSpec {
            schedule: Schedule {
                rate,
                warmup_s,
                window_s,
            },
            max_concurrency: max_concurrency.max(1),
            timeout,
            drain_grace: Duration::from_secs_f64((1.0 + window_s * 0.1).min(10.0)),
            abort: None,
            arrivals: Arrivals::Uniform,
            seed: 0,
            fail_fast: None,
            concurrency: None,
            stream_format: None,
            part: None,
        }
    }

    /// A closed-model step holding `n` requests in flight.
    pub fn closed(n: usize, warmup_s: f64, window_s: f64, timeout: Duration) -> StepSpec {
        let mut s = StepSpec::new(n as f64, warmup_s, window_s, n, timeout);
        s.concurrency = Some(n.max(1));
        s.drain_grace = Duration::ZERO;
        s
    }

    /// The longest a step can last: every request is sent by the end of the drain grace, and
    /// the last one sent is abandoned after the timeout.
    pub fn longest(&self) -> Duration {
        Duration::from_secs_f64(self.schedule.warmup_s + self.schedule.window_s)
            + self.drain_grace
            + self.timeout
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepEnd {
    /// Every due request was sent (or counted unsent) and every sent one answered.
    Completed,
    /// Stopped early through the cancellation token; in-flight requests were abandoned.
    Cancelled,
    /// Stopped early because too many requests failed (the measurement's `abort` says when);
    /// in-flight requests were abandoned.
    Aborted,
}

/// A running step's shared state, readable while the step runs (for progress display).
pub struct StepHandle {
    pub recorder: Arc<Recorder>,
    pub cancel: CancellationToken,
}

/// Runs one step to its end and returns what was measured.
///
/// `cancel` stops the step early: no new request is sent and requests in flight are abandoned.
/// So does the abort rule, if the spec has one, watched by one task sampling the recorder's
/// counters (nothing is added to the per-request path).
pub async fn run_step<T: Target>(
    target: Arc<T>,
    payloads: Arc<Payloads>,
    spec: &StepSpec,
    handle: &StepHandle,
) -> (StepMeasurement, StepEnd) {
    let sched = spec.schedule;
    // A shard counts its own requests 0.. and maps them onto the whole schedule's.
    let part = match spec.arrivals {
        Arrivals::Uniform => spec.part,
        Arrivals::Poisson => None,
    };
    let (total, first_measured) = match part {
        Some(p) => (p.count(sched.total()), p.count(sched.first_measured())),
        None => (sched.total(), sched.first_measured()),
    };
    let workers = match spec.concurrency {
        Some(n) => n.max(1),
        None => (spec.max_concurrency as u64).min(total).max(1) as usize,
    };
    let recorder = handle.recorder.clone();
    let next = Arc::new(AtomicU64::new(0));

    let start = Instant::now() + Duration::from_millis(2);
    let window_start = start + Duration::from_secs_f64(sched.warmup_s);
    let window_end = window_start + Duration::from_secs_f64(sched.window_s);
    let send_deadline = window_end + spec.drain_grace;
    // Workers stop on an interrupt (the parent token) or an abort (this one only).
    let stop = handle.cancel.child_token();
    let watcher_done = CancellationToken::new();
    let watcher = spec.abort.map(|rule| {
        tokio::spawn(watch::watch_errors(
            recorder.clone(),
            rule,
            start,
            stop.clone(),
            watcher_done.clone(),
        ))
    });
    let fail_fast = spec.fail_fast.map(|rule| {
        tokio::spawn(watch::watch_fail_fast(
            recorder.clone(),
            rule,
            sched,
            start,
            spec.max_concurrency as u64,
            stop.clone(),
            watcher_done.clone(),
        ))
    });

    let served_watch = tokio::spawn(watch::watch_served(
        recorder.clone(),
        start,
        stop.clone(),
        watcher_done.clone(),
    ));

    // Poisson send times are drawn once, before the step starts, from the step's seed and
    // rate: the same campaign sends at the same offsets every time.
    let offsets: Option<Arc<[Duration]>> = match spec.arrivals {
        Arrivals::Uniform => None,
        Arrivals::Poisson => {
            Some(schedule::poisson_offsets(&sched, spec.seed ^ sched.rate.to_bits()).into())
        }
    };
    let mut set = JoinSet::new();
    let threads = threads::handles();
    for w in 0..workers {
        let ctx = Worker {
            id: w,
            target: target.clone(),
            payloads: payloads.clone(),
            recorder: recorder.clone(),
            next: next.clone(),
            cancel: stop.clone(),
            sched,
            offsets: offsets.clone(),
            part,
            total,
            first_measured,
            start,
            send_deadline,
            timeout: spec.timeout,
            window: (window_start, window_end),
        };
        let closed = spec.concurrency.is_some();
        match threads.get(w % threads.len().max(1)) {
            Some(h) if closed => set.spawn_on(ctx.run_closed(), h),
            Some(h) => set.spawn_on(ctx.run(), h),
            None if closed => set.spawn(ctx.run_closed()),
            None => set.spawn(ctx.run()),
        };
    }
    while set.join_next().await.is_some() {}
    let ran_s = start.elapsed().as_secs_f64();
    let (finished, failed) = recorder.finished_and_failed();
    watcher_done.cancel();
    let served_samples = served_watch.await.unwrap_or_default();
    let served = watch::served(&served_samples, ran_s, finished.saturating_sub(failed));
    let abort = match watcher {
        Some(w) => w.await.ok().flatten(),
        None => None,
    };
    let failed_early = match fail_fast {
        Some(w) => w.await.ok().flatten(),
        None => None,
    };

    let end = if handle.cancel.is_cancelled() {
        StepEnd::Cancelled
    } else if abort.is_some() || failed_early.is_some() {
        StepEnd::Aborted
    } else {
        StepEnd::Completed
    };
    // An aborted step measured only the part of its window that ran.
    let stopped_at = abort
        .map(|a| a.at_s)
        .or(failed_early.as_ref().map(|f| f.at_s));
    let window_s = match stopped_at {
        Some(at_s) => (at_s - sched.warmup_s).clamp(0.0, sched.window_s),
        None => sched.window_s,
    };
    let merged = recorder.merged();
    let sent = recorder.sent.load(Ordering::Relaxed);
    let measurement = StepMeasurement {
        // A closed-model step offers no rate: what it sent per second of its window stands in.
        offered_rps: match spec.concurrency {
            Some(_) if window_s > 0.0 => sent as f64 / window_s,
            Some(_) => 0.0,
            None => match part {
                Some(p) => sched.rate / p.of as f64,
                None => sched.rate,
            },
        },
        concurrency: spec.concurrency.map(|n| n as u64),
        stream_format: spec.stream_format,
        abort,
        failed_early,
        served,
        window_s,
        warmup_s: sched.warmup_s,
        sent,
        unsent: recorder.unsent.load(Ordering::Relaxed),
        peak_in_flight: recorder.peak_in_flight.load(Ordering::Relaxed),
        max_concurrency: spec.max_concurrency as u64,
        shard: ShardSummary::from_shard(&merged, &target.variant_names()),
    };
    (measurement, end)
}

struct Worker<T> {
    id: usize,
    target: Arc<T>,
    payloads: Arc<Payloads>,
    recorder: Arc<Recorder>,
    next: Arc<AtomicU64>,
    cancel: CancellationToken,
    sched: Schedule,
    /// Poisson send offsets; `None`: uniform (`sched.due`).
    offsets: Option<Arc<[Duration]>>,
    /// This generator's part of a uniform schedule; `total` and `first_measured` count its
    /// own requests.
    part: Option<Part>,
    total: u64,
    first_measured: u64,
    start: Instant,
    send_deadline: Instant,
    timeout: Duration,
    /// The measured window (closed model: requests sent inside it are measured).
    window: (Instant, Instant),
}

impl<T: Target> Worker<T> {
    /// Offset of request `i` from the step start.
    fn due(&self, i: u64) -> Duration {
        match &self.offsets {
            Some(o) => o
                .get(i as usize)
                .copied()
                .unwrap_or_else(|| self.sched.due(i)),
            None => match self.part {
                Some(p) => self.sched.due(p.global(i)),
                None => self.sched.due(i),
            },
        }
    }

    async fn run(self) {
        // One timer and one cancellation waiter for the whole step, re-armed per request:
        // nothing is allocated or registered anew on the per-request path.
        let cancelled = self.cancel.clone().cancelled_owned();
        tokio::pin!(cancelled);
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.total {
                return;
            }
            let intended = self.start + self.due(i);
            let measured = i >= self.first_measured;
            let now = Instant::now();
            if now + TICK < intended {
                // tokio's timer ends a sleep in the first 1 ms tick at or after its deadline;
                // waking in the tick before the due time instead keeps the generator's own
                // timer out of `latency_ms`. An early request is measured as if sent on time
                // (below), so it is never measured short.
                timer.as_mut().reset(intended - TICK);
                tokio::select! {
                    _ = &mut timer => {}
                    _ = &mut cancelled => return,
                }
            } else if now >= self.send_deadline {
                // The step is over and this request is still queued here: stop sending. Every
                // measured request left is a failure of class `not_sent` (once, whichever
                // worker gets here first), waiting from its due time until now.
                let left_from = self.next.swap(self.total, Ordering::Relaxed).max(i + 1);
                let first = i.max(self.first_measured);
                let rest = left_from.max(self.first_measured)..self.total;
                for j in (first..=i).chain(rest) {
                    let due = self.start + self.due(j);
                    let waited = now.saturating_duration_since(due).as_micros() as u64;
                    self.recorder.record_not_sent(self.id, waited);
                }
                return;
            }
            let sent_at = Instant::now();
            let Some(outcome) = self
                .send(i, measured, sent_at, timer.as_mut(), cancelled.as_mut())
                .await
            else {
                return;
            };
            let done = Instant::now();
            let service = done.saturating_duration_since(sent_at);
            // A request sent early (inside the timer's last tick) is measured as if sent on
            // time: its latency is its service time.
            let on_time = done + intended.saturating_duration_since(sent_at);
            if measured {
                let latency = on_time.saturating_duration_since(intended).as_micros() as u64;
                let lag = sent_at.saturating_duration_since(intended).as_micros() as u64;
                self.recorder.record_sent(
                    self.id,
                    latency,
                    service.as_micros() as u64,
                    lag,
                    &outcome,
                );
                self.record_stream(&outcome, intended, sent_at);
            } else {
                self.recorder.note_warmup(&outcome);
            }
        }
    }
}

impl<T: Target> Worker<T> {
    /// Sends request `i` (counted as sent when `measured`) and waits for its answer, counting it
    /// in flight; abandoned as `timeout` after the step's timeout from `sent_at`. `None`: the
    /// step was cancelled and the request abandoned.
    async fn send(
        &self,
        i: u64,
        measured: bool,
        sent_at: Instant,
        mut timer: Pin<&mut Sleep>,
        cancelled: Pin<&mut WaitForCancellationFutureOwned>,
    ) -> Option<Outcome> {
        let body = self.payloads.pick(i);
        if measured {
            self.recorder.sent.fetch_add(1, Ordering::Relaxed);
        }
        let now_in_flight = self.recorder.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.recorder
            .peak_in_flight
            .fetch_max(now_in_flight, Ordering::Relaxed);
        timer.as_mut().reset(sent_at + self.timeout);
        let outcome = tokio::select! {
            o = self.target.invoke(body) => Some(o),
            _ = timer => Some(Outcome::error(ErrorClass::Timeout, None)),
            _ = cancelled => None,
        };
        self.recorder.in_flight.fetch_sub(1, Ordering::Relaxed);
        outcome
    }

    /// Records a successful stream's figures, placed from the intended send time. A request
    /// sent early (inside the timer's last tick) is placed as if sent on time.
    fn record_stream(&self, outcome: &Outcome, intended: Instant, sent_at: Instant) {
        let Some(rec) = &outcome.stream else { return };
        if outcome.class.is_some() {
            return;
        }
        let t0 = Instant::from_std(rec.sent) + intended.saturating_duration_since(sent_at);
        if let Some(sample) =
            StreamSample::of(&rec.tally, |d| (t0 + d).saturating_duration_since(intended))
        {
            self.recorder
                .record_stream(self.id, &sample, &rec.tally.gaps_us);
        }
    }

    /// The closed model: send, wait for the answer, send the next, until the window ends.
    /// Requests sent in the warm-up are not measured; those sent in the window are, however
    /// long they take to finish (up to the timeout).
    async fn run_closed(self) {
        let cancelled = self.cancel.clone().cancelled_owned();
        tokio::pin!(cancelled);
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let (window_start, window_end) = self.window;
        // Workers start one tick apart at most, not all in the same instant.
        tokio::select! {
            _ = tokio::time::sleep_until(self.start) => {}
            _ = &mut cancelled => return,
        }
        loop {
            let sent_at = Instant::now();
            if self.cancel.is_cancelled() || sent_at >= window_end {
                return;
            }
            let measured = sent_at >= window_start;
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(outcome) = self
                .send(i, measured, sent_at, timer.as_mut(), cancelled.as_mut())
                .await
            else {
                return;
            };
            let took = sent_at.elapsed().as_micros() as u64;
            if measured {
                self.recorder.record_sent(self.id, took, took, 0, &outcome);
                self.record_stream(&outcome, sent_at, sent_at);
            } else {
                self.recorder.note_warmup(&outcome);
            }
        }
    }
}
