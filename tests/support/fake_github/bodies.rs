//! Response bodies shaped as GitHub's REST API documents them (fields taken from the OpenAPI
//! description's schemas and examples; the honesty gate checks every one before it is sent).

use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::model::{Job, TokenMint, WorkflowRun};
use super::state::App;

pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stable positive id for a name, so the same repository or user always gets the same id.
pub(super) fn stable_id(name: &str) -> u64 {
    let digest = Sha256::digest(name.to_lowercase().as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) % 1_000_000_000 + 1
}

/// A git-object-like 40-hex id (SHA-256, cut: the fake needs stable ids, not git's SHA-1).
pub(super) fn object_sha(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

fn node_id(kind: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("0{}:{kind}{id}", kind.len()))
}

/// GitHub's error shape: `{message, documentation_url, status}`.
pub(super) fn error(status: u16, message: &str) -> Value {
    json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.to_string(),
    })
}

/// `simple-user`.
pub(super) fn simple_user(base: &str, login: &str, kind: &str) -> Value {
    let id = stable_id(login);
    let api = format!("{base}/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": node_id(kind, id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": kind,
        "site_admin": false,
        "user_view_type": "public",
    })
}

/// `minimal-repository`.
pub(super) fn minimal_repository(base: &str, owner: &str, name: &str) -> Value {
    let full_name = format!("{owner}/{name}");
    let id = stable_id(&full_name);
    let api = format!("{base}/repos/{full_name}");
    let mut repo = json!({
        "id": id,
        "node_id": node_id("Repository", id),
        "name": name,
        "full_name": full_name,
        "owner": simple_user(base, owner, "Organization"),
        "private": true,
        "html_url": format!("https://github.com/{full_name}"),
        "description": null,
        "fork": false,
        "url": api,
    });
    let templated = [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ];
    for (field, suffix) in templated {
        repo[field] = json!(format!("{api}{suffix}"));
    }
    repo
}

/// `workflow-run`.
pub(super) fn workflow_run(base: &str, owner: &str, repo: &str, run: &WorkflowRun) -> Value {
    let api = format!("{base}/repos/{owner}/{repo}/actions/runs/{}", run.id);
    let repository = minimal_repository(base, owner, repo);
    let actor = simple_user(base, "octocat", "User");
    let updated_at = run
        .jobs
        .iter()
        .filter_map(|job| job.completed_at)
        .max()
        .unwrap_or(run.created_at);
    let previous_attempt =
        (run.run_attempt > 1).then(|| format!("{api}/attempts/{}", run.run_attempt - 1));
    json!({
        "id": run.id,
        "name": run.name,
        "node_id": node_id("WorkflowRun", run.id),
        "check_suite_id": run.id + 1_000_000,
        "check_suite_node_id": node_id("CheckSuite", run.id + 1_000_000),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": run.workflow_path,
        "run_number": run.run_number,
        "run_attempt": run.run_attempt,
        "referenced_workflows": [],
        "event": run.event,
        "status": run.status,
        "conclusion": run.conclusion,
        "workflow_id": run.workflow_id,
        "url": api,
        "html_url": format!("https://github.com/{owner}/{repo}/actions/runs/{}", run.id),
        "pull_requests": [],
        "created_at": timestamp(run.created_at),
        "updated_at": timestamp(updated_at),
        "actor": actor,
        "triggering_actor": actor,
        "run_started_at": timestamp(run.created_at),
        "jobs_url": format!("{api}/jobs"),
        "logs_url": format!("{api}/logs"),
        "check_suite_url": format!("{base}/repos/{owner}/{repo}/check-suites/{}", run.id + 1_000_000),
        "artifacts_url": format!("{api}/artifacts"),
        "cancel_url": format!("{api}/cancel"),
        "rerun_url": format!("{api}/rerun"),
        "previous_attempt_url": previous_attempt,
        "workflow_url": format!("{base}/repos/{owner}/{repo}/actions/workflows/{}", run.workflow_id),
        "head_commit": {
            "id": run.head_sha,
            "tree_id": object_sha(format!("tree {}", run.head_sha).as_bytes()),
            "message": run.display_title,
            "timestamp": timestamp(run.created_at - Duration::minutes(1)),
            "author": { "name": "Monalisa Octocat", "email": "monalisa.octocat@example.com" },
            "committer": { "name": "GitHub", "email": "noreply@github.com" },
        },
        "repository": repository,
        "head_repository": repository,
        "head_repository_id": repository["id"],
        "display_title": run.display_title,
    })
}

/// `job`, with its steps timed one after another from the job's start.
pub(super) fn job(base: &str, owner: &str, repo: &str, run: &WorkflowRun, job: &Job) -> Value {
    let steps: Vec<Value> = job
        .steps
        .iter()
        .map(|step| {
            let started = job.started_at + Duration::seconds(i64::from(step.number) * 5);
            let done = step.status == "completed";
            json!({
                "name": step.name,
                "status": step.status,
                "conclusion": step.conclusion,
                "number": step.number,
                "started_at": timestamp(started),
                "completed_at": done.then(|| timestamp(started + Duration::seconds(4))),
            })
        })
        .collect();
    let api = format!("{base}/repos/{owner}/{repo}/actions");
    json!({
        "id": job.id,
        "run_id": run.id,
        "run_url": format!("{api}/runs/{}", run.id),
        "run_attempt": job.run_attempt,
        "node_id": node_id("CheckRun", job.id),
        "head_sha": run.head_sha,
        "url": format!("{api}/jobs/{}", job.id),
        "html_url": format!("https://github.com/{owner}/{repo}/actions/runs/{}/job/{}", run.id, job.id),
        "status": job.status,
        "conclusion": job.conclusion,
        "created_at": timestamp(job.started_at - Duration::seconds(5)),
        "started_at": timestamp(job.started_at),
        "completed_at": job.completed_at.map(timestamp),
        "name": job.name,
        "steps": steps,
        "check_run_url": format!("{base}/repos/{owner}/{repo}/check-runs/{}", job.id),
        "labels": job.labels,
        "runner_id": 1,
        "runner_name": "GitHub Actions 1",
        "runner_group_id": 2,
        "runner_group_name": "GitHub Actions",
        "workflow_name": run.name,
        "head_branch": run.head_branch,
    })
}

/// `content-file` (`sha` is the blob's): base64 with a newline every 60 characters, as GitHub sends it.
#[allow(clippy::too_many_arguments)]
pub(super) fn content_file(
    base: &str,
    owner: &str,
    repo: &str,
    git_ref: &str,
    path: &str,
    sha: &str,
    bytes: &[u8],
) -> Value {
    let content = super::bodies_git::wrapped_base64(bytes);
    let url = format!("{base}/repos/{owner}/{repo}/contents/{path}?ref={git_ref}");
    let git_url = format!("{base}/repos/{owner}/{repo}/git/blobs/{sha}");
    let html_url = format!("https://github.com/{owner}/{repo}/blob/{git_ref}/{path}");
    json!({
        "type": "file",
        "encoding": "base64",
        "size": bytes.len(),
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "content": content,
        "sha": sha,
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": format!("{base}/_downloads/raw/{owner}/{repo}/{git_ref}/{path}"),
        "_links": { "self": url, "git": git_url, "html": html_url },
    })
}

/// `integration`: the App itself.
pub(super) fn integration(base: &str, app: &App, owner: &str) -> Value {
    let created = timestamp(Utc::now() - Duration::days(30));
    json!({
        "id": app.id,
        "slug": app.slug,
        "node_id": node_id("App", app.id),
        "client_id": format!("Iv23li{}", &object_sha(app.slug.as_bytes())[..14]),
        "owner": simple_user(base, owner, "Organization"),
        "name": app.name,
        "description": "Turns a red deploy into a reviewed fix.",
        "external_url": "https://fixpoint.example.com",
        "html_url": format!("https://github.com/apps/{}", app.slug),
        "created_at": created,
        "updated_at": created,
        "permissions": { "actions": "read", "contents": "write", "metadata": "read", "pull_requests": "write", "issues": "write" },
        "events": ["workflow_run", "issue_comment", "pull_request"],
        "installations_count": 1,
    })
}

/// `installation-token`.
pub(super) fn installation_token(mint: &TokenMint, repository_selection: &str) -> Value {
    json!({
        "token": mint.token,
        "expires_at": timestamp(mint.expires_at),
        "permissions": mint.permissions,
        "repository_selection": repository_selection,
    })
}
