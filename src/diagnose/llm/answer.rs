//! The model's answer: its JSON schema, and the checks it must pass before it is used.
//!
//! An answer is used only if it is one JSON object of the schema's shape and it agrees with
//! the world: every node it names is in the topology, every class is in the vocabulary, the
//! action kind is allowed, the action does not repeat a fix the debug history shows failed,
//! and every evidence id it cites was shown to it. Confidence is clamped to 0..1.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Value, json};

use super::budget::shorten;
use super::prompt::ShownEvidence;
use super::world::TriedFix;
use crate::diagnose::{
    ActionKind, ChainLink, Diagnosis, Engine, Noise, ProposedAction, RootCause, RootCauseClass,
};
use crate::redact::redact;
use crate::skills::{Finding, Status};

pub const ACTION_KINDS: [(&str, ActionKind); 5] = [
    ("code", ActionKind::Code),
    ("infra", ActionKind::Infra),
    ("rollback", ActionKind::Rollback),
    ("none", ActionKind::None),
    ("escalate", ActionKind::Escalate),
];

pub fn kind_str(kind: ActionKind) -> &'static str {
    ACTION_KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("none", |(s, _)| s)
}

/// The JSON schema the model answers with; `nodes` are the valid node names.
pub fn answer_schema(nodes: &[&str]) -> Value {
    let classes: Vec<&str> = RootCauseClass::ALL.iter().map(|c| c.as_str()).collect();
    let kinds: Vec<&str> = ACTION_KINDS.iter().map(|(s, _)| *s).collect();
    // Shared definitions keep the schema short: it is sent with every request.
    let node = json!({"$ref": "#/$defs/node"});
    let class = json!({"$ref": "#/$defs/class"});
    json!({
        "type": "object",
        "$defs": {
            "node": {"type": "string", "enum": nodes},
            "class": {"type": "string", "enum": classes}
        },
        "required": ["root_cause", "chain", "confidence", "evidence", "proposed_action"],
        "properties": {
            "root_cause": {
                "type": "object",
                "required": ["node", "class", "summary"],
                "properties": {"node": node, "class": class, "summary": {"type": "string", "minLength": 1}}
            },
            "chain": {
                "description": "from the root cause to the failing service",
                "type": "array",
                "items": {"type": "object", "required": ["node", "class"], "properties": {"node": node, "class": class}}
            },
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "evidence": {"description": "ids of the evidence items that support the root cause, e.g. E3",
                         "type": "array", "items": {"type": "string"}},
            "proposed_action": {
                "type": "object",
                "required": ["kind", "summary"],
                "properties": {"kind": {"type": "string", "enum": kinds}, "summary": {"type": "string"}}
            },
            "noise": {
                "description": "unhealthy nodes that do not explain the failure, and why",
                "type": "array",
                "items": {"type": "object", "required": ["node", "why"], "properties": {"node": node, "why": {"type": "string"}}}
            },
            "missing": {"description": "what would be needed to say more", "type": "array", "items": {"type": "string"}}
        }
    })
}

#[derive(Deserialize)]
struct RawAnswer {
    root_cause: RawRootCause,
    #[serde(default)]
    chain: Vec<RawLink>,
    confidence: f64,
    #[serde(default)]
    evidence: Vec<String>,
    proposed_action: RawAction,
    #[serde(default)]
    noise: Vec<RawNoise>,
    #[serde(default)]
    missing: Vec<String>,
}

#[derive(Deserialize)]
struct RawRootCause {
    node: String,
    class: String,
    summary: String,
}

#[derive(Deserialize)]
struct RawLink {
    node: String,
    class: String,
}

#[derive(Deserialize)]
struct RawAction {
    kind: String,
    summary: String,
}

#[derive(Deserialize)]
struct RawNoise {
    node: String,
    why: String,
}

/// What an answer is checked against.
pub struct World<'a> {
    pub nodes: BTreeSet<String>,
    /// Evidence ids shown in the prompt, and what they stand for.
    pub evidence: &'a BTreeMap<String, ShownEvidence>,
    pub findings: &'a [Finding],
    pub tried: Vec<TriedFix>,
}

/// Why an answer was not used, in words the model (on retry) and people (in the note) read.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid(pub Vec<String>);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

/// The answer as a diagnosis by the model, or every reason it cannot be used.
pub fn check(text: &str, world: &World<'_>) -> Result<Diagnosis, Invalid> {
    let json = json_object_text(text);
    if json.is_empty() {
        return Err(Invalid(vec![
            "the answer is empty; answer with one JSON object".into(),
        ]));
    }
    let raw: RawAnswer = serde_json::from_str(json).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "the answer is not valid JSON"
        } else {
            "the answer does not match the schema"
        };
        Invalid(vec![format!("{what} ({e})")])
    })?;
    let mut problems = Vec::new();
    let node = |n: &str, what: &str, problems: &mut Vec<String>| {
        if !world.nodes.contains(n) {
            problems.push(format!("{what} `{}` is not in the topology", quote(n)));
        }
    };
    let class = |c: &str, what: &str, problems: &mut Vec<String>| {
        let parsed = RootCauseClass::parse(c);
        if parsed.is_none() {
            problems.push(format!("{what} `{}` is not in the vocabulary", quote(c)));
        }
        parsed.unwrap_or(RootCauseClass::Unknown)
    };

    node(&raw.root_cause.node, "node", &mut problems);
    let root_class = class(&raw.root_cause.class, "class", &mut problems);
    if raw.root_cause.summary.trim().is_empty() {
        problems.push("root_cause.summary is empty".into());
    }
    let mut chain = Vec::new();
    for link in &raw.chain {
        node(&link.node, "chain node", &mut problems);
        let class = class(&link.class, "chain class", &mut problems);
        chain.push(ChainLink {
            node: link.node.clone(),
            class,
        });
    }
    for n in &raw.noise {
        node(&n.node, "noise node", &mut problems);
    }
    let kind = ACTION_KINDS
        .iter()
        .find(|(s, _)| *s == raw.proposed_action.kind)
        .map(|(_, k)| *k);
    if kind.is_none() {
        problems.push(format!(
            "action kind `{}` is not allowed (use code, infra, rollback, none or escalate)",
            quote(&raw.proposed_action.kind)
        ));
    }
    let kind = kind.unwrap_or(ActionKind::Escalate);
    if matches!(
        kind,
        ActionKind::Code | ActionKind::Infra | ActionKind::Rollback
    ) && let Some(tried) = world.tried.iter().find(|t| {
        t.repeated_by(
            &crate::diagnose::fix_fingerprint(kind, root_class, &raw.root_cause.node, None),
            &raw.proposed_action.summary,
        )
    }) {
        problems.push(format!(
            "the proposed action `{}` repeats the fix tried in iteration {}, which did not work (result: {}); propose something else or escalate",
            quote(&raw.proposed_action.summary),
            tried.iteration,
            quote(&tried.result)
        ));
    }
    let mut evidence = Vec::new();
    for id in &raw.evidence {
        match world.evidence.get(id.trim()) {
            Some(shown) => {
                if !evidence.contains(&shown.evidence) {
                    evidence.push(shown.evidence.clone());
                }
            }
            None => problems.push(format!(
                "evidence `{}` was not shown in the findings",
                quote(id)
            )),
        }
    }
    // Doing nothing while nodes are down is the answer an injected instruction asks for:
    // it must show why, with the evidence it read, or the rules engine decides.
    if matches!(kind, ActionKind::None | ActionKind::Escalate) && raw.evidence.is_empty() {
        let unhealthy: BTreeSet<&str> = world
            .findings
            .iter()
            .filter(|f| matches!(f.status, Status::Down | Status::Degraded))
            .map(|f| f.node.as_str())
            .collect();
        if !unhealthy.is_empty() {
            problems.push(format!(
                "action `{}` while {} are unhealthy cites no evidence: cite the ids that show why nothing should be done, or propose an action",
                raw.proposed_action.kind,
                unhealthy.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Invalid(problems));
    }
    if evidence.is_empty() {
        // Nothing cited: the chosen node's own evidence, as the sweep saw it.
        evidence = world
            .findings
            .iter()
            .filter(|f| f.node == raw.root_cause.node)
            .flat_map(|f| f.evidence.iter().cloned())
            .collect();
    }
    let confidence = if raw.confidence.is_finite() {
        raw.confidence.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let fingerprint =
        crate::diagnose::fix_fingerprint(kind, root_class, &raw.root_cause.node, None);
    Ok(Diagnosis {
        root_cause: RootCause {
            node: raw.root_cause.node,
            class: root_class,
            summary: clean(&raw.root_cause.summary, 1000),
        },
        chain,
        confidence,
        evidence,
        proposed_action: ProposedAction {
            kind,
            summary: clean(&raw.proposed_action.summary, 1000),
            fingerprint: Some(fingerprint),
        },
        engine: Engine::Llm,
        noise: raw
            .noise
            .into_iter()
            .map(|n| Noise {
                node: n.node,
                why: clean(&n.why, 500),
            })
            .collect(),
        missing: raw
            .missing
            .iter()
            .take(10)
            .map(|m| clean(m, 300))
            .filter(|m| !m.is_empty())
            .collect(),
        note: None,
    })
}

/// The JSON object in an answer: models sometimes wrap it in a code fence or a sentence.
fn json_object_text(text: &str) -> &str {
    let t = text.trim();
    match (t.find('{'), t.rfind('}')) {
        (Some(start), Some(end)) if start < end => &t[start..=end],
        _ => t,
    }
}

/// Model text quoted in an error: redacted, one line, short.
fn quote(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let short: String = one_line.chars().take(80).collect();
    let short = if one_line.chars().count() > 80 {
        format!("{short}…")
    } else {
        short
    };
    redact(&short).into_owned()
}

/// Model text kept in the diagnosis: redacted and bounded.
fn clean(text: &str, max: usize) -> String {
    shorten(redact(text.trim()).as_ref(), max)
}
