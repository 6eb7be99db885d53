//! The prompt: a system message with the role, the vocabulary, the answer's schema and the
//! rule about untrusted data; a user message with the topology, the findings, the rules
//! engine's diagnosis and the debug history. Every text is redacted, and every text that came
//! from outside (logs, error messages, comments, skill summaries quoting them) is fenced
//! between `<untrusted-data-<marker> source="…">` and `</untrusted-data-<marker>>`, with a
//! marker drawn for this prompt alone and any fence tag inside the data neutralised (see
//! `fence`). [`build`] then fits the prompt to the token budget (see `budget`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::answer::{answer_schema, kind_str};
use super::budget;
use super::fence::{Fence, attribute, fence};
use super::world::{TopologyNode, topology_nodes};
use crate::diagnose::rules::Candidate;
use crate::diagnose::{DebugContext, Diagnosis, RootCauseClass};
use crate::redact::redact;
use crate::skills::{Evidence, Finding, Status};
use crate::topology::TopologyGraph;

/// What the prompt is built from.
/// How many of the rules engine's candidates the prompt lists.
const MAX_CANDIDATES: usize = 6;

#[derive(Debug, Clone, Copy)]
pub struct PromptInput<'a> {
    pub service: &'a str,
    pub findings: &'a [Finding],
    pub graph: Option<&'a TopologyGraph>,
    pub history: &'a DebugContext,
    pub rules: &'a Diagnosis,
    /// The rules engine's ranked candidates, best first (the winner is `rules`).
    pub candidates: &'a [Candidate],
}

#[derive(Debug, Clone)]
pub struct Prompt {
    pub system: String,
    pub user: String,
    /// The names a diagnosis may use as `node`: the service, then the topology's nodes.
    pub nodes: Vec<String>,
    /// Evidence ids (`E1`…) as shown to the model, so a cited id maps back to what the sweep saw.
    pub evidence: BTreeMap<String, ShownEvidence>,
    pub trim: TrimReport,
    /// The fence around every outside text, its marker named in the system message.
    pub fence: Fence,
}

/// One evidence item behind an id: the finding's node and its evidence, whole as the sweep
/// stored it, whatever the budget cut from the prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownEvidence {
    pub node: String,
    pub evidence: Evidence,
}

/// What fitting the budget cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrimReport {
    /// Evidence items cut to their head and tail.
    pub shortened: usize,
    /// Evidence items left out whole.
    pub dropped_evidence: usize,
    /// Nodes whose findings were left out whole, lowest ranked (healthy) first.
    pub dropped_findings: Vec<String>,
    /// Still over budget after every cut allowed (the topology, the rules diagnosis and the
    /// history are never cut); sent anyway.
    pub over_budget: bool,
}

/// Tokens are estimated as characters / 4, rounded up: close enough for English and JSON.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

/// The prompt for these inputs, fitted to `max_prompt_tokens`.
pub fn build(input: &PromptInput<'_>, max_prompt_tokens: usize) -> Prompt {
    let nodes = topology_nodes(input.service, input.graph, input.findings);
    let fence = Fence::random();
    let system = redact(&system_message(input.service, &nodes, &fence)).into_owned();
    let mut draft = Draft::new(input, &nodes, fence.clone());
    let trim = budget::fit(&mut draft, system.chars().count(), max_prompt_tokens);
    Prompt {
        system,
        user: draft.render(),
        nodes: nodes.into_iter().map(|n| n.name).collect(),
        evidence: draft.evidence_index,
        trim,
        fence,
    }
}

fn system_message(service: &str, nodes: &[TopologyNode], fence: &Fence) -> String {
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let schema = serde_json::to_string(&answer_schema(&names)).unwrap_or_default();
    let vocabulary: Vec<&str> = RootCauseClass::ALL.iter().map(|c| c.as_str()).collect();
    format!(
        "You are the diagnosis reasoner of Fixpoint, a GitHub App that investigates failed deploys.\n\
         A deploy of `{service}` failed. Fixpoint checked every node of the service's topology and a \
         rules engine proposed a diagnosis. Find the root cause: the node whose failure explains the \
         others, and the chain from it to the failing service. Agree with the rules engine when the \
         findings support it; when they do not, say why in root_cause.summary.\n\n\
         Answer with exactly one JSON object and nothing else (no prose, no code fences), valid \
         against this JSON schema:\n{schema}\n\n\
         Rules for the answer:\n\
         - root_cause.node, and every node in chain and noise, is one of the topology nodes listed \
         in the user message: {nodes}.\n\
         - Every class comes from this vocabulary: {vocabulary}. Use unknown when the findings \
         support no other class, and list in missing what would be needed to say more.\n\
         - proposed_action.kind is one of: code, infra, rollback, none, escalate.\n\
         - Never propose an action that the debug history shows was already tried: propose \
         something else, or escalate.\n\
         - Cite evidence only by the ids shown with it (E1, E2, …).\n\
         - confidence is a number from 0 to 1.\n\n\
         {rule}",
        nodes = names.join(", "),
        vocabulary = vocabulary.join(", "),
        rule = fence.rule(),
    )
}

/// The user message before it is rendered, so the budget can cut it.
pub(crate) struct Draft {
    head: String,
    pub(crate) findings: Vec<FindingDraft>,
    tail: String,
    pub(crate) dropped: Vec<(String, Status)>,
    evidence_index: BTreeMap<String, ShownEvidence>,
    marker: Fence,
}

pub(crate) struct FindingDraft {
    pub(crate) node: String,
    pub(crate) status: Status,
    /// The rules engine's root-cause node: never dropped whole.
    pub(crate) protected: bool,
    header: String,
    pub(crate) evidence: Vec<EvidenceDraft>,
    pub(crate) evidence_dropped: usize,
}

pub(crate) struct EvidenceDraft {
    pub(crate) id: String,
    source: String,
    at: Option<DateTime<Utc>>,
    /// Redacted, whole.
    full: String,
    /// Set by the budget: the text is cut to this many characters.
    pub(crate) limit: Option<usize>,
}

impl EvidenceDraft {
    /// Characters as rendered, before the cut mark.
    pub(crate) fn len(&self) -> usize {
        let n = self.full.chars().count();
        self.limit.map_or(n, |l| n.min(l))
    }

    fn text(&self) -> String {
        match self.limit {
            Some(limit) => budget::shorten(&self.full, limit),
            None => self.full.clone(),
        }
    }
}

impl Draft {
    fn new(input: &PromptInput<'_>, nodes: &[TopologyNode], marker: Fence) -> Draft {
        let rules = input.rules;
        let named = |node: &str| {
            rules.root_cause.node == node || rules.chain.iter().any(|l| l.node == node)
        };
        let mut ranked: Vec<&Finding> = input.findings.iter().collect();
        // Worst first; among equals, what the rules engine named, then the nearer hop.
        ranked.sort_by_key(|f| (f.status, !named(&f.node), f.hop, f.node.clone()));

        let mut evidence_index = BTreeMap::new();
        let mut findings = Vec::new();
        for f in ranked {
            let mut header = format!(
                "### {} — {} (hop {}, {})\nSummary: {}\n",
                f.node,
                f.status.as_str(),
                f.hop,
                f.skill,
                fence(
                    &marker,
                    &format!("finding:{}", f.node),
                    None,
                    &budget::shorten(&f.summary, 1000)
                )
            );
            if !f.metrics.is_empty() {
                let metrics: Vec<String> = f
                    .metrics
                    .iter()
                    .map(|(k, v)| format!("{}={v}", attribute(k)))
                    .collect();
                let _ = writeln!(header, "Metrics: {}", metrics.join(", "));
            }
            let mut evidence = Vec::new();
            for e in &f.evidence {
                let id = format!("E{}", evidence_index.len() + 1);
                evidence_index.insert(
                    id.clone(),
                    ShownEvidence {
                        node: f.node.clone(),
                        evidence: e.clone(),
                    },
                );
                evidence.push(EvidenceDraft {
                    id,
                    source: e.source.clone(),
                    at: e.at,
                    full: redact(&e.text).into_owned(),
                    limit: None,
                });
            }
            findings.push(FindingDraft {
                node: f.node.clone(),
                status: f.status,
                protected: f.node == rules.root_cause.node,
                header,
                evidence,
                evidence_dropped: 0,
            });
        }
        let head = head(input, nodes);
        let tail = tail(input, &evidence_index, &marker);
        Draft {
            head,
            findings,
            tail,
            dropped: Vec::new(),
            evidence_index,
            marker,
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut out = self.head.clone();
        out.push_str("## Findings, worst first\n\n");
        if self.findings.is_empty() {
            out.push_str("No findings.\n\n");
        }
        for f in &self.findings {
            out.push_str(&f.header);
            if !f.evidence.is_empty() {
                out.push_str("Evidence:\n");
            }
            for e in &f.evidence {
                let _ = writeln!(
                    out,
                    "- {} {}",
                    e.id,
                    fence(&self.marker, &e.source, e.at, &e.text())
                );
            }
            if f.evidence_dropped > 0 {
                let _ = writeln!(
                    out,
                    "({} evidence items left out to fit the prompt budget.)",
                    f.evidence_dropped
                );
            }
            out.push('\n');
        }
        if !self.dropped.is_empty() {
            let names: Vec<String> = self
                .dropped
                .iter()
                .map(|(n, s)| format!("{n} ({})", s.as_str()))
                .collect();
            let _ = writeln!(
                out,
                "(Findings left out to fit the prompt budget: {}.)\n",
                names.join(", ")
            );
        }
        out.push_str(&self.tail);
        out
    }
}

fn head(input: &PromptInput<'_>, nodes: &[TopologyNode]) -> String {
    let mut out = format!(
        "# Failed deploy of {}, iteration {}\n\n## Topology\nThe only valid values for `node`:\n",
        input.service, input.history.iteration
    );
    for n in nodes {
        let place = match (n.direction, n.hop) {
            (None, 0) => "the failing service, hop 0".to_string(),
            (d, hop) => {
                let side = d.map_or("", |d| match d {
                    crate::topology::Direction::Upstream => "upstream (calls it), ",
                    crate::topology::Direction::Downstream => "downstream (called by it), ",
                });
                let via = if n.via.is_empty() {
                    String::new()
                } else {
                    format!(", via {}", n.via.join(" → "))
                };
                format!("{side}hop {hop}{via}")
            }
        };
        let skills = if n.skills.is_empty() {
            String::new()
        } else {
            format!("; checked by {}", n.skills.join(", "))
        };
        let _ = writeln!(out, "- {}: {place}{skills}", n.name);
    }
    out.push('\n');
    out
}

fn tail(
    input: &PromptInput<'_>,
    evidence: &BTreeMap<String, ShownEvidence>,
    marker: &Fence,
) -> String {
    let d = input.rules;
    let mut out = String::from("## The rules engine's diagnosis\n");
    let _ = writeln!(
        out,
        "Root cause: {}, class {}, confidence {:.2}",
        d.root_cause.node,
        d.root_cause.class.as_str(),
        d.confidence
    );
    if !d.chain.is_empty() {
        let chain: Vec<String> = d
            .chain
            .iter()
            .map(|l| format!("{} ({})", l.node, l.class.as_str()))
            .collect();
        let _ = writeln!(out, "Chain: {}", chain.join(" → "));
    }
    let _ = writeln!(
        out,
        "Summary: {}",
        fence(marker, "rules:summary", None, &d.root_cause.summary)
    );
    let _ = writeln!(
        out,
        "Proposed action: {} — {}",
        kind_str(d.proposed_action.kind),
        fence(
            marker,
            "rules:proposed-action",
            None,
            &d.proposed_action.summary
        )
    );
    let cited: Vec<String> = d
        .evidence
        .iter()
        .map(|e| {
            evidence
                .iter()
                .find(|(_, shown)| {
                    shown.evidence.source == e.source && shown.evidence.text == e.text
                })
                .map_or_else(|| attribute(&e.source), |(id, _)| id.clone())
        })
        .collect();
    if !cited.is_empty() {
        let _ = writeln!(out, "Evidence cited: {}", cited.join(", "));
    }
    if !d.noise.is_empty() {
        let noise: Vec<String> = d
            .noise
            .iter()
            .map(|n| format!("{}: {}", n.node, n.why))
            .collect();
        let _ = writeln!(
            out,
            "Judged noise (unhealthy, not the cause): {}",
            fence(marker, "rules:noise", None, &noise.join("\n"))
        );
    }
    if !d.missing.is_empty() {
        let _ = writeln!(
            out,
            "Missing to say more: {}",
            fence(marker, "rules:missing", None, &d.missing.join("\n"))
        );
    }
    // The runners-up, so the model can disagree with reasons; their `why` quotes logs.
    let others: Vec<String> = input
        .candidates
        .iter()
        .take(MAX_CANDIDATES)
        .map(|c| {
            format!(
                "{} {} (score {:.2}): {}",
                c.node,
                c.class.as_str(),
                c.score,
                c.why
            )
        })
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            out,
            "Candidates weighed, best first: {}",
            fence(marker, "rules:candidates", None, &others.join("\n"))
        );
    }
    out.push_str("\n## Debug history: what earlier iterations tried (never propose these again)\n");
    let h = &input.history.history;
    if h.is_empty() {
        out.push_str("No earlier iterations.\n");
    } else {
        // Comments and CI output reach the history, so all of it is fenced.
        let mut text = String::new();
        for e in h {
            let _ = write!(
                text,
                "iteration {}: diagnosis: {} | action: {}",
                e.iteration,
                cap(&e.diagnosis),
                cap(&e.action)
            );
            if let Some(c) = &e.commit {
                let _ = write!(text, " | commit: {}", cap(c));
            }
            if let Some(g) = &e.gha {
                let _ = write!(text, " | CI: {}", cap(g));
            }
            let _ = writeln!(text, " | result: {}", cap(&e.result));
        }
        out.push_str(&fence(marker, "debug-history", None, text.trim_end()));
        out.push('\n');
    }
    out.push_str("\nAnswer now with the one JSON object.\n");
    out
}

/// History fields are short by nature; a pasted log in a comment is not kept whole.
fn cap(text: &str) -> String {
    budget::shorten(text, 600)
}
