//! payments-api keeps its task definition outside the repository (Terraform, the console).
//! Without `allow: [ecs_api]` nothing is changed and the reason says how to let Fixpoint act;
//! with it, the fix is a revision registered from the one the service runs, minus the fields
//! only DescribeTaskDefinition returns, and the PR must say to carry it into code.

use fixpoint::diagnose::RootCauseClass;
use fixpoint::harness::plans::{Change, PlanKind};
use serde_json::Value;

use crate::memory::oom;
use crate::world::*;

pub fn described() -> Value {
    serde_json::from_str(&fixture("describe-task-definition.json")).unwrap()
}

#[tokio::test]
async fn without_the_allowance_the_reason_says_to_add_the_file_or_allow_it() {
    let mut w = World::new(&[("src/server.js", "app.listen(8080);\n")]);
    w.last_good_task_definition = Some(described());
    let why = no_fix(decide(&w, &oom(), &config(""), &[]).await);
    assert!(
        why.contains("no task definition file in the repository"),
        "{why}"
    );
    assert!(why.contains("`allow: [ecs_api]`"), "{why}");
}

#[tokio::test]
async fn with_the_allowance_a_revision_is_built_from_the_running_one() {
    let mut w = World::new(&[("src/server.js", "app.listen(8080);\n")]);
    w.last_good_task_definition = Some(described());
    // The running revision (the failing deploy) already has 1 GB: the raise builds on it.
    let mut current = described();
    current["taskDefinition"]["memory"] = "1024".into();
    current["taskDefinition"]["revision"] = 42.into();
    w.current_task_definition = Some(current);
    let p = plan(decide(&w, &oom(), &config("allow: [ecs_api]\n"), &[]).await);
    assert_eq!(p.kind, PlanKind::EcsApi);
    assert_eq!(p.fingerprint, "infra:oom_killed:payments-api/memory=2048");
    let Change::Ecs(change) = &p.change else {
        panic!("an ECS change, got {:#?}", p.change)
    };
    assert_eq!(
        (change.cluster.as_str(), change.service.as_str()),
        ("payments-staging", SERVICE)
    );
    let td = &change.task_definition;
    assert_eq!(td["memory"], "2048");
    assert_eq!(td["containerDefinitions"][0]["memory"], 1536);
    for read_only in [
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
    ] {
        assert!(
            td.get(read_only).is_none(),
            "{read_only} is refused by RegisterTaskDefinition"
        );
    }
    assert_eq!(td["family"], "payments-api");
    assert!(
        p.notes.iter().any(|n| n.contains("carry this change into")),
        "{:#?}",
        p.notes
    );
}

#[tokio::test]
async fn a_missing_secret_is_restored_through_the_api_as_its_reference() {
    let mut w = World::new(&[]);
    w.last_good_task_definition = Some(described());
    let mut current = described();
    current["taskDefinition"]["containerDefinitions"][0]["secrets"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["name"] != "STRIPE_API_KEY");
    w.current_task_definition = Some(current);
    let d = diagnosis(
        RootCauseClass::MissingConfig,
        SERVICE,
        Some("STRIPE_API_KEY"),
        &[(
            "logs:/ecs/payments-api",
            "Error: STRIPE_API_KEY must be set",
        )],
    );
    let p = plan(decide(&w, &d, &config("allow: [ecs_api]\n"), &[]).await);
    let Change::Ecs(change) = &p.change else {
        panic!("an ECS change")
    };
    let secrets = change.task_definition["containerDefinitions"][0]["secrets"]
        .as_array()
        .unwrap();
    assert!(secrets.contains(&serde_json::json!({
        "name": "STRIPE_API_KEY",
        "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/payments/stripe-api-key"
    })));
}
