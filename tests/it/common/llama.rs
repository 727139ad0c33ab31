//! Starts llama.cpp's `llama-server` with the SmolLM2-135M weights on a free loopback port for
//! one test: a real LLM on the CPU.
//!
//! `scripts/test` installs both (scripts/install-llama) into a cache outside the clone and
//! exports `RIGHTSIZE_LLAMA_SERVER` and `RIGHTSIZE_LLAMA_MODEL`. When they are missing, a test
//! fails under `CI=true` and says loudly that it was skipped elsewhere: it never passes
//! silently.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Llama {
    child: Child,
    pub port: u16,
}

impl Llama {
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts llama-server with `parallel` decoding slots, or returns `None` (after saying so)
    /// when it is not installed and this is not CI.
    pub fn start(test: &str, parallel: u32) -> Option<Llama> {
        let path = |var: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.exists())
        };
        let (Some(server), Some(model)) = (
            path("RIGHTSIZE_LLAMA_SERVER"),
            path("RIGHTSIZE_LLAMA_MODEL"),
        ) else {
            let msg = "llama-server or the SmolLM2 weights not found: run the tests with scripts/test (it runs scripts/install-llama) or set RIGHTSIZE_LLAMA_SERVER and RIGHTSIZE_LLAMA_MODEL";
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{test}: {msg}");
            }
            eprintln!("\n*** SKIPPED {test}: {msg} ***\n");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(&server)
            .args(["-m"])
            .arg(&model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["-np", &parallel.to_string()])
            .args(["-c", &(512 * parallel).to_string()])
            // One thread: on a shared 2-core machine two threads' spinning barrier stalls
            // whenever another process takes a core (ITL 630 ms instead of 36 ms, measured).
            .args(["-t", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{test}: cannot start {}: {e}", server.display()));
        let mut llama = Llama { child, port };
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if health_ok(port) {
                return Some(llama);
            }
            if let Ok(Some(status)) = llama.child.try_wait() {
                panic!("{test}: llama-server exited at start with {status}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("{test}: llama-server was not healthy on port {port} within 120 s");
    }
}

/// `GET /health` answers 200 once the model is loaded.
fn health_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(n) => buf[..n].starts_with(b"HTTP/1.1 200"),
        Err(_) => false,
    }
}

impl Drop for Llama {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
