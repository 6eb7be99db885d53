//! `POST /webhooks`: the edge where GitHub's deliveries enter.
//!
//! The extractor checks, in order and before any parsing: the GitHub headers (400),
//! the content type (415), the size (413, without buffering more than the limit) and
//! the `X-Hub-Signature-256` HMAC over the raw bytes (401, constant-time compare
//! against each configured secret, so one can be rotated). Only then is the body
//! parsed into a domain event and stored; 202 is sent after the store committed.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use tracing::Instrument;

use super::AppState;
use super::events::{self, Action, WebhookEvent};
use crate::jobs::Job;
use crate::store::deliveries::{Delivery, Effect, Ingested};

/// GitHub caps webhook payloads at 25 MB; anything larger is not from GitHub.
pub const MAX_BODY: usize = 25 * 1024 * 1024;

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
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large(ev)),
            Err(e) => {
                return Err(reject(
                    StatusCode::BAD_REQUEST,
                    ev,
                    format!("cannot read the body: {e}"),
                ));
            }
        };
        verify_signature(&state.webhook_secrets, &body, &signature)
            .map_err(|why| reject(StatusCode::UNAUTHORIZED, ev, why))?;
        Ok(VerifiedWebhook {
            event,
            delivery,
            body,
        })
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
        Err(e) => {
            // Not stored: a 5xx makes GitHub count the delivery as failed so it can be redelivered.
            state.metrics.webhook(&hook.event, "failed");
            tracing::error!(error = format!("{e:#}"), "cannot store webhook");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot store the delivery; redeliver it",
            )
                .into_response()
        }
    }
}

fn effect_of(action: Action) -> (Effect, Option<String>, &'static str) {
    let (job, action) = match action {
        Action::FailedRun(run) => (Job::WorkflowRun(run), "completed"),
        Action::LoopRun(run) => (Job::LoopProgress(run), "completed"),
        Action::PrCommand(cmd) => (Job::PrCommand(cmd), "created"),
        Action::Installation { change, action } => {
            return (Effect::Installation(change), None, action);
        }
    };
    let repo = match &job {
        Job::WorkflowRun(run) | Job::LoopProgress(run) => run.repo.to_string(),
        Job::PrCommand(cmd) => cmd.repo.to_string(),
    };
    (Effect::Job(job.row()), Some(repo), action)
}
