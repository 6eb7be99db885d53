//! The seed's incident. ledger-consumer, which drains payments-jobs, has crashed at start-up
//! for two hours (its code expects a schema its database does not have yet). Nothing drained
//! the queue since; payments-api 43's readiness check now reports the backlog, its new tasks
//! fail their health checks, and its deploy fails. Everyone looks at payments-api.
//!
//! No single map shows the story: payments-api's team maps its queue and ledger-api;
//! the ledger team's map links its consumer; the consumer's map says it reads payments-jobs.
//! The consumer is two links from payments-api and its queue edge a third: depth 3.

use std::path::PathBuf;

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::{Deployment, EcsService, Stopped};
use crate::harness::*;
use crate::support::http_servers::HttpServers;
use crate::support::postgres::PgCluster;

/// The ledger team's side, kept running while the incident lasts.
pub struct LedgerSide {
    pub http: HttpServers,
    /// ledger-db: healthy, checked from the consumer's map.
    pub _db: PgCluster,
}

/// payments-jobs holds two hours of payments because ledger-consumer has crashed at start-up
/// since; ledger-api and the ledger database are fine. Writes the ledger team's two maps.
pub async fn ledger_consumer_down(incident: &Incident) -> LedgerSide {
    // The queue: 300 payments waiting for two hours, none in flight. (moto takes ~0.1 s per
    // batch of ten: a bigger backlog would only make the test slower, not the story truer.)
    let queue = incident
        .aws
        .queue("payments-jobs", Some(("payments-jobs-dlq", 5)))
        .await;
    incident
        .aws
        .send(&queue, 300, |i| {
            format!("{{\"payment\": {}, \"settle\": true}}", 8000 + i)
        })
        .await;
    incident.aws.oldest_message_age("payments-jobs", 7140.0);

    // ledger-consumer: crashing at start-up since two hours ago.
    let crashed = minutes_ago(125);
    let mut consumer = EcsService::new("staging", "ledger-consumer")
        .counts(2, 0, 1)
        .task_definition(512, &["LEDGER_DB_URL", "QUEUE_URL"], &[])
        .deployment(
            Deployment::primary(18, "IN_PROGRESS", "ECS deployment in progress.", crashed)
                .counts(2, 0, 1)
                .failed_tasks(9),
        );
    let mut consumer_logs = Vec::new();
    for k in 0..4 {
        let at = seconds_after(crashed, 60 + 1500 * k);
        consumer = consumer.stopped(Stopped::exited(seconds_after(at, 3), 101, None));
        consumer_logs.push((
            "ecs/consumer/c0",
            at,
            "INFO ledger-consumer 18 starting, queue payments-jobs".to_string(),
        ));
        consumer_logs.push((
            "ecs/consumer/c0",
            seconds_after(at, 2),
            "thread 'main' panicked at src/schema.rs:31:9: ledger schema version 41 != 42 (run the ledger migrations first)"
                .to_string(),
        ));
    }
    consumer.serve(&incident.aws.stub);
    incident
        .aws
        .logs("/ecs/ledger-consumer", consumer_logs)
        .await;
    let db = PgCluster::start(20).await;
    incident.var("LEDGER_DB_URL", &db.url("fixpoint"));

    // ledger-api: the ledger team's front door, healthy.
    let http = HttpServers::start().await;
    EcsService::steady("staging", "ledger-api", 7, 2, minutes_ago(3000)).serve(&incident.aws.stub);
    incident
        .aws
        .logs(
            "/ecs/ledger-api",
            vec![(
                "ecs/api/a0",
                minutes_ago(30),
                "INFO GET /balances/42 200 12ms".to_string(),
            )],
        )
        .await;

    incident.map(
        "ledger-api.yaml",
        "service: ledger-api
environment: staging
ecs: {cluster: staging, service: ledger-api}
logs: {group: /ecs/ledger-api}
downstream:
  - {name: ledger-consumer, type: service, topology: ledger-consumer.yaml}
",
    );
    incident.map(
        "ledger-consumer.yaml",
        "service: ledger-consumer
environment: staging
ecs: {cluster: staging, service: ledger-consumer}
logs: {group: /ecs/ledger-consumer}
upstream:
  - {name: sqs-payments, type: queue, skill: sqs, queue: payments-jobs, dlq: payments-jobs-dlq}
downstream:
  - {name: ledger-db, type: db, skill: postgres, url_env: LEDGER_DB_URL}
",
    );
    LedgerSide { http, _db: db }
}

/// payments-api's own map: its queue, and ledger-api (whose map leads on to the consumer).
pub fn payments_map(incident: &Incident, ledger: &LedgerSide) -> PathBuf {
    incident.map(
        "payments-api.yaml",
        &format!(
            "service: payments-api
environment: staging
ecs: {{cluster: staging, service: payments-api}}
logs: {{group: /ecs/payments-api}}
downstream:
  - {{name: sqs-payments, type: queue, skill: sqs, queue: payments-jobs, dlq: payments-jobs-dlq}}
  - {{name: ledger-api, type: service, skill: http-health, url: \"{}\", topology: ledger-api.yaml}}
",
            ledger.http.healthy()
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_down_three_hops_away_explains_the_callers_failing_health_checks() {
    let incident = Incident::begin(180).await.depth(3);
    let ledger = ledger_consumer_down(&incident).await;

    // payments-api: its new tasks report not ready and are stopped.
    let deployed = minutes_ago(12);
    let mut payments = EcsService::new("staging", "payments-api")
        .counts(2, 2, 0)
        .task_definition(1024, &["DATABASE_URL", "PAYMENTS_QUEUE_URL"], &[])
        .deployment(
            Deployment::circuit_broken(43, deployed)
                .counts(2, 0, 0)
                .failed_tasks(2),
        )
        .deployment(Deployment::previous(42, 2, minutes_ago(900)));
    payments = payments.unhealthy_targets(&[10, 6], "Health checks failed with these codes: [503]");
    payments.serve(&incident.aws.stub);
    let first = minutes_ago(11);
    let lines = (0..20)
        .map(|i| {
            (
                "ecs/web/8a9b",
                seconds_after(first, 30 * i),
                format!("ERROR readiness: payments-jobs backlog {} messages, oldest 7140 s (limit 250): not ready", 300 + i),
            )
        })
        .collect();
    incident.aws.logs("/ecs/payments-api", lines).await;
    let map = payments_map(&incident, &ledger);

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "sqs-payments",
        "sqs",
        Status::Degraded,
        &["300 visible, 0 in flight"],
    );
    assert_saw(
        &report,
        "ledger-consumer",
        "ecs",
        Status::Down,
        &["running 0/2"],
    );
    assert_eq!(
        finding(&report, "ledger-consumer", "ecs").hop,
        2,
        "the consumer is two links away"
    );
    assert!(
        report
            .sweep
            .findings
            .iter()
            .any(|f| f.node == "sqs-payments" && f.hop == 3),
        "the queue is also checked from the consumer's map, at hop 3"
    );
    assert_saw(&report, "ledger-db", "postgres", Status::Healthy, &[]);
    assert_saw(&report, "ledger-api", "http-health", Status::Healthy, &[]);

    assert_root_cause(&report, "ledger-consumer", Class::CrashLoop);
    let d = &report.diagnosis;
    assert_eq!(
        chain(d),
        [
            ("ledger-consumer", Class::CrashLoop),
            ("sqs-payments", Class::QueueBacklog),
            ("payments-api", Class::HealthCheckFailed)
        ]
    );
    assert!(d.noise.is_empty(), "{:#?}", d.noise);
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert!(
        d.proposed_action.summary.contains("ledger-consumer"),
        "{}",
        d.proposed_action.summary
    );

    incident.cli_agrees(&map, &report).await;
}
