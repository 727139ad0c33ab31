//! `rightsize completions SHELL` and `rightsize man`: shell completion scripts and manual pages,
//! generated from the same clap definitions that parse the command line, so they cannot drift
//! from it. Each function takes the command definition (`Cli::command()`) from the caller.

use std::io::Write;
use std::path::Path;

use clap::Command;
use clap_complete::Shell;

use crate::error::{Error, Result};

/// The completion script for `shell`.
pub fn completions(mut cmd: Command, shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "rightsize", &mut out);
    out
}

/// The manual page of `rightsize` (roff), with its commands listed.
pub fn man_page(cmd: Command) -> Vec<u8> {
    let mut out = Vec::new();
    // Rendering into memory cannot fail.
    let _ = clap_mangen::Man::new(cmd).render(&mut out);
    out
}

/// Writes generated text to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub fn print(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Other(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// Writes `rightsize.1` and one `rightsize-COMMAND.1` per command into `dir` (created if needed).
pub fn man_pages_to(cmd: Command, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    clap_mangen::generate_to(cmd, dir).map_err(|e| Error::io(dir, e))
}
