//! The nouns every layer shares: the run a webhook is about, a PR command, an
//! installation change, how a run ended, and the persisted states of jobs,
//! investigations and commands. Nothing here talks to GitHub, AWS or the database;
//! `store` maps the states to text, `server` builds these from webhooks.

mod command;
mod conclusion;
mod installation;
mod run;
mod status;

pub use crate::ids::{AppId, CommitSha, DeliveryId, InstallationId, JobId, RepoName, RunId};
pub use command::PrCommand;
pub use conclusion::{Conclusion, RunStatus};
pub use installation::InstallationChange;
pub use run::RunRef;
pub use status::{
    CommandStatus, InstallationState, InvestigationStatus, JobState, LoopStatus, Phase,
};

/// Fixpoint's own branches; runs there are progress of a loop, not new incidents.
pub const BRANCH_PREFIX: &str = "fixpoint/";
