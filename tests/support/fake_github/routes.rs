//! The endpoints the fake serves, at the root like api.github.com.

use std::collections::{BTreeMap, HashMap};
use std::sync::MutexGuard;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::bodies;
use super::downloads;
use super::gate::{self, Shared, json_reply, lock};
use super::model::{Job, ManifestConversion};
use super::request::{
    Reply, authorization, invalid, json_body, not_found, number, paging, reader, refuse,
};
use super::state::Refusal;

pub(super) fn router(shared: Shared) -> Router {
    let runs = "/repos/{owner}/{repo}/actions/runs/{run_id}";
    Router::new()
        .route("/app", get(get_app))
        .route(
            "/app/installations/{installation_id}/access_tokens",
            post(create_token),
        )
        .route("/app-manifests/{code}/conversions", post(convert_manifest))
        .route("/repos/{owner}/{repo}/contents/{*path}", get(get_content))
        .route(runs, get(get_run))
        .route(&format!("{runs}/jobs"), get(list_jobs))
        .route(
            &format!("{runs}/attempts/{{attempt_number}}/jobs"),
            get(list_attempt_jobs),
        )
        .route(&format!("{runs}/logs"), get(run_logs))
        .route(
            &format!("{runs}/attempts/{{attempt_number}}/logs"),
            get(run_attempt_logs),
        )
        .route(
            "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs",
            get(job_logs),
        )
        .route(
            "/_downloads/jobs/{owner}/{repo}/{job_id}",
            get(downloads::job_log),
        )
        .route(
            "/_downloads/runs/{owner}/{repo}/{run_id}",
            get(downloads::run_logs),
        )
        .route(
            "/_downloads/raw/{owner}/{repo}/{git_ref}/{*path}",
            get(downloads::raw_file),
        )
        .merge(super::git_routes::router())
        .merge(super::refs_routes::router())
        .merge(super::pulls_routes::router())
        .merge(super::issues_routes::router())
        .merge(super::checks_routes::router())
        .merge(super::compare_routes::router())
        .fallback(gate::unserved)
        .method_not_allowed_fallback(gate::unserved)
        .layer(from_fn_with_state(shared.clone(), gate::honesty_gate))
        .layer(from_fn_with_state(shared.clone(), gate::inject_faults))
        .layer(from_fn_with_state(shared.clone(), gate::record_request))
        .with_state(shared)
}

fn redirect(location: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

async fn get_app(Extract(shared): Extract<Shared>, headers: HeaderMap) -> Reply {
    let mut state = lock(&shared);
    state
        .authenticate_app(authorization(&headers))
        .map_err(refuse)?;
    Ok(json_reply(
        200,
        bodies::integration(&state.base_url, &state.app, &state.app.owner),
    ))
}

async fn create_token(
    Extract(shared): Extract<Shared>,
    Path(installation_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = lock(&shared);
    state
        .authenticate_app(authorization(&headers))
        .map_err(refuse)?;
    let installation_id = number(&installation_id)?;
    let request = json_body(&body)?;
    let repositories = match &request["repositories"] {
        Value::Null => None,
        value => Some(
            serde_json::from_value::<Vec<String>>(value.clone())
                .map_err(|_| invalid("repositories"))?,
        ),
    };
    if request["repository_ids"]
        .as_array()
        .is_some_and(|ids| !ids.is_empty())
    {
        // The fake tracks repositories by name only: refuse loudly rather than ignore the narrowing.
        return Err(refuse(Refusal::new(
            422,
            "fake GitHub: narrow by `repositories`, not `repository_ids`",
        )));
    }
    let permissions = match &request["permissions"] {
        Value::Null => None,
        value => Some(
            serde_json::from_value::<BTreeMap<String, String>>(value.clone())
                .map_err(|_| invalid("permissions"))?,
        ),
    };
    let mint = state
        .mint_token(installation_id, repositories, permissions)
        .map_err(refuse)?;
    let selection = state.repository_selection(&mint);
    Ok(json_reply(
        201,
        bodies::installation_token(&mint, selection),
    ))
}

async fn convert_manifest(Extract(shared): Extract<Shared>, Path(code): Path<String>) -> Reply {
    let mut state = lock(&shared);
    // Codes are single-use, like GitHub's.
    if !state.manifest_codes.remove(&code) {
        return Err(not_found());
    }
    let mut body = bodies::integration(&state.base_url, &state.app, &state.app.owner);
    let client_id = body["client_id"].as_str().unwrap_or_default().to_string();
    let webhook_secret = super::auth::random_alphanumeric(40);
    body["client_secret"] = Value::from(super::auth::random_alphanumeric(40));
    body["webhook_secret"] = Value::from(webhook_secret.clone());
    body["pem"] = Value::from(state.app.keys.private_pem.clone());
    let app_id = state.app.id;
    state.conversions.push(ManifestConversion {
        code,
        app_id,
        client_id,
        webhook_secret,
    });
    Ok(json_reply(201, body))
}

async fn get_content(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, path)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Reply {
    let state = reader(&shared, &headers, &owner, &repo)?;
    let git_ref = query.get("ref").map(String::as_str);
    let shown_ref = git_ref.unwrap_or("main");
    let Some((sha, bytes)) = state.file(&owner, &repo, git_ref, &path) else {
        // Not a file: a directory lists its entries, anything else is 404.
        let entries = state
            .repos
            .get(&format!("{owner}/{repo}").to_lowercase())
            .and_then(|repository| repository.dir(git_ref, &path))
            .ok_or_else(not_found)?;
        let body = super::bodies_git::content_directory(
            &state.base_url,
            &owner,
            &repo,
            shown_ref,
            &entries,
            path.trim_matches('/'),
        );
        return Ok(json_reply(200, body));
    };
    Ok(json_reply(
        200,
        bodies::content_file(
            &state.base_url,
            &owner,
            &repo,
            shown_ref,
            &path,
            &sha,
            &bytes,
        ),
    ))
}

async fn get_run(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, run_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let state = reader(&shared, &headers, &owner, &repo)?;
    let run = state
        .run(&owner, &repo, number(&run_id)?)
        .ok_or_else(not_found)?;
    Ok(json_reply(
        200,
        bodies::workflow_run(&state.base_url, &owner, &repo, run),
    ))
}

async fn list_jobs(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, run_id)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Reply {
    let state = reader(&shared, &headers, &owner, &repo)?;
    let run = state
        .run(&owner, &repo, number(&run_id)?)
        .ok_or_else(not_found)?;
    let all = query.get("filter").is_some_and(|filter| filter == "all");
    let jobs: Vec<&Job> = run
        .jobs
        .iter()
        .filter(|job| all || job.run_attempt == run.run_attempt)
        .collect();
    let path = format!("/repos/{owner}/{repo}/actions/runs/{}/jobs", run.id);
    Ok(page_of_jobs(
        &state.base_url,
        &path,
        &query,
        &owner,
        &repo,
        run,
        &jobs,
    ))
}

async fn list_attempt_jobs(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, run_id, attempt)): Path<(String, String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Reply {
    let state = reader(&shared, &headers, &owner, &repo)?;
    let run = state
        .run(&owner, &repo, number(&run_id)?)
        .ok_or_else(not_found)?;
    let attempt = number(&attempt)?;
    if attempt == 0 || attempt > u64::from(run.run_attempt) {
        return Err(not_found());
    }
    let jobs: Vec<&Job> = run
        .jobs
        .iter()
        .filter(|job| u64::from(job.run_attempt) == attempt)
        .collect();
    let path = format!(
        "/repos/{owner}/{repo}/actions/runs/{}/attempts/{attempt}/jobs",
        run.id
    );
    Ok(page_of_jobs(
        &state.base_url,
        &path,
        &query,
        &owner,
        &repo,
        run,
        &jobs,
    ))
}

/// `{total_count, jobs}` for `page`/`per_page` (default 30, at most 100), with GitHub's `Link`.
fn page_of_jobs(
    base: &str,
    path: &str,
    query: &HashMap<String, String>,
    owner: &str,
    repo: &str,
    run: &super::model::WorkflowRun,
    jobs: &[&Job],
) -> Response {
    let (per_page, page) = paging(query);
    let last = jobs.len().div_ceil(per_page).max(1);
    let shown: Vec<Value> = jobs
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|job| bodies::job(base, owner, repo, run, job))
        .collect();
    let body = serde_json::json!({ "total_count": jobs.len(), "jobs": shown });
    let mut response = json_reply(200, body);
    let filter = query
        .get("filter")
        .map(|f| format!("filter={f}&"))
        .unwrap_or_default();
    let link = |n: usize, rel: &str| {
        format!("<{base}{path}?{filter}per_page={per_page}&page={n}>; rel=\"{rel}\"")
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
        links.push(link(1, "first"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if !links.is_empty() {
        let value = links.join(", ").parse().expect("a valid Link header");
        response.headers_mut().insert(header::LINK, value);
    }
    response
}

async fn job_logs(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, job_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let state = reader(&shared, &headers, &owner, &repo)?;
    let job_id = number(&job_id)?;
    state.job(&owner, &repo, job_id).ok_or_else(not_found)?;
    Ok(redirect(format!(
        "{}/_downloads/jobs/{owner}/{repo}/{job_id}",
        state.base_url
    )))
}

async fn run_logs(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, run_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let state = reader(&shared, &headers, &owner, &repo)?;
    let run_id = number(&run_id)?;
    state.run(&owner, &repo, run_id).ok_or_else(not_found)?;
    Ok(redirect(format!(
        "{}/_downloads/runs/{owner}/{repo}/{run_id}",
        state.base_url
    )))
}

/// The archive of one attempt; the fake keeps logs for the latest attempt only.
async fn run_attempt_logs(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, run_id, attempt)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let state = reader(&shared, &headers, &owner, &repo)?;
    let run_id = number(&run_id)?;
    let attempt = number(&attempt)?;
    let run = state.run(&owner, &repo, run_id).ok_or_else(not_found)?;
    if u64::from(run.run_attempt) != attempt {
        return Err(not_found());
    }
    Ok(redirect(format!(
        "{}/_downloads/runs/{owner}/{repo}/{run_id}",
        state.base_url
    )))
}
