//! Output safety through the binary: a hostile campaign name cannot place the report outside
//! the reports folder, and an existing report folder is never written into.

use crate::common::*;
use rightsize::sim::{FakeConfig, FakeEndpoint};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_campaign_name_becomes_a_safe_folder_name_under_reports() {
    let endpoint = FakeEndpoint::start_local(FakeConfig::default())
        .await
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let work = scratch.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let hostile = r#"../../escape/..\\evil name<script>|*?:\u0000\n"#;
    let c = campaign(
        "PLACEHOLDER",
        &endpoint.invocations_url(),
        500.0,
        "search = \"walk\"\nwalk = [5]",
    )
    .replace("\"PLACEHOLDER\"", &format!("\"{hostile}\""))
    .replace("step_seconds = 2\n", "step_seconds = 1\n");
    std::fs::write(work.join("c.toml"), c).unwrap();
    let out = run_bin_async(&["run", "c.toml", "--quiet"], &work).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    // Nothing escaped: the scratch folder holds only `work`, and `work` only the campaign
    // and `reports`.
    let names = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(scratch.path()), vec!["work"]);
    assert_eq!(names(&work), vec!["c.toml", "reports"]);
    let folders = names(&work.join("reports"));
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = &folders[0];
    assert!(
        folder
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
        "{folder:?}"
    );
    // Not hidden, not `.` or `..`, and (checked above) no separator: a plain name.
    assert!(!folder.starts_with('.'), "{folder:?}");
    assert!(folder.starts_with("escape-"), "{folder:?}");
    assert!(
        work.join("reports")
            .join(folder)
            .join("report.json")
            .is_file()
    );
    // The report keeps the name as written; only the folder is sanitised.
    let json = read_json(&work.join("reports").join(folder).join("report.json"));
    assert!(
        json["campaign"]["name"]
            .as_str()
            .unwrap()
            .starts_with("../../escape")
    );
}

#[test]
fn a_folder_holding_an_unfinished_campaign_is_not_reused_by_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("r")).unwrap();
    std::fs::write(dir.path().join("r/journal.jsonl"), "{}\n").unwrap();
    let out = run_bin(&["demo", "--out", "r", "--quiet"], dir.path());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("already holds a report"), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("r/journal.jsonl")).unwrap(),
        "{}\n"
    );
}
