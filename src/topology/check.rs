//! `fixpoint topology check [FILE|DIR]`: load a map and every map it links to, whatever the
//! depth, and list every problem with its file, node and fix, beside the tree that a sweep
//! would walk.
//!
//! Errors (exit 1): malformed YAML/JSON, unknown field, unknown skill, missing connection detail,
//! a cycle of `topology:` links, a production environment, credentials inline, a duplicate node
//! name, a required field missing, a link to a map that cannot be read.
//! Warnings (exit 0): no `environment`, a map without `ecs` or `logs`, a node named differently
//! from the service its map describes.

use std::collections::HashSet;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{Problem, Severity};
use super::graph::{DEFAULT_DEPTH, walk};
use super::load::Format;
use super::render::render;

/// What `check` found in one root map and everything it links to.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub file: PathBuf,
    /// The tree for people; empty when the root map itself did not load.
    pub rendering: String,
    /// Errors first, then warnings; each once.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
    }

    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }
}

/// Check one map and every map its `topology:` links reach (no depth limit, so a cycle or a
/// broken map far down is still found). `production_names` adds to `prod`, `production`, `live`.
pub fn check(path: &Path, production_names: &[String]) -> CheckReport {
    let (graph, errors) = walk(path, u32::MAX, production_names);
    let mut problems: Vec<Problem> = errors.iter().map(|e| e.problem()).collect();
    let rendering = match graph {
        Some(graph) => {
            problems.extend(graph.notes.iter().cloned());
            render(&graph, Some(DEFAULT_DEPTH))
        }
        None => String::new(),
    };
    let mut seen = HashSet::new();
    problems.retain(|p| seen.insert(p.clone()));
    problems.sort_by_key(|p| p.severity); // stable: keeps tree order within a severity
    CheckReport {
        file: path.to_path_buf(),
        rendering,
        problems,
    }
}

/// The CLI: check a FILE, or every `.yaml`/`.yml`/`.json` in a DIR (not recursive).
/// Returns what to print and the exit code: 0 no errors (warnings allowed), 1 problems,
/// 2 the path cannot be read or holds no maps.
pub fn run_check_command(path: &Path, production_names: &[String]) -> (String, i32) {
    let files = match maps_at(path) {
        Ok(files) => files,
        Err(message) => return (format!("error: {message}\n"), 2),
    };
    let mut out = String::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for file in &files {
        let report = check(file, production_names);
        if !report.rendering.is_empty() {
            let _ = writeln!(out, "{}", report.rendering);
        }
        // A map linked from several roots is reported once.
        problems.extend(
            report
                .problems
                .into_iter()
                .filter(|p| seen.insert(p.clone())),
        );
    }
    problems.sort_by_key(|p| p.severity);
    for problem in &problems {
        let _ = writeln!(out, "{problem}\n");
    }
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = problems.len() - errors;
    let maps = if files.len() == 1 { "map" } else { "maps" };
    let verdict = if errors == 0 { "ok" } else { "FAILED" };
    let _ = writeln!(
        out,
        "{verdict}: {} {maps} checked, {errors} {}, {warnings} {}",
        files.len(),
        plural(errors, "error"),
        plural(warnings, "warning"),
    );
    (out, if errors == 0 { 0 } else { 1 })
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// The maps to check at `path`, or why there are none.
fn maps_at(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && Format::of(p).is_some())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "no topology maps (.yaml, .yml, .json) in {}",
            path.display()
        ));
    }
    Ok(files)
}
