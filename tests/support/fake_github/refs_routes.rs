//! Git refs: get one, list matching ones, create, move (fast-forward only unless forced) and
//! delete. A branch that is created or moves is a push: CI follows it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as Extract};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde_json::Value;

use super::bodies_git;
use super::gate::{Shared, json_reply};
use super::git::is_sha;
use super::git_routes::{api, unprocessable};
use super::request::{Reply, invalid, json_body, not_found, reader, writer};
use super::state::State;

pub(super) fn router() -> Router<Shared> {
    let git = "/repos/{owner}/{repo}/git";
    Router::new()
        .route(&format!("{git}/ref/{{*ref}}"), get(get_ref))
        .route(&format!("{git}/matching-refs/{{*ref}}"), get(matching_refs))
        .route(&format!("{git}/refs"), post(create_ref))
        .route(
            &format!("{git}/refs/{{*ref}}"),
            axum::routing::patch(update_ref).delete(delete_ref),
        )
}

type RepoPath = Path<(String, String)>;

fn ref_body(state: &mut State, owner: &str, repo: &str, full_ref: &str) -> Option<Value> {
    let git = &state.repo_mut(owner, repo).git;
    let sha = git.ref_target(full_ref)?;
    let kind = git.object_type(&sha)?;
    Some(bodies_git::git_ref(
        &api(state, owner, repo),
        full_ref,
        &sha,
        &kind,
    ))
}

async fn get_ref(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let body =
        ref_body(&mut state, &owner, &repo, &format!("refs/{name}")).ok_or_else(not_found)?;
    Ok(json_reply(200, body))
}

async fn matching_refs(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, prefix)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let wanted = format!("refs/{prefix}");
    let names: Vec<String> = state
        .repo_mut(&owner, &repo)
        .git
        .refs("refs/")
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with(&wanted) && !name.starts_with("refs/fake-arranged/"))
        .collect();
    let bodies: Vec<Value> = names
        .iter()
        .filter_map(|name| ref_body(&mut state, &owner, &repo, name))
        .collect();
    Ok(json_reply(200, Value::Array(bodies)))
}

/// Runs CI if `full_ref` is a branch: a push, as GitHub Actions sees one.
fn pushed(state: &mut State, shared: &Shared, owner: &str, repo: &str, full_ref: &str, sha: &str) {
    if let Some(branch) = full_ref.strip_prefix("refs/heads/") {
        let full_name = format!("{owner}/{repo}").to_lowercase();
        super::ci::follow(state, shared, &full_name, branch, sha, "push");
    }
}

async fn create_ref(
    Extract(shared): Extract<Shared>,
    Path((owner, repo)): RepoPath,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = writer(&shared, &headers, &owner, &repo, "contents")?;
    let request = json_body(&body)?;
    let full_ref = request["ref"].as_str().ok_or_else(|| invalid("ref"))?;
    let sha = request["sha"].as_str().ok_or_else(|| invalid("sha"))?;
    let git = &state.repo_mut(&owner, &repo).git;
    if !full_ref.starts_with("refs/")
        || full_ref.matches('/').count() < 2
        || !git.valid_ref_name(full_ref)
    {
        return Err(unprocessable(format!(
            "{full_ref} is not a valid ref name."
        )));
    }
    if !is_sha(sha) || git.object_type(sha).is_none() {
        return Err(unprocessable("Object does not exist"));
    }
    if git.ref_target(full_ref).is_some() {
        return Err(unprocessable("Reference already exists"));
    }
    git.set_ref(full_ref, sha)
        .map_err(|error| unprocessable(format!("cannot create {full_ref}: {error}")))?;
    let body = ref_body(&mut state, &owner, &repo, full_ref).ok_or_else(not_found)?;
    pushed(&mut state, &shared, &owner, &repo, full_ref, sha);
    Ok(json_reply(201, body))
}

async fn update_ref(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = writer(&shared, &headers, &owner, &repo, "contents")?;
    let request = json_body(&body)?;
    let sha = request["sha"].as_str().ok_or_else(|| invalid("sha"))?;
    let force = request["force"].as_bool().unwrap_or(false);
    let full_ref = format!("refs/{name}");
    let git = &state.repo_mut(&owner, &repo).git;
    let Some(old) = git.ref_target(&full_ref) else {
        return Err(unprocessable("Reference does not exist"));
    };
    if !is_sha(sha) || git.object_type(sha).is_none() {
        return Err(unprocessable("Object does not exist"));
    }
    if !force && !git.is_ancestor(&old, sha) {
        return Err(unprocessable("Update is not a fast forward"));
    }
    git.set_ref(&full_ref, sha)
        .map_err(|error| unprocessable(format!("cannot update {full_ref}: {error}")))?;
    let body = ref_body(&mut state, &owner, &repo, &full_ref).ok_or_else(not_found)?;
    if old != sha {
        pushed(&mut state, &shared, &owner, &repo, &full_ref, sha);
    }
    Ok(json_reply(200, body))
}

async fn delete_ref(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let mut state = writer(&shared, &headers, &owner, &repo, "contents")?;
    let full_ref = format!("refs/{name}");
    let git = &state.repo_mut(&owner, &repo).git;
    if git.ref_target(&full_ref).is_none() {
        return Err(unprocessable("Reference does not exist"));
    }
    git.delete_ref(&full_ref)
        .map_err(|error| unprocessable(format!("cannot delete {full_ref}: {error}")))?;
    Ok(axum::response::IntoResponse::into_response(
        axum::http::StatusCode::NO_CONTENT,
    ))
}
