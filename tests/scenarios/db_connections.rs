//! payments-api 43 opens a transaction per request and, on one code path, never ends it.
//! Its pool's connections sit idle in transaction until the database (8 slots, 3 kept for
//! superusers) has none left; new requests time out waiting for a connection, `/health` (which
//! queries the database) times out too, and the load balancer fails the new tasks.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::{Deployment, EcsService};
use crate::harness::*;
use crate::support::postgres::PgCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_held_idle_in_transaction_exhaust_the_database() {
    let incident = Incident::begin(30).await;
    let deployed = minutes_ago(15);

    // 8 connections, 3 reserved: 5 for the app and Fixpoint. The app's pool takes 4 and
    // leaves each idle in a transaction; Fixpoint's own session is the fifth.
    let db = PgCluster::start(8).await;
    let mut held = Vec::new();
    for id in 1..=4i64 {
        let mut conn = db.connect("app").await;
        sqlx::query("BEGIN")
            .execute(&mut conn)
            .await
            .expect("BEGIN");
        sqlx::query("SELECT status FROM orders WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(&mut conn)
            .await
            .expect("a row lock");
        held.push(conn);
    }
    db.wait_for(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND state = 'idle in transaction'",
        4,
    )
    .await;
    incident.var("PAYMENTS_DB_URL", &db.url("fixpoint"));

    let mut ecs = EcsService::new("staging", "payments-api")
        .counts(2, 2, 0)
        .task_definition(1024, &["DATABASE_URL", "DATABASE_POOL_SIZE"], &[])
        .deployment(
            Deployment::circuit_broken(43, deployed)
                .counts(2, 0, 0)
                .failed_tasks(2),
        )
        .deployment(Deployment::previous(42, 2, minutes_ago(700)));
    ecs = ecs.unhealthy_targets(&[12, 8], "Request timed out");
    ecs.serve(&incident.aws.stub);
    let first = minutes_ago(13);
    let mut lines = vec![(
        "ecs/web/9d01",
        first,
        "INFO payments-api 43 listening on :8080".to_string(),
    )];
    for i in 0..40 {
        lines.push((
            "ecs/web/9d01",
            seconds_after(first, 20 + 15 * i),
            "ERROR sqlx::pool::acquire: pool timed out while waiting for an open connection (GET /health)".to_string(),
        ));
    }
    incident.aws.logs("/ecs/payments-api", lines).await;

    let map = incident.map(
        "payments-api.yaml",
        "service: payments-api
environment: staging
ecs: {cluster: staging, service: payments-api}
logs: {group: /ecs/payments-api}
downstream:
  - {name: postgresql, type: db, skill: postgres, url_env: PAYMENTS_DB_URL}
",
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "postgresql",
        "postgres",
        Status::Degraded,
        &[
            "connections nearly exhausted",
            // 5 of 5: the app's four and Fixpoint's own session.
            "/5 usable connections",
            "4 idle in transaction",
        ],
    );

    assert_root_cause(&report, "postgresql", Class::DbConnectionsExhausted);
    let d = &report.diagnosis;
    assert_eq!(
        chain(d),
        [
            ("postgresql", Class::DbConnectionsExhausted),
            ("payments-api", Class::HealthCheckFailed)
        ]
    );
    assert!(d.noise.is_empty(), "{:#?}", d.noise);
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert!(
        d.proposed_action.summary.contains("max_connections (8)"),
        "{}",
        d.proposed_action.summary
    );

    incident.cli_agrees(&map, &report).await;
    drop(held);
}
