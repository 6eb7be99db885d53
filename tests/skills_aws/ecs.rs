//! `ecs`: a service's counts, rollout, stopped tasks and task definition.

use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair, Secret};
use chrono::DurationRound;
use fixpoint::skills::Status;
use fixpoint::topology::{CheckTarget, SkillKind};

use crate::ecs_stub::{ECS, Stopped, deployment, script_cluster, service};
use crate::{assert_never_shows, aws, check, evidence, metric, minutes_ago, moto_config};

fn target(cluster: &str, service: &str) -> CheckTarget {
    CheckTarget::Ecs {
        cluster: cluster.into(),
        service: service.into(),
        region: None,
    }
}

#[tokio::test]
async fn a_service_with_nothing_running_is_down_and_its_variables_are_named_not_shown() {
    // moto: services never launch tasks, so desiredCount 2 reads as running 0, with 2 pending
    // and the rollout in progress for ever.
    let ecs = aws_sdk_ecs::Client::new(&moto_config().await);
    ecs.create_cluster()
        .cluster_name("staging-below")
        .send()
        .await
        .unwrap();
    let container = ContainerDefinition::builder()
        .name("web")
        .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/payments-api:sha-1a2b3c")
        .memory(512)
        .environment(
            KeyValuePair::builder()
                .name("DATABASE_URL")
                .value("postgres://app:hunter2@db:5432/payments")
                .build(),
        )
        .environment(
            KeyValuePair::builder()
                .name("LOG_LEVEL")
                .value("verbose-debug-level")
                .build(),
        )
        .secrets(
            Secret::builder()
                .name("STRIPE_API_KEY")
                .value_from("arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe-AbCdEf")
                .build()
                .unwrap(),
        )
        .build();
    let td = ecs
        .register_task_definition()
        .family("payments-api")
        .container_definitions(container)
        .memory("512")
        .cpu("256")
        .send()
        .await
        .unwrap();
    let td_arn = td
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap()
        .to_string();
    ecs.create_service()
        .cluster("staging-below")
        .service_name("payments-api")
        .task_definition(&td_arn)
        .desired_count(2)
        .send()
        .await
        .unwrap();

    let obs = check(
        SkillKind::Ecs,
        target("staging-below", "payments-api"),
        minutes_ago(10),
    )
    .await
    .unwrap();

    assert_eq!(obs.status, Status::Down, "{obs:#?}");
    assert_eq!(obs.summary, "running 0/2 (pending 2); rollout in progress");
    assert_eq!(metric(&obs, "rollout_in_progress"), 1.0);
    assert_eq!(metric(&obs, "rollout_failed"), 0.0);
    assert_eq!(metric(&obs, "desired"), 2.0);
    assert_eq!(metric(&obs, "running"), 0.0);
    assert_eq!(metric(&obs, "pending"), 2.0);
    assert_eq!(metric(&obs, "memory_mb"), 512.0);
    assert_eq!(metric(&obs, "cpu_units"), 256.0);
    assert_eq!(metric(&obs, "env_vars"), 3.0);
    assert_eq!(metric(&obs, "stopped_tasks"), 0.0, "{obs:#?}");
    assert_eq!(metric(&obs, "oom_kills"), 0.0);
    let td = evidence(&obs, "ecs:task-definition");
    assert_eq!(td.len(), 1, "{obs:#?}");
    assert!(
        td[0].text.contains(
            "environment variable names: DATABASE_URL, LOG_LEVEL; secret names: STRIPE_API_KEY"
        ),
        "{}",
        td[0].text
    );
    for value in [
        "hunter2",
        "postgres://",
        "verbose-debug-level",
        "secretsmanager",
    ] {
        assert_never_shows(&obs, value);
    }
}

#[tokio::test]
async fn a_cluster_that_does_not_exist_is_an_error_naming_it() {
    let err = check(
        SkillKind::Ecs,
        target("no-such-cluster", "payments-api"),
        minutes_ago(10),
    )
    .await
    .expect_err("a missing cluster cannot be checked");
    let text = err.to_string();
    assert!(text.contains("no-such-cluster/payments-api"), "{text}");
    assert!(text.contains("ClusterNotFoundException"), "{text}");
}

#[tokio::test]
async fn a_service_that_does_not_exist_is_an_error_naming_it() {
    let ecs = aws_sdk_ecs::Client::new(&moto_config().await);
    ecs.create_cluster()
        .cluster_name("staging-empty")
        .send()
        .await
        .unwrap();
    let err = check(
        SkillKind::Ecs,
        target("staging-empty", "ghost-api"),
        minutes_ago(10),
    )
    .await
    .expect_err("a missing service cannot be checked");
    assert_eq!(
        err.to_string(),
        "ECS service ghost-api not found in cluster staging-empty (MISSING)"
    );
}

// ---- states moto cannot make, served by the stub (see ecs_stub.rs for why) ---------------

#[tokio::test]
async fn oom_kills_a_failed_rollout_and_a_missing_secret_are_reported() {
    let since = minutes_ago(15);
    let cluster = "stub-oom";
    let deployments = vec![
        deployment(
            "ecs-svc/4718046393727436785",
            "PRIMARY",
            43,
            (3, 0, 0),
            4,
            (
                "FAILED",
                "ECS deployment circuit breaker: tasks failed to start.",
            ),
            since,
        ),
        deployment(
            "ecs-svc/1957425327011843417",
            "ACTIVE",
            42,
            (1, 1, 0),
            0,
            (
                "COMPLETED",
                "ECS deployment ecs-svc/1957425327011843417 completed.",
            ),
            minutes_ago(300),
        ),
    ];
    // Whole seconds: an epoch-seconds double cannot hold every millisecond exactly.
    let failed_at = minutes_ago(2)
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap();
    let events = vec![
        (
            failed_at,
            "(service payments-api) (deployment ecs-svc/4718046393727436785) deployment failed: tasks failed to start.",
        ),
        (
            minutes_ago(4),
            "(service payments-api) has started 1 tasks: (task 7c1d9e2f3a4b4c5d8e9f0a1b2c3d4e5f).",
        ),
        (
            minutes_ago(9),
            "(service payments-api) has started 2 tasks: (task 1a2b3c4d5e6f4a5b8c9d0e1f2a3b4c5d) (task 2b3c4d5e6f7a4b5c8d9e0f1a2b3c4d5e).",
        ),
    ];
    let oom = Some("OutOfMemoryError: Container killed due to memory usage");
    let stopped = vec![
        Stopped {
            id: "1a2b3c4d5e6f4a5b8c9d0e1f2a3b4c5d",
            group: "service:payments-api",
            stop_code: "EssentialContainerExited",
            reason: "Essential container in task exited",
            at: minutes_ago(7),
            containers: vec![("web", Some(137), oom), ("log-router", Some(0), None)],
        },
        Stopped {
            id: "2b3c4d5e6f7a4b5c8d9e0f1a2b3c4d5e",
            group: "service:payments-api",
            stop_code: "EssentialContainerExited",
            reason: "Essential container in task exited",
            at: minutes_ago(6),
            containers: vec![("web", Some(137), oom)],
        },
        Stopped {
            id: "3c4d5e6f7a8b4c5d8e9f0a1b2c3d4e5f",
            group: "service:payments-api",
            stop_code: "TaskFailedToStart",
            reason: "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/payments-api:sha-9f8e7d: not found",
            at: minutes_ago(5),
            containers: vec![("web", None, None)],
        },
        Stopped {
            id: "4d5e6f7a8b9c4d5e8f9a0b1c2d3e4f5a",
            group: "service:payments-api",
            stop_code: "TaskFailedToStart",
            reason: "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret arn:aws:secretsmanager:us-east-1:123456789012:secret:payments/DATABASE_URL-Xy12Zw from secrets manager: ResourceNotFoundException",
            at: minutes_ago(3),
            containers: vec![("web", None, None)],
        },
        // Scaled in before this deploy began: not this deploy's doing.
        Stopped {
            id: "5e6f7a8b9c0d4e5f8a9b0c1d2e3f4a5b",
            group: "service:payments-api",
            stop_code: "ServiceSchedulerInitiated",
            reason: "Scaling activity initiated by (deployment ecs-svc/1957425327011843417)",
            at: minutes_ago(40),
            containers: vec![("web", Some(143), None)],
        },
        // Another service's task (stand-ins that ignore `serviceName` return these).
        Stopped {
            id: "6f7a8b9c0d1e4f5a8b9c0d1e2f3a4b5c",
            group: "service:billing-worker",
            stop_code: "EssentialContainerExited",
            reason: "Essential container in task exited",
            at: minutes_ago(4),
            containers: vec![("worker", Some(1), None)],
        },
    ];
    script_cluster(
        cluster,
        service(cluster, (3, 1, 0), deployments, events),
        stopped,
    );

    let obs = check(SkillKind::Ecs, target(cluster, "payments-api"), since)
        .await
        .unwrap();

    // One task still runs (the previous deployment's), so degraded, not down.
    assert_eq!(obs.status, Status::Degraded, "{obs:#?}");
    let expected = [
        ("desired", 3.0),
        ("running", 1.0),
        ("pending", 0.0),
        ("deployments", 2.0),
        ("rollout_failed", 1.0),
        ("rollout_in_progress", 0.0),
        ("failed_tasks", 4.0),
        ("stopped_tasks", 4.0),
        ("stopped_with_errors", 4.0),
        ("oom_kills", 2.0),
        ("exit_137", 2.0),
        ("image_pull_failures", 1.0),
        // Read by ECS's taxonomy: the secret's stop is not a registry-auth failure.
        ("secret_fetch_failures", 1.0),
        ("registry_auth_failures", 0.0),
        ("memory_mb", 1024.0),
        ("cpu_units", 512.0),
        ("env_vars", 3.0),
        ("missing_env_signals", 1.0),
    ];
    for (name, value) in expected {
        assert_eq!(metric(&obs, name), value, "metric {name}: {obs:#?}");
    }
    assert_eq!(
        obs.summary,
        "running 1/3 (pending 0); rollout FAILED: ECS deployment circuit breaker: tasks failed to start.; \
         4 tasks stopped with errors since ".to_string()
            + &since.format("%H:%M:%SZ").to_string()
            + ", 2 OOM kills, exit 137 ×2, 1 image pull failures, 1 secret fetch failures"
    );

    let tasks = evidence(&obs, "ecs:stopped-task/");
    assert_eq!(tasks.len(), 4, "{tasks:#?}");
    // Newest first, each with its time.
    assert!(
        tasks[0]
            .source
            .ends_with("4d5e6f7a8b9c4d5e8f9a0b1c2d3e4f5a")
    );
    assert!(tasks.iter().all(|e| e.at.is_some()));
    let first_oom = tasks
        .iter()
        .find(|e| e.source.ends_with("1a2b3c4d5e6f4a5b8c9d0e1f2a3b4c5d"))
        .unwrap();
    assert_eq!(
        first_oom.text,
        "stopped (EssentialContainerExited; cause: out of memory): Essential container in task exited; container web exit 137 \
         (OutOfMemoryError: Container killed due to memory usage); container log-router exit 0"
    );
    assert!(tasks.iter().any(|e| {
        e.text
            .starts_with("stopped (TaskFailedToStart; cause: image pull): CannotPullContainerError")
    }));
    assert!(
        tasks.iter().all(|e| e.text.chars().count() <= 301),
        "evidence is clipped"
    );

    let missing = evidence(&obs, "ecs:missing-env");
    assert_eq!(missing.len(), 1);
    assert_eq!(
        missing[0].text,
        "a stop reason mentions DATABASE_URL, which is NOT among the task definition's variables"
    );

    let td = evidence(&obs, "ecs:task-definition");
    assert_eq!(
        td[0].text,
        "payments-api:43: memory 1024 MiB, cpu 512 units; environment variable names: LOG_LEVEL, PORT; secret names: REDIS_URL"
    );
    assert_never_shows(&obs, "s3cr3t-looking-value-never-shown");

    let deployments = evidence(&obs, "ecs:deployment/");
    assert_eq!(deployments.len(), 2);
    assert!(
        deployments[0]
            .text
            .starts_with("PRIMARY deployment of payments-api:43: rollout FAILED"),
        "{}",
        deployments[0].text
    );

    let events = evidence(&obs, "ecs:event");
    assert_eq!(events.len(), 3);
    assert!(
        events[0]
            .text
            .contains("deployment failed: tasks failed to start.")
    );
    assert_eq!(
        events[0].at.map(|t| t.timestamp_millis()),
        Some(failed_at.timestamp_millis())
    );

    // What the skill asked ECS: the service's stopped tasks.
    let asked = aws().stub.calls(|c| {
        c.target() == Some(format!("{ECS}.ListTasks").as_str()) && c.json()["cluster"] == cluster
    });
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].json()["serviceName"], "payments-api");
    assert_eq!(asked[0].json()["desiredStatus"], "STOPPED");
    assert_eq!(
        asked[0].header("content-type"),
        Some("application/x-amz-json-1.1")
    );
}

#[tokio::test]
async fn a_steady_service_whose_old_tasks_were_scaled_in_is_healthy() {
    let since = minutes_ago(20);
    let cluster = "stub-steady";
    let deployments = vec![deployment(
        "ecs-svc/8230941717262649011",
        "PRIMARY",
        43,
        (2, 2, 0),
        0,
        (
            "COMPLETED",
            "ECS deployment ecs-svc/8230941717262649011 completed.",
        ),
        since,
    )];
    let events = vec![(
        minutes_ago(1),
        "(service payments-api) has reached a steady state.",
    )];
    let stopped = vec![Stopped {
        id: "7a8b9c0d1e2f4a5b8c9d0e1f2a3b4c5d",
        group: "service:payments-api",
        stop_code: "ServiceSchedulerInitiated",
        reason: "Scaling activity initiated by (deployment ecs-svc/8230941717262649011)",
        at: minutes_ago(10),
        containers: vec![("web", Some(143), None)],
    }];
    script_cluster(
        cluster,
        service(cluster, (2, 2, 0), deployments, events),
        stopped,
    );

    let obs = check(SkillKind::Ecs, target(cluster, "payments-api"), since)
        .await
        .unwrap();

    assert_eq!(obs.status, Status::Healthy, "{obs:#?}");
    assert_eq!(obs.summary, "running 2/2 (pending 0)");
    assert_eq!(metric(&obs, "stopped_tasks"), 1.0);
    assert_eq!(metric(&obs, "stopped_with_errors"), 0.0);
    assert_eq!(metric(&obs, "rollout_failed"), 0.0);
    assert!(
        evidence(&obs, "ecs:stopped-task/").is_empty(),
        "a deliberate stop is not evidence of trouble"
    );
}
