//! The report's charts, built from its steps: latency against achieved rate, error percent by
//! class against offered rate, achieved against offered rate; and the p99 curves that the
//! comparison overlays.

use crate::decide::autoscale::{EventKind, Row, Timeline};
use crate::decide::verdict::MIN_ACHIEVED_RATIO;
use crate::measure::stats::StepResult;

use super::chart::{self, Chart, Rule, Scale, Series, Style};

/// A chart ready for a page: an anchor id, a heading, the SVG and a caption.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    pub id: String,
    pub heading: String,
    pub svg: String,
    pub caption: String,
}

/// Latency spans orders of magnitude once an endpoint saturates; a log axis keeps the knee
/// readable then, a linear one is easier to read otherwise.
pub fn latency_scale<'a>(values: impl Iterator<Item = &'a f64>) -> Scale {
    let (lo, hi) = values
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::MAX, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi > 0.0 && hi / lo > 20.0 {
        Scale::Log
    } else {
        Scale::Linear
    }
}

/// Steps in the order of their offered rate: the order a curve is drawn in. (A search visits
/// rates out of order, and a saturated step's achieved rate can fall below a lower step's.)
pub fn by_offered_rate(steps: &[StepResult]) -> Vec<StepResult> {
    let mut v = steps.to_vec();
    v.sort_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps));
    v
}

/// p50/p90/p99 of response time against achieved rate, the p99 limit, passing steps marked.
pub fn latency(steps: &[StepResult], p99_limit_ms: Option<f64>) -> crate::error::Result<Figure> {
    let steps = &by_offered_rate(steps);
    let mut c = Chart::new(
        "Response time against achieved rate",
        "achieved rate (requests/s)",
        "response time (ms)",
    );
    let pts = |f: fn(&StepResult) -> f64| -> Vec<(f64, f64)> {
        steps.iter().map(|s| (s.achieved_rps, f(s))).collect()
    };
    c.series.push(Series::new(
        "p50",
        pts(|s| s.latency_ms.p50),
        chart::PALETTE[5],
        Style::Line,
    ));
    c.series.push(Series::new(
        "p90",
        pts(|s| s.latency_ms.p90),
        chart::PALETTE[4],
        Style::Line,
    ));
    c.series.push(Series::new(
        "p99",
        pts(|s| s.latency_ms.p99),
        chart::PALETTE[0],
        Style::Line,
    ));
    let (pass, fail): (Vec<&StepResult>, Vec<&StepResult>) = steps.iter().partition(|s| s.pass);
    c.series.push(Series::new(
        "passing step (p99)",
        pass.iter()
            .map(|s| (s.achieved_rps, s.latency_ms.p99))
            .collect(),
        chart::PASS,
        Style::Dots,
    ));
    c.series.push(Series::new(
        "failing step (p99)",
        fail.iter()
            .map(|s| (s.achieved_rps, s.latency_ms.p99))
            .collect(),
        chart::FAIL,
        Style::Crosses,
    ));
    if let Some(l) = p99_limit_ms {
        c.rules.push(Rule {
            y: l,
            label: format!("p99 limit {} ms", chart::tick(l)),
            color: chart::LIMIT,
        });
    }
    c.y_scale = latency_scale(
        steps
            .iter()
            .flat_map(|s| [&s.latency_ms.p50, &s.latency_ms.p99])
            .chain(p99_limit_ms.as_ref()),
    );
    let scale_note = if c.y_scale == Scale::Log {
        " The time axis is logarithmic: latency spans more than a factor of 20."
    } else {
        ""
    };
    Ok(Figure {
        id: "latency".into(),
        heading: "Response time against achieved rate".into(),
        svg: c.render()?,
        caption: format!(
            "Percentiles from each request's intended send time. A step passes when its p99 is at or under the dashed limit, its errors are within the limit and it achieved at least {:.0} % of the offered rate.{scale_note}",
            MIN_ACHIEVED_RATIO * 100.0
        ),
    })
}

/// Error percent by class against offered rate, with the error limit.
pub fn errors(steps: &[StepResult], max_error_percent: f64) -> crate::error::Result<Figure> {
    let steps = &by_offered_rate(steps);
    let mut c = Chart::new(
        "Errors by class against offered rate",
        "offered rate (requests/s)",
        "errors (% of requests)",
    );
    let mut classes: Vec<&String> = steps
        .iter()
        .flat_map(|s| s.errors_by_class.iter())
        .filter(|(_, n)| **n > 0)
        .map(|(k, _)| k)
        .collect();
    classes.sort();
    classes.dedup();
    for (i, class) in classes.iter().enumerate() {
        let points = steps
            .iter()
            .map(|s| {
                let n = s.errors_by_class.get(*class).copied().unwrap_or(0);
                let pct = if s.requests > 0 {
                    n as f64 * 100.0 / s.requests as f64
                } else {
                    0.0
                };
                (s.offered_rps, pct)
            })
            .collect();
        c.series.push(Series::new(
            class.as_str(),
            points,
            chart::PALETTE[(i + 1) % chart::PALETTE.len()],
            Style::Line,
        ));
    }
    if classes.is_empty() {
        c.series.push(Series::new(
            "errors (none seen)",
            steps.iter().map(|s| (s.offered_rps, 0.0)).collect(),
            chart::PALETTE[2],
            Style::Line,
        ));
    }
    c.rules.push(Rule {
        y: max_error_percent,
        label: format!("limit {} %", chart::tick(max_error_percent)),
        color: chart::LIMIT,
    });
    Ok(Figure {
        id: "errors".into(),
        heading: "Errors by class against offered rate".into(),
        svg: c.render()?,
        caption: "Each line is one error class (stable keys of errors_by_class) as a percent of the step's measured requests.".into(),
    })
}

/// Achieved against offered rate, with the ideal and the pass threshold.
pub fn throughput(steps: &[StepResult]) -> crate::error::Result<Figure> {
    let steps = &by_offered_rate(steps);
    let mut c = Chart::new(
        "Achieved against offered rate",
        "offered rate (requests/s)",
        "achieved rate (requests/s)",
    );
    let top = steps
        .iter()
        .map(|s| s.offered_rps.max(s.achieved_rps))
        .fold(0.0_f64, f64::max);
    c.series.push(Series::new(
        "achieved",
        steps
            .iter()
            .map(|s| (s.offered_rps, s.achieved_rps))
            .collect(),
        chart::PALETTE[0],
        Style::Line,
    ));
    c.series.push(Series::new(
        "achieved = offered",
        vec![(0.0, 0.0), (top, top)],
        chart::GREY,
        Style::Dashed,
    ));
    c.series.push(Series::new(
        format!(
            "{:.0} % of offered (pass threshold)",
            MIN_ACHIEVED_RATIO * 100.0
        ),
        vec![(0.0, 0.0), (top, top * MIN_ACHIEVED_RATIO)],
        chart::LIMIT,
        Style::Dashed,
    ));
    let (pass, fail): (Vec<&StepResult>, Vec<&StepResult>) = steps.iter().partition(|s| s.pass);
    c.series.push(Series::new(
        "passing step",
        pass.iter()
            .map(|s| (s.offered_rps, s.achieved_rps))
            .collect(),
        chart::PASS,
        Style::Dots,
    ));
    c.series.push(Series::new(
        "failing step",
        fail.iter()
            .map(|s| (s.offered_rps, s.achieved_rps))
            .collect(),
        chart::FAIL,
        Style::Crosses,
    ));
    Ok(Figure {
        id: "throughput".into(),
        heading: "Achieved against offered rate".into(),
        svg: c.render()?,
        caption: "Below the line the endpoint (or the generator) could not keep up with the offered rate: requests queued or failed.".into(),
    })
}

/// The three charts of a report, or none when no step was completed.
pub fn report_figures(
    steps: &[StepResult],
    p99_limit_ms: Option<f64>,
    max_error_percent: f64,
) -> crate::error::Result<Vec<Figure>> {
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![
        latency(steps, p99_limit_ms)?,
        errors(steps, max_error_percent)?,
        throughput(steps)?,
    ])
}

/// The auto-scaling ramp, minute by minute: offered traffic against the capacity in service
/// (and asked for), and the load on each instance against MAX_RPS.
pub fn ramp(t: &Timeline) -> crate::error::Result<Vec<Figure>> {
    let mut c = Chart::new(
        "Traffic and capacity during the ramp",
        "minutes",
        "requests/s",
    );
    let pts = |f: &dyn Fn(&Row) -> f64| -> Vec<(f64, f64)> {
        t.rows
            .iter()
            .filter(|r| r.t_min >= 0.0)
            .map(|r| (r.t_min, f(r)))
            .collect()
    };
    c.series.push(Series::new(
        "offered traffic",
        pts(&|r| r.offered_rps),
        chart::PALETTE[1],
        Style::Line,
    ));
    c.series.push(Series::new(
        "capacity in service (instances × MAX_RPS)",
        pts(&|r| r.capacity_rps),
        chart::PALETTE[0],
        Style::Line,
    ));
    c.series.push(Series::new(
        "capacity asked for (desired × MAX_RPS)",
        pts(&|r| r.desired as f64 * t.max_rps_per_instance),
        chart::GREY,
        Style::Dashed,
    ));
    let scale_outs: Vec<(f64, f64)> = t
        .events
        .iter()
        .filter(|e| e.kind == EventKind::ScaleOut)
        .map(|e| (e.t_min, e.desired as f64 * t.max_rps_per_instance))
        .collect();
    c.series.push(Series::new(
        "scale-out decision",
        scale_outs,
        chart::PALETTE[2],
        Style::Dots,
    ));
    let traffic = Figure {
        id: "ramp-capacity".into(),
        heading: "Auto-scaling: traffic and capacity during the ramp".into(),
        svg: c.render()?,
        caption: format!(
            "Simulated target tracking on SageMakerVariantInvocationsPerInstance, MinCapacity {} to MaxCapacity {}, one row per minute. Capacity in service lags what is asked for by the provisioning time; where offered traffic rises above it, instances run beyond MAX_RPS.",
            t.min_capacity, t.max_capacity
        ),
    };

    let mut c = Chart::new(
        "Load per instance during the ramp",
        "minutes",
        "requests/s per instance",
    );
    c.series.push(Series::new(
        "highest load per instance in the minute",
        pts(&|r| r.load_per_instance_rps),
        chart::PALETTE[0],
        Style::Line,
    ));
    let over: Vec<(f64, f64)> = t
        .rows
        .iter()
        .filter(|r| r.over_max_rps && r.t_min >= 0.0)
        .map(|r| (r.t_min, r.load_per_instance_rps))
        .collect();
    c.series.push(Series::new(
        "above MAX_RPS",
        over,
        chart::FAIL,
        Style::Crosses,
    ));
    c.rules.push(Rule {
        y: t.max_rps_per_instance,
        label: format!("MAX_RPS {}", chart::tick(t.max_rps_per_instance)),
        color: chart::LIMIT,
    });
    let load = Figure {
        id: "ramp-load".into(),
        heading: "Auto-scaling: load per instance against MAX_RPS".into(),
        svg: c.render()?,
        caption: if t.holds {
            format!(
                "Every instance in service stays at or under MAX_RPS (worst {:.1} requests/s at minute {:.0}), so the measured p99 and error limits hold through the ramp.",
                t.worst_load_per_instance_rps, t.worst_at_min
            )
        } else {
            format!(
                "Instances run above MAX_RPS for {:.1} minutes (worst {:.1} requests/s at minute {:.0}): the measured limits do not hold there.",
                t.overloaded_minutes, t.worst_load_per_instance_rps, t.worst_at_min
            )
        },
    };
    Ok(vec![traffic, load])
}

/// p99 against achieved rate, one line per labelled curve (points in offered-rate order), with
/// the p99 limit.
pub fn p99_overlay(
    curves: &[(String, Vec<(f64, f64)>)],
    p99_limit_ms: Option<f64>,
) -> crate::error::Result<Figure> {
    let mut c = Chart::new(
        "p99 response time against achieved rate, all reports",
        "achieved rate per instance (requests/s)",
        "p99 response time (ms)",
    );
    for (i, (label, points)) in curves.iter().enumerate() {
        c.series.push(Series::new(
            label.as_str(),
            points.clone(),
            chart::PALETTE[i % chart::PALETTE.len()],
            Style::Line,
        ));
    }
    if let Some(l) = p99_limit_ms {
        c.rules.push(Rule {
            y: l,
            label: format!("p99 limit {} ms", chart::tick(l)),
            color: chart::LIMIT,
        });
    }
    c.y_scale = latency_scale(
        curves
            .iter()
            .flat_map(|(_, p)| p.iter().map(|(_, y)| y))
            .chain(p99_limit_ms.as_ref()),
    );
    Ok(Figure {
        id: "p99-overlay".into(),
        heading: "p99 response time against achieved rate".into(),
        svg: c.render()?,
        caption: "One line per report. The further right a line stays under the dashed limit, the more each instance serves.".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_uses_a_log_axis_only_when_it_spans_orders_of_magnitude() {
        assert_eq!(latency_scale([10.0, 30.0, 100.0].iter()), Scale::Linear);
        assert_eq!(latency_scale([10.0, 30.0, 5000.0].iter()), Scale::Log);
        assert_eq!(latency_scale([0.0, 10.0].iter()), Scale::Linear);
        assert_eq!(latency_scale([].iter()), Scale::Linear);
    }
}
