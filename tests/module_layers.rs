//! The tree reads as the loop only while imports point one way (ARCHITECTURE.md: server →
//! jobs → investigation → diagnose/sweep/skills → github/topology/store → domain). A cycle
//! between top-level modules of `src/` is a type living in the wrong place; this test
//! finds one by reading the sources as text, the way a reviewer would.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `module → modules it names as crate::X`, comments left out.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
            if module == "main" || module == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let targets = edges.entry(module.clone()).or_default();
            for line in text.lines() {
                let code = line.split("//").next().unwrap_or_default();
                for (i, _) in code.match_indices("crate::") {
                    let rest = &code[i + "crate::".len()..];
                    if let Some(group) = rest.strip_prefix('{') {
                        // `use crate::{a, b::c}`: each name's first segment.
                        for name in group.split([',', '}']) {
                            let first = name.trim().split("::").next().unwrap_or_default();
                            if !first.is_empty() && first != module {
                                targets.insert(first.to_string());
                            }
                        }
                        continue;
                    }
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        targets.insert(name);
                    }
                }
            }
        }
    }
    edges
}

/// A path from `from` back to itself, if the graph has one.
fn cycle_through(edges: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in edges.get(&node).into_iter().flatten() {
            if next == from {
                let mut cycle = path.clone();
                cycle.push(from.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn imports_between_top_level_modules_point_one_way() {
    let edges = imports();
    for (module, targets) in &edges {
        eprintln!(
            "{module:>14} → {}",
            targets.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let cycles: Vec<String> = edges
        .keys()
        .filter_map(|m| cycle_through(&edges, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles in src/:\n{}",
        cycles.join("\n")
    );
    // The bottom of the stack imports nothing above it.
    for leaf in ["domain", "ids", "clock", "redact", "outbound"] {
        let above: Vec<&String> = edges
            .get(leaf)
            .into_iter()
            .flatten()
            .filter(|t| !["domain", "ids", "clock", "redact", "outbound"].contains(&t.as_str()))
            .collect();
        assert!(above.is_empty(), "{leaf} imports {above:?}");
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges
        .entry("worker".into())
        .or_default()
        .insert("investigation".into());
    edges
        .entry("investigation".into())
        .or_default()
        .insert("worker".into());
    edges
        .entry("store".into())
        .or_default()
        .insert("domain".into());
    assert_eq!(
        cycle_through(&edges, "worker"),
        Some(vec![
            "worker".into(),
            "investigation".into(),
            "worker".into()
        ])
    );
    assert_eq!(cycle_through(&edges, "store"), None);
}
