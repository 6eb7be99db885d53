//! What a model's answer is checked against: the topology's nodes and the fixes already tried.

use std::collections::BTreeSet;

use crate::diagnose::DebugContext;
use crate::skills::Finding;
use crate::topology::{Direction, ServiceVisit, TopologyGraph};

/// One node of the topology as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopologyNode {
    pub name: String,
    pub hop: u32,
    /// `None` for the failing service itself (and for nodes known only from findings).
    pub direction: Option<Direction>,
    /// Node names from the root service down to (not including) this node.
    pub via: Vec<String>,
    /// The skills that checked it, e.g. `ecs`, `cloudwatch`.
    pub skills: Vec<String>,
}

/// The nodes a diagnosis may name: the service, then every topology node in tree order.
/// Without a graph, the nodes the findings name stand in for the topology.
pub fn topology_nodes(
    service: &str,
    graph: Option<&TopologyGraph>,
    findings: &[Finding],
) -> Vec<TopologyNode> {
    let mut nodes = vec![TopologyNode {
        name: service.to_string(),
        hop: 0,
        direction: None,
        via: Vec::new(),
        skills: Vec::new(),
    }];
    match graph {
        Some(graph) => {
            for check in &graph.checks {
                let skill = check.skill.map(|s| s.as_str().to_string());
                add(
                    &mut nodes,
                    &check.node,
                    check.hop,
                    check.direction,
                    &check.via,
                    skill,
                );
            }
            // Service nodes whose map was not followed have no check of their own.
            let root_name = graph.root.name.clone();
            add(&mut nodes, &root_name, 0, None, &[], None);
            walk(&mut nodes, &graph.root, &[root_name]);
        }
        None => {
            for f in findings {
                let via: Vec<String> = if f.node == service {
                    Vec::new()
                } else {
                    vec![service.to_string()]
                };
                add(
                    &mut nodes,
                    &f.node,
                    f.hop,
                    None,
                    &via,
                    Some(f.skill.clone()),
                );
            }
        }
    }
    nodes
}

fn walk(nodes: &mut Vec<TopologyNode>, visit: &ServiceVisit, via: &[String]) {
    for node in &visit.nodes {
        add(nodes, &node.name, node.hop, Some(node.direction), via, None);
        if let Some(map) = &node.map {
            let mut deeper = via.to_vec();
            deeper.push(node.name.clone());
            walk(nodes, map, &deeper);
        }
    }
}

fn add(
    nodes: &mut Vec<TopologyNode>,
    name: &str,
    hop: u32,
    direction: Option<Direction>,
    via: &[String],
    skill: Option<String>,
) {
    let i = match nodes.iter().position(|n| n.name == name) {
        Some(i) => i,
        None => {
            nodes.push(TopologyNode {
                name: name.to_string(),
                hop,
                direction,
                via: via.to_vec(),
                skills: Vec::new(),
            });
            nodes.len() - 1
        }
    };
    if let Some(skill) = skill
        && !nodes[i].skills.contains(&skill)
    {
        nodes[i].skills.push(skill);
    }
}

/// A fix from the debug history, kept in a form that survives rewording of case and punctuation.
#[derive(Debug, Clone)]
pub struct TriedFix {
    pub iteration: u32,
    pub action: String,
    pub result: String,
    fingerprint: Option<String>,
    words: BTreeSet<String>,
}

impl TriedFix {
    /// The fixes the history records as carried out and not holding (by their outcome, never
    /// by the wording of their result).
    pub fn from_history(history: &DebugContext) -> Vec<TriedFix> {
        history
            .history
            .iter()
            .filter(|h| h.failed())
            .map(|h| TriedFix {
                iteration: h.iteration,
                action: h.action.clone(),
                result: h.result.clone(),
                fingerprint: h.fingerprint.clone(),
                words: action_words(&h.action),
            })
            .collect()
    }

    /// The proposal is this fix again: the same fingerprint (or a parameterised variant of
    /// it), or the same words whatever the order, case, punctuation, filler words or a
    /// leading kind label (`infra: raise max_connections to 200` repeats `Raise
    /// max_connections to 200.`), for a model that rewords a fix it was shown.
    pub fn repeated_by(&self, fingerprint: &str, summary: &str) -> bool {
        let same_fix = self
            .fingerprint
            .as_deref()
            .is_some_and(|tried| crate::diagnose::same_fix(tried, fingerprint));
        same_fix || (!self.words.is_empty() && self.words == action_words(summary))
    }
}

const FILLER: &[&str] = &[
    "a", "an", "the", "to", "of", "on", "in", "for", "and", "by", "at", "from", "with",
];
const KIND_LABELS: &[&str] = &[
    "code", "infra", "rollback", "none", "escalate", "fix", "action",
];

/// The words that say what an action does: lower case, alphanumerics (and `_`, `.` inside
/// identifiers), filler and a leading `kind:` label dropped.
pub fn action_words(action: &str) -> BTreeSet<String> {
    let lower = action.trim().to_lowercase();
    let body = match lower.split_once(':') {
        Some((label, rest)) if KIND_LABELS.contains(&label.trim()) => rest,
        _ => lower.as_str(),
    };
    body.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty() && !FILLER.contains(w))
        .map(str::to_string)
        .collect()
}
