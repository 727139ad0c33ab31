//! A validation problem in a campaign file, and how it becomes the message a user reads (file,
//! line, key, fix). At the bottom of `config`: every section imports it, it imports none of them.

use std::path::Path;

use crate::error::Error;

/// A validation problem before it is tied to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub section: &'static str,
    pub key: &'static str,
    pub message: String,
}

impl Issue {
    pub(super) fn into_error(self, file: &Path, text: &str) -> Error {
        let line = find_key_line(text, self.section, self.key)
            .map(|l| format!(" line {l}"))
            .unwrap_or_default();
        let key = if self.section.is_empty() {
            self.key.to_string()
        } else {
            format!("[{}] {}", self.section, self.key)
        };
        Error::input(format!("{}{line}: {key} {}", file.display(), self.message))
    }
}

/// An issue in `[section] key`.
pub fn bad(section: &'static str, key: &'static str, message: String) -> Issue {
    Issue {
        section,
        key,
        message,
    }
}

pub fn positive(section: &'static str, key: &'static str, v: f64) -> Result<(), Issue> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Issue {
            section,
            key,
            message: format!("= {v} must be a number greater than 0"),
        })
    }
}

/// 1-based line number of a byte offset.
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The 1-based line where `key` is set inside `[section]` ("" for the top level), if any.
fn find_key_line(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix('[') {
            current = rest.trim_end_matches(']').trim().to_string();
            continue;
        }
        if current == section
            && let Some(after) = l.strip_prefix(key)
            && after.trim_start().starts_with('=')
        {
            return Some(i + 1);
        }
    }
    None
}
