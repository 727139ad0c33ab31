//! Interrupts with the real binary and real signals: the first SIGINT or SIGTERM ends the
//! current step (discarded), writes the report of the completed steps marked partial and exits
//! 130; a second signal exits at once, whatever the first one is still finishing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use rightsize::sim::{FakeConfig, FakeEndpoint};

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig} failed");
}

/// Waits for the process to exit, at most `limit`; kills it and fails the test otherwise.
fn wait_exit(child: &mut Child, limit: Duration) -> i32 {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("the process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lines in a journal so far.
fn journal_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

async fn wait_for_steps(dir: &Path, n: usize, child: &mut Child) {
    let t0 = Instant::now();
    while journal_lines(dir) < n {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the campaign ended early"
        );
        assert!(t0.elapsed() < Duration::from_secs(60), "no step finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_interrupt_writes_a_partial_report_of_completed_steps_and_exits_130() {
    let endpoint = FakeEndpoint::start_local(FakeConfig {
        service_ms: 2.0,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    for sig in ["-INT", "-TERM"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("c.toml"),
            campaign(
                "interrupted",
                &endpoint.invocations_url(),
                500.0,
                "search = \"walk\"\nwalk = [10, 20, 40, 80]",
            )
            .replace("step_seconds = 2\n", "step_seconds = 4\n"),
        )
        .unwrap();
        let mut child = Command::new(bin())
            .args(["run", "c.toml", "--out", "r", "--quiet"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = dir.path().join("r");
        wait_for_steps(&out, 1, &mut child).await;
        signal(&child, sig);
        let code = wait_exit(&mut child, Duration::from_secs(30));
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(code, 130, "{sig}: {stdout}\n{stderr}");
        assert!(stderr.contains("interrupted"), "{sig}: {stderr}");
        let json = read_json(&out.join("report.json"));
        assert_matches_schema(&json, "report.schema.json");
        assert_eq!(json["partial"], true, "{sig}");
        let steps = json["steps"].as_array().unwrap().len();
        assert!((1..4).contains(&steps), "{sig}: {steps} steps");
        assert_eq!(
            steps,
            journal_lines(&out),
            "{sig}: report and journal agree"
        );
        assert!(
            json["stop_reason"]
                .as_str()
                .unwrap()
                .contains("interrupted"),
            "{sig}: {}",
            json["stop_reason"]
        );
        assert!(stdout.contains("Partial report"), "{sig}: {stdout}");
    }
}

/// Starts `rightsize fake-endpoint` on a free port with `service_ms`, returns it and its port.
fn start_fake_endpoint(service_ms: &str) -> (Child, u16) {
    let mut child = Command::new(bin())
        .args(["fake-endpoint", "--port", "0", "--service-ms", service_ms])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port = first
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    (child, port)
}

/// Opens a connection, checks it is served (GET /ping), then sends one invocation on it.
fn send_invocation(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    s.write_all(b"POST /invocations HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        .unwrap();
    // Let the server start on it before the signal comes.
    std::thread::sleep(Duration::from_millis(500));
    s
}

#[test]
fn a_first_interrupt_lets_requests_in_flight_finish() {
    let (mut child, port) = start_fake_endpoint("1500");
    let mut conn = send_invocation(port);
    signal(&child, "-INT");
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the request in flight was cut: {answer:?}"
    );
    assert_eq!(wait_exit(&mut child, Duration::from_secs(20)), 0);
}

#[test]
fn a_second_interrupt_exits_at_once_with_130() {
    // The request in flight would take ten minutes: the first signal waits for it, the second
    // does not.
    let (mut child, port) = start_fake_endpoint("600000");
    let _conn = send_invocation(port);
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first signal must wait for the request in flight"
    );
    signal(&child, "-INT");
    assert_eq!(wait_exit(&mut child, Duration::from_secs(20)), 130);
}
