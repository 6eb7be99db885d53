//! The workflow run a job is about.

use serde::{Deserialize, Serialize};

use super::{BRANCH_PREFIX, CommitSha, Conclusion, InstallationId, RepoName, RunId};

/// What ingress knows about a completed run: enough to open an investigation or to
/// record progress of a loop, without asking GitHub again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRef {
    pub repo: RepoName,
    pub installation_id: InstallationId,
    pub workflow: String,
    pub workflow_path: Option<String>,
    pub run_id: RunId,
    pub run_attempt: u64,
    pub head_sha: CommitSha,
    pub branch: String,
    pub conclusion: Option<Conclusion>,
    pub default_branch: Option<String>,
}

impl RunRef {
    /// A run on one of Fixpoint's own branches.
    pub fn on_fixpoint_branch(&self) -> bool {
        self.branch.starts_with(BRANCH_PREFIX)
    }

    pub fn failed(&self) -> bool {
        Conclusion::failed(self.conclusion)
    }

    /// `repo:run:attempt`, the identity two deliveries about one run attempt share.
    pub fn attempt_key(&self) -> String {
        format!("{}:{}:{}", self.repo, self.run_id, self.run_attempt)
    }
}
