//! Check runs (create, update, get; `checks: write`), collaborator permissions, and Actions:
//! workflow runs listed with GitHub's filters, and `workflow_dispatch` (`actions: write`).

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::bodies;
use super::bodies_pulls;
use super::gate::{Shared, json_reply, lock};
use super::model::WorkflowRun;
use super::records::{CheckRun, Dispatch};
use super::request::{
    Reply, authorization, invalid, json_body, not_found, number, reader, refuse, writer,
};
use super::state::{Refusal, State};

/// GitHub's limit on a check run's `output.summary` and `output.text`.
const MAX_OUTPUT: usize = 65_535;

pub(super) fn router() -> Router<Shared> {
    let repo = "/repos/{owner}/{repo}";
    Router::new()
        .route(&format!("{repo}/check-runs"), post(create_check_run))
        .route(
            &format!("{repo}/check-runs/{{check_run_id}}"),
            get(get_check_run).patch(update_check_run),
        )
        .route(
            &format!("{repo}/collaborators/{{username}}/permission"),
            get(collaborator_permission),
        )
        .route(&format!("{repo}/actions/runs"), get(list_runs))
        .route(
            &format!("{repo}/actions/workflows/{{workflow_id}}/runs"),
            get(list_workflow_runs),
        )
        .route(
            &format!("{repo}/actions/workflows/{{workflow_id}}/dispatches"),
            post(dispatch),
        )
}

fn unprocessable(message: impl Into<String>) -> Response {
    refuse(Refusal::new(422, message))
}

/// Applies the fields of a create or update request to `run`.
#[allow(clippy::result_large_err)]
fn apply(run: &mut CheckRun, request: &Value) -> Result<(), Response> {
    let text = |field: &str| request[field].as_str().map(str::to_string);
    let time = |field: &str| -> Result<Option<DateTime<Utc>>, Response> {
        match request[field].as_str() {
            None => Ok(None),
            Some(t) => DateTime::parse_from_rfc3339(t)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| invalid(field)),
        }
    };
    if let Some(name) = text("name") {
        run.name = name;
    }
    if let Some(url) = text("details_url") {
        run.details_url = Some(url);
    }
    if let Some(id) = text("external_id") {
        run.external_id = Some(id);
    }
    if let Some(started) = time("started_at")? {
        run.started_at = started;
    }
    if let Some(status) = text("status") {
        if !matches!(status.as_str(), "queued" | "in_progress" | "completed") {
            return Err(invalid("status"));
        }
        run.status = status;
    }
    if let Some(conclusion) = text("conclusion") {
        let known = [
            "action_required",
            "cancelled",
            "failure",
            "neutral",
            "success",
            "skipped",
            "stale",
            "timed_out",
        ];
        if !known.contains(&conclusion.as_str()) {
            return Err(invalid("conclusion"));
        }
        // A conclusion completes the run, as on GitHub.
        run.status = "completed".into();
        run.conclusion = Some(conclusion);
    }
    if run.status == "completed" {
        if run.conclusion.is_none() {
            return Err(unprocessable(
                "Validation Failed: conclusion is required when status is completed",
            ));
        }
        run.completed_at = Some(time("completed_at")?.unwrap_or_else(Utc::now));
    }
    let output = &request["output"];
    if !output.is_null() {
        for field in ["summary", "text"] {
            if output[field]
                .as_str()
                .is_some_and(|t| t.chars().count() > MAX_OUTPUT)
            {
                return Err(unprocessable(format!(
                    "Validation Failed: output.{field} is too long (maximum is {MAX_OUTPUT} characters)"
                )));
            }
        }
        run.title = output["title"]
            .as_str()
            .map(str::to_string)
            .or(run.title.take());
        run.summary = output["summary"]
            .as_str()
            .map(str::to_string)
            .or(run.summary.take());
        run.text = output["text"]
            .as_str()
            .map(str::to_string)
            .or(run.text.take());
    }
    Ok(())
}

fn check_run_reply(
    state: &State,
    status: u16,
    owner: &str,
    repo: &str,
    run: &CheckRun,
) -> Response {
    json_reply(
        status,
        bodies_pulls::check_run(&state.base_url, owner, repo, &state.app, run),
    )
}

async fn create_check_run(
    Extract(shared): Extract<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = writer(&shared, &headers, &owner, &repo, "checks")?;
    let request = json_body(&body)?;
    let name = request["name"].as_str().ok_or_else(|| invalid("name"))?;
    let head_sha = request["head_sha"]
        .as_str()
        .ok_or_else(|| invalid("head_sha"))?;
    if state.repo_mut(&owner, &repo).commit_for(head_sha).is_none() {
        return Err(unprocessable(format!(
            "No commit found for SHA: {head_sha}"
        )));
    }
    let mut run = CheckRun {
        id: state.next_id(),
        name: name.to_string(),
        head_sha: head_sha.to_string(),
        status: "queued".into(),
        conclusion: None,
        title: None,
        summary: None,
        text: None,
        details_url: None,
        external_id: None,
        started_at: Utc::now(),
        completed_at: None,
    };
    apply(&mut run, &request)?;
    state.repo_mut(&owner, &repo).check_runs.push(run.clone());
    Ok(check_run_reply(&state, 201, &owner, &repo, &run))
}

#[allow(clippy::result_large_err)]
fn find_check_run<'a>(
    state: &'a mut State,
    owner: &str,
    repo: &str,
    id: &str,
) -> Result<&'a mut CheckRun, Response> {
    let id = number(id)?;
    state
        .repo_mut(owner, repo)
        .check_runs
        .iter_mut()
        .find(|run| run.id == id)
        .ok_or_else(not_found)
}

async fn get_check_run(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let run = find_check_run(&mut state, &owner, &repo, &id)?.clone();
    Ok(check_run_reply(&state, 200, &owner, &repo, &run))
}

async fn update_check_run(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = writer(&shared, &headers, &owner, &repo, "checks")?;
    let request = json_body(&body)?;
    let run = find_check_run(&mut state, &owner, &repo, &id)?;
    let mut updated = run.clone();
    apply(&mut updated, &request)?;
    *run = updated.clone();
    Ok(check_run_reply(&state, 200, &owner, &repo, &updated))
}

async fn collaborator_permission(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, username)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let scripted = state
        .repo_mut(&owner, &repo)
        .collaborators
        .get(&username.to_lowercase())
        .cloned();
    // A user the test never scripted is one GitHub does not know: 404.
    let (permission, role) = scripted.ok_or_else(not_found)?;
    let body =
        bodies_pulls::collaborator_permission(&state.base_url, &username, &permission, &role);
    Ok(json_reply(200, body))
}

/// Whether `run` passes the list filters GitHub documents (`status` takes a conclusion too).
fn listed(run: &WorkflowRun, query: &HashMap<String, String>) -> bool {
    let field = |name: &str, value: &str| query.get(name).is_none_or(|wanted| wanted == value);
    let status = query.get("status").is_none_or(|wanted| {
        *wanted == run.status || run.conclusion.as_deref() == Some(wanted.as_str())
    });
    field("branch", &run.head_branch)
        && field("event", &run.event)
        && field("head_sha", &run.head_sha)
        && status
}

fn runs_page(
    state: &State,
    owner: &str,
    repo: &str,
    query: &HashMap<String, String>,
    workflow: Option<&str>,
) -> Response {
    let full_name = format!("{owner}/{repo}").to_lowercase();
    let mut runs: Vec<&WorkflowRun> = state
        .runs
        .iter()
        .filter(|((run_repo, _), _)| *run_repo == full_name)
        .map(|(_, run)| run)
        .filter(|run| workflow.is_none_or(|w| names_workflow(w, run)))
        .filter(|run| listed(run, query))
        .collect();
    // Newest first, as GitHub lists them.
    runs.sort_by_key(|run| std::cmp::Reverse((run.created_at, run.id)));
    let (per_page, page) = super::request::paging(query);
    let shown: Vec<Value> = runs
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|run| bodies::workflow_run(&state.base_url, owner, repo, run))
        .collect();
    json_reply(
        200,
        json!({ "total_count": runs.len(), "workflow_runs": shown }),
    )
}

/// A workflow is named by its numeric id or by its file name (`deploy.yml`).
fn names_workflow(workflow: &str, run: &WorkflowRun) -> bool {
    workflow == run.workflow_id.to_string()
        || run.workflow_path.rsplit('/').next() == Some(workflow)
}

async fn list_runs(
    Extract(shared): Extract<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Reply {
    let state = reader(&shared, &headers, &owner, &repo)?;
    Ok(runs_page(&state, &owner, &repo, &query, None))
}

async fn list_workflow_runs(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, workflow)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Reply {
    let state = reader(&shared, &headers, &owner, &repo)?;
    Ok(runs_page(&state, &owner, &repo, &query, Some(&workflow)))
}

async fn dispatch(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, workflow)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = writer(&shared, &headers, &owner, &repo, "actions")?;
    let request = json_body(&body)?;
    let git_ref = request["ref"]
        .as_str()
        .ok_or_else(|| invalid("ref"))?
        .to_string();
    let branch = git_ref.trim_start_matches("refs/heads/").to_string();
    let git = &state.repo_mut(&owner, &repo).git;
    let sha = git
        .ref_target(&format!("refs/heads/{branch}"))
        .ok_or_else(|| unprocessable(format!("No ref found for: {git_ref}")))?;
    // A workflow named by file must exist at the ref; by id, the fake must know a run of it.
    let known = if workflow.bytes().all(|b| b.is_ascii_digit()) {
        state
            .runs
            .values()
            .any(|run| run.workflow_id.to_string() == workflow)
    } else {
        git.file_at(&sha, &format!(".github/workflows/{workflow}"))
            .is_some()
    };
    if !known {
        return Err(not_found());
    }
    let full_name = format!("{owner}/{repo}").to_lowercase();
    state.repo_mut(&owner, &repo).dispatches.push(Dispatch {
        workflow,
        git_ref: git_ref.clone(),
        inputs: request["inputs"].clone(),
    });
    super::ci::follow(
        &mut state,
        &shared,
        &full_name,
        &branch,
        &sha,
        "workflow_dispatch",
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}
