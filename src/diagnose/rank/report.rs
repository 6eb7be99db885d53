//! The diagnosis people and the loop read, built from the ranking: the root cause and its
//! chain, confidence from the margin, the noise with why, what to do, and — when nothing
//! explains the failure — what the sweep lacked.

use super::{Ranked, action, before};
use crate::diagnose::rules::Basis;
use crate::diagnose::rules::view::{NodeId, Relation, SweepView};
use crate::diagnose::{
    ActionKind, ChainLink, DebugContext, Diagnosis, Engine, Noise, ProposedAction, RootCause,
    RootCauseClass as Class,
};
use crate::skills::{Evidence, Status};
use crate::topology::ServiceVisit;

pub(super) fn explain(
    view: &SweepView<'_>,
    ranked: &[Ranked],
    history: &DebugContext,
) -> Diagnosis {
    let top = &ranked[0];
    let service = view.service;
    let best_at = |id: NodeId| {
        ranked
            .iter()
            .filter(|r| r.id == id)
            .max_by(|a, b| a.c.score.total_cmp(&b.c.score))
    };
    let mut chain = vec![ChainLink {
        node: top.c.node.clone(),
        class: top.c.class,
    }];
    if let Relation::Dependency(path) = &top.relation {
        // The nodes in between are links only when the failure can travel through them.
        let between = if top.chained {
            &path[1..path.len() - 1]
        } else {
            &[][..]
        };
        for &n in between.iter().rev() {
            if let Some(r) = best_at(n) {
                chain.push(ChainLink {
                    node: r.c.node.clone(),
                    class: r.c.class,
                });
            }
        }
        let class = best_at(view.root()).map_or(Class::DependencyUnhealthy, |r| r.c.class);
        chain.push(ChainLink {
            node: service.to_string(),
            class,
        });
    } else if top.relation == Relation::Caller
        && view.consumed_queues(view.root()).contains(&top.id)
    {
        // A queue the service drains: its messages fail in the service.
        chain.push(ChainLink {
            node: service.to_string(),
            class: Class::DependencyUnhealthy,
        });
    }
    let on_chain = |node: &str| chain.iter().any(|l| l.node == node);
    let path_text = chain
        .iter()
        .map(|l| l.node.as_str())
        .collect::<Vec<_>>()
        .join(" → ");

    let rival = ranked.iter().find(|r| !on_chain(&r.c.node));
    let margin = rival.map_or(0.5, |r| top.weight - r.weight);
    let (confidence, doubts) = confidence(view, top, margin);

    // One line per node: its best-ranked candidate says why it is not the cause.
    let mut noise: Vec<Noise> = Vec::new();
    for r in ranked.iter().filter(|r| !on_chain(&r.c.node)) {
        if !noise.iter().any(|n| n.node == r.c.node) {
            noise.push(Noise {
                node: r.c.node.clone(),
                why: noise_why(view, r, top, &path_text),
            });
        }
    }

    let mut evidence = top.c.evidence.clone();
    for link in &chain[1..] {
        if let Some(e) = view
            .id(&link.node)
            .and_then(best_at)
            .and_then(|r| r.c.evidence.first())
            && !evidence.contains(e)
        {
            evidence.push(e.clone());
        }
    }
    evidence.truncate(8);

    let mut summary = top.c.why.clone();
    match &top.relation {
        Relation::Caller => {
            summary.push_str(&format!(
                "; {service} itself shows no failure in its own checks, so the failure lies with its caller {}",
                top.c.node
            ));
        }
        _ if chain.len() > 1 => {
            let rest: Vec<String> = chain[1..]
                .iter()
                .map(|l| format!("{} ({})", l.node, l.class.as_str()))
                .collect();
            summary.push_str(&format!(", which explains {}", rest.join(" → ")));
        }
        _ => {}
    }

    Diagnosis {
        root_cause: RootCause {
            node: top.c.node.clone(),
            class: top.c.class,
            summary,
        },
        chain,
        confidence,
        evidence,
        proposed_action: action::propose(view, &top.c, history),
        engine: Engine::Rules,
        noise,
        missing: if confidence < 0.6 {
            missing(view)
        } else {
            Vec::new()
        },
        note: (!doubts.is_empty()).then(|| format!("confidence lowered: {}", doubts.join("; "))),
    }
}

/// How sure the rules can be: the winner's score, scaled by its margin over the best
/// explanation outside the chain (full at 0.5 or more, half at none), then lowered for each
/// reason to doubt it, each named: evidence that is only words matched in text, a cause
/// outside the service that nothing in the service's errors points at, nodes that could not
/// be checked.
fn confidence(view: &SweepView<'_>, top: &Ranked, margin: f64) -> (f64, Vec<String>) {
    let mut confidence = top.c.score * (0.5 + 0.5 * (margin / 0.5).clamp(0.0, 1.0));
    let mut doubts = Vec::new();
    if margin < 0.25 {
        doubts.push(format!("another explanation scores within {margin:.2}"));
    }
    if top.c.basis == Basis::Words {
        confidence = (confidence * 0.9).min(0.8);
        doubts.push("the evidence is words matched in logs, not a measured count".into());
    }
    if matches!(top.relation, Relation::Dependency(_)) && !top.corroborated {
        confidence *= 0.85;
        doubts.push(format!(
            "nothing in {}'s own errors points at {}",
            view.service, top.c.node
        ));
    }
    let checks: Vec<_> = view.findings.iter().filter(|f| f.skill != "gha").collect();
    let unknown = checks
        .iter()
        .filter(|f| f.status == Status::Unknown)
        .count();
    if unknown > 0 {
        let share = unknown as f64 / checks.len() as f64;
        confidence *= 1.0 - 0.6 * share;
        doubts.push(format!(
            "{unknown} of {} checks could not run",
            checks.len()
        ));
    }
    let confidence = (confidence.clamp(0.05, 0.99) * 100.0).round() / 100.0;
    (confidence, doubts)
}

fn noise_why(view: &SweepView<'_>, r: &Ranked, top: &Ranked, path: &str) -> String {
    let service = view.service;
    let mut reasons = vec![match &r.relation {
        Relation::Caller => format!(
            "it calls {service} (upstream), so its outage does not explain {service}'s own failure"
        ),
        Relation::Unrelated => format!("nothing on the failing path ({path}) depends on it"),
        Relation::Dependency(_) if !r.corroborated => {
            format!("nothing on the failing path ({path}) shows an error that points at it")
        }
        Relation::Dependency(_) => format!("{} explains more of the failure", top.c.node),
        Relation::Service => format!("explained by {} ({})", top.c.node, top.c.class.as_str()),
    }];
    if before(top.c.began, r.c.began)
        && let (Some(a), Some(b)) = (r.c.began, top.c.began)
    {
        reasons.push(format!(
            "its errors began after {}'s ({} vs {})",
            top.c.node,
            a.format("%H:%M:%S"),
            b.format("%H:%M:%S")
        ));
    }
    format!("{}, but {}", r.c.why, reasons.join("; "))
}

pub(super) fn unknown(view: &SweepView<'_>, ranked: &[Ranked]) -> Diagnosis {
    let service = view.service;
    let unhealthy = view.nodes().filter(|(_, n)| n.unhealthy()).count();
    let summary = format!(
        "nothing in the sweep explains {service}'s failure ({} findings, {unhealthy} node(s) unhealthy, none with a recognised cause strong enough)",
        view.findings.len()
    );
    let evidence = view
        .node(view.root())
        .findings
        .iter()
        .filter(|f| f.status != Status::Healthy)
        .flat_map(|f| f.evidence.iter().take(2).cloned())
        .take(6)
        .collect();
    let noise = ranked
        .iter()
        .map(|r| Noise {
            node: r.c.node.clone(),
            why: format!("{}, too weak to explain the failure on its own", r.c.why),
        })
        .collect();
    let missing = missing(view);
    let action = format!(
        "ask {service}'s owners: the sweep does not explain the failure; first gather {}",
        missing
            .first()
            .map_or("the failed run's logs", String::as_str)
    );
    undecided(service, summary, evidence, action, noise, missing)
}

/// An `unknown` diagnosis: nothing decided, a person asked, with what to gather first.
pub(super) fn undecided(
    service: &str,
    summary: String,
    evidence: Vec<Evidence>,
    action: String,
    noise: Vec<Noise>,
    missing: Vec<String>,
) -> Diagnosis {
    Diagnosis {
        root_cause: RootCause {
            node: service.to_string(),
            class: Class::Unknown,
            summary,
        },
        chain: vec![ChainLink {
            node: service.to_string(),
            class: Class::Unknown,
        }],
        confidence: 0.0,
        evidence,
        proposed_action: ProposedAction {
            kind: ActionKind::Escalate,
            summary: action,
            fingerprint: None,
        },
        engine: Engine::Rules,
        noise,
        missing,
        note: None,
    }
}

/// What a sweep lacked to say more: nodes it could not check, the service's own checks
/// that are absent, planned checks that never reported.
pub(super) fn missing(view: &SweepView<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let service = &view.node(view.root());
    for (skill, what) in [
        (
            "ecs",
            "the ECS service and its stopped tasks' reasons (add `ecs:` to the map)",
        ),
        ("cloudwatch", "the service's logs (add `logs:` to the map)"),
        ("gha", "the failed run's job logs (add `repo:` to the map)"),
    ] {
        if !service.findings.iter().any(|f| f.skill == skill) {
            out.push(format!("{}: {what}", view.service));
        }
    }
    for f in view.findings.iter().filter(|f| f.status == Status::Unknown) {
        out.push(format!(
            "{} ({}): could not be checked: {}",
            f.node, f.skill, f.summary
        ));
    }
    if let Some(graph) = view.graph {
        for check in &graph.checks {
            if !view.findings.iter().any(|f| f.node == check.node) {
                out.push(format!(
                    "{}: planned ({}) but absent from the sweep",
                    check.node, check.target
                ));
            }
        }
        beyond_depth(&graph.root, graph.max_depth, &mut out);
    }
    if let Some(gha) = service
        .findings
        .iter()
        .find(|f| f.skill == "gha" && f.status != Status::Healthy)
        && gha.evidence.is_empty()
    {
        out.push(format!(
            "{}: the failed step's output (the run reported no error lines)",
            view.service
        ));
    }
    if out.is_empty() {
        out.push(format!(
            "a failing signal: every check of {} and its topology is healthy, so the failure is in \
             something the sweep does not see (add it to the topology map)",
            view.service
        ));
    }
    out.dedup();
    out
}

/// Maps the sweep read but did not follow to their end: their nodes lie past the depth asked
/// (a consumer's map saying which queue it drains, say), so no link through them is known.
fn beyond_depth(visit: &ServiceVisit, max_depth: u32, out: &mut Vec<String>) {
    if visit.beyond_depth > 0 {
        out.push(format!(
            "{}: {} node(s) of its map {} lie beyond the sweep's depth of {max_depth} hops \
             (raise `topology_depth` in .github/fixpoint.yml, or `--depth`, to check them)",
            visit.name,
            visit.beyond_depth,
            visit.file.display()
        ));
    }
    for map in visit.nodes.iter().filter_map(|n| n.map.as_deref()) {
        beyond_depth(map, max_depth, out);
    }
}
