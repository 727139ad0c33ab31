//! Ctrl-C and SIGTERM: the first one cancels a token (the command finishes up and writes what
//! it measured); what a second one does depends on the command.

use tokio_util::sync::CancellationToken;

/// Cancels the returned token on the first Ctrl-C or SIGTERM; exits at once on the second.
pub fn interrupt_token() -> CancellationToken {
    interrupt_token_with(
        "interrupted: finishing up and writing a partial report (press Ctrl-C again to exit at once)",
    )
}

/// Like [`interrupt_token`], saying `message` on the first signal.
pub fn interrupt_token_with(message: &'static str) -> CancellationToken {
    interrupt_token_repeat(message.to_string(), Repeat::Exit)
}

/// What a signal after the first does.
#[derive(Debug, Clone)]
pub enum Repeat {
    /// Exit at once with 130.
    Exit,
    /// Say this and carry on: what the first signal started must finish (a managed campaign's
    /// teardown: exiting would leave endpoints billing).
    Ignore(String),
}

/// Cancels the returned token on the first Ctrl-C or SIGTERM, saying `message`; later signals
/// do what `repeat` says.
pub fn interrupt_token_repeat(message: String, repeat: Repeat) -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        for n in 0.. {
            if wait_for_signal().await.is_err() {
                return;
            }
            if n == 0 {
                eprintln!("\n{message}");
                t.cancel();
            } else {
                match &repeat {
                    Repeat::Exit => {
                        eprintln!("interrupted again: exiting now");
                        std::process::exit(130);
                    }
                    Repeat::Ignore(why) => eprintln!("\n{why}"),
                }
            }
        }
    });
    token
}

async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
