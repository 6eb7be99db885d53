//! The model's configuration, read once from the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FIXPOINT_LLM_PROVIDER` | `none`, `openai` (any OpenAI-compatible Chat Completions server) or `anthropic` | `none` |
//! | `FIXPOINT_LLM_BASE_URL` | where the API lives | `https://api.openai.com/v1`, `https://api.anthropic.com` |
//! | `FIXPOINT_LLM_MODEL` | the model (Azure: the deployment name) | required with a provider |
//! | `FIXPOINT_LLM_API_KEY` | the key; optional for local servers (Ollama, vLLM, llama.cpp) | required for the default URLs |
//! | `FIXPOINT_LLM_API_KEY_HEADER` | the header that carries the key, e.g. `api-key` for Azure | `Authorization: Bearer` (openai), `x-api-key` (anthropic) |
//! | `FIXPOINT_LLM_TIMEOUT_SECS` | per request | 60 |
//! | `FIXPOINT_LLM_MAX_PROMPT_TOKENS` | prompt budget, estimated as characters / 4 | 12000 |
//! | `FIXPOINT_LLM_MAX_OUTPUT_TOKENS` | the answer's limit (`max_tokens`) | 4096 |
//! | `FIXPOINT_LLM_TEMPERATURE` | a number, or `omit` for models that refuse the field | 0 |
//!
//! The OpenAI provider posts to `{base}/chat/completions`; a query in the base URL is kept, so
//! Azure OpenAI works with `FIXPOINT_LLM_BASE_URL=https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT?api-version=2024-10-21`
//! (or the v1 API, `https://RESOURCE.openai.azure.com/openai/v1`) and
//! `FIXPOINT_LLM_API_KEY_HEADER=api-key`. Ollama: `http://localhost:11434/v1`; vLLM and
//! llama.cpp: `http://HOST:PORT/v1`; LiteLLM: its proxy URL. The Anthropic provider posts to
//! `{base}/v1/messages`.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use secrecy::SecretString;

use super::{ConfigError, Vars, err, parse_num, scheme_only};

pub const OPENAI_DEFAULT_URL: &str = "https://api.openai.com/v1";
pub const ANTHROPIC_DEFAULT_URL: &str = "https://api.anthropic.com";
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_MAX_PROMPT_TOKENS: usize = 12_000;
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 4096;
/// Below this the system message, topology and rules diagnosis alone would not fit.
pub const MIN_PROMPT_TOKENS: usize = 2_000;

/// Which wire format the model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// OpenAI Chat Completions, and every server that copies it.
    OpenAi,
    Anthropic,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
        }
    }

    pub fn default_base_url(self) -> &'static str {
        match self {
            Provider::OpenAi => OPENAI_DEFAULT_URL,
            Provider::Anthropic => ANTHROPIC_DEFAULT_URL,
        }
    }

    /// `none` (no model), `openai` or `anthropic`, any case: the env var and the CLI's `--llm`.
    pub fn parse_setting(s: &str) -> Result<Option<Provider>, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "off" | "" => Ok(None),
            "openai" => Ok(Some(Provider::OpenAi)),
            "anthropic" => Ok(Some(Provider::Anthropic)),
            other => Err(format!(
                "`{other}` is not a provider; use none, openai (any OpenAI-compatible server) or anthropic"
            )),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the key goes in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyHeader {
    /// `Authorization: Bearer KEY` (OpenAI and most compatible servers).
    Bearer,
    /// `NAME: KEY`, e.g. `x-api-key` (Anthropic) or `api-key` (Azure OpenAI).
    Named(String),
}

#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub provider: Provider,
    /// Without a trailing slash; may carry a query (Azure's `api-version`).
    pub base_url: Url,
    pub model: String,
    pub api_key: Option<SecretString>,
    /// `None`: the provider's usual header.
    pub key_header: Option<KeyHeader>,
    pub timeout: Duration,
    pub max_prompt_tokens: usize,
    pub max_output_tokens: u32,
    /// `None`: the field is left out (some reasoning models refuse any value).
    pub temperature: Option<f64>,
}

impl ModelConfig {
    /// `Ok(None)` when no provider is set (or `none`): diagnosis then uses the rules engine only.
    pub fn from_vars(vars: &dyn Vars) -> Result<Option<ModelConfig>, ConfigError> {
        let provider = match vars.get("FIXPOINT_LLM_PROVIDER") {
            None => return Ok(None),
            Some(v) => Provider::parse_setting(&v).map_err(|problem| {
                err(
                    "FIXPOINT_LLM_PROVIDER",
                    problem,
                    "set it to openai for OpenAI, Azure, vLLM, llama.cpp, Ollama or LiteLLM, anthropic for Claude, or none",
                )
            })?,
        };
        match provider {
            None => Ok(None),
            Some(provider) => Self::from_vars_for(vars, provider).map(Some),
        }
    }

    /// The configuration for `provider` whatever FIXPOINT_LLM_PROVIDER says: the CLI's
    /// `--llm openai|anthropic` when the environment names no provider.
    pub fn from_vars_for(vars: &dyn Vars, provider: Provider) -> Result<ModelConfig, ConfigError> {
        let base_url = match vars.get("FIXPOINT_LLM_BASE_URL") {
            None => parse_base_url(provider.default_base_url()).expect("default URLs parse"),
            Some(u) => parse_base_url(&u).map_err(|problem| {
                err(
                    "FIXPOINT_LLM_BASE_URL",
                    problem,
                    format!(
                        "give the API's base URL, such as {} or http://localhost:11434/v1 (Ollama)",
                        provider.default_base_url()
                    ),
                )
            })?,
        };
        let model = vars.get("FIXPOINT_LLM_MODEL").map(|m| m.trim().to_string()).ok_or_else(|| {
            err(
                "FIXPOINT_LLM_MODEL",
                format!("it is not set, and the provider is {provider}"),
                "name the model, such as gpt-4.1, claude-sonnet-4-5 or llama3.1 (Azure: the deployment name)",
            )
        })?;
        let api_key = vars
            .get("FIXPOINT_LLM_API_KEY")
            .map(|k| SecretString::from(k.trim().to_string()));
        if api_key.is_none() && is_hosted(&base_url) {
            return Err(err(
                "FIXPOINT_LLM_API_KEY",
                format!(
                    "it is not set, and {} needs a key",
                    base_url.host_str().unwrap_or("the API")
                ),
                "set it to the provider's API key (local servers such as Ollama need none)",
            ));
        }
        let key_header = match vars.get("FIXPOINT_LLM_API_KEY_HEADER") {
            None => None,
            Some(h) => Some(parse_key_header(&h)?),
        };
        let timeout_secs = parse_num(
            vars,
            "FIXPOINT_LLM_TIMEOUT_SECS",
            DEFAULT_TIMEOUT_SECS,
            "seconds, such as 60",
        )?;
        if timeout_secs == 0 {
            return Err(err(
                "FIXPOINT_LLM_TIMEOUT_SECS",
                "0 would time out at once",
                "use at least 1 second, such as 60",
            ));
        }
        let max_prompt_tokens = parse_num(
            vars,
            "FIXPOINT_LLM_MAX_PROMPT_TOKENS",
            DEFAULT_MAX_PROMPT_TOKENS,
            "a token count such as 12000",
        )?;
        if max_prompt_tokens < MIN_PROMPT_TOKENS {
            return Err(err(
                "FIXPOINT_LLM_MAX_PROMPT_TOKENS",
                format!(
                    "{max_prompt_tokens} is too small for the instructions, topology and rules diagnosis"
                ),
                format!("use at least {MIN_PROMPT_TOKENS}, such as {DEFAULT_MAX_PROMPT_TOKENS}"),
            ));
        }
        let max_output_tokens = parse_num(
            vars,
            "FIXPOINT_LLM_MAX_OUTPUT_TOKENS",
            DEFAULT_MAX_OUTPUT_TOKENS,
            "a token count such as 4096",
        )?
        .max(256);
        let temperature = match vars.get("FIXPOINT_LLM_TEMPERATURE") {
            None => Some(0.0),
            Some(t) if t.trim().eq_ignore_ascii_case("omit") => None,
            Some(t) => match t.trim().parse::<f64>() {
                Ok(v) if (0.0..=2.0).contains(&v) => Some(v),
                _ => {
                    return Err(err(
                        "FIXPOINT_LLM_TEMPERATURE",
                        format!("`{}` is not a temperature from 0 to 2", t.trim()),
                        "use 0 (the default), or omit for models that refuse the field",
                    ));
                }
            },
        };
        Ok(ModelConfig {
            provider,
            base_url,
            model,
            api_key,
            key_header,
            timeout: Duration::from_secs(timeout_secs),
            max_prompt_tokens,
            max_output_tokens,
            temperature,
        })
    }

    /// The CLI's `--llm openai|anthropic`: switch the wire format. A base URL that was the
    /// other provider's default follows the switch; one set by hand stays.
    pub fn with_provider_override(mut self, provider: Provider) -> Self {
        if provider != self.provider {
            let default_of_old = parse_base_url(self.provider.default_base_url()).ok();
            if default_of_old.as_ref() == Some(&self.base_url) {
                self.base_url =
                    parse_base_url(provider.default_base_url()).expect("default URLs parse");
            }
            self.provider = provider;
        }
        self
    }

    /// The URL requests go to: the provider's path appended to the base, its query kept.
    pub fn endpoint(&self) -> Url {
        let tail = match self.provider {
            Provider::OpenAi => "chat/completions",
            Provider::Anthropic => "v1/messages",
        };
        let mut url = self.base_url.clone();
        let path = format!("{}/{tail}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    /// OpenAI's own API and Azure take `max_completion_tokens` (reasoning models refuse
    /// `max_tokens`); compatible servers (Ollama, vLLM, llama.cpp) document `max_tokens`.
    pub(crate) fn uses_max_completion_tokens(&self) -> bool {
        let host = self.base_url.host_str().unwrap_or_default();
        host == "api.openai.com" || host.ends_with(".openai.azure.com")
    }
}

fn parse_base_url(raw: &str) -> Result<Url, String> {
    let raw = raw.trim();
    let url = Url::parse(raw).map_err(|_| format!("`{}` is not a URL", scheme_only(raw)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{}` is not an http(s) URL", scheme_only(raw)));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL carries credentials; put the key in FIXPOINT_LLM_API_KEY".into());
    }
    let mut url = url;
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    url.set_fragment(None);
    Ok(url)
}

/// Hosted APIs always need a key; a missing one is a set-up mistake, not a local server.
fn is_hosted(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    host == "api.openai.com" || host == "api.anthropic.com" || host.ends_with(".openai.azure.com")
}

fn parse_key_header(raw: &str) -> Result<KeyHeader, ConfigError> {
    let name = raw.trim();
    if name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("bearer") {
        return Ok(KeyHeader::Bearer);
    }
    if name.is_empty() || reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(err(
            "FIXPOINT_LLM_API_KEY_HEADER",
            format!("`{}` is not a header name", scheme_only(name)),
            "use a header name such as api-key (Azure OpenAI), x-api-key, or authorization",
        ));
    }
    Ok(KeyHeader::Named(name.to_ascii_lowercase()))
}
