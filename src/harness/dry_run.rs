//! The dry run behind `fixpoint investigate --repo --run-id`: the fix the loop would make for
//! a diagnosis, decided by the loop's own rules (the repository's fixpoint.yml at the failing
//! commit, the unsure rule, `plans::choose`) and shown as people review it: the plan, each
//! file it would change with a unified diff, or the task definition an ECS API fix would
//! register. It is how people come to trust the loop, so it must write nothing: the GitHub
//! client it is given is read-only and only the lower environment's reads are called.

use anyhow::Context as _;
use serde::Serialize;
use similar::TextDiff;

use super::lower_env::LowerEnvService;
use super::plan::unsure;
use super::plans::{self, Change, FixPlan, PlanDecision, PlanRequest, Workspace, short_sha};
use super::workspace::GitHubWorkspace;
use crate::config::model::ModelConfig;
use crate::config::repo::{self, RepoConfig};
use crate::diagnose::Diagnosis;
use crate::domain::{CommitSha, RunId};
use crate::github::git::check_committable;
use crate::github::{GitHubError, RepoClient};
use crate::topology::TopologyGraph;

/// What `investigate` says when no failed run was named.
pub const NEEDS_RUN: &str = "needs the failed run: add --repo OWNER/NAME --run-id N (with the App's credentials) to see the fix the loop would make";

/// What the loop would do for a failed run, without doing it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum DryRun {
    /// No failed run was named, so the repository and the failing commit are unknown.
    NeedsRun { why: String },
    /// GitHub or ECS could not be read: the plan is unknown, the diagnosis still stands.
    Unreadable { why: String },
    /// The loop would not start: no usable fixpoint.yml, not a deploy it covers, or a
    /// service whose names mean production.
    NotStarted { why: String },
    /// The diagnosis is too unsure to act on (the loop's own rule).
    Unsure { why: String },
    /// No fix within the repository's reach.
    NoFix { why: String },
    /// The fix, built on the failing commit `at`, and what it would change.
    Plan {
        plan: FixPlan,
        at: CommitSha,
        changes: Vec<Shown>,
    },
}

/// One change of a plan, as the diff people read.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Shown {
    /// A file the loop would commit: the diff from the failing commit's version, and why
    /// the commit would be refused when it would be (a secret in the text, a workflow file).
    File {
        path: String,
        diff: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        refused: Option<String>,
    },
    /// A task definition registered through the ECS API: the diff from the one the service
    /// runs now (else the last good one).
    TaskDefinition {
        cluster: String,
        service: String,
        diff: String,
    },
}

/// The failed run and its diagnosis, and what the loop would be given with them.
pub struct DryRunRequest<'a> {
    /// Read-only: the investigation's permissions.
    pub client: RepoClient,
    pub run_id: RunId,
    pub service: &'a str,
    pub graph: &'a TopologyGraph,
    pub diagnosis: &'a Diagnosis,
    pub model: Option<&'a ModelConfig>,
    pub production_names: &'a [String],
}

/// What the loop's first iteration would do for `req`'s run. Never fails: what could not be
/// read is an answer (`Unreadable`) next to the diagnosis, not a lost investigation.
pub async fn dry_run(req: DryRunRequest<'_>) -> DryRun {
    match decide(req).await {
        Ok(decided) => decided,
        Err(e) => DryRun::Unreadable {
            why: format!("{e:#}"),
        },
    }
}

async fn decide(req: DryRunRequest<'_>) -> anyhow::Result<DryRun> {
    let run = req
        .client
        .workflow_run(req.run_id)
        .await
        .context("cannot read the failed run")?;
    let head = run.head_sha;
    let text = req
        .client
        .read_file(repo::PATH, &head.0)
        .await
        .with_context(|| format!("cannot read {}", repo::PATH))?;
    // Parsed in place: the file was size- and depth-checked before parsing, and a person's
    // one-shot command shares its runtime with no webhook endpoint.
    let config = match text.map(|t| RepoConfig::parse(&t)) {
        None => {
            let why = format!(
                "no {} at {}: add one (see docs/fixpoint.example.yml) for Fixpoint to fix this repository's deploys",
                repo::PATH,
                short_sha(&head)
            );
            return Ok(DryRun::NotStarted { why });
        }
        Some(Err(e)) => return Ok(DryRun::NotStarted { why: e.to_string() }),
        Some(Ok(config)) => config,
    };
    // The default branch is not in the run: without `branches:` (the default branch only)
    // this cannot be told here, with it, it is checked as the investigation checks it.
    let branch = run.head_branch.unwrap_or_default();
    let name = run.name.as_deref().unwrap_or_default();
    if let Some(why) = config.not_covered(name, run.path.as_deref(), &branch, None) {
        return Ok(DryRun::NotStarted { why });
    }
    if let Some(why) = unsure(req.diagnosis, config.min_confidence) {
        return Ok(DryRun::Unsure { why });
    }
    let ecs = match LowerEnvService::of(req.graph, req.production_names) {
        Some(Err(refused)) => {
            return Ok(DryRun::NotStarted {
                why: refused.to_string(),
            });
        }
        Some(Ok(ecs)) => Some(ecs),
        None => None,
    };
    let workspace =
        GitHubWorkspace::over(req.client, &config.deploy_workflows, &branch, ecs.clone());
    let request = PlanRequest {
        service: req.service,
        diagnosis: req.diagnosis,
        config: &config,
        head: &head,
        failing: &head,
        failed: &[],
        ecs: ecs.as_ref().map(|e| (e.cluster(), e.service())),
        model: req.model,
    };
    // Boxed as the loop boxes it: the planner's future is deep (catalogue, model, reads).
    match Box::pin(plans::choose(&workspace, &request)).await? {
        PlanDecision::NoFix { why } => Ok(DryRun::NoFix { why }),
        PlanDecision::Plan(plan) => {
            let changes = shown(&workspace, &plan.change, &head).await?;
            Ok(DryRun::Plan {
                plan,
                at: head,
                changes,
            })
        }
    }
}

/// Each change of a plan as a diff against what is there now.
async fn shown(
    w: &GitHubWorkspace,
    change: &Change,
    head: &CommitSha,
) -> anyhow::Result<Vec<Shown>> {
    match change {
        Change::Files { edits } => {
            let mut shown = Vec::with_capacity(edits.len());
            for edit in edits {
                let old = w.read(&edit.path, head).await?;
                let new = edit.content.as_deref();
                let refused = check_committable("commit files", &edit.path, new)
                    .err()
                    .map(|e| match e {
                        GitHubError::Refused { reason, .. } => reason,
                        other => other.to_string(),
                    });
                shown.push(Shown::File {
                    path: edit.path.clone(),
                    diff: unified(&edit.path, old.as_deref(), new),
                    refused,
                });
            }
            Ok(shown)
        }
        Change::Ecs(ecs) => {
            // What the ECS API plan built on: the revision running now, else the last good.
            let (base, which) = match w.current_task_definition().await? {
                Some(current) => (Some(current), "running now"),
                None => (w.last_good_task_definition().await?, "last good"),
            };
            let at = format!("{}/{}", ecs.cluster, ecs.service);
            let old = base.as_ref().map(pretty);
            let diff = lines_diff(
                (&format!("{at} ({which})"), old.as_deref()),
                (
                    &format!("{at} (would register)"),
                    Some(&pretty(&ecs.task_definition)),
                ),
            );
            Ok(vec![Shown::TaskDefinition {
                cluster: ecs.cluster.clone(),
                service: ecs.service.clone(),
                diff,
            }])
        }
    }
}

fn pretty(v: &serde_json::Value) -> String {
    // A Value always serialises; the fallback keeps the dry run from dying on it anyway.
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()) + "\n"
}

/// A file's `old` → `new` as a unified diff with three lines of context (`None`: no such
/// file, shown as `/dev/null` as git does).
fn unified(path: &str, old: Option<&str>, new: Option<&str>) -> String {
    lines_diff((&format!("a/{path}"), old), (&format!("b/{path}"), new))
}

/// A unified diff between two named texts.
fn lines_diff(old: (&str, Option<&str>), new: (&str, Option<&str>)) -> String {
    let header = |(name, text): (&str, Option<&str>)| match text {
        Some(_) => name.to_string(),
        None => "/dev/null".to_string(),
    };
    TextDiff::from_lines(old.1.unwrap_or_default(), new.1.unwrap_or_default())
        .unified_diff()
        .context_radius(3)
        .header(&header(old), &header(new))
        .to_string()
}

impl DryRun {
    /// What people read after the diagnosis.
    pub fn render(&self) -> String {
        let (plan, at, changes) = match self {
            DryRun::NeedsRun { why } => return format!("Fix plan: {why}\n"),
            DryRun::Unreadable { why } => return format!("Fix plan: unknown, {why}\n"),
            DryRun::NotStarted { why } => {
                return format!("Fix plan: none, the loop would not start: {why}\n");
            }
            DryRun::Unsure { why } => return format!("Fix plan: none, too unsure to act: {why}\n"),
            DryRun::NoFix { why } => return format!("Fix plan: none: {why}\n"),
            DryRun::Plan { plan, at, changes } => (plan, at, changes),
        };
        let mut out = format!(
            "Fix plan (dry run at {}, nothing written): {}\n",
            short_sha(at),
            plan.kind.as_str()
        );
        out.push_str(&format!("  {}\n", plan.summary));
        out.push_str(&format!("  Fingerprint: {}\n", plan.fingerprint));
        for note in &plan.notes {
            out.push_str(&format!("  Note: {note}\n"));
        }
        for change in changes {
            let (what, diff) = match change {
                Shown::File {
                    path,
                    diff,
                    refused: None,
                } => (format!("Would change {path}:"), diff),
                Shown::File {
                    path,
                    diff,
                    refused: Some(why),
                } => (
                    format!("Would change {path}, but the loop would refuse to commit it ({why}):"),
                    diff,
                ),
                Shown::TaskDefinition {
                    cluster,
                    service,
                    diff,
                } => (
                    format!(
                        "Would register a task definition through the ECS API and point {cluster}/{service} at it:"
                    ),
                    diff,
                ),
            };
            out.push_str(&format!("\n{what}\n{diff}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_shows_the_changed_line_in_context_and_new_files_come_from_dev_null() {
        let old = "{\n  \"family\": \"api\",\n  \"memory\": \"512\"\n}\n";
        let new = "{\n  \"family\": \"api\",\n  \"memory\": \"1024\"\n}\n";
        let diff = unified("task-definition.json", Some(old), Some(new));
        assert!(diff.starts_with("--- a/task-definition.json\n+++ b/task-definition.json\n@@"));
        assert!(diff.contains("\n-  \"memory\": \"512\"\n+  \"memory\": \"1024\"\n"));
        assert!(diff.contains("\n   \"family\": \"api\",\n"), "{diff}");
        let created = unified("a.txt", None, Some("x\n"));
        assert!(
            created.starts_with("--- /dev/null\n+++ b/a.txt\n"),
            "{created}"
        );
    }
}
