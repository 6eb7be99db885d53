//! The model reasoner, when one is configured (see `config` for the environment variables).
//!
//! It reasons over the same findings as the rules engine, with the topology, the rules
//! engine's diagnosis and the debug history, and its answer is used only after it passes the
//! checks in `answer`: the model proposes, the world decides. The exchange:
//!
//! 1. `prompt` builds a redacted, fenced prompt that fits the token budget;
//! 2. `exchange` sends it in the provider's wire format (`openai`, `anthropic`);
//! 3. a valid answer becomes the diagnosis, engine `llm`;
//! 4. an invalid one is sent back once with what was wrong, as a user turn;
//! 5. a second invalid answer, a timeout or an error gives back the rules engine's diagnosis,
//!    with a `note` that says why the model's answer was not used.
//!
//! Errors and timeouts are not retried: the loop runs again anyway, and a model that is down
//! would otherwise double the wait.

pub mod answer;
mod anthropic;
pub mod budget;
mod exchange;
pub mod fence;
mod openai;
pub mod prompt;
pub mod world;

use std::collections::BTreeSet;

pub use crate::config::model::{KeyHeader, ModelConfig, Provider};
pub use prompt::{Prompt, PromptInput, ShownEvidence, TrimReport};

use answer::{Invalid, World};
use exchange::{ModelError, Turn};
use world::TriedFix;

use crate::diagnose::{DebugContext, Diagnosis, Engine};
use crate::redact::redact;
use crate::skills::Finding;
use crate::topology::TopologyGraph;

/// The model's diagnosis if its answer passes the checks; otherwise `rules`, with a note.
/// Never fails: the rules engine's diagnosis is always a valid answer to give back.
#[tracing::instrument(skip_all, fields(service = %service, provider = %config.provider, model = %config.model, iteration = history.iteration))]
pub async fn diagnose_with_model(
    config: &ModelConfig,
    service: &str,
    findings: &[Finding],
    graph: Option<&TopologyGraph>,
    history: &DebugContext,
    rules: &Diagnosis,
) -> Diagnosis {
    let candidates = crate::diagnose::rank::candidates(service, findings, graph);
    let input = PromptInput {
        service,
        findings,
        graph,
        history,
        rules,
        candidates: &candidates,
    };
    let prompt = prompt::build(&input, config.max_prompt_tokens);
    if prompt.trim != TrimReport::default() {
        tracing::info!(trim = ?prompt.trim, "prompt cut to fit FIXPOINT_LLM_MAX_PROMPT_TOKENS");
    }
    let world = World {
        nodes: prompt.nodes.iter().cloned().collect::<BTreeSet<_>>(),
        evidence: &prompt.evidence,
        findings,
        tried: TriedFix::from_history(history),
    };
    let client = match exchange::client(config) {
        Ok(c) => c,
        Err(e) => return fall_back(rules, &e.to_string()),
    };

    let mut turns = vec![Turn::user(prompt.user.clone())];
    let first = match exchange::ask(&client, config, &prompt.system, &turns).await {
        Ok(text) => text,
        Err(e) => return fall_back(rules, &failure(&e)),
    };
    let invalid = match answer::check(&first, &world) {
        Ok(diagnosis) => {
            tracing::info!(node = %diagnosis.root_cause.node, class = diagnosis.root_cause.class.as_str(), "model answer used");
            return diagnosis;
        }
        Err(invalid) => invalid,
    };
    tracing::warn!(%invalid, "model answer invalid; asking once more");
    turns.push(Turn::assistant(echo(&first)));
    turns.push(Turn::user(retry_message(&invalid)));
    let second = match exchange::ask(&client, config, &prompt.system, &turns).await {
        Ok(text) => text,
        Err(e) => {
            return fall_back(
                rules,
                &format!("model answer invalid ({invalid}), then {}", failure(&e)),
            );
        }
    };
    match answer::check(&second, &world) {
        Ok(mut diagnosis) => {
            tracing::info!(node = %diagnosis.root_cause.node, "model's second answer used");
            diagnosis.note = Some(format!(
                "the model's first answer was invalid ({invalid}); its second was used"
            ));
            diagnosis
        }
        Err(again) => {
            tracing::warn!(%again, "model answer invalid twice; using the rules engine");
            fall_back(rules, &format!("model answer invalid twice: {again}"))
        }
    }
}

/// One exchange for a caller outside diagnosis (the fix planner's model edit): `turns`
/// alternate user and assistant, starting and ending with the user's. Every message is
/// redacted on the way out, as in diagnosis; the error reads as the start of a note.
pub async fn ask_text(
    config: &ModelConfig,
    system: &str,
    turns: &[String],
) -> Result<String, String> {
    let client = exchange::client(config).map_err(|e| e.to_string())?;
    let turns: Vec<Turn> = turns
        .iter()
        .enumerate()
        .map(|(i, t)| match i % 2 {
            0 => Turn::user(t.clone()),
            _ => Turn::assistant(t.clone()),
        })
        .collect();
    exchange::ask(&client, config, system, &turns)
        .await
        .map_err(|e| e.to_string())
}

/// What the model is told when its answer cannot be used.
fn retry_message(invalid: &Invalid) -> String {
    redact(&format!(
        "Your answer cannot be used: {invalid}. Answer again with one JSON object valid against \
         the schema: only the listed topology nodes, classes from the vocabulary, an allowed \
         action kind, an action not already tried, and evidence ids shown in the findings."
    ))
    .into_owned()
}

/// The model's own invalid answer, as the assistant turn before the retry.
fn echo(answer: &str) -> String {
    let text = if answer.trim().is_empty() {
        "(empty answer)"
    } else {
        answer
    };
    budget::shorten(&redact(text), 4000)
}

fn failure(e: &ModelError) -> String {
    tracing::warn!(error = %e, "model request failed; using the rules engine");
    e.to_string()
}

fn fall_back(rules: &Diagnosis, why: &str) -> Diagnosis {
    let mut diagnosis = rules.clone();
    diagnosis.engine = Engine::Rules;
    let why = format!("{why}; used the rules engine");
    diagnosis.note = Some(match &rules.note {
        Some(existing) => format!("{why}. {existing}"),
        None => why,
    });
    diagnosis
}
