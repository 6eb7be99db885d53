//! staging was rebuilt overnight and payments-api 43 points at an image tag the build never
//! pushed (`3f9c12a`, the pipeline pushes `sha-3f9c12a`). No task ever starts: each fails to
//! pull, the circuit breaker fails the rollout, and nothing reaches the logs.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::{Deployment, EcsService, Stopped};
use crate::harness::*;

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/payments-api:3f9c12a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_cannot_be_pulled_names_the_image() {
    let incident = Incident::begin(30).await;
    let deployed = minutes_ago(9);
    let pull = format!(
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {IMAGE}: {IMAGE}: not found"
    );
    EcsService::new("staging", "payments-api")
        .counts(3, 0, 0)
        .image(IMAGE)
        .task_definition(1024, &["DATABASE_URL"], &["STRIPE_KEY"])
        .deployment(
            Deployment::circuit_broken(43, deployed)
                .counts(3, 0, 0)
                .failed_tasks(3),
        )
        .stopped(Stopped::failed_to_start(minutes_ago(8), &pull))
        .stopped(Stopped::failed_to_start(minutes_ago(6), &pull))
        .stopped(Stopped::failed_to_start(minutes_ago(4), &pull))
        .event(
            minutes_ago(3),
            "(service payments-api) (deployment ecs-svc/4718046393727436785) deployment failed: tasks failed to start.",
        )
        .serve(&incident.aws.stub);
    // The log group exists; no container ever ran to write to it.
    incident.aws.logs("/ecs/payments-api", Vec::new()).await;

    let map = incident.map(
        "payments-api.yaml",
        "service: payments-api
environment: staging
ecs: {cluster: staging, service: payments-api}
logs: {group: /ecs/payments-api}
",
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "payments-api",
        "ecs",
        Status::Down,
        &["running 0/3", "3 image pull failures"],
    );
    assert_saw(
        &report,
        "payments-api",
        "cloudwatch",
        Status::Healthy,
        &["no log events"],
    );

    assert_root_cause(&report, "payments-api", Class::ImagePullFailed);
    let d = &report.diagnosis;
    assert_eq!(chain(d), [("payments-api", Class::ImagePullFailed)]);
    assert_eq!(d.proposed_action.kind, ActionKind::Infra);
    assert!(
        d.proposed_action.summary.contains("payments-api:3f9c12a"),
        "{}",
        d.proposed_action.summary
    );
    assert!(d.confidence >= 0.8, "{}", d.confidence);

    incident.cli_agrees(&map, &report).await;
}
