//! Streaming LLM endpoints end to end: concurrency campaigns against the simulated LLM
//! (`rightsize fake-endpoint --llm`), whose prefill, ITL and knee are known, over real HTTP on
//! loopback; and the campaign keys a stream needs.

use crate::common::*;
use rightsize::run::campaign::Outcome;
use rightsize::sim::llm::{LlmConfig, LlmEndpoint};

/// A concurrency campaign against `url` with short steps; `requirements` and `load` are extra
/// lines for those sections.
pub fn stream_campaign(url: &str, requirements: &str, load: &str) -> String {
    format!(
        r#"name = "llm"

[target]
kind = "http"
url = "{url}"
stream = "openai"
timeout_ms = 30000
stream_idle_timeout_ms = 5000

[payload]
body = '{{"model": "m", "messages": [{{"role": "user", "content": "Hello"}}], "max_tokens": 16}}'

[requirements]
p99_ms = 60000
max_error_percent = 0
peak_tps = 10
{requirements}

[load]
mode = "concurrency"
step_seconds = 2
warmup_seconds = 0.5
cooldown_max_seconds = 0
{load}
"#
    )
}

async fn run_campaign(text: &str) -> (rightsize::report::Report, Outcome, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let finished = crate::common::run_campaign(dir.path(), text).await;
    let json = read_json(&finished.dir.join("report.json"));
    assert_matches_schema(&json, "report.schema.json");
    (finished.report, finished.outcome, json)
}

fn within(got: f64, want: f64, share: f64) -> bool {
    (got - want).abs() <= want * share
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_itl_and_tokens_of_the_simulated_llm_are_measured_within_5_percent() {
    let llm = LlmEndpoint::start_local(LlmConfig {
        slots: 4,
        prefill_ms: 200.0,
        itl_ms: 20.0,
        itl_growth: 0.0,
        ..LlmConfig::default()
    })
    .await
    .unwrap();
    let (report, outcome, json) = run_campaign(&stream_campaign(
        &llm.chat_url(),
        "ttft_p99_ms = 5000",
        "start_concurrency = 2\nmax_concurrency = 2",
    ))
    .await;
    assert_eq!(outcome, Outcome::Recommended, "{:#?}", report.steps);
    assert_eq!(report.steps.len(), 1);
    let step = &json["steps"][0];
    assert_eq!(step["concurrency"], 2);
    let st = report.steps[0].stream.as_ref().expect("stream figures");
    eprintln!("simulated LLM, prefill 200 ms, ITL 20 ms, 16 tokens: {st:#?}");
    assert!(st.requests >= 4, "{st:?}");
    // The role-only first chunk is sent at once: TTFT is the prefill, not that chunk. The
    // window holds about 2 × 2 s ÷ 0.5 s = 8 requests.
    assert!(within(st.ttft_ms.p50, 200.0, 0.05), "TTFT {:?}", st.ttft_ms);
    assert!(within(st.itl_ms.p50, 20.0, 0.05), "ITL {:?}", st.itl_ms);
    assert!(within(st.gap_ms.p50, 20.0, 0.05), "gap {:?}", st.gap_ms);
    assert!(
        within(st.e2e_ms.p50, 200.0 + 15.0 * 20.0, 0.05),
        "e2e {:?}",
        st.e2e_ms
    );
    assert_eq!(st.output_tokens, 16 * st.requests, "{st:?}");
    assert_eq!(st.token_source, "usage");
    assert_eq!(st.input_tokens, Some(8 * st.requests));
    assert!(
        within(
            st.output_tokens_per_s,
            st.requests as f64 * 16.0 / report.steps[0].duration_s,
            0.001
        ),
        "{st:?}"
    );
    assert_eq!(st.goodput_rps, report.steps[0].success_rps);
    assert_eq!(report.max_concurrency_per_instance, Some(2));
    assert_eq!(json["max_concurrency_per_instance"], 2);
    // The step tables people read carry the same figures.
    let text = rightsize::report::text::summary(&report);
    assert!(text.contains("TTFT p99"), "{text}");
    assert!(text.contains(&format!("{:.1}", st.itl_ms.p99)), "{text}");
    assert!(text.contains("C_max per instance: 2"), "{text}");
    let md = rightsize::report::markdown::summary(&report);
    assert!(md.contains("| # | concurrency | TTFT p50 ms |"), "{md}");
    assert!(
        md.contains(&format!("| 1 | 2 | {:.1} |", st.ttft_ms.p50)),
        "{md}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_llm_campaign_runs_against_the_simulated_llm() {
    let llm = LlmEndpoint::start_local(LlmConfig {
        slots: 8,
        prefill_ms: 20.0,
        itl_ms: 5.0,
        ..LlmConfig::default()
    })
    .await
    .unwrap();
    let example = std::fs::read_to_string(repo_root().join("configs/llm-example.toml")).unwrap();
    let text = example
        .replace("http://127.0.0.1:8080/v1/chat/completions", &llm.chat_url())
        .replace("max_concurrency = 64", "max_concurrency = 2")
        .replace("step_seconds = 60", "step_seconds = 1")
        .replace("warmup_seconds = 10", "warmup_seconds = 0.2");
    assert_ne!(text, example);
    let (report, outcome, _) = run_campaign(&text).await;
    assert_eq!(outcome, Outcome::Recommended, "{:#?}", report.steps);
    let concurrencies: Vec<_> = report.steps.iter().map(|s| s.concurrency).collect();
    assert_eq!(concurrencies, vec![Some(1), Some(2)]);
    assert_eq!(report.max_concurrency_per_instance, Some(2));
    // 64 tokens of max_tokens, as the example asks.
    let st = report.steps[0].stream.as_ref().unwrap();
    assert_eq!(st.output_tokens, 64 * st.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_the_c_max_of_the_simulated_llm_within_one_level() {
    // ITL = 10 ms × (1 + 0.25 × (active − 1)): 17.5 ms at 4 sequences, 20 ms at 5. An ITL
    // limit of 18.75 ms puts C_max at 4.
    let llm = LlmEndpoint::start_local(LlmConfig {
        slots: 8,
        prefill_ms: 20.0,
        itl_ms: 10.0,
        itl_growth: 0.25,
        ..LlmConfig::default()
    })
    .await
    .unwrap();
    let (report, outcome, _) = run_campaign(&stream_campaign(
        &llm.chat_url(),
        "itl_p99_ms = 18.75",
        "max_concurrency = 16",
    ))
    .await;
    assert_eq!(outcome, Outcome::Recommended);
    let tried: Vec<(u64, bool, f64)> = report
        .steps
        .iter()
        .map(|s| {
            (
                s.concurrency.unwrap(),
                s.pass,
                s.stream.as_ref().unwrap().itl_ms.p99,
            )
        })
        .collect();
    eprintln!("steps (concurrency, pass, ITL p99 ms): {tried:?}");
    let c_max = report.max_concurrency_per_instance.expect("C_max");
    assert!((3..=5).contains(&c_max), "C_max {c_max}: {tried:?}");
    assert!(
        report.stop_reason.contains("C_max"),
        "{}",
        report.stop_reason
    );
    // Doubling then bisection: the failure just above C_max was measured.
    assert!(tried.iter().any(|(n, pass, _)| *n == c_max + 1 && !pass));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_faults_are_failed_requests_in_their_classes() {
    let llm = LlmEndpoint::start_local(LlmConfig {
        slots: 4,
        prefill_ms: 5.0,
        itl_ms: 2.0,
        cut_rate: 0.15,
        truncate_rate: 0.15,
        error_event_rate: 0.15,
        ..LlmConfig::default()
    })
    .await
    .unwrap();
    let (report, _, _) = run_campaign(
        &stream_campaign(
            &llm.chat_url(),
            "ttft_p99_ms = 5000",
            "start_concurrency = 4\nmax_concurrency = 4\nabort_error_percent = 100",
        )
        .replace("max_error_percent = 0", "max_error_percent = 100"),
    )
    .await;
    let step = &report.steps[0];
    let broken = step
        .errors_by_class
        .get("stream_broken")
        .copied()
        .unwrap_or(0);
    let model = step
        .errors_by_class
        .get("model_error")
        .copied()
        .unwrap_or(0);
    eprintln!(
        "{} requests, errors {:?}",
        step.requests, step.errors_by_class
    );
    assert!(step.requests > 50, "{}", step.requests);
    // Cut and truncated streams (~30 %) are stream_broken; error events (~15 %) model errors.
    assert!(
        within(broken as f64 / step.requests as f64, 0.30, 0.5),
        "{broken}"
    );
    assert!(
        within(model as f64 / step.requests as f64, 0.15, 0.5),
        "{model}"
    );
    assert_eq!(step.errors, broken + model, "{:?}", step.errors_by_class);
    // Only the complete streams are counted in the token figures.
    let st = step.stream.as_ref().unwrap();
    assert_eq!(st.requests, step.requests - step.errors);
    assert_eq!(st.output_tokens, 16 * st.requests);
}

#[test]
fn stream_keys_are_checked_with_file_key_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            stream_campaign("http://127.0.0.1:9/v1/chat/completions", "", ""),
            "[requirements] ttft_p99_ms is missing",
        ),
        (
            stream_campaign("http://127.0.0.1:9/", "itl_p99_ms = 50", "")
                .replace("stream = \"openai\"\n", "")
                .replace("stream_idle_timeout_ms = 5000\n", ""),
            "[requirements] itl_p99_ms needs a streamed answer",
        ),
        (
            stream_campaign("http://127.0.0.1:9/", "ttft_p99_ms = 100", "")
                .replace("\"openai\"", "\"grpc\""),
            "line 6: unknown variant `grpc`, expected one of `openai`, `tgi`, `jsonl`",
        ),
        (
            stream_campaign("http://127.0.0.1:9/", "ttft_p99_ms = 0", ""),
            "[requirements] ttft_p99_ms = 0 must be a number greater than 0",
        ),
        (
            stream_campaign(
                "http://127.0.0.1:9/",
                "ttft_p99_ms = 100",
                "start_concurrency = 0",
            ),
            "[load] start_concurrency = 0 must be between 1 and max_concurrency",
        ),
        (
            stream_campaign(
                "http://127.0.0.1:9/",
                "ttft_p99_ms = 100",
                "search = \"walk\"\nwalk = [1, 2]",
            ),
            "[load] search = \"walk\" is not available with mode = \"concurrency\"",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(dir.path().join("c.toml"), &text).unwrap();
        let out = run_bin(&["run", "c.toml", "--quiet"], dir.path());
        let (stdout, stderr) = text_of(&out);
        assert_eq!(out.status.code(), Some(2), "{want}: {stdout}{stderr}");
        assert!(stderr.contains("c.toml"), "{stderr}");
        assert!(stderr.contains(want), "want {want:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

fn text_of(o: &std::process::Output) -> (String, String) {
    text(o)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_campaign_measures_streams_too() {
    let llm = LlmEndpoint::start_local(LlmConfig {
        slots: 8,
        prefill_ms: 30.0,
        itl_ms: 4.0,
        itl_growth: 0.0,
        ..LlmConfig::default()
    })
    .await
    .unwrap();
    let text = stream_campaign(&llm.chat_url(), "ttft_p99_ms = 5000", "")
        .replace("mode = \"concurrency\"", "search = \"walk\"\nwalk = [10]");
    let (report, outcome, json) = run_campaign(&text).await;
    assert_eq!(outcome, Outcome::Recommended, "{:#?}", report.steps);
    let step = &report.steps[0];
    assert_eq!(step.concurrency, None);
    assert!(json["steps"][0].get("concurrency").is_none());
    assert_eq!(step.offered_rps, 10.0);
    let st = step.stream.as_ref().unwrap();
    assert_eq!(st.requests, 20, "10 rps for 2 s");
    assert!(within(st.ttft_ms.p50, 30.0, 0.2), "{:?}", st.ttft_ms);
    assert_eq!(report.max_concurrency_per_instance, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sagemaker_streams_through_the_sdk_are_measured_and_each_stream_error_has_its_class() {
    use std::sync::Arc;
    use std::time::Duration;

    use rightsize::config::StreamFormat;
    use rightsize::measure::client::Target;
    use rightsize::measure::client::sagemaker::SagemakerTargetConfig;
    use rightsize::measure::client::sagemaker_stream::SagemakerStreamTarget;
    use rightsize::measure::load::{self, StepHandle, StepSpec};
    use rightsize::measure::payload::Payloads;
    use rightsize::measure::stats::{ErrorClass, Recorder};

    let llm = LlmEndpoint::start_local(LlmConfig {
        slots: 8,
        prefill_ms: 100.0,
        itl_ms: 10.0,
        itl_growth: 0.0,
        cut_rate: 0.1,
        truncate_rate: 0.1,
        error_event_rate: 0.1,
        ..LlmConfig::default()
    })
    .await
    .unwrap();
    let mut cfg = SagemakerTargetConfig::for_endpoint("llm-endpoint");
    cfg.region = Some("us-east-1".into());
    cfg.endpoint_url = Some(llm.base_url());
    cfg.credentials = Some(crate::common::aws::dummy_credentials());
    let target = Arc::new(
        SagemakerStreamTarget::new(&cfg, StreamFormat::Openai, Duration::from_secs(5))
            .await
            .unwrap(),
    );
    let mut spec = StepSpec::closed(4, 0.3, 3.0, Duration::from_secs(10));
    spec.stream_format = Some("openai");
    let handle = StepHandle {
        recorder: Arc::new(Recorder::new(4)),
        cancel: Default::default(),
    };
    let body = r#"{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16}"#;
    let (m, _) = load::run_step(
        target.clone(),
        Arc::new(Payloads::single(body)),
        &spec,
        &handle,
    )
    .await;
    let step = m.into_result();
    eprintln!("{} requests: {:?}", step.requests, step.errors_by_class);
    let class = |c: ErrorClass| step.errors_by_class.get(c.name()).copied().unwrap_or(0);
    assert!(step.requests >= 30, "{}", step.requests);
    // Error events are ModelStreamError events on this path, truncated streams
    // InternalStreamFailure events, cut connections broken streams.
    assert!(class(ErrorClass::ModelStreamError) > 0, "{step:?}");
    assert!(class(ErrorClass::InternalStreamFailure) > 0, "{step:?}");
    assert!(class(ErrorClass::StreamBroken) > 0, "{step:?}");
    assert_eq!(
        step.errors,
        class(ErrorClass::ModelStreamError)
            + class(ErrorClass::InternalStreamFailure)
            + class(ErrorClass::StreamBroken),
        "{:?}",
        step.errors_by_class
    );
    let samples = target.error_samples();
    let sample = |c: ErrorClass| {
        samples
            .iter()
            .find(|(k, _)| *k == c)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    };
    assert!(
        sample(ErrorClass::ModelStreamError).contains("ModelInvocationTimeExceeded"),
        "{samples:?}"
    );
    // The payload parts split each chunk in two: re-framed, the figures are the simulator's.
    let st = step.stream.as_ref().unwrap();
    eprintln!("SageMaker stream figures: {st:?}");
    assert_eq!(st.requests, step.requests - step.errors);
    assert_eq!(st.output_tokens, 16 * st.requests);
    assert_eq!(st.token_source, "usage");
    assert!(within(st.ttft_ms.p50, 100.0, 0.05), "{:?}", st.ttft_ms);
    assert!(within(st.itl_ms.p50, 10.0, 0.05), "{:?}", st.itl_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_endpoint_llm_serves_a_campaign_run_by_the_binary() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let mut server = tokio::process::Command::new(bin())
        .args(["fake-endpoint", "--llm", "--port", &port.to_string()])
        .args([
            "--slots",
            "2",
            "--prefill-ms",
            "20",
            "--itl-ms",
            "5",
            "--tokens",
            "8",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "fake-endpoint --llm did not listen"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    // Two slots: a third stream waits for a whole answer (20 + 7 × 5 = 55 ms) before its
    // prefill, so a 50 ms TTFT limit puts C_max at 2.
    let text = stream_campaign(
        &format!("http://127.0.0.1:{port}/v1/chat/completions"),
        "ttft_p99_ms = 50",
        "max_concurrency = 8",
    )
    .replace("\"max_tokens\": 16", "\"max_tokens\": 8");
    std::fs::write(dir.path().join("c.toml"), text).unwrap();
    let out = run_bin_async(&["run", "c.toml", "--out", "r"], dir.path()).await;
    let (stdout, stderr) = text_of(&out);
    let _ = server.kill().await;
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let json = read_json(&dir.path().join("r/report.json"));
    assert_matches_schema(&json, "report.schema.json");
    // Timing on a shared machine: C_max is 2, or one level off.
    let c_max = json["max_concurrency_per_instance"].as_u64().unwrap();
    assert!((1..=3).contains(&c_max), "{stdout}");
    assert!(
        stdout.contains(&format!("C_max per instance: {c_max} concurrent")),
        "{stdout}"
    );
    assert!(stdout.contains("TTFT p99"), "{stdout}");
    assert!(stderr.contains("step  1: concurrency    1"), "{stderr}");
}
