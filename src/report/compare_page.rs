//! `compare.html` and `compare.md`: a [`Comparison`] for people, with the p99 curves of all
//! compared reports overlaid in one chart.

use std::fmt::Write;

use serde::Serialize;

use crate::error::Result;
use crate::num::fmt_num;
use crate::prices::usd;

use super::compare::{Comparison, Input, Row, p99_curves};
use super::figures::{self, Figure};
use super::html::{Item, limit_items, render_page};
use super::markdown::md;

#[derive(Debug, Serialize)]
struct RowView {
    rank: String,
    report: String,
    name: String,
    instance_type: String,
    region: String,
    max_rps: String,
    p99: String,
    instances: String,
    price: String,
    hourly: String,
    per_million: String,
    c_max: String,
    tokens_per_s: String,
    per_million_tokens: String,
    meets: bool,
    note: String,
}

#[derive(Debug, Serialize)]
struct Winner {
    report: String,
    instance_type: String,
    instances: String,
    hourly: String,
    per_million: String,
    max_rps: String,
    per_million_tokens: Option<String>,
    c_max: Option<u64>,
}

#[derive(Debug, Serialize)]
struct ComparePage {
    tool_version: String,
    schema_version: u32,
    count: usize,
    peak: String,
    forced: bool,
    winner: Option<Winner>,
    no_winner_reason: String,
    requirements: Vec<Item>,
    rows: Vec<RowView>,
    /// Some row is a stream (LLM) report: the table shows C_max, tokens/s and $ per million tokens.
    llm: bool,
    chart: Figure,
    notes: Vec<String>,
}

const DASH: &str = "–";

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map(f).unwrap_or_else(|| DASH.to_string())
}

fn view(r: &Row) -> RowView {
    RowView {
        rank: r.rank.map(|n| n.to_string()).unwrap_or_else(|| DASH.into()),
        report: r.report.clone(),
        name: r.name.clone(),
        instance_type: r.instance_type.clone(),
        region: r.region.clone(),
        max_rps: opt(r.max_rps_per_instance, fmt_num),
        p99: opt(r.p99_ms_at_max, |v| format!("{v:.1}")),
        instances: r
            .instances_for_peak
            .map(|n| n.to_string())
            .unwrap_or_else(|| DASH.into()),
        price: opt(r.hourly_usd_per_instance, usd),
        hourly: opt(r.hourly_usd_for_peak, usd),
        per_million: opt(r.usd_per_million, usd),
        c_max: r
            .max_concurrency_per_instance
            .map(|n| n.to_string())
            .unwrap_or_else(|| DASH.into()),
        tokens_per_s: opt(r.output_tokens_per_s_per_instance, fmt_num),
        per_million_tokens: opt(r.usd_per_million_output_tokens, usd),
        meets: r.meets_requirements,
        note: r.note.clone(),
    }
}

/// The peak every row is sized for, with its unit.
fn peak_text(c: &Comparison) -> String {
    match c.requirements.peak_concurrency {
        Some(p) => format!("{} requests in flight", fmt_num(p)),
        None => format!("{} requests/s", fmt_num(c.peak_tps)),
    }
}

/// Some row is a stream (LLM) report.
fn is_llm(c: &Comparison) -> bool {
    c.rows
        .iter()
        .any(|r| r.max_concurrency_per_instance.is_some())
}

fn requirement_items(c: &Comparison) -> Vec<Item> {
    limit_items(&c.requirements)
}

fn no_winner_reason(c: &Comparison) -> String {
    if c.rows.iter().any(|r| r.meets_requirements) {
        "Reports met the requirements but no price is known for their instance types; pass --prices FILE.".into()
    } else {
        "No report has a step that met the requirements.".into()
    }
}

/// `compare.html`.
pub fn render_html(c: &Comparison, inputs: &[Input]) -> Result<String> {
    let winner = c.rows.iter().find(|r| r.rank == Some(1)).map(|r| Winner {
        report: r.report.clone(),
        instance_type: r.instance_type.clone(),
        instances: r
            .instances_for_peak
            .map(|n| n.to_string())
            .unwrap_or_default(),
        hourly: opt(r.hourly_usd_for_peak, usd),
        per_million: opt(r.usd_per_million, usd),
        max_rps: opt(r.max_rps_per_instance, fmt_num),
        per_million_tokens: r.usd_per_million_output_tokens.map(usd),
        c_max: r.max_concurrency_per_instance,
    });
    let page = ComparePage {
        tool_version: c.tool_version.clone(),
        schema_version: c.schema_version,
        count: c.rows.len(),
        peak: peak_text(c),
        forced: c.forced,
        winner,
        no_winner_reason: no_winner_reason(c),
        requirements: requirement_items(c),
        rows: c.rows.iter().map(view).collect(),
        llm: is_llm(c),
        chart: figures::p99_overlay(&p99_curves(inputs), c.requirements.p99_limit_ms())?,
        notes: c.notes.clone(),
    };
    render_page("compare.html.tera", &page)
}

/// `compare.md`.
pub fn render_markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## rightsize: {} reports compared for a peak of {}\n",
        c.rows.len(),
        peak_text(c)
    );
    match c.rows.iter().find(|r| r.rank == Some(1)) {
        Some(r) => {
            let _ = writeln!(
                out,
                "Cheapest for the peak: **{}** ({}): {} instances, **${}/h**, ${} per million inferences.\n",
                md(&r.instance_type),
                md(&r.report),
                r.instances_for_peak.unwrap_or(0),
                opt(r.hourly_usd_for_peak, usd),
                opt(r.usd_per_million, usd)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "**No report can be ranked.** {}\n",
                no_winner_reason(c)
            );
        }
    }
    let reqs: Vec<String> = requirement_items(c)
        .iter()
        .map(|i| format!("{} {}", md(&i.label), md(&i.value)))
        .collect();
    let _ = writeln!(out, "Requirements: {}.\n", reqs.join(" · "));
    let llm = is_llm(c);
    if llm {
        let _ = writeln!(
            out,
            "| rank | report | instance type | C_max per instance | output tokens/s at C_max | instances for peak | $/h for peak | $ per million output tokens | $ per million requests | meets requirements |"
        );
        let _ = writeln!(out, "|---:|---|---|---:|---:|---:|---:|---:|---:|---|");
    } else {
        let _ = writeln!(
            out,
            "| rank | report | instance type | MAX_RPS per instance | p99 at MAX_RPS ms | instances for peak | $/h for peak | $ per million | meets requirements |"
        );
        let _ = writeln!(out, "|---:|---|---|---:|---:|---:|---:|---:|---|");
    }
    for r in &c.rows {
        let v = view(r);
        let meets = if r.meets_requirements { "yes" } else { "no" };
        let meets = if r.note.is_empty() {
            meets.to_string()
        } else {
            format!("{meets}: {}", md(&r.note))
        };
        if llm {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                v.rank,
                md(&v.report),
                md(&v.instance_type),
                v.c_max,
                v.tokens_per_s,
                v.instances,
                v.hourly,
                v.per_million_tokens,
                v.per_million,
                meets
            );
            continue;
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            v.rank,
            md(&v.report),
            md(&v.instance_type),
            v.max_rps,
            v.p99,
            v.instances,
            v.hourly,
            v.per_million,
            meets
        );
    }
    if !c.notes.is_empty() {
        let _ = writeln!(out);
        for n in &c.notes {
            let _ = writeln!(out, "- {}", md(n));
        }
    }
    out
}
