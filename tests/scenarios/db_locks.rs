//! The deploy's migration adds a column to `orders` and then backfills it in the same
//! transaction, which stalls: it holds an ACCESS EXCLUSIVE lock and sits idle in transaction.
//! Every request that reads an order waits behind it; the ones with a lock timeout fail,
//! `/health` times out, and the new tasks fail their health checks.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::{Deployment, EcsService};
use crate::harness::*;
use crate::support::postgres::PgCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_holding_a_lock_blocks_the_app_and_is_escalated() {
    let incident = Incident::begin(30).await;
    let deployed = minutes_ago(11);

    let db = PgCluster::start(20).await;
    let mut migration = db.connect("app").await;
    sqlx::query("BEGIN")
        .execute(&mut migration)
        .await
        .expect("BEGIN");
    sqlx::query("ALTER TABLE orders ADD COLUMN refunded_at timestamptz")
        .execute(&mut migration)
        .await
        .expect("the migration's ALTER TABLE");
    // Two requests read orders and wait behind the migration.
    let mut waiting = Vec::new();
    for id in [7i64, 8] {
        let mut conn = db.connect("app").await;
        waiting.push(tokio::spawn(async move {
            let _ = sqlx::query("SELECT status FROM orders WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut conn)
                .await;
        }));
    }
    db.wait_for(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
        2,
    )
    .await;
    // A request with a lock timeout gives up: what the service printed is PostgreSQL's own word.
    let mut request = db.connect("app").await;
    sqlx::query("SET lock_timeout = '200ms'")
        .execute(&mut request)
        .await
        .expect("SET");
    let refused = sqlx::query("SELECT status FROM orders WHERE id = 17")
        .fetch_optional(&mut request)
        .await
        .expect_err("the read waits out its lock timeout")
        .to_string();
    assert!(
        refused.contains("canceling statement due to lock timeout"),
        "{refused}"
    );
    drop(request);
    incident.var("PAYMENTS_DB_URL", &db.url("fixpoint"));

    let mut ecs = EcsService::new("staging", "payments-api")
        .counts(2, 2, 0)
        .task_definition(1024, &["DATABASE_URL"], &[])
        .deployment(
            Deployment::circuit_broken(43, deployed)
                .counts(2, 0, 0)
                .failed_tasks(2),
        )
        .deployment(Deployment::previous(42, 2, minutes_ago(700)));
    ecs = ecs.unhealthy_targets(&[9, 6], "Request timed out");
    ecs.serve(&incident.aws.stub);
    let first = minutes_ago(10);
    let mut lines = Vec::new();
    for i in 0..25 {
        lines.push((
            "ecs/web/4c2f",
            seconds_after(first, 12 * i),
            format!("ERROR GET /payments/{} failed: {refused}", 100 + i),
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
            "2 sessions blocked on locks",
            "AccessExclusiveLock on orders",
            "ALTER TABLE orders ADD COLUMN refunded_at",
        ],
    );

    assert_root_cause(&report, "postgresql", Class::DbBlockingLocks);
    let d = &report.diagnosis;
    assert!(
        d.root_cause.summary.contains("behind a schema migration"),
        "{}",
        d.root_cause.summary
    );
    assert_eq!(
        chain(d),
        [
            ("postgresql", Class::DbBlockingLocks),
            ("payments-api", Class::HealthCheckFailed)
        ]
    );
    // Cancelling someone's migration is a person's call.
    assert_eq!(d.proposed_action.kind, ActionKind::Escalate);
    assert!(
        d.proposed_action.summary.contains("ALTER TABLE orders"),
        "{}",
        d.proposed_action.summary
    );

    incident.cli_agrees(&map, &report).await;
    sqlx::query("ROLLBACK")
        .execute(&mut migration)
        .await
        .expect("ROLLBACK");
    for w in waiting {
        w.await
            .expect("the waiting reads finish once the lock is gone");
    }
}
