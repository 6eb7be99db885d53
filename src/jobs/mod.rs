//! The durable queue's API: what a job is (`Job`), how one is queued, and what a job's
//! handler can do (`JobContext`: run journaled steps, enqueue more work, snooze until
//! something outside happens). The rows live in `store::jobs`; the worker pool that runs
//! handlers is `crate::worker`.

mod context;

use serde::{Deserialize, Serialize};

use crate::domain::{PrCommand, RepoName, RunRef};
use crate::store::NewJob;

pub use context::{JobContext, Outcome};

/// One kind of work, with its payload. Stored as the kind's name and the payload's JSON
/// (`kind`, `payload` columns), so a row written by a newer Fixpoint with a kind this
/// build does not know is refused loudly instead of being misread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum Job {
    /// A failed deploy: open (or resume) an investigation.
    WorkflowRun(RunRef),
    /// A run on a `fixpoint/` branch: progress of the loop that owns the branch.
    LoopProgress(RunRef),
    /// A `/fixpoint …` comment on a pull request.
    PrCommand(PrCommand),
    /// A fix loop's next steps (see `harness`): one job per loop, snoozed while it waits.
    FixLoop { loop_id: i64 },
}

/// A stored job whose kind or payload this build cannot read.
#[derive(Debug, thiserror::Error)]
#[error("job {id} of kind `{kind}` cannot be read ({cause}): written by a newer Fixpoint?")]
pub struct UnreadableJob {
    pub id: i64,
    pub kind: String,
    pub cause: String,
}

impl Job {
    /// The key under which two deliveries about the same thing are one job.
    pub fn dedupe_key(&self) -> String {
        match self {
            Job::WorkflowRun(run) => format!("workflow_run:{}", run.attempt_key()),
            Job::LoopProgress(run) => format!("loop_run:{}", run.attempt_key()),
            Job::PrCommand(cmd) => format!("pr_command:{}:{}", cmd.repo, cmd.comment_id),
            Job::FixLoop { loop_id } => format!("loop:{loop_id}"),
        }
    }

    /// The key of the jobs this one wakes when stored: a run on a branch wakes the loop
    /// snoozed on that branch.
    pub fn wakes(&self) -> Option<String> {
        match self {
            Job::LoopProgress(run) => Some(wake_key_for_branch(run)),
            Job::WorkflowRun(_) | Job::PrCommand(_) | Job::FixLoop { .. } => None,
        }
    }

    /// The row to store, under the caller's dedupe key.
    pub fn to_row(&self, dedupe_key: String) -> NewJob {
        let mut tagged = serde_json::to_value(self).expect("a job serialises");
        let payload = tagged["payload"].take();
        let kind = tagged["kind"].as_str().unwrap_or_default().to_string();
        NewJob {
            kind,
            dedupe_key,
            payload,
            wakes: self.wakes(),
        }
    }

    /// The row to store under the job's own dedupe key.
    pub fn row(&self) -> NewJob {
        self.to_row(self.dedupe_key())
    }

    pub fn from_row(
        id: i64,
        kind: &str,
        payload: &serde_json::Value,
    ) -> Result<Job, UnreadableJob> {
        let tagged = serde_json::json!({ "kind": kind, "payload": payload });
        serde_json::from_value(tagged).map_err(|e| UnreadableJob {
            id,
            kind: kind.to_string(),
            cause: e.to_string(),
        })
    }
}

/// The key a job waiting on runs of `run`'s branch snoozes under.
pub fn wake_key_for_branch(run: &RunRef) -> String {
    branch_wake_key(&run.repo, &run.branch)
}

/// The key a job waiting on runs of `branch` in `repo` snoozes under.
pub fn branch_wake_key(repo: &RepoName, branch: &str) -> String {
    format!("branch:{repo}:{branch}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CommitSha, Conclusion, InstallationId, RepoName, RunId};

    fn run(branch: &str) -> RunRef {
        RunRef {
            repo: RepoName::parse("acme/api").unwrap(),
            installation_id: InstallationId(7),
            workflow: "Deploy".into(),
            workflow_path: None,
            run_id: RunId(42),
            run_attempt: 1,
            head_sha: CommitSha("a".repeat(40)),
            branch: branch.into(),
            conclusion: Some(Conclusion::Failure),
            default_branch: Some("main".into()),
        }
    }

    #[test]
    fn a_job_round_trips_through_its_row() {
        let job = Job::WorkflowRun(run("main"));
        let row = job.row();
        assert_eq!(row.kind, "workflow_run");
        assert_eq!(row.dedupe_key, "workflow_run:acme/api:42:1");
        assert_eq!(row.payload["run_id"], 42);
        assert_eq!(row.wakes, None);
        assert_eq!(Job::from_row(1, &row.kind, &row.payload).unwrap(), job);
    }

    #[test]
    fn a_run_on_a_loop_branch_wakes_the_loop_waiting_on_it() {
        let row = Job::LoopProgress(run("fixpoint/api-42")).row();
        assert_eq!(
            row.wakes.as_deref(),
            Some("branch:acme/api:fixpoint/api-42")
        );
    }

    #[test]
    fn an_unknown_kind_is_refused_by_name() {
        let e = Job::from_row(9, "rollout_watch", &serde_json::json!({})).unwrap_err();
        assert!(e.to_string().contains("`rollout_watch`"), "{e}");
        assert!(e.to_string().contains("newer Fixpoint"), "{e}");
    }
}
