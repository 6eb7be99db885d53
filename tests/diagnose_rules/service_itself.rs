//! Incidents in the service itself: the cause is payments-api's own.

use super::sweep::*;

#[test]
fn oom_killed_tasks_ask_for_more_memory() {
    let d = run(&oom());
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        (SERVICE, Class::OomKilled),
        "{d:#?}"
    );
    assert_eq!(chain(&d), [(SERVICE, Class::OomKilled)]);
    assert_eq!(d.proposed_action.kind, ActionKind::Infra);
    assert!(
        d.proposed_action.summary.contains("currently 1024 MB"),
        "{}",
        d.proposed_action.summary
    );
    assert!(noise(&d, "api-gateway").contains("upstream"), "{d:#?}");
    assert!(d.confidence >= 0.8, "{}", d.confidence);
    assert!(!d.evidence.is_empty());
}

#[test]
fn a_fix_the_history_shows_failed_is_not_proposed_again() {
    // What the loop records: the fix the diagnosis proposed, by its fingerprint, and how
    // the iteration ended. The prose is for people and is never read back.
    let entry = |iteration, d: &Diagnosis, result: &str, outcome| HistoryEntry {
        iteration,
        diagnosis: d.root_cause.summary.clone(),
        action: d.proposed_action.summary.clone(),
        commit: None,
        gha: None,
        result: result.into(),
        kind: Some(d.proposed_action.kind),
        fingerprint: d.proposed_action.fingerprint.clone(),
        outcome,
    };
    let mut history = DebugContext {
        service: SERVICE.into(),
        iteration: 1,
        history: Vec::new(),
    };
    let first = run_with(&oom(), &history);
    assert_eq!(first.proposed_action.kind, ActionKind::Infra);
    assert_eq!(
        first.proposed_action.fingerprint.as_deref(),
        Some("infra:oom_killed:payments-api")
    );
    history.iteration = 2;
    history.history.push(entry(
        1,
        &first,
        "still OOMKilled at 2048",
        IterationOutcome::Failed,
    ));
    let second = run_with(&oom(), &history);
    assert_eq!(second.root_cause.class, Class::OomKilled);
    assert_eq!(
        second.proposed_action.kind,
        ActionKind::Code,
        "{:?}",
        second.proposed_action
    );
    assert!(
        second.proposed_action.summary.contains("iteration 1"),
        "{}",
        second.proposed_action.summary
    );

    history.history.push(entry(
        2,
        &second,
        "the leak fix deployed; tasks still stop",
        IterationOutcome::NoChange,
    ));
    let d = run_with(&oom(), &history);
    assert_eq!(
        d.proposed_action.kind,
        ActionKind::Escalate,
        "{:?}",
        d.proposed_action
    );

    // A fix still pending, or one a person stopped, is not a failure, whatever its prose.
    for outcome in [IterationOutcome::Pending, IterationOutcome::Aborted] {
        history.history[1].outcome = outcome;
        history.history[1].result = "failed, still failing".into();
        assert_eq!(
            run_with(&oom(), &history).proposed_action.kind,
            ActionKind::Code,
            "{outcome:?}"
        );
    }

    // A raise to one size that did not hold leaves a larger raise open (memory is a sized
    // fix): the loop's plan names the size and never repeats it.
    history.history[0].fingerprint = Some("infra:oom_killed:payments-api/memory=3072".into());
    history.history[1].outcome = IterationOutcome::Failed;
    assert_eq!(
        run_with(&oom(), &history).proposed_action.kind,
        ActionKind::Infra
    );
    // A fix without a size (the leak fix) counts as tried whatever parameters it had.
    history.history[0].fingerprint = Some("infra:oom_killed:payments-api".into());
    history.history[1].fingerprint = Some("code:oom_killed:payments-api/edit=1a2b".into());
    assert_eq!(
        run_with(&oom(), &history).proposed_action.kind,
        ActionKind::Escalate
    );
    // Prose that reads like the fix, without its fingerprint, proves nothing was tried.
    history.history[0].fingerprint = None;
    assert_eq!(
        run_with(&oom(), &history).proposed_action.kind,
        ActionKind::Infra
    );
}

#[test]
fn a_missing_environment_variable_at_start_up_is_added_to_the_task_definition() {
    let d = run(&sweep(vec![
        finding(
            SERVICE,
            0,
            "ecs",
            Status::Down,
            "0/2 running: essential container exited",
        )
        .m("desired", 2.0)
        .m("running", 0.0)
        .m("stopped_tasks", 3.0)
        .e(
            "ecs:stopped-task/77aa",
            "Essential container in task exited (exit code 1)",
        )
        .e(
            "ecs:task-definition/payments-api:43",
            "environment: DATABASE_URL, REDIS_URL; secrets: STRIPE_KEY",
        ),
        finding(
            SERVICE,
            0,
            "cloudwatch",
            Status::Down,
            "3 errors at start-up",
        )
        .m("errors_total", 3.0)
        .e_at(
            "logs:/ecs/payments-api",
            "Error: missing required environment variable PAYMENTS_API_KEY",
            at(8, 1),
        ),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        (SERVICE, Class::MissingConfig),
        "{d:#?}"
    );
    assert!(
        d.root_cause.summary.contains("does not set it"),
        "{}",
        d.root_cause.summary
    );
    assert_eq!(chain(&d), [(SERVICE, Class::MissingConfig)]);
    assert_eq!(d.proposed_action.kind, ActionKind::Infra);
    assert!(
        d.proposed_action
            .summary
            .contains("add PAYMENTS_API_KEY to payments-api's task definition"),
        "{}",
        d.proposed_action.summary
    );
    assert!(
        d.noise.is_empty(),
        "the crash loop is the same node's symptom, not noise: {:#?}",
        d.noise
    );

    // The ecs skill's own cross-check of a stop reason, with no logs at all.
    let d = run(&sweep(vec![
        finding(SERVICE, 0, "ecs", Status::Down, "0/2 running")
            .m("desired", 2.0)
            .m("running", 0.0)
            .m("stopped_with_errors", 2.0)
            .e(
                "ecs:missing-env",
                "a stop reason mentions LEDGER_TOKEN, which is NOT among the task definition's variables",
            ),
    ]));
    assert_eq!(
        (d.root_cause.class, d.proposed_action.kind),
        (Class::MissingConfig, ActionKind::Infra),
        "{d:#?}"
    );
    assert!(
        d.proposed_action.summary.contains("add LEDGER_TOKEN"),
        "{}",
        d.proposed_action.summary
    );
}

#[test]
fn an_image_that_cannot_be_pulled() {
    let d = run(&sweep(vec![
        finding(SERVICE, 0, "ecs", Status::Down, "0/3 running: image pull failures")
            .m("desired", 3.0)
            .m("running", 0.0)
            .m("pending", 3.0)
            .m("image_pull_failures", 3.0)
            .e(
                "ecs:stopped-task/5c5c",
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref \
                 123456789012.dkr.ecr.us-east-1.amazonaws.com/payments-api:3f9c12a: not found",
            ),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        (SERVICE, Class::ImagePullFailed),
        "{d:#?}"
    );
    assert_eq!(chain(&d), [(SERVICE, Class::ImagePullFailed)]);
    assert_eq!(d.proposed_action.kind, ActionKind::Infra);
    assert!(
        d.proposed_action.summary.contains("payments-api:3f9c12a"),
        "{}",
        d.proposed_action.summary
    );
}

#[test]
fn a_failing_health_check_with_nothing_behind_it() {
    let d = run(&sweep(vec![
        health_checks_failing(),
        finding(
            SERVICE,
            0,
            "cloudwatch",
            Status::Degraded,
            "GET /health answers 503",
        )
        .m("errors_total", 40.0)
        .e_at(
            "logs:/ecs/payments-api",
            "GET /health 503: warm-up not finished",
            at(8, 2),
        ),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        (SERVICE, Class::HealthCheckFailed),
        "{d:#?}"
    );
    assert_eq!(chain(&d), [(SERVICE, Class::HealthCheckFailed)]);
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert!(d.noise.is_empty(), "{:#?}", d.noise);
}

#[test]
fn a_plain_ci_test_failure_in_a_healthy_environment() {
    let d = run(&sweep(vec![
        finding(
            SERVICE,
            0,
            "gha",
            Status::Down,
            "tests failed: 2 failing tests",
        )
        .m("failed_jobs", 1.0)
        .m("test_failures", 2.0)
        .e(
            "gha:job/test",
            "test refund::partial_refund_rounds_down ... FAILED",
        )
        .e("gha:job/test", "test result: FAILED. 41 passed; 2 failed"),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        (SERVICE, Class::CiTestFailed),
        "{d:#?}"
    );
    assert_eq!(chain(&d), [(SERVICE, Class::CiTestFailed)]);
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert!(d.noise.is_empty());
}

#[test]
fn a_compile_error_is_a_build_failure() {
    let d = run(&sweep(vec![
        finding(
            SERVICE,
            0,
            "gha",
            Status::Down,
            "build failed: 3 compiler errors",
        )
        .m("failed_jobs", 1.0)
        .m("compile_errors", 3.0)
        .e(
            "gha:job/build",
            "error[E0308]: mismatched types --> src/refund.rs:41:9",
        ),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        (SERVICE, Class::CiBuildFailed),
        "{d:#?}"
    );
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert!(
        d.proposed_action.summary.contains("E0308"),
        "{}",
        d.proposed_action.summary
    );
}
