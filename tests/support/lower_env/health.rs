//! The service's HTTP health endpoint on loopback: 200 while a completed deployment serves,
//! 503 otherwise. It runs on a thread and runtime of its own (as the AWS stub does), so it
//! outlives any one test's runtime and answers the App's probes whichever runtime they use.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::support::aws_stub::serve_on_own_thread;

/// Whether the service is up right now.
pub type IsUp = Arc<dyn Fn() -> bool + Send + Sync>;

/// Starts the endpoint and returns its URL (`http://127.0.0.1:<port>/health`).
pub fn serve(service: &str, is_up: IsUp) -> String {
    let app = axum::Router::new()
        .route("/health", get(health))
        .with_state((service.to_string(), is_up));
    format!(
        "http://{}/health",
        serve_on_own_thread("lower-env-health", app)
    )
}

async fn health(State((service, is_up)): State<(String, IsUp)>) -> (StatusCode, String) {
    if is_up() {
        (StatusCode::OK, format!("ok: {service} ready"))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
                .into(),
        )
    }
}
