//! Ranking against the topology: callers, noise, and when nothing explains the failure.

use super::sweep::*;

#[test]
fn an_upstream_outage_while_the_service_itself_is_healthy() {
    let d = run(&sweep(vec![
        finding(
            "api-gateway",
            1,
            "http-health",
            Status::Down,
            "503 Service Unavailable",
        )
        .m("status_code", 503.0),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        ("api-gateway", Class::DependencyUnhealthy),
        "{d:#?}"
    );
    assert!(
        d.root_cause
            .summary
            .contains("payments-api itself shows no failure"),
        "{}",
        d.root_cause.summary
    );
    assert_eq!(chain(&d), [("api-gateway", Class::DependencyUnhealthy)]);
    assert_eq!(d.proposed_action.kind, ActionKind::Escalate);
}

#[test]
fn in_a_noisy_environment_only_the_node_that_explains_the_failure_wins() {
    let mut changes = connections_exhausted();
    changes.push(
        finding(
            "lambda-worker",
            1,
            "lambda",
            Status::Degraded,
            "12 throttles",
        )
        .m("throttles", 12.0)
        .m("errors", 0.0)
        .m("reserved_concurrency", 10.0)
        .e_at(
            "cloudwatch:AWS/Lambda Throttles",
            "Throttles: 12 in 5 min",
            at(8, 14),
        ),
    );
    let d = run(&sweep(changes));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        ("postgresql", Class::DbConnectionsExhausted),
        "{d:#?}"
    );
    assert_eq!(
        chain(&d),
        [
            ("postgresql", Class::DbConnectionsExhausted),
            (SERVICE, Class::HealthCheckFailed)
        ]
    );
    let why = noise(&d, "lambda-worker");
    assert!(why.contains("nothing on the failing path"), "{why}");
    assert!(why.contains("began after postgresql's"), "{why}");
    assert_eq!(d.noise.len(), 1, "{:#?}", d.noise);

    let ranked = candidates(SERVICE, &sweep(connections_exhausted()), Some(&graph()));
    assert_eq!(
        (ranked[0].node.as_str(), ranked[0].class),
        ("postgresql", Class::DbConnectionsExhausted)
    );
    assert!(
        ranked[0]
            .why
            .contains("payments-api's errors point at postgresql"),
        "{}",
        ranked[0].why
    );
}

#[test]
fn when_nothing_explains_the_failure_it_says_unknown_and_what_is_missing() {
    let d = run(&sweep(vec![
        finding(
            SERVICE,
            0,
            "ecs",
            Status::Unknown,
            "AccessDeniedException: not authorized to perform ecs:DescribeServices",
        ),
        finding(
            SERVICE,
            0,
            "cloudwatch",
            Status::Unknown,
            "AccessDeniedException: not authorized to perform logs:FilterLogEvents",
        ),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        (SERVICE, Class::Unknown),
        "{d:#?}"
    );
    assert_eq!(d.confidence, 0.0);
    assert_eq!(d.proposed_action.kind, ActionKind::Escalate);
    assert!(
        d.missing
            .iter()
            .any(|m| m.contains("payments-api (ecs)") && m.contains("DescribeServices")),
        "{:#?}",
        d.missing
    );
    assert!(
        d.missing
            .iter()
            .any(|m| m.contains("payments-api (cloudwatch)")),
        "{:#?}",
        d.missing
    );

    // An empty sweep says which checks it lacked.
    let d = diagnose(SERVICE, &[], None, &DebugContext::default());
    assert_eq!(d.root_cause.class, Class::Unknown);
    assert!(
        d.missing.iter().any(|m| m.contains("add `ecs:`")),
        "{:#?}",
        d.missing
    );
}

#[test]
fn a_diagnosis_serialises_with_the_fixed_vocabulary() {
    let d = run(&consumer_down());
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["root_cause"]["class"], "crash_loop");
    assert_eq!(json["chain"][1]["class"], "queue_backlog");
    assert_eq!(json["engine"], "rules");
}
