//! Sleeps accurate to tens of microseconds, for the simulated endpoint's service time.
//!
//! tokio's timer counts in 1 ms ticks and ends a sleep in the tick after its deadline, which
//! adds 0.5–1.5 ms to a 20 ms service time; measuring the load generator's latency fidelity
//! needs an endpoint that takes the time it was told. A long sleep's first part is tokio's; its
//! last two milliseconds are kept by one thread that parks until the earliest deadline (a futex
//! timeout, resolution in microseconds) and wakes every sleeper that is due.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Left to the precise thread at the end of every sleep: more than one tokio tick.
const MARGIN: Duration = Duration::from_millis(2);

/// Sleeps for `d`, ending within tens of microseconds of the deadline.
pub async fn sleep(d: Duration) {
    let deadline = Instant::now() + d;
    if d > MARGIN {
        tokio::time::sleep(d - MARGIN).await;
    }
    if Instant::now() >= deadline {
        return;
    }
    let Some(sleeper) = sleeper() else {
        // No thread could be started: tokio's timer, later by up to a tick.
        tokio::time::sleep_until(deadline.into()).await;
        return;
    };
    let (tx, rx) = oneshot::channel();
    sleeper.add(deadline, tx);
    let _ = rx.await;
}

struct Due {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    /// Reversed, so that the max-heap gives the earliest deadline first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Due>,
    seq: u64,
}

struct Sleeper {
    queue: Mutex<Queue>,
    changed: Condvar,
}

fn sleeper() -> Option<&'static Sleeper> {
    static SLEEPER: OnceLock<Option<&'static Sleeper>> = OnceLock::new();
    *SLEEPER.get_or_init(|| {
        let s: &'static Sleeper = Box::leak(Box::new(Sleeper {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("rightsize-timer".into())
            .spawn(move || s.run())
            .ok()
            .map(|_| s)
    })
}

impl Sleeper {
    fn add(&self, at: Instant, wake: oneshot::Sender<()>) {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = q.seq;
        q.seq += 1;
        let earliest = q.heap.peek().is_none_or(|d| at < d.at);
        q.heap.push(Due { at, seq, wake });
        drop(q);
        if earliest {
            self.changed.notify_one();
        }
    }

    fn run(&self) {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            while q.heap.peek().is_some_and(|d| d.at <= now) {
                if let Some(d) = q.heap.pop() {
                    let _ = d.wake.send(());
                }
            }
            q = match q.heap.peek().map(|d| d.at - now) {
                Some(wait) => {
                    self.changed
                        .wait_timeout(q, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self.changed.wait(q).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overlapping_sleeps_never_end_before_their_deadlines() {
        // Overlapping sleepers, later deadlines added first, so the thread must re-arm for an
        // earlier one: none may end before its deadline.
        let tasks: Vec<_> = [7u64, 3, 5, 1, 20]
            .into_iter()
            .map(|ms| {
                tokio::spawn(async move {
                    let t = Instant::now();
                    sleep(Duration::from_millis(ms)).await;
                    (ms, t.elapsed())
                })
            })
            .collect();
        for t in tasks {
            let (ms, took) = t.await.unwrap();
            assert!(
                took >= Duration::from_millis(ms),
                "{ms} ms sleep took {took:?}"
            );
        }
    }
}
