//! What every endpoint does with a request first: authorize it and lock the state, read its JSON
//! body and paging, and refuse it the way GitHub does.

use std::collections::HashMap;
use std::sync::MutexGuard;

use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::Value;

use super::bodies;
use super::gate::{Shared, json_reply, lock};
use super::state::{Refusal, State};

pub(super) type Reply = Result<Response, Response>;

pub(super) fn refuse(refusal: Refusal) -> Response {
    json_reply(
        refusal.status,
        bodies::error(refusal.status, &refusal.message),
    )
}

pub(super) fn not_found() -> Response {
    refuse(Refusal::new(404, "Not Found"))
}

pub(super) fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
}

/// A numeric path parameter; GitHub answers 404 for anything else.
// The error is the handler's finished response: boxing it would only add noise.
#[allow(clippy::result_large_err)]
pub(super) fn number(text: &str) -> Result<u64, Response> {
    text.parse().map_err(|_| not_found())
}

/// Locks the state for a request that reads `owner/repo`, once its token may see it.
#[allow(clippy::result_large_err)]
pub(super) fn reader<'a>(
    shared: &'a Shared,
    headers: &HeaderMap,
    owner: &str,
    repo: &str,
) -> Result<MutexGuard<'a, State>, Response> {
    let state = lock(shared);
    state
        .authorize_repo(authorization(headers), owner, repo)
        .map_err(refuse)?;
    Ok(state)
}

/// Locks the state for a request that writes to `owner/repo` with `permission: write`.
#[allow(clippy::result_large_err)]
pub(super) fn writer<'a>(
    shared: &'a Shared,
    headers: &HeaderMap,
    owner: &str,
    repo: &str,
    permission: &str,
) -> Result<MutexGuard<'a, State>, Response> {
    let state = lock(shared);
    state
        .authorize_write(authorization(headers), owner, repo, permission)
        .map_err(refuse)?;
    Ok(state)
}

/// `per_page` (default 30, at most 100) and `page` (from 1) of a list request.
pub(super) fn paging(query: &HashMap<String, String>) -> (usize, usize) {
    let per_page = query
        .get("per_page")
        .and_then(|n| n.parse().ok())
        .unwrap_or(30usize)
        .clamp(1, 100);
    let page = query
        .get("page")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    (per_page, page)
}

/// A JSON request body; GitHub answers 400 "Problems parsing JSON" to anything else.
#[allow(clippy::result_large_err)]
pub(super) fn json_body(body: &[u8]) -> Result<Value, Response> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|_| refuse(Refusal::new(400, "Problems parsing JSON")))
}

/// GitHub's 422 for a request field that is missing or of the wrong type.
pub(super) fn invalid(field: &str) -> Response {
    refuse(Refusal::new(
        422,
        format!("Invalid request: `{field}` is missing or has the wrong type."),
    ))
}
