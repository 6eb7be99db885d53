//! fx-settler drains fx-settlements. The payments team started sending settlements in HRK,
//! a currency the settler's rate table no longer has: its handler raises `KeyError: 'HRK'`,
//! the message comes back, and after three receives SQS moves it to the dead-letter queue.
//! Every task keeps running and every other message settles. The same words a variable
//! missing at start-up prints; but nothing restarts, and the dead letters are those messages.
//! The rates provider the settler calls answers 503 meanwhile: a plausible story, but the
//! failing messages say KeyError, not 503, and nothing in the settler's errors points at it.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::EcsService;
use crate::harness::*;
use crate::support::http_servers::HttpServers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_error_in_a_healthy_consumer_with_a_filling_dlq_is_a_poison_message() {
    let incident = Incident::begin(30).await;

    // A real redrive: moto moves each message to the DLQ after its third receive.
    let queue = incident
        .aws
        .queue("fx-settlements", Some(("fx-settlements-dlq", 3)))
        .await;
    incident
        .aws
        .send(&queue, 12, |i| {
            format!(
                "{{\"settlement\": {}, \"currency\": \"HRK\", \"amount\": \"{}.00\"}}",
                7100 + i,
                40 + i
            )
        })
        .await;
    incident
        .aws
        .fail_every_message(&queue, "fx-settlements-dlq", 12)
        .await;

    let deployed = minutes_ago(240);
    EcsService::steady("staging", "fx-settler", 21, 2, deployed)
        .task_definition(512, &["QUEUE_URL", "RATES_URL"], &[])
        .serve(&incident.aws.stub);
    let first = minutes_ago(18);
    let mut lines = Vec::new();
    for i in 0..12 {
        let at = seconds_after(first, 40 * i);
        lines.push((
            "ecs/settler/7a",
            at,
            format!("ERROR settlement {} failed: KeyError: 'HRK'", 7100 + i),
        ));
        lines.push((
            "ecs/settler/7a",
            seconds_after(at, 5),
            format!("INFO settlement {} settled in EUR", 6900 + i),
        ));
    }
    incident.aws.logs("/ecs/fx-settler", lines).await;

    let provider = HttpServers::start().await;
    let map = incident.map(
        "fx-settler.yaml",
        &service_map(
            "fx-settler",
            &format!(
                "upstream:
  - {{name: fx-settlements, type: queue, skill: sqs, queue: fx-settlements, dlq: fx-settlements-dlq}}
downstream:
  - {{name: rates-provider, type: http, skill: http-health, url: \"{}\", timeout_s: 5}}
",
                provider.unavailable()
            ),
        ),
    );

    let report = incident.investigate(&map).await;
    assert_saw(&report, "fx-settler", "ecs", Status::Healthy, &[]);
    assert_saw(
        &report,
        "fx-settlements",
        "sqs",
        Status::Degraded,
        &["dead-letter queue fx-settlements-dlq holds 12 messages"],
    );

    assert_root_cause(&report, "fx-settlements", Class::DeadLetters);
    let d = &report.diagnosis;
    assert_eq!(
        chain(d),
        [
            ("fx-settlements", Class::DeadLetters),
            ("fx-settler", Class::DependencyUnhealthy)
        ]
    );
    // The failing message's shape is the evidence, and start-up is ruled out in words.
    assert!(
        d.evidence
            .iter()
            .any(|e| e.text.contains("KeyError: 'HRK'")),
        "{:#?}",
        d.evidence
    );
    assert!(
        d.root_cause.summary.contains("not its start-up"),
        "{}",
        d.root_cause.summary
    );
    let why = noise(&report, "rates-provider");
    assert!(why.contains("shows an error that points at it"), "{why}");
    assert_eq!(d.proposed_action.kind, ActionKind::Code);

    incident.cli_agrees(&map, &report).await;
}
