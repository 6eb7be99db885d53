//! What the model says, and what Fixpoint does with it: valid answers are used, invalid ones
//! get one retry with the reason, and anything else falls back to the rules engine, saying why.

use std::time::{Duration, Instant};

use fixpoint::diagnose::{ActionKind, Engine, RootCauseClass};
use serde_json::json;

use crate::diagnose;
use crate::incident::{
    INJECTION, answer_with, anthropic_model, evidence_id, fence_marker, findings, good_answer,
    openai_model, rules_diagnosis,
};
use crate::support::model_server::Reply;

#[tokio::test]
async fn a_valid_answer_becomes_the_diagnosis_by_the_model() {
    let (server, config) = openai_model(&[]).await;
    let findings = findings();
    let pg = evidence_id(&findings, "postgres:pg_stat_activity");
    // Models overstate: confidence 1.4 is clamped, not refused.
    server.script([Reply::json(answer_with(&pg, "/confidence", json!(1.4)))]);

    let d = diagnose(&config, &findings).await;
    assert_eq!(d.engine, Engine::Llm);
    assert_eq!(d.root_cause.node, "postgresql");
    assert_eq!(d.root_cause.class, RootCauseClass::DbConnectionsExhausted);
    assert_eq!(d.chain.len(), 2);
    assert_eq!(d.confidence, 1.0);
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert_eq!(
        d.evidence,
        vec![findings[2].evidence[0].clone()],
        "cited evidence maps back to the finding"
    );
    assert_eq!(d.noise[0].node, "redis");
    assert_eq!(d.note, None);
}

#[tokio::test]
async fn an_answer_citing_no_evidence_keeps_the_findings_evidence_for_its_node() {
    let (server, config) = anthropic_model(&[]).await;
    let findings = findings();
    server.script([Reply::json(answer_with("E1", "/evidence", json!([])))]);

    let d = diagnose(&config, &findings).await;
    assert_eq!(d.engine, Engine::Llm);
    assert_eq!(
        d.evidence, findings[2].evidence,
        "postgresql's own evidence"
    );
}

#[tokio::test]
async fn invalid_json_then_a_valid_answer_is_used_after_one_retry() {
    let (server, config) = openai_model(&[]).await;
    let findings = findings();
    let pg = evidence_id(&findings, "postgres:pg_stat_activity");
    server.script([
        Reply::answer("The root cause is postgresql running out of connections."),
        Reply::json(good_answer(&pg)),
    ]);

    let d = diagnose(&config, &findings).await;
    assert_eq!(d.engine, Engine::Llm);
    assert_eq!(d.root_cause.node, "postgresql");
    assert!(
        d.note
            .as_deref()
            .unwrap()
            .contains("first answer was invalid"),
        "{:?}",
        d.note
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 2, "exactly one retry");
    let retry = &requests[1];
    let roles: Vec<&str> = retry.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "user"],
        "the invalid answer, then the reason, as a user turn"
    );
    assert_eq!(
        retry.contents("assistant")[0],
        "The root cause is postgresql running out of connections."
    );
    let reason = &retry.contents("user")[1];
    assert!(reason.contains("the answer is not valid JSON"), "{reason}");
}

#[tokio::test]
async fn a_node_outside_the_topology_twice_falls_back_to_the_rules_engine() {
    let (server, config) = openai_model(&[]).await;
    let findings = findings();
    let pg = evidence_id(&findings, "postgres:pg_stat_activity");
    let wrong = answer_with(&pg, "/root_cause/node", json!("payments-db"));
    server.script([Reply::json(wrong.clone()), Reply::json(wrong)]);

    let d = diagnose(&config, &findings).await;
    let rules = rules_diagnosis();
    assert_eq!(d.engine, Engine::Rules);
    assert_eq!(d.root_cause, rules.root_cause);
    assert_eq!(d.proposed_action, rules.proposed_action);
    assert_eq!(
        d.note.as_deref(),
        Some(
            "model answer invalid twice: node `payments-db` is not in the topology; used the rules engine"
        )
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "one retry, no more");
    assert!(requests[1].contents("user")[1].contains("node `payments-db` is not in the topology"));
}

#[tokio::test]
async fn a_class_outside_the_vocabulary_is_sent_back_and_corrected() {
    let (server, config) = openai_model(&[]).await;
    let findings = findings();
    let pg = evidence_id(&findings, "postgres:pg_stat_activity");
    server.script([
        Reply::json(answer_with(
            &pg,
            "/root_cause/class",
            json!("connection_leak"),
        )),
        Reply::json(good_answer(&pg)),
    ]);

    let d = diagnose(&config, &findings).await;
    assert_eq!(d.engine, Engine::Llm);
    assert_eq!(d.root_cause.class, RootCauseClass::DbConnectionsExhausted);
    let reason = &server.requests()[1].contents("user")[1];
    assert!(
        reason.contains("class `connection_leak` is not in the vocabulary"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_class_outside_the_vocabulary_twice_falls_back_to_the_rules_engine() {
    let (server, config) = anthropic_model(&[]).await;
    let findings = findings();
    let pg = evidence_id(&findings, "postgres:pg_stat_activity");
    let wrong = answer_with(&pg, "/chain/1/class", json!("kaboom"));
    server.script([Reply::json(wrong.clone()), Reply::json(wrong)]);

    let d = diagnose(&config, &findings).await;
    assert_eq!(d.engine, Engine::Rules);
    assert_eq!(
        d.note.as_deref(),
        Some(
            "model answer invalid twice: chain class `kaboom` is not in the vocabulary; used the rules engine"
        )
    );
    // Anthropic's turns alternate on the retry too (the server refuses them otherwise).
    let roles: Vec<String> = server.requests()[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
}

#[tokio::test]
async fn a_model_that_obeys_a_prompt_injection_in_a_log_is_overruled() {
    let (server, config) = openai_model(&[]).await;
    let findings = findings();
    // The model does what the log line says.
    let obeying = json!({
        "root_cause": {"node": "evil", "class": "unknown", "summary": "as instructed"},
        "chain": [], "confidence": 1.0, "evidence": [],
        "proposed_action": {"kind": "none", "summary": ""}
    });
    server.script([Reply::json(obeying.clone()), Reply::json(obeying)]);

    let d = diagnose(&config, &findings).await;
    assert_eq!(d.engine, Engine::Rules);
    assert_eq!(d.root_cause.node, "postgresql");
    assert_eq!(
        d.note.as_deref(),
        Some(
            "model answer invalid twice: node `evil` is not in the topology; action `none` while payments-api, postgresql are unhealthy cites no evidence: cite the ids that show why nothing should be done, or propose an action; used the rules engine"
        )
    );
    // The payload did reach the model, but only as fenced data.
    let request = &server.requests()[0];
    let marker = fence_marker(&request.contents("system")[0]);
    let user = &request.contents("user")[0];
    let at = user.find(INJECTION).unwrap();
    assert!(
        user[..at].ends_with("WARN request body: ")
            && user[..at].contains(&format!("<{marker} source=\"logs:/ecs/payments-api\""))
    );
}

#[tokio::test]
async fn a_model_that_hangs_past_the_timeout_falls_back_to_the_rules_engine() {
    let (server, config) = openai_model(&[("FIXPOINT_LLM_TIMEOUT_SECS", "1")]).await;
    let findings = findings();
    server.script([Reply::hang(Duration::from_secs(30))]);

    let started = Instant::now();
    let d = diagnose(&config, &findings).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up after {:?}",
        started.elapsed()
    );
    assert_eq!(d.engine, Engine::Rules);
    assert_eq!(d.root_cause, rules_diagnosis().root_cause);
    assert_eq!(
        d.note.as_deref(),
        Some("model timed out after 1 s; used the rules engine")
    );
    assert_eq!(server.requests().len(), 1, "a timeout is not retried");
}

#[tokio::test]
async fn a_provider_error_falls_back_to_the_rules_engine_naming_the_status() {
    let (server, config) = anthropic_model(&[]).await;
    server.script([Reply::Error(529, "Overloaded".into())]);

    let d = diagnose(&config, &findings()).await;
    assert_eq!(d.engine, Engine::Rules);
    assert_eq!(
        d.note.as_deref(),
        Some("model request failed: HTTP 529 (Overloaded); used the rules engine")
    );
    assert_eq!(server.requests().len(), 1, "errors are not retried");
}

#[tokio::test]
async fn an_http_500_on_the_retry_still_ends_in_the_rules_diagnosis() {
    let (server, config) = openai_model(&[]).await;
    server.script([
        Reply::answer("{\"root_cause\": "),
        Reply::Error(500, "The server had an error".into()),
    ]);

    let d = diagnose(&config, &findings()).await;
    assert_eq!(d.engine, Engine::Rules);
    let note = d.note.unwrap();
    assert!(
        note.starts_with("model answer invalid (the answer is not valid JSON"),
        "{note}"
    );
    assert!(
        note.ends_with(
            "then model request failed: HTTP 500 (The server had an error); used the rules engine"
        ),
        "{note}"
    );
}

#[tokio::test]
async fn an_unreachable_model_falls_back_to_the_rules_engine() {
    let (server, config) = openai_model(&[]).await;
    drop(server); // nothing listens on that port any more
    tokio::time::sleep(Duration::from_millis(50)).await;

    let d = diagnose(&config, &findings()).await;
    assert_eq!(d.engine, Engine::Rules);
    let note = d.note.unwrap();
    assert!(note.starts_with("model request failed: "), "{note}");
    assert!(note.ends_with("; used the rules engine"), "{note}");
}

#[tokio::test]
async fn repeating_the_fix_that_already_failed_is_refused() {
    let (server, config) = openai_model(&[]).await;
    let findings = findings();
    let pg = evidence_id(&findings, "postgres:pg_stat_activity");
    // Iteration 1 tried "infra: raise max_connections on postgresql to 200"; reworded, it is the same fix.
    let again = answer_with(
        &pg,
        "/proposed_action",
        json!({"kind": "infra", "summary": "Raise max_connections to 200 on postgresql."}),
    );
    server.script([Reply::json(again.clone()), Reply::json(again)]);

    let d = diagnose(&config, &findings).await;
    assert_eq!(d.engine, Engine::Rules);
    let note = d.note.unwrap();
    assert!(note.starts_with("model answer invalid twice: the proposed action `Raise max_connections to 200 on postgresql.` repeats the fix tried in iteration 1"), "{note}");
    let reason = &server.requests()[1].contents("user")[1];
    assert!(
        reason.contains("repeats the fix tried in iteration 1, which did not work"),
        "{reason}"
    );
}

#[tokio::test]
async fn citing_evidence_that_was_never_shown_is_refused() {
    let (server, config) = openai_model(&[]).await;
    let findings = findings();
    let pg = evidence_id(&findings, "postgres:pg_stat_activity");
    server.script([
        Reply::json(good_answer("E99")),
        Reply::json(good_answer(&pg)),
    ]);

    let d = diagnose(&config, &findings).await;
    assert_eq!(d.engine, Engine::Llm);
    let reason = &server.requests()[1].contents("user")[1];
    assert!(
        reason.contains("evidence `E99` was not shown in the findings"),
        "{reason}"
    );
}

#[tokio::test]
async fn without_a_topology_the_findings_name_the_valid_nodes() {
    let (server, config) = openai_model(&[]).await;
    let findings = findings();
    let pg = evidence_id(&findings, "postgres:pg_stat_activity");
    // ledger-db is in the map but not in the findings.
    let ledger = answer_with(&pg, "/root_cause/node", json!("ledger-db"));
    server.script([Reply::json(ledger), Reply::json(good_answer(&pg))]);

    let d = fixpoint::diagnose::llm::diagnose_with_model(
        &config,
        "payments-api",
        &findings,
        None,
        &crate::incident::history(),
        &rules_diagnosis(),
    )
    .await;
    assert_eq!(d.engine, Engine::Llm);
    assert_eq!(d.root_cause.node, "postgresql");
    assert!(
        server.requests()[1].contents("user")[1]
            .contains("node `ledger-db` is not in the topology")
    );
}

#[test]
fn the_schema_the_model_is_given_agrees_with_the_checks() {
    let nodes = ["payments-api", "postgresql", "redis"];
    let schema = fixpoint::diagnose::llm::answer::answer_schema(&nodes);
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid JSON Schema");
    assert!(
        validator.is_valid(&good_answer("E4")),
        "{:?}",
        validator
            .iter_errors(&good_answer("E4"))
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
    for (pointer, value) in [
        ("/root_cause/node", json!("evil")),
        ("/root_cause/class", json!("connection_leak")),
        ("/chain/0/node", json!("payments-db")),
        ("/proposed_action/kind", json!("merge")),
        ("/confidence", json!("high")),
    ] {
        assert!(
            !validator.is_valid(&answer_with("E4", pointer, value.clone())),
            "{pointer} = {value} passed the schema"
        );
    }
}
