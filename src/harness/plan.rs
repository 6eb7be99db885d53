//! Plan: what this iteration does. Iteration 1 acts on the investigation's diagnosis; later
//! ones diagnose what the last fix left (its verification sweep, or a fresh one) with the
//! whole history, so a fix that failed is never chosen again. Before anything is chosen,
//! the loop refuses to act blind or unsure.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::plans::{self, PlanDecision, PlanRequest};
use super::state::{IterationResult, LoopState};
use super::workspace::GitHubWorkspace;
use super::{Env, Next};
use crate::diagnose::{self, Diagnosis, RootCauseClass};
use crate::domain::{LoopStatus, Phase};
use crate::sweep::{self, SweepOptions, SweepReport};

pub(super) async fn plan(env: &Env<'_>, state: &mut LoopState) -> anyhow::Result<Next> {
    let n = state.current.number;
    if state.current.diagnosis.is_none() {
        let previous = state.history.history.last().cloned();
        let report = match previous_sweep(state) {
            Some(report) => report,
            None => {
                let last = state.last.as_ref();
                let since = last
                    .and_then(|l| l.deployed_at)
                    .unwrap_or_else(|| env.now());
                let failed_run = last.and_then(|l| l.failed_run);
                env.ctx
                    .step_in(n, "sweep", || sweep_lower_env(env, since, failed_run))
                    .await?
            }
        };
        // A fix whose CI went red deployed nothing: the environment says nothing new, the
        // red run is what to fix first (often the fix itself broke a build or a test).
        let ci_failed = state
            .last
            .as_ref()
            .is_some_and(|l| matches!(l.result, Some(IterationResult::CiFailed { .. })));
        let mut report = report;
        if ci_failed {
            report.findings.retain(|f| f.skill == "gha");
        }
        let history = state.history.clone();
        let diagnosis = env
            .ctx
            .step_in(n, "diagnose", || async {
                Ok(diagnose::decide(
                    &state.service,
                    &report.findings,
                    Some(&env.graph),
                    &history,
                    env.ctx.settings.model.as_ref(),
                )
                .await)
            })
            .await?;
        tracing::info!(iteration = n, previous = ?previous.map(|p| p.result), class = diagnosis.root_cause.class.as_str(), "diagnosed again");
        state.current.diagnosis = Some(diagnosis);
    }
    let diagnosis = state
        .current
        .diagnosis
        .clone()
        .expect("set above when missing");
    if let Some(why) = unsure(&diagnosis, state.config.min_confidence) {
        return Ok(Next::End(LoopStatus::StoppedUnsure, why));
    }
    let failed: Vec<String> = state
        .history
        .history
        .iter()
        .filter(|e| e.failed())
        .filter_map(|e| e.fingerprint.clone())
        .collect();
    let ecs = match &env.ecs {
        Some(Ok(ecs)) => Some(ecs.clone()),
        Some(Err(refused)) => return Ok(Next::End(LoopStatus::Failed, refused.to_string())),
        None => None,
    };
    let workspace = GitHubWorkspace::new(env, state, ecs.clone());
    let request = PlanRequest {
        service: &state.service,
        diagnosis: &diagnosis,
        config: &state.config,
        head: &state.head,
        failing: &state.run.head_sha,
        failed: &failed,
        ecs: ecs.as_ref().map(|e| (e.cluster(), e.service())),
        model: env.ctx.settings.model.as_ref(),
    };
    let decision = env
        .ctx
        .step_in(n, "choose_plan", || plans::choose(&workspace, &request))
        .await?;
    match decision {
        PlanDecision::Plan(plan) => {
            tracing::info!(iteration = n, fingerprint = %plan.fingerprint, "fix chosen");
            state.current.plan = Some(plan);
            Ok(Next::Go(Phase::Act))
        }
        PlanDecision::NoFix { why } => Ok(Next::End(LoopStatus::StoppedNoFix, why)),
    }
}

/// Why the loop must not act on `diagnosis`, if it must not: Fixpoint could not see the
/// environment or name a cause, or is not sure enough. Whatever an engine says, this rule
/// keeps the loop from changing anything on a guess.
pub(super) fn unsure(diagnosis: &Diagnosis, min_confidence: f64) -> Option<String> {
    let missing = if diagnosis.missing.is_empty() {
        String::new()
    } else {
        format!("; what is missing: {}", diagnosis.missing.join("; "))
    };
    if diagnosis.root_cause.class == RootCauseClass::Unknown {
        return Some(format!(
            "no root cause could be named ({}), so nothing was changed{missing}",
            diagnosis.root_cause.summary
        ));
    }
    if diagnosis.confidence < min_confidence {
        return Some(format!(
            "the diagnosis ({} at {}) has confidence {:.2}, under min_confidence {:.2}: nothing was changed{missing}",
            diagnosis.root_cause.class.as_str(),
            diagnosis.root_cause.node,
            diagnosis.confidence,
            min_confidence
        ));
    }
    None
}

/// The verification sweep of the iteration before, if it made one.
fn previous_sweep(state: &mut LoopState) -> Option<SweepReport> {
    state.last.as_mut().and_then(|last| last.sweep.take())
}

/// A sweep of the lower environment from `since`, reading `failed_run`'s logs when the last
/// fix's deploy failed.
pub(super) async fn sweep_lower_env(
    env: &Env<'_>,
    since: DateTime<Utc>,
    failed_run: Option<(u64, u64)>,
) -> anyhow::Result<SweepReport> {
    let run = failed_run.map(|(run_id, attempt)| env.run_context(run_id, attempt));
    let skills = env.skills(since, run);
    Ok(sweep::sweep(&env.graph, Arc::new(skills), &SweepOptions::default()).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{ActionKind, Engine, ProposedAction, RootCause};

    fn diagnosis(class: RootCauseClass, confidence: f64) -> Diagnosis {
        Diagnosis {
            root_cause: RootCause {
                node: "payments-api".into(),
                class,
                summary: "tasks killed for memory".into(),
            },
            chain: vec![],
            confidence,
            evidence: vec![],
            proposed_action: ProposedAction {
                kind: ActionKind::Infra,
                summary: "raise memory".into(),
                fingerprint: None,
            },
            engine: Engine::Rules,
            noise: vec![],
            missing: vec!["AWS credentials".into()],
            note: None,
        }
    }

    #[test]
    fn an_unknown_cause_or_a_low_confidence_changes_nothing() {
        let why = unsure(&diagnosis(RootCauseClass::Unknown, 0.9), 0.6).unwrap();
        assert!(why.contains("nothing was changed"), "{why}");
        assert!(why.contains("AWS credentials"), "{why}");
        let why = unsure(&diagnosis(RootCauseClass::OomKilled, 0.59), 0.6).unwrap();
        assert!(
            why.contains("confidence 0.59, under min_confidence 0.60"),
            "{why}"
        );
        assert_eq!(
            unsure(&diagnosis(RootCauseClass::OomKilled, 0.6), 0.6),
            None
        );
    }
}
