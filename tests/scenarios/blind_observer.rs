//! Fixpoint is started on a laptop off the VPN, with no AWS credentials. Nothing in
//! staging is wrong that the sweep could know of: the ECS and logs checks cannot run, and
//! every staging host name fails to resolve, the database's, the cache's and the ledger's
//! alike. Blaming whichever dependency's failure scores highest would be wrong with
//! confidence; the honest answer is "I cannot see staging from here", with the shared cause.
//! Host names under `.invalid` never resolve (RFC 6761), wherever the test runs.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_that_cannot_see_staging_says_so_and_blames_no_dependency() {
    let incident = Incident::begin(30).await;
    // No credentials anywhere in the chain, and no instance metadata to fall back on.
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        incident.unset(name);
    }
    incident.var("AWS_EC2_METADATA_DISABLED", "true");
    incident.var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/fixpoint-credentials",
    );
    incident.var("AWS_CONFIG_FILE", "/nonexistent/fixpoint-config");
    incident.var(
        "PAYMENTS_DB_URL",
        "postgres://app:hunter2@payments-db.staging.invalid:5432/payments",
    );
    incident.var(
        "PAYMENTS_REDIS_URL",
        "redis://:hunter2@payments-cache.staging.invalid:6379",
    );

    let map = incident.map(
        "payments-api.yaml",
        &service_map(
            "payments-api",
            "downstream:
  - {name: postgresql, type: db, skill: postgres, url_env: PAYMENTS_DB_URL}
  - {name: redis, type: cache, skill: redis, url_env: PAYMENTS_REDIS_URL}
  - {name: ledger-api, type: http, skill: http-health, url: \"http://ledger.staging.invalid/health\", timeout_s: 5}
",
        ),
    );

    let report = incident.investigate(&map).await;
    for (node, skill) in [("payments-api", "ecs"), ("payments-api", "cloudwatch")] {
        assert_eq!(
            finding(&report, node, skill).status,
            Status::Unknown,
            "{}",
            describe(&report)
        );
    }
    for (node, skill) in [
        ("postgresql", "postgres"),
        ("redis", "redis"),
        ("ledger-api", "http-health"),
    ] {
        let f = finding(&report, node, skill);
        assert_eq!(f.status, Status::Down, "{node}: {}", f.summary);
    }

    assert_root_cause(&report, "payments-api", Class::Unknown);
    let d = &report.diagnosis;
    assert!(
        d.root_cause
            .summary
            .contains("cannot see payments-api's environment from here")
            && d.root_cause.summary.contains("host names do not resolve"),
        "{}",
        d.root_cause.summary
    );
    // No dependency is blamed: each is noise, for the same shared reason.
    for node in ["postgresql", "redis", "ledger-api"] {
        let why = noise(&report, node);
        assert!(
            why.contains("the view from where Fixpoint runs"),
            "{node}: {why}"
        );
    }
    assert!(
        d.missing.iter().any(|m| m.contains("AWS credentials"))
            && d.missing.iter().any(|m| m.contains("DNS resolver")),
        "{:#?}",
        d.missing
    );
    assert_eq!(d.confidence, 0.0);
    assert_eq!(d.proposed_action.kind, ActionKind::Escalate);

    incident.cli_agrees(&map, &report).await;
}
