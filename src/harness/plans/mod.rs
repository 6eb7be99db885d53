//! Fix plans: what the loop changes for a diagnosis. One file per kind of fix; this file
//! holds the contract (`FixPlan`, `Workspace`) and `choose`, which picks the first plan of
//! the catalogue that applies to the diagnosis and whose fingerprint has not failed before.
//!
//! - `task_definition`: the task definition file (or the ECS one), edited in its own layout.
//! - `memory` (oom_killed), `variable` (missing_config), `image` (image_pull_failed),
//!   `health` (health_check_failed): the infra fixes.
//! - `revert`: files changed since the last good deploy set back (code failures, fallbacks).
//! - `model_edit`: a configured model's edit, validated before use.
//! - `ecs_api`: infra fixes through the ECS API when the repository has no file.
//! - `evidence`: what the plans read from the diagnosis.

mod catalogue;
mod ecs_api;
pub mod evidence;
mod health;
mod image;
pub mod json;
mod memory;
mod model_context;
mod model_edit;
mod revert;
pub mod task_definition;
mod variable;

use serde::{Deserialize, Serialize};

use crate::config::model::ModelConfig;
use crate::config::repo::RepoConfig;
use crate::diagnose::{ActionKind, Diagnosis};
use crate::domain::CommitSha;

pub use catalogue::choose;
pub use memory::{FARGATE_PAIRS, fargate_target};

/// One file as the fix leaves it. `content: None` deletes the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEdit {
    pub path: String,
    pub content: Option<String>,
}

/// A change to the lower environment made through the ECS API (only with `allow: [ecs_api]`,
/// when the repository has no task definition file): the task definition to register,
/// derived from the service's current one, and the service to point at it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcsChange {
    pub cluster: String,
    pub service: String,
    /// `RegisterTaskDefinition` input, as the API documents it (JSON).
    pub task_definition: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Change {
    /// Files committed on the branch (Git Data API).
    Files { edits: Vec<FileEdit> },
    /// The lower environment changed through the ECS API; the PR says to carry it into code.
    Ecs(EcsChange),
}

/// Which fix of the catalogue this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    RaiseMemory,
    RestoreVariable,
    RevertImage,
    RaiseStartPeriod,
    RevertSinceLastGood,
    ModelEdit,
    EcsApi,
}

impl PlanKind {
    /// The name its JSON uses, as people read it.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::RaiseMemory => "raise_memory",
            PlanKind::RestoreVariable => "restore_variable",
            PlanKind::RevertImage => "revert_image",
            PlanKind::RaiseStartPeriod => "raise_start_period",
            PlanKind::RevertSinceLastGood => "revert_since_last_good",
            PlanKind::ModelEdit => "model_edit",
            PlanKind::EcsApi => "ecs_api",
        }
    }
}

/// A fix, ready to carry out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixPlan {
    pub kind: PlanKind,
    /// The history's `kind` for this fix.
    pub action: ActionKind,
    /// Stable across iterations: kind + target + parameters, e.g.
    /// `infra:oom_killed:payments-api/memory=2048`. A plan whose fingerprint failed before is
    /// never chosen again.
    pub fingerprint: String,
    /// One line for people: what changes and why.
    pub summary: String,
    pub change: Change,
    /// What people should know (a fallback taken, a change to carry into code).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// What `choose` decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum PlanDecision {
    Plan(FixPlan),
    /// No fix within this repository's reach (a dependency, a database …), or every plan
    /// that applies was tried: the loop stops with this reason.
    NoFix {
        why: String,
    },
}

/// What a plan may read: the repository at a commit, what changed since the last good
/// deploy, and the lower environment's last good task definition. The harness implements
/// it over GitHub and ECS; tests implement it over maps.
#[allow(async_fn_in_trait)]
pub trait Workspace {
    /// A file's text at `at`; `None` when it does not exist there.
    async fn read(&self, path: &str, at: &CommitSha) -> anyhow::Result<Option<String>>;
    /// Files changed from `base` to `head`, as the compare API lists them.
    async fn changed_since(
        &self,
        base: &CommitSha,
        head: &CommitSha,
    ) -> anyhow::Result<Vec<crate::github::contents::ChangedFile>>;
    /// The head SHA of the deploy workflow's last successful run on the failing branch.
    async fn last_good_commit(&self) -> anyhow::Result<Option<CommitSha>>;
    /// The task definition the service ran before the failing deploy (DescribeTaskDefinition),
    /// as the API returns `taskDefinition`.
    async fn last_good_task_definition(&self) -> anyhow::Result<Option<serde_json::Value>>;
    /// The task definition the service runs now (the failing one, or the last fix's), as the
    /// API returns `taskDefinition`. Only the ECS API plans read it, to build on what is
    /// deployed; `None` makes them start from the last good one.
    async fn current_task_definition(&self) -> anyhow::Result<Option<serde_json::Value>> {
        Ok(None)
    }
}

/// The question `choose` answers.
pub struct PlanRequest<'a> {
    pub service: &'a str,
    pub diagnosis: &'a Diagnosis,
    pub config: &'a RepoConfig,
    /// The commit the fix builds on: the failing SHA, then the branch's head.
    pub head: &'a CommitSha,
    /// The commit whose deploy failed: what people changed since the last good deploy ends
    /// here, so a revert never undoes a fix Fixpoint made on its branch.
    pub failing: &'a CommitSha,
    /// Fingerprints of fixes that were carried out and did not hold.
    pub failed: &'a [String],
    /// The ECS coordinates of the service in the lower environment, when the map has them:
    /// `(cluster, service)`.
    pub ecs: Option<(&'a str, &'a str)>,
    /// The model that may propose an edit; `None`: the rules' plans only.
    pub model: Option<&'a ModelConfig>,
}

/// The first seven hex digits, as people read a commit.
pub fn short_sha(sha: &CommitSha) -> &str {
    sha.0.get(..7).unwrap_or(&sha.0)
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::diagnose::{
        ActionKind, ChainLink, Diagnosis, Engine, ProposedAction, RootCause, RootCauseClass,
    };
    use crate::skills::Evidence;

    #[test]
    fn a_plan_kinds_name_is_the_one_its_json_uses() {
        use super::PlanKind::*;
        for kind in [
            RaiseMemory,
            RestoreVariable,
            RevertImage,
            RaiseStartPeriod,
            RevertSinceLastGood,
            ModelEdit,
            EcsApi,
        ] {
            assert_eq!(serde_json::json!(kind), kind.as_str());
        }
    }

    /// A diagnosis of `class` at `payments-api` with these evidence lines.
    pub(crate) fn diagnosis(class: RootCauseClass, evidence: &[&str]) -> Diagnosis {
        Diagnosis {
            root_cause: RootCause {
                node: "payments-api".into(),
                class,
                summary: format!("payments-api: {}", class.as_str()),
            },
            chain: vec![ChainLink {
                node: "payments-api".into(),
                class,
            }],
            confidence: 0.9,
            evidence: evidence
                .iter()
                .map(|t| Evidence::new("logs:/ecs/payments-api", *t))
                .collect(),
            proposed_action: ProposedAction {
                kind: ActionKind::Code,
                summary: String::new(),
                fingerprint: None,
            },
            engine: Engine::Rules,
            noise: Vec::new(),
            missing: Vec::new(),
            note: None,
        }
    }
}
