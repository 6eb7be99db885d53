//! One request to the model and its answer's text, in either wire format, within the timeout.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::Value;

use super::{KeyHeader, ModelConfig, Provider};
use super::{anthropic, openai};
use crate::redact::redact;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// A turn of the conversation after the system message.
#[derive(Debug, Clone)]
pub(crate) struct Turn {
    pub(crate) role: Role,
    pub(crate) content: String,
}

impl Turn {
    pub(crate) fn user(content: impl Into<String>) -> Self {
        Turn {
            role: Role::User,
            content: content.into(),
        }
    }

    pub(crate) fn assistant(content: impl Into<String>) -> Self {
        Turn {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// Why no answer came back; each reads as the start of the diagnosis note.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ModelError {
    #[error("model timed out after {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("model request failed: HTTP {status}{}", .message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Status {
        status: u16,
        message: Option<String>,
    },
    #[error("model request failed: {0}")]
    Transport(String),
    #[error("model response was not as the provider documents it: {0}")]
    Shape(String),
}

pub(crate) fn client(config: &ModelConfig) -> Result<reqwest::Client, ModelError> {
    reqwest::Client::builder()
        // The whole exchange is bounded in `ask`; this only stops a connect that hangs.
        .connect_timeout(config.timeout)
        .user_agent(concat!("fixpoint/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ModelError::Transport(format!("cannot build the HTTP client: {e}")))
}

/// Sends the conversation and returns the answer's text. Every message is redacted once
/// more here, whatever built it: nothing reaches the provider unredacted.
pub(crate) async fn ask(
    client: &reqwest::Client,
    config: &ModelConfig,
    system: &str,
    turns: &[Turn],
) -> Result<String, ModelError> {
    let system = redact(system);
    let turns: Vec<Turn> = turns
        .iter()
        .map(|t| Turn {
            role: t.role,
            content: redact(&t.content).into_owned(),
        })
        .collect();
    let body = match config.provider {
        Provider::OpenAi => openai::request_body(config, &system, &turns),
        Provider::Anthropic => anthropic::request_body(config, &system, &turns),
    };
    let request = client
        .post(config.endpoint())
        .headers(headers(config)?)
        .json(&body);
    let exchange = async {
        let failed = |e| transport(e, config.timeout);
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(failed)?;
        Ok::<_, ModelError>((status, bytes))
    };
    let (status, bytes) = tokio::time::timeout(config.timeout, exchange)
        .await
        .map_err(|_| ModelError::Timeout(config.timeout))??;
    let json: Option<Value> = serde_json::from_slice(&bytes).ok();
    if !status.is_success() {
        // Both providers put the reason at `error.message`.
        let message = json
            .as_ref()
            .and_then(|j| j.pointer("/error/message"))
            .and_then(Value::as_str)
            .map(|m| redact(&m.chars().take(200).collect::<String>()).into_owned());
        return Err(ModelError::Status {
            status: status.as_u16(),
            message,
        });
    }
    let json = json.ok_or_else(|| ModelError::Shape("the body is not JSON".into()))?;
    if let Some(usage) = json.get("usage") {
        tracing::debug!(%usage, "model usage");
    }
    match config.provider {
        Provider::OpenAi => openai::answer_text(&json),
        Provider::Anthropic => anthropic::answer_text(&json),
    }
    .map_err(ModelError::Shape)
}

fn headers(config: &ModelConfig) -> Result<HeaderMap, ModelError> {
    let mut headers = HeaderMap::new();
    if config.provider == Provider::Anthropic {
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(anthropic::VERSION),
        );
    }
    let Some(key) = &config.api_key else {
        return Ok(headers);
    };
    let key = key.expose_secret();
    let header = config.key_header.clone().unwrap_or(match config.provider {
        Provider::OpenAi => KeyHeader::Bearer,
        Provider::Anthropic => KeyHeader::Named("x-api-key".into()),
    });
    let (name, value) = match header {
        KeyHeader::Bearer => (reqwest::header::AUTHORIZATION, format!("Bearer {key}")),
        KeyHeader::Named(name) => (
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ModelError::Transport(format!("`{name}` is not a header name")))?,
            key.to_string(),
        ),
    };
    let mut value = HeaderValue::from_str(&value).map_err(|_| {
        ModelError::Transport("FIXPOINT_LLM_API_KEY holds characters a header cannot carry".into())
    })?;
    value.set_sensitive(true);
    headers.insert(name, value);
    Ok(headers)
}

/// The error and its causes, without the URL (its query might carry something private).
fn transport(e: reqwest::Error, timeout: Duration) -> ModelError {
    if e.is_timeout() {
        return ModelError::Timeout(timeout);
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    ModelError::Transport(redact(&text).into_owned())
}
