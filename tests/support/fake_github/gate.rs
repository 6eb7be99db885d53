//! The layers around every endpoint: the request log (outermost), fault injection, and the
//! honesty gate that validates each response against GitHub's OpenAPI description.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State as Extract};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::super::openapi::OpenApi;
use super::auth;
use super::bodies;
use super::model::RequestRecord;
use super::state::State;

pub(super) type Shared = Arc<Mutex<State>>;

pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks a response that an injected fault produced, for the request log.
#[derive(Clone, Copy)]
struct InjectedFault;

/// Marks the answer to a route or method the fake does not serve (already a violation).
#[derive(Clone, Copy)]
struct Unserved;

pub(super) fn json_reply(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).expect("a valid HTTP status");
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

pub(super) async fn record_request(
    Extract(shared): Extract<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let at = Instant::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let auth = auth::classify(authorization);
    let response = next.run(request).await;
    let injected_fault = response.extensions().get::<InjectedFault>().is_some();
    let status = response.status().as_u16();
    lock(&shared).requests.push(RequestRecord {
        method,
        path,
        query,
        auth,
        at,
        status,
        injected_fault,
    });
    response
}

pub(super) async fn inject_faults(
    Extract(shared): Extract<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let stall = lock(&shared).take_stall(request.method().as_str(), request.uri().path());
    if let Some(delay) = stall {
        tokio::time::sleep(delay).await;
    }
    let fault = lock(&shared).take_fault(request.method().as_str(), request.uri().path());
    let Some((status, headers)) = fault else {
        return next.run(request).await;
    };
    let rate_limited = headers
        .iter()
        .any(|(name, value)| name.eq_ignore_ascii_case("x-ratelimit-remaining") && value == "0");
    let message = match status {
        403 | 429 if rate_limited => "API rate limit exceeded for installation.",
        403 | 429 => {
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        }
        401 => "Bad credentials",
        404 => "Not Found",
        500..=599 => "Server Error",
        _ => StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error"),
    };
    let mut response = json_reply(status, bodies::error(status, message));
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
        let value = HeaderValue::from_str(&value).expect("a valid header value");
        response.headers_mut().insert(name, value);
    }
    response.extensions_mut().insert(InjectedFault);
    response
}

/// Lets a response out only if GitHub documents it for the matched operation; otherwise records
/// the violation and answers 500 with it. Undocumented error statuses (GitHub's description
/// omits most 401s and 404s) must still have GitHub's `basic-error` shape.
pub(super) async fn honesty_gate(
    Extract(shared): Extract<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let Some(template) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
    else {
        return next.run(request).await;
    };
    // Blob downloads are not the API; GraphQL is not in the REST description (checked by hand).
    if template.starts_with("/_downloads/") || template == "/graphql" {
        return next.run(request).await;
    }
    let method = request.method().as_str().to_lowercase();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    if response.extensions().get::<Unserved>().is_some() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let status = parts.status.as_u16();
    let what = format!("{} {path} → {status}", method.to_uppercase());

    let mut json: Option<Value> = None;
    let mut verdict = Ok(());
    if !bytes.is_empty() {
        match serde_json::from_slice(&bytes) {
            Ok(value) => json = Some(value),
            Err(error) => verdict = Err(format!("{what}: the body is not JSON ({error})")),
        }
    }
    let rewrite = lock(&shared).take_corruption(&method, &path);
    if let (Some(body), Some(rewrite)) = (json.as_mut(), rewrite) {
        rewrite(body);
    }
    if verdict.is_ok() {
        verdict =
            check(&method, &template, status, json.as_ref()).map_err(|e| format!("{what}: {e}"));
    }
    match verdict {
        Ok(()) => {
            let bytes = match json {
                Some(value) => value.to_string().into_bytes(),
                None => bytes.to_vec(),
            };
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(violation) => {
            lock(&shared).violations.push(violation.clone());
            let message =
                format!("fake GitHub refused to send a response GitHub would not: {violation}");
            json_reply(500, bodies::error(500, &message))
        }
    }
}

fn check(method: &str, template: &str, status: u16, body: Option<&Value>) -> Result<(), String> {
    let openapi = OpenApi::load();
    let documented = openapi.documented_statuses(method, template)?;
    if status >= 400 && !documented.contains(&status) {
        let body = body.ok_or("an error response needs GitHub's error body")?;
        return openapi
            .validate_component("basic-error", body)
            .map_err(|e| format!("undocumented error status, so checked as basic-error: {e}"));
    }
    let verdict = openapi.validate(method, template, status, body);
    // Some errors are documented by status alone (e.g. request-reviewers' 422); GitHub still
    // sends its error body with them, so that is what such a body must be.
    match (verdict, body) {
        (Err(problem), Some(body))
            if status >= 400 && problem.contains("documents no JSON body") =>
        {
            openapi
                .validate_component("basic-error", body)
                .map_err(|e| {
                    format!(
                        "error status documented without a body, so checked as basic-error: {e}"
                    )
                })
        }
        (verdict, _) => verdict,
    }
}

/// Routes (or methods) the fake does not implement: a gap in the fake, so it fails the test loudly.
pub(super) async fn unserved(Extract(shared): Extract<Shared>, request: Request) -> Response {
    let violation = format!(
        "fake GitHub does not serve {} {}: add the endpoint to tests/support/fake_github",
        request.method(),
        request.uri().path()
    );
    lock(&shared).violations.push(violation);
    let mut response = json_reply(404, bodies::error(404, "Not Found"));
    response.extensions_mut().insert(Unserved);
    response
}
