//! Deploys heal the service only when what they deploy meets its needs.

use crate::support::lower_env::{Failure, LowerEnv, Origin, Verdict};
use crate::*;

async fn oom_world() -> LowerEnv {
    world(needs(), &oom_tree(512)).await
}

async fn deploy(env: &LowerEnv, tree: &[(String, String)]) -> String {
    env.deploy(&pushed(tree))
        .await
        .unwrap_or_else(|e| panic!("the tree does not deploy: {e}"))
}

fn rollout(d: &aws_sdk_ecs::types::Deployment) -> &str {
    d.rollout_state().map(|s| s.as_str()).unwrap_or("?")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_world_starts_failing_with_its_history_visible() {
    let env = oom_world().await;
    let ecs = ecs().await;
    let service = describe(&ecs).await;
    let d = primary(&service);
    assert_eq!(rollout(&d), "FAILED", "{d:?}");
    assert_eq!(d.failed_tasks(), 3);
    assert!(
        d.task_definition()
            .is_some_and(|a| a.ends_with("payments-api:2")),
        "{d:?}"
    );
    assert_eq!(service.running_count(), 0);
    assert_eq!(env.stops_mentioning("OutOfMemoryError"), 3);
    assert_eq!(health(&env).await, 503);
    // The good revision's tasks, replaced by the failing deploy, are listed too.
    assert_eq!(stopped_tasks(&ecs).await.len(), 2 + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploying_the_failing_tree_again_keeps_it_failing() {
    let env = oom_world().await;
    let ecs = ecs().await;
    let id = deploy(&env, &oom_tree(512)).await;
    let service = roll_out(&ecs).await;
    let d = primary(&service);
    assert_eq!(d.id(), Some(id.as_str()));
    assert_eq!(rollout(&d), "FAILED");
    assert_eq!(
        d.rollout_state_reason(),
        Some("ECS deployment circuit breaker: tasks failed to start.")
    );
    assert_eq!(env.stops_mentioning("OutOfMemoryError"), 6);
    assert_eq!(health(&env).await, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_the_service_needs_heals_it_and_the_old_stops_stay_listed() {
    let env = oom_world().await;
    let ecs = ecs().await;
    let before = stopped_tasks(&ecs).await;
    let id = deploy(&env, &oom_tree(1024)).await;
    let service = roll_out(&ecs).await;
    let d = primary(&service);
    assert_eq!((d.id(), rollout(&d)), (Some(id.as_str()), "COMPLETED"));
    assert_eq!((d.running_count(), d.desired_count()), (2, 2));
    assert!(
        d.task_definition()
            .is_some_and(|a| a.ends_with("payments-api:3")),
        "{d:?}"
    );
    assert_eq!(
        service.deployments().len(),
        1,
        "the failed deployment drained"
    );
    assert_eq!(health(&env).await, 200);
    assert_eq!(
        env.stops_mentioning("OutOfMemoryError"),
        3,
        "no new OOM kill"
    );
    let after = stopped_tasks(&ecs).await;
    assert!(
        before.iter().all(|t| after.contains(t)),
        "ECS keeps stopped tasks for an hour: {before:?} vs {after:?}"
    );
    // What the tasks of the new deployment are: running, started by it.
    let running = ecs
        .list_tasks()
        .cluster(CLUSTER)
        .service_name(SERVICE)
        .send()
        .await
        .expect("ListTasks")
        .task_arns()
        .to_vec();
    let tasks = ecs
        .describe_tasks()
        .cluster(CLUSTER)
        .set_tasks(Some(running))
        .send()
        .await
        .expect("DescribeTasks");
    assert_eq!(tasks.tasks().len(), 2);
    for t in tasks.tasks() {
        assert_eq!(
            (t.last_status(), t.started_by()),
            (Some("RUNNING"), Some(id.as_str()))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_raised_but_still_under_the_need_stays_failing() {
    let env = oom_world().await;
    let ecs = ecs().await;
    deploy(&env, &oom_tree(768)).await;
    let d = primary(&roll_out(&ecs).await);
    assert_eq!(rollout(&d), "FAILED");
    assert_eq!(env.stops_mentioning("OutOfMemoryError"), 6);
    assert_eq!(
        env.primary().verdict,
        Verdict::Fails(Failure::OutOfMemory {
            given_mib: 768,
            needed_mib: 1024
        })
    );
    assert_eq!(health(&env).await, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restored_variable_heals_and_a_variable_of_another_name_does_not() {
    let missing = tree(
        &task_definition(1024, &["DATABASE_URL"], &[]),
        &rates(false),
    );
    let env = world(needs(), &missing).await;
    let ecs = ecs().await;

    let misspelt = &task_definition(1024, &["DATABASE_URL"], &["PAYMENT_API_KEY"]);
    deploy(&env, &tree(misspelt, &rates(false))).await;
    assert_eq!(rollout(&primary(&roll_out(&ecs).await)), "FAILED");
    assert_eq!(health(&env).await, 503);

    let restored = &task_definition(1024, &["DATABASE_URL"], &["PAYMENTS_API_KEY"]);
    deploy(&env, &tree(restored, &rates(false))).await;
    assert_eq!(rollout(&primary(&roll_out(&ecs).await)), "COMPLETED");
    assert_eq!(health(&env).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_bug_line_heals_and_editing_another_line_does_not() {
    let td = task_definition(1024, &["DATABASE_URL"], &["PAYMENTS_API_KEY"]);
    let env = world(needs(), &tree(&td, &rates(true))).await;
    let ecs = ecs().await;
    assert_eq!(
        env.primary().verdict,
        Verdict::Fails(Failure::Crash {
            path: BUG_FILE.into(),
            line_no: 5
        })
    );

    let elsewhere = rates(true).replace("// Rates are loaded at start-up.", "// Loaded once.");
    deploy(&env, &tree(&td, &elsewhere)).await;
    assert_eq!(rollout(&primary(&roll_out(&ecs).await)), "FAILED");

    deploy(&env, &tree(&td, &rates(false))).await;
    assert_eq!(rollout(&primary(&roll_out(&ecs).await)), "COMPLETED");
    assert_eq!(health(&env).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_rollback_ends_stable_on_the_old_task_definition_not_on_the_fix() {
    let env = oom_world().await;
    env.rollback_silently();
    let ecs = ecs().await;
    let fix = deploy(&env, &oom_tree(768)).await;
    // The fix's tasks are killed; ECS rolls back before anyone looks again: no one sees the
    // fix's deployment FAILED, only a stable service.
    let mut seen = Vec::new();
    let mut looks = 0;
    let service = loop {
        looks += 1;
        let service = describe(&ecs).await;
        seen.extend(
            service
                .deployments()
                .iter()
                .filter(|d| d.id() == Some(fix.as_str()))
                .map(|d| rollout(d).to_string()),
        );
        if rollout(&primary(&service)) != "IN_PROGRESS" || looks == 20 {
            break service;
        }
    };
    assert!(
        !seen.is_empty() && seen.iter().all(|s| s == "IN_PROGRESS"),
        "the fix's deployment was seen only in progress: {seen:?}"
    );
    assert_eq!(
        service.deployments().len(),
        1,
        "the fix's deployment drained"
    );
    let d = primary(&service);
    assert_eq!(
        (rollout(&d), d.running_count(), d.desired_count()),
        ("COMPLETED", 2, 2)
    );
    assert_ne!(
        d.id(),
        Some(fix.as_str()),
        "the stable deployment is not the fix's"
    );
    // The last deployment that completed: the good revision from before the incident.
    assert!(
        d.task_definition()
            .is_some_and(|a| a.ends_with("payments-api:1")),
        "{d:?}"
    );
    assert_eq!(env.primary().origin, Origin::Rollback);
    assert_eq!(env.stops_mentioning("OutOfMemoryError"), 6);
    assert_eq!(health(&env).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_that_never_heals_fails_even_the_right_fix() {
    let env = oom_world().await;
    env.never_heals();
    let ecs = ecs().await;
    deploy(&env, &oom_tree(2048)).await;
    assert_eq!(rollout(&primary(&roll_out(&ecs).await)), "FAILED");
    assert_eq!(env.stops_mentioning("OutOfMemoryError"), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_registered_through_the_ecs_api_rolls_out_from_what_was_registered() {
    let env = oom_world().await;
    let ecs = ecs().await;
    let current = ecs
        .describe_task_definition()
        .task_definition("payments-api:2")
        .send()
        .await
        .expect("moto holds the failing revision")
        .task_definition()
        .cloned()
        .expect("a task definition");
    let registered = ecs
        .register_task_definition()
        .family(SERVICE)
        .set_container_definitions(Some(current.container_definitions().to_vec()))
        .set_requires_compatibilities(Some(current.requires_compatibilities().to_vec()))
        .set_network_mode(current.network_mode().cloned())
        .cpu("512")
        .memory("1024")
        .send()
        .await
        .expect("moto registers the revision");
    let arn = registered
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("an ARN")
        .to_string();
    ecs.update_service()
        .cluster(CLUSTER)
        .service(SERVICE)
        .task_definition(&arn)
        .send()
        .await
        .expect("UpdateService answers");
    let d = primary(&roll_out(&ecs).await);
    assert_eq!(
        (d.task_definition(), rollout(&d)),
        (Some(arn.as_str()), "COMPLETED")
    );
    assert_eq!(env.primary().origin, Origin::EcsApi);
    assert_eq!(
        env.ecs_writes().len(),
        2,
        "RegisterTaskDefinition and UpdateService"
    );
    assert_eq!(health(&env).await, 200);
}
