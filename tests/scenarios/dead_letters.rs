//! payments-api 43 changed the settlement message (`amount` is now a string). The consumer
//! cannot parse the new messages: each is received, fails, comes back, and after three
//! receives SQS moves it to the dead-letter queue. Settlements never confirm; payments-api
//! logs the ones it waited for in vain. The deploy itself went out fine.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::EcsService;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_queue_filling_is_the_queues_dead_letters() {
    let incident = Incident::begin(30).await;

    let queue = incident
        .aws
        .queue("payments-jobs", Some(("payments-jobs-dlq", 3)))
        .await;
    incident
        .aws
        .send(&queue, 30, |i| {
            format!(
                "{{\"payment\": {}, \"amount\": \"{}.00\"}}",
                8800 + i,
                10 + i
            )
        })
        .await;
    // The consumer receives each message and never deletes it.
    incident
        .aws
        .fail_every_message(&queue, "payments-jobs-dlq", 30)
        .await;
    // A few fresh ones since.
    incident
        .aws
        .send(&queue, 3, |i| {
            format!("{{\"payment\": {}, \"amount\": \"5.00\"}}", 8900 + i)
        })
        .await;

    let deployed = minutes_ago(25);
    EcsService::steady("staging", "payments-api", 43, 2, deployed)
        .replaced(2, deployed)
        .task_definition(1024, &["PAYMENTS_QUEUE_URL"], &[])
        .serve(&incident.aws.stub);
    let first = minutes_ago(14);
    let lines = (0..9)
        .map(|i| {
            (
                "ecs/web/3c4d",
                seconds_after(first, 60 * i),
                format!("ERROR settlement of payment {} not confirmed after 300 s (sent to payments-jobs)", 8800 + i),
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
  - {name: sqs-payments, type: queue, skill: sqs, queue: payments-jobs, dlq: payments-jobs-dlq}
",
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "sqs-payments",
        "sqs",
        Status::Degraded,
        &["dead-letter queue payments-jobs-dlq holds 30 messages"],
    );
    let queue = finding(&report, "sqs-payments", "sqs");
    assert_eq!(
        queue.metrics.get("max_receive_count"),
        Some(&3.0),
        "the redrive policy is read"
    );
    assert_eq!(queue.metrics.get("visible"), Some(&3.0));

    assert_root_cause(&report, "sqs-payments", Class::DeadLetters);
    let d = &report.diagnosis;
    assert_eq!(
        chain(d),
        [
            ("sqs-payments", Class::DeadLetters),
            ("payments-api", Class::DependencyUnhealthy)
        ]
    );
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert!(
        d.proposed_action.summary.contains("redrive"),
        "{}",
        d.proposed_action.summary
    );

    incident.cli_agrees(&map, &report).await;
}
