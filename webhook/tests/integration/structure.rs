//! The webhook's modules form no import cycle: among the top-level modules of `src/`, and
//! among the sibling files of each directory module. A cycle means two modules that can only be
//! understood, tested and changed together; the fix is a leaf module both depend on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The identifiers that follow `prefix` in `text` (`crate::api::x` with prefix `crate::`
/// gives `api`); `use crate::{a, b::c}` gives `a` and `b`.
fn after(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices(prefix) {
        // `dns01_core::x` is not `core::x`, nor is `xcrate::`.
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &text[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for part in inner.split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    names.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// A cycle in `graph`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut c = path[start..].to_vec();
            c.push(node.to_owned());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_webhooks_modules_have_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let top: BTreeSet<String> = files
        .iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(&src).ok()?;
            let first = rel.components().next()?.as_os_str().to_str()?;
            Some(first.trim_end_matches(".rs").to_owned())
        })
        .filter(|m| m != "main" && m != "lib")
        .collect();

    // Top-level modules.
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Siblings inside each directory module, keyed by "dir/file".
    let mut siblings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let parts: Vec<&str> = rel.iter().map(|p| p.to_str().unwrap()).collect();
        let module = parts[0].trim_end_matches(".rs").to_owned();
        if module == "main" || module == "lib" {
            continue;
        }
        // Code only: intra-doc links (`[crate::x]`) are no imports.
        let text: String = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for used in after(&text, "crate::") {
            if top.contains(&used) && used != module {
                graph.entry(module.clone()).or_default().insert(used);
            }
        }
        if parts.len() == 2 && parts[1] != "mod.rs" {
            let me = format!("{}/{}", parts[0], parts[1].trim_end_matches(".rs"));
            let mut uses = after(&text, "super::");
            uses.extend(after(&text, &format!("crate::{}::", parts[0])));
            for used in uses {
                let sibling = format!("{}/{used}", parts[0]);
                if sibling != me && src.join(format!("{sibling}.rs")).is_file() {
                    siblings.entry(me.clone()).or_default().insert(sibling);
                }
            }
        }
    }
    assert!(
        graph.len() > 5,
        "the module scan found too little: {graph:?}"
    );
    assert_eq!(
        cycle(&graph),
        None,
        "import cycle between top-level modules: {graph:#?}"
    );
    assert_eq!(
        cycle(&siblings),
        None,
        "import cycle between sibling modules: {siblings:#?}"
    );
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]
    .into();
    assert_eq!(cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    let acyclic: BTreeMap<String, BTreeSet<String>> =
        [("a".to_owned(), BTreeSet::from(["b".to_owned()]))].into();
    assert_eq!(cycle(&acyclic), None);
    assert_eq!(
        after(
            "use crate::{api, solver::x}; crate::tls::y; dns01_core::z",
            "crate::"
        ),
        BTreeSet::from(["api".to_owned(), "solver".to_owned(), "tls".to_owned()])
    );
}

/// Issue 18 took `webhook/src` from 9,906 lines to at most 7,406 by removing the second
/// request path, the hand-written JSON, log, allocator, Kubernetes client and cache code. A
/// change that grows it past the budget should say why (and move this number with it).
#[test]
fn the_webhooks_source_stays_within_its_line_budget() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let lines: usize = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap().lines().count())
        .sum();
    assert!(lines > 1_000, "the source was not found: {lines} lines");
    assert!(
        lines <= 7_406,
        "webhook/src has {lines} lines, over the 7,406 budget"
    );
}
