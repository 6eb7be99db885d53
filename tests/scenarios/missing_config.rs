//! payments-api 43 starts talking to a new card partner and reads PAYMENTS_API_KEY at
//! start-up, but nobody added it to the task definition. Every new task prints that the
//! variable is missing and exits 1; the old tasks keep serving, the rollout never finishes,
//! and the deploy action gives up waiting for the service to be stable.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::{Deployment, EcsService, Stopped};
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variable_missing_at_start_up_is_missing_config_not_a_crash_loop() {
    let mut incident = Incident::begin(30).await;
    let deployed = minutes_ago(14);

    let mut ecs = EcsService::new("staging", "payments-api")
        .counts(2, 2, 1)
        .task_definition(
            1024,
            &["DATABASE_URL", "REDIS_URL", "LOG_LEVEL"],
            &["STRIPE_KEY"],
        )
        .deployment(
            Deployment::primary(
                43,
                "IN_PROGRESS",
                "ECS deployment ecs-svc/4718046393727436785 in progress.",
                deployed,
            )
            .counts(2, 0, 1)
            .failed_tasks(4),
        )
        .deployment(Deployment::previous(42, 2, minutes_ago(900)));
    let mut lines = Vec::new();
    for (i, (stream, at)) in [
        ("ecs/web/0a1b", 12),
        ("ecs/web/1b2c", 9),
        ("ecs/web/2c3d", 6),
        ("ecs/web/3d4e", 3),
    ]
    .into_iter()
    .enumerate()
    {
        let started = minutes_ago(at);
        lines.push((
            stream,
            started,
            "INFO payments-api 43 starting (card partner: enabled)".to_string(),
        ));
        lines.push((
            stream,
            seconds_after(started, 1),
            "Error: missing required environment variable PAYMENTS_API_KEY".to_string(),
        ));
        ecs = ecs
            .stopped(Stopped::exited(seconds_after(started, 2), 1, None))
            .event(started, &format!("(service payments-api) has started 1 tasks: (task {i}f3c9a0e1b2d4c5e6f7a8b9c0d1e2f3a4)."));
    }
    // The old tasks, still serving.
    lines.push((
        "ecs/web/old1",
        minutes_ago(5),
        "INFO POST /payments 201 38ms".to_string(),
    ));
    ecs.serve(&incident.aws.stub);
    incident.aws.logs("/ecs/payments-api", lines).await;

    incident
        .failed_run(
            "acme/payments-api",
            deploy_failed(
                9002,
                "payments-api",
                "Deploy payments-api:43 to staging",
                "Deployment started. Watch this deployment's progress in the Amazon ECS console\n\
                 Waiting for the service to become stable.\n\
                 Error: Resource is not in the state servicesStable",
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
",
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "payments-api",
        "ecs",
        Status::Degraded,
        &["4 tasks stopped with errors"],
    );
    assert_saw(
        &report,
        "payments-api",
        "cloudwatch",
        Status::Degraded,
        &["PAYMENTS_API_KEY"],
    );

    assert_root_cause(&report, "payments-api", Class::MissingConfig);
    let d = &report.diagnosis;
    assert!(
        d.root_cause.summary.contains(
            "PAYMENTS_API_KEY is missing at start-up, and the task definition does not set it"
        ),
        "{}",
        d.root_cause.summary
    );
    // The tasks that keep exiting are this cause's symptom, not a second story.
    assert_eq!(chain(d), [("payments-api", Class::MissingConfig)]);
    assert!(d.noise.is_empty(), "{:#?}", d.noise);
    assert_eq!(d.proposed_action.kind, ActionKind::Infra);
    assert!(
        d.proposed_action
            .summary
            .contains("add PAYMENTS_API_KEY to payments-api's task definition"),
        "{}",
        d.proposed_action.summary
    );
    // Only the names of the task definition's variables are read, never their values.
    let all = serde_json::to_string(&report).unwrap();
    assert!(
        !all.contains("never-shown"),
        "a variable's value leaked: {all}"
    );

    incident.cli_agrees(&map, &report).await;
}
