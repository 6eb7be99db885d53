//! fx-quotes 12 moved to a new task execution role, created without the managed ECR policy.
//! No task ever starts: ECS cannot get the registry's credentials, and says so in the form
//! every `ResourceInitializationError` takes: "unable to pull secrets or registry auth: …".
//! The task definition references no secrets, so "secrets" is the prefix, not the cause:
//! the image pull's registry auth is. Meanwhile the reporting team's function is throttled,
//! loud on its own and nothing fx-quotes does touches it.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::{Deployment, EcsService, Stopped};
use crate::harness::*;

const AUTH: &str = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/fx-quotes-execution/4c1d is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_auth_refused_is_an_image_pull_failure_not_a_missing_secret() {
    let incident = Incident::begin(30).await;
    let deployed = minutes_ago(11);
    EcsService::new("staging", "fx-quotes")
        .counts(2, 0, 0)
        // Plain variables only: nothing for ECS to fetch from Secrets Manager or SSM.
        .task_definition(512, &["FX_PROVIDER_URL", "LOG_LEVEL"], &[])
        .deployment(
            Deployment::circuit_broken(12, deployed)
                .counts(2, 0, 0)
                .failed_tasks(3),
        )
        .stopped(Stopped::failed_to_start(minutes_ago(10), AUTH))
        .stopped(Stopped::failed_to_start(minutes_ago(7), AUTH))
        .stopped(Stopped::failed_to_start(minutes_ago(4), AUTH))
        .serve(&incident.aws.stub);
    // No container ever ran to write a line.
    incident.aws.logs("/ecs/fx-quotes", Vec::new()).await;

    // The competing story: a function throttled at reserved concurrency 0.
    incident.aws.throttled_function("report-generator").await;

    let map = incident.map(
        "fx-quotes.yaml",
        &service_map(
            "fx-quotes",
            "downstream:
  - {name: report-generator, type: compute, skill: lambda, function: report-generator}
",
        ),
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "fx-quotes",
        "ecs",
        Status::Down,
        &["3 registry auth failures"],
    );
    let ecs = finding(&report, "fx-quotes", "ecs");
    assert_eq!(ecs.metrics.get("secret_fetch_failures"), Some(&0.0));
    assert_eq!(ecs.metrics.get("secret_vars"), Some(&0.0));

    assert_root_cause(&report, "fx-quotes", Class::ImagePullFailed);
    let d = &report.diagnosis;
    assert!(
        d.root_cause
            .summary
            .contains("may not call ecr:GetAuthorizationToken"),
        "{}",
        d.root_cause.summary
    );
    assert_eq!(chain(d), [("fx-quotes", Class::ImagePullFailed)]);
    let why = noise(&report, "report-generator");
    assert!(why.contains("nothing on the failing path"), "{why}");
    assert_eq!(d.proposed_action.kind, ActionKind::Infra);
    assert!(
        d.proposed_action.summary.contains("execution role"),
        "{}",
        d.proposed_action.summary
    );
    assert!(d.confidence >= 0.8, "{}", d.confidence);

    incident.cli_agrees(&map, &report).await;
}
