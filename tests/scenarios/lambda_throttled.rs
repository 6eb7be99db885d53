//! payments-api 43 invokes payments-worker once per line item instead of once per payment.
//! The function's reserved concurrency is 2: most invocations are throttled, and
//! payments-api logs TooManyRequestsException on every other request.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::EcsService;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_over_reserved_concurrency_are_lambda_throttled() {
    let incident = Incident::begin(30).await;

    incident.aws.function("payments-worker", Some(2)).await;
    incident.aws.function_metrics(
        "payments-worker",
        vec![61.0, 58.0, 64.0, 60.0],
        vec![0.0, 0.0, 0.0, 0.0],
        vec![118.0, 97.0, 131.0, 104.0],
    );

    let deployed = minutes_ago(18);
    EcsService::steady("staging", "payments-api", 43, 2, deployed)
        .replaced(2, deployed)
        .task_definition(1024, &["WORKER_FUNCTION"], &[])
        .serve(&incident.aws.stub);
    let first = minutes_ago(14);
    let lines = (0..40)
        .map(|i| {
            (
                "ecs/web/1f2e",
                seconds_after(first, 15 * i),
                format!(
                    "ERROR POST /payments/{}/capture: invoke payments-worker: TooManyRequestsException: Rate Exceeded.",
                    9100 + i
                ),
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
  - {name: lambda-worker, type: compute, skill: lambda, function: payments-worker}
",
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "lambda-worker",
        "lambda",
        Status::Degraded,
        &["450 throttles", "reserved concurrency 2"],
    );

    assert_root_cause(&report, "lambda-worker", Class::LambdaThrottled);
    let d = &report.diagnosis;
    assert_eq!(
        chain(d),
        [
            ("lambda-worker", Class::LambdaThrottled),
            ("payments-api", Class::DependencyUnhealthy)
        ]
    );
    assert_eq!(d.proposed_action.kind, ActionKind::Infra);
    assert!(
        d.proposed_action.summary.contains("currently 2"),
        "{}",
        d.proposed_action.summary
    );

    incident.cli_agrees(&map, &report).await;
}
