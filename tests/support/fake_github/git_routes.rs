//! The Git Data API (blobs, trees, commits, refs) over each repository's real git repository.
//! Reads need the repository; writes need `contents: write`. A branch that moves runs CI.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as Extract};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::bodies_git;
use super::gate::{Shared, json_reply, lock};
use super::git::{Signature, TreeChange, is_sha};
use super::request::{Reply, authorization, invalid, json_body, not_found, reader, refuse, writer};
use super::state::{Refusal, State};

pub(super) fn router() -> Router<Shared> {
    let git = "/repos/{owner}/{repo}/git";
    Router::new()
        .route(&format!("{git}/blobs"), post(create_blob))
        .route(&format!("{git}/blobs/{{file_sha}}"), get(get_blob))
        .route(&format!("{git}/trees"), post(create_tree))
        .route(&format!("{git}/trees/{{tree_sha}}"), get(get_tree))
        .route(&format!("{git}/commits"), post(create_commit))
        .route(&format!("{git}/commits/{{commit_sha}}"), get(get_commit))
}

type RepoPath = Path<(String, String)>;

pub(super) fn api(state: &State, owner: &str, repo: &str) -> String {
    format!("{}/repos/{owner}/{repo}", state.base_url)
}

pub(super) fn html(owner: &str, repo: &str) -> String {
    format!("https://github.com/{owner}/{repo}")
}

pub(super) fn unprocessable(message: impl Into<String>) -> axum::response::Response {
    refuse(Refusal::new(422, message))
}

async fn create_blob(
    Extract(shared): Extract<Shared>,
    Path((owner, repo)): RepoPath,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = writer(&shared, &headers, &owner, &repo, "contents")?;
    let request = json_body(&body)?;
    let content = request["content"]
        .as_str()
        .ok_or_else(|| invalid("content"))?;
    let bytes = match request["encoding"].as_str().unwrap_or("utf-8") {
        "utf-8" | "utf8" => content.as_bytes().to_vec(),
        "base64" => {
            let compact: String = content.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| unprocessable("content is not valid Base64"))?
        }
        other => {
            return Err(unprocessable(format!(
                "encoding must be `utf-8` or `base64`, got `{other}`"
            )));
        }
    };
    let sha = state.repo_mut(&owner, &repo).git.write_blob(&bytes);
    Ok(json_reply(
        201,
        bodies_git::short_blob(&api(&state, &owner, &repo), &sha),
    ))
}

async fn get_blob(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let bytes = state
        .repo_mut(&owner, &repo)
        .git
        .read_blob(&sha)
        .ok_or_else(not_found)?;
    Ok(json_reply(
        200,
        bodies_git::blob(&api(&state, &owner, &repo), &sha, &bytes),
    ))
}

/// One entry of `POST git/trees`, checked as GitHub checks it.
#[allow(clippy::result_large_err)]
fn tree_change(
    state: &mut State,
    owner: &str,
    repo: &str,
    entry: &Value,
) -> Result<TreeChange, axum::response::Response> {
    let path = entry["path"].as_str().ok_or_else(|| invalid("tree.path"))?;
    let mode = entry["mode"].as_str().ok_or_else(|| invalid("tree.mode"))?;
    let kind = entry["type"].as_str().ok_or_else(|| invalid("tree.type"))?;
    let expected_kind = match mode {
        "100644" | "100755" | "120000" => "blob",
        "040000" => "tree",
        "160000" => "commit",
        _ => {
            return Err(unprocessable(format!(
                "tree.mode `{mode}` is not a valid file mode"
            )));
        }
    };
    if kind != expected_kind {
        return Err(unprocessable(format!(
            "tree.type `{kind}` does not go with mode {mode}"
        )));
    }
    let path = path.trim_matches('/').to_string();
    let git = &state.repo_mut(owner, repo).git;
    match (entry.get("sha"), entry.get("content")) {
        (Some(Value::Null), None) => Ok(TreeChange::Delete { path }),
        (Some(Value::String(sha)), None) => {
            if kind != "commit" && git.object_type(sha).as_deref() != Some(kind) {
                return Err(unprocessable(format!(
                    "tree.sha {sha} is not a valid {kind}"
                )));
            }
            Ok(if kind == "tree" {
                TreeChange::Subtree {
                    path,
                    sha: sha.clone(),
                }
            } else {
                TreeChange::Put {
                    path,
                    mode: mode.to_string(),
                    sha: sha.clone(),
                }
            })
        }
        (None, Some(Value::String(content))) if kind == "blob" => Ok(TreeChange::Put {
            path,
            mode: mode.to_string(),
            sha: git.write_blob(content.as_bytes()),
        }),
        _ => Err(unprocessable(
            "each tree entry needs exactly one of `sha` and `content`",
        )),
    }
}

async fn create_tree(
    Extract(shared): Extract<Shared>,
    Path((owner, repo)): RepoPath,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = writer(&shared, &headers, &owner, &repo, "contents")?;
    let request = json_body(&body)?;
    let entries = request["tree"].as_array().ok_or_else(|| invalid("tree"))?;
    let base = match &request["base_tree"] {
        Value::Null => None,
        Value::String(sha) => Some(sha.clone()),
        _ => return Err(invalid("base_tree")),
    };
    if let Some(base) = &base
        && state
            .repo_mut(&owner, &repo)
            .git
            .object_type(base)
            .as_deref()
            != Some("tree")
    {
        return Err(unprocessable(format!(
            "base_tree {base} is not a tree in this repository"
        )));
    }
    let mut changes = Vec::with_capacity(entries.len());
    for entry in entries {
        changes.push(tree_change(&mut state, &owner, &repo, entry)?);
    }
    let git = &state.repo_mut(&owner, &repo).git;
    let sha = git
        .build_tree(base.as_deref(), &changes)
        .map_err(|error| unprocessable(format!("cannot build the tree: {error}")))?;
    let entries = git.list_tree(&sha, false).unwrap_or_default();
    Ok(json_reply(
        201,
        bodies_git::tree(&api(&state, &owner, &repo), &sha, &entries),
    ))
}

async fn get_tree(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, tree_sha)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let git = &state.repo_mut(&owner, &repo).git;
    // GitHub takes a tree SHA, or anything that names a commit (its tree is meant).
    let sha = match git.object_type(&tree_sha).as_deref() {
        Some("tree") => tree_sha,
        _ => git
            .resolve(&tree_sha)
            .and_then(|commit| git.read_commit(&commit))
            .map(|commit| commit.tree)
            .ok_or_else(not_found)?,
    };
    let recursive = query
        .get("recursive")
        .is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    let entries = git.list_tree(&sha, recursive).ok_or_else(not_found)?;
    Ok(json_reply(
        200,
        bodies_git::tree(&api(&state, &owner, &repo), &sha, &entries),
    ))
}

/// `author`/`committer` of `POST git/commits`; `None` when not given.
#[allow(clippy::result_large_err)]
fn signature(value: &Value, field: &str) -> Result<Option<Signature>, axum::response::Response> {
    if value.is_null() {
        return Ok(None);
    }
    let name = value["name"]
        .as_str()
        .ok_or_else(|| invalid(&format!("{field}.name")))?;
    let email = value["email"]
        .as_str()
        .ok_or_else(|| invalid(&format!("{field}.email")))?;
    let date = match value["date"].as_str() {
        None => Utc::now(),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map_err(|_| invalid(&format!("{field}.date")))?
            .with_timezone(&Utc),
    };
    Ok(Some(Signature {
        name: name.into(),
        email: email.into(),
        date,
    }))
}

async fn create_commit(
    Extract(shared): Extract<Shared>,
    Path((owner, repo)): RepoPath,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = writer(&shared, &headers, &owner, &repo, "contents")?;
    let request = json_body(&body)?;
    let message = request["message"]
        .as_str()
        .ok_or_else(|| invalid("message"))?;
    let tree = request["tree"].as_str().ok_or_else(|| invalid("tree"))?;
    let parents: Vec<String> = match &request["parents"] {
        Value::Null => Vec::new(),
        value => serde_json::from_value(value.clone()).map_err(|_| invalid("parents"))?,
    };
    let author = signature(&request["author"], "author")?;
    let committer = signature(&request["committer"], "committer")?;
    // GitHub signs (and shows as Verified) what an App commits under its own identity.
    let signed_by_github =
        author.is_none() && committer.is_none() && request["signature"].is_null();
    let bot = Signature {
        name: format!("{}[bot]", state.app.slug),
        email: format!(
            "{}+{}[bot]@users.noreply.github.com",
            state.app.id, state.app.slug
        ),
        date: Utc::now(),
    };
    let author = author.unwrap_or(bot);
    let committer = committer.unwrap_or_else(|| author.clone());
    let repository = state.repo_mut(&owner, &repo);
    let git = &repository.git;
    if git.object_type(tree).as_deref() != Some("tree") {
        return Err(unprocessable(format!("Tree SHA does not exist: {tree}")));
    }
    if let Some(missing) = parents
        .iter()
        .find(|p| git.object_type(p).as_deref() != Some("commit"))
    {
        return Err(unprocessable(format!(
            "Parent SHA does not exist or is not a commit object: {missing}"
        )));
    }
    let sha = git
        .commit(tree, &parents, message, &author, &committer)
        .map_err(|error| unprocessable(format!("cannot commit: {error}")))?;
    if signed_by_github {
        repository.signed.insert(sha.clone());
    }
    let info = repository.git.read_commit(&sha).ok_or_else(not_found)?;
    let body = bodies_git::commit(
        &api(&state, &owner, &repo),
        &html(&owner, &repo),
        &info,
        signed_by_github,
    );
    Ok(json_reply(201, body))
}

async fn get_commit(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let repository = state.repo_mut(&owner, &repo);
    let info = repository.git.read_commit(&sha).ok_or_else(not_found)?;
    let signed = repository.signed.contains(&sha);
    let body = bodies_git::commit(
        &api(&state, &owner, &repo),
        &html(&owner, &repo),
        &info,
        signed,
    );
    Ok(json_reply(200, body))
}
