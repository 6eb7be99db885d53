//! A `/fixpoint …` comment on a pull request, as ingress stores it.

use serde::{Deserialize, Serialize};

use super::{InstallationId, RepoName};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrCommand {
    pub repo: RepoName,
    pub installation_id: InstallationId,
    pub pr_number: u64,
    pub comment_id: u64,
    pub author: String,
    pub body: String,
}
