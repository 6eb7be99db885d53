//! What an `installation` or `installation_repositories` event changes.

use super::{InstallationId, RepoName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallationChange {
    /// Created, unsuspended or permissions accepted: active with these repositories
    /// (`None` leaves the known list as it is).
    Active {
        id: InstallationId,
        account: String,
        repos: Option<Vec<RepoName>>,
    },
    Suspended {
        id: InstallationId,
        account: String,
    },
    Deleted {
        id: InstallationId,
        account: String,
    },
    ReposChanged {
        id: InstallationId,
        account: String,
        added: Vec<RepoName>,
        removed: Vec<RepoName>,
    },
}
