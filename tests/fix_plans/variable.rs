//! A commit dropped a variable from payments-api's task definition and its tasks stop at
//! start-up naming it: the entry comes back as it was when the service last ran well, a plain
//! value as a value, a secret as its `valueFrom` reference, and a secret that only exists in
//! plain text is never written anywhere.

use fixpoint::diagnose::RootCauseClass;
use fixpoint::harness::plans::PlanKind;
use serde_json::Value;

use crate::world::*;

const TASK_DEF: &str = "task-definition.json";

pub fn missing(var: &str) -> fixpoint::diagnose::Diagnosis {
    let line = format!("Error: missing required environment variable {var}");
    diagnosis(
        RootCauseClass::MissingConfig,
        SERVICE,
        Some(var),
        &[("logs:/ecs/payments-api", &line)],
    )
}

/// The fixture without the named entry (the bad commit's file).
pub fn without(var: &str) -> String {
    let mut doc: Value = serde_json::from_str(&fixture("fargate-task-definition.json")).unwrap();
    let c = &mut doc["containerDefinitions"][0];
    for list in ["environment", "secrets"] {
        if let Some(items) = c[list].as_array_mut() {
            items.retain(|e| e["name"] != var);
        }
    }
    format!("{}\n", serde_json::to_string_pretty(&doc).unwrap())
}

#[tokio::test]
async fn a_plain_variable_comes_back_from_the_last_good_revision() {
    let w = World::new(&[(TASK_DEF, &without("PAYMENTS_REGION"))]);
    let mut w = w;
    w.last_good_task_definition =
        Some(serde_json::from_str(&fixture("describe-task-definition.json")).unwrap());
    let p = plan(decide(&w, &missing("PAYMENTS_REGION"), &config(""), &[]).await);
    assert_eq!(p.kind, PlanKind::RestoreVariable);
    assert_eq!(
        p.fingerprint,
        "infra:missing_config:payments-api:PAYMENTS_REGION"
    );
    let (_, text) = only_file(&p);
    let doc: Value = serde_json::from_str(text).unwrap();
    let env = doc["containerDefinitions"][0]["environment"]
        .as_array()
        .unwrap();
    assert!(env.contains(&serde_json::json!({"name": "PAYMENTS_REGION", "value": "eu-west-1"})));
    assert!(
        p.summary.contains("last good task definition revision"),
        "{}",
        p.summary
    );
}

#[tokio::test]
async fn a_secret_comes_back_as_its_reference_never_as_a_value() {
    // The bad commit dropped DATABASE_URL's `secrets` entry; ECS has no last good revision
    // to ask (a new service), so the file at the last good commit is the source.
    let w = World::new(&[(TASK_DEF, &fixture("fargate-task-definition.json"))])
        .at_head(TASK_DEF, Some(&without("DATABASE_URL")));
    let p = plan(decide(&w, &missing("DATABASE_URL"), &config(""), &[]).await);
    assert_eq!(
        p.fingerprint,
        "infra:missing_config:payments-api:DATABASE_URL"
    );
    let (_, text) = only_file(&p);
    let doc: Value = serde_json::from_str(text).unwrap();
    let c = &doc["containerDefinitions"][0];
    assert_eq!(
        c["secrets"][0],
        serde_json::json!({"name": "DATABASE_URL", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:payments/database-url-Xy12Ab"})
    );
    assert!(
        !c["environment"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "DATABASE_URL"),
        "a secret never becomes a plain environment value"
    );
    assert!(
        p.summary.contains("at the last good commit 1111111"),
        "{}",
        p.summary
    );
}

#[tokio::test]
async fn a_secret_kept_only_in_plain_text_is_never_written() {
    let secret = "postgres://payments:hunter2-s3cr3t@db.staging.internal:5432/payments";
    // The last good revision had the URL, password included, as a plain value.
    let mut last_good: Value =
        serde_json::from_str(&fixture("describe-task-definition.json")).unwrap();
    let c = &mut last_good["taskDefinition"]["containerDefinitions"][0];
    c["secrets"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["name"] != "DATABASE_URL");
    c["environment"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "DATABASE_URL", "value": secret}));
    let mut w = World::new(&[(TASK_DEF, &without("DATABASE_URL"))]);
    w.last_good_task_definition = Some(last_good);
    let why = no_fix(decide(&w, &missing("DATABASE_URL"), &config(""), &[]).await);
    assert!(why.contains("never writes a secret value"), "{why}");
    assert!(why.contains("`valueFrom`"), "{why}");
    assert!(
        !why.contains("hunter2"),
        "the reason never quotes the secret: {why}"
    );
}

#[tokio::test]
async fn a_variable_nobody_ever_set_is_not_invented() {
    let w = World::new(&[(TASK_DEF, &fixture("fargate-task-definition.json"))]);
    let d = missing("FRAUD_SERVICE_URL");
    let decision = decide(&w, &d, &config(""), &[]).await;
    // Nothing changed since the last good commit either: nothing to restore, nothing to revert.
    let why = no_fix(decision);
    assert!(why.contains("FRAUD_SERVICE_URL is not restored"), "{why}");
    assert!(
        why.contains("no file changed since the last good commit"),
        "{why}"
    );
}

#[tokio::test]
async fn the_variable_is_read_from_the_evidence_when_the_fix_names_none() {
    let w = World::new(&[(TASK_DEF, &fixture("fargate-task-definition.json"))])
        .at_head(TASK_DEF, Some(&without("PAYMENTS_REGION")));
    let mut d = missing("PAYMENTS_REGION");
    d.proposed_action.fingerprint = None;
    d.evidence = vec![fixpoint::skills::Evidence::new(
        "ecs:missing-env",
        "a stop reason mentions PAYMENTS_REGION, which is NOT among the task definition's variables",
    )];
    let p = plan(decide(&w, &d, &config(""), &[]).await);
    assert_eq!(
        p.fingerprint,
        "infra:missing_config:payments-api:PAYMENTS_REGION"
    );
}
