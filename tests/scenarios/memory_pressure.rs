//! The seed's story told to the end: "service B stopped consuming from the SQS queue two
//! hours ago, which caused service A's queue depth to spike, which caused the memory pressure
//! that looked like a code bug." payments-api 43 holds back settlements while payments-jobs is
//! over its depth limit, buffering them in memory; the buffer grows until its tasks are
//! killed for memory. On its own that is an OOM and a bigger task. It is not: ledger-consumer
//! broke two hours before, and payments-api's errors point at its queue.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::consumer_down::{ledger_consumer_down, payments_map};
use crate::harness::ecs::{Deployment, EcsService, Stopped};
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oom_in_the_caller_is_explained_by_the_consumer_that_broke_first() {
    let incident = Incident::begin(180).await.depth(3);
    let ledger = ledger_consumer_down(&incident).await;

    let deployed = minutes_ago(14);
    let oom = "OutOfMemoryError: Container killed due to memory usage";
    EcsService::new("staging", "payments-api")
        .counts(2, 1, 0)
        .task_definition(1024, &["DATABASE_URL", "PAYMENTS_QUEUE_URL"], &[])
        .deployment(
            Deployment::circuit_broken(43, deployed)
                .counts(2, 0, 0)
                .failed_tasks(3),
        )
        .deployment(Deployment::previous(42, 1, minutes_ago(900)))
        .stopped(Stopped::exited(minutes_ago(11), 137, Some(oom)))
        .stopped(Stopped::exited(minutes_ago(8), 137, Some(oom)))
        .stopped(Stopped::exited(minutes_ago(5), 137, Some(oom)))
        .serve(&incident.aws.stub);
    let mut lines = Vec::new();
    for (stream, at) in [("ecs/web/d1", 13), ("ecs/web/d2", 10), ("ecs/web/d3", 7)] {
        let started = minutes_ago(at);
        for k in 0..4 {
            lines.push((
                stream,
                seconds_after(started, 20 + 20 * k),
                format!(
                    "ERROR settlement send deferred: payments-jobs depth 300 over limit 250; {} settlements buffered in memory",
                    12_000 * (k + 1)
                ),
            ));
        }
        lines.push((
            stream,
            seconds_after(started, 110),
            "memory allocation of 268435456 bytes failed".to_string(),
        ));
    }
    incident.aws.logs("/ecs/payments-api", lines).await;
    let map = payments_map(&incident, &ledger);

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "payments-api",
        "ecs",
        Status::Degraded,
        &["3 OOM kills"],
    );

    assert_root_cause(&report, "ledger-consumer", Class::CrashLoop);
    let d = &report.diagnosis;
    // The OOM is the last link: what the consumer's outage did to payments-api.
    assert_eq!(
        chain(d),
        [
            ("ledger-consumer", Class::CrashLoop),
            ("sqs-payments", Class::QueueBacklog),
            ("payments-api", Class::OomKilled)
        ]
    );
    assert!(d.noise.is_empty(), "{:#?}", d.noise);
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert!(
        !d.proposed_action.summary.contains("task memory"),
        "more memory is the junior engineer's fix: {}",
        d.proposed_action.summary
    );

    incident.cli_agrees(&map, &report).await;
}
