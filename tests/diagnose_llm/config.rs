//! FIXPOINT_LLM_* as an operator sets them: every mistake names its variable and the fix.

use std::time::Duration;

use fixpoint::diagnose::llm::{KeyHeader, ModelConfig, Provider};
use secrecy::ExposeSecret;

use crate::incident::vars;

fn load(pairs: &[(&str, &str)]) -> Result<Option<ModelConfig>, fixpoint::config::ConfigError> {
    ModelConfig::from_vars(&vars(pairs))
}

fn error_for(pairs: &[(&str, &str)]) -> (String, String) {
    let e = load(pairs).expect_err("the config is refused");
    (e.var.to_string(), e.to_string())
}

#[test]
fn no_provider_means_no_model() {
    assert!(load(&[]).unwrap().is_none());
    assert!(
        load(&[
            ("FIXPOINT_LLM_PROVIDER", "none"),
            ("FIXPOINT_LLM_MODEL", "x")
        ])
        .unwrap()
        .is_none()
    );
}

#[test]
fn openai_defaults() {
    let c = load(&[
        ("FIXPOINT_LLM_PROVIDER", "OpenAI"),
        ("FIXPOINT_LLM_MODEL", "gpt-4.1"),
        ("FIXPOINT_LLM_API_KEY", "sk-test"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(c.provider, Provider::OpenAi);
    assert_eq!(
        c.endpoint().as_str(),
        "https://api.openai.com/v1/chat/completions"
    );
    assert_eq!(c.timeout, Duration::from_secs(60));
    assert_eq!(c.max_prompt_tokens, 12_000);
    assert_eq!(c.temperature, Some(0.0));
    assert_eq!(c.key_header, None);
    assert_eq!(c.api_key.as_ref().unwrap().expose_secret(), "sk-test");
    assert!(
        !format!("{c:?}").contains("sk-test"),
        "Debug never shows the key"
    );
}

#[test]
fn anthropic_defaults() {
    let c = load(&[
        ("FIXPOINT_LLM_PROVIDER", "anthropic"),
        ("FIXPOINT_LLM_MODEL", "claude-sonnet-4-5"),
        ("FIXPOINT_LLM_API_KEY", "k"),
        ("FIXPOINT_LLM_TIMEOUT_SECS", "90"),
        ("FIXPOINT_LLM_MAX_PROMPT_TOKENS", "30000"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(
        c.endpoint().as_str(),
        "https://api.anthropic.com/v1/messages"
    );
    assert_eq!(c.timeout, Duration::from_secs(90));
    assert_eq!(c.max_prompt_tokens, 30_000);
}

#[test]
fn local_servers_need_no_key() {
    let c = load(&[
        ("FIXPOINT_LLM_PROVIDER", "openai"),
        ("FIXPOINT_LLM_BASE_URL", "http://localhost:11434/v1/"),
        ("FIXPOINT_LLM_MODEL", "llama3.1"),
    ])
    .unwrap()
    .unwrap();
    assert!(c.api_key.is_none());
    assert_eq!(
        c.endpoint().as_str(),
        "http://localhost:11434/v1/chat/completions"
    );
}

#[test]
fn azure_takes_a_deployment_url_and_the_api_key_header() {
    let c = load(&[
        ("FIXPOINT_LLM_PROVIDER", "openai"),
        (
            "FIXPOINT_LLM_BASE_URL",
            "https://acme.openai.azure.com/openai/deployments/gpt4o?api-version=2024-10-21",
        ),
        ("FIXPOINT_LLM_MODEL", "gpt4o"),
        ("FIXPOINT_LLM_API_KEY", "k"),
        ("FIXPOINT_LLM_API_KEY_HEADER", "api-key"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(
        c.endpoint().as_str(),
        "https://acme.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(c.key_header, Some(KeyHeader::Named("api-key".into())));
}

/// The variables set, the variable the error must name, and words from its problem.
type Mistake<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

#[test]
fn each_mistake_names_its_variable() {
    let cases: &[Mistake] = &[
        (
            &[("FIXPOINT_LLM_PROVIDER", "gemini")],
            "FIXPOINT_LLM_PROVIDER",
            "`gemini` is not a provider",
        ),
        (
            &[
                ("FIXPOINT_LLM_PROVIDER", "openai"),
                ("FIXPOINT_LLM_API_KEY", "k"),
            ],
            "FIXPOINT_LLM_MODEL",
            "it is not set",
        ),
        (
            &[
                ("FIXPOINT_LLM_PROVIDER", "anthropic"),
                ("FIXPOINT_LLM_MODEL", "m"),
            ],
            "FIXPOINT_LLM_API_KEY",
            "api.anthropic.com needs a key",
        ),
        (
            &[
                ("FIXPOINT_LLM_PROVIDER", "openai"),
                ("FIXPOINT_LLM_MODEL", "m"),
                ("FIXPOINT_LLM_BASE_URL", "localhost:8000"),
            ],
            "FIXPOINT_LLM_BASE_URL",
            "is not",
        ),
        (
            &[
                ("FIXPOINT_LLM_PROVIDER", "openai"),
                ("FIXPOINT_LLM_MODEL", "m"),
                ("FIXPOINT_LLM_BASE_URL", "http://u:p@vllm:8000/v1"),
            ],
            "FIXPOINT_LLM_BASE_URL",
            "carries credentials",
        ),
        (
            &[
                ("FIXPOINT_LLM_PROVIDER", "openai"),
                ("FIXPOINT_LLM_MODEL", "m"),
                ("FIXPOINT_LLM_API_KEY", "k"),
                ("FIXPOINT_LLM_TIMEOUT_SECS", "soon"),
            ],
            "FIXPOINT_LLM_TIMEOUT_SECS",
            "`soon` is not a number",
        ),
        (
            &[
                ("FIXPOINT_LLM_PROVIDER", "openai"),
                ("FIXPOINT_LLM_MODEL", "m"),
                ("FIXPOINT_LLM_API_KEY", "k"),
                ("FIXPOINT_LLM_MAX_PROMPT_TOKENS", "500"),
            ],
            "FIXPOINT_LLM_MAX_PROMPT_TOKENS",
            "too small",
        ),
        (
            &[
                ("FIXPOINT_LLM_PROVIDER", "openai"),
                ("FIXPOINT_LLM_MODEL", "m"),
                ("FIXPOINT_LLM_API_KEY", "k"),
                ("FIXPOINT_LLM_API_KEY_HEADER", "bad header"),
            ],
            "FIXPOINT_LLM_API_KEY_HEADER",
            "is not a header name",
        ),
    ];
    for (pairs, var, problem) in cases {
        let (got_var, message) = error_for(pairs);
        assert_eq!(&got_var, var, "{message}");
        assert!(message.contains(problem), "{message}");
    }
}

#[test]
fn the_cli_flag_switches_provider_and_its_default_url() {
    let openai = load(&[
        ("FIXPOINT_LLM_PROVIDER", "openai"),
        ("FIXPOINT_LLM_MODEL", "m"),
        ("FIXPOINT_LLM_API_KEY", "k"),
    ])
    .unwrap()
    .unwrap();
    let anthropic = openai.with_provider_override(Provider::Anthropic);
    assert_eq!(
        anthropic.endpoint().as_str(),
        "https://api.anthropic.com/v1/messages"
    );

    let local = load(&[
        ("FIXPOINT_LLM_PROVIDER", "openai"),
        ("FIXPOINT_LLM_BASE_URL", "http://litellm:4000"),
        ("FIXPOINT_LLM_MODEL", "m"),
    ])
    .unwrap()
    .unwrap()
    .with_provider_override(Provider::Anthropic);
    assert_eq!(
        local.endpoint().as_str(),
        "http://litellm:4000/v1/messages",
        "a URL set by hand stays"
    );
    // `--llm openai` with no FIXPOINT_LLM_PROVIDER in the environment.
    let forced = ModelConfig::from_vars_for(
        &vars(&[
            ("FIXPOINT_LLM_BASE_URL", "http://localhost:11434/v1"),
            ("FIXPOINT_LLM_MODEL", "llama3.1"),
        ]),
        Provider::OpenAi,
    )
    .unwrap();
    assert_eq!(
        forced.endpoint().as_str(),
        "http://localhost:11434/v1/chat/completions"
    );
    assert_eq!(Provider::parse_setting("none"), Ok(None));
    assert!(Provider::parse_setting("claude").is_err());
}
