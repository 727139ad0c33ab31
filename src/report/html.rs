//! `report.html`: the report as one self-contained page (inline CSS and SVG, no script, nothing
//! fetched), rendered with tera from `templates/`, which are compiled into the binary.
//!
//! The page is built from a [`Report`] alone. Every value reaches the template as text and is
//! HTML-escaped there; only the SVG charts (escaped by the chart module) are inserted as is.

use serde::Serialize;
use tera::{Context, Tera};

use crate::config::Requirements;
use crate::error::{Error, Result};
use crate::measure::stats::Verdict;
use crate::num::fmt_num;
use crate::prices::usd;

use super::Report;
use super::figures::{self, Figure};

const TEMPLATES: [(&str, &str); 4] = [
    ("style.css", include_str!("../../templates/style.css")),
    (
        "base.html.tera",
        include_str!("../../templates/base.html.tera"),
    ),
    (
        "report.html.tera",
        include_str!("../../templates/report.html.tera"),
    ),
    (
        "compare.html.tera",
        include_str!("../../templates/compare.html.tera"),
    ),
];

/// The compiled-in templates, with escaping on for every `.html.tera` template.
pub fn templates() -> Result<Tera> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![".html.tera"]);
    tera.add_raw_templates(TEMPLATES)
        .map_err(|e| Error::Other(format!("the built-in report templates are broken: {e}")))?;
    Ok(tera)
}

/// Renders one of the built-in templates with a serialisable page model.
pub fn render_page<T: Serialize>(template: &str, page: &T) -> Result<String> {
    let tera = templates()?;
    let ctx = Context::from_serialize(page)
        .map_err(|e| Error::Other(format!("cannot prepare {template}: {e}")))?;
    tera.render(template, &ctx).map_err(|e| {
        let mut msg = format!("cannot render {template}: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(&format!(": {s}"));
            source = s.source();
        }
        Error::Other(msg)
    })
}

/// A label and a value, for definition lists.
#[derive(Debug, Serialize)]
pub struct Item {
    pub label: String,
    pub value: String,
}

fn item(label: &str, value: impl Into<String>) -> Item {
    Item {
        label: label.into(),
        value: value.into(),
    }
}

#[derive(Debug, Serialize)]
struct CostView {
    hourly_min: String,
    hourly_max: String,
    per_million: String,
    /// Streams: USD per million output tokens.
    per_million_tokens: Option<String>,
    source: String,
    verified: bool,
}

/// The stream recommendation's big numbers, formatted.
#[derive(Debug, Serialize)]
struct ConcurrencyView {
    per_instance: u64,
    unit: &'static str,
    units: &'static str,
    target_value: String,
    metric: String,
    rps: String,
    tokens_per_s: String,
    peak_concurrency: String,
    dimension: &'static str,
    resource: &'static str,
}

#[derive(Debug, Serialize)]
struct RecView {
    instance_type: String,
    max_rps: String,
    invocations_target: u64,
    min_instances: u64,
    max_instances: u64,
    cost: Option<CostView>,
    explanation: Vec<String>,
    policy_json: String,
    concurrency: Option<ConcurrencyView>,
}

/// One row of the step table, formatted.
#[derive(Debug, Serialize)]
pub struct StepRow {
    pub index: usize,
    pub offered: String,
    pub achieved: String,
    pub requests: u64,
    pub error_percent: String,
    pub by_class: String,
    pub p50: String,
    pub p90: String,
    pub p99: String,
    pub p999: String,
    pub max: String,
    pub service_p99: String,
    pub pass: bool,
    /// Neither pass nor fail: the generator, not the endpoint, was the limit.
    pub inconclusive: bool,
    /// The 1-based number of the step this one repeats to confirm its verdict (`[load] confirm`).
    pub repeat_of: Option<usize>,
    /// The passing step MAX_RPS was taken from.
    pub best: bool,
    pub reasons: String,
    /// A concurrency step's N ("" on rate steps).
    pub concurrency: String,
    /// A streamed target's figures.
    pub stream: Option<StreamCells>,
    /// A distributed step: what each shard measured (its own figures are their merge).
    pub shards: Vec<ShardCells>,
    /// A distributed step run again: why each earlier run was discarded.
    pub invalid_runs: Vec<String>,
}

/// One shard's part of a distributed step, formatted.
#[derive(Debug, Serialize)]
pub struct ShardCells {
    pub shard: u32,
    pub start_late: String,
    pub offered: String,
    pub achieved: String,
    pub requests: u64,
    pub errors: u64,
    pub p50: String,
    pub p99: String,
    pub service_p99: String,
    pub send_lag_p99: String,
    pub peak_in_flight: u64,
}

/// The stream figures of one step, formatted (milliseconds, tokens/s, requests/s).
#[derive(Debug, Serialize)]
pub struct StreamCells {
    pub ttft_p50: String,
    pub ttft_p99: String,
    pub itl_p50: String,
    pub itl_p99: String,
    pub gap_p99: String,
    pub e2e_p99: String,
    pub tokens_per_s: String,
    pub goodput: String,
    pub token_source: String,
}

#[derive(Debug, Serialize)]
struct ReportPage {
    tool_version: String,
    schema_version: u32,
    name: String,
    target: String,
    instance_type: String,
    instance_count: u32,
    started_at: String,
    finished_at: String,
    step_count: usize,
    stop_reason: String,
    partial: bool,
    rec: Option<RecView>,
    no_rec_reason: String,
    requirements: Vec<Item>,
    load: Vec<Item>,
    charts: Vec<Figure>,
    /// Some step has stream figures: the page shows the stream table.
    has_stream: bool,
    /// Some step ran over several shards: the page shows the shard table.
    has_shards: bool,
    steps: Vec<StepRow>,
}

/// One decimal, for rates and milliseconds.
pub fn f1(x: f64) -> String {
    format!("{x:.1}")
}

/// The step table's rows; shared with the Markdown summary.
pub fn step_rows(report: &Report) -> Vec<StepRow> {
    let best = best_step(report);
    report
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepRow {
            index: i + 1,
            offered: f1(s.offered_rps),
            achieved: f1(s.achieved_rps),
            requests: s.requests,
            error_percent: format!("{:.2}", s.error_percent),
            by_class: s
                .errors_by_class
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            p50: f1(s.latency_ms.p50),
            p90: f1(s.latency_ms.p90),
            p99: f1(s.latency_ms.p99),
            p999: f1(s.latency_ms.p999),
            max: f1(s.latency_ms.max),
            service_p99: f1(s.service_ms.p99),
            concurrency: s.concurrency.map(|n| n.to_string()).unwrap_or_default(),
            stream: s.stream.as_ref().map(|st| StreamCells {
                ttft_p50: f1(st.ttft_ms.p50),
                ttft_p99: f1(st.ttft_ms.p99),
                itl_p50: f1(st.itl_ms.p50),
                itl_p99: f1(st.itl_ms.p99),
                gap_p99: f1(st.gap_ms.p99),
                e2e_p99: f1(st.e2e_ms.p99),
                tokens_per_s: f1(st.output_tokens_per_s),
                goodput: format!("{:.2}", st.goodput_rps),
                token_source: st.token_source.clone(),
            }),
            shards: s
                .shards
                .iter()
                .map(|h| ShardCells {
                    shard: h.shard,
                    start_late: f1(h.start_late_ms),
                    offered: f1(h.offered_rps),
                    achieved: f1(h.achieved_rps),
                    requests: h.requests,
                    errors: h.errors,
                    p50: f1(h.latency_ms.p50),
                    p99: f1(h.latency_ms.p99),
                    service_p99: f1(h.service_ms.p99),
                    send_lag_p99: f1(h.send_lag_ms.p99),
                    peak_in_flight: h.peak_in_flight,
                })
                .collect(),
            invalid_runs: s.invalid_runs.clone(),
            pass: s.pass,
            inconclusive: s.verdict == Some(Verdict::Inconclusive),
            repeat_of: s.repeat_of.map(|r| r + 1),
            best: best == Some(i),
            reasons: s.reasons.join("; "),
        })
        .collect()
}

/// Index of the passing step with the most successful responses per second (where MAX_RPS
/// comes from).
pub fn best_step(report: &Report) -> Option<usize> {
    let stands = crate::decide::recommend::standing_passes(&report.steps);
    report
        .steps
        .iter()
        .enumerate()
        .filter(|(i, _)| stands[*i])
        .max_by(|a, b| a.1.successful_rps().total_cmp(&b.1.successful_rps()))
        .map(|(i, _)| i)
}

/// The requirements as label/value pairs; shared with the Markdown summary.
pub fn requirement_items(report: &Report) -> Vec<Item> {
    let r = &report.campaign.requirements;
    let mut v = limit_items(r);
    if let Some(m) = r.ramp_minutes {
        v.push(item("ramp to peak", format!("{} minutes", fmt_num(m))));
    }
    v.push(item(
        "safety factor",
        fmt_num(report.campaign.recommend.safety_factor),
    ));
    v
}

/// The limits and the traffic of `[requirements]` as label/value pairs: what a step is judged
/// on and what is sized for; shared with the comparison page.
pub fn limit_items(r: &Requirements) -> Vec<Item> {
    let mut v = Vec::new();
    if let Some(p99) = r.p99_limit_ms() {
        v.push(item("p99 response time", format!("≤ {} ms", fmt_num(p99))));
    }
    v.push(item(
        "errors",
        format!("≤ {} %", fmt_num(r.max_error_percent)),
    ));
    if r.peak_tps > 0.0 {
        v.push(item(
            "peak traffic",
            format!("{} requests/s", fmt_num(r.peak_tps)),
        ));
    }
    if let Some(p) = r.peak_concurrency {
        v.push(item(
            "peak concurrency",
            format!("{} requests in flight", fmt_num(p)),
        ));
    }
    for (label, limit) in [
        ("TTFT p99", r.ttft_p99_ms),
        ("ITL p99", r.itl_p99_ms),
        ("end-to-end p99", r.e2e_p99_ms),
    ] {
        if let Some(ms) = limit {
            v.push(item(label, format!("≤ {} ms", fmt_num(ms))));
        }
    }
    if let Some(t) = r.min_output_tokens_per_s {
        v.push(item(
            "output tokens/s per request",
            format!("≥ {} (99 % of requests)", fmt_num(t)),
        ));
    }
    if let Some(m) = r.min_tps {
        v.push(item("traffic floor", format!("{} requests/s", fmt_num(m))));
    }
    v
}

fn load_items(report: &Report) -> Vec<Item> {
    let l = &report.campaign.load;
    let concurrency = l.mode == crate::config::LoadMode::Concurrency;
    let search = match l.search {
        crate::config::SearchKind::Adaptive if concurrency => format!(
            "concurrency: from {} in flight, doubled while passing, then bisected to C_max (at most {})",
            l.start_concurrency.unwrap_or(1),
            l.max_concurrency
        ),
        crate::config::SearchKind::Adaptive => format!(
            "adaptive from {} requests/s, ×{} while passing, bisect to {} %",
            fmt_num(l.start_rps),
            fmt_num(l.growth_factor),
            fmt_num(l.resolution_percent)
        ),
        crate::config::SearchKind::Walk => format!(
            "walk {}",
            l.walk
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|r| fmt_num(*r))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let p = &report.campaign.payload;
    let payload = if let Some(body) = &p.body {
        let snippet: String = body.chars().take(120).collect();
        let more = if body.chars().count() > 120 {
            " …"
        } else {
            ""
        };
        format!("inline body ({} bytes): {snippet}{more}", body.len())
    } else if let Some(files) = &p.files {
        files
            .iter()
            .map(|f| format!("{} (weight {})", f.path.display(), f.weight))
            .collect::<Vec<_>>()
            .join(", ")
    } else if let Some(j) = &p.jsonl {
        format!("{} (one body per line)", j.display())
    } else {
        "none".into()
    };
    vec![
        item("payload", payload),
        item("search", search),
        if concurrency {
            item(
                "stream",
                report
                    .campaign
                    .target
                    .stream
                    .map_or("none", |f| f.name())
                    .to_string(),
            )
        } else {
            item("rate cap", format!("{} requests/s", fmt_num(l.max_rps)))
        },
        item(
            "step",
            format!(
                "{} s measured after {} s warm-up",
                fmt_num(l.step_seconds),
                fmt_num(l.warmup_seconds)
            ),
        ),
        item("in flight at most", l.max_concurrency.to_string()),
        item("arrivals", l.arrivals.name().to_string()),
        item(
            "target",
            format!("{} ({})", report.campaign.target_label(), {
                match report.campaign.target.kind {
                    crate::config::TargetKind::Http => "http",
                    crate::config::TargetKind::Sagemaker => "sagemaker",
                }
            }),
        ),
    ]
}

/// Why there is no recommendation, in words.
pub fn no_recommendation_reason(report: &Report) -> String {
    let r = &report.campaign.requirements;
    if report.steps.is_empty() {
        format!(
            "No step was completed ({}).",
            if report.stop_reason.is_empty() {
                "the campaign stopped before its first step"
            } else {
                report.stop_reason.as_str()
            }
        )
    } else if report.campaign.load.mode == crate::config::LoadMode::Concurrency {
        format!(
            "No tested concurrency met every requirement (errors ≤ {} % and the stream limits). The step tables say why each step failed.",
            fmt_num(r.max_error_percent)
        )
    } else {
        format!(
            "No tested rate met p99 ≤ {} ms with errors ≤ {} %. The step table says why each step failed.",
            fmt_num(r.p99_ms),
            fmt_num(r.max_error_percent)
        )
    }
}

/// An RFC 3339 time as `2026-11-23 12:14:32 UTC`; anything else is shown as written.
pub fn readable_time(t: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::parse(t, &Rfc3339)
        .ok()
        .and_then(|d| d.to_offset(time::UtcOffset::UTC).format(&f).ok())
        .unwrap_or_else(|| t.to_string())
}

/// `report.html` for a report.
pub fn render_report(report: &Report) -> Result<String> {
    let c = &report.campaign;
    let rec = report.recommendation.as_ref().map(|r| RecView {
        instance_type: r.instance_type.clone(),
        max_rps: fmt_num(r.max_rps_per_instance),
        invocations_target: r.invocations_target,
        min_instances: r.min_instances,
        max_instances: r.max_instances,
        cost: r.cost.as_ref().map(|k| CostView {
            hourly_min: usd(k.hourly_usd_min),
            hourly_max: usd(k.hourly_usd_max),
            per_million: usd(k.usd_per_million),
            per_million_tokens: k.usd_per_million_output_tokens.map(usd),
            source: k
                .price_source
                .clone()
                .unwrap_or_else(|| "not recorded".into()),
            verified: k.price_verified.unwrap_or(false),
        }),
        explanation: r.explanation.clone(),
        policy_json: serde_json::to_string_pretty(&r.scaling_policy).unwrap_or_default(),
        concurrency: r.concurrency.as_ref().map(|k| {
            let copy = k.unit == crate::decide::concurrency::Unit::Copy;
            ConcurrencyView {
                per_instance: k.max_concurrency_per_instance,
                unit: k.unit.word(),
                units: k.unit.plural(),
                target_value: fmt_num(k.target_value),
                metric: k.metric.clone(),
                rps: fmt_num(k.rps_per_instance),
                tokens_per_s: fmt_num(k.output_tokens_per_s_per_instance),
                peak_concurrency: fmt_num(k.peak_concurrency),
                dimension: k.unit.dimension(),
                resource: if copy {
                    "inference-component/COMPONENT"
                } else {
                    "endpoint/ENDPOINT/variant/VARIANT"
                },
            }
        }),
    });
    let page = ReportPage {
        tool_version: report.tool_version.clone(),
        schema_version: report.schema_version,
        name: c.name.clone(),
        target: c.target_label(),
        instance_type: c.target.instance_type.clone(),
        instance_count: c.target.instance_count,
        started_at: readable_time(&report.started_at),
        finished_at: readable_time(&report.finished_at),
        step_count: report.steps.len(),
        stop_reason: report.stop_reason.clone(),
        partial: report.partial,
        rec,
        no_rec_reason: no_recommendation_reason(report),
        requirements: requirement_items(report),
        load: load_items(report),
        charts: {
            let mut charts =
                crate::report::stream_figures::stream_figures(&report.steps, &c.requirements)?;
            charts.extend(figures::report_figures(
                &report.steps,
                c.requirements.p99_limit_ms(),
                c.requirements.max_error_percent,
            )?);
            if let Some(a) = report
                .recommendation
                .as_ref()
                .and_then(|r| r.autoscaling.as_ref())
            {
                charts.extend(figures::ramp(&a.timeline)?);
            }
            charts
        },
        has_stream: report.steps.iter().any(|s| s.stream.is_some()),
        has_shards: report
            .steps
            .iter()
            .any(|s| !s.shards.is_empty() || !s.invalid_runs.is_empty()),
        steps: step_rows(report),
    };
    render_page("report.html.tera", &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prices::{PriceSource, PriceTable, attach_cost};
    use crate::report::test_support::report;

    #[test]
    fn a_report_page_has_every_section_in_order() {
        let r = report(
            "ml.c5.xlarge",
            &[(100.0, true), (400.0, true), (800.0, false)],
            1000.0,
        );
        let html = render_report(&r).unwrap();
        let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s:?} missing"));
        assert!(at("id=\"recommendation\"") < at("id=\"requirements\""));
        assert!(at("id=\"requirements\"") < at("id=\"charts\""));
        assert!(at("id=\"charts\"") < at("id=\"steps\""));
        // MAX_RPS 400 → floor(400 × 0.5 × 60) = 12000; ceil(1000 / 400) = 3
        assert!(html.contains("<span class=\"v\">12000</span>"));
        assert!(html.contains("<span class=\"v\">1 – 3</span>"));
        assert!(
            html.contains("&quot;TargetValue&quot;: 12000.0"),
            "policy JSON shown"
        );
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 3);
        assert_eq!(html.matches("<tr class=\"best\">").count(), 1);
        assert_eq!(html.matches("<td class=\"reason\">").count(), 1);
        assert!(html.contains("inline body (2 bytes): {}"), "payload shown");
        assert!(!html.contains("<script"), "no script");
        assert!(html.contains("Content-Security-Policy"));
    }

    #[test]
    fn the_step_table_names_inconclusive_steps_and_repeats() {
        let mut r = report(
            "ml.c5.xlarge",
            &[(100.0, true), (800.0, false), (800.0, false), (100.0, true)],
            1000.0,
        );
        r.steps[1].verdict = Some(Verdict::Inconclusive);
        r.steps[2].repeat_of = Some(1);
        r.steps[3].repeat_of = Some(0);
        let html = render_report(&r).unwrap();
        assert_eq!(html.matches("<span class=\"inconclusive\">").count(), 1);
        assert_eq!(html.matches("<span class=\"fail\">").count(), 1);
        assert!(html.contains("fail</span> (repeat of #2)"), "{html}");
        assert!(html.contains("(repeat of #1)</span>"), "a repeated pass");
    }

    #[test]
    fn a_report_without_steps_or_recommendation_says_why() {
        let mut r = report("ml.c5.xlarge", &[], 1000.0);
        r.partial = true;
        r.stop_reason = "interrupted".into();
        let html = render_report(&r).unwrap();
        assert!(html.contains("No recommendation"));
        assert!(html.contains("No step was completed (interrupted)"));
        assert!(html.contains("Partial report"));
        assert!(!html.contains("<svg"));

        let r = report("ml.c5.xlarge", &[(100.0, false)], 1000.0);
        let html = render_report(&r).unwrap();
        assert!(html.contains("No tested rate met p99 ≤ 50 ms"));
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 3);
    }

    #[test]
    fn an_unverified_price_is_flagged_on_the_page() {
        let priced = |table: PriceTable| {
            let mut r = report("ml.c5.xlarge", &[(400.0, true)], 1000.0);
            r.recommendation = r
                .recommendation
                .map(|x| attach_cost(x, &PriceSource::Table(table)));
            render_report(&r).unwrap()
        };
        let html = priced(PriceTable::built_in("us-east-1").unwrap());
        assert!(html.contains("$0.612/h"), "3 × 0.204");
        assert!(html.contains("were not verified against AWS"));

        let mine = PriceTable::parse(
            "region = \"x\"\ncurrency = \"USD\"\ntaken_on = \"2026-11-23\"\nsource = \"AWS page\"\nverified = true\n[hourly_usd]\n\"ml.c5.xlarge\" = 0.3\n",
            "mine.toml",
        )
        .unwrap();
        let html = priced(mine);
        assert!(html.contains("$0.90/h"), "3 × 0.3");
        assert!(!html.contains("not verified"));
    }

    #[test]
    fn times_are_shown_in_utc_without_fractions() {
        assert_eq!(
            readable_time("2026-11-23T12:14:32.101307241Z"),
            "2026-11-23 12:14:32 UTC"
        );
        assert_eq!(readable_time("yesterday"), "yesterday");
    }
}
