//! Incidents in what payments-api depends on, one hop or three away.

use super::sweep::*;

#[test]
fn database_connections_exhausted_explain_the_failing_health_check() {
    let d = run(&sweep(connections_exhausted()));
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
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert!(
        d.proposed_action.summary.contains("max_connections (100)"),
        "{}",
        d.proposed_action.summary
    );
    assert!(d.noise.is_empty(), "{:#?}", d.noise);
}

#[test]
fn blocking_locks_behind_a_migration_are_escalated() {
    let d = run(&sweep(vec![
        health_checks_failing(),
        finding(SERVICE, 0, "cloudwatch", Status::Degraded, "88 errors")
            .m("errors_total", 88.0)
            .e_at("logs:/ecs/payments-api", "ERROR: canceling statement due to lock timeout", at(8, 4)),
        finding("postgresql", 1, "postgres", Status::Degraded, "7 sessions blocked")
            .m("connections", 48.0)
            .m("max_connections", 100.0)
            .m("blocked_sessions", 7.0)
            .m("waiting_on_locks", 7.0)
            .m("longest_query_s", 840.0)
            .e(
                "postgres:pg_locks",
                "pid 4242 holds AccessExclusiveLock on payments for 840 s: ALTER TABLE payments ADD COLUMN settled_at timestamptz NOT NULL DEFAULT now()",
            ),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        ("postgresql", Class::DbBlockingLocks),
        "{d:#?}"
    );
    assert!(
        d.root_cause.summary.contains("schema migration"),
        "{}",
        d.root_cause.summary
    );
    assert_eq!(
        chain(&d),
        [
            ("postgresql", Class::DbBlockingLocks),
            (SERVICE, Class::HealthCheckFailed)
        ]
    );
    assert_eq!(d.proposed_action.kind, ActionKind::Escalate);
    assert!(
        d.proposed_action.summary.contains("ALTER TABLE payments"),
        "{}",
        d.proposed_action.summary
    );
}

#[test]
fn redis_evicting_under_memory_pressure() {
    let d = run(&sweep(vec![
        finding(SERVICE, 0, "cloudwatch", Status::Degraded, "57 errors")
            .m("errors_total", 57.0)
            .e_at(
                "logs:/ecs/payments-api",
                "redis: OOM command not allowed when used memory > 'maxmemory'",
                at(8, 5),
            ),
        finding(
            "redis",
            1,
            "redis",
            Status::Degraded,
            "98% of maxmemory, evicting",
        )
        .m("used_memory", 1_050_000_000.0)
        .m("maxmemory", 1_073_741_824.0)
        .m("evicted_keys", 48_211.0),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        ("redis", Class::CacheMemoryPressure),
        "{d:#?}"
    );
    assert_eq!(
        chain(&d),
        [
            ("redis", Class::CacheMemoryPressure),
            (SERVICE, Class::DependencyUnhealthy)
        ]
    );
    assert_eq!(d.proposed_action.kind, ActionKind::Infra);
    assert!(d.proposed_action.summary.contains("maxmemory"));
}

#[test]
fn an_sqs_consumer_down_three_hops_away_explains_the_caller() {
    let d = run(&consumer_down());
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        ("ledger-consumer", Class::CrashLoop),
        "{d:#?}"
    );
    assert_eq!(
        chain(&d),
        [
            ("ledger-consumer", Class::CrashLoop),
            ("sqs-payments", Class::QueueBacklog),
            (SERVICE, Class::HealthCheckFailed)
        ]
    );
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert!(d.noise.is_empty(), "{:#?}", d.noise);
    assert!(d.confidence >= 0.7, "{}", d.confidence);

    // Without the graph the hops and the queue's possible consumers are enough.
    let d = diagnose(SERVICE, &consumer_down(), None, &DebugContext::default());
    assert_eq!(
        chain(&d),
        [
            ("ledger-consumer", Class::CrashLoop),
            ("sqs-payments", Class::QueueBacklog),
            (SERVICE, Class::HealthCheckFailed)
        ],
        "{d:#?}"
    );
}

#[test]
fn a_deeper_node_explains_the_consumer_only_when_the_consumer_points_at_it() {
    // The consumer's logs name its database, which is down: the chain grows one link.
    let findings = replace(
        consumer_down(),
        vec![
            finding(
                "ledger-consumer",
                1,
                "cloudwatch",
                Status::Degraded,
                "crash at start-up",
            )
            .m("errors_total", 25.0)
            .e_at(
                "logs:/ecs/ledger-consumer",
                "could not connect to database ledger-db: connection refused",
                at(6, 2),
            ),
            finding(
                "ledger-db",
                2,
                "postgres",
                Status::Down,
                "connection refused",
            ),
        ],
    );
    let d = run(&findings);
    assert_eq!(
        chain(&d),
        [
            ("ledger-db", Class::DependencyUnhealthy),
            ("ledger-consumer", Class::CrashLoop),
            ("sqs-payments", Class::QueueBacklog),
            (SERVICE, Class::HealthCheckFailed)
        ],
        "{d:#?}"
    );
    assert_eq!(d.proposed_action.kind, ActionKind::Escalate);

    // A slow database the consumer's errors say nothing about does not explain its crash.
    let findings = replace(
        consumer_down(),
        vec![
            finding(
                "ledger-db",
                2,
                "postgres",
                Status::Degraded,
                "one slow query",
            )
            .m("longest_query_s", 120.0),
        ],
    );
    let d = run(&findings);
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        ("ledger-consumer", Class::CrashLoop),
        "{d:#?}"
    );
    assert!(
        noise(&d, "ledger-db").contains("nothing on the failing path"),
        "{:#?}",
        d.noise
    );
}

#[test]
fn a_dead_letter_queue_filling() {
    let d = run(&sweep(vec![
        finding(SERVICE, 0, "cloudwatch", Status::Degraded, "9 errors")
            .m("errors_total", 9.0)
            .e_at(
                "logs:/ecs/payments-api",
                "settlement of payment 8812 never confirmed (sent to payments-jobs 10 min ago)",
                at(8, 10),
            ),
        finding(
            "sqs-payments",
            1,
            "sqs",
            Status::Degraded,
            "57 messages dead-lettered",
        )
        .m("visible", 2.0)
        .m("in_flight", 1.0)
        .m("dlq_visible", 57.0)
        .m("max_receive_count", 5.0),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        ("sqs-payments", Class::DeadLetters),
        "{d:#?}"
    );
    assert_eq!(
        chain(&d),
        [
            ("sqs-payments", Class::DeadLetters),
            (SERVICE, Class::DependencyUnhealthy)
        ]
    );
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
}

#[test]
fn lambda_throttling() {
    let d = run(&sweep(vec![
        finding(SERVICE, 0, "cloudwatch", Status::Degraded, "312 errors")
            .m("errors_total", 312.0)
            .e_at(
                "logs:/ecs/payments-api",
                "TooManyRequestsException: Rate Exceeded (invoking payments-worker)",
                at(8, 6),
            ),
        finding(
            "lambda-worker",
            1,
            "lambda",
            Status::Degraded,
            "312 throttles",
        )
        .m("throttles", 312.0)
        .m("errors", 0.0)
        .m("reserved_concurrency", 2.0),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        ("lambda-worker", Class::LambdaThrottled),
        "{d:#?}"
    );
    assert_eq!(
        chain(&d),
        [
            ("lambda-worker", Class::LambdaThrottled),
            (SERVICE, Class::DependencyUnhealthy)
        ]
    );
    assert_eq!(d.proposed_action.kind, ActionKind::Infra);
    assert!(
        d.proposed_action.summary.contains("currently 2"),
        "{}",
        d.proposed_action.summary
    );
}

#[test]
fn an_http_dependency_down() {
    let d = run(&sweep(vec![
        finding(SERVICE, 0, "cloudwatch", Status::Degraded, "30 errors")
            .m("errors_total", 30.0)
            .e_at(
                "logs:/ecs/payments-api",
                "POST https://notify.staging.example.com/v1/send: connection refused",
                at(8, 2),
            ),
        finding(
            "notification-svc",
            1,
            "http-health",
            Status::Down,
            "connection refused",
        ),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        ("notification-svc", Class::DependencyUnhealthy),
        "{d:#?}"
    );
    assert_eq!(d.proposed_action.kind, ActionKind::Escalate);
}
