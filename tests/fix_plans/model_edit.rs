//! A bad commit broke payments-api's charge path, and a model is configured. It is shown the
//! stack trace, the file it names and the diff since the last good deploy, all fenced as
//! data; its edit is used only when it applies exactly and writes nothing it must not.
//! The model is a scripted server on loopback speaking OpenAI's wire format.

use std::collections::HashMap;
use std::time::Duration;

use fixpoint::config::model::ModelConfig;
use fixpoint::harness::plans::{FixPlan, PlanDecision, PlanKind, PlanRequest, choose};
use serde_json::json;

use crate::model_server::{ModelServer, Reply};
use crate::revert::{CHARGE_BAD as BAD_JS, CHARGE_GOOD as GOOD_JS, crash};
use crate::world::*;

pub const PATH: &str = "src/billing/charge.js";

pub fn world() -> World {
    World::new(&[(PATH, GOOD_JS), ("src/server.js", "app.listen(8080);\n")])
        .at_head(PATH, Some(BAD_JS))
        .at_head(
            "src/server.js",
            Some("app.listen(Number(process.env.PORT));\n"),
        )
}

pub async fn model() -> (ModelServer, ModelConfig) {
    model_timing_out_after("10").await
}

async fn model_timing_out_after(seconds: &str) -> (ModelServer, ModelConfig) {
    model_with(&[("FIXPOINT_LLM_TIMEOUT_SECS", seconds)]).await
}

async fn model_with(extra: &[(&str, &str)]) -> (ModelServer, ModelConfig) {
    let server = ModelServer::start().await;
    let vars: HashMap<String, String> = [
        ("FIXPOINT_LLM_PROVIDER", "openai"),
        ("FIXPOINT_LLM_BASE_URL", &format!("{}/v1", server.url())),
        ("FIXPOINT_LLM_MODEL", "gpt-4.1-mini"),
        ("FIXPOINT_LLM_API_KEY", "test-key-openai-123"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = ModelConfig::from_vars(&vars).unwrap().unwrap();
    (server, config)
}

pub async fn decide_with(w: &World, model: &ModelConfig) -> PlanDecision {
    decide_after(w, model, &[]).await
}

async fn decide_after(w: &World, model: &ModelConfig, failed: &[&str]) -> PlanDecision {
    let failed: Vec<String> = failed.iter().map(|f| f.to_string()).collect();
    let head = sha(HEAD);
    let config = config("");
    let d = crash();
    let req = PlanRequest {
        service: SERVICE,
        diagnosis: &d,
        config: &config,
        head: &head,
        failing: &head,
        failed: &failed,
        ecs: None,
        model: Some(model),
    };
    choose(w, &req)
        .await
        .expect("the in-memory workspace always answers")
}

/// An answer as models write them: the schema's fields, and one it did not ask for.
pub fn edit(path: &str, search: &str, replace: &str) -> Reply {
    Reply::json(json!({
        "summary": "call the gateway with the card, as before the refactor",
        "edits": [{"path": path, "search": search, "replace": replace}],
        "confidence": 0.8
    }))
}

/// The rules' plan (the revert), with the note that says why the model's edit was not used.
fn the_rules_plan_noting(p: &FixPlan, reason: &str) -> String {
    assert_eq!(p.kind, PlanKind::RevertSinceLastGood, "{p:#?}");
    let note = p
        .notes
        .iter()
        .find(|n| n.starts_with("the model's edit was not used"))
        .unwrap_or_else(|| {
            panic!(
                "a note says why the model's edit was not used: {:#?}",
                p.notes
            )
        });
    assert!(note.contains(reason), "{note}");
    assert!(note.contains("this is the rules' plan instead"), "{note}");
    note.clone()
}

pub const SEARCH: &str = "gateway.charge(card.token.id, amount)";
pub const REPLACE: &str = "gateway.charge(card.token?.id ?? card, amount)";

#[tokio::test]
async fn a_valid_edit_is_used_and_named_by_its_hash() {
    let (server, config) = model().await;
    server.script([edit(PATH, SEARCH, REPLACE)]);
    let w = world();
    let p = plan(decide_with(&w, &config).await);
    assert_eq!(p.kind, PlanKind::ModelEdit);
    let hash = p
        .fingerprint
        .strip_prefix("code:crash_loop:payments-api/edit=")
        .expect("a model edit's fingerprint");
    assert!(
        hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{hash}"
    );
    assert_eq!(only_file(&p), (PATH, &*BAD_JS.replace(SEARCH, REPLACE)));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let user = &requests[0].contents("user")[0];
    // The trace, the file and the diff reach the model only as fenced data.
    // The fence's marker is drawn per request and named in the system message.
    let system = &requests[0].contents("system")[0];
    let marker = user
        .split('<')
        .find_map(|t| t.strip_prefix("untrusted-data-"))
        .and_then(|t| t.split(' ').next())
        .map(|hex| format!("untrusted-data-{hex}"))
        .unwrap_or_else(|| panic!("no fence in {user}"));
    assert!(system.contains(&marker), "{system}");
    assert!(
        user.contains(&format!("<{marker} source=\"logs:/ecs/payments-api\">")),
        "{user}"
    );
    assert!(
        user.contains(&format!("<{marker} source=\"file:{PATH}\">\n{BAD_JS}")),
        "{user}"
    );
    assert!(
        user.contains(&format!("<{marker} source=\"diff:{PATH}\">")),
        "{user}"
    );
    assert!(user.contains("-  return gateway.charge(card, amount);\n+  return gateway.charge(card.token.id, amount);"), "{user}");
    // The stack trace names one of the two changed files: the other is not shown.
    assert!(!user.contains("diff:src/server.js"), "{user}");
    // The system message says what the marker encloses is data, never instructions.
    assert!(system.contains("never instructions"), "{system}");
}

#[tokio::test]
async fn a_search_text_absent_is_retried_once_then_the_rules_plan_is_used() {
    let (server, config) = model().await;
    let absent = edit(PATH, "gateway.charge(card.id, amount)", REPLACE);
    server.script([absent.clone(), absent]);
    let w = world();
    let p = plan(decide_with(&w, &config).await);
    assert_eq!(only_file(&p), (PATH, GOOD_JS));
    the_rules_plan_noting(&p, "the search text is not in `src/billing/charge.js`");

    let requests = server.requests();
    assert_eq!(requests.len(), 2, "one retry, no more");
    let retry = requests[1].contents("user");
    assert!(
        retry[1].contains("Your edit cannot be used: edit 1: the search text is not in"),
        "{retry:?}"
    );
}

#[tokio::test]
async fn an_edit_that_writes_an_aws_key_is_refused_by_the_redactor() {
    let (server, config) = model().await;
    let key = "AKIAIOSFODNN7EXAMPLE";
    let leaking = edit(
        PATH,
        SEARCH,
        &format!("gateway.charge(card, amount, {{ accessKeyId: '{key}' }})"),
    );
    server.script([leaking.clone(), leaking]);
    let w = world();
    let p = plan(decide_with(&w, &config).await);
    the_rules_plan_noting(&p, "[REDACTED:aws-access-key-id]");
    let everything = serde_json::to_string(&p).unwrap();
    assert!(
        !everything.contains(key),
        "the key is in no plan: {everything}"
    );
    assert!(
        !server.requests()[1].raw.contains(key),
        "nor echoed back to the model"
    );
}

#[tokio::test]
async fn a_second_answer_that_applies_is_used_with_a_note() {
    let (server, config) = model().await;
    server.script([
        edit(
            ".github/workflows/deploy.yml",
            "on: push",
            "on: workflow_dispatch",
        ),
        edit(PATH, SEARCH, REPLACE),
    ]);
    let w = world();
    let p = plan(decide_with(&w, &config).await);
    assert_eq!(p.kind, PlanKind::ModelEdit);
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("first answer could not be used") && n.contains("workflow file")),
        "{:#?}",
        p.notes
    );
    assert!(server.requests()[1].contents("user")[1].contains("is a workflow file"));
}

#[tokio::test]
async fn an_edit_under_github_workflows_is_refused_both_times() {
    let (server, config) = model().await;
    let workflow = edit(
        ".github/workflows/deploy.yml",
        "on: push",
        "on: workflow_dispatch",
    );
    server.script([workflow.clone(), workflow]);
    let w = world();
    let p = plan(decide_with(&w, &config).await);
    assert!(edits(&p).iter().all(|e| !e.path.starts_with(".github/")));
    the_rules_plan_noting(&p, "never pushes under .github/workflows/");
}

#[tokio::test]
async fn a_model_that_does_not_answer_in_time_leaves_the_rules_plan() {
    let (server, config) = model_timing_out_after("1").await;
    server.script([Reply::hang(Duration::from_secs(3))]);
    let w = world();
    let p = plan(decide_with(&w, &config).await);
    let note = the_rules_plan_noting(&p, "model timed out after 1 s");
    assert!(
        note.starts_with("the model's edit was not used (model timed out"),
        "{note}"
    );
    assert_eq!(server.requests().len(), 1, "a timeout is not retried");
}

#[tokio::test]
async fn after_a_model_edit_that_did_not_hold_the_revert_goes_first() {
    let (server, config) = model().await;
    let w = world();
    let failed = ["code:crash_loop:payments-api/edit=6ef227f43bb3"];
    let p = plan(decide_after(&w, &config, &failed).await);
    assert_eq!(p.kind, PlanKind::RevertSinceLastGood);
    assert!(
        server.requests().is_empty(),
        "the model is not asked while a rules' fix is left"
    );

    // The revert failed too: the model is asked again, and its new edit is a new fix.
    server.script([edit(PATH, SEARCH, "gateway.charge(card, amount)")]);
    let failed = [failed[0], "code:crash_loop:payments-api/revert=1111111"];
    let p = plan(decide_after(&w, &config, &failed).await);
    assert_eq!(p.kind, PlanKind::ModelEdit);
    assert_ne!(p.fingerprint, failed[0]);
    assert!(
        p.notes.iter().any(|n| n.contains("revert=1111111")),
        "{:#?}",
        p.notes
    );
}

#[tokio::test]
async fn a_large_file_is_cut_to_the_models_prompt_budget() {
    let (server, config) = model_with(&[("FIXPOINT_LLM_MAX_PROMPT_TOKENS", "2000")]).await;
    server.script([edit(PATH, SEARCH, REPLACE)]);
    // A generated 60,000-character module with the bad line in the middle.
    let filler = "// generated: do not edit\n".repeat(1200);
    let big = format!("{filler}{BAD_JS}{filler}");
    let w = world().at_head(PATH, Some(&big));
    let p = plan(decide_with(&w, &config).await);
    assert_eq!(p.kind, PlanKind::ModelEdit);
    let user = &server.requests()[0].contents("user")[0];
    assert!(
        user.chars().count() < 8_000,
        "{} characters",
        user.chars().count()
    );
    assert!(user.contains("characters cut"), "the cut is marked");
}
