//! The pages people read: report.html, summary.md and steps.csv beside every report, the
//! comparison across instance types with cost, and both opened in a real headless Chromium.

use std::path::Path;

use crate::common::browser::{Browser, assert_self_contained_with_charts, problems};
use crate::common::*;
use rightsize::config::Campaign;
use rightsize::measure::stats::{LatencySummary, StepResult};
use rightsize::report::{Report, SCHEMA_VERSION};
use rightsize::sim::{FakeConfig, FakeEndpoint};

/// A price table for the simulated instance types.
const TEST_PRICES: &str = r#"region = "test"
currency = "USD"
taken_on = "2026-11-23"
source = "made up for the tests"
verified = true

[hourly_usd]
"ml.small.test" = 0.1
"ml.big.test" = 0.5
"#;

/// A step at `rate` whose p99 is a tenth of the rate in ms; failing steps say why.
fn step(rate: f64, pass: bool, reason: &str) -> StepResult {
    let p99 = rate / 10.0;
    StepResult {
        offered_rps: rate,
        achieved_rps: rate,
        duration_s: 10.0,
        requests: (rate * 10.0) as u64,
        errors: 0,
        error_percent: 0.0,
        errors_by_class: Default::default(),
        latency_ms: LatencySummary {
            p50: p99 / 2.0,
            p90: p99 * 0.8,
            p95: p99 * 0.9,
            p99,
            p999: p99 * 1.2,
            max: p99 * 1.5,
            mean: p99 / 2.0,
        },
        service_ms: LatencySummary::default(),
        pass,
        reasons: if pass {
            vec![]
        } else {
            vec![reason.to_string()]
        },
        sent: (rate * 10.0) as u64,
        unsent: 0,
        warmup_s: 1.0,
        aborted: false,
        repeat_of: None,
        recovery_s: None,
        served_rps: None,
        status_counts: Default::default(),
        original_status_counts: Default::default(),
        variants: Default::default(),
        ..Default::default()
    }
}

/// A hand-built report of `instance_type` judged against `p99_ms`, sized for 1000 rps.
fn hand_report(name: &str, instance_type: &str, p99_ms: f64, steps: &[(f64, bool)]) -> Report {
    let text = format!(
        "name = \"{name}\"\n[target]\nkind = \"http\"\nurl = \"http://127.0.0.1:9/invocations\"\ninstance_type = \"{instance_type}\"\n[payload]\nbody = '{{}}'\n[requirements]\np99_ms = {p99_ms}\nmax_error_percent = 0.1\npeak_tps = 1000\n"
    );
    let campaign = Campaign::parse(&text, Path::new("t.toml"), Path::new(".")).unwrap();
    let steps: Vec<StepResult> = steps
        .iter()
        .map(|(r, p)| step(*r, *p, "p99 too high"))
        .collect();
    let recommendation = rightsize::decide::recommend::recommend(
        &steps,
        &campaign.target,
        &campaign.requirements,
        campaign.recommend.safety_factor,
    );
    Report {
        schema_version: SCHEMA_VERSION,
        tool_version: "test".into(),
        started_at: "2026-11-23T10:00:00Z".into(),
        finished_at: "2026-11-23T10:05:00Z".into(),
        max_rps: rightsize::decide::recommend::max_rps_per_instance(&steps, 1),
        steps,
        recommendation,
        max_concurrency_per_instance: None,
        partial: false,
        stop_reason: "resolution reached".into(),
        managed: None,
        campaign,
    }
}

fn save(report: &Report, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, report.to_json()).unwrap();
}

#[test]
fn demo_writes_pages_that_show_the_recommendation_and_its_charts_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_bin(&["demo", "--out", "d", "--quiet"], dir.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("report.html"), "{stdout}");
    let d = dir.path().join("d");
    let json = read_json(&d.join("report.json"));
    assert_matches_schema(&json, "report.schema.json");
    let rec = &json["recommendation"];
    let target = rec["invocations_target"].as_u64().unwrap().to_string();
    // The demo's ml.c5.xlarge is priced from the built-in us-east-1 table.
    let cost = &rec["cost"];
    assert_eq!(cost["hourly_usd_per_instance"].as_f64(), Some(0.204));
    assert_eq!(
        cost["hourly_usd_max"].as_f64().unwrap(),
        (0.204 * rec["max_instances"].as_f64().unwrap() * 1e6).round() / 1e6
    );

    let steps = json["steps"].as_array().unwrap().len();
    let csv = std::fs::read_to_string(d.join("steps.csv")).unwrap();
    assert_eq!(csv.lines().count(), steps + 1, "{csv}");
    let md = std::fs::read_to_string(d.join("summary.md")).unwrap();
    assert!(md.contains(&format!("**{target}**")), "{md}");
    assert_eq!(
        md.lines()
            .filter(|l| l.contains("✅") || l.contains("❌"))
            .count(),
        steps
    );
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    eprintln!("report.html: {} bytes", html.len());
    assert!(html.contains(&target));
    // The three step charts, and the two ramp charts (the demo campaign gives ramp_minutes).
    assert_eq!(html.matches("<svg").count(), 5);
    assert!(html.contains("Auto-scaling: load per instance against MAX_RPS"));

    let Some(mut browser) = Browser::start("demo pages") else {
        return;
    };
    let page = browser.open(&d.join("report.html"), "demo-report");
    assert_self_contained_with_charts(&page, 5);
    assert!(page.title.contains("demo"), "{}", page.title);
    for want in [
        "Recommendation",
        target.as_str(),
        "invocations_target",
        "Response time against achieved rate",
        "Errors by class against offered rate",
        "Achieved against offered rate",
    ] {
        assert!(page.text.contains(want), "{want:?} not shown");
    }
    let labels: Vec<&str> = page.svgs.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Response time against achieved rate",
            "Errors by class against offered rate",
            "Achieved against offered rate",
            "Traffic and capacity during the ramp",
            "Load per instance during the ramp"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_ranks_two_simulated_instance_types_by_the_cost_of_serving_the_peak() {
    // small: 1 slot × 10 ms = 100 rps at most, $0.10/h; big: 4 slots = 400 rps, $0.50/h.
    // For a 1000 rps peak the slower type is cheaper: ≥ 10 × 0.10 against ≥ 3 × 0.50.
    let small = FakeEndpoint::start_local(FakeConfig {
        slots: 1,
        service_ms: 10.0,
        queue_max: 64,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let big = FakeEndpoint::start_local(FakeConfig {
        slots: 4,
        service_ms: 10.0,
        queue_max: 64,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("prices.toml"), TEST_PRICES).unwrap();
    for (name, ty, url, start) in [
        ("small", "ml.small.test", small.invocations_url(), 25),
        ("big", "ml.big.test", big.invocations_url(), 100),
    ] {
        let c = campaign(
            name,
            &url,
            100.0,
            &format!("start_rps = {start}\nresolution_percent = 5"),
        )
        .replace("ml.test.large", ty);
        std::fs::write(d.join(format!("{name}.toml")), c).unwrap();
    }
    let (a, b) = tokio::join!(
        run_bin_async(
            &[
                "run",
                "small.toml",
                "--out",
                "small",
                "--quiet",
                "--prices",
                "prices.toml"
            ],
            d,
        ),
        run_bin_async(
            &[
                "run",
                "big.toml",
                "--out",
                "big",
                "--quiet",
                "--prices",
                "prices.toml"
            ],
            d,
        )
    );
    for o in [&a, &b] {
        let (stdout, stderr) = text(o);
        assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    }
    small.stop();
    big.stop();
    for name in ["small", "big"] {
        for f in ["report.html", "summary.md", "steps.csv"] {
            assert!(d.join(name).join(f).exists(), "{name}/{f} not written");
        }
    }

    let out = run_bin_async(
        &[
            "compare",
            "big/report.json",
            "small/report.json",
            "--prices",
            "prices.toml",
            "--out",
            "cmp",
        ],
        d,
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let cmp = read_json(&d.join("cmp/compare.json"));
    assert_matches_schema(&cmp, "compare.schema.json");
    assert_eq!(cmp["peak_tps"].as_f64(), Some(1000.0));

    // By hand, from each report's MAX_RPS and the price table.
    let expect = |name: &str, price: f64| {
        let rep = read_json(&d.join(name).join("report.json"));
        let max = rep["recommendation"]["max_rps_per_instance"]
            .as_f64()
            .unwrap();
        let instances = (1000.0 / max).ceil();
        // the report's own cost uses the same price and the same MAX_RPS
        assert_eq!(
            rep["recommendation"]["cost"]["hourly_usd_max"]
                .as_f64()
                .unwrap(),
            ((instances * price) * 1e6).round() / 1e6,
            "{name}: report cost"
        );
        (
            max,
            instances,
            instances * price,
            price / (max * 3600.0) * 1e6,
        )
    };
    let rows = cmp["rows"].as_array().unwrap();
    let want = [
        ("small/report.json", expect("small", 0.1)),
        ("big/report.json", expect("big", 0.5)),
    ];
    for (i, (file, (max, instances, hourly, per_million))) in want.iter().enumerate() {
        let r = &rows[i];
        assert_eq!(r["report"], *file, "row {i}: {cmp:#}");
        assert_eq!(r["rank"].as_u64(), Some(i as u64 + 1));
        assert_eq!(r["meets_requirements"], true);
        assert_eq!(r["max_rps_per_instance"].as_f64(), Some(*max));
        assert_eq!(r["instances_for_peak"].as_f64(), Some(*instances));
        assert!((r["hourly_usd_for_peak"].as_f64().unwrap() - hourly).abs() < 1e-6);
        assert!((r["usd_per_million"].as_f64().unwrap() - per_million).abs() < 1e-6);
    }
    assert!(want[0].1.2 < want[1].1.2, "small is cheaper for the peak");
    let md = std::fs::read_to_string(d.join("cmp/compare.md")).unwrap();
    assert!(
        md.contains("Cheapest for the peak: **ml.small.test**"),
        "{md}"
    );
    assert!(stdout.contains("Cheapest for the peak"), "{stdout}");

    let html = std::fs::read_to_string(d.join("cmp/compare.html")).unwrap();
    eprintln!("compare.html: {} bytes", html.len());
    let Some(mut browser) = Browser::start("compare pages") else {
        return;
    };
    let page = browser.open(&d.join("cmp/compare.html"), "compare");
    assert_self_contained_with_charts(&page, 1);
    assert!(page.svgs[0].polylines >= 2, "one p99 line per report");
    for want in ["ml.small.test", "ml.big.test", "Cheapest for the peak"] {
        assert!(page.text.contains(want), "{want:?} not shown");
    }
    let page = browser.open(&d.join("big/report.html"), "big-report");
    assert_self_contained_with_charts(&page, 3);
}

#[test]
fn compare_refuses_reports_with_different_requirements_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("prices.toml"), TEST_PRICES).unwrap();
    save(
        &hand_report("a", "ml.small.test", 50.0, &[(100.0, true), (600.0, false)]),
        &d.join("a/report.json"),
    );
    save(
        &hand_report("b", "ml.big.test", 100.0, &[(200.0, true), (800.0, true)]),
        &d.join("b/report.json"),
    );
    let args = [
        "compare",
        "a/report.json",
        "b/report.json",
        "--prices",
        "prices.toml",
        "--out",
        "c",
    ];
    let out = run_bin(&args, d);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("b/report.json (p99_ms 50 vs 100)"),
        "{stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(!d.join("c/compare.json").exists());

    let mut forced = args.to_vec();
    forced.push("--force");
    let out = run_bin(&forced, d);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let cmp = read_json(&d.join("c/compare.json"));
    assert_matches_schema(&cmp, "compare.schema.json");
    assert_eq!(cmp["forced"], true);
    // Judged against a's 50 ms limit, b's 800 rps step (p99 80 ms) no longer passes.
    let b = cmp["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["report"] == "b/report.json")
        .unwrap();
    assert_eq!(b["max_rps_per_instance"].as_f64(), Some(200.0));
}

#[test]
fn compare_exits_3_and_ranks_nothing_when_no_report_met_the_requirements() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    save(
        &hand_report("a", "ml.c5.xlarge", 50.0, &[(600.0, false)]),
        &d.join("a/report.json"),
    );
    let out = run_bin(&["compare", "a/report.json", "--out", "c"], d);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let cmp = read_json(&d.join("c/compare.json"));
    assert_matches_schema(&cmp, "compare.schema.json");
    assert!(cmp["rows"][0]["rank"].is_null());
    assert_eq!(cmp["rows"][0]["meets_requirements"], false);
}

#[test]
fn report_renders_the_pages_of_a_saved_report_again_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    save(
        &hand_report(
            "saved",
            "ml.m5.large",
            50.0,
            &[(100.0, true), (400.0, true), (800.0, false)],
        ),
        &d.join("a/report.json"),
    );
    let out = run_bin(&["report", "a/report.json"], d);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let out = run_bin(&["report", "a/report.json", "--out", "b"], d);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    for f in ["report.html", "summary.md", "steps.csv"] {
        let a = std::fs::read_to_string(d.join("a").join(f)).unwrap();
        let b = std::fs::read_to_string(d.join("b").join(f)).unwrap();
        assert_eq!(a, b, "{f} is rendered from the JSON alone");
    }
    let html = std::fs::read_to_string(d.join("a/report.html")).unwrap();
    // MAX_RPS 400 → invocations_target floor(400 × 0.5 × 60) = 12000, 3 instances for 1000 rps
    assert!(html.contains(">12000<"), "invocations_target in large type");
    assert!(html.contains("1 – 3"));
    assert!(
        html.contains("p99 limit 50 ms"),
        "the limit line is labelled"
    );

    for bad in ["missing.json", "prices.toml"] {
        std::fs::write(d.join("prices.toml"), "not json").unwrap();
        let out = run_bin(&["report", bad], d);
        assert_eq!(out.status.code(), Some(2), "{bad}: {:?}", text(&out));
        assert!(text(&out).1.contains(bad), "{:?}", text(&out));
    }
}

#[test]
fn a_bad_price_table_is_bad_input_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    save(
        &hand_report("a", "ml.c5.xlarge", 50.0, &[(100.0, true)]),
        &d.join("a/report.json"),
    );
    std::fs::write(
        d.join("bad.toml"),
        TEST_PRICES.replace("\"ml.big.test\" = 0.5", "\"ml.big.test\" = -0.5"),
    )
    .unwrap();
    let out = run_bin(&["compare", "a/report.json", "--prices", "bad.toml"], d);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(stderr.contains("hourly_usd.\"ml.big.test\""), "{stderr}");
}

#[test]
fn labels_containing_markup_are_escaped_in_every_page() {
    const EVIL: &str = "<script>alert(1)</script>";
    const SAFE: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";
    let mut r = hand_report(EVIL, EVIL, 50.0, &[(100.0, true), (800.0, false)]);
    r.campaign.target.url = Some(format!("http://127.0.0.1:9/{EVIL}"));
    r.campaign.payload.body = Some(format!("{{\"inputs\": \"{EVIL}\"}}"));
    r.steps[1].reasons = vec![format!("model said {EVIL}")];
    r.steps[1].errors_by_class.insert(EVIL.into(), 3);
    r.stop_reason = EVIL.into();
    r.partial = true;

    let html = rightsize::report::html::render_report(&r).unwrap();
    assert!(!html.contains("<script"), "raw markup in report.html");
    // name (title, heading), instance type, URL, payload, reason, error class, stop reason
    assert!(html.matches(SAFE).count() >= 8, "{html}");
    assert!(
        html.contains(&format!("&quot;inputs&quot;: &quot;{SAFE}&quot;")),
        "payload snippet"
    );
    let md = rightsize::report::markdown::summary(&r);
    assert!(!md.contains("<script"), "raw markup in summary.md");
    assert!(md.contains(SAFE));

    let inputs = vec![rightsize::report::compare::Input {
        label: format!("{EVIL}.json"),
        report: r.clone(),
    }];
    let cmp = rightsize::report::compare::compare(&inputs, None, false).unwrap();
    let compare_html = rightsize::report::compare_page::render_html(&cmp, &inputs).unwrap();
    assert!(
        !compare_html.contains("<script"),
        "raw markup in compare.html"
    );
    assert!(compare_html.contains(SAFE));
    let compare_md = rightsize::report::compare_page::render_markdown(&cmp);
    assert!(!compare_md.contains("<script"), "raw markup in compare.md");

    // The same labels through the command line, and in a browser: shown as text, never run.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut saved = hand_report(EVIL, EVIL, 50.0, &[(100.0, true), (800.0, false)]);
    saved.steps[1].reasons = vec![format!("model said {EVIL}")];
    save(&saved, &d.join("r/report.json"));
    let out = run_bin(&["report", "r/report.json"], d);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let page_html = std::fs::read_to_string(d.join("r/report.html")).unwrap();
    assert!(!page_html.contains("<script"));
    std::fs::write(d.join("direct.html"), &html).unwrap();
    std::fs::write(d.join("compare.html"), &compare_html).unwrap();

    let Some(mut browser) = Browser::start("escaping") else {
        return;
    };
    for (file, charts) in [
        ("r/report.html", 3),
        ("direct.html", 3),
        ("compare.html", 1),
    ] {
        let page = browser.open(
            &d.join(file),
            &format!("escaped-{}", file.replace('/', "-")),
        );
        assert_self_contained_with_charts(&page, charts);
        assert!(
            page.text.contains(EVIL),
            "{file}: the label is shown as text"
        );
    }
}

#[test]
fn the_browser_check_catches_network_requests_and_console_errors() {
    // A control for the checks above: a page that fetches from loopback and logs an error
    // must fail them. Nothing listens on the port, so nothing leaves this machine.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("leaky.html");
    std::fs::write(
        &file,
        format!(
            "<!DOCTYPE html><html><head><title>leaky</title></head><body>\
             <img src=\"http://127.0.0.1:{port}/pixel.png\" alt=\"\">\
             <script>console.error('deliberate error');</script></body></html>"
        ),
    )
    .unwrap();
    let Some(mut browser) = Browser::start("browser control") else {
        return;
    };
    let page = browser.open(&file, "control-leaky");
    assert!(
        page.requests
            .iter()
            .any(|u| u == &format!("http://127.0.0.1:{port}/pixel.png")),
        "{:?}",
        page.requests
    );
    assert!(
        page.console_errors
            .iter()
            .any(|e| e.contains("deliberate error")),
        "{:?}",
        page.console_errors
    );
    assert_eq!(page.scripts, 1);
    let found = problems(&page, 0);
    for want in [
        "requests besides the page",
        "console errors",
        "script elements",
    ] {
        assert!(
            found.iter().any(|p| p.contains(want)),
            "{want:?} not reported: {found:?}"
        );
    }
}
