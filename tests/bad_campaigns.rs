//! Bad campaign files: each gets exit code 2 and a message naming the problem, never a panic.

mod common;

use common::*;

const GOOD: &str = r#"name = "t"
[target]
kind = "http"
url = "http://127.0.0.1:9/invocations"
[payload]
body = '{"x": 1}'
[requirements]
p99_ms = 100
max_error_percent = 0.1
peak_tps = 50
"#;

fn check(name: &str, campaign: &str, files: &[(&str, &[u8])], fragments: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), campaign).unwrap();
    for (f, data) in files {
        std::fs::write(dir.path().join(f), data).unwrap();
    }
    let out = run_bin(&["run", "c.toml", "--quiet"], dir.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{name}: stdout {stdout}\nstderr {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    assert!(
        stderr.contains("c.toml"),
        "{name}: the message must name the file: {stderr}"
    );
    for f in fragments {
        assert!(stderr.contains(f), "{name}: expected {f:?} in {stderr}");
    }
    assert!(
        !dir.path().join("reports").exists(),
        "{name}: no report folder for bad input"
    );
}

#[test]
fn bad_campaign_files_exit_2_naming_the_problem() {
    check(
        "missing key",
        &GOOD.replace("p99_ms = 100\n", ""),
        &[],
        &["missing field `p99_ms`"],
    );
    check(
        "unknown key",
        &GOOD.replace("[payload]", "tiemout_ms = 5\n[payload]"),
        &[],
        &["line 5", "unknown field `tiemout_ms`"],
    );
    check(
        "wrong type",
        &GOOD.replace("peak_tps = 50", "peak_tps = \"lots\""),
        &[],
        &["line 10", "invalid type"],
    );
    check(
        "negative rate",
        &format!("{GOOD}[load]\nstart_rps = -5\n"),
        &[],
        &["[load] start_rps = -5", "greater than 0"],
    );
    check(
        "missing payload file",
        &GOOD.replace("body = '{\"x\": 1}'", "files = [{ path = \"nope.json\" }]"),
        &[],
        &["nope.json", "cannot read"],
    );
    check(
        "empty jsonl",
        &GOOD.replace("body = '{\"x\": 1}'", "jsonl = \"e.jsonl\""),
        &[("e.jsonl", b"\n\n")],
        &["e.jsonl", "no request bodies"],
    );
    check(
        "bad jsonl line",
        &GOOD.replace("body = '{\"x\": 1}'", "jsonl = \"b.jsonl\""),
        &[("b.jsonl", b"{\"a\":1}\n{broken\n")],
        &["b.jsonl line 2", "not valid JSON"],
    );
    check(
        "syntax error",
        "name = \"t\"\n[target\nkind = \"http\"\n",
        &[],
        &["line 2"],
    );
    check("no such file", "", &[], &[]);
}

#[test]
fn a_missing_campaign_file_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_bin(&["run", "absent.toml"], dir.path());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("absent.toml") && stderr.contains("cannot read"),
        "{stderr}"
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["frobnicate"][..],
        &["run"][..],
        &["fake-endpoint", "--slots", "many"][..],
    ] {
        let out = run_bin(args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
