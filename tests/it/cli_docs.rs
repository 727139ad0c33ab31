//! The command line documents itself: completions for every shell and the man pages cover every
//! command that `rightsize --help` lists, and `--version` names the commit it was built from.

use std::process::Command;

use crate::common::{repo_root, run_bin, text};

/// The commands `rightsize --help` lists, read from its "Commands:" section.
fn listed_commands() -> Vec<String> {
    let o = run_bin(&["--help"], &repo_root());
    assert!(o.status.success());
    let (out, _) = text(&o);
    let section = out
        .split("Commands:")
        .nth(1)
        .expect("--help has a Commands: section");
    let cmds: Vec<String> = section
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect();
    // A parser that found nothing would make every check below vacuous.
    for known in ["run", "demo", "probe", "compare", "completions", "man"] {
        assert!(
            cmds.iter().any(|c| c == known),
            "{known} missing from {cmds:?}"
        );
    }
    cmds
}

#[test]
fn completions_for_every_shell_cover_every_command() {
    let cmds = listed_commands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = run_bin(&["completions", shell], &repo_root());
        let (out, err) = text(&o);
        assert!(o.status.success(), "{shell}: {err}");
        for c in &cmds {
            assert!(out.contains(c.as_str()), "{shell} completions lack `{c}`");
        }
        // A flag of a subcommand, so the script completes more than command names.
        assert!(out.contains("max-concurrency"), "{shell}: no probe flags");
    }
}

#[test]
fn an_unknown_shell_is_bad_input() {
    let o = run_bin(&["completions", "tcsh"], &repo_root());
    assert_eq!(o.status.code(), Some(2));
    let (_, err) = text(&o);
    assert!(err.contains("bash") && err.contains("zsh"), "{err}");
}

#[test]
fn the_man_page_lists_every_command_and_man_out_writes_one_page_each() {
    let cmds = listed_commands();
    let o = run_bin(&["man"], &repo_root());
    let (page, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        page.starts_with(".ie") || page.contains(".TH rightsize"),
        "not roff"
    );
    for c in &cmds {
        assert!(
            page.contains(&format!("rightsize\\-{c}")),
            "man page lacks {c}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let o = run_bin(&["man", "--out", out.to_str().unwrap()], &repo_root());
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(out.join("rightsize.1").is_file());
    for c in &cmds {
        let p = out.join(format!("rightsize-{c}.1"));
        let body = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            body.contains(".SH OPTIONS") || body.contains(".SH SYNOPSIS"),
            "{c}"
        );
    }
    // The probe page carries its flags and their help text.
    let probe = std::fs::read_to_string(out.join("rightsize-probe.1")).unwrap();
    assert!(probe.contains("max\\-concurrency"), "{probe}");
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let o = run_bin(&["--version"], &repo_root());
    let (out, _) = text(&o);
    assert!(o.status.success());
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo_root())
        .output()
        .expect("git");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert!(
        out.starts_with(&format!("rightsize {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    // Built in this checkout, so the commit is HEAD's (dirty or not); `unknown` only outside git.
    assert!(out.contains(&head), "{out} does not name HEAD {head}");
}
