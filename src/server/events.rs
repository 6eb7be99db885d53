//! Webhook payloads → the few domain events Fixpoint acts on. Only the fields we use
//! are read, so GitHub adding fields never breaks ingress; a missing field we need
//! is a clear error naming it.

use serde::Deserialize;

mod fields;

use crate::domain::{
    AppId, CommitSha, Conclusion, InstallationChange, InstallationId, PrCommand, RepoName, RunId,
    RunRef,
};

#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    Act(Action),
    Ping,
    Ignored {
        reason: &'static str,
    },
    /// Refused for what it is (a fork's run, a run a pull request triggered): answered like
    /// an ignored one, and stored with its reason so the refusal can be looked up.
    Refused {
        repo: RepoName,
        reason: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A completed run that failed or timed out: a possible incident.
    FailedRun(RunRef),
    /// A completed run on a `fixpoint/` branch.
    LoopRun(RunRef),
    PrCommand(PrCommand),
    Installation {
        change: InstallationChange,
        action: &'static str,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("`{event}` payload is not usable: {problem}")]
pub struct PayloadError {
    event: String,
    problem: String,
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    action: Option<String>,
}

#[derive(Deserialize)]
struct Repo {
    full_name: String,
    #[serde(default)]
    default_branch: Option<String>,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
    #[serde(default)]
    account: Option<Account>,
}

#[derive(Deserialize)]
struct Account {
    login: String,
}

#[derive(Deserialize)]
struct WorkflowRunEvent {
    #[serde(default)]
    action: Option<String>,
    repository: Repo,
    installation: Option<Installation>,
    workflow_run: WorkflowRun,
    #[serde(default)]
    workflow: Option<Workflow>,
}

#[derive(Deserialize)]
struct WorkflowRun {
    id: u64,
    name: Option<String>,
    #[serde(default)]
    path: Option<String>,
    head_sha: String,
    head_branch: Option<String>,
    #[serde(default = "first_attempt")]
    run_attempt: u64,
    conclusion: Option<Conclusion>,
    /// What triggered the run: `push`, `workflow_dispatch`, `pull_request` …
    #[serde(default)]
    event: Option<String>,
    /// The repository the run's commit came from: a fork for fork pull requests, and
    /// null when that fork has since been deleted.
    #[serde(default)]
    head_repository: Option<HeadRepo>,
}

#[derive(Deserialize)]
struct HeadRepo {
    full_name: String,
}

fn first_attempt() -> u64 {
    1
}

#[derive(Deserialize)]
struct Workflow {
    #[serde(default)]
    path: Option<String>,
}

#[derive(Deserialize)]
struct IssueCommentEvent {
    repository: Repo,
    installation: Option<Installation>,
    issue: Issue,
    comment: Comment,
    sender: User,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    body: Option<String>,
    user: User,
    #[serde(default)]
    performed_via_github_app: Option<AppRef>,
}

#[derive(Deserialize)]
struct AppRef {
    id: u64,
}

#[derive(Deserialize)]
struct User {
    login: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct InstallationEvent {
    installation: Installation,
    #[serde(default)]
    repositories: Option<Vec<Repo>>,
}

#[derive(Deserialize)]
struct InstallationReposEvent {
    installation: Installation,
    #[serde(default)]
    repositories_added: Vec<Repo>,
    #[serde(default)]
    repositories_removed: Vec<Repo>,
}

pub fn parse(event: &str, body: &[u8], app_id: AppId) -> Result<WebhookEvent, PayloadError> {
    let fail = |problem: String| PayloadError {
        event: event.to_string(),
        problem,
    };
    let de = |what: &str| {
        let what = what.to_string();
        move |e: serde_json::Error| fail(format!("{what}: {e}"))
    };
    let action_of = |body: &[u8]| -> Result<String, PayloadError> {
        Ok(serde_json::from_slice::<Named>(body)
            .map_err(de("not a JSON object"))?
            .action
            .unwrap_or_default())
    };
    if event == "workflow_run" {
        // The busiest event (several a run, for every run of every installed repo), so
        // the body is read once; only a payload that fails to parse is read again, to
        // tell one we act on (an error) from one we ignore.
        return match serde_json::from_slice::<WorkflowRunEvent>(body) {
            Ok(e) if e.action.as_deref() == Some("completed") => workflow_run(e).map_err(fail),
            Err(e) if action_of(body)? == "completed" => Err(de("workflow_run")(e)),
            Ok(_) | Err(_) => Ok(WebhookEvent::Ignored {
                reason: "action not acted on",
            }),
        };
    }
    let action = action_of(body)?;
    match (event, action.as_str()) {
        ("ping", _) => Ok(WebhookEvent::Ping),
        ("issue_comment", "created") => {
            let e: IssueCommentEvent = serde_json::from_slice(body).map_err(de("issue_comment"))?;
            issue_comment(e, app_id).map_err(fail)
        }
        ("installation", action) => {
            let e: InstallationEvent = serde_json::from_slice(body).map_err(de("installation"))?;
            installation(e, action).map_err(fail)
        }
        ("installation_repositories", "added" | "removed") => {
            let e: InstallationReposEvent =
                serde_json::from_slice(body).map_err(de("installation_repositories"))?;
            installation_repositories(e, action.as_str()).map_err(fail)
        }
        ("issue_comment" | "installation_repositories", _) => Ok(WebhookEvent::Ignored {
            reason: "action not acted on",
        }),
        _ => Ok(WebhookEvent::Ignored {
            reason: "event not acted on",
        }),
    }
}

fn repo_name(full: &str) -> Result<RepoName, String> {
    RepoName::parse(full).map_err(|e| format!("repository.full_name: {e}"))
}

fn repos(list: &[Repo]) -> Result<Vec<RepoName>, String> {
    list.iter().map(|r| repo_name(&r.full_name)).collect()
}

fn account_of(installation: &Installation) -> String {
    installation
        .account
        .as_ref()
        .map(|a| a.login.clone())
        .unwrap_or_default()
}

fn workflow_run(e: WorkflowRunEvent) -> Result<WebhookEvent, String> {
    let Some(installation) = e.installation else {
        // A repository webhook, not the App's: there is no installation to act with.
        return Ok(WebhookEvent::Ignored {
            reason: "no installation in the payload",
        });
    };
    let repo = repo_name(&e.repository.full_name)?;
    let run = e.workflow_run;
    // Checked before anything is stored: these values end up in the store, in API
    // paths and in job keys, and a bad one would be retried for every attempt.
    fields::id("installation.id", installation.id)?;
    fields::id("workflow_run.id", run.id)?;
    fields::id("workflow_run.run_attempt", run.run_attempt)?;
    fields::commit_sha("workflow_run.head_sha", &run.head_sha)?;
    fields::capped("workflow_run.name", run.name.as_deref())?;
    fields::capped("workflow_run.path", run.path.as_deref())?;
    fields::capped("workflow_run.head_branch", run.head_branch.as_deref())?;
    // Only the repository's own deploys start anything: a fork's run (or any run a pull
    // request triggered) carries files its author wrote, and Fixpoint acts on what the
    // config and maps say. This holds for `fixpoint/` branches too: a fork can name one.
    if let Some(reason) = foreign_run(&e.repository.full_name, &run) {
        return Ok(WebhookEvent::Refused { repo, reason });
    }
    let run_ref = RunRef {
        repo,
        installation_id: InstallationId(installation.id),
        workflow: run.name.unwrap_or_default(),
        workflow_path: run.path.or(e.workflow.and_then(|w| w.path)),
        run_id: RunId(run.id),
        run_attempt: run.run_attempt,
        head_sha: CommitSha(run.head_sha),
        branch: run.head_branch.unwrap_or_default(),
        conclusion: run.conclusion,
        default_branch: e.repository.default_branch,
    };
    if run_ref.on_fixpoint_branch() {
        return Ok(WebhookEvent::Act(Action::LoopRun(run_ref)));
    }
    if !run_ref.failed() {
        return Ok(WebhookEvent::Ignored {
            reason: "run did not fail",
        });
    }
    Ok(WebhookEvent::Act(Action::FailedRun(run_ref)))
}

/// Why a run is not the repository's own deploy, if it is not.
fn foreign_run(repo: &str, run: &WorkflowRun) -> Option<&'static str> {
    if matches!(
        run.event.as_deref(),
        Some("pull_request" | "pull_request_target")
    ) {
        return Some("run triggered by a pull request, not a deploy of the repository");
    }
    match &run.head_repository {
        // GitHub names are case-insensitive.
        Some(head) if head.full_name.eq_ignore_ascii_case(repo) => None,
        Some(_) => Some("run of a fork's commit, not of the repository"),
        None => Some("run's head repository is unknown (a deleted fork)"),
    }
}

fn issue_comment(e: IssueCommentEvent, app_id: AppId) -> Result<WebhookEvent, String> {
    if e.issue.pull_request.is_none() {
        return Ok(WebhookEvent::Ignored {
            reason: "comment is not on a pull request",
        });
    }
    let is_bot = |u: &User| u.kind.as_deref() == Some("Bot") || u.login.ends_with("[bot]");
    if is_bot(&e.sender)
        || is_bot(&e.comment.user)
        || e.comment
            .performed_via_github_app
            .is_some_and(|a| a.id == app_id.0)
    {
        return Ok(WebhookEvent::Ignored {
            reason: "comment by a bot or by Fixpoint itself",
        });
    }
    let body = e.comment.body.unwrap_or_default();
    if !body.trim_start().starts_with("/fixpoint") {
        return Ok(WebhookEvent::Ignored {
            reason: "comment is not a /fixpoint command",
        });
    }
    let Some(installation) = e.installation else {
        return Ok(WebhookEvent::Ignored {
            reason: "no installation in the payload",
        });
    };
    fields::id("installation.id", installation.id)?;
    fields::id("issue.number", e.issue.number)?;
    fields::id("comment.id", e.comment.id)?;
    fields::capped("comment.user.login", Some(&e.comment.user.login))?;
    fields::capped_at("comment.body", Some(&body), fields::COMMENT_CHARS)?;
    Ok(WebhookEvent::Act(Action::PrCommand(PrCommand {
        repo: repo_name(&e.repository.full_name)?,
        installation_id: InstallationId(installation.id),
        pr_number: e.issue.number,
        comment_id: e.comment.id,
        author: e.comment.user.login,
        body,
    })))
}

fn installation_repositories(
    e: InstallationReposEvent,
    action: &str,
) -> Result<WebhookEvent, String> {
    fields::id("installation.id", e.installation.id)?;
    Ok(WebhookEvent::Act(Action::Installation {
        change: InstallationChange::ReposChanged {
            id: InstallationId(e.installation.id),
            account: account_of(&e.installation),
            added: repos(&e.repositories_added)?,
            removed: repos(&e.repositories_removed)?,
        },
        action: if action == "added" {
            "added"
        } else {
            "removed"
        },
    }))
}

fn installation(e: InstallationEvent, action: &str) -> Result<WebhookEvent, String> {
    fields::id("installation.id", e.installation.id)?;
    let id = InstallationId(e.installation.id);
    let account = account_of(&e.installation);
    let (change, action) = match action {
        "created" | "unsuspend" | "new_permissions_accepted" => (
            InstallationChange::Active {
                id,
                account,
                repos: e.repositories.as_deref().map(repos).transpose()?,
            },
            match action {
                "created" => "created",
                "unsuspend" => "unsuspend",
                _ => "new_permissions_accepted",
            },
        ),
        "suspend" => (InstallationChange::Suspended { id, account }, "suspend"),
        "deleted" => (InstallationChange::Deleted { id, account }, "deleted"),
        _ => {
            return Ok(WebhookEvent::Ignored {
                reason: "installation action not acted on",
            });
        }
    };
    Ok(WebhookEvent::Act(Action::Installation { change, action }))
}
