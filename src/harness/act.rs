//! Act: carry the chosen fix out. File changes become one commit on the loop's branch
//! (Git Data API, fast-forward only), found again by its trailers if a crash hid whether it
//! was made; an infra change without a file goes through the ECS API of the lower
//! environment, only when the repository allows it. The service's PRIMARY deployment is
//! recorded first, so the rollout that follows can be told from a rollback.

use std::time::Duration;

use super::lower_env::LowerEnvService;
use super::plans::{Change, FixPlan};
use super::state::{DeploymentMark, LoopState};
use super::{Env, Next};
use crate::config::fixing::{Allowance, Trigger};
use crate::domain::{CommitSha, LoopStatus, Phase};
use crate::github::GitHubError;
use crate::github::git::FileChange;

pub(super) async fn act(env: &Env<'_>, state: &mut LoopState) -> anyhow::Result<Next> {
    let n = state.current.number;
    let Some(plan) = state.current.plan.clone() else {
        return Ok(Next::Go(Phase::Plan));
    };
    let ecs = match &env.ecs {
        Some(Ok(ecs)) => Some(ecs),
        Some(Err(refused)) => return Ok(Next::End(LoopStatus::Failed, refused.to_string())),
        None => None,
    };
    if state.current.baseline.is_none()
        && let Some(ecs) = &ecs
    {
        state.current.baseline = env.ctx.step_in(n, "baseline", || primary(ecs)).await?;
    }
    if state.current.deployed_at.is_none() {
        state.current.deployed_at = Some(env.now());
    }
    match &plan.change {
        Change::Files { edits } => {
            let changes: Vec<FileChange> = edits
                .iter()
                .map(|e| FileChange {
                    path: e.path.clone(),
                    content: e.content.clone(),
                })
                .collect();
            let commit = match env
                .ctx
                .step_in(n, "commit", || commit_once(env, state, &plan, &changes))
                .await
            {
                Ok(c) => c,
                Err(e) => return refused_or_retry(e),
            };
            state.head = commit.clone();
            state.current.commit = Some(commit.clone());
            if state.config.deploy.trigger == Trigger::Dispatch {
                let dispatched = env
                    .ctx
                    .step_in(n, "dispatch", || dispatch_once(env, state, &commit))
                    .await;
                if let Err(e) = dispatched {
                    return refused_or_retry(e);
                }
            }
            let minutes = state.config.deploy.ci_timeout_min;
            state.current.ci_deadline = Some(env.after(minutes_of(minutes)));
            Ok(Next::Go(Phase::AwaitCi))
        }
        Change::Ecs(change) => {
            if !state.config.allows(Allowance::EcsApi) {
                return Ok(Next::End(
                    LoopStatus::Failed,
                    "refused: a change through the ECS API needs `allow: [ecs_api]` in .github/fixpoint.yml".into(),
                ));
            }
            let Some(ecs) =
                ecs.filter(|e| e.cluster() == change.cluster && e.service() == change.service)
            else {
                return Ok(Next::End(
                    LoopStatus::Failed,
                    format!(
                        "refused: the plan targets ECS service {}/{}, which is not this service's own in the topology map",
                        change.cluster, change.service
                    ),
                ));
            };
            let arn = env
                .ctx
                .step_in(n, "ecs_deploy", || {
                    ecs.deploy_task_definition(&change.task_definition)
                })
                .await?;
            state.current.expected_task_definition = Some(arn.clone());
            state.current.checks.push(format!(
                "registered {arn} and pointed {}/{} at it through the ECS API",
                change.cluster, change.service
            ));
            let minutes = state.config.deploy.rollout_timeout_min;
            state.current.rollout_deadline = Some(env.after(minutes_of(minutes)));
            Ok(Next::Go(Phase::AwaitRollout))
        }
    }
}

pub(super) fn minutes_of(minutes: u32) -> Duration {
    Duration::from_secs(u64::from(minutes) * 60)
}

/// A refusal (a safety rule, a permission, a 4xx) ends the loop with its reason; anything
/// else is retried by the queue.
pub(super) fn refused_or_retry(e: anyhow::Error) -> anyhow::Result<Next> {
    match e.chain().find_map(|c| c.downcast_ref::<GitHubError>()) {
        Some(g) if g.status() == Some(axum::http::StatusCode::FORBIDDEN) => Ok(Next::End(
            LoopStatus::Failed,
            format!(
                "{g}: the App lacks a permission for this (dispatching the deploy needs actions: write; committing needs contents: write)"
            ),
        )),
        Some(g) if g.is_permanent() => Ok(Next::End(LoopStatus::Failed, g.to_string())),
        _ => Err(e),
    }
}

async fn primary(ecs: &LowerEnvService) -> anyhow::Result<Option<DeploymentMark>> {
    Ok(ecs
        .deployments()
        .await?
        .into_iter()
        .find(|d| d.status == "PRIMARY")
        .map(|d| DeploymentMark {
            id: d.id,
            task_definition: d.task_definition,
        }))
}

/// The trailers that name a loop's commit for an iteration.
fn trailers(loop_id: i64, iteration: u32) -> [String; 2] {
    [
        format!("Fixpoint-Loop: {loop_id}"),
        format!("Fixpoint-Iteration: {iteration}"),
    ]
}

pub(super) fn commit_message(
    loop_id: i64,
    iteration: u32,
    plan: &FixPlan,
    diagnosis: Option<&str>,
) -> String {
    let mut body = Vec::new();
    if let Some(d) = diagnosis {
        body.push(format!("Diagnosis: {d}"));
    }
    for note in &plan.notes {
        body.push(format!("Note: {note}"));
    }
    let [l, i] = trailers(loop_id, iteration);
    format!(
        "fixpoint: {}\n\n{}\n\n{l}\n{i}\nFixpoint-Fix: {}\n",
        plan.summary,
        body.join("\n"),
        plan.fingerprint
    )
}

/// Makes the iteration's commit unless the branch already has it (a run killed after the
/// push and before its result was stored finds it by its trailers).
async fn commit_once(
    env: &Env<'_>,
    state: &LoopState,
    plan: &FixPlan,
    changes: &[FileChange],
) -> anyhow::Result<CommitSha> {
    let n = state.current.number;
    let client = &env.client;
    let parent = match client.branch_head(env.branch.as_str()).await? {
        // The branch is made with the first fix commit (see `commit_files`).
        None => state.run.head_sha.clone(),
        Some(head) if head == state.run.head_sha => head,
        Some(head) => {
            let commit = client.get_commit(&head).await?;
            let [l, i] = trailers(env.loop_id, n);
            if commit.message.lines().any(|x| x == l) && commit.message.lines().any(|x| x == i) {
                tracing::info!(commit = %head.0, iteration = n, "fix commit found on the branch; not made again");
                return Ok(head);
            }
            head
        }
    };
    let diagnosis = state.current.diagnosis.as_ref().map(|d| {
        format!(
            "{} at {} (confidence {:.2})",
            d.root_cause.class.as_str(),
            d.root_cause.node,
            d.confidence
        )
    });
    let message = commit_message(env.loop_id, n, plan, diagnosis.as_deref());
    Ok(client
        .commit_files(&env.branch, &parent, &message, changes)
        .await?)
}

/// Dispatches each deploy workflow on the branch unless a run at `commit` exists already.
async fn dispatch_once(env: &Env<'_>, state: &LoopState, commit: &CommitSha) -> anyhow::Result<()> {
    let runs = super::ci::runs_on_branch(env, commit).await?;
    for workflow in state.config.fix_workflows() {
        let started = runs
            .iter()
            .any(|r| super::ci::is_workflow(workflow, r.name.as_deref(), r.path.as_deref()));
        if !started {
            env.client
                .dispatch_workflow(super::ci::file_name(workflow), &env.branch)
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::ActionKind;
    use crate::harness::plans::PlanKind;

    #[test]
    fn the_commit_carries_the_trailers_that_find_it_again() {
        let plan = FixPlan {
            kind: PlanKind::RaiseMemory,
            action: ActionKind::Infra,
            fingerprint: "infra:oom_killed:payments-api/memory=1024".into(),
            summary: "raise payments-api's memory from 512 to 1024 MiB".into(),
            change: Change::Files { edits: vec![] },
            notes: vec![],
        };
        let m = commit_message(
            7,
            2,
            &plan,
            Some("oom_killed at payments-api (confidence 0.92)"),
        );
        assert!(
            m.starts_with("fixpoint: raise payments-api's memory"),
            "{m}"
        );
        let lines: Vec<&str> = m.lines().collect();
        assert!(lines.contains(&"Fixpoint-Loop: 7"), "{m}");
        assert!(lines.contains(&"Fixpoint-Iteration: 2"), "{m}");
        assert!(lines.contains(&"Fixpoint-Fix: infra:oom_killed:payments-api/memory=1024"));
    }
}
