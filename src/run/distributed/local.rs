//! The `local` backend: every shard is a `rightsize shard` child process on this machine. It
//! is also how the tests run shards for real.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::backend::{Backend, BoxFuture, ShardRun, StepOrder};
use crate::error::{Error, Result};
use crate::measure::wire::ShardResult;

/// N child processes of `program` (the rightsize binary).
#[derive(Debug, Clone)]
pub struct Local {
    pub program: PathBuf,
    pub campaign_file: PathBuf,
}

impl Local {
    /// The command line of shard `k`.
    pub fn command(&self, order: &StepOrder, k: u32) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.arg("shard")
            .arg(&self.campaign_file)
            .args(order.shard_args())
            .arg("--index")
            .arg(k.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }
}

impl Backend for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn run<'a>(
        &'a self,
        order: &'a StepOrder,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<ShardRun>>> {
        Box::pin(async move {
            let mut children = Vec::new();
            for k in 0..order.shards {
                let child = self.command(order, k).spawn().map_err(|e| {
                    Error::Other(format!(
                        "cannot start shard {k} ({}): {e}",
                        self.program.display()
                    ))
                })?;
                children.push((k, child));
            }
            Ok(collect(children, order, cancel).await)
        })
    }
}

/// Waits for every child (killing them all on `cancel` or past the order's deadline) and reads
/// each one's result line.
pub async fn collect(
    children: Vec<(u32, Child)>,
    order: &StepOrder,
    cancel: &CancellationToken,
) -> Vec<ShardRun> {
    let deadline = tokio::time::Instant::now() + order.deadline();
    let mut set = tokio::task::JoinSet::new();
    for (k, child) in children {
        let cancel = cancel.clone();
        // Dropping a child that has not exited kills it (kill_on_drop).
        set.spawn(async move {
            tokio::select! {
                r = finish(k, child) => r,
                _ = tokio::time::sleep_until(deadline) => ShardRun::Failed {
                    shard: k,
                    reason: "did not finish in time; stopped".into(),
                },
                _ = cancel.cancelled() => ShardRun::Failed {
                    shard: k,
                    reason: "interrupted".into(),
                },
            }
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(r) => out.push(r),
            Err(e) => eprintln!("warning: a shard's waiter failed: {e}"),
        }
    }
    out
}

/// One child to its end: its result line, or why there is none.
async fn finish(k: u32, mut child: Child) -> ShardRun {
    let mut out = String::new();
    let mut err = String::new();
    let (mut so, mut se) = (child.stdout.take(), child.stderr.take());
    let read_out = async {
        if let Some(s) = so.as_mut() {
            let _ = s.read_to_string(&mut out).await;
        }
    };
    let read_err = async {
        if let Some(s) = se.as_mut() {
            let _ = s.read_to_string(&mut err).await;
        }
    };
    tokio::join!(read_out, read_err);
    let status = child.wait().await;
    parse_output(k, status.ok().and_then(|s| s.code()), &out, &err)
}

/// A shard's result from what it printed: the last line on stdout, when it exited with 0.
pub fn parse_output(k: u32, code: Option<i32>, stdout: &str, stderr: &str) -> ShardRun {
    let tail = stderr.trim().lines().last().unwrap_or("").to_string();
    if code != Some(0) {
        return ShardRun::Failed {
            shard: k,
            reason: match code {
                Some(c) => format!("exited with code {c}: {tail}"),
                None => "was killed, or had not finished".to_string(),
            },
        };
    }
    // The result is the last line that reads as one (a pod's log mixes in stderr).
    let mut last_error = None;
    for line in stdout
        .lines()
        .rev()
        .filter(|l| l.trim_start().starts_with('{'))
    {
        match ShardResult::parse(line) {
            Ok(r) if r.shard == k => return ShardRun::Done(Box::new(r)),
            Ok(r) => {
                return ShardRun::Failed {
                    shard: k,
                    reason: format!("returned shard {}'s result", r.shard),
                };
            }
            Err(e) => last_error = last_error.or(Some(e.to_string())),
        }
    }
    ShardRun::Failed {
        shard: k,
        reason: last_error.unwrap_or_else(|| "printed no result".into()),
    }
}
