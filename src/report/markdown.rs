//! `summary.md` (the recommendation and the step table as GitHub-flavoured Markdown, for
//! `$GITHUB_STEP_SUMMARY` or a pull-request comment) and `steps.csv` (for spreadsheets).

use std::fmt::Write;

use crate::measure::stats::{ErrorClass, Verdict};
use crate::num::fmt_num;
use crate::prices::usd;

use super::Report;
use super::html::{no_recommendation_reason, requirement_items, step_rows};

/// Escapes text for Markdown: punctuation that would format or break a table cell, and HTML.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `summary.md` for a report.
pub fn summary(report: &Report) -> String {
    let c = &report.campaign;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## rightsize: {} on {} × {}\n",
        md(&c.name),
        md(&c.target.instance_type),
        c.target.instance_count
    );
    if report.partial {
        let _ = writeln!(out, "> **Partial report:** {}\n", md(&report.stop_reason));
    }
    match &report.recommendation {
        Some(r) => {
            if let Some(k) = &r.concurrency {
                let cost = match &r.cost {
                    Some(c) => format!(
                        "${}/h at min, ${}/h at max, {} per million output tokens, ${} per million requests",
                        usd(c.hourly_usd_min),
                        usd(c.hourly_usd_max),
                        c.usd_per_million_output_tokens
                            .map(|t| format!("${}", usd(t)))
                            .unwrap_or_else(|| "–".into()),
                        usd(c.usd_per_million)
                    ),
                    None => "no price known".to_string(),
                };
                let _ = writeln!(
                    out,
                    "| C_max per {one} | TargetValue ({metric}) | output tokens/s at C_max | {many} (min – max) | cost |\n|---:|---:|---:|:---:|---|\n| **{}** | **{}** | {} | **{} – {}** | {} |\n",
                    k.max_concurrency_per_instance,
                    fmt_num(k.target_value),
                    fmt_num(k.output_tokens_per_s_per_instance),
                    r.min_instances,
                    r.max_instances,
                    md(&cost),
                    one = k.unit.word(),
                    many = k.unit.plural(),
                    metric = k.metric,
                );
            } else {
                let _ = writeln!(
                    out,
                    "| MAX_RPS per instance | invocations_target | instances (min – max) | cost |"
                );
                let _ = writeln!(out, "|---:|---:|:---:|---|");
                let cost = match &r.cost {
                    Some(k) => format!(
                        "${}/h at min, ${}/h at max, ${} per million inferences",
                        usd(k.hourly_usd_min),
                        usd(k.hourly_usd_max),
                        usd(k.usd_per_million)
                    ),
                    None => "no price known".to_string(),
                };
                let _ = writeln!(
                    out,
                    "| **{}** | **{}** | **{} – {}** | {} |\n",
                    fmt_num(r.max_rps_per_instance),
                    r.invocations_target,
                    r.min_instances,
                    r.max_instances,
                    md(&cost)
                );
            }
            let _ = writeln!(
                out,
                "<details><summary>How each number was found</summary>\n"
            );
            for e in &r.explanation {
                let _ = writeln!(out, "- {}", md(e));
            }
            let _ = writeln!(out, "\n</details>\n");
            let _ = writeln!(
                out,
                "Scaling policy (target tracking on `SageMakerVariantInvocationsPerInstance`):\n\n```json\n{}\n```\n",
                serde_json::to_string_pretty(&r.scaling_policy).unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "**No recommendation.** {}\n",
                md(&no_recommendation_reason(report))
            );
        }
    }
    let reqs: Vec<String> = requirement_items(report)
        .iter()
        .map(|i| format!("{} {}", md(&i.label), md(&i.value)))
        .collect();
    let _ = writeln!(out, "Requirements: {}.\n", reqs.join(" · "));
    let _ = writeln!(
        out,
        "| # | offered rps | achieved rps | requests | errors % | p50 ms | p90 ms | p99 ms | result |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for s in step_rows(report) {
        let repeat = s
            .repeat_of
            .map(|r| format!(" (repeat of #{r})"))
            .unwrap_or_default();
        let result = if s.pass {
            if s.best {
                format!("✅ pass (MAX_RPS){repeat}")
            } else {
                format!("✅ pass{repeat}")
            }
        } else if s.inconclusive {
            format!("⚠️ inconclusive{repeat}: {}", md(&s.reasons))
        } else {
            format!("❌{repeat} {}", md(&s.reasons))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.index,
            s.offered,
            s.achieved,
            s.requests,
            s.error_percent,
            s.p50,
            s.p90,
            s.p99,
            result
        );
    }
    let rows = step_rows(report);
    if rows.iter().any(|s| s.stream.is_some()) {
        let _ = writeln!(
            out,
            "\n| # | concurrency | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | gap p99 ms | end-to-end p99 ms | output tokens/s | goodput rps |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for s in &rows {
            if let Some(st) = &s.stream {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    s.index,
                    s.concurrency,
                    st.ttft_p50,
                    st.ttft_p99,
                    st.itl_p50,
                    st.itl_p99,
                    st.gap_p99,
                    st.e2e_p99,
                    st.tokens_per_s,
                    st.goodput
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\nLatency from each request's intended send time. Full report: `report.html` (charts), `report.json` (data)."
    );
    out
}

/// Quotes a CSV field when it holds a separator, a quote or a line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `steps.csv`: one row per step, one column per figure; the error classes are fixed columns.
pub fn steps_csv(report: &Report) -> String {
    let mut out = String::new();
    let mut header: Vec<String> = [
        "step",
        "offered_rps",
        "achieved_rps",
        "duration_s",
        "requests",
        "errors",
        "error_percent",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for which in ["latency_ms", "service_ms"] {
        for p in ["p50", "p90", "p95", "p99", "p999", "max", "mean"] {
            header.push(format!("{which}_{p}"));
        }
    }
    for class in ErrorClass::ALL {
        header.push(format!("errors_{}", class.name()));
    }
    header.extend(["sent", "unsent", "verdict", "repeat_of", "pass", "reasons"].map(String::from));
    let _ = writeln!(out, "{}", header.join(","));
    for (i, s) in report.steps.iter().enumerate() {
        let mut f: Vec<String> = vec![
            (i + 1).to_string(),
            s.offered_rps.to_string(),
            s.achieved_rps.to_string(),
            s.duration_s.to_string(),
            s.requests.to_string(),
            s.errors.to_string(),
            s.error_percent.to_string(),
        ];
        for l in [&s.latency_ms, &s.service_ms] {
            f.extend([l.p50, l.p90, l.p95, l.p99, l.p999, l.max, l.mean].map(|v| v.to_string()));
        }
        for class in ErrorClass::ALL {
            f.push(
                s.errors_by_class
                    .get(class.name())
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
            );
        }
        f.push(s.sent.to_string());
        f.push(s.unsent.to_string());
        // Steps saved before `verdict` existed have only `pass`.
        f.push(
            match s.verdict {
                Some(Verdict::Inconclusive) => "inconclusive",
                Some(Verdict::Fail) => "fail",
                Some(Verdict::Pass) => "pass",
                None if s.pass => "pass",
                None => "fail",
            }
            .to_string(),
        );
        f.push(s.repeat_of.map(|r| (r + 1).to_string()).unwrap_or_default());
        f.push(s.pass.to_string());
        f.push(csv_field(&s.reasons.join("; ")));
        let _ = writeln!(out, "{}", f.join(","));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::report;

    #[test]
    fn markdown_escapes_what_would_format_or_inject() {
        assert_eq!(md("a|b"), "a\\|b");
        assert_eq!(md("<script>x</script>"), "&lt;script&gt;x&lt;/script&gt;");
        assert_eq!(md("*bold* _it_"), "\\*bold\\* \\_it\\_");
        assert_eq!(md("two\nlines"), "two lines");
    }

    #[test]
    fn summary_has_the_numbers_and_one_table_row_per_step() {
        let r = report(
            "ml.c5.xlarge",
            &[(100.0, true), (400.0, true), (800.0, false)],
            1000.0,
        );
        let s = summary(&r);
        assert!(s.contains("| **400** | **12000** | **1 – 3** |"), "{s}");
        assert!(s.contains("\"TargetValue\": 12000.0"), "{s}");
        let rows = s
            .lines()
            .filter(|l| l.starts_with("| ") && l.ends_with(" |"))
            .count();
        assert_eq!(
            rows,
            2 + 1 + 3,
            "recommendation header and row, table header, 3 steps: {s}"
        );
        assert!(s.contains("✅ pass (MAX_RPS)"));
        assert!(s.contains("❌ p99 80.0 ms &gt; 50 ms"), "{s}");
    }

    #[test]
    fn csv_has_a_fixed_header_and_quotes_reasons() {
        let mut r = report("ml.x", &[(100.0, true), (800.0, false)], 1000.0);
        r.steps[1].reasons = vec!["a, \"quoted\" reason".into(), "another".into()];
        r.steps[1].errors_by_class.insert("throttled".into(), 7);
        let csv = steps_csv(&r);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        let header: Vec<&str> = lines[0].split(',').collect();
        assert_eq!(header[0], "step");
        assert!(header.contains(&"latency_ms_p99"));
        assert!(header.contains(&"errors_throttled"));
        assert_eq!(*header.last().unwrap(), "reasons");
        assert!(
            lines[2].ends_with(",false,\"a, \"\"quoted\"\" reason; another\""),
            "{}",
            lines[2]
        );
        let col = header
            .iter()
            .position(|h| *h == "errors_throttled")
            .unwrap();
        assert_eq!(lines[2].split(',').nth(col), Some("7"));
    }

    #[test]
    fn inconclusive_steps_and_repeats_are_named_in_the_summary_and_the_csv() {
        let mut r = report(
            "ml.x",
            &[(100.0, true), (800.0, false), (800.0, false)],
            1000.0,
        );
        r.steps[1].verdict = Some(Verdict::Inconclusive);
        r.steps[1].reasons = vec!["inconclusive: raise [load] max_concurrency".into()];
        r.steps[2].repeat_of = Some(1);
        let md = summary(&r);
        // The reason is Markdown-escaped; the verdict word comes first.
        assert!(
            md.contains("| ⚠️ inconclusive: inconclusive: raise"),
            "{md}"
        );
        assert!(md.contains("❌ (repeat of #2) p99 80.0 ms"), "{md}");
        let csv = steps_csv(&r);
        let lines: Vec<&str> = csv.lines().collect();
        let header: Vec<&str> = lines[0].split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let field = |line: usize, name: &str| lines[line].split(',').nth(col(name)).unwrap();
        assert_eq!(field(1, "verdict"), "pass");
        assert_eq!(field(2, "verdict"), "inconclusive");
        assert_eq!(field(3, "verdict"), "fail");
        assert_eq!(field(3, "repeat_of"), "2");
        assert_eq!(field(2, "repeat_of"), "");
    }
}
