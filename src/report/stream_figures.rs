//! The charts of a streamed (LLM) campaign, against concurrency: TTFT and ITL percentiles with
//! their limits, and output tokens per second (the throughput–latency curve LLM users expect).
//! Drawn from `steps[].stream` alone.

use crate::config::Requirements;
use crate::measure::stats::StepResult;
use crate::measure::stream_stats::{Quantiles, StreamStepStats};
use crate::report::chart::{self, Chart, Rule, Series, Style};
use crate::report::figures::{Figure, latency_scale};

/// The concurrency steps with stream figures, by concurrency (the latest step at each).
fn by_concurrency(steps: &[StepResult]) -> Vec<(u64, &StepResult, &StreamStepStats)> {
    let mut latest = std::collections::BTreeMap::new();
    for s in steps {
        if let (Some(n), Some(st)) = (s.concurrency, s.stream.as_ref()) {
            latest.insert(n, (s, st));
        }
    }
    latest.into_iter().map(|(n, (s, st))| (n, s, st)).collect()
}

/// p50/p90/p99 of one stream figure against concurrency, with its p99 limit.
fn percentiles(
    id: &str,
    what: &str,
    rows: &[(u64, &StepResult, &StreamStepStats)],
    pick: fn(&StreamStepStats) -> Quantiles,
    limit_ms: Option<f64>,
    caption: String,
) -> crate::error::Result<Figure> {
    let heading = format!("{what} against concurrency");
    let mut c = Chart::new(&heading, "concurrency (requests in flight)", "milliseconds");
    let pts = |f: fn(&Quantiles) -> f64| -> Vec<(f64, f64)> {
        rows.iter()
            .map(|(n, _, st)| (*n as f64, f(&pick(st))))
            .collect()
    };
    c.series.push(Series::new(
        format!("{what} p50"),
        pts(|q| q.p50),
        chart::PALETTE[5],
        Style::Line,
    ));
    c.series.push(Series::new(
        format!("{what} p90"),
        pts(|q| q.p90),
        chart::PALETTE[4],
        Style::Line,
    ));
    c.series.push(Series::new(
        format!("{what} p99"),
        pts(|q| q.p99),
        chart::PALETTE[0],
        Style::Line,
    ));
    let (pass, fail): (Vec<_>, Vec<_>) = rows.iter().partition(|(_, s, _)| s.pass);
    let marks = |v: &[&(u64, &StepResult, &StreamStepStats)]| -> Vec<(f64, f64)> {
        v.iter()
            .map(|(n, _, st)| (*n as f64, pick(st).p99))
            .collect()
    };
    c.series.push(Series::new(
        "passing step (p99)",
        marks(&pass),
        chart::PASS,
        Style::Dots,
    ));
    c.series.push(Series::new(
        "failing step (p99)",
        marks(&fail),
        chart::FAIL,
        Style::Crosses,
    ));
    if let Some(l) = limit_ms {
        c.rules.push(Rule {
            y: l,
            label: format!("{what} p99 limit {} ms", chart::tick(l)),
            color: chart::LIMIT,
        });
    }
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|(_, _, st)| [pick(st).p50, pick(st).p99])
        .chain(limit_ms)
        .collect();
    c.y_scale = latency_scale(values.iter());
    Ok(Figure {
        id: id.into(),
        heading,
        svg: c.render()?,
        caption,
    })
}

/// The stream charts of a report; none when no concurrency step has stream figures.
pub fn stream_figures(
    steps: &[StepResult],
    req: &Requirements,
) -> crate::error::Result<Vec<Figure>> {
    let rows = by_concurrency(steps);
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let limit_note = |l: Option<f64>| match l {
        Some(ms) => format!(
            " The dashed line is the p99 limit ({} ms).",
            chart::tick(ms)
        ),
        None => " No limit was set for it.".to_string(),
    };
    let ttft = percentiles(
        "ttft",
        "TTFT",
        &rows,
        |st| st.ttft_ms,
        req.ttft_p99_ms,
        format!(
            "Time to first token, from each request's intended send time, over successful streams.{}",
            limit_note(req.ttft_p99_ms)
        ),
    )?;
    let itl = percentiles(
        "itl",
        "ITL",
        &rows,
        |st| st.itl_ms,
        req.itl_p99_ms,
        format!(
            "Inter-token latency per request: (last token − first token) ÷ (output tokens − 1).{}",
            limit_note(req.itl_p99_ms)
        ),
    )?;

    let mut c = Chart::new(
        "Output tokens per second against concurrency",
        "concurrency (requests in flight)",
        "output tokens/s",
    );
    c.series.push(Series::new(
        "output tokens/s",
        rows.iter()
            .map(|(n, _, st)| (*n as f64, st.output_tokens_per_s))
            .collect(),
        chart::PALETTE[0],
        Style::Line,
    ));
    let (pass, fail): (Vec<_>, Vec<_>) = rows.iter().partition(|(_, s, _)| s.pass);
    c.series.push(Series::new(
        "passing step",
        pass.iter()
            .map(|(n, _, st)| (*n as f64, st.output_tokens_per_s))
            .collect(),
        chart::PASS,
        Style::Dots,
    ));
    c.series.push(Series::new(
        "failing step",
        fail.iter()
            .map(|(n, _, st)| (*n as f64, st.output_tokens_per_s))
            .collect(),
        chart::FAIL,
        Style::Crosses,
    ));
    let tokens = Figure {
        id: "tokens".into(),
        heading: "Output tokens per second against concurrency".into(),
        svg: c.render()?,
        caption: "Output tokens of successful streams per second of each step's window: the throughput side of the throughput–latency trade-off. Past C_max, more concurrency buys few tokens and costs latency.".into(),
    };
    Ok(vec![ttft, itl, tokens])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(n: u64, pass: bool, ttft_p99: f64, tps: f64) -> StepResult {
        StepResult {
            requests: 10,
            pass,
            concurrency: Some(n),
            stream: Some(StreamStepStats {
                ttft_ms: Quantiles {
                    p50: ttft_p99 / 2.0,
                    p90: ttft_p99 * 0.8,
                    p99: ttft_p99,
                    max: ttft_p99,
                },
                output_tokens_per_s: tps,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn three_charts_with_the_limits_drawn_and_none_without_streams() {
        let req = Requirements {
            p99_ms: 0.0,
            max_error_percent: 1.0,
            peak_tps: 1.0,
            ramp_minutes: None,
            min_tps: None,
            ttft_p99_ms: Some(500.0),
            itl_p99_ms: None,
            e2e_p99_ms: None,
            min_output_tokens_per_s: None,
            peak_concurrency: None,
        };
        let steps = [
            step(1, true, 200.0, 30.0),
            step(2, true, 300.0, 50.0),
            step(4, false, 900.0, 60.0),
        ];
        let f = stream_figures(&steps, &req).unwrap();
        let ids: Vec<&str> = f.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["ttft", "itl", "tokens"]);
        assert!(f[0].svg.contains("TTFT p99 limit 500 ms"), "{}", f[0].svg);
        assert!(f[0].caption.contains("p99 limit (500 ms)"));
        assert!(f[1].caption.contains("No limit was set"));
        let rate_steps = [StepResult {
            requests: 10,
            ..Default::default()
        }];
        assert!(stream_figures(&rate_steps, &req).unwrap().is_empty());
    }
}
