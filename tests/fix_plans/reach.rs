//! Causes outside payments-api's repository: nothing is changed, and the reason carries the
//! chain so the next step (an escalation) can name who owns the cause.

use fixpoint::diagnose::{ChainLink, RootCauseClass};

use crate::world::*;

fn link(node: &str, class: RootCauseClass) -> ChainLink {
    ChainLink {
        node: node.into(),
        class,
    }
}

#[tokio::test]
async fn the_consumer_three_hops_away_is_down_nothing_is_changed() {
    let w = World::new(&[(
        "task-definition.json",
        &fixture("fargate-task-definition.json"),
    )]);
    let mut d = diagnosis(
        RootCauseClass::DependencyUnhealthy,
        "ledger-consumer",
        None,
        &[("ecs:service", "ledger-consumer: 0/2 tasks running")],
    );
    d.chain = vec![
        link("ledger-consumer", RootCauseClass::DependencyUnhealthy),
        link("ledger-events", RootCauseClass::QueueBacklog),
        link("notification-svc", RootCauseClass::DependencyUnhealthy),
        link(SERVICE, RootCauseClass::DependencyUnhealthy),
    ];
    let why = no_fix(decide(&w, &d, &config(""), &[]).await);
    assert!(why.contains("outside payments-api's repository"), "{why}");
    assert!(
        why.contains("ledger-consumer (dependency_unhealthy) → ledger-events (queue_backlog) → notification-svc (dependency_unhealthy) → payments-api"),
        "{why}"
    );
    assert!(w.reads.lock().unwrap().is_empty(), "nothing was even read");
}

#[tokio::test]
async fn a_database_or_cache_cause_is_not_the_services_to_fix_even_when_named_at_it() {
    let w = World::new(&[]);
    for class in [
        RootCauseClass::DbConnectionsExhausted,
        RootCauseClass::CacheMemoryPressure,
        RootCauseClass::LambdaThrottled,
    ] {
        let d = diagnosis(
            class,
            SERVICE,
            None,
            &[("logs:/ecs/payments-api", "pool timed out")],
        );
        let why = no_fix(decide(&w, &d, &config(""), &[]).await);
        assert!(
            why.starts_with(&format!("{} at payments-api is outside", class.as_str())),
            "{why}"
        );
    }
}

#[tokio::test]
async fn an_unknown_cause_changes_nothing_and_says_what_is_missing() {
    let w = World::new(&[]);
    let mut d = diagnosis(RootCauseClass::Unknown, SERVICE, None, &[]);
    d.missing = vec!["AWS credentials for the lower environment".into()];
    let why = no_fix(decide(&w, &d, &config(""), &[]).await);
    assert!(why.contains("the cause is unknown"), "{why}");
    assert!(
        why.contains("AWS credentials for the lower environment"),
        "{why}"
    );
}
