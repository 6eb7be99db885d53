//! Topology-aware ranking: which candidate explains the failed deploy, the chain from it to
//! the symptom, the unhealthy nodes that do not explain it (noise), and what to do next.
//!
//! A candidate's weight is its rules score plus what the topology says (see the constants):
//! symptoms in the service (failing health checks, a crash loop) are explained by a cause in
//! what it depends on, when the service's own errors point there or the dependency's errors
//! began first; the deepest unhealthy dependency explains the nodes in between when the
//! failure can travel the path (each link's errors point at the next, or the next broke
//! first, or a queue's consumer is down); an upstream caller's outage explains nothing while
//! the service itself fails. When no candidate reaches [`EXPLAINS_AT_LEAST`], the answer is
//! `unknown`, with what the sweep lacked. Confidence comes from the margin over the best
//! explanation at a node outside the chain.
//!
//! - `report`: the `Diagnosis` built from the ranking (chain, noise, confidence, missing).
//! - `action`: the usual fixes per class, minus those the debug history shows failed.
//! - `blind`: when the sweep cannot see the environment at all (every network check fails
//!   the same way, AWS unreadable), the answer is that, not a dependency.

mod action;
mod blind;
mod report;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::rules::view::{NodeId, Relation, SweepView};
use super::rules::{self, Candidate};
use super::{DebugContext, Diagnosis, RootCauseClass as Class};
use crate::skills::Finding;
use crate::topology::TopologyGraph;

/// A cause in the service itself that nothing else needs to explain (an OOM, a bad image).
const SELF_INTRINSIC: f64 = 0.30;
/// A symptom in the service itself: on the failing path by definition, but often explained.
const SELF_SYMPTOM: f64 = 0.10;
/// A service symptom explained by a dependency or by an intrinsic cause of its own.
const EXPLAINED: f64 = -0.45;
/// The service's own errors point at the dependency (its name, queue, host, or kind).
const CORROBORATED: f64 = 0.25;
/// Each unhealthy link between the service and the dependency (up to three).
const PER_LINK: f64 = 0.05;
/// Each hop from the service (up to five): deeper causes explain shallower ones.
const PER_HOP: f64 = 0.02;
/// An unhealthy node behind this one, on the same path, explains it.
const DEEPER_EXPLAINS: f64 = -0.20;
/// Its errors began first, at least [`SAME_TIME_S`] before another candidate's.
const EARLIEST: f64 = 0.15;
const SAME_TIME_S: i64 = 60;
/// An upstream caller's outage while the service itself fails.
const CALLER_OF_FAILING: f64 = -0.40;
/// An upstream caller's outage while the service itself is healthy: the likely failure.
const CALLER_OF_HEALTHY: f64 = 0.10;
/// A dependency nothing in the failing service's errors points at.
const UNPOINTED: f64 = -0.15;
/// Dead letters in a queue the service drains: messages its own handler failed on.
const CONSUMED_DEAD_LETTERS: f64 = 0.05;
/// Nothing on the service's paths leads to it.
const UNRELATED: f64 = -0.30;
/// Below this weight, nothing explains the failure: `unknown`.
const EXPLAINS_AT_LEAST: f64 = 0.40;
/// A dependency candidate strong enough to explain a symptom.
const STRONG: f64 = 0.5;

struct Ranked {
    c: Candidate,
    id: NodeId,
    relation: Relation,
    /// A dependency whose every link beyond the first is unhealthy and supported (see
    /// [`SweepView::link_supported`]): the failure can travel along its path.
    chained: bool,
    /// Chained, and the service's own errors point at the first link.
    corroborated: bool,
    weight: f64,
    reasons: Vec<String>,
}

/// The ranked candidates, best first, each `why` ending with the ranking's reasons: what a
/// model is shown beside the findings.
pub fn candidates(
    service: &str,
    findings: &[Finding],
    graph: Option<&TopologyGraph>,
) -> Vec<Candidate> {
    let view = SweepView::new(service, findings, graph);
    rank(&view)
        .into_iter()
        .map(|mut r| {
            if !r.reasons.is_empty() {
                r.c.why = format!("{} [{}]", r.c.why, r.reasons.join("; "));
            }
            r.c
        })
        .collect()
}

/// The rules engine's diagnosis of a failed deploy of `service`.
pub fn diagnose(
    service: &str,
    findings: &[Finding],
    graph: Option<&TopologyGraph>,
    history: &DebugContext,
) -> Diagnosis {
    let view = SweepView::new(service, findings, graph);
    let ranked = rank(&view);
    if let Some(blind) = blind::diagnose(&view, &ranked) {
        return blind;
    }
    match ranked.first() {
        Some(top) if top.weight >= EXPLAINS_AT_LEAST => report::explain(&view, &ranked, history),
        _ => report::unknown(&view, &ranked),
    }
}

fn is_symptom(class: Class) -> bool {
    matches!(
        class,
        Class::HealthCheckFailed | Class::CrashLoop | Class::DependencyUnhealthy | Class::Unknown
    )
}

/// How a node stands to the service, and whether a failure there can travel to it.
fn place(view: &SweepView<'_>, id: NodeId) -> (Relation, bool, bool) {
    let relation = view.relation(id);
    let (chained, corroborated) = match &relation {
        Relation::Dependency(path) => {
            let chained = path[1..].windows(2).all(|link| {
                view.node(link[0]).unhealthy() && view.link_supported(link[0], link[1])
            });
            (chained, chained && view.mentions(view.root(), path[1]))
        }
        _ => (false, false),
    };
    (relation, chained, corroborated)
}

fn rank(view: &SweepView<'_>) -> Vec<Ranked> {
    let mut placed: HashMap<NodeId, (Relation, bool, bool)> = HashMap::new();
    let mut ranked: Vec<Ranked> = rules::evaluate(view)
        .into_iter()
        .filter_map(|c| {
            let id = view.id(&c.node)?;
            let (relation, chained, corroborated) =
                placed.entry(id).or_insert_with(|| place(view, id)).clone();
            Some(Ranked {
                weight: c.score,
                c,
                id,
                relation,
                chained,
                corroborated,
                reasons: Vec::new(),
            })
        })
        .collect();

    // The links on a chained candidate's path: what lies behind them explains them.
    let mut behind: Vec<(NodeId, NodeId)> = Vec::new();
    for r in &ranked {
        if let Relation::Dependency(path) = &r.relation
            && r.chained
            && r.c.score >= EXPLAINS_AT_LEAST
        {
            behind.extend(path[1..path.len() - 1].iter().map(|&n| (n, r.id)));
        }
    }
    let service_failing = view.service_failing()
        || ranked
            .iter()
            .any(|r| r.relation == Relation::Service && !is_ci(r.c.class));
    let env_unhealthy = ranked
        .iter()
        .any(|r| matches!(r.relation, Relation::Dependency(_)) && r.c.score >= 0.6);
    let earliest = ranked.iter().filter_map(|r| r.c.began).min();
    let latest = ranked.iter().filter_map(|r| r.c.began).max();
    // Deepest first, so a symptom names the cause at the end of the chain.
    let mut explaining_deps: Vec<(bool, Option<DateTime<Utc>>, String, usize)> = ranked
        .iter()
        .filter_map(|r| match &r.relation {
            Relation::Dependency(path) if r.c.score >= STRONG => {
                Some((r.corroborated, r.c.began, r.c.node.clone(), path.len()))
            }
            _ => None,
        })
        .collect();
    explaining_deps.sort_by_key(|d| std::cmp::Reverse(d.3));
    let intrinsic_self: Vec<String> = ranked
        .iter()
        .filter(|r| {
            r.relation == Relation::Service
                && !is_symptom(r.c.class)
                && r.c.score >= STRONG
                && !(r.c.class == Class::CiTestFailed && env_unhealthy)
        })
        .map(|r| format!("{} {}", r.c.node, r.c.class.as_str()))
        .collect();
    let service = view.service;

    for r in &mut ranked {
        let mut add = |w: f64, why: String| {
            r.weight += w;
            r.reasons.push(why);
        };
        match &r.relation {
            Relation::Service => {
                let symptom =
                    is_symptom(r.c.class) || (r.c.class == Class::CiTestFailed && env_unhealthy);
                let earlier = |at: Option<DateTime<Utc>>| before(at, r.c.began);
                let by_dep = explaining_deps.iter().find(|(corroborated, at, _, _)| {
                    if symptom {
                        *corroborated || earlier(*at)
                    } else {
                        *corroborated && earlier(*at)
                    }
                });
                if let Some((_, _, node, _)) = by_dep.filter(|_| !is_ci(r.c.class) || symptom) {
                    add(EXPLAINED, format!("explained by {node}"));
                } else if symptom && let Some(cause) = intrinsic_self.first() {
                    add(EXPLAINED, format!("explained by {cause}"));
                } else if symptom {
                    add(SELF_SYMPTOM, format!("{service}'s own failure"));
                } else {
                    add(SELF_INTRINSIC, format!("a cause in {service} itself"));
                }
            }
            Relation::Dependency(path) => {
                if r.corroborated {
                    add(
                        CORROBORATED,
                        format!("{service}'s errors point at {}", view.node(path[1]).name),
                    );
                }
                let links = path.len() - 2;
                if r.chained && links > 0 {
                    add(
                        PER_LINK * links.min(3) as f64,
                        format!("behind {links} unhealthy link(s): {}", names(view, path)),
                    );
                }
                let hops = path.len() - 1;
                add(
                    PER_HOP * hops.min(5) as f64,
                    format!("{hops} hop(s) from {service}"),
                );
                // The service fails, and nothing it says leads here (directly, or along a
                // chain of failures): a rival story, weaker than one its errors point at.
                let travels = r.chained && links > 0;
                if service_failing && !r.corroborated && !travels {
                    let beside = intrinsic_self
                        .first()
                        .map(|cause| format!(", and {cause} explains {service}'s failure"))
                        .unwrap_or_default();
                    add(
                        UNPOINTED,
                        format!("nothing in {service}'s errors points at it{beside}"),
                    );
                }
                if let Some((_, deeper)) = behind.iter().find(|(n, by)| *n == r.id && *by != r.id) {
                    add(
                        DEEPER_EXPLAINS,
                        format!("explained by {} behind it", view.node(*deeper).name),
                    );
                }
            }
            // The service drains this queue, and its dead letters are messages the service's
            // handler failed on: the queue's input is the cause, the caller relation is not.
            Relation::Caller
                if r.c.class == Class::DeadLetters && view.consumed_queues(0).contains(&r.id) =>
            {
                add(
                    CONSUMED_DEAD_LETTERS,
                    format!(
                        "{service} drains it, and its dead letters failed in {service}'s handler"
                    ),
                );
            }
            Relation::Caller if service_failing => {
                add(
                    CALLER_OF_FAILING,
                    format!("an upstream caller: cannot explain {service}'s own failure"),
                );
            }
            Relation::Caller => add(
                CALLER_OF_HEALTHY,
                format!("an upstream caller, while {service} itself is healthy"),
            ),
            Relation::Unrelated => add(UNRELATED, format!("not on any path from {service}")),
        }
        if r.c.began.is_some()
            && r.c.began == earliest
            && latest
                .zip(earliest)
                .is_some_and(|(l, e)| l - e >= Duration::seconds(SAME_TIME_S))
        {
            add(EARLIEST, "its errors began first".into());
        }
    }
    ranked.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then(b.c.hop.cmp(&a.c.hop))
            .then(b.c.score.total_cmp(&a.c.score))
            .then_with(|| a.c.node.cmp(&b.c.node))
            .then(a.c.class.cmp(&b.c.class))
    });
    ranked
}

fn is_ci(class: Class) -> bool {
    matches!(class, Class::CiBuildFailed | Class::CiTestFailed)
}

/// `a` began at least [`SAME_TIME_S`] before `b`.
fn before(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> bool {
    a.zip(b)
        .is_some_and(|(a, b)| b - a >= Duration::seconds(SAME_TIME_S))
}

fn names(view: &SweepView<'_>, path: &[NodeId]) -> String {
    path.iter()
        .map(|&n| view.node(n).name)
        .collect::<Vec<_>>()
        .join(" → ")
}
