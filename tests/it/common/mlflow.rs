//! Starts MLflow's scoring server with a small scikit-learn model, one worker, on a free
//! loopback port: a real model server nobody here wrote, which queues, keeps working on
//! requests its client gave up on, and slows down under load in its own ways.
//!
//! `scripts/test` installs MLflow and scikit-learn into a virtual environment outside the clone
//! (`~/.cache/rightsize/mlflow-venv`, or `RIGHTSIZE_MLFLOW_VENV`) and exports its path. When it is
//! missing, a test fails under `CI=true` and says loudly that it was skipped elsewhere.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Mlflow {
    child: Child,
    pub port: u16,
    /// The JSON body of one request the model accepts.
    pub body: String,
    _dir: tempfile::TempDir,
}

impl Mlflow {
    /// The scoring server's `/invocations` URL.
    pub fn invocations_url(&self) -> String {
        format!("http://127.0.0.1:{}/invocations", self.port)
    }

    /// Saves the model and starts its scoring server with one worker, or returns `None` (after
    /// saying so on stderr) when MLflow is not installed and this is not CI.
    pub fn start(test: &str) -> Option<Mlflow> {
        let Some(venv) = venv() else {
            let msg = "MLflow's virtual environment not found: run the tests with scripts/test (it installs MLflow into ~/.cache/rightsize/mlflow-venv) or set RIGHTSIZE_MLFLOW_VENV";
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{test}: {msg}");
            }
            eprintln!("\n*** SKIPPED {test}: {msg} ***\n");
            return None;
        };
        let bin = venv.join("bin");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        let made = Command::new(bin.join("python"))
            .arg(super::repo_root().join("tests/support/mlflow_model.py"))
            .arg(&model)
            .envs(quiet_env())
            .output()
            .unwrap_or_else(|e| panic!("{test}: cannot run MLflow's python: {e}"));
        assert!(
            made.status.success(),
            "{test}: saving the model failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let body = String::from_utf8(made.stdout).unwrap().trim().to_string();
        let port = super::moto::free_port();
        use std::os::unix::process::CommandExt;
        let child = Command::new(bin.join("mlflow"))
            .args([
                "models",
                "serve",
                "--env-manager",
                "local",
                "--workers",
                "1",
            ])
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-m"])
            .arg(&model)
            .env("PATH", path)
            .envs(quiet_env())
            // Its own process group: `mlflow models serve` starts uvicorn as a child, and both
            // are stopped together.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{test}: cannot start mlflow: {e}"));
        let mut server = Mlflow {
            child,
            port,
            body,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if ping(port) {
                return Some(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{test}: mlflow models serve exited at start with {status}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{test}: MLflow's scoring server did not answer /ping within 120 s");
    }
}

impl Drop for Mlflow {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    }
}

/// No telemetry, no tracking server, no colour: the server reaches nothing but loopback.
fn quiet_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("MLFLOW_DISABLE_TELEMETRY", "true"),
        ("DO_NOT_TRACK", "true"),
        ("PYTHONWARNINGS", "ignore"),
    ]
}

fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

fn venv() -> Option<PathBuf> {
    let dir = match std::env::var("RIGHTSIZE_MLFLOW_VENV") {
        Ok(p) => PathBuf::from(p),
        Err(_) => PathBuf::from(std::env::var("HOME").ok()?).join(".cache/rightsize/mlflow-venv"),
    };
    dir.join("bin/mlflow").exists().then_some(dir)
}
