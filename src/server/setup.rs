//! Registration for a newcomer: GitHub's App manifest flow, as Probot does it.
//!
//! `GET /` shows a form that posts `app-manifest.yml` (with this server's public URL
//! filled in) to GitHub, for a personal account or an organization. GitHub redirects
//! back to `/setup/callback?code=…&state=…`; the code is exchanged at
//! `POST /app-manifests/{code}/conversions` and APP_ID, PRIVATE_KEY and WEBHOOK_SECRET
//! are written to `.env` (mode 0600). The server then switches to the registered App.
//!
//! Whoever completes the registration owns the App, so the page is not for anyone who can
//! reach the port: at start the server prints a one-time setup URL with a random token to
//! its log (as Jenkins prints its first-run password), and `/` without that token only
//! says where to find it. The `state` GitHub brings back to the callback is handed out only
//! with the form, so the callback is refused without the token too.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::ExposeSecret;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::config::{AppCredentials, ServerConfig};
use crate::github::ManifestConversion;
use crate::ids::AppId;
use crate::store::Store;

const MANIFEST: &str = include_str!("../../app-manifest.yml");

#[derive(Clone)]
struct SetupState {
    config: Arc<ServerConfig>,
    store: Store,
    /// `state` values handed to GitHub; a callback must bring one back (CSRF).
    states: Arc<Mutex<HashSet<String>>>,
    registered: mpsc::Sender<AppCredentials>,
    /// The one-time token from the log that opens the page.
    token: Arc<str>,
}

/// The setup router; a registration is sent on `registered`.
pub fn router(
    config: Arc<ServerConfig>,
    store: Store,
    registered: mpsc::Sender<AppCredentials>,
) -> Router {
    let token: Arc<str> = random_hex(16).into();
    let base = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://localhost:{}", config.port));
    tracing::warn!(
        "setup: open {base}/?setup_token={token} to register the GitHub App (one-time URL; keep it private)"
    );
    Router::new()
        .route("/", get(page))
        .route("/setup/callback", get(callback))
        .route("/webhooks", post(not_registered))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(super::readyz_for))
        .with_state(SetupState {
            config,
            store,
            states: Arc::default(),
            registered,
            token,
        })
}

impl axum::extract::FromRef<SetupState> for Store {
    fn from_ref(s: &SetupState) -> Store {
        s.store.clone()
    }
}

async fn not_registered() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Fixpoint is not registered yet: open this server's / page to register the App",
    )
        .into_response()
}

/// The manifest as JSON with this server's URLs filled in.
pub fn manifest_json(public_url: &str) -> serde_json::Value {
    let mut m: serde_json::Value =
        serde_yaml_ng::from_str(MANIFEST).expect("app-manifest.yml is valid YAML (tested)");
    let base = public_url.trim_end_matches('/');
    m["url"] = base.into();
    m["hook_attributes"]["url"] = format!("{base}/webhooks").into();
    m["redirect_url"] = format!("{base}/setup/callback").into();
    m
}

#[derive(Deserialize)]
struct PageQuery {
    setup_token: Option<String>,
}

/// Constant time: the token is a password.
fn token_matches(given: &str, token: &str) -> bool {
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn page(State(s): State<SetupState>, Query(q): Query<PageQuery>) -> Response {
    if !q
        .setup_token
        .as_deref()
        .is_some_and(|t| token_matches(t, &s.token))
    {
        return error_page(
            StatusCode::FORBIDDEN,
            "Registering the App needs the one-time setup URL this server printed to its log at start              (the line starting `setup: open`). Open that URL; whoever completes the registration owns the App.",
        );
    }
    let Some(public_url) = s.config.public_url.clone() else {
        return Html(format!(
            "{HEAD}<h1>Fixpoint setup</h1><p>Set <code>PUBLIC_URL</code> to the address GitHub \
             can reach this server at (for example <code>https://fixpoint.example.com</code>, or a \
             tunnel to <code>http://localhost:{}</code>) and restart: the App's webhook URL is \
             built from it.</p>{FOOT}",
            s.config.port
        ))
        .into_response();
    };
    let state = random_hex(16);
    s.states
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(state.clone());
    let manifest = escape(&manifest_json(&public_url).to_string());
    let web = escape(&s.config.github_web_url);
    Html(format!(
        r#"{HEAD}<h1>Register Fixpoint as a GitHub App</h1>
<p>Fixpoint turns a red deploy into a reviewed fix. Register it once; GitHub then shows
you where to install it. The App asks for: actions, checks and metadata read; contents,
pull requests and issues write. No workflows permission.</p>
<h2>On your personal account</h2>
<form action="{web}/settings/apps/new?state={state}" method="post">
<input type="hidden" name="manifest" value="{manifest}">
<button type="submit">Register on my account</button></form>
<h2>On an organization</h2>
<form id="org" action="{web}/organizations/ORG/settings/apps/new?state={state}" method="post"
 onsubmit="this.action=this.action.replace('/ORG/','/'+encodeURIComponent(this.org.value)+'/')">
<input name="org" placeholder="organization login" required pattern="[A-Za-z0-9-]+">
<input type="hidden" name="manifest" value="{manifest}">
<button type="submit">Register on the organization</button></form>
<p>Webhooks will be sent to <code>{hook}</code>.</p>{FOOT}"#,
        hook = escape(&format!("{public_url}/webhooks")),
    ))
    .into_response()
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

async fn callback(State(s): State<SetupState>, Query(q): Query<Callback>) -> Response {
    let Some(code) = q
        .code
        .filter(|c| c.chars().all(|ch| ch.is_ascii_alphanumeric()) && !c.is_empty())
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "GitHub did not send a registration code: start again from this server's / page.",
        );
    };
    let known = q.state.as_ref().is_some_and(|st| {
        s.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(st)
    });
    if !known {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This registration was not started here (unknown state): start again from this server's / page.",
        );
    }
    let conversion = match crate::github::convert_manifest(&s.config.github_api_url, &code).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "manifest conversion failed");
            return error_page(
                StatusCode::BAD_GATEWAY,
                &format!(
                    "GitHub refused the registration code ({e}). Codes expire after an hour: start again from /."
                ),
            );
        }
    };
    if let Err(e) = write_env_file(&s.config.env_file, &conversion) {
        tracing::error!(error = format!("{e:#}"), "cannot write .env");
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "Registered, but cannot write {}: {e}. Set APP_ID={} and the key and secret from the App's settings page by hand.",
                s.config.env_file.display(),
                conversion.id
            ),
        );
    }
    let creds = AppCredentials {
        app_id: AppId(conversion.id),
        private_key: conversion.pem.clone(),
        webhook_secrets: vec![conversion.webhook_secret.clone()],
    };
    let install = format!(
        "{}/installations/new",
        conversion.html_url.trim_end_matches('/')
    );
    let page = format!(
        r#"{HEAD}<h1>Fixpoint is registered</h1>
<p>GitHub App <strong>{name}</strong> (ID {id}) was created. Its ID, private key and webhook
secret are saved in <code>{env}</code> (readable by this user only).</p>
<p><a href="{install}">Install the App</a> on the repositories whose deploys it should watch,
then add <code>.github/fixpoint.yml</code> to each (see docs/fixpoint.example.yml).</p>
<p>This server now runs with the new credentials; no restart is needed.</p>{FOOT}"#,
        name = escape(&conversion.name),
        id = conversion.id,
        env = escape(&s.config.env_file.display().to_string()),
        install = escape(&install),
    );
    if s.registered.send(creds).await.is_err() {
        tracing::warn!("server is shutting down; restart it to use the new credentials");
    }
    Html(page).into_response()
}

/// Replaces any earlier App credentials in `.env`, keeping the other lines, and makes
/// the file readable by its owner only.
pub fn write_env_file(path: &Path, c: &ManifestConversion) -> anyhow::Result<()> {
    const OURS: &[&str] = &[
        "APP_ID",
        "PRIVATE_KEY",
        "PRIVATE_KEY_PATH",
        "WEBHOOK_SECRET",
    ];
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    // An entry may span lines (a double-quoted PEM): keep or drop it whole.
    let mut out = String::new();
    let mut keep = true;
    let mut open_quote: Option<char> = None;
    for line in existing.lines() {
        if let Some(quote) = open_quote {
            if closes(line, quote) {
                open_quote = None;
            }
        } else {
            let entry = line.trim_start();
            let entry = entry.strip_prefix("export ").unwrap_or(entry);
            match entry.split_once('=') {
                Some((key, value)) if !entry.starts_with('#') => {
                    keep = !OURS.contains(&key.trim());
                    let value = value.trim_start();
                    open_quote = value
                        .chars()
                        .next()
                        .filter(|&q| q == '"' || q == '\'')
                        .filter(|&q| !closes(&value[1..], q));
                }
                _ => keep = true,
            }
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&format!("APP_ID={}\n", c.id));
    out.push_str(&format!(
        "PRIVATE_KEY=\"{}\"\n",
        quote(c.pem.expose_secret())
    ));
    out.push_str(&format!(
        "WEBHOOK_SECRET=\"{}\"\n",
        quote(c.webhook_secret.expose_secret())
    ));
    let tmp: PathBuf = path.with_extension("tmp");
    {
        let mut f = open_private(&tmp)?;
        f.write_all(out.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

/// Whether `text` holds the closing `quote` of a dotenv value (`\"` does not close `"`).
fn closes(text: &str, quote: char) -> bool {
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quote == '"' {
            escaped = true;
        } else if c == quote {
            return true;
        }
    }
    false
}

/// Escapes for a double-quoted dotenv value (newlines become `\n`).
fn quote(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('$', "\\$")
        .replace('\n', "\\n")
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(format!(
            "{HEAD}<h1>Fixpoint setup</h1><p>{}</p>{FOOT}",
            escape(message)
        )),
    )
        .into_response()
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    hex::encode(buf)
}

const HEAD: &str = "<!doctype html><html lang=en><meta charset=utf-8><title>Fixpoint setup</title><body style=\"font-family:system-ui;max-width:44rem;margin:2rem auto\">";
const FOOT: &str = "</body></html>";
