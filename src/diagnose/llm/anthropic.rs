//! Anthropic Messages: `POST {base}/v1/messages` with `x-api-key`, `anthropic-version:
//! 2023-06-01`, and `model`, `max_tokens` (required), `system`, `messages` (user first,
//! alternating); the answer is the text blocks of `content`.

use serde_json::{Value, json};

use super::ModelConfig;
use super::exchange::Turn;

pub(crate) const VERSION: &str = "2023-06-01";

pub(crate) fn request_body(config: &ModelConfig, system: &str, turns: &[Turn]) -> Value {
    let messages: Vec<Value> = turns
        .iter()
        .map(|t| json!({"role": t.role.as_str(), "content": t.content}))
        .collect();
    let mut body = json!({
        "model": config.model,
        "max_tokens": config.max_output_tokens,
        "system": system,
        "messages": messages,
    });
    if let Some(t) = config.temperature {
        // Anthropic's range is 0 to 1.
        body["temperature"] = json!(t.min(1.0));
    }
    body
}

/// The text blocks of `content`, joined (a thinking block may come before the text).
pub(crate) fn answer_text(body: &Value) -> Result<String, String> {
    if body.get("type").and_then(Value::as_str) != Some("message") {
        return Err("the response is not a message (no \"type\": \"message\")".into());
    }
    let content = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or("no content array in the message")?;
    Ok(content
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(""))
}
