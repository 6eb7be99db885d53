//! The HTTP face of Fixpoint (axum): webhooks in, health and metrics out, and the
//! setup page until the App is registered.

pub mod events;
pub mod listen;
pub mod metrics;
pub mod setup;
pub mod webhook;

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, mpsc, watch};

use crate::config::ServerConfig;
use crate::github::GitHubApp;
use crate::ids::AppId;
use crate::store::Store;
use crate::store::deliveries::DeliveryWriter;
use crate::worker::{JobRunEnded, WorkerPool};
use metrics::Metrics;

/// What every request handler of the registered App can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub webhook_secrets: Arc<[SecretString]>,
    pub app_id: AppId,
    /// Stores deliveries with group commit (see `store::deliveries`).
    pub deliveries: DeliveryWriter,
    /// Wakes an idle worker as soon as a job is stored, instead of waiting for its poll.
    pub jobs_ready: Arc<Notify>,
}

impl FromRef<AppState> for Store {
    fn from_ref(s: &AppState) -> Store {
        s.store.clone()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/webhooks", post(webhook::receive))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(state)
}

async fn index(State(s): State<AppState>) -> String {
    format!(
        "Fixpoint is running as GitHub App {}. Webhooks: POST /webhooks. Health: /healthz, /readyz. Metrics: /metrics.\n",
        s.app_id
    )
}

async fn readyz(State(s): State<AppState>) -> Response {
    if !s.deliveries.is_running() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the delivery writer has stopped: restart Fixpoint (its log says why)",
        )
            .into_response();
    }
    readyz_for(State(s.store)).await
}

pub(crate) async fn readyz_for(State(store): State<Store>) -> Response {
    match store.readiness().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}

async fn metrics_handler(State(s): State<AppState>) -> Response {
    let queue = s.store.queue_counts().await.ok();
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        s.metrics.render(queue, s.deliveries.stats().read()),
    )
        .into_response()
}

/// Runs the server until Ctrl-C or SIGTERM. Unregistered, it serves the setup page,
/// and switches to the registered App as soon as the manifest flow completes.
pub async fn serve(mut config: ServerConfig) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url).await?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = shutdown_tx.send(true);
    });
    if config.app.is_none() {
        let Some(creds) = run_setup(&config, store.clone(), shutdown_rx.clone()).await? else {
            return Ok(());
        };
        config.app = Some(creds);
    }
    let listener = bind(config.port).await?;
    run_app(listener, config, store, shutdown_rx).await
}

async fn bind(port: u16) -> anyhow::Result<TcpListener> {
    TcpListener::bind(("0.0.0.0", port))
        .await
        .with_context(|| format!("cannot listen on port {port}: set PORT to a free port"))
}

async fn run_setup(
    config: &ServerConfig,
    store: Store,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<crate::config::AppCredentials>> {
    let (tx, mut rx) = mpsc::channel(1);
    let listener = bind(config.port).await?;
    tracing::info!(
        port = config.port,
        "no APP_ID: serving the setup page at / to register the GitHub App"
    );
    let app = setup::router(Arc::new(config.clone()), store, tx);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    listen::serve(listener, app, listen::Limits::default(), async move {
        tokio::select! {
            creds = rx.recv() => { let _ = done_tx.send(creds); }
            _ = shutdown.wait_for(|s| *s) => {}
        }
    })
    .await;
    Ok(done_rx.await.ok().flatten())
}

/// Serves the registered App on `listener` with its worker pool until `shutdown`.
pub async fn run_app(
    listener: TcpListener,
    config: ServerConfig,
    store: Store,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let creds = config.app.clone().context("App credentials missing")?;
    let github = GitHubApp::new(&creds, &config.github_api_url)?;
    run_app_with(listener, config, store, github, shutdown).await
}

/// As `run_app`, with a GitHub client built by the caller (its retry policy, say).
pub async fn run_app_with(
    listener: TcpListener,
    config: ServerConfig,
    store: Store,
    github: GitHubApp,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    run_app_observed(listener, config, store, github, shutdown, Hooks::default()).await
}

/// What a caller adds to the App it serves; the default adds nothing.
#[derive(Default)]
pub struct Hooks {
    /// Told each time a job's run ends.
    pub observer: Option<broadcast::Sender<JobRunEnded>>,
    /// Connection limits other than the defaults (a test's short header timeout).
    pub limits: listen::Limits,
}

/// As `run_app_with`, with `hooks`.
pub async fn run_app_observed(
    listener: TcpListener,
    config: ServerConfig,
    store: Store,
    github: GitHubApp,
    shutdown: watch::Receiver<bool>,
    hooks: Hooks,
) -> anyhow::Result<()> {
    let creds = config.app.clone().context("App credentials missing")?;
    let state = AppState {
        store: store.clone(),
        metrics: Arc::default(),
        webhook_secrets: creds.webhook_secrets.clone().into(),
        app_id: creds.app_id,
        deliveries: store.delivery_writer(config.max_attempts, config.wal_restart_mib)?,
        jobs_ready: Arc::default(),
    };
    let pool = WorkerPool {
        store,
        github,
        workers: config.workers,
        lease: config.job_lease,
        max_attempts: config.max_attempts,
        jobs_ready: state.jobs_ready.clone(),
        settings: Arc::new(config.settings.clone()),
        observer: hooks.observer,
    };
    let workers = tokio::spawn(pool.run(shutdown.clone()));
    tracing::info!(addr = %listener.local_addr()?, app_id = %creds.app_id, "Fixpoint is serving webhooks");
    let mut stop = shutdown.clone();
    listen::serve(listener, router(state), hooks.limits, async move {
        let _ = stop.wait_for(|s| *s).await;
    })
    .await;
    // Workers finish their current step; an unfinished job is resumed after restart.
    let _ = workers.await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("can install a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
