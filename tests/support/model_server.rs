//! A scripted model server on loopback, speaking both wire formats the App uses:
//! OpenAI Chat Completions (`POST /v1/chat/completions`, `POST /chat/completions`) and
//! Anthropic Messages (`POST /v1/messages`).
//!
//! A model is the one outside system no local stand-in can play honestly, so this one answers
//! from a script: a queue of replies (an answer's text, an HTTP error, a slow reply) taken one
//! per request. Every request is recorded (path, headers, JSON body) for the test to assert
//! against the provider's documented request shape. The server also checks the parts of that
//! shape the real provider refuses a request without (Anthropic's `anthropic-version`,
//! `max_tokens`, alternating turns; OpenAI's JSON mode needing the word "JSON" in the messages)
//! and answers 400 as the provider would, records the violation, and fails the test when
//! dropped, as does a request the script had no reply for.
//!
//! Responses are shaped as the providers document them: a `chat.completion` object (`id`,
//! `object`, `created`, `model`, `choices[{index, message{role, content, refusal}, logprobs,
//! finish_reason}]`, `usage{prompt_tokens, completion_tokens, total_tokens}`) or a `message`
//! object (`id`, `type`, `role`, `model`, `content[{type: text, text}]`, `stop_reason`,
//! `stop_sequence`, `usage{input_tokens, output_tokens}`); errors as each provider's error body.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The model answers with this text as its message content.
    Answer(String),
    /// The provider fails with this status and message, in its documented error body.
    Error(u16, String),
    /// The reply comes only after this long (longer than the client's timeout: a hang).
    Slow(Duration, Box<Reply>),
}

impl Reply {
    pub fn answer(text: impl Into<String>) -> Reply {
        Reply::Answer(text.into())
    }

    /// An answer given as JSON, serialised as a model would write it.
    pub fn json(value: Value) -> Reply {
        Reply::Answer(value.to_string())
    }

    pub fn hang(for_: Duration) -> Reply {
        Reply::Slow(for_, Box::new(Reply::answer("{}")))
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub query: Option<String>,
    /// Header names lower-case; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    /// The body exactly as sent, for "this string never left the process" assertions.
    pub raw: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The `content` of every message with this role, in order.
    pub fn contents(&self, role: &str) -> Vec<String> {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["role"] == role)
            .filter_map(|m| m["content"].as_str().map(String::from))
            .collect()
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    counter: u64,
}

type Shared = Arc<Mutex<Inner>>;

pub struct ModelServer {
    url: String,
    shared: Shared,
    server: JoinHandle<()>,
}

#[derive(Clone, Copy, PartialEq)]
enum Wire {
    OpenAi,
    Anthropic,
}

impl ModelServer {
    pub async fn start() -> ModelServer {
        let shared: Shared = Arc::default();
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/chat/completions", post(openai))
            // Azure OpenAI's deployment-scoped path (base URL `…/openai/deployments/NAME`).
            .route(
                "/openai/deployments/{deployment}/chat/completions",
                post(openai),
            )
            .route("/v1/messages", post(anthropic))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("model server binds a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ModelServer {
            url,
            shared,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Queue replies, taken one per request in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.lock().script.extend(replies);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Replies queued but never asked for.
    pub fn unused(&self) -> usize {
        self.lock().script.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.server.abort();
        let violations = std::mem::take(&mut self.lock().violations);
        if !violations.is_empty() && !std::thread::panicking() {
            panic!(
                "the model server saw requests a real provider would refuse:\n- {}",
                violations.join("\n- ")
            );
        }
    }
}

async fn openai(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    serve(shared, Wire::OpenAi, uri, headers, body).await
}

async fn anthropic(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    serve(shared, Wire::Anthropic, uri, headers, body).await
}

async fn serve(shared: Shared, wire: Wire, uri: Uri, headers: HeaderMap, raw: String) -> Response {
    let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let mut recorded_headers = BTreeMap::new();
    for (name, value) in &headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        recorded_headers
            .entry(name.as_str().to_string())
            .and_modify(|v: &mut String| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let problems = match wire {
        Wire::OpenAi => openai_problems(&body),
        Wire::Anthropic => anthropic_problems(&headers, &body),
    };
    let (reply, n) = {
        let mut inner = shared.lock().unwrap_or_else(|p| p.into_inner());
        inner.requests.push(Recorded {
            path: uri.path().to_string(),
            query: uri.query().map(String::from),
            headers: recorded_headers,
            body: body.clone(),
            raw,
        });
        inner.counter += 1;
        let n = inner.counter;
        if !problems.is_empty() {
            inner.violations.extend(problems.iter().cloned());
            (Reply::Error(400, problems.join("; ")), n)
        } else {
            match inner.script.pop_front() {
                Some(reply) => (reply, n),
                None => {
                    let msg = format!(
                        "request {n} to {} came after the script ran out",
                        uri.path()
                    );
                    inner.violations.push(msg.clone());
                    (Reply::Error(500, msg), n)
                }
            }
        }
    };
    let model = body["model"].as_str().unwrap_or("unknown").to_string();
    let prompt_chars = body.to_string().len();
    respond(wire, reply, &model, n, prompt_chars).await
}

async fn respond(
    wire: Wire,
    mut reply: Reply,
    model: &str,
    n: u64,
    prompt_chars: usize,
) -> Response {
    while let Reply::Slow(wait, inner) = reply {
        tokio::time::sleep(wait).await;
        reply = *inner;
    }
    match (wire, reply) {
        (Wire::OpenAi, Reply::Answer(text)) => {
            let completion = (text.len() / 4) as u64;
            let prompt = (prompt_chars / 4) as u64;
            Json(json!({
                "id": format!("chatcmpl-fixpoint{n:06}"),
                "object": "chat.completion",
                "created": chrono::Utc::now().timestamp(),
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": null},
                    "logprobs": null,
                    "finish_reason": "stop"
                }],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
                "system_fingerprint": "fp_fixpoint"
            }))
            .into_response()
        }
        (Wire::Anthropic, Reply::Answer(text)) => Json(json!({
            "id": format!("msg_fixpoint{n:06}"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": prompt_chars / 4, "output_tokens": text.len() / 4}
        }))
        .into_response(),
        (wire, Reply::Error(status, message)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = match wire {
                Wire::OpenAi => json!({"error": {
                    "message": message,
                    "type": if status.is_server_error() { "server_error" } else { "invalid_request_error" },
                    "param": null,
                    "code": null
                }}),
                Wire::Anthropic => json!({"type": "error", "error": {
                    "type": if status.is_server_error() { "api_error" } else { "invalid_request_error" },
                    "message": message
                }}),
            };
            (status, Json(body)).into_response()
        }
        (_, Reply::Slow(..)) => unreachable!("slow replies are unwrapped above"),
    }
}

/// What OpenAI refuses: no model, no messages, unknown roles, JSON mode without "JSON".
fn openai_problems(body: &Value) -> Vec<String> {
    let mut p = Vec::new();
    if body["model"].as_str().is_none_or(str::is_empty) {
        p.push("openai: `model` is missing".into());
    }
    let Some(messages) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        p.push("openai: `messages` is missing or empty".into());
        return p;
    };
    for m in messages {
        if !matches!(
            m["role"].as_str(),
            Some("system" | "developer" | "user" | "assistant" | "tool")
        ) {
            p.push(format!("openai: unknown role {}", m["role"]));
        }
        if !m["content"].is_string() && !m["content"].is_array() {
            p.push("openai: a message has no content".into());
        }
    }
    if body["response_format"]["type"] == "json_object" {
        let mentions_json = messages.iter().any(|m| {
            m["content"]
                .as_str()
                .is_some_and(|c| c.to_lowercase().contains("json"))
        });
        if !mentions_json {
            p.push("openai: 'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'".into());
        }
    }
    p
}

/// What Anthropic refuses: no version header, no `max_tokens`, a system turn in `messages`,
/// turns that do not start with the user and alternate.
fn anthropic_problems(headers: &HeaderMap, body: &Value) -> Vec<String> {
    let mut p = Vec::new();
    if headers.get("anthropic-version").is_none() {
        p.push("anthropic: the anthropic-version header is missing".into());
    }
    if body["model"].as_str().is_none_or(str::is_empty) {
        p.push("anthropic: `model` is missing".into());
    }
    if body["max_tokens"].as_u64().is_none_or(|n| n == 0) {
        p.push("anthropic: `max_tokens` is required".into());
    }
    if !(body["system"].is_null() || body["system"].is_string() || body["system"].is_array()) {
        p.push("anthropic: `system` must be a string or blocks".into());
    }
    let Some(messages) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        p.push("anthropic: `messages` is missing or empty".into());
        return p;
    };
    let mut expect = "user";
    for m in messages {
        match m["role"].as_str() {
            Some(role) if role == expect => {}
            other => p.push(format!(
                "anthropic: expected a {expect} turn, got {other:?}"
            )),
        }
        if m["content"].as_str().is_some_and(str::is_empty) {
            p.push("anthropic: a message has empty content".into());
        }
        expect = if expect == "user" {
            "assistant"
        } else {
            "user"
        };
    }
    p
}
