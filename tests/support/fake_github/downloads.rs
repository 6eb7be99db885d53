//! Where the API's redirects lead: stand-ins for GitHub's signed blob-storage URLs (no auth, not
//! part of the API, so not checked against the OpenAPI description).

use axum::extract::{Path, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::gate::{Shared, lock};
use super::logs;

fn download(content_type: &'static str, bytes: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        bytes,
    )
        .into_response()
}

fn download_missing() -> Response {
    (StatusCode::NOT_FOUND, "The specified blob does not exist.").into_response()
}

pub(super) async fn job_log(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, job_id)): Path<(String, String, String)>,
) -> Response {
    let state = lock(&shared);
    let job = job_id
        .parse()
        .ok()
        .and_then(|id| state.job(&owner, &repo, id));
    match job {
        Some((_, job)) => download(
            "text/plain; charset=utf-8",
            logs::job_text(job).into_bytes(),
        ),
        None => download_missing(),
    }
}

pub(super) async fn run_logs(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, run_id)): Path<(String, String, String)>,
) -> Response {
    let state = lock(&shared);
    match run_id
        .parse()
        .ok()
        .and_then(|id| state.run(&owner, &repo, id))
    {
        Some(run) => download("application/zip", logs::run_archive(run)),
        None => download_missing(),
    }
}

pub(super) async fn raw_file(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, git_ref, path)): Path<(String, String, String, String)>,
) -> Response {
    let state = lock(&shared);
    match state.file(&owner, &repo, Some(&git_ref), &path) {
        Some((_, bytes)) => download("text/plain; charset=utf-8", bytes),
        None => download_missing(),
    }
}
