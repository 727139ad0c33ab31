//! The bad input corpus (tests/corpus/cases.toml): malformed campaign files, payloads,
//! arguments, resume folders and report files. Each must exit 2 with a message naming the
//! problem, never panic, and never leave a report folder behind.

use std::path::Path;

use crate::common::*;
use serde::Deserialize;

/// Every command that reads a saved report; each [[report]] case runs against all of them.
/// Every command that reads a saved report; each must refuse every corrupted report file.
const REPORT_COMMANDS: &[&[&str]] = &[&["check-report"], &["report"], &["recommend"], &["compare"]];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    campaign: Vec<Case>,
    command: Vec<Case>,
    report: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default = "two")]
    exit: i32,
    expect: Vec<String>,
}

fn two() -> i32 {
    2
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs one case in a fresh copy of the corpus; returns a description of what went wrong.
fn check(
    name: &str,
    args: &[String],
    exit: i32,
    expect: &[String],
    names_file: Option<&str>,
) -> Option<String> {
    let scratch = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("tests/corpus"), scratch.path());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_bin(&argv, scratch.path());
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}{stderr}");
    let mut problems = Vec::new();
    if out.status.code() != Some(exit) {
        problems.push(format!("exit {:?}, expected {exit}", out.status.code()));
    }
    if stderr.contains("panicked") {
        problems.push("it panicked".into());
    }
    for f in expect {
        if !all.contains(f.as_str()) {
            problems.push(format!("no {f:?} in the output"));
        }
    }
    if let Some(file) = names_file
        && exit != 0
        && !stderr.contains(file)
    {
        problems.push(format!("the message does not name {file}"));
    }
    if exit == 2
        && scratch
            .path()
            .join("reports")
            .read_dir()
            .is_ok_and(|d| d.count() > 0)
    {
        problems.push("a report folder was created for bad input".into());
    }
    (!problems.is_empty()).then(|| {
        format!(
            "{name} ({}): {}\n  stdout: {stdout}\n  stderr: {stderr}",
            argv.join(" "),
            problems.join("; ")
        )
    })
}

#[test]
fn every_bad_input_in_the_corpus_exits_2_with_its_message_and_never_panics() {
    let text = std::fs::read_to_string(repo_root().join("tests/corpus/cases.toml")).unwrap();
    let corpus: Corpus = toml::from_str(&text).unwrap();
    let mut failures = Vec::new();
    let mut cases = 0;
    for c in &corpus.campaign {
        let file = c.file.clone().expect("a [[campaign]] case names its file");
        let shown = Path::new(&file)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let args = vec!["run".to_string(), file, "--quiet".to_string()];
        failures.extend(check(&c.name, &args, c.exit, &c.expect, Some(&shown)));
        cases += 1;
    }
    for c in &corpus.command {
        failures.extend(check(&c.name, &c.args, c.exit, &c.expect, None));
        cases += 1;
    }
    for c in &corpus.report {
        let file = c.file.clone().expect("a [[report]] case names its file");
        // A report that must load is only checked, not rendered: rendering writes beside it.
        let commands = if c.exit == 0 {
            &REPORT_COMMANDS[..1]
        } else {
            REPORT_COMMANDS
        };
        for cmd in commands {
            let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
            args.push(file.clone());
            failures.extend(check(&c.name, &args, c.exit, &c.expect, Some(&file)));
        }
        cases += 1;
    }
    assert!(cases >= 30, "the corpus shrank to {cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} corpus cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
