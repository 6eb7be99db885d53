//! payments-api 43 loads a whole settlement file into memory. Each new task prints that it
//! cannot allocate, the kernel kills it (exit 137), the circuit breaker fails the rollout,
//! and the deploy job times out waiting for the service to be stable. Its database is fine.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::{Deployment, EcsService, Stopped};
use crate::harness::*;
use crate::support::postgres::PgCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_killed_for_memory_are_oom_killed_in_the_service_itself() {
    let mut incident = Incident::begin(30).await;
    let deployed = minutes_ago(12);

    let db = PgCluster::start(20).await;
    incident.var("PAYMENTS_DB_URL", &db.url("fixpoint"));

    let oom = "OutOfMemoryError: Container killed due to memory usage";
    EcsService::new("staging", "payments-api")
        .counts(3, 2, 0)
        .task_definition(512, &["DATABASE_URL", "SETTLEMENT_BUCKET"], &["STRIPE_KEY"])
        .deployment(
            Deployment::circuit_broken(43, deployed)
                .counts(3, 0, 0)
                .failed_tasks(3),
        )
        .deployment(Deployment::previous(42, 2, minutes_ago(600)))
        .stopped(Stopped::exited(minutes_ago(10), 137, Some(oom)))
        .stopped(Stopped::exited(minutes_ago(8), 137, Some(oom)))
        .stopped(Stopped::exited(minutes_ago(6), 137, Some(oom)))
        .event(
            minutes_ago(5),
            "(service payments-api) (deployment ecs-svc/4718046393727436785) deployment failed: tasks failed to start.",
        )
        .serve(&incident.aws.stub);
    let mut lines = Vec::new();
    for (stream, at) in [("ecs/web/a1", 10), ("ecs/web/b2", 8), ("ecs/web/c3", 6)] {
        let started = minutes_ago(at + 1);
        lines.push((
            stream,
            started,
            "INFO payments-api 43 listening on :8080".to_string(),
        ));
        lines.push((
            stream,
            seconds_after(started, 20),
            "INFO settlement: loading batch 2026-11-24 (1,204,331 rows) into memory".to_string(),
        ));
        lines.push((
            stream,
            seconds_after(started, 55),
            "memory allocation of 536870912 bytes failed".to_string(),
        ));
    }
    incident.aws.logs("/ecs/payments-api", lines).await;

    incident
        .failed_run(
            "acme/payments-api",
            deploy_failed(
                9001,
                "payments-api",
                "Wait for payments-api to be stable",
                "aws ecs wait services-stable --cluster staging --services payments-api\n\
                 Waiter ServicesStable failed: Max attempts exceeded",
            ),
        )
        .await;

    let map = incident.map(
        "payments-api.yaml",
        "service: payments-api
environment: staging
repo: acme/payments-api
ecs: {cluster: staging, service: payments-api}
logs: {group: /ecs/payments-api}
downstream:
  - {name: postgresql, type: db, skill: postgres, url_env: PAYMENTS_DB_URL}
",
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "payments-api",
        "ecs",
        Status::Degraded,
        &["rollout FAILED", "3 OOM kills"],
    );
    assert_saw(
        &report,
        "payments-api",
        "gha",
        Status::Degraded,
        &["Wait for payments-api to be stable"],
    );
    assert_saw(&report, "postgresql", "postgres", Status::Healthy, &[]);

    assert_root_cause(&report, "payments-api", Class::OomKilled);
    let d = &report.diagnosis;
    assert_eq!(chain(d), [("payments-api", Class::OomKilled)]);
    assert!(d.noise.is_empty(), "{:#?}", d.noise);
    assert_eq!(d.proposed_action.kind, ActionKind::Infra);
    assert!(
        d.proposed_action.summary.contains("currently 512 MB"),
        "{}",
        d.proposed_action.summary
    );
    assert!(d.confidence >= 0.8, "{}", d.confidence);

    incident.cli_agrees(&map, &report).await;
}
