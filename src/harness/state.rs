//! The loop's typed state, stored as JSON in `loops.state` after every transition, and the
//! events a person can send it (pause, resume, stop, retry, lift a gate).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::plans::FixPlan;
use crate::config::repo::RepoConfig;
use crate::diagnose::{DebugContext, Diagnosis, HistoryEntry, IterationOutcome};
use crate::domain::{CommitSha, LoopStatus, Phase, RunRef};

/// Everything a loop needs to go on after a restart, with nothing read again from a
/// repository that may have moved on: the failing run, the config and the maps as they
/// were at the failing commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// The failed deploy the loop fixes.
    pub run: RunRef,
    pub service: String,
    pub config: RepoConfig,
    /// The topology maps as fetched at the failing commit (path → text), and the root's path.
    pub maps: BTreeMap<String, String>,
    pub topology: String,
    /// Nodes that were not healthy in the first sweep: verification wants each healthy again
    /// (or explained as noise).
    pub first_unhealthy: Vec<String>,
    /// The branch's head: the failing SHA, then each fix commit.
    pub head: CommitSha,
    pub current: Iteration,
    /// The iteration before, as it ended: the next one sweeps from its deploy, reads its
    /// failed run, or diagnoses its verification sweep.
    #[serde(default)]
    pub last: Option<Iteration>,
    /// The seed's debug context: one entry per finished iteration.
    pub history: DebugContext,
}

/// What one iteration has done so far. Each field is set once, by the phase that owns it,
/// and stored before the next phase runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Iteration {
    pub number: u32,
    pub diagnosis: Option<Diagnosis>,
    pub plan: Option<FixPlan>,
    /// The fix commit (file changes), once made.
    pub commit: Option<CommitSha>,
    /// The service's PRIMARY deployment before the fix was deployed.
    pub baseline: Option<DeploymentMark>,
    /// When waiting on CI began and when it gives up.
    pub ci_deadline: Option<DateTime<Utc>>,
    /// The deploy runs that passed at the fix commit (`name #id`).
    pub ci_runs: Vec<String>,
    pub rollout_deadline: Option<DateTime<Utc>>,
    /// The task definition Fixpoint registered itself (ECS API fixes): the rollout to see.
    pub expected_task_definition: Option<String>,
    /// The deployment that rolled the fix out, once it completed.
    pub rolled_out: Option<DeploymentMark>,
    pub rolled_out_at: Option<DateTime<Utc>>,
    /// Set when testing began (the probes ran); the test workflows are waited on until then.
    pub test_deadline: Option<DateTime<Utc>>,
    /// What verification and testing found, in order.
    pub checks: Vec<String>,
    /// The failed deploy run at the fix commit, for the next iteration's sweep to read.
    pub failed_run: Option<(u64, u64)>,
    /// When the fix was deployed: later sweeps read from here, so stops and log lines from
    /// before the fix (real ECS keeps stopped tasks for an hour) are not held against it.
    pub deployed_at: Option<DateTime<Utc>>,
    /// The sweep verification made, which the next iteration diagnoses with the history.
    pub sweep: Option<crate::sweep::SweepReport>,
    pub result: Option<IterationResult>,
}

impl Iteration {
    pub fn new(number: u32) -> Self {
        Self {
            number,
            ..Self::default()
        }
    }
}

/// An ECS deployment, named well enough to tell "ours" from a rollback: a rollback also
/// ends stable, with a new id but the old task definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentMark {
    pub id: String,
    pub task_definition: String,
}

/// How an iteration ended. Each is a result in the history, never a crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum IterationResult {
    /// Verified and tested healthy in the lower environment.
    Healthy,
    /// A deploy workflow failed at the fix commit.
    CiFailed {
        run: String,
        step: String,
        excerpt: String,
    },
    /// Waiting for CI or the rollout passed its deadline.
    TimedOut { waiting_for: String, minutes: u32 },
    /// The rollout failed (circuit breaker) or was rolled back to the old revision.
    RolloutFailed { why: String },
    /// Deployed, and still unhealthy: what still fails.
    StillUnhealthy { summary: String },
    /// Deployed and healthy, but a probe or a test workflow failed.
    TestFailed { summary: String },
}

impl IterationResult {
    pub fn outcome(&self) -> IterationOutcome {
        match self {
            IterationResult::Healthy => IterationOutcome::Fixed,
            IterationResult::TimedOut { .. } => IterationOutcome::Aborted,
            _ => IterationOutcome::Failed,
        }
    }

    /// The history's `result`: one line for people and the model.
    pub fn describe(&self) -> String {
        match self {
            IterationResult::Healthy => "verified healthy in the lower environment".into(),
            IterationResult::CiFailed { run, step, excerpt } if excerpt.is_empty() => {
                format!("CI failed: {run}, step “{step}”")
            }
            IterationResult::CiFailed { run, step, excerpt } => {
                format!("CI failed: {run}, step “{step}”: {excerpt}")
            }
            IterationResult::TimedOut {
                waiting_for,
                minutes,
            } => format!("gave up waiting for {waiting_for} after {minutes} min"),
            IterationResult::RolloutFailed { why } => format!("rollout failed: {why}"),
            IterationResult::StillUnhealthy { summary } => format!("still unhealthy: {summary}"),
            IterationResult::TestFailed { summary } => format!("tests failed: {summary}"),
        }
    }
}

/// The history entry for a finished iteration.
pub fn history_entry(it: &Iteration, gha: Option<String>) -> HistoryEntry {
    let diagnosis = it
        .diagnosis
        .as_ref()
        .map(|d| {
            format!(
                "{} at {} (confidence {:.2}): {}",
                d.root_cause.class.as_str(),
                d.root_cause.node,
                d.confidence,
                d.root_cause.summary
            )
        })
        .unwrap_or_default();
    let result = it
        .result
        .clone()
        .unwrap_or(IterationResult::StillUnhealthy {
            summary: "no result recorded".into(),
        });
    HistoryEntry {
        iteration: it.number,
        diagnosis,
        action: it
            .plan
            .as_ref()
            .map(|p| p.summary.clone())
            .unwrap_or_default(),
        commit: it.commit.as_ref().map(|c| c.0.clone()),
        gha,
        result: result.describe(),
        kind: it.plan.as_ref().map(|p| p.action),
        fingerprint: it.plan.as_ref().map(|p| p.fingerprint.clone()),
        outcome: result.outcome(),
    }
}

/// Something a person asks of a running loop (the PR commands carry these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum LoopEvent {
    Pause,
    Resume,
    Stop,
    /// Start a new iteration from a fresh sweep, with a person's hint for the history.
    Retry {
        hint: Option<String>,
    },
    /// A gate (a schema change, a workflow file) approved by someone with write access.
    LiftGate {
        gate: String,
    },
}

/// Where an event leaves a loop, or why it does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventEffect {
    Status(LoopStatus),
    /// Back to planning, iteration `n`.
    Restart {
        iteration: u32,
    },
    Refused(String),
}

/// What `event` does to a loop at `status`/`phase`/`iteration`. Pure: the caller stores the
/// effect before acting on it.
pub fn apply_event(
    event: &LoopEvent,
    status: LoopStatus,
    phase: Phase,
    iteration: u32,
    max_iterations: u32,
) -> EventEffect {
    use LoopStatus::{Active, Paused, Stopped};
    match (event, status) {
        (LoopEvent::Pause, Active) => EventEffect::Status(Paused),
        (LoopEvent::Pause, Paused) => EventEffect::Refused("the loop is paused already".into()),
        (LoopEvent::Resume, Paused) => EventEffect::Status(Active),
        (LoopEvent::Resume, Active) => EventEffect::Refused("the loop is running".into()),
        (LoopEvent::Stop, Active | Paused) => EventEffect::Status(Stopped),
        (LoopEvent::Retry { .. }, _) if status.is_open() && phase != Phase::Plan => {
            EventEffect::Refused(format!(
                "iteration {iteration} is at {phase}; stop it first, or wait for its result"
            ))
        }
        (LoopEvent::Retry { .. }, _) if iteration >= max_iterations * 2 => EventEffect::Refused(
            format!("the loop has run {iteration} iterations; open a new investigation"),
        ),
        (LoopEvent::Retry { .. }, _) => EventEffect::Restart {
            iteration: iteration + 1,
        },
        (LoopEvent::LiftGate { gate }, Active | Paused) => {
            EventEffect::Refused(format!("no gate named `{gate}` is waiting"))
        }
        (_, ended) => EventEffect::Refused(format!("the loop has ended ({ended})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_can_pause_resume_and_stop_a_running_loop() {
        let pause = apply_event(&LoopEvent::Pause, LoopStatus::Active, Phase::AwaitCi, 1, 5);
        assert_eq!(pause, EventEffect::Status(LoopStatus::Paused));
        let resume = apply_event(&LoopEvent::Resume, LoopStatus::Paused, Phase::AwaitCi, 1, 5);
        assert_eq!(resume, EventEffect::Status(LoopStatus::Active));
        let stop = apply_event(&LoopEvent::Stop, LoopStatus::Paused, Phase::Verify, 2, 5);
        assert_eq!(stop, EventEffect::Status(LoopStatus::Stopped));
    }

    #[test]
    fn retry_starts_a_new_iteration_only_between_iterations_or_after_an_end() {
        let retry = LoopEvent::Retry { hint: None };
        assert!(matches!(
            apply_event(&retry, LoopStatus::Active, Phase::AwaitCi, 2, 5),
            EventEffect::Refused(_)
        ));
        assert_eq!(
            apply_event(&retry, LoopStatus::StoppedAtLimit, Phase::Done, 5, 5),
            EventEffect::Restart { iteration: 6 }
        );
    }

    #[test]
    fn an_ended_loop_refuses_pause_and_stop_by_saying_it_ended() {
        match apply_event(&LoopEvent::Stop, LoopStatus::Fixed, Phase::Done, 1, 5) {
            EventEffect::Refused(why) => assert!(why.contains("ended (fixed)"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_timeout_is_a_result_that_does_not_count_as_a_failed_fix() {
        let timeout = IterationResult::TimedOut {
            waiting_for: "CI".into(),
            minutes: 30,
        };
        assert_eq!(timeout.outcome(), IterationOutcome::Aborted);
        assert!(!timeout.outcome().failed());
        assert!(timeout.describe().contains("after 30 min"));
    }
}
