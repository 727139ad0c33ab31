//! The source layout keeps its promise (docs/architecture.md): no import circle between any
//! two modules, and no import from a lower layer to a higher one. Read from the source files
//! themselves, so a new `use` that breaks either fails here with the offending import named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, lowest first. A module may import from its own layer and the ones before it.
const LAYERS: &[&[&str]] = &[
    &["error", "num", "rng"],
    &["config"],
    &["measure"],
    &["decide"],
    &["prices"],
    &["report"],
    &["aws"],
    &["run"],
    &["cli"],
];

/// Beside the layers: the simulated endpoint may import only the foundation (and itself).
const SIM: &str = "sim";

type Module = Vec<String>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file as its module path (`src/measure/client/h1.rs` → measure::client::h1).
/// Test-only files (`tests.rs`, `test_support.rs`) are left out: tests may import anything.
fn modules() -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = src_dir();
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut mods = BTreeMap::new();
    for f in files {
        let name = f.file_name().unwrap().to_str().unwrap();
        if name == "tests.rs" || name == "test_support.rs" {
            continue;
        }
        let rel = f.strip_prefix(&root).unwrap().with_extension("");
        let mut m: Module = rel
            .components()
            .map(|c| c.as_os_str().to_str().unwrap().to_string())
            .collect();
        if m.last().is_some_and(|l| l == "mod") {
            m.pop();
        }
        if m == ["lib"] || m == ["main"] {
            m.clear();
        }
        mods.insert(m, f);
    }
    mods
}

/// The code of a file without its unit tests, comments and string contents.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'"' && (i == 0 || b[i - 1] != b'\'') {
            // A raw string r#"…"# may hold quotes; skip to its matching end.
            let raw_hashes = if i >= 1 && (b[i - 1] == b'#' || b[i - 1] == b'r') {
                let mut h = 0;
                let mut j = i;
                while j > 0 && b[j - 1] == b'#' {
                    h += 1;
                    j -= 1;
                }
                (j > 0 && b[j - 1] == b'r').then_some(h)
            } else {
                None
            };
            i += 1;
            match raw_hashes {
                Some(h) => {
                    let end = format!("\"{}", "#".repeat(h));
                    match text[i..].find(&end) {
                        Some(k) => i += k + end.len(),
                        None => i = b.len(),
                    }
                }
                None => {
                    while i < b.len() && b[i] != b'"' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
            }
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Expands a `use` tree (`crate::a::{b, c::{d, e}}`) into its paths.
fn expand_use(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{')
        && tree.ends_with('}')
    {
        let mut base = prefix.to_vec();
        base.extend(
            tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
        let inner = &tree[open + 1..tree.len() - 1];
        let (mut depth, mut start) = (0, 0);
        for (k, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_use(&inner[start..k], &base, out);
                    start = k + 1;
                }
                _ => {}
            }
        }
        if !inner[start..].trim().is_empty() {
            expand_use(&inner[start..], &base, out);
        }
    } else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        let mut p = prefix.to_vec();
        p.extend(
            path.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
        out.push(p);
    }
}

/// Paths with `::` written in the code: `crate::x::y`, `super::x`, and `child::x` where
/// `child` is a submodule of the current module.
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        if is_ident(b[i]) && (i == 0 || (!is_ident(b[i - 1]) && b[i - 1] != b':')) {
            let start = i;
            while i < b.len() && (is_ident(b[i]) || (b[i] == b':' && b.get(i + 1) == Some(&b':'))) {
                i += if b[i] == b':' { 2 } else { 1 };
            }
            let s = code[start..i].trim_end_matches(':');
            if s.contains("::") {
                out.push(s.split("::").map(String::from).collect());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The module a path names, the longest prefix that is a module; None for outside crates.
fn resolve(current: &Module, path: &[String], mods: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    let (mut base, rest): (Module, &[String]) = match path.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &path[1..]),
        Some("super") => {
            let mut b = current.clone();
            let mut k = 0;
            while path.get(k).is_some_and(|s| s == "super") {
                b.pop();
                k += 1;
            }
            (b, &path[k..])
        }
        Some("self") => (current.clone(), &path[1..]),
        Some(first) => {
            let mut child = current.clone();
            child.push(first.to_string());
            if !mods.contains_key(&child) {
                return None;
            }
            (current.clone(), path)
        }
        None => return None,
    };
    base.extend(rest.iter().cloned());
    (0..=base.len())
        .rev()
        .map(|k| base[..k].to_vec())
        .find(|m| mods.contains_key(m))
}

fn imports() -> BTreeMap<Module, BTreeSet<Module>> {
    let mods = modules();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, file) in &mods {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let mut paths = Vec::new();
        let mut rest = code.as_str();
        while let Some(k) = rest.find("use ") {
            let before = rest[..k].chars().last();
            rest = &rest[k + 4..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(end) = rest.find(';') {
                expand_use(&rest[..end], &[], &mut paths);
                rest = &rest[end..];
            }
        }
        paths.extend(inline_paths(&code));
        for p in paths {
            if let Some(t) = resolve(m, &p, &mods)
                && &t != m
                && !t.is_empty()
            {
                edges.entry(m.clone()).or_default().insert(t);
            }
        }
    }
    edges
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

fn layer_of(m: &Module) -> Option<usize> {
    let top = m.first()?;
    LAYERS.iter().position(|l| l.contains(&top.as_str()))
}

#[test]
fn no_module_imports_another_that_imports_it_back_even_through_others() {
    let edges = imports();
    // Depth-first search for a back edge; report the circle it closes.
    fn visit(
        m: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        stack: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
        circles: &mut Vec<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = stack.iter().position(|s| s == m) {
            let mut c: Vec<String> = stack[at..].iter().map(name).collect();
            c.push(name(m));
            circles.push(c.join(" → "));
            return;
        }
        stack.push(m.clone());
        for t in edges.get(m).into_iter().flatten() {
            visit(t, edges, stack, done, circles);
        }
        stack.pop();
        done.insert(m.clone());
    }
    let (mut stack, mut done, mut circles) = (Vec::new(), BTreeSet::new(), Vec::new());
    for m in edges.keys() {
        visit(m, &edges, &mut stack, &mut done, &mut circles);
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
    // The reader above must see the imports it judges: a few known ones, as a check on it.
    let has = |a: &str, b: &str| {
        edges
            .iter()
            .any(|(m, ts)| name(m) == a && ts.iter().any(|t| name(t) == b))
    };
    assert!(has("run::campaign", "decide::search"));
    assert!(has("measure::client::h1", "measure::client::classify"));
    assert!(
        has("report", "report::managed"),
        "a child module named bare"
    );
    assert!(
        has("config::deploy", "config::target"),
        "a use tree with braces"
    );
}

#[test]
fn every_import_goes_down_the_layers_and_the_simulator_uses_only_the_foundation() {
    let mods = modules();
    let edges = imports();
    let mut unplaced = BTreeSet::new();
    for m in mods.keys().filter(|m| !m.is_empty()) {
        if layer_of(m).is_none() && m[0] != SIM {
            unplaced.insert(m[0].clone());
        }
    }
    assert!(
        unplaced.is_empty(),
        "top-level modules in no layer of tests/it/layout.rs: {unplaced:?}; place them"
    );
    let mut upward = Vec::new();
    for (m, targets) in &edges {
        for t in targets {
            let ok = match (m.first().map(String::as_str), layer_of(m), layer_of(t)) {
                (None, _, _) => true, // lib.rs and main.rs declare everything
                (Some(SIM), _, lt) => t[0] == SIM || lt == Some(0),
                (_, Some(lm), Some(lt)) => lt <= lm,
                (_, Some(_), None) => false, // only the commands may start the simulator
                _ => false,
            };
            let cli_uses_sim = m[..].first().is_some_and(|s| s == "cli") && t[0] == SIM;
            if !ok && !cli_uses_sim {
                upward.push(format!("{} → {}", name(m), name(t)));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the layers (docs/architecture.md):\n{}",
        upward.join("\n")
    );
}
