//! The report: `report.json` (the contract every other output is rendered from), the step
//! journal, the report folder, and the plain-text summary printed at the end of a run.
//! What people read is rendered from it: `report.html`, `summary.md`, `steps.csv` (see
//! [`render`]) and the comparison across reports ([`compare`]).

pub mod chart;
pub mod compare;
pub mod compare_page;
pub mod figures;
pub mod html;
pub mod managed;
pub mod markdown;
pub mod render;
pub mod stream_figures;
pub mod text;

#[cfg(test)]
pub mod test_support;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Campaign;
use crate::decide::recommend::Recommendation;
use crate::error::{Error, Result};
use crate::measure::stats::StepResult;

pub const SCHEMA_VERSION: u32 = 1;
pub const REPORT_FILE: &str = "report.json";
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool_version: String,
    pub started_at: String,
    pub finished_at: String,
    /// The resolved campaign, never credentials.
    pub campaign: Campaign,
    pub steps: Vec<StepResult>,
    /// Best passing achieved rate, per instance.
    pub max_rps: Option<f64>,
    /// `[load] mode = "concurrency"`: C_max, the highest concurrency whose step met every
    /// requirement, per instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency_per_instance: Option<u64>,
    pub recommendation: Option<Recommendation>,
    /// Written after an interrupt or a cap: the steps are all that was completed.
    #[serde(default)]
    pub partial: bool,
    /// Why the campaign stopped, in words.
    #[serde(default)]
    pub stop_reason: String,
    /// Managed campaigns only: the endpoint deployed for this report (and the endurance check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<managed::ManagedInfo>,
}

impl Report {
    /// Reads and checks a saved report. Any problem is bad input (exit code 2).
    pub fn load(path: &Path) -> Result<Report> {
        let text = std::fs::read(path).map_err(|e| {
            Error::input(format!("{}: cannot read the report: {e}", path.display()))
        })?;
        Report::from_slice(&text, path)
    }

    pub fn from_slice(bytes: &[u8], path: &Path) -> Result<Report> {
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            Error::input(format!(
                "{}: not a rightsize report (invalid JSON: {e})",
                path.display()
            ))
        })?;
        let Some(fields) = v.as_object() else {
            return Err(Error::input(format!(
                "{}: not a rightsize report (a report is a JSON object, this is {})",
                path.display(),
                match v {
                    serde_json::Value::Array(_) => "an array",
                    serde_json::Value::String(_) => "a string",
                    serde_json::Value::Number(_) => "a number",
                    serde_json::Value::Bool(_) => "a boolean",
                    _ => "null",
                }
            )));
        };
        match fields.get("schema_version") {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(SCHEMA_VERSION)) => {
            }
            Some(other) => {
                return Err(Error::input(format!(
                    "{}: schema_version {other} is not supported (this rightsize reads version {SCHEMA_VERSION}); re-run the campaign with this version",
                    path.display()
                )));
            }
            None => {
                return Err(Error::input(format!(
                    "{}: not a rightsize report (no schema_version key)",
                    path.display()
                )));
            }
        }
        let report: Report = serde_json::from_slice(bytes)
            .map_err(|e| Error::input(format!("{}: the report is damaged: {e}", path.display())))?;
        report.campaign.validate().map_err(|i| {
            Error::input(format!(
                "{}: campaign.{}{} {}",
                path.display(),
                if i.section.is_empty() {
                    String::new()
                } else {
                    format!("{}.", i.section)
                },
                i.key,
                i.message
            ))
        })?;
        Ok(report)
    }

    pub fn to_json(&self) -> String {
        // A report is plain data; serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader never sees a
/// half-written file and a crash never leaves one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Keeps letters, digits, `.`, `_` and `-` of a user-supplied name, so it is safe as a file name.
pub fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches(|c| c == '.' || c == '-').to_string();
    let s: String = s.chars().take(64).collect();
    if s.is_empty() { "campaign".into() } else { s }
}

/// Creates the report folder: `dir` when given (it must not already hold a report), else a new
/// `<root>/<name>-<UTC timestamp>` that never overwrites an existing folder.
pub fn create_report_dir(
    out: Option<&Path>,
    root: &Path,
    name: &str,
    stamp: &str,
) -> Result<PathBuf> {
    if let Some(dir) = out {
        if dir.join(REPORT_FILE).exists() || dir.join(JOURNAL_FILE).exists() {
            return Err(Error::input(format!(
                "{}: already holds a report; choose another --out folder (reports are never overwritten), or continue an unfinished one with --resume",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        return Ok(dir.to_path_buf());
    }
    std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    let base = format!("{}-{stamp}", sanitize(name));
    for n in 1..1000 {
        let candidate = if n == 1 {
            root.join(&base)
        } else {
            root.join(format!("{base}-{n}"))
        };
        match std::fs::create_dir(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&candidate, e)),
        }
    }
    Err(Error::Other(format!(
        "{}: could not find a free report folder name for {base}",
        root.display()
    )))
}

/// Appends completed steps to `journal.jsonl`, one JSON object per line, synced as written.
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    pub fn create(dir: &Path) -> Result<Journal> {
        let path = dir.join(JOURNAL_FILE);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(Journal { path, file })
    }

    pub fn append(&mut self, step: &StepResult) -> Result<()> {
        let mut line = serde_json::to_string(step).map_err(|e| Error::Other(e.to_string()))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Opens the journal of a folder being resumed: returns the steps it holds, with a torn
    /// last line (a crash mid-write) cut off so that new entries start on a line of their own.
    /// A missing journal is an empty one.
    pub fn reopen(dir: &Path) -> Result<(Journal, Vec<StepResult>)> {
        let path = dir.join(JOURNAL_FILE);
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
                Error::input(format!(
                    "{}: not a journal (not UTF-8 text); this folder cannot be resumed",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let steps = Journal::parse(&text, &path)?;
        let mut journal = Journal::create(dir)?;
        if !text.is_empty() && !text.ends_with('\n') {
            let complete = text.rfind('\n').map_or(0, |i| i + 1);
            let whole_lines = text[..complete]
                .lines()
                .filter(|l| !l.trim().is_empty())
                .count();
            if steps.len() > whole_lines {
                // The last entry is whole, only its newline is missing.
                journal
                    .file
                    .write_all(b"\n")
                    .map_err(|e| Error::io(&path, e))?;
            } else {
                journal
                    .file
                    .set_len(complete as u64)
                    .map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok((journal, steps))
    }

    /// Reads the steps recorded in a journal. A torn last line (a crash mid-write) is ignored.
    pub fn read(path: &Path) -> Result<Vec<StepResult>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::input(format!("{}: cannot read the journal: {e}", path.display()))
        })?;
        Journal::parse(&text, path)
    }

    /// Parses journal text; `path` names it in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Vec<StepResult>> {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .collect();
        let mut steps = Vec::with_capacity(lines.len());
        let damaged = |n: usize, what: String| {
            Error::input(format!(
                "{} line {n}: not a journal entry: {what}; the journal is damaged, start a new run",
                path.display()
            ))
        };
        for (k, (n, line)) in lines.iter().enumerate() {
            match serde_json::from_str::<StepResult>(line) {
                Ok(s) => {
                    if !(s.offered_rps.is_finite() && s.offered_rps > 0.0) {
                        return Err(damaged(n + 1, format!("offered_rps {}", s.offered_rps)));
                    }
                    steps.push(s)
                }
                Err(_) if k + 1 == lines.len() && !text.ends_with('\n') => break,
                Err(e) => return Err(damaged(n + 1, e.to_string())),
            }
        }
        Ok(steps)
    }
}

/// Current UTC time as RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Current UTC time as a compact folder stamp, e.g. `20261123T111653Z`.
pub fn now_stamp() -> String {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::now_utc()
        .format(&f)
        .unwrap_or_else(|_| "00000000T000000Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_safe_names_and_replaces_the_rest() {
        assert_eq!(sanitize("demo"), "demo");
        assert_eq!(sanitize("../../etc/passwd"), "etc-passwd");
        assert_eq!(sanitize("a b<script>"), "a-b-script");
        assert_eq!(sanitize("///"), "campaign");
        assert_eq!(sanitize(&"x".repeat(200)).len(), 64);
    }

    #[test]
    fn report_folders_are_never_reused() {
        let root = tempfile::tempdir().unwrap();
        let a = create_report_dir(None, root.path(), "demo", "20260101T000000Z").unwrap();
        let b = create_report_dir(None, root.path(), "demo", "20260101T000000Z").unwrap();
        assert_ne!(a, b);
        assert!(b.ends_with("demo-20260101T000000Z-2"));
        std::fs::write(a.join(REPORT_FILE), "{}").unwrap();
        let e = create_report_dir(Some(&a), root.path(), "demo", "x").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("already holds a report"));
    }

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn atomic_write_replaces_the_file_instead_of_writing_into_it() {
        // A reader holding the old file (here: a hard link to it) keeps the old content whole:
        // the new content went to a temporary file that was renamed over the name.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.json");
        write_atomic(&p, b"old report").unwrap();
        let reader = dir.path().join("reader.json");
        std::fs::hard_link(&p, &reader).unwrap();
        write_atomic(&p, b"new report, longer than the old one").unwrap();
        assert_eq!(std::fs::read(&reader).unwrap(), b"old report");
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"new report, longer than the old one"
        );
    }

    fn journal_entry(rate: f64) -> String {
        let s = crate::measure::stats::StepMeasurement {
            concurrency: None,
            stream_format: None,
            offered_rps: rate,
            abort: None,
            failed_early: None,
            served: crate::measure::stats::Served {
                rps: 0.0,
                steady: false,
            },
            window_s: 1.0,
            warmup_s: 0.0,
            sent: 1,
            unsent: 0,
            peak_in_flight: 0,
            max_concurrency: 1,
            shard: Default::default(),
        }
        .into_result();
        serde_json::to_string(&s).unwrap()
    }

    #[test]
    fn a_torn_last_journal_line_is_ignored_but_a_damaged_middle_line_is_an_error() {
        let p = Path::new("journal.jsonl");
        let (a, b) = (journal_entry(10.0), journal_entry(20.0));
        let torn = format!("{a}\n{b}\n{}", &b[..b.len() / 2]);
        let steps = Journal::parse(&torn, p).unwrap();
        assert_eq!(steps.len(), 2);
        let damaged = format!("{a}\n\n{{oops\n{b}\n");
        let e = Journal::parse(&damaged, p).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("journal.jsonl line 3"), "{e}");
    }

    #[test]
    fn reopening_a_journal_cuts_a_torn_line_so_new_entries_stay_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            journal_entry(10.0),
            journal_entry(20.0),
            journal_entry(40.0),
        );
        let path = dir.path().join(JOURNAL_FILE);
        std::fs::write(&path, format!("{a}\n{b}\n{}", &c[..7])).unwrap();
        let (mut j, steps) = Journal::reopen(dir.path()).unwrap();
        assert_eq!(steps.len(), 2);
        j.append(&steps[0]).unwrap();
        assert_eq!(Journal::read(&path).unwrap().len(), 3);
        // A whole last entry missing only its newline is kept.
        std::fs::write(&path, format!("{a}\n{b}")).unwrap();
        let (mut j, steps) = Journal::reopen(dir.path()).unwrap();
        assert_eq!(steps.len(), 2);
        j.append(&steps[0]).unwrap();
        assert_eq!(Journal::read(&path).unwrap().len(), 3);
        // No journal at all is an empty one.
        let empty = tempfile::tempdir().unwrap();
        assert!(Journal::reopen(empty.path()).unwrap().1.is_empty());
    }

    #[test]
    fn wrong_versions_and_garbage_are_bad_input() {
        let p = Path::new("r.json");
        let e = Report::from_slice(b"not json", p).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("invalid JSON"), "{e}");
        let e = Report::from_slice(br#"{"schema_version": 99}"#, p).unwrap_err();
        assert!(
            e.to_string().contains("schema_version 99 is not supported"),
            "{e}"
        );
        let e = Report::from_slice(br#"{"steps": []}"#, p).unwrap_err();
        assert!(e.to_string().contains("no schema_version"), "{e}");
        let e = Report::from_slice(br#"{"schema_version": 1, "steps": 3}"#, p).unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
    }
}
