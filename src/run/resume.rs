//! The report folder's lifecycle across runs: a new campaign creates it and stores the
//! campaign's fingerprint in `campaign.json`; `run --resume DIR` checks that fingerprint against
//! the campaign file given and continues from `journal.jsonl`. The search is a pure function of
//! the steps so far, so a resumed campaign offers the same rates an uninterrupted one would.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Campaign;
use crate::error::{Error, Result};
use crate::measure::payload::Payloads;
use crate::measure::stats::StepResult;
use crate::report::{self, Journal};
use crate::rng::Fnv64;

/// Written into the report folder when a campaign starts.
pub const STATE_FILE: &str = "campaign.json";
const STATE_FORMAT: u32 = 1;

/// Keys left out of the fingerprint: the safety caps, which a user raises to let a capped
/// campaign go on, and payload paths, whose content is fingerprinted instead.
const NOT_FINGERPRINTED: [(&str, &str); 5] = [
    ("load", "max_rps"),
    ("load", "max_duration_minutes"),
    ("load", "max_requests"),
    ("payload", "files"),
    ("payload", "jsonl"),
];

/// `campaign.json`: what identifies the campaign a report folder belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub format: u32,
    pub fingerprint: String,
    pub started_at: String,
    /// The fingerprinted campaign, for telling the user what changed.
    pub identity: Value,
}

/// What a campaign's results depend on, as plain JSON: the campaign (header values redacted)
/// without the caps and payload paths, plus a digest of the payload bytes.
pub fn identity(c: &Campaign, payloads: &Payloads) -> Value {
    let mut v = serde_json::to_value(c.redacted()).unwrap_or(Value::Null);
    for (section, key) in NOT_FINGERPRINTED {
        if let Some(Value::Object(m)) = v.get_mut(section) {
            m.remove(key);
        }
    }
    if let Some(Value::Object(m)) = v.get_mut("payload") {
        m.insert("content_digest".into(), Value::String(payloads.digest()));
    }
    v
}

/// A stable hash of an identity (serde_json's maps are sorted, so the text is canonical).
pub fn fingerprint(identity: &Value) -> String {
    let mut h = Fnv64::new();
    h.write(identity.to_string().as_bytes());
    h.hex()
}

/// The keys whose values differ between two identities, as `[section] key: old → new`.
fn differences(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return out;
    };
    let mut sections: Vec<&String> = o.keys().chain(n.keys()).collect();
    sections.sort();
    sections.dedup();
    for s in sections {
        let (a, b) = (o.get(s), n.get(s));
        if a == b {
            continue;
        }
        match (a.and_then(Value::as_object), b.and_then(Value::as_object)) {
            (Some(am), Some(bm)) => {
                let mut keys: Vec<&String> = am.keys().chain(bm.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let (x, y) = (am.get(k), bm.get(k));
                    if x != y {
                        let show = |v: Option<&Value>| v.map_or("(unset)".into(), Value::to_string);
                        out.push(format!("[{s}] {k}: {} → {}", show(x), show(y)));
                    }
                }
            }
            _ => out.push(format!("{s} changed")),
        }
    }
    out
}

/// Where a run writes, and what it starts from.
pub struct Session {
    pub dir: PathBuf,
    pub journal: Journal,
    /// Steps already completed (from the journal, when resuming).
    pub steps: Vec<StepResult>,
    pub started_at: String,
}

/// A new campaign: creates the report folder and writes `campaign.json`.
pub fn start(
    c: &Campaign,
    payloads: &Payloads,
    out: Option<&Path>,
    reports_root: &Path,
) -> Result<Session> {
    let started_at = report::now_rfc3339();
    let dir = report::create_report_dir(out, reports_root, &c.name, &report::now_stamp())?;
    let identity = identity(c, payloads);
    let state = State {
        format: STATE_FORMAT,
        fingerprint: fingerprint(&identity),
        started_at: started_at.clone(),
        identity,
    };
    let text = serde_json::to_string_pretty(&state).map_err(|e| Error::Other(e.to_string()))?;
    report::write_atomic(&dir.join(STATE_FILE), text.as_bytes())?;
    let journal = Journal::create(&dir)?;
    Ok(Session {
        dir,
        journal,
        steps: Vec::new(),
        started_at,
    })
}

/// Continues the campaign whose report folder is `dir`. Every problem is bad input (exit 2).
pub fn resume(dir: &Path, c: &Campaign, payloads: &Payloads) -> Result<Session> {
    if !dir.exists() {
        return Err(Error::input(format!(
            "--resume {}: no such report folder",
            dir.display()
        )));
    }
    if !dir.is_dir() {
        return Err(Error::input(format!(
            "--resume {}: is a file; give the report folder that holds journal.jsonl",
            dir.display()
        )));
    }
    let state_path = dir.join(STATE_FILE);
    let text = std::fs::read(&state_path).map_err(|e| {
        Error::input(format!(
            "--resume {}: cannot read {STATE_FILE} ({e}); only a folder written by `rightsize run` can be resumed",
            dir.display()
        ))
    })?;
    let state: State = serde_json::from_slice(&text).map_err(|e| {
        Error::input(format!(
            "{}: damaged ({e}); this folder cannot be resumed, start a new run",
            state_path.display()
        ))
    })?;
    if state.format != STATE_FORMAT {
        return Err(Error::input(format!(
            "{}: format {} is not supported (this rightsize writes {STATE_FORMAT}); start a new run",
            state_path.display(),
            state.format
        )));
    }
    let current = identity(c, payloads);
    let now = fingerprint(&current);
    if now != state.fingerprint {
        let diffs = differences(&state.identity, &current);
        let what = if diffs.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                diffs.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            )
        };
        return Err(Error::input(format!(
            "--resume {}: this folder belongs to a different campaign (fingerprint {} there, {now} for this file){what}. Resume with the campaign file that started it, or start a new run without --resume",
            dir.display(),
            state.fingerprint
        )));
    }
    let (journal, steps) = Journal::reopen(dir)?;
    Ok(Session {
        dir: dir.to_path_buf(),
        journal,
        steps,
        started_at: state.started_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(extra_load: &str) -> Campaign {
        let text = format!(
            "name = \"t\"\n[target]\nkind = \"http\"\nurl = \"http://127.0.0.1:9/x\"\nheaders = {{ Authorization = \"secret\" }}\n[payload]\nbody = '{{}}'\n[requirements]\np99_ms = 100\nmax_error_percent = 1\npeak_tps = 10\n[load]\n{extra_load}\n"
        );
        Campaign::parse(&text, Path::new("c.toml"), Path::new(".")).unwrap()
    }

    #[test]
    fn the_fingerprint_ignores_caps_and_secrets_but_not_what_is_measured() {
        let p = Payloads::single("{}");
        let base = fingerprint(&identity(&campaign(""), &p));
        let caps = campaign("max_rps = 10\nmax_requests = 5\nmax_duration_minutes = 1");
        assert_eq!(fingerprint(&identity(&caps, &p)), base);
        let mut secret = campaign("");
        secret
            .target
            .headers
            .insert("Authorization".into(), "other".into());
        assert_eq!(fingerprint(&identity(&secret, &p)), base);
        let steps = campaign("step_seconds = 3");
        assert_ne!(fingerprint(&identity(&steps, &p)), base);
        assert_ne!(
            fingerprint(&identity(&campaign(""), &Payloads::single("{\"a\":1}"))),
            base,
            "the payload bytes are part of the campaign"
        );
        let d = differences(&identity(&campaign(""), &p), &identity(&steps, &p));
        assert_eq!(d, vec!["[load] step_seconds: 60.0 → 3.0".to_string()]);
    }
}
