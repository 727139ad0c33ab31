//! Comparison across instance types: one row per saved report, ranked by the hourly cost of
//! the fleet that serves the peak, among the reports that met the requirements. Pure: reports
//! and price tables in, a [`Comparison`] (`compare.json`) out.

use crate::decide::search::{self, Probe};
use serde::{Deserialize, Serialize};

use crate::config::Requirements;
use crate::decide::verdict;
use crate::error::{Error, Result};
use crate::num::fmt_num;
use crate::num::round3;
use crate::prices::{PriceSource, PriceTable, usd_per_million};

use super::Report;

pub const COMPARE_SCHEMA_VERSION: u32 = 1;

/// A report to compare and the name it was given on the command line.
#[derive(Debug, Clone)]
pub struct Input {
    pub label: String,
    pub report: Report,
}

/// `compare.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub schema_version: u32,
    pub tool_version: String,
    /// The production peak every row is sized for, requests/s.
    pub peak_tps: f64,
    /// The requirements every row was judged against (the first report's).
    pub requirements: Requirements,
    /// Reports with different requirements were compared anyway (`--force`).
    pub forced: bool,
    /// Caveats a reader must see: re-judged reports, unverified prices, missing prices.
    pub notes: Vec<String>,
    /// Sorted by rank; unranked rows last.
    pub rows: Vec<Row>,
}

/// One report's line in the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The report file as given on the command line.
    pub report: String,
    /// The campaign's name.
    pub name: String,
    pub instance_type: String,
    /// The region whose price table priced this row.
    pub region: String,
    pub max_rps_per_instance: Option<f64>,
    /// p99 of response time at the step MAX_RPS was taken from, ms.
    pub p99_ms_at_max: Option<f64>,
    /// ceil(peak_tps ÷ max_rps_per_instance).
    pub instances_for_peak: Option<u64>,
    pub hourly_usd_per_instance: Option<f64>,
    /// instances_for_peak × hourly_usd_per_instance.
    pub hourly_usd_for_peak: Option<f64>,
    /// hourly_usd_per_instance ÷ (max_rps_per_instance × 3600) × 1e6.
    pub usd_per_million: Option<f64>,
    /// Streams: C_max per instance (per copy with an inference component).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency_per_instance: Option<u64>,
    /// Streams: output tokens per second per instance at C_max.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_per_s_per_instance: Option<f64>,
    /// Streams: requests in flight at the peak (`peak_concurrency`, else peak_tps × mean
    /// end-to-end latency at C_max); instances_for_peak = ceil(this ÷ C_max per instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_concurrency: Option<f64>,
    /// Streams: hourly_usd_per_instance ÷ (output tokens/s at C_max × 3600) × 1e6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_million_output_tokens: Option<f64>,
    /// Some step met the requirements.
    pub meets_requirements: bool,
    /// 1 = cheapest fleet for the peak; null when it cannot be ranked (no passing step, or no
    /// price for its instance type).
    pub rank: Option<u32>,
    pub partial: bool,
    /// Why a row is unranked or otherwise special; empty when there is nothing to say.
    pub note: String,
}

/// The differences between two requirement blocks, as `key: a vs b`.
fn differences(a: &Requirements, b: &Requirements) -> Vec<String> {
    let opt = |x: Option<f64>| x.map(fmt_num).unwrap_or_else(|| "unset".into());
    let mut d = Vec::new();
    let mut cmp = |key: &str, x: String, y: String| {
        if x != y {
            d.push(format!("{key} {x} vs {y}"));
        }
    };
    cmp("p99_ms", fmt_num(a.p99_ms), fmt_num(b.p99_ms));
    cmp(
        "max_error_percent",
        fmt_num(a.max_error_percent),
        fmt_num(b.max_error_percent),
    );
    cmp("peak_tps", fmt_num(a.peak_tps), fmt_num(b.peak_tps));
    cmp("min_tps", opt(a.min_tps), opt(b.min_tps));
    cmp(
        "peak_concurrency",
        opt(a.peak_concurrency),
        opt(b.peak_concurrency),
    );
    cmp("ttft_p99_ms", opt(a.ttft_p99_ms), opt(b.ttft_p99_ms));
    cmp("itl_p99_ms", opt(a.itl_p99_ms), opt(b.itl_p99_ms));
    cmp("e2e_p99_ms", opt(a.e2e_p99_ms), opt(b.e2e_p99_ms));
    cmp("ramp_minutes", opt(a.ramp_minutes), opt(b.ramp_minutes));
    d
}

/// Compares reports. Without `force`, reports whose requirements differ from the first one's
/// are refused (bad input, exit code 2); with it, their steps are judged again against the
/// first report's requirements. `prices` replaces the built-in table of each report's region.
pub fn compare(inputs: &[Input], prices: Option<&PriceTable>, force: bool) -> Result<Comparison> {
    let Some(first) = inputs.first() else {
        return Err(Error::input(
            "compare needs at least one report.json".to_string(),
        ));
    };
    let req = first.report.campaign.requirements.clone();
    let mut notes = Vec::new();
    let mut mismatched = Vec::new();
    for input in &inputs[1..] {
        let d = differences(&req, &input.report.campaign.requirements);
        if !d.is_empty() {
            mismatched.push(format!("{} ({})", input.label, d.join(", ")));
        }
    }
    if !mismatched.is_empty() {
        if !force {
            return Err(Error::input(format!(
                "these reports were sized against different requirements than {} and their costs are not comparable: {}. Re-run the campaigns with the same [requirements], or pass --force to judge every report's steps against the requirements of {}",
                first.label,
                mismatched.join("; "),
                first.label
            )));
        }
        notes.push(format!(
            "--force: requirements differ ({}); every report's steps were judged again against the requirements of {} (p99 ≤ {} ms, errors ≤ {} %, peak {} requests/s). The search of those campaigns aimed at other limits, so their MAX_RPS may be coarser.",
            mismatched.join("; "),
            first.label,
            fmt_num(req.p99_ms),
            fmt_num(req.max_error_percent),
            fmt_num(req.peak_tps)
        ));
    }

    let mut rows: Vec<Row> = inputs.iter().map(|i| row(i, &req, prices)).collect();
    let mut tables: Vec<String> = Vec::new();
    for i in inputs {
        let region = i.report.campaign.target.region.as_deref();
        if let PriceSource::Table(t) = PriceSource::select(prices, region) {
            let d = t.describe();
            if !tables.contains(&d) {
                tables.push(d);
            }
        }
    }
    for t in tables {
        notes.push(format!("prices: {t}"));
    }

    // Rank the rows that met the requirements and have a price by the cost of the peak fleet.
    let mut ranked: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].meets_requirements && rows[i].hourly_usd_for_peak.is_some())
        .collect();
    ranked.sort_by(|&a, &b| {
        let (ra, rb) = (&rows[a], &rows[b]);
        ra.hourly_usd_for_peak
            .unwrap_or(f64::MAX)
            .total_cmp(&rb.hourly_usd_for_peak.unwrap_or(f64::MAX))
            .then(
                ra.usd_per_million
                    .unwrap_or(f64::MAX)
                    .total_cmp(&rb.usd_per_million.unwrap_or(f64::MAX)),
            )
            .then(a.cmp(&b))
    });
    for (n, &i) in ranked.iter().enumerate() {
        rows[i].rank = Some(n as u32 + 1);
    }
    let order = |r: &Row| match (r.rank, r.meets_requirements) {
        (Some(n), _) => (0, n),
        (None, true) => (1, 0),
        (None, false) => (2, 0),
    };
    // A stable sort keeps the command line's order among unranked rows.
    rows.sort_by_key(order);

    Ok(Comparison {
        schema_version: COMPARE_SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        peak_tps: req.peak_tps,
        requirements: req,
        forced: !mismatched.is_empty(),
        notes,
        rows,
    })
}

fn row(input: &Input, req: &Requirements, prices: Option<&PriceTable>) -> Row {
    let r = &input.report;
    let own = differences(req, &r.campaign.requirements).is_empty();
    let passes: Vec<bool> = r
        .steps
        .iter()
        .map(|s| {
            if own {
                s.pass
            } else {
                verdict::judge(s, req).0
            }
        })
        .collect();
    // A pass overruled by a failed repeat of it does not count ([load] confirm).
    let probes: Vec<Probe> = r
        .steps
        .iter()
        .zip(&passes)
        .map(|(s, p)| Probe {
            pass: *p,
            ..Probe::from(s)
        })
        .collect();
    let passes = search::standing_passes(&probes);
    let best = r
        .steps
        .iter()
        .zip(&passes)
        .filter(|(_, p)| **p)
        .map(|(s, _)| s)
        .max_by(|a, b| a.successful_rps().total_cmp(&b.successful_rps()));
    let count = r.campaign.target.instance_count.max(1);
    let instance_type = r.campaign.target.instance_type.clone();
    let source = PriceSource::select(prices, r.campaign.target.region.as_deref());
    let (region, price, price_note) = match &source {
        PriceSource::Table(t) => (
            t.region.clone(),
            t.hourly(&instance_type),
            format!(
                "no price for {instance_type} in the {} table; pass --prices FILE with it to rank this row",
                t.region
            ),
        ),
        PriceSource::Missing { region } => (
            region.clone(),
            None,
            format!("no price table for region {region}; pass --prices FILE to rank this row"),
        ),
    };
    let mut row = Row {
        report: input.label.clone(),
        name: r.campaign.name.clone(),
        instance_type,
        region,
        max_rps_per_instance: None,
        p99_ms_at_max: None,
        instances_for_peak: None,
        hourly_usd_per_instance: price,
        hourly_usd_for_peak: None,
        usd_per_million: None,
        max_concurrency_per_instance: None,
        output_tokens_per_s_per_instance: None,
        peak_concurrency: None,
        usd_per_million_output_tokens: None,
        meets_requirements: false,
        rank: None,
        partial: r.partial,
        note: String::new(),
    };
    let mut notes = Vec::new();
    if r.partial {
        notes.push(format!("partial report ({})", r.stop_reason));
    }
    if r.campaign.load.mode == crate::config::LoadMode::Concurrency {
        // The latest step at each concurrency decides; C_max is the highest that passed.
        let mut latest = std::collections::BTreeMap::new();
        for (s, p) in r.steps.iter().zip(&passes) {
            if let Some(n) = s.concurrency {
                latest.insert(n, (s, *p));
            }
        }
        let best = latest
            .iter()
            .rev()
            .find(|(_, (_, p))| *p)
            .map(|(n, (s, _))| (*n, *s));
        let sized = best.and_then(|(n, step)| {
            let per = n / u64::from(count);
            let e2e = crate::decide::concurrency::mean_e2e_s(step)?;
            (per > 0).then_some((per, step, e2e))
        });
        match sized {
            Some((per, step, e2e)) => {
                let peak = req.peak_concurrency.unwrap_or(req.peak_tps * e2e);
                let instances = ((peak / per as f64 - 1e-9).ceil() as u64).max(1);
                let rps = round3(step.successful_rps() / f64::from(count));
                let tokens = step
                    .stream
                    .as_ref()
                    .map(|st| round3(st.output_tokens_per_s / f64::from(count)));
                row.meets_requirements = true;
                row.max_rps_per_instance = Some(rps);
                row.p99_ms_at_max = Some(step.latency_ms.p99);
                row.instances_for_peak = Some(instances);
                row.max_concurrency_per_instance = Some(per);
                row.output_tokens_per_s_per_instance = tokens;
                row.peak_concurrency = Some(round3(peak));
                match price {
                    Some(p) => {
                        row.hourly_usd_for_peak = Some(round6(p * instances as f64));
                        if rps > 0.0 {
                            row.usd_per_million = Some(round6(usd_per_million(p, rps)));
                        }
                        row.usd_per_million_output_tokens = tokens
                            .filter(|t| *t > 0.0)
                            .map(|t| round6(usd_per_million(p, t)));
                    }
                    None => notes.push(price_note),
                }
            }
            None => notes.push(format!(
                "no concurrency met every requirement (errors ≤ {} % and the stream limits)",
                fmt_num(req.max_error_percent)
            )),
        }
        row.note = notes.join("; ");
        return row;
    }
    match best {
        Some(step) if step.successful_rps() > 0.0 => {
            let max_rps = round3(step.successful_rps() / f64::from(count));
            let instances = ((req.peak_tps / max_rps).ceil() as u64).max(1);
            row.meets_requirements = true;
            row.max_rps_per_instance = Some(max_rps);
            row.p99_ms_at_max = Some(step.latency_ms.p99);
            row.instances_for_peak = Some(instances);
            match price {
                Some(p) => {
                    row.hourly_usd_for_peak = Some(round6(p * instances as f64));
                    row.usd_per_million = Some(round6(usd_per_million(p, max_rps)));
                }
                None => notes.push(price_note),
            }
        }
        _ => notes.push(format!(
            "no step met p99 ≤ {} ms with errors ≤ {} %",
            fmt_num(req.p99_ms),
            fmt_num(req.max_error_percent)
        )),
    }
    row.note = notes.join("; ");
    row
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The p99-against-rate curve of each report, per instance, labelled for the overlay chart.
pub fn p99_curves(inputs: &[Input]) -> Vec<(String, Vec<(f64, f64)>)> {
    inputs
        .iter()
        .map(|i| {
            let r = &i.report;
            let count = f64::from(r.campaign.target.instance_count.max(1));
            (
                format!("{} ({})", r.campaign.target.instance_type, i.label),
                super::figures::by_offered_rate(&r.steps)
                    .iter()
                    .map(|s| (s.achieved_rps / count, s.latency_ms.p99))
                    .collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::report;

    fn prices() -> PriceTable {
        PriceTable::parse(
            "region = \"test\"\ncurrency = \"USD\"\ntaken_on = \"2026-11-23\"\nsource = \"test\"\nverified = true\n[hourly_usd]\n\"ml.small\" = 0.1\n\"ml.big\" = 0.25\n",
            "test.toml",
        )
        .unwrap()
    }

    fn input(label: &str, r: Report) -> Input {
        Input {
            label: label.into(),
            report: r,
        }
    }

    #[test]
    fn ranks_by_the_cost_of_the_peak_fleet_not_by_throughput() {
        // peak 1000 rps. small: 150 rps/instance → 7 instances × 0.10 = 0.70 $/h.
        // big: 400 rps → 3 × 0.25 = 0.75 $/h. The slower type is cheaper for the peak.
        let small = report(
            "ml.small",
            &[(100.0, true), (150.0, true), (200.0, false)],
            1000.0,
        );
        let big = report(
            "ml.big",
            &[(200.0, true), (400.0, true), (800.0, false)],
            1000.0,
        );
        let c = compare(
            &[input("big.json", big), input("small.json", small)],
            Some(&prices()),
            false,
        )
        .unwrap();
        assert_eq!(c.rows[0].report, "small.json");
        assert_eq!(c.rows[0].rank, Some(1));
        assert_eq!(c.rows[0].instances_for_peak, Some(7));
        assert_eq!(c.rows[0].hourly_usd_for_peak, Some(0.7));
        assert_eq!(c.rows[1].rank, Some(2));
        assert_eq!(c.rows[1].instances_for_peak, Some(3));
        assert_eq!(c.rows[1].hourly_usd_for_peak, Some(0.75));
        // 0.25 / (400 × 3600) × 1e6 = 0.173611
        assert_eq!(c.rows[1].usd_per_million, Some(0.173611));
        assert_eq!(c.rows[1].p99_ms_at_max, Some(40.0));
    }

    #[test]
    fn rows_without_a_passing_step_or_a_price_are_listed_last_unranked() {
        let failing = report("ml.small", &[(10.0, false)], 1000.0);
        let unpriced = report("ml.unknown", &[(10.0, true)], 1000.0);
        let ok = report("ml.big", &[(500.0, true)], 1000.0);
        let c = compare(
            &[
                input("failing", failing),
                input("unpriced", unpriced),
                input("ok", ok),
            ],
            Some(&prices()),
            false,
        )
        .unwrap();
        let order: Vec<_> = c.rows.iter().map(|r| (r.report.as_str(), r.rank)).collect();
        assert_eq!(
            order,
            [("ok", Some(1)), ("unpriced", None), ("failing", None)]
        );
        assert!(c.rows[1].meets_requirements);
        assert!(
            c.rows[1].note.contains("no price for ml.unknown"),
            "{}",
            c.rows[1].note
        );
        assert!(!c.rows[2].meets_requirements);
        assert!(c.rows[2].note.contains("no step met"), "{}", c.rows[2].note);
    }

    #[test]
    fn different_requirements_are_refused_unless_forced_and_then_rejudged() {
        // p99 is a tenth of the rate: b's 600 rps step (60 ms) passed b's 1000 ms limit but
        // fails a's 50 ms one.
        let a = report("ml.small", &[(100.0, true)], 1000.0);
        let mut b = report("ml.big", &[(100.0, true), (600.0, true)], 1000.0);
        b.campaign.requirements.p99_ms = 1000.0;
        let inputs = [input("a.json", a), input("b.json", b)];
        let e = compare(&inputs, Some(&prices()), false).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains("b.json (p99_ms 50 vs 1000)"), "{msg}");
        assert!(msg.contains("--force"), "{msg}");

        let c = compare(&inputs, Some(&prices()), true).unwrap();
        assert!(c.forced);
        assert!(c.notes[0].contains("judged again"), "{:?}", c.notes);
        let b = c.rows.iter().find(|r| r.report == "b.json").unwrap();
        assert_eq!(
            b.max_rps_per_instance,
            Some(100.0),
            "the 60 ms step fails a 50 ms limit"
        );
    }

    #[test]
    fn instances_tested_divide_the_rate() {
        let mut r = report("ml.big", &[(800.0, true)], 1000.0);
        r.campaign.target.instance_count = 2;
        let c = compare(&[input("r", r)], Some(&prices()), false).unwrap();
        assert_eq!(c.rows[0].max_rps_per_instance, Some(400.0));
        assert_eq!(c.rows[0].instances_for_peak, Some(3));
    }
}
