//! `GET compare/{base}...{head}`: what changed between two commits, computed by git from the
//! repository's real history. Both sides may be branch names or SHAs (or `owner:branch` for the
//! repository's own owner); GitHub diffs the head against the merge base, as `git diff A...B`.

use axum::Router;
use axum::extract::{Path, State as Extract};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::bodies_git;
use super::gate::{Shared, json_reply};
use super::git_diff::{FileChange, FileStatus};
use super::git_routes::{api, html};
use super::repos::Repo;
use super::request::{Reply, not_found, reader, refuse};
use super::state::Refusal;

/// GitHub lists at most this many commits, and this many files, in one comparison.
const MAX_COMMITS: usize = 250;
const MAX_FILES: usize = 300;

pub(super) fn router() -> Router<Shared> {
    Router::new().route("/repos/{owner}/{repo}/compare/{*basehead}", get(compare))
}

/// `base` or `head` of a basehead → the commit it names. `owner:` may only name this
/// repository's owner: the fake has no forks.
fn side(repository: &Repo, owner: &str, rev: &str) -> Option<String> {
    let rev = match rev.split_once(':') {
        Some((user, rev)) if user.eq_ignore_ascii_case(owner) => rev,
        Some(_) => return None,
        None => rev,
    };
    repository.commit_for(rev)
}

/// Where a comparison's pieces are linked from.
struct Links {
    base: String,
    api: String,
    html: String,
}

async fn compare(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, basehead)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let state = reader(&shared, &headers, &owner, &repo)?;
    let repository = state
        .repos
        .get(&format!("{owner}/{repo}").to_lowercase())
        .ok_or_else(not_found)?;
    let (base, head) = basehead.split_once("...").ok_or_else(not_found)?;
    let base_sha = side(repository, &owner, base).ok_or_else(not_found)?;
    let head_sha = side(repository, &owner, head).ok_or_else(not_found)?;
    let git = &repository.git;
    let merge_base = git.merge_base(&base_sha, &head_sha).ok_or_else(|| {
        refuse(Refusal::new(
            404,
            format!("No common ancestor between {base} and {head}."),
        ))
    })?;
    let links = Links {
        base: state.base_url.clone(),
        api: api(&state, &owner, &repo),
        html: html(&owner, &repo),
    };
    let commit = |sha: &str| commit_body(repository, &links, sha);
    let ahead_by = git.count_between(&base_sha, &head_sha);
    let behind_by = git.count_between(&head_sha, &base_sha);
    let status = match (ahead_by, behind_by) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    let commits = git
        .commits_between(&base_sha, &head_sha)
        .iter()
        .take(MAX_COMMITS)
        .map(|sha| commit(sha))
        .collect::<Option<Vec<Value>>>()
        .ok_or_else(not_found)?;
    let changes = git
        .diff_name_status(&merge_base, &head_sha)
        .map_err(|error| refuse(Refusal::new(500, format!("fake GitHub: {error}"))))?;
    let files: Vec<Value> = changes
        .iter()
        .take(MAX_FILES)
        .map(|change| {
            let at = if change.status == FileStatus::Removed {
                &merge_base
            } else {
                &head_sha
            };
            diff_entry(&links, at, change)
        })
        .collect();
    let html_compare = format!("{}/compare/{basehead}", links.html);
    let body = json!({
        "url": format!("{}/compare/{basehead}", links.api),
        "html_url": html_compare,
        "permalink_url": format!(
            "{}/compare/{owner}:{base_sha}...{owner}:{head_sha}",
            links.html
        ),
        "diff_url": format!("{html_compare}.diff"),
        "patch_url": format!("{html_compare}.patch"),
        "base_commit": commit(&base_sha).ok_or_else(not_found)?,
        "merge_base_commit": commit(&merge_base).ok_or_else(not_found)?,
        "status": status,
        "ahead_by": ahead_by,
        "behind_by": behind_by,
        "total_commits": ahead_by,
        "commits": commits,
        "files": files,
    });
    Ok(json_reply(200, body))
}

/// `commit` for `sha`; `None` when git has no such commit.
fn commit_body(repository: &Repo, links: &Links, sha: &str) -> Option<Value> {
    let info = repository.git.read_commit(sha)?;
    let signed = repository.signed.contains(sha);
    Some(bodies_git::rest_commit(
        &links.base,
        &links.api,
        &links.html,
        &info,
        signed,
    ))
}

/// `diff-entry` for one changed file, linked at commit `at` (the base side for a removed file).
fn diff_entry(links: &Links, at: &str, change: &FileChange) -> Value {
    let path = &change.path;
    let mut entry = json!({
        "sha": change.blob,
        "filename": path,
        "status": change.status.as_github(),
        "additions": change.additions,
        "deletions": change.deletions,
        "changes": change.additions + change.deletions,
        "blob_url": format!("{}/blob/{at}/{path}", links.html),
        "raw_url": format!("{}/raw/{at}/{path}", links.html),
        "contents_url": format!("{}/contents/{path}?ref={at}", links.api),
    });
    if let Some(previous) = &change.previous_path {
        entry["previous_filename"] = json!(previous);
    }
    entry
}
