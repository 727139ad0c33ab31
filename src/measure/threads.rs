//! The threads the load generator's workers run on: one single-threaded tokio runtime per core,
//! started once and kept for the whole process, like wrk's threads with their own event loops.
//!
//! A worker and its connection stay on one thread from the first request to the last, so a
//! request costs no work-stealing, no cross-thread wake-up and no shared run queue; on two
//! cores this cut the generator's CPU per request by about a fifth against tokio's
//! multi-threaded scheduler (`docs/benchmarks.md`). The threads outlive each step so that
//! connections opened in one step (the AWS SDK's pooled ones too) still have their I/O driver
//! in the next.

use std::cell::Cell;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle};

static THREADS: OnceLock<Vec<Handle>> = OnceLock::new();

thread_local! {
    static INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Which load thread the caller runs on (none: another thread).
pub fn current() -> Option<usize> {
    INDEX.with(Cell::get)
}

/// How many load threads there are, or will be.
pub fn count() -> usize {
    handles().len()
}

/// The load threads' runtimes; empty when none could be started (workers then run on the
/// caller's runtime, which is slower but measures the same).
pub fn handles() -> &'static [Handle] {
    THREADS.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        (0..n).map_while(start).collect()
    })
}

fn start(i: usize) -> Option<Handle> {
    let rt = Builder::new_current_thread().enable_all().build().ok()?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name(format!("rightsize-load-{i}"))
        .spawn(move || {
            INDEX.with(|c| c.set(Some(i)));
            rt.block_on(std::future::pending::<()>())
        })
        .ok()?;
    Some(handle)
}
