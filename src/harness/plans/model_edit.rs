//! A configured model's edit: it is shown the diagnosis, the named files and the diff since
//! last good (`model_context`), and answers `{summary, edits: [{path, search, replace}]}`.
//! The answer is untrusted: it is used only if every path may be written and exists at the
//! head, every `search` occurs exactly once in its file, the edits are few and small, and the
//! redactor finds no secret in what they write. Otherwise the model is told why, once; a
//! second miss (or an edit that already failed) leaves the rules' plan, with a note.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::catalogue::{Attempt, fingerprint};
use super::{
    Change, FileEdit, FixPlan, PlanKind, PlanRequest, Workspace, model_context, short_sha,
};
use crate::config::model::ModelConfig;
use crate::diagnose::ActionKind;
use crate::diagnose::llm::budget::shorten;
use crate::redact::redact;

/// The most edits one answer may make.
pub const MAX_EDITS: usize = 20;
/// The most text (search + replace, bytes) one answer may carry.
pub const MAX_EDIT_BYTES: usize = 64 * 1024;

/// Fields beyond these (an `explanation`, say) are ignored, not refused.
#[derive(Deserialize)]
struct Answer {
    summary: String,
    edits: Vec<Edit>,
}

#[derive(Deserialize)]
struct Edit {
    path: String,
    search: String,
    replace: String,
}

pub(super) async fn plan<W: Workspace>(
    w: &W,
    req: &PlanRequest<'_>,
    config: &ModelConfig,
) -> anyhow::Result<Attempt> {
    // Characters / 4 estimates tokens, as the diagnosis prompt's budget does.
    let budget = config.max_prompt_tokens.saturating_mul(4);
    let marker = crate::diagnose::llm::fence::Fence::random();
    let system = model_context::system(&marker);
    let mut turns = vec![model_context::prompt(w, req, budget, &marker).await?];
    let mut misses: Vec<String> = Vec::new();
    for _ in 0..2 {
        let text = match crate::diagnose::llm::ask_text(config, &system, &turns).await {
            Ok(text) => text,
            Err(e) => {
                misses.push(e);
                break;
            }
        };
        let problems = match check(w, req, &text).await? {
            Ok(plan) if req.failed.contains(&plan.fingerprint) => {
                vec![format!(
                    "this edit ({}) was tried already and did not hold",
                    plan.fingerprint
                )]
            }
            Ok(mut plan) => {
                if let Some(first) = misses.first() {
                    plan.notes.push(format!(
                        "the model's first answer could not be used ({first}); its second was checked and used"
                    ));
                }
                return Ok(Attempt::Plan(plan));
            }
            Err(problems) => problems,
        };
        let joined = problems.join("; ");
        tracing::warn!(problems = %joined, "model edit refused");
        misses.push(joined.clone());
        turns.push(shorten(&redact(&text), 4000));
        turns.push(format!(
            "Your edit cannot be used: {joined}. Answer again with one JSON object of the same shape, quoting each search text exactly from the files shown so it occurs exactly once."
        ));
    }
    Ok(Attempt::Skip(format!(
        "the model's edit was not used ({}); this is the rules' plan instead",
        misses.join("; then: ")
    )))
}

/// The plan the answer makes, or every reason it cannot be used.
async fn check<W: Workspace>(
    w: &W,
    req: &PlanRequest<'_>,
    text: &str,
) -> anyhow::Result<Result<FixPlan, Vec<String>>> {
    let answer: Answer = match serde_json::from_str(json_object(text)) {
        Ok(a) => a,
        Err(e) => {
            return Ok(Err(vec![format!(
                "the answer is not the JSON object {{summary, edits: [{{path, search, replace}}]}} ({e})"
            )]));
        }
    };
    let mut problems = Vec::new();
    if answer.edits.is_empty() {
        problems.push("the answer has no edits".to_string());
    }
    if answer.edits.len() > MAX_EDITS {
        problems.push(format!(
            "{} edits is more than {MAX_EDITS}",
            answer.edits.len()
        ));
    }
    let size: usize = answer
        .edits
        .iter()
        .map(|e| e.search.len() + e.replace.len())
        .sum();
    if size > MAX_EDIT_BYTES {
        problems.push(format!(
            "the edits carry {size} bytes, more than {MAX_EDIT_BYTES}"
        ));
    }
    // Each file's text as the edits so far leave it.
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for (i, edit) in answer.edits.iter().enumerate() {
        let n = i + 1;
        let path = edit.path.trim_start_matches("./").to_string();
        // The model's path is quoted in notes people read: only a short plain one.
        if path.len() > 200 || path.chars().any(char::is_control) {
            problems.push(format!(
                "edit {n}: the path is not a plain repository path (at most 200 characters, no control characters)"
            ));
            continue;
        }
        if let Err(e) = crate::github::guard::check_writable_path("model edit", &path) {
            problems.push(format!("edit {n}: {e}"));
            continue;
        }
        let redacted = redact(&edit.replace);
        if redacted != edit.replace {
            problems.push(format!(
                "edit {n}'s replacement holds what the redactor takes for a secret ({}); never write secrets",
                marks(&redacted)
            ));
            continue;
        }
        if !files.contains_key(&path) {
            match w.read(&path, req.head).await? {
                Some(text) => {
                    files.insert(path.clone(), text);
                }
                None => {
                    problems.push(format!(
                        "edit {n}: `{path}` does not exist at {}",
                        short_sha(req.head)
                    ));
                    continue;
                }
            }
        }
        let Some(current) = files.get_mut(&path) else {
            continue;
        };
        match (edit.search.is_empty(), current.matches(edit.search.as_str()).count()) {
            (true, _) => problems.push(format!("edit {n}: the search text is empty")),
            (false, 1) => *current = current.replacen(edit.search.as_str(), &edit.replace, 1),
            (false, 0) => problems.push(format!("edit {n}: the search text is not in `{path}`")),
            (false, times) => problems.push(format!(
                "edit {n}: the search text occurs {times} times in `{path}`; quote enough lines that it occurs once"
            )),
        }
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let fingerprint = fingerprint(
        ActionKind::Code,
        req,
        &format!("edit={}", edits_hash(&answer.edits)),
    );
    let paths: Vec<&str> = files.keys().map(String::as_str).collect();
    let summary = format!(
        "{} (model edit of {})",
        shorten(redact(answer.summary.trim()).as_ref(), 300),
        paths.join(", ")
    );
    Ok(Ok(FixPlan {
        kind: PlanKind::ModelEdit,
        action: ActionKind::Code,
        fingerprint,
        summary,
        change: Change::Files {
            edits: files
                .into_iter()
                .map(|(path, text)| FileEdit {
                    path,
                    content: Some(text),
                })
                .collect(),
        },
        notes: vec![
            "proposed by the model and checked before use: each search text occurs once, the paths exist and may be written, no secret in what it writes".into(),
        ],
    }))
}

/// A short, stable name for a set of edits.
fn edits_hash(edits: &[Edit]) -> String {
    let mut h = Sha256::new();
    for e in edits {
        for part in [&e.path, &e.search, &e.replace] {
            h.update(part.as_bytes());
            h.update([0]);
        }
    }
    hex::encode(h.finalize())[..12].to_string()
}

/// The redactor's marks in a text (`[REDACTED:aws-access-key-id]`), to say what was found
/// without repeating it.
fn marks(redacted: &str) -> String {
    let found: Vec<&str> = redacted
        .match_indices("[REDACTED:")
        .filter_map(|(i, _)| redacted[i..].find(']').map(|end| &redacted[i..=i + end]))
        .collect();
    if found.is_empty() {
        "a secret".into()
    } else {
        found.join(", ")
    }
}

/// The JSON object in an answer: models sometimes wrap it in a code fence or a sentence.
fn json_object(text: &str) -> &str {
    let t = text.trim();
    match (t.find('{'), t.rfind('}')) {
        (Some(start), Some(end)) if start < end => &t[start..=end],
        _ => t,
    }
}
