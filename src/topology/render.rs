//! The graph as an indented tree for people: one line per check, with hop, direction, skill
//! and target; a linked map's lines sit under the node that links to it.

use std::fmt::Write;

use super::graph::{ServiceVisit, TopologyGraph};
use super::plan::PlannedCheck;

/// Render the tree. Checks past `sweep_depth` (when given) are marked as not swept by default,
/// which `topology check` uses after walking every link.
pub fn render(graph: &TopologyGraph, sweep_depth: Option<u32>) -> String {
    let mut out = String::new();
    let root = &graph.root;
    let _ = writeln!(out, "{}{}  ({})", root.name, env(root), root.file.display());
    Tree {
        graph,
        sweep_depth,
        out: &mut out,
    }
    .service(root, 1);
    out
}

fn env(visit: &ServiceVisit) -> String {
    visit
        .environment
        .as_ref()
        .map(|e| format!(" [{e}]"))
        .unwrap_or_default()
}

struct Tree<'a> {
    graph: &'a TopologyGraph,
    sweep_depth: Option<u32>,
    out: &'a mut String,
}

impl Tree<'_> {
    fn service(&mut self, visit: &ServiceVisit, depth: usize) {
        for &i in &visit.own_checks {
            self.check(&self.graph.checks[i], "·", depth);
        }
        for node in &visit.nodes {
            let arrow = node.direction.arrow();
            if let Some(i) = node.check {
                self.check(&self.graph.checks[i], arrow, depth);
            }
            let Some(file) = &node.linked_file else {
                continue;
            };
            if node.check.is_none() {
                let target = match &node.map {
                    Some(map) => format!("{}{}", file.display(), env(map)),
                    None => format!("{} ✗ not followed (see the errors)", file.display()),
                };
                self.line(depth, node.hop, arrow, &node.name, "service", &target);
            }
            if let Some(map) = &node.map {
                self.service(map, depth + 1);
            }
        }
        if visit.beyond_depth > 0 {
            let indent = "  ".repeat(depth);
            let n = visit.beyond_depth;
            let nodes = if n == 1 { "node" } else { "nodes" };
            let _ = writeln!(
                self.out,
                "{indent}… {n} {nodes} of {} beyond depth {}",
                visit.name, self.graph.max_depth
            );
        }
    }

    fn check(&mut self, check: &PlannedCheck, arrow: &str, depth: usize) {
        let skill = check.skill.map_or("-", |s| s.as_str());
        self.line(
            depth,
            check.hop,
            arrow,
            &check.node,
            skill,
            &check.target.to_string(),
        );
    }

    fn line(&mut self, depth: usize, hop: u32, arrow: &str, node: &str, skill: &str, target: &str) {
        let indent = "  ".repeat(depth);
        let beyond = match self.sweep_depth {
            Some(max) if hop > max => format!("  (beyond depth {max}: not swept by default)"),
            _ => String::new(),
        };
        let _ = writeln!(
            self.out,
            "{indent}hop {hop} {arrow} {node:<18} {skill:<12} {target}{beyond}"
        );
    }
}
