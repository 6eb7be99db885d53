//! What the rules may claim from what they saw: a sweep that cannot see says so, one node
//! that does not resolve is that node's, checks that could not run lower the confidence,
//! and words from tasks that keep running are not a start-up failure.

use super::sweep::*;

fn unresolved(node: &str, skill: &str, host: &str) -> Finding {
    finding(
        node,
        1,
        skill,
        Status::Down,
        &format!("DNS lookup failed for {host}"),
    )
    .e(
        &format!("{skill}:{host}"),
        "failed to lookup address information: Name or service not known",
    )
}

/// A node AWS would not say anything about.
fn no_credentials(node: &str, skill: &str) -> Finding {
    finding(
        node,
        1,
        skill,
        Status::Unknown,
        "check failed: no credentials",
    )
}

fn unreadable(skill: &str) -> Finding {
    finding(
        SERVICE,
        0,
        skill,
        Status::Unknown,
        "check failed: cannot describe ECS service staging/payments-api: dispatch failure: no credentials in the chain",
    )
}

#[test]
fn every_network_check_failing_dns_with_aws_unreadable_is_blind_not_a_dependency() {
    let d = run(&sweep(vec![
        unreadable("ecs"),
        unreadable("cloudwatch"),
        unresolved(
            "postgresql",
            "postgres",
            "payments-db.staging.internal:5432",
        ),
        unresolved("redis", "redis", "cache.staging.internal:6379"),
        unresolved("api-gateway", "http-health", "gw.staging.example.com"),
        unresolved(
            "notification-svc",
            "http-health",
            "notify.staging.example.com",
        ),
        no_credentials("sqs-payments", "sqs"),
        no_credentials("lambda-worker", "lambda"),
        no_credentials("ledger-consumer", "ecs"),
        no_credentials("ledger-consumer", "cloudwatch"),
        unresolved("ledger-db", "postgres", "ledger-db.staging.internal:5432"),
    ]));
    assert_eq!(d.root_cause.class, Class::Unknown, "{d:#?}");
    assert!(
        d.root_cause.summary.contains("cannot see"),
        "{}",
        d.root_cause.summary
    );
    assert_eq!(d.confidence, 0.0);
    assert!(
        noise(&d, "postgresql").contains("as for every other node"),
        "{d:#?}"
    );
}

#[test]
fn one_host_that_does_not_resolve_while_the_rest_answer_is_that_nodes_problem() {
    let d = run(&sweep(vec![
        finding(SERVICE, 0, "ecs", Status::Degraded, "1/3 running")
            .m("desired", 3.0)
            .m("running", 1.0),
        finding(SERVICE, 0, "cloudwatch", Status::Down, "60 error lines")
            .e(
                "logs:/ecs/payments-api",
                "ERROR sqlx: error communicating with database: failed to lookup address information: Name or service not known",
            ),
        unresolved("postgresql", "postgres", "payments-db.staging.internal:5432"),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        ("postgresql", Class::DependencyUnhealthy),
        "{d:#?}"
    );
}

#[test]
fn checks_that_could_not_run_lower_the_confidence_and_say_so() {
    let oom = oom();
    let seen = run(&oom);
    let half_blind = run(&replace(
        oom,
        vec![
            finding(
                "postgresql",
                1,
                "postgres",
                Status::Unknown,
                "check failed: PAYMENTS_DB_URL is not set",
            ),
            finding(
                "redis",
                1,
                "redis",
                Status::Unknown,
                "check failed: PAYMENTS_REDIS_URL is not set",
            ),
            no_credentials("sqs-payments", "sqs"),
            no_credentials("lambda-worker", "lambda"),
        ],
    ));
    assert_eq!(half_blind.root_cause.class, Class::OomKilled);
    assert!(
        half_blind.confidence < seen.confidence,
        "{} vs {}",
        half_blind.confidence,
        seen.confidence
    );
    let note = half_blind.note.as_deref().unwrap_or_default();
    assert!(note.contains("4 of 11 checks could not run"), "{note}");
}

#[test]
fn a_key_error_while_every_task_keeps_running_is_not_a_confident_missing_variable() {
    let d = run(&sweep(vec![
        finding(SERVICE, 0, "cloudwatch", Status::Degraded, "12 error lines").e(
            "logs:/ecs/payments-api",
            "ERROR GET /v1/fx/HRK failed: KeyError: 'HRK'",
        ),
    ]));
    assert!(d.confidence < 0.5, "{d:#?}");
    assert!(!d.missing.is_empty(), "{d:#?}");
}

#[test]
fn a_secret_fetch_stop_when_the_task_definition_names_no_secrets_is_weak() {
    let stop = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 5 time(s): ResourceNotFoundException";
    let ecs = |secrets: f64| {
        finding(SERVICE, 0, "ecs", Status::Down, "0/3 running")
            .m("desired", 3.0)
            .m("running", 0.0)
            .m("secret_fetch_failures", 3.0)
            .m("secret_vars", secrets)
            .e("ecs:stopped-task/9a9a", stop)
    };
    let named = run(&sweep(vec![ecs(1.0)]));
    let none = run(&sweep(vec![ecs(0.0)]));
    assert_eq!(named.root_cause.class, Class::MissingConfig, "{named:#?}");
    assert!(
        none.confidence < named.confidence,
        "{} vs {}",
        none.confidence,
        named.confidence
    );
}
