//! Writes the files people read: `report.html`, `summary.md` and `steps.csv` beside a
//! `report.json`, and `compare.html`, `compare.json` and `compare.md` for a comparison.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::compare::{Comparison, Input};
use super::{Report, compare_page, html, markdown, write_atomic};

pub const HTML_FILE: &str = "report.html";
pub const SUMMARY_FILE: &str = "summary.md";
pub const STEPS_FILE: &str = "steps.csv";
pub const COMPARE_JSON: &str = "compare.json";
pub const COMPARE_HTML: &str = "compare.html";
pub const COMPARE_MD: &str = "compare.md";

/// Renders a report's HTML, Markdown and CSV into `dir`; returns the files written.
pub fn write_outputs(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    let files = [
        (HTML_FILE, html::render_report(report)?),
        (SUMMARY_FILE, markdown::summary(report)),
        (STEPS_FILE, markdown::steps_csv(report)),
    ];
    write_all(dir, &files)
}

/// Writes a comparison's JSON, HTML and Markdown into `dir`; returns the files written.
pub fn write_comparison(c: &Comparison, inputs: &[Input], dir: &Path) -> Result<Vec<PathBuf>> {
    let json = serde_json::to_string_pretty(c).map_err(|e| Error::Other(e.to_string()))?;
    let files = [
        (COMPARE_JSON, json),
        (COMPARE_HTML, compare_page::render_html(c, inputs)?),
        (COMPARE_MD, compare_page::render_markdown(c)),
    ];
    write_all(dir, &files)
}

fn write_all(dir: &Path, files: &[(&str, String)]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// Loads the reports to compare; each is named by its path as given.
pub fn load_inputs(paths: &[PathBuf]) -> Result<Vec<Input>> {
    paths
        .iter()
        .map(|p| {
            Ok(Input {
                label: p.display().to_string(),
                report: Report::load(p)?,
            })
        })
        .collect()
}
