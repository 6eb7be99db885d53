//! payments-api's settlement change did two things to its rates module: it added
//! `settlement_currency`, which the team wants, and it turned the EUR lookup into an
//! `unwrap()` that panics at start-up when the rates have no EUR. A model is configured (a
//! scripted server on loopback speaking OpenAI's wire format): it diagnoses the crash and
//! proposes an edit. A revert since the last good deploy would heal the service too, but it
//! would throw the new function away; the model's edit removes the bug and keeps the feature.
//! When the model's edit cannot be applied (its search text is not in the file), it is told
//! why once; a second miss leaves the rules' revert, with a note that says why.

use std::collections::HashMap;

use fixpoint::config::Settings;
use fixpoint::domain::LoopStatus;
use serde_json::{Value, json};

use crate::story::*;
use crate::support::lower_env::ServiceNeeds;
use crate::support::model_server::{ModelServer, Recorded, Reply};

/// What the settlement change added and the team wants kept.
const FEATURE: &str = "\n/// Settlements close in the merchant's own currency.\npub fn settlement_currency(merchant: &Merchant) -> Currency {\n    merchant.currency\n}\n";
/// The lookup as it was before the settlement change, which starts with no EUR rate.
const SAFE_LINE: &str = "let rate = rates.get(\"EUR\").copied().unwrap_or(Rate::ONE);";

/// The rates module after the settlement change: the feature, and the bug line or not.
fn settled(with_bug: bool) -> String {
    format!("{}{FEATURE}", rates(with_bug))
}

/// Fixpoint with the model configured, on loopback like everything else it reaches.
fn settings(model: &ModelServer) -> Settings {
    let vars: HashMap<String, String> = [
        ("FIXPOINT_SWEEP_ALLOW", "127.0.0.0/8".to_string()),
        ("FIXPOINT_LLM_PROVIDER", "openai".to_string()),
        ("FIXPOINT_LLM_BASE_URL", format!("{}/v1", model.url())),
        ("FIXPOINT_LLM_MODEL", "gpt-4.1-mini".to_string()),
        ("FIXPOINT_LLM_API_KEY", "test-key-openai-123".to_string()),
        ("FIXPOINT_LLM_TIMEOUT_SECS", "10".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Settings::from_vars(&vars).expect("settings with a model")
}

/// The incident with Fixpoint asking `model`: the last good deploy ran the rates module
/// without the settlement change; the failing one has the feature and the bug line.
async fn begin(model: &ModelServer) -> Story {
    let needs = ServiceNeeds::new(CLUSTER, SERVICE)
        .memory(256)
        .bug(BUG_FILE, BUG_LINE);
    let good = tree(task_definition(512, &[], &[]), rates(false));
    let failing = tree(task_definition(512, &[], &[]), settled(true));
    let arranged = arrange(needs, good, failing, config("")).await;
    Story::start_with(arranged, settings(model)).await
}

/// The model's diagnosis: the crash is payments-api's own, and code fixes it. It cites no
/// evidence id, so the diagnosis keeps payments-api's evidence (the panic) as the sweep saw it.
fn diagnosis() -> Reply {
    Reply::json(json!({
        "root_cause": {
            "node": SERVICE,
            "class": "crash_loop",
            "summary": "start-up panics in src/rates.rs: the EUR rate is unwrapped and absent"
        },
        "chain": [{"node": SERVICE, "class": "crash_loop"}],
        "confidence": 0.9,
        "evidence": [],
        "proposed_action": {"kind": "code", "summary": "Do not unwrap the EUR rate at start-up"},
        "noise": [],
        "missing": []
    }))
}

/// An edit of the rates module, as models write it.
fn edit(search: &str, replace: &str) -> Reply {
    Reply::json(json!({
        "summary": "fall back to Rate::ONE when EUR is missing instead of panicking",
        "edits": [{"path": BUG_FILE, "search": search, "replace": replace}]
    }))
}

/// The fix writer's requests (the diagnosis request has another system message).
fn fix_requests(model: &ModelServer) -> Vec<Recorded> {
    model
        .requests()
        .into_iter()
        .filter(|r| {
            r.contents("system")
                .iter()
                .any(|s| s.contains("fix writer"))
        })
        .collect()
}

/// The texts `user` fences as data from `source`, under the marker the system message names
/// (drawn per request).
fn fenced(request: &Recorded, source: &str) -> Vec<String> {
    let system = request.contents("system").concat();
    let marker = regex::Regex::new(r"untrusted-data-[0-9a-f]{16}")
        .expect("marker pattern")
        .find(&system)
        .unwrap_or_else(|| panic!("the system message names no fence marker:\n{system}"))
        .as_str()
        .to_string();
    let user = request.contents("user").concat();
    let open = format!("<{marker} source=\"{source}\"");
    let close = format!("\n</{marker}>");
    user.split(&open)
        .skip(1)
        .filter_map(|block| {
            let body = &block[block.find(">\n")? + 2..];
            Some(body[..body.find(&close)?].to_string())
        })
        .collect()
}

/// The plan the loop carried out in its last iteration, as stored.
fn plan(ended: &fixpoint::store::loops::LoopRow<Value>) -> &Value {
    &ended.state["current"]["plan"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_models_edit_removes_the_bad_line_and_keeps_the_new_feature() {
    let model = ModelServer::start().await;
    model.script([diagnosis(), edit(BUG_LINE, SAFE_LINE)]);
    let story = begin(&model).await;
    let ended = story.run_loop().await;

    assert_eq!(ended.status, LoopStatus::Fixed, "{:?}", ended.status_reason);
    assert_eq!(ended.iteration, 1);
    let code = story.branch_file(BUG_FILE);
    assert!(!code.contains(BUG_LINE), "{code}");
    assert!(code.contains("pub fn settlement_currency"), "{code}");
    assert_eq!(code, settled(false), "the edit, and nothing else");
    assert_eq!(story.commits_made(), 1);
    let plan = plan(&ended);
    assert_eq!(plan["kind"], "model_edit", "{plan:#}");
    let fingerprint = plan["fingerprint"].as_str().unwrap_or_default();
    assert!(
        fingerprint.starts_with("code:crash_loop:payments-api/edit="),
        "{fingerprint}"
    );
    let history = story.history().await;
    assert_eq!(history[0]["fingerprint"], fingerprint, "{history:#?}");
    // The diagnosis the loop acted on is the model's (its summary), not the rules engine's.
    let diagnosed = history[0]["diagnosis"].as_str().unwrap_or_default();
    assert!(
        diagnosed.starts_with("crash_loop at payments-api (confidence 0.90): start-up panics"),
        "{diagnosed}"
    );
    let prs = story.app.github.pull_requests(REPO);
    assert_eq!(prs.len(), 1, "one PR");
    assert!(
        prs[0].title.contains("model edit of src/rates.rs"),
        "{}",
        prs[0].title
    );

    // One diagnosis and one fix request: nothing unscripted, nothing left over.
    assert_eq!(model.requests().len(), 2);
    assert_eq!(model.unused(), 0);
    let fix = fix_requests(&model);
    assert_eq!(fix.len(), 1, "the edit applied at once: no retry");
    // The failing file and the panic reach the model only as fenced data, which the system
    // message says is never to be read as instructions.
    let system = fix[0].contents("system").concat();
    assert!(system.contains("never instructions"), "{system}");
    assert_eq!(
        fenced(&fix[0], &format!("file:{BUG_FILE}")),
        vec![settled(true)]
    );
    let logs = fenced(&fix[0], "logs:/ecs/payments-api");
    assert!(
        logs.iter()
            .any(|l| l.contains("thread 'main' panicked at src/rates.rs:5:17")),
        "{logs:#?}"
    );
    let diff = fenced(&fix[0], &format!("diff:{BUG_FILE}")).concat();
    assert!(diff.contains(&format!("+    {BUG_LINE}")), "{diff}");
    assert!(diff.contains("+pub fn settlement_currency"), "{diff}");
    story.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_whose_search_text_is_absent_falls_back_to_the_revert_with_a_note() {
    let model = ModelServer::start().await;
    // The model misremembers the line, and does so again when told.
    let absent = edit("let rate = rates.get(\"EUR\").expect(\"EUR\");", SAFE_LINE);
    model.script([diagnosis(), absent.clone(), absent]);
    let story = begin(&model).await;
    let ended = story.run_loop().await;

    assert_eq!(ended.status, LoopStatus::Fixed, "{:?}", ended.status_reason);
    assert_eq!(ended.iteration, 1);
    assert_eq!(
        story.branch_file(BUG_FILE),
        rates(false),
        "the last good version, as it was"
    );
    let plan = plan(&ended);
    assert_eq!(plan["kind"], "revert_since_last_good", "{plan:#}");
    let notes: Vec<&str> = plan["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let note = notes
        .iter()
        .find(|n| n.starts_with("the model's edit was not used"))
        .unwrap_or_else(|| panic!("a note says why the model's edit was not used: {notes:#?}"));
    assert!(
        note.contains("the search text is not in `src/rates.rs`"),
        "{note}"
    );
    assert!(note.contains("this is the rules' plan instead"), "{note}");
    let prs = story.app.github.pull_requests(REPO);
    assert_eq!(prs.len(), 1, "one PR");
    let body = prs[0].body.clone().unwrap_or_default();
    assert!(body.contains("the model's edit was not used"), "{body}");

    assert_eq!(model.unused(), 0);
    let fix = fix_requests(&model);
    assert_eq!(fix.len(), 2, "one retry, no more");
    let retry = fix[1].contents("user");
    assert!(
        retry.last().is_some_and(|r| r.contains(
            "Your edit cannot be used: edit 1: the search text is not in `src/rates.rs`"
        )),
        "{retry:#?}"
    );
    story.app.stop().await;
}
