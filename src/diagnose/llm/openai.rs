//! OpenAI Chat Completions, as OpenAI documents it and as Azure OpenAI, vLLM, llama.cpp,
//! Ollama and LiteLLM serve it: `POST {base}/chat/completions` with `model`, `messages`
//! (system first), `response_format: {"type": "json_object"}`, a token limit and a
//! temperature; the answer is `choices[0].message.content`.

use serde_json::{Value, json};

use super::ModelConfig;
use super::exchange::Turn;

/// JSON mode rather than `json_schema`: every compatible server accepts it, and the schema
/// is in the system message (which JSON mode requires to mention JSON).
pub(crate) fn request_body(config: &ModelConfig, system: &str, turns: &[Turn]) -> Value {
    let mut messages = vec![json!({"role": "system", "content": system})];
    messages.extend(
        turns
            .iter()
            .map(|t| json!({"role": t.role.as_str(), "content": t.content})),
    );
    let mut body = json!({
        "model": config.model,
        "messages": messages,
        "response_format": {"type": "json_object"},
        "stream": false,
    });
    let limit = if config.uses_max_completion_tokens() {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    body[limit] = json!(config.max_output_tokens);
    if let Some(t) = config.temperature {
        body["temperature"] = json!(t);
    }
    body
}

/// The answer's text. `Err` when the response is not a chat completion at all; a refusal
/// comes back as its text, which then fails the answer's checks like any other non-answer.
pub(crate) fn answer_text(body: &Value) -> Result<String, String> {
    let choice = body
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or("no choices[0] in the chat completion")?;
    let message = choice.get("message").ok_or("no choices[0].message")?;
    if let Some(text) = message.get("content").and_then(Value::as_str) {
        return Ok(text.to_string());
    }
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        return Ok(format!("(the model refused: {refusal})"));
    }
    Ok(String::new())
}
