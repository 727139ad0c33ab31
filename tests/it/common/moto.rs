//! Starts moto's server (the AWS emulator) on a free loopback port for one test.
//!
//! `scripts/test` installs moto into `target/moto-venv` and exports `RIGHTSIZE_MOTO_SERVER`.
//! When moto cannot be started, a test fails under `CI=true` and says loudly that it was
//! skipped elsewhere: it never passes silently.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    /// The server's base URL, e.g. `http://127.0.0.1:5123`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts moto, or returns `None` (after saying so on stderr) when it is not installed and
    /// this is not CI. Under `CI=true` a missing moto is a test failure.
    pub fn start(test: &str) -> Option<Moto> {
        let exe = moto_executable();
        let exe = match exe {
            Some(e) => e,
            None => {
                let msg = "moto_server not found: run the tests with scripts/test (it installs moto into target/moto-venv) or set RIGHTSIZE_MOTO_SERVER";
                if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                    panic!("{test}: {msg}");
                }
                eprintln!("\n*** SKIPPED {test}: {msg} ***\n");
                return None;
            }
        };
        let port = free_port();
        let child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{test}: cannot start {}: {e}", exe.display()));
        let mut moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(moto);
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("{test}: moto_server exited at start with {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{test}: moto_server did not listen on port {port} within 30 s");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_executable() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("RIGHTSIZE_MOTO_SERVER") {
        let p = PathBuf::from(p);
        if p.exists() {
            return Some(p);
        }
    }
    let local = super::repo_root().join("target/moto-venv/bin/moto_server");
    local.exists().then_some(local)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
