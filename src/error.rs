//! The library's error type and how each kind maps to the process exit code.
//!
//! Exit codes are a contract (architecture.md): 2 for bad input the user can fix, 1 for
//! anything else that went wrong. 0, 3 and 130 are outcomes, not errors, and live in
//! [`crate::run::campaign::Outcome`].

use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: a campaign file, payload, report file or argument. Exit code 2.
    /// The message names the file, the key and the fix.
    #[error("{0}")]
    Input(String),

    /// Reading or writing a file failed for reasons outside the input's content.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Anything else: a target that cannot be built, a server that cannot bind, a cloud call.
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn input(msg: impl Into<String>) -> Self {
        Error::Input(msg.into())
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::Io { .. } | Error::Other(_) => 1,
        }
    }
}
