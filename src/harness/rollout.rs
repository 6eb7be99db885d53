//! Waiting on the ECS rollout of the fix. The deployment to judge is the one the fix
//! started: not the PRIMARY recorded before the push, and not on its task definition. A
//! rollback also ends "stable" (one deployment, running = desired), but on the old task
//! definition: that is a failed iteration, never a fix.

use super::lower_env::DeploymentView;
use super::state::{DeploymentMark, IterationResult, LoopState};
use super::{Env, Next, ROLLOUT_POLL};
use crate::domain::{LoopStatus, Phase};

/// What the service's deployments say about the fix's rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rollout {
    Completed(DeploymentMark),
    Failed(String),
    InProgress(String),
}

pub(super) fn judge(
    baseline: Option<&DeploymentMark>,
    expected: Option<&str>,
    deployments: &[DeploymentView],
) -> Rollout {
    let Some(primary) = deployments.iter().find(|d| d.status == "PRIMARY") else {
        return Rollout::InProgress("the service has no PRIMARY deployment".into());
    };
    let ours = |d: &DeploymentView| match expected {
        Some(arn) => d.task_definition == arn,
        None => {
            baseline.is_none_or(|b| d.id != b.id && newer(&d.task_definition, &b.task_definition))
        }
    };
    if let Some(failed) = deployments
        .iter()
        .find(|d| ours(d) && d.rollout_state.as_deref() == Some("FAILED"))
    {
        return Rollout::Failed(format!(
            "deployment {} of {} failed ({} task(s) failed){}",
            failed.id,
            short_td(&failed.task_definition),
            failed.failed_tasks,
            failed
                .rollout_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
    }
    if let Some(b) = baseline
        && primary.id == b.id
    {
        return Rollout::InProgress(format!(
            "no new deployment yet (PRIMARY is still {})",
            primary.id
        ));
    }
    if !ours(primary) {
        // ECS rolls back to the last deployment that completed: a new deployment on an
        // older revision, which ends stable. It is not the fix.
        return Rollout::Failed(format!(
            "rolled back: the PRIMARY deployment {} runs {}, not the fix's task definition",
            primary.id,
            short_td(&primary.task_definition)
        ));
    }
    let done = match primary.rollout_state.as_deref() {
        Some("COMPLETED") => true,
        // Services without the rollout state: one deployment left, all tasks running.
        None => deployments.len() == 1,
        _ => false,
    };
    if done && primary.running == primary.desired && primary.desired > 0 {
        return Rollout::Completed(DeploymentMark {
            id: primary.id.clone(),
            task_definition: primary.task_definition.clone(),
        });
    }
    Rollout::InProgress(format!(
        "{} of {} task(s) running on {}, rollout {}",
        primary.running,
        primary.desired,
        short_td(&primary.task_definition),
        primary
            .rollout_state
            .as_deref()
            .unwrap_or("without a rollout state")
    ))
}

/// `family:revision` of a task definition ARN.
fn revision(arn: &str) -> Option<(&str, u32)> {
    let (family, rev) = short_td(arn).rsplit_once(':')?;
    Some((family, rev.parse().ok()?))
}

/// A deploy registers a new revision: the fix's task definition is a later revision of the
/// baseline's family (or another family altogether), never an earlier one.
fn newer(candidate: &str, baseline: &str) -> bool {
    match (revision(candidate), revision(baseline)) {
        (Some((f, r)), Some((bf, br))) if f == bf => r > br,
        _ => candidate != baseline,
    }
}

fn short_td(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

pub(super) async fn await_rollout(env: &Env<'_>, state: &mut LoopState) -> anyhow::Result<Next> {
    let ecs = match &env.ecs {
        Some(Ok(ecs)) => ecs,
        Some(Err(refused)) => return Ok(Next::End(LoopStatus::Failed, refused.to_string())),
        None => {
            state
                .current
                .checks
                .push("no ECS service in the topology map: rollout not watched".into());
            state.current.rolled_out_at = Some(env.now());
            return Ok(Next::Go(Phase::Verify));
        }
    };
    let deployments = ecs.deployments().await?;
    match judge(
        state.current.baseline.as_ref(),
        state.current.expected_task_definition.as_deref(),
        &deployments,
    ) {
        Rollout::Completed(mark) => {
            state.current.checks.push(format!(
                "rollout completed: deployment {} on {}",
                mark.id,
                short_td(&mark.task_definition)
            ));
            state.current.rolled_out = Some(mark);
            state.current.rolled_out_at = Some(env.now());
            Ok(Next::Go(Phase::Verify))
        }
        Rollout::Failed(why) => Ok(Next::Judged(IterationResult::RolloutFailed { why })),
        Rollout::InProgress(seen) => {
            let now = env.now();
            match state.current.rollout_deadline {
                Some(deadline) if now >= deadline => Ok(Next::Judged(IterationResult::TimedOut {
                    waiting_for: format!("the rollout ({seen})"),
                    minutes: state.config.deploy.rollout_timeout_min,
                })),
                deadline => Ok(Next::Wait {
                    until: deadline
                        .unwrap_or_else(|| env.after(env.poll(ROLLOUT_POLL)))
                        .min(env.after(env.poll(ROLLOUT_POLL))),
                    wake: false,
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(id: &str, status: &str, td: &str, state: Option<&str>, running: i32) -> DeploymentView {
        DeploymentView {
            id: id.into(),
            status: status.into(),
            task_definition: format!("arn:aws:ecs:eu-west-1:1:task-definition/{td}"),
            rollout_state: state.map(str::to_string),
            rollout_reason: None,
            desired: 2,
            running,
            failed_tasks: 0,
        }
    }

    fn before() -> DeploymentMark {
        DeploymentMark {
            id: "ecs-svc/43".into(),
            task_definition: "arn:aws:ecs:eu-west-1:1:task-definition/api:43".into(),
        }
    }

    #[test]
    fn the_fix_deployment_completing_is_a_completed_rollout() {
        let now = [d("ecs-svc/44", "PRIMARY", "api:44", Some("COMPLETED"), 2)];
        assert!(
            matches!(judge(Some(&before()), None, &now), Rollout::Completed(m) if m.id == "ecs-svc/44")
        );
    }

    #[test]
    fn a_rollback_that_ends_stable_on_an_older_revision_is_a_failure() {
        // ECS rolls back to the last deployment that completed: before the failing one.
        for old in ["api:43", "api:41"] {
            let now = [d("ecs-svc/45", "PRIMARY", old, Some("COMPLETED"), 2)];
            match judge(Some(&before()), None, &now) {
                Rollout::Failed(why) => assert!(why.contains("rolled back"), "{old}: {why}"),
                other => panic!("{old}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_task_definition_registered_through_the_ecs_api_is_the_one_to_see_completed() {
        let arn = "arn:aws:ecs:eu-west-1:1:task-definition/api:44";
        let other = [d("ecs-svc/46", "PRIMARY", "api:45", Some("COMPLETED"), 2)];
        assert!(matches!(
            judge(Some(&before()), Some(arn), &other),
            Rollout::Failed(_)
        ));
        let ours = [d("ecs-svc/44", "PRIMARY", "api:44", Some("COMPLETED"), 2)];
        assert!(matches!(
            judge(Some(&before()), Some(arn), &ours),
            Rollout::Completed(_)
        ));
    }

    #[test]
    fn a_circuit_breaker_failure_names_the_deployment() {
        let mut failed = d("ecs-svc/44", "ACTIVE", "api:44", Some("FAILED"), 0);
        failed.rollout_reason =
            Some("ECS deployment circuit breaker: tasks failed to start.".into());
        let now = [
            d("ecs-svc/43", "PRIMARY", "api:43", Some("IN_PROGRESS"), 0),
            failed,
        ];
        match judge(Some(&before()), None, &now) {
            Rollout::Failed(why) => assert!(why.contains("circuit breaker"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn before_the_deploy_starts_and_while_it_runs_the_rollout_is_in_progress() {
        let unchanged = [d("ecs-svc/43", "PRIMARY", "api:43", Some("FAILED"), 0)];
        assert!(matches!(
            judge(Some(&before()), None, &unchanged),
            Rollout::InProgress(_)
        ));
        let running = [
            d("ecs-svc/44", "PRIMARY", "api:44", Some("IN_PROGRESS"), 1),
            d("ecs-svc/43", "ACTIVE", "api:43", Some("FAILED"), 0),
        ];
        assert!(
            matches!(judge(Some(&before()), None, &running), Rollout::InProgress(s) if s.contains("1 of 2"))
        );
    }
}
