//! Waiting on workflows at the fix commit: the deploy workflows (phase `await_ci`) and the
//! test workflows (phase `test`). The loop's job snoozes while they run; a run on the branch
//! wakes it, and a poll every minute covers a missed webhook. A red run ends the iteration
//! with the failed step and an excerpt of its log; the deadline ends it as a timeout.

use super::state::{IterationResult, LoopState};
use super::{CI_POLL, Env, Next};
use crate::domain::{CommitSha, Conclusion, LoopStatus, Phase, RunStatus};
use crate::github::actions::{RunFilter, WorkflowRun};
use crate::skills::skill_for;
use crate::topology::{CheckTarget, SkillKind};

/// What the workflows at a commit say so far.
pub(super) enum Runs {
    /// Every required workflow has a successful run: `name #id` of each.
    Passed(Vec<String>),
    Failed(WorkflowRun),
    /// Some required workflow has not finished; `started` says whether any run of them exists
    /// at the commit at all.
    Waiting {
        started: bool,
    },
}

pub(super) async fn await_deploy(env: &Env<'_>, state: &mut LoopState) -> anyhow::Result<Next> {
    let Some(commit) = state.current.commit.clone() else {
        return Ok(Next::Go(Phase::Act));
    };
    let workflows = state.config.fix_workflows().to_vec();
    match runs_at(env, &workflows, &commit).await? {
        Runs::Passed(names) => {
            state.current.ci_runs = names;
            let minutes = state.config.deploy.rollout_timeout_min;
            state.current.rollout_deadline = Some(env.after(super::act::minutes_of(minutes)));
            Ok(Next::Go(Phase::AwaitRollout))
        }
        Runs::Failed(run) => {
            let red = read_red_run(env, state, &run).await;
            state.current.failed_run = Some((run.id.0, run.run_attempt.unwrap_or(1)));
            Ok(Next::Judged(IterationResult::CiFailed {
                run: red.run,
                step: red.step,
                excerpt: red.excerpt,
            }))
        }
        Runs::Waiting { started: false }
            if state.current.ci_deadline.is_some_and(|d| env.now() >= d) =>
        {
            // Nothing ran at all: not a fix that failed, a deploy that is not wired up.
            Ok(Next::End(
                LoopStatus::Failed,
                format!(
                    "no run of {} started on {} within {} min: add `fixpoint/**` to the deploy workflow's push branches, or set `deploy.trigger: dispatch` (see docs/fixpoint.example.yml)",
                    workflows.join(", "),
                    env.branch,
                    state.config.deploy.ci_timeout_min
                ),
            ))
        }
        Runs::Waiting { .. } => Ok(wait_or_time_out(
            env,
            state.current.ci_deadline,
            "the deploy workflows",
            state.config.deploy.ci_timeout_min,
        )),
    }
}

/// Snoozes until the next poll, woken early by a run on the branch; past `deadline`, the
/// iteration ends as a timeout.
pub(super) fn wait_or_time_out(
    env: &Env<'_>,
    deadline: Option<chrono::DateTime<chrono::Utc>>,
    waiting_for: &str,
    minutes: u32,
) -> Next {
    let now = env.now();
    match deadline {
        Some(d) if now >= d => Next::Judged(IterationResult::TimedOut {
            waiting_for: waiting_for.to_string(),
            minutes,
        }),
        Some(d) => Next::Wait {
            until: d.min(env.after(env.poll(CI_POLL))),
            wake: true,
        },
        None => Next::Wait {
            until: env.after(env.poll(CI_POLL)),
            wake: true,
        },
    }
}

/// The newest run of each of `workflows` on the loop's branch at `commit`.
pub(super) async fn runs_at(
    env: &Env<'_>,
    workflows: &[String],
    commit: &CommitSha,
) -> anyhow::Result<Runs> {
    let runs = runs_on_branch(env, commit).await?;
    let mut passed = Vec::new();
    let mut waiting = false;
    let mut started = false;
    for workflow in workflows {
        // Newest first, as the API lists them: a re-run that passed counts, not the red one.
        let newest = runs
            .iter()
            .find(|r| is_workflow(workflow, r.name.as_deref(), r.path.as_deref()));
        started |= newest.is_some();
        match newest {
            Some(run) if run.status == Some(RunStatus::Completed) => {
                if Conclusion::failed(run.conclusion) {
                    return Ok(Runs::Failed(run.clone()));
                }
                passed.push(format!(
                    "{} #{}",
                    run.name.as_deref().unwrap_or(workflow),
                    run.id
                ));
            }
            _ => waiting = true,
        }
    }
    Ok(if waiting {
        Runs::Waiting { started }
    } else {
        Runs::Passed(passed)
    })
}

/// The runs of every workflow on the loop's branch at `commit`, newest first.
pub(super) async fn runs_on_branch(
    env: &Env<'_>,
    commit: &CommitSha,
) -> anyhow::Result<Vec<WorkflowRun>> {
    Ok(env
        .client
        .list_workflow_runs(&RunFilter {
            branch: Some(env.branch.as_str()),
            head_sha: Some(commit),
            ..RunFilter::default()
        })
        .await?)
}

/// What a red run says: which run, its failed job and step, and the log's excerpt.
pub(super) struct RedRun {
    pub run: String,
    pub step: String,
    pub excerpt: String,
}

/// Reads a red run: the failed job and step, and the log's excerpt as the `gha` skill reads
/// it (redacted and cut there).
pub(super) async fn read_red_run(env: &Env<'_>, state: &LoopState, run: &WorkflowRun) -> RedRun {
    let name = format!("{} #{}", run.name.as_deref().unwrap_or("workflow"), run.id);
    let attempt = run.run_attempt.unwrap_or(1);
    let step = match env.client.list_run_jobs(run.id, attempt).await {
        Ok(jobs) => jobs
            .iter()
            .find(|j| j.failed())
            .map(|j| {
                let steps = j.failed_steps();
                match steps.first() {
                    Some(step) => format!("{} / {step}", j.name),
                    None => j.name.clone(),
                }
            })
            .unwrap_or_else(|| "no failed job listed".into()),
        Err(e) => format!("jobs unreadable: {e}"),
    };
    let skills = env.skills(
        env.now() - chrono::Duration::hours(1),
        Some(env.run_context(run.id.0, attempt)),
    );
    let target = CheckTarget::Gha {
        repo: state.run.repo.clone(),
    };
    let excerpt = match skill_for(SkillKind::Gha).check(&target, &skills).await {
        Ok(seen) => seen
            .evidence
            .iter()
            .map(|e| e.text.as_str())
            .find(|t| !t.trim().is_empty())
            .unwrap_or(seen.summary.as_str())
            .to_string(),
        Err(e) => format!("log unreadable: {e}"),
    };
    RedRun {
        run: name,
        step,
        excerpt,
    }
}

/// Whether a run (its name and workflow file path) is `workflow` as the config names it:
/// a name, a file name or a path.
pub(super) fn is_workflow(workflow: &str, name: Option<&str>, path: Option<&str>) -> bool {
    name == Some(workflow)
        || path.is_some_and(|p| p == workflow || p.rsplit('/').next() == Some(file_name(workflow)))
}

/// The workflow's file name, as the dispatch API takes it.
pub(super) fn file_name(workflow: &str) -> &str {
    workflow.rsplit('/').next().unwrap_or(workflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workflow_is_matched_by_name_file_name_or_path() {
        let path = Some(".github/workflows/deploy.yml");
        assert!(is_workflow("deploy.yml", Some("Deploy"), path));
        assert!(is_workflow(".github/workflows/deploy.yml", None, path));
        assert!(is_workflow("Deploy", Some("Deploy"), None));
        assert!(!is_workflow("ci.yml", Some("Deploy"), path));
        assert!(!is_workflow("Deploy to prod", Some("Deploy"), path));
    }
}
