//! `POST /webhooks`: the edge where GitHub's deliveries enter.
//!
//! The extractor checks, in order and before any parsing: the GitHub headers (400),
//! the content type (415), the size (413, without buffering more than the limit) and
//! the `X-Hub-Signature-256` HMAC over the raw bytes (401, constant-time compare
//! against each configured secret, so one can be rotated). Only then is the body
//! parsed into a domain event and stored; 202 is sent after the store committed.
//!
//! Until its signature is checked a body is anyone's, so the bytes held for unchecked
//! bodies, across all requests, have one budget ([`UNVERIFIED_BUDGET`]): past it a
//! request gets 503 with `Retry-After` instead of memory, and a body must arrive within
//! [`BODY_TIMEOUT`]. GitHub redelivers nothing by itself, so the budget is generous:
//! many times the largest payload GitHub sends in practice.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::BodyExt;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use tokio::sync::{Semaphore, SemaphorePermit};
use tracing::Instrument;

use super::AppState;
use super::events::{self, Action, WebhookEvent};
use crate::jobs::Job;
use crate::store::deliveries::{Delivery, Effect, Ingested};

/// GitHub caps webhook payloads at 25 MB; anything larger is not from GitHub.
pub const MAX_BODY: usize = 25 * 1024 * 1024;
/// Bytes of bodies not yet verified, held at once by all requests together.
pub const UNVERIFIED_BUDGET: usize = 64 * 1024 * 1024;
/// A body that takes longer than this to arrive is dropped (slow-loris uploads).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// What a refused sender is told to wait, in seconds.
const RETRY_AFTER_S: u64 = 5;

static UNVERIFIED: Semaphore = Semaphore::const_new(UNVERIFIED_BUDGET);

/// A delivery whose signature verified against one of the App's webhook secrets.
#[derive(Debug)]
pub struct VerifiedWebhook {
    pub event: String,
    pub delivery: String,
    pub body: Bytes,
}

#[derive(Debug)]
pub struct Rejection {
    pub status: StatusCode,
    pub message: String,
    /// The event name for metrics, when the header was readable.
    pub event: Option<String>,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            let retry = [(header::RETRY_AFTER, RETRY_AFTER_S.to_string())];
            return (self.status, retry, self.message).into_response();
        }
        (self.status, self.message).into_response()
    }
}

fn reject(status: StatusCode, event: Option<&str>, message: impl Into<String>) -> Rejection {
    Rejection {
        status,
        message: message.into(),
        event: event.map(str::to_string),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

impl FromRequest<AppState> for VerifiedWebhook {
    type Rejection = Rejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Rejection> {
        let headers = req.headers();
        let event = header_str(headers, "x-github-event").map(str::to_string);
        let ev = event.as_deref();
        let Some(delivery) = header_str(headers, "x-github-delivery").map(str::to_string) else {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                ev,
                "missing X-GitHub-Delivery header",
            ));
        };
        let Some(event) = event.clone() else {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                ev,
                "missing X-GitHub-Event header",
            ));
        };
        let signature = match header_str(headers, "x-hub-signature-256") {
            Some(s) => s.to_string(),
            None if headers.contains_key("x-hub-signature") => {
                return Err(reject(
                    StatusCode::UNAUTHORIZED,
                    ev,
                    "only a SHA-1 X-Hub-Signature was sent; Fixpoint requires X-Hub-Signature-256",
                ));
            }
            None => {
                return Err(reject(
                    StatusCode::BAD_REQUEST,
                    ev,
                    "missing X-Hub-Signature-256 header: set a webhook secret on the App",
                ));
            }
        };
        let json = header_str(headers, header::CONTENT_TYPE.as_str())
            .and_then(|ct| ct.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(reject(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ev,
                "content type must be application/json: set the App's webhook content type to JSON",
            ));
        }
        let declared = header_str(headers, header::CONTENT_LENGTH.as_str())
            .and_then(|l| l.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_BODY as u64) {
            return Err(too_large(ev));
        }
        // Held until the signature is checked, then given back.
        let (body, _held) = read_budgeted(req, declared, ev).await?;
        verify_signature(&state.webhook_secrets, &body, &signature)
            .map_err(|why| reject(StatusCode::UNAUTHORIZED, ev, why))?;
        Ok(VerifiedWebhook {
            event,
            delivery,
            body,
        })
    }
}

/// The body, read within the unverified budget and [`BODY_TIMEOUT`]; the permit for its
/// bytes comes back with it. A declared length is reserved up front, so a sender that
/// announces 24 MB is refused before a byte is read when the budget cannot hold it.
async fn read_budgeted(
    req: Request,
    declared: Option<u64>,
    ev: Option<&str>,
) -> Result<(Bytes, SemaphorePermit<'static>), Rejection> {
    let busy = || {
        reject(
            StatusCode::SERVICE_UNAVAILABLE,
            ev,
            "too many webhook bodies are being received at once; retry shortly",
        )
    };
    let reserve = |n: usize| UNVERIFIED.try_acquire_many(n as u32).map_err(|_| busy());
    // Checked against MAX_BODY above, so it fits u32.
    let mut held = reserve(declared.unwrap_or(0) as usize)?;
    let mut body = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut stream = req.into_body();
    let read = async {
        while let Some(frame) = stream.frame().await {
            let frame = frame.map_err(|e| {
                reject(
                    StatusCode::BAD_REQUEST,
                    ev,
                    format!("cannot read the body: {e}"),
                )
            })?;
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large(ev));
            }
            let beyond = (body.len() + chunk.len()).saturating_sub(held.num_permits());
            if beyond > 0 {
                held.merge(reserve(beyond)?);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(())) => Ok((Bytes::from(body), held)),
        Ok(Err(rejection)) => Err(rejection),
        Err(_) => Err(reject(
            StatusCode::REQUEST_TIMEOUT,
            ev,
            format!(
                "the body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            ),
        )),
    }
}

fn too_large(event: Option<&str>) -> Rejection {
    reject(
        StatusCode::PAYLOAD_TOO_LARGE,
        event,
        format!("body over {} MiB", MAX_BODY / (1024 * 1024)),
    )
}

/// Checks `sha256=<hex>` against every secret in constant time; the error says what
/// was wrong with the header, never anything about the secrets.
pub fn verify_signature(
    secrets: &[SecretString],
    body: &[u8],
    header_value: &str,
) -> Result<(), &'static str> {
    let hex_sig = header_value
        .strip_prefix("sha256=")
        .ok_or("X-Hub-Signature-256 must start with sha256=")?;
    let sig = hex::decode(hex_sig).map_err(|_| "X-Hub-Signature-256 is not hex")?;
    if sig.len() != 32 {
        return Err("X-Hub-Signature-256 has the wrong length for HMAC-SHA256");
    }
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .map_err(|_| "a webhook secret cannot key HMAC-SHA256")?;
        mac.update(body);
        if mac.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err("signature does not match: check that WEBHOOK_SECRET equals the App's webhook secret")
}

/// The handler: the webhook is verified by the time it runs.
pub async fn receive(
    State(state): State<AppState>,
    hook: Result<VerifiedWebhook, Rejection>,
) -> Response {
    let hook = match hook {
        Ok(hook) => hook,
        Err(rejection) => {
            state
                .metrics
                .webhook(rejection.event.as_deref().unwrap_or("unknown"), "rejected");
            tracing::warn!(status = %rejection.status, reason = %rejection.message, "webhook rejected");
            return rejection.into_response();
        }
    };
    let span = tracing::info_span!("webhook", event = %hook.event, delivery = %hook.delivery);
    handle(state, hook).instrument(span).await
}

async fn handle(state: AppState, hook: VerifiedWebhook) -> Response {
    let parsed = match events::parse(&hook.event, &hook.body, state.app_id) {
        Ok(parsed) => parsed,
        Err(e) => {
            state.metrics.webhook(&hook.event, "rejected");
            tracing::warn!(error = %e, "webhook payload rejected");
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let (effect, repo, action) = match parsed {
        WebhookEvent::Ignored { reason } => {
            state.metrics.webhook(&hook.event, "ignored");
            tracing::debug!(reason, "webhook ignored");
            return (StatusCode::OK, format!("ignored: {reason}")).into_response();
        }
        WebhookEvent::Ping => {
            state.metrics.webhook(&hook.event, "ignored");
            return (StatusCode::OK, "pong").into_response();
        }
        WebhookEvent::Refused { repo, reason } => {
            return refuse(&state, &hook, repo.to_string(), reason).await;
        }
        WebhookEvent::Act(action) => effect_of(action),
    };
    let delivery = Delivery {
        delivery_id: hook.delivery.clone(),
        event: hook.event.clone(),
        action: Some(action.to_string()),
        repo,
    };
    match state.deliveries.ingest(delivery, effect).await {
        Ok(Ingested::Accepted { job_id }) => {
            state.metrics.webhook(&hook.event, "accepted");
            if job_id.is_some() {
                state.jobs_ready.notify_one();
            }
            (StatusCode::ACCEPTED, "accepted").into_response()
        }
        Ok(Ingested::DuplicateDelivery) => {
            state.metrics.webhook(&hook.event, "duplicate");
            (StatusCode::OK, "duplicate delivery").into_response()
        }
        Ok(Ingested::DuplicateJob { job_id }) => {
            state.metrics.webhook(&hook.event, "duplicate");
            (StatusCode::OK, format!("already queued as job {job_id}")).into_response()
        }
        Err(e) => not_stored(&state, &hook, &e),
    }
}

/// Not stored: a 5xx makes GitHub count the delivery as failed so it can be redelivered.
fn not_stored(state: &AppState, hook: &VerifiedWebhook, e: &anyhow::Error) -> Response {
    state.metrics.webhook(&hook.event, "failed");
    tracing::error!(error = format!("{e:#}"), "cannot store webhook");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "cannot store the delivery; redeliver it",
    )
        .into_response()
}

/// Stores a refused delivery with its reason, then answers as for an ignored one (200: it
/// was received; retrying changes nothing).
async fn refuse(
    state: &AppState,
    hook: &VerifiedWebhook,
    repo: String,
    reason: &'static str,
) -> Response {
    tracing::info!(reason, repo, "webhook refused");
    let delivery = Delivery {
        delivery_id: hook.delivery.clone(),
        event: hook.event.clone(),
        action: None,
        repo: Some(repo),
    };
    match state
        .deliveries
        .ingest(delivery, Effect::Refused { reason })
        .await
    {
        Ok(_) => {
            state.metrics.webhook(&hook.event, "ignored");
            (StatusCode::OK, format!("ignored: {reason}")).into_response()
        }
        Err(e) => not_stored(state, hook, &e),
    }
}

fn effect_of(action: Action) -> (Effect, Option<String>, &'static str) {
    let (job, repo, action) = match action {
        Action::FailedRun(run) => {
            let repo = run.repo.to_string();
            (Job::WorkflowRun(run), repo, "completed")
        }
        Action::LoopRun(run) => {
            let repo = run.repo.to_string();
            (Job::LoopProgress(run), repo, "completed")
        }
        Action::PrCommand(cmd) => {
            let repo = cmd.repo.to_string();
            (Job::PrCommand(cmd), repo, "created")
        }
        Action::Installation { change, action } => {
            return (Effect::Installation(change), None, action);
        }
    };
    (Effect::Job(job.row()), Some(repo), action)
}
