//! Two things are wrong in staging at once. payments-api 43's pool takes every connection
//! the database has, so new sessions are refused, `/health` (which queries the database)
//! answers 503, and the new tasks fail their health checks. Meanwhile the reporting team's
//! report-generator function sits at reserved concurrency 0, throttling everything: louder
//! on its own, but nothing payments-api does touches it.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::{Deployment, EcsService};
use crate::harness::*;
use crate::support::postgres::PgCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_degraded_nodes_the_one_the_service_points_at_wins_and_the_other_is_noise() {
    let incident = Incident::begin(30).await;

    // 8 connections, 3 reserved: payments-api's pool holds all 5 others.
    let db = PgCluster::start(8).await;
    let mut pool = Vec::new();
    for _ in 0..5 {
        pool.push(db.connect("app").await);
    }
    // The pool's next connection is refused: what payments-api logs is PostgreSQL's own word.
    let refused = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url("app")).await;
    let refused = match refused {
        Ok(_) => panic!("a sixth connection got in: the database is not full"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains("remaining connection slots are reserved"),
        "{refused}"
    );
    incident.var("PAYMENTS_DB_URL", &db.url("fixpoint"));

    incident.aws.function("report-generator", Some(0)).await;
    incident.aws.function_metrics(
        "report-generator",
        vec![0.0, 0.0],
        vec![0.0, 0.0],
        vec![210.0, 190.0],
    );

    let deployed = minutes_ago(13);
    let mut ecs = EcsService::new("staging", "payments-api")
        .counts(2, 2, 0)
        .task_definition(1024, &["DATABASE_URL", "DATABASE_POOL_SIZE"], &[])
        .deployment(
            Deployment::circuit_broken(43, deployed)
                .counts(2, 0, 0)
                .failed_tasks(2),
        )
        .deployment(Deployment::previous(42, 2, minutes_ago(700)));
    ecs = ecs.unhealthy_targets(&[10, 7], "Health checks failed with these codes: [503]");
    ecs.serve(&incident.aws.stub);
    let first = minutes_ago(11);
    let lines = (0..30)
        .map(|i| {
            (
                "ecs/web/0e1f",
                seconds_after(first, 20 * i),
                format!("ERROR sqlx::pool: cannot open a connection for GET /health: {refused}"),
            )
        })
        .collect();
    incident.aws.logs("/ecs/payments-api", lines).await;

    let map = incident.map(
        "payments-api.yaml",
        "service: payments-api
environment: staging
ecs: {cluster: staging, service: payments-api}
logs: {group: /ecs/payments-api}
downstream:
  - {name: postgresql, type: db, skill: postgres, url_env: PAYMENTS_DB_URL}
  - {name: report-generator, type: compute, skill: lambda, function: report-generator}
",
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "postgresql",
        "postgres",
        Status::Down,
        &["server refuses new connections (53300)"],
    );
    assert_saw(
        &report,
        "report-generator",
        "lambda",
        Status::Down,
        &["every invocation is throttled"],
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
    let why = noise(&report, "report-generator");
    assert!(why.contains("nothing on the failing path"), "{why}");
    assert_eq!(d.noise.len(), 1, "{:#?}", d.noise);
    assert_eq!(d.proposed_action.kind, ActionKind::Code);

    incident.cli_agrees(&map, &report).await;
    drop(pool);
}
