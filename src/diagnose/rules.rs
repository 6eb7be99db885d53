//! The rules engine's playbooks: each finding, read against the signals that
//! docs/root-causes.md lists, becomes zero or more candidate causes. No network and no model:
//! the same sweep always gives the same candidates. Weighing them against the topology (who
//! depends on whom, whose errors began first) is [`super::rank`]'s job.
//!
//! - [`view`]: the sweep as the rules and the ranking see it (nodes, edges, text).
//! - `signals`: markers and patterns, compiled once.
//! - `service`: playbooks for a service's own checks (ecs, cloudwatch, gha).
//! - `resources`: playbooks for what a service uses (postgres, redis, sqs, lambda, http).

mod config;
pub mod reading;
mod resources;
mod service;
pub(crate) mod signals;
pub mod view;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::RootCauseClass;
use crate::skills::{Evidence, Finding, Status};
use crate::topology::SkillKind;
use view::{NodeId, SweepView};

/// One possible cause, as a playbook saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub node: String,
    pub class: RootCauseClass,
    /// How strongly the findings show this class at this node, 0.0 to 1.0, before the
    /// topology is considered.
    pub score: f64,
    pub hop: u32,
    /// When the node's trouble began, when a finding says (first error, earliest evidence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub began: Option<DateTime<Utc>>,
    pub evidence: Vec<Evidence>,
    /// One line for people: what was seen.
    pub why: String,
    /// What the cause is about, when it names one: the missing variable, the blocking query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// What decided it: counts a skill measured, or only words matched in text (weaker:
    /// the same words can mean something else).
    pub basis: Basis,
}

/// What a candidate rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// A skill's structured output: counts, codes, states.
    Measured,
    /// Words matched in log lines, events or summaries.
    Words,
}

/// The most evidence lines a candidate keeps: enough to show, short enough for a prompt.
const MAX_EVIDENCE: usize = 6;

impl Candidate {
    fn new(
        view: &SweepView<'_>,
        node: NodeId,
        class: RootCauseClass,
        score: f64,
        why: String,
    ) -> Self {
        let info = view.node(node);
        Candidate {
            node: info.name.to_string(),
            class,
            score: score.clamp(0.0, 1.0),
            hop: info.hop,
            began: info.began,
            evidence: Vec::new(),
            why,
            subject: None,
            basis: Basis::Measured,
        }
    }

    /// Marks a candidate that rests only on words matched in text.
    fn words_only(mut self, words: bool) -> Self {
        if words {
            self.basis = Basis::Words;
        }
        self
    }

    fn evidence<'e>(mut self, evidence: impl IntoIterator<Item = &'e Evidence>) -> Self {
        for e in evidence {
            if self.evidence.len() < MAX_EVIDENCE && !self.evidence.contains(e) {
                if reports_trouble(e) {
                    self.began = earliest(self.began, e.at);
                }
                self.evidence.push(e.clone());
            }
        }
        self
    }

    fn began(mut self, at: Option<DateTime<Utc>>) -> Self {
        self.began = earliest(self.began, at);
        self
    }

    fn subject(mut self, subject: Option<String>) -> Self {
        self.subject = subject;
        self
    }

    /// Two playbooks saw the same cause: either being right is enough (noisy-or).
    fn absorb(&mut self, other: Candidate) {
        self.score = 1.0 - (1.0 - self.score) * (1.0 - other.score);
        if !self.why.contains(&other.why) {
            self.why = format!("{}; {}", self.why, other.why);
        }
        self.began = earliest(self.began, other.began);
        self.subject = self.subject.take().or(other.subject);
        if other.basis == Basis::Measured {
            self.basis = Basis::Measured;
        }
        for e in other.evidence {
            if self.evidence.len() < MAX_EVIDENCE && !self.evidence.contains(&e) {
                self.evidence.push(e);
            }
        }
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// When a finding's errors began: the skill's `first_error_epoch_s`, else its earliest evidence.
fn began(finding: &Finding) -> Option<DateTime<Utc>> {
    let first = finding
        .metrics
        .get("first_error_epoch_s")
        .and_then(|&s| DateTime::from_timestamp(s as i64, 0));
    first.or_else(|| {
        finding
            .evidence
            .iter()
            .filter(|e| reports_trouble(e))
            .filter_map(|e| e.at)
            .min()
    })
}

/// Whether an evidence line's time says when something went wrong. An ECS deployment's
/// record carries when a rollout was made (the previous, healthy deployment's is hours old),
/// and a steady-state event says things were fine: neither is when trouble began.
fn reports_trouble(e: &Evidence) -> bool {
    !e.source.starts_with("ecs:deployment/") && !e.text.to_lowercase().contains("steady state")
}

/// Every candidate cause in the sweep, one per (node, class), in no particular order.
pub fn evaluate(view: &SweepView<'_>) -> Vec<Candidate> {
    let mut out = Vec::new();
    // Resources first: when a service's logs confirm a resource's own finding, the merged
    // candidate then reads resource first, logs second.
    for services in [false, true] {
        for finding in view.findings {
            let Some(node) = view.id(&finding.node) else {
                continue;
            };
            let Ok(skill) = finding.skill.parse::<SkillKind>() else {
                continue;
            };
            if matches!(
                skill,
                SkillKind::Ecs | SkillKind::Cloudwatch | SkillKind::Gha
            ) != services
            {
                continue;
            }
            match skill {
                SkillKind::Ecs => service::ecs(view, node, finding, &mut out),
                SkillKind::Cloudwatch => service::logs(view, node, finding, &mut out),
                SkillKind::Gha => service::gha(view, node, finding, &mut out),
                SkillKind::HttpHealth => resources::http(view, node, finding, &mut out),
                SkillKind::Postgres => resources::postgres(view, node, finding, &mut out),
                SkillKind::Redis => resources::redis(view, node, finding, &mut out),
                SkillKind::Sqs => resources::sqs(view, node, finding, &mut out),
                SkillKind::Lambda => resources::lambda(view, node, finding, &mut out),
            }
        }
    }
    fallback(view, &mut out);
    merge(out)
}

/// A node that is down or degraded with nothing more specific said about it still gets a
/// candidate, so the ranking can weigh it or report it as noise. The service itself gets
/// none: an unexplained failure of its own is `unknown`, with what is missing.
fn fallback(view: &SweepView<'_>, out: &mut Vec<Candidate>) {
    for (id, node) in view.nodes().skip(1) {
        if node.unhealthy() && !out.iter().any(|c| c.node == node.name) {
            let worst = node.findings.iter().min_by_key(|f| f.status);
            let Some(worst) = worst else { continue };
            let score = if worst.status == Status::Down {
                0.55
            } else {
                0.4
            };
            let why = format!(
                "{} is {}: {}",
                node.name,
                worst.status.as_str(),
                worst.summary
            );
            out.push(
                Candidate::new(view, id, RootCauseClass::DependencyUnhealthy, score, why)
                    .evidence(worst.evidence.iter().take(2))
                    .began(began(worst)),
            );
        }
    }
}

fn merge(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::with_capacity(candidates.len());
    for c in candidates {
        match out
            .iter_mut()
            .find(|o| o.node == c.node && o.class == c.class)
        {
            Some(same) => same.absorb(c),
            None => out.push(c),
        }
    }
    out
}

/// Lowercased lines of a finding: its summary, then each evidence text, with the evidence.
fn lines(finding: &Finding) -> impl Iterator<Item = (String, Option<&Evidence>)> {
    std::iter::once((finding.summary.to_lowercase(), None)).chain(
        finding
            .evidence
            .iter()
            .map(|e| (e.text.to_lowercase(), Some(e))),
    )
}

/// Evidence whose text contains any of `markers` (the line itself, or the first lines).
fn matching<'f>(finding: &'f Finding, markers: &[&str]) -> Vec<&'f Evidence> {
    let hits: Vec<&Evidence> = finding
        .evidence
        .iter()
        .filter(|e| signals::any(&e.text.to_lowercase(), markers))
        .collect();
    if hits.is_empty() {
        finding.evidence.iter().take(2).collect()
    } else {
        hits
    }
}

fn metric(finding: &Finding, name: &str) -> Option<f64> {
    finding.metrics.get(name).copied()
}

/// `n` without a trailing `.0`, for people.
fn num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n:.2}")
    }
}
