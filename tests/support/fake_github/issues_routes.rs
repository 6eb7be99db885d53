//! Issues: create and get; comments create, update, get and list; labels; reactions on comments.
//! Writes need `issues: write` (or `pull_requests: write` on a pull request, as GitHub allows).

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as Extract};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::Value;

use super::bodies_pulls::{self, bot_login};
use super::gate::{Shared, json_reply, lock};
use super::records::{Comment, Issue};
use super::request::{
    Reply, authorization, invalid, json_body, not_found, number, reader, refuse, writer,
};
use super::state::{Refusal, State};

/// GitHub refuses a comment body longer than this with 422.
const MAX_COMMENT: usize = 65_536;

const REACTIONS: [&str; 8] = [
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

pub(super) fn router() -> Router<Shared> {
    let issues = "/repos/{owner}/{repo}/issues";
    Router::new()
        .route(issues, post(create_issue))
        .route(&format!("{issues}/{{issue_number}}"), get(get_issue))
        .route(
            &format!("{issues}/{{issue_number}}/comments"),
            post(create_comment).get(list_comments),
        )
        .route(
            &format!("{issues}/comments/{{comment_id}}"),
            get(get_comment).patch(update_comment),
        )
        .route(
            &format!("{issues}/comments/{{comment_id}}/reactions"),
            post(react),
        )
        .route(
            &format!("{issues}/{{issue_number}}/labels"),
            post(add_labels),
        )
        .route(
            &format!("{issues}/{{issue_number}}/labels/{{name}}"),
            axum::routing::delete(remove_label),
        )
}

fn unprocessable(message: impl Into<String>) -> Response {
    refuse(Refusal::new(422, message))
}

/// `issues: write`, or `pull_requests: write` when `number` is a pull request.
#[allow(clippy::result_large_err)]
fn authorize_issue_write(
    state: &mut State,
    headers: &HeaderMap,
    owner: &str,
    repo: &str,
    is_pull: bool,
) -> Result<(), Response> {
    let issues = state.authorize_write(authorization(headers), owner, repo, "issues");
    match issues {
        Err(_) if is_pull => state
            .authorize_write(authorization(headers), owner, repo, "pull_requests")
            .map_err(refuse),
        other => other.map_err(refuse),
    }
}

/// The write permission a change to issue (or pull request) `number` needs; 404 if none.
#[allow(clippy::result_large_err)]
fn authorize_on_issue(
    state: &mut State,
    headers: &HeaderMap,
    owner: &str,
    repo: &str,
    number: u64,
) -> Result<(), Response> {
    let pull = is_pull(state, owner, repo, number).ok_or_else(not_found)?;
    authorize_issue_write(state, headers, owner, repo, pull)
}

fn is_pull(state: &mut State, owner: &str, repo: &str, number: u64) -> Option<bool> {
    state
        .repo_mut(owner, repo)
        .issues
        .iter()
        .find(|issue| issue.number == number)
        .map(|issue| issue.pull.is_some())
}

fn issue_body(state: &mut State, owner: &str, repo: &str, number: u64) -> Option<Value> {
    let repository = state.repo_mut(owner, repo);
    let issue = repository
        .issues
        .iter()
        .find(|i| i.number == number)?
        .clone();
    let comments = repository
        .comments
        .iter()
        .filter(|c| c.issue_number == number)
        .count();
    Some(bodies_pulls::issue(
        &state.base_url,
        owner,
        repo,
        &issue,
        comments,
    ))
}

async fn create_issue(
    Extract(shared): Extract<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = lock(&shared);
    authorize_issue_write(&mut state, &headers, &owner, &repo, false)?;
    let request = json_body(&body)?;
    let title = request["title"].as_str().ok_or_else(|| invalid("title"))?;
    let labels: Vec<String> = match &request["labels"] {
        Value::Null => Vec::new(),
        value => serde_json::from_value(value.clone()).map_err(|_| invalid("labels"))?,
    };
    let author = bot_login(&state.app);
    let repository = state.repo_mut(&owner, &repo);
    let now = Utc::now();
    let number = repository.next_number();
    repository.issues.push(Issue {
        number,
        title: title.to_string(),
        body: request["body"].as_str().map(str::to_string),
        state: "open".into(),
        labels,
        author,
        created_at: now,
        updated_at: now,
        pull: None,
    });
    let body = issue_body(&mut state, &owner, &repo, number).ok_or_else(not_found)?;
    Ok(json_reply(201, body))
}

async fn get_issue(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, issue_number)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let body =
        issue_body(&mut state, &owner, &repo, number(&issue_number)?).ok_or_else(not_found)?;
    Ok(json_reply(200, body))
}

#[allow(clippy::result_large_err)]
fn comment_text(request: &Value) -> Result<String, Response> {
    let body = request["body"].as_str().ok_or_else(|| invalid("body"))?;
    if body.chars().count() > MAX_COMMENT {
        return Err(unprocessable(format!(
            "Validation Failed: body is too long (maximum is {MAX_COMMENT} characters)"
        )));
    }
    Ok(body.to_string())
}

async fn create_comment(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, issue_number)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let issue_number = number(&issue_number)?;
    authorize_on_issue(&mut state, &headers, &owner, &repo, issue_number)?;
    let text = comment_text(&json_body(&body)?)?;
    let now = Utc::now();
    let comment = Comment {
        id: state.next_id(),
        issue_number,
        body: text,
        author: bot_login(&state.app),
        created_at: now,
        updated_at: now,
        reactions: Vec::new(),
        expected: false,
    };
    state.repo_mut(&owner, &repo).comments.push(comment.clone());
    Ok(json_reply(
        201,
        bodies_pulls::comment(&state.base_url, &owner, &repo, &comment),
    ))
}

async fn list_comments(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, issue_number)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let issue_number = number(&issue_number)?;
    is_pull(&mut state, &owner, &repo, issue_number).ok_or_else(not_found)?;
    let (per_page, page) = super::request::paging(&query);
    let base = state.base_url.clone();
    let comments: Vec<Value> = state
        .repo_mut(&owner, &repo)
        .comments
        .iter()
        .filter(|c| c.issue_number == issue_number)
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|c| bodies_pulls::comment(&base, &owner, &repo, c))
        .collect();
    Ok(json_reply(200, Value::Array(comments)))
}

#[allow(clippy::result_large_err)]
fn find_comment<'a>(
    state: &'a mut State,
    owner: &str,
    repo: &str,
    id: &str,
) -> Result<&'a mut Comment, Response> {
    let id = number(id)?;
    state
        .repo_mut(owner, repo)
        .comments
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(not_found)
}

async fn get_comment(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, comment_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let comment = find_comment(&mut state, &owner, &repo, &comment_id)?.clone();
    Ok(json_reply(
        200,
        bodies_pulls::comment(&state.base_url, &owner, &repo, &comment),
    ))
}

async fn update_comment(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, comment_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let issue_number = find_comment(&mut state, &owner, &repo, &comment_id)?.issue_number;
    authorize_on_issue(&mut state, &headers, &owner, &repo, issue_number)?;
    let text = comment_text(&json_body(&body)?)?;
    let bot = bot_login(&state.app);
    let author = find_comment(&mut state, &owner, &repo, &comment_id)?
        .author
        .clone();
    if author != bot {
        // GitHub lets an App edit anyone's comment; Fixpoint must only ever edit its own.
        state.violations.push(format!(
            "the App edited comment {comment_id} by {author} on {owner}/{repo}#{issue_number}: \
             Fixpoint edits only its own comments (match the marker and the author)"
        ));
    }
    let comment = find_comment(&mut state, &owner, &repo, &comment_id)?;
    comment.body = text;
    comment.updated_at = Utc::now();
    let comment = comment.clone();
    Ok(json_reply(
        200,
        bodies_pulls::comment(&state.base_url, &owner, &repo, &comment),
    ))
}

async fn react(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, comment_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let issue_number = find_comment(&mut state, &owner, &repo, &comment_id)?.issue_number;
    authorize_on_issue(&mut state, &headers, &owner, &repo, issue_number)?;
    let request = json_body(&body)?;
    let content = request["content"]
        .as_str()
        .ok_or_else(|| invalid("content"))?
        .to_string();
    if !REACTIONS.contains(&content.as_str()) {
        return Err(unprocessable(format!(
            "content `{content}` is not one of {REACTIONS:?}"
        )));
    }
    let id = state.next_id();
    let bot = bot_login(&state.app);
    let comment = find_comment(&mut state, &owner, &repo, &comment_id)?;
    // The same reaction twice by the same user is one reaction: 200 instead of 201.
    let status = if comment.reactions.contains(&content) {
        200
    } else {
        201
    };
    if status == 201 {
        comment.reactions.push(content.clone());
    }
    Ok(json_reply(
        status,
        bodies_pulls::reaction(&state.base_url, id, &bot, &content),
    ))
}

async fn add_labels(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, issue_number)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let issue_number = number(&issue_number)?;
    authorize_on_issue(&mut state, &headers, &owner, &repo, issue_number)?;
    let request = json_body(&body)?;
    // `{"labels": [...]}` or a bare array, as GitHub accepts both.
    let names = if request.is_array() {
        &request
    } else {
        &request["labels"]
    };
    let names: Vec<String> =
        serde_json::from_value(names.clone()).map_err(|_| invalid("labels"))?;
    let repository = state.repo_mut(&owner, &repo);
    let issue = repository
        .issues
        .iter_mut()
        .find(|i| i.number == issue_number)
        .ok_or_else(not_found)?;
    for name in names {
        if !issue.labels.contains(&name) {
            issue.labels.push(name);
        }
    }
    let labels = issue.labels.clone();
    Ok(json_reply(200, label_list(&state, &owner, &repo, &labels)))
}

fn label_list(state: &State, owner: &str, repo: &str, labels: &[String]) -> Value {
    let api = format!("{}/repos/{owner}/{repo}", state.base_url);
    Value::Array(
        labels
            .iter()
            .map(|name| bodies_pulls::label(&api, name))
            .collect(),
    )
}

async fn remove_label(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, issue_number, name)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let issue_number = number(&issue_number)?;
    authorize_on_issue(&mut state, &headers, &owner, &repo, issue_number)?;
    let repository = state.repo_mut(&owner, &repo);
    let issue = repository
        .issues
        .iter_mut()
        .find(|i| i.number == issue_number)
        .ok_or_else(not_found)?;
    let before = issue.labels.len();
    issue.labels.retain(|label| *label != name);
    if issue.labels.len() == before {
        return Err(refuse(Refusal::new(404, "Label does not exist")));
    }
    let labels = issue.labels.clone();
    Ok(json_reply(200, label_list(&state, &owner, &repo, &labels)))
}
