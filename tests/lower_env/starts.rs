//! What a task meets before it serves: the image, its secrets, the health checks' patience.
//! Each heals only when the deployed task definition (or the service, through the ECS API)
//! gets it right.

use serde_json::{Value, json};

use crate::support::lower_env::{Failure, LowerEnv, Verdict};
use crate::*;

const SECRET_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:payments-api/PAYMENTS_API_KEY-Ab12Cd";

/// The right task definition (1 GiB, every variable) with `edit` applied to its container.
pub fn container_with(edit: impl FnOnce(&mut Value)) -> String {
    let td = task_definition(1024, &["DATABASE_URL"], &["PAYMENTS_API_KEY"]);
    let mut file: Value = serde_json::from_str(&td).expect("the task definition is JSON");
    edit(&mut file["containerDefinitions"][0]);
    serde_json::to_string_pretty(&file).expect("serialises")
}

pub fn with_health_check(start_period: u32) -> String {
    container_with(|c| {
        c["healthCheck"] = json!({
            "command": ["CMD-SHELL", "curl -fsS http://localhost:8080/health || exit 1"],
            "interval": 10, "timeout": 5, "retries": 3, "startPeriod": start_period
        });
    })
}

async fn deploy_and_roll_out(env: &LowerEnv, td: &str) -> String {
    env.deploy(&pushed(&tree(td, &rates(false))))
        .await
        .unwrap_or_else(|e| panic!("the tree does not deploy: {e}"));
    primary(&roll_out(&ecs().await).await)
        .rollout_state()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_the_registry_lacks_fails_to_pull_until_the_image_is_reverted() {
    let missing = "123456789012.dkr.ecr.us-east-1.amazonaws.com/payments-api:sha-deadbee";
    let td = container_with(|c| c["image"] = json!(missing));
    let env = world(needs(), &tree(&td, &rates(false))).await;
    assert_eq!(env.stops_mentioning("CannotPullContainerError"), 3);
    assert_eq!(
        env.stops_mentioning(&format!("failed to resolve ref {missing}")),
        3
    );

    let other = container_with(|c| c["image"] = json!(format!("{missing}-rebuilt")));
    assert_eq!(deploy_and_roll_out(&env, &other).await, "FAILED");
    assert_eq!(
        deploy_and_roll_out(&env, &container_with(|_| ())).await,
        "COMPLETED"
    );
    assert_eq!(env.stops_mentioning("CannotPullContainerError"), 6);
    assert_eq!(health(&env).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_reference_to_nothing_fails_to_start_until_the_last_good_reference_is_back() {
    let needs = needs().secrets_in_store(&[SECRET_ARN]);
    let wrong = SECRET_ARN.replace("Ab12Cd", "Zz99Yy");
    let td = container_with(|c| c["secrets"][0]["valueFrom"] = json!(wrong));
    let env = world(needs, &tree(&td, &rates(false))).await;
    assert_eq!(
        env.primary().verdict,
        Verdict::Fails(Failure::SecretFetch { value_from: wrong })
    );
    assert_eq!(env.stops_mentioning("ResourceInitializationError"), 3);

    assert_eq!(
        deploy_and_roll_out(&env, &container_with(|_| ())).await,
        "COMPLETED"
    );
    assert_eq!(health(&env).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_period_shorter_than_start_up_fails_health_checks_until_it_is_long_enough() {
    let env = world(
        needs().startup(90),
        &tree(&with_health_check(30), &rates(false)),
    )
    .await;
    assert_eq!(env.stops_mentioning("Task failed ELB health checks"), 3);

    assert_eq!(
        deploy_and_roll_out(&env, &with_health_check(60)).await,
        "FAILED"
    );
    assert_eq!(
        deploy_and_roll_out(&env, &with_health_check(120)).await,
        "COMPLETED"
    );
    assert_eq!(env.stops_mentioning("Task failed ELB health checks"), 6);
    assert_eq!(health(&env).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_grace_period_raised_through_the_ecs_api_heals_a_slow_start() {
    let env = world(
        needs().startup(90),
        &tree(&with_health_check(30), &rates(false)),
    )
    .await;
    let ecs = ecs().await;
    ecs.update_service()
        .cluster(CLUSTER)
        .service(SERVICE)
        .health_check_grace_period_seconds(120)
        .force_new_deployment(true)
        .send()
        .await
        .expect("UpdateService answers");
    let service = roll_out(&ecs).await;
    assert_eq!(service.health_check_grace_period_seconds(), Some(120));
    let d = primary(&service);
    assert_eq!(
        d.rollout_state().map(|s| s.as_str()),
        Some("COMPLETED"),
        "{d:?}"
    );
    // The same revision, rolled out again: only the service's patience changed.
    assert!(
        d.task_definition()
            .is_some_and(|a| a.ends_with("payments-api:2")),
        "{d:?}"
    );
    assert_eq!(health(&env).await, 200);
}
