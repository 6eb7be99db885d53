//! The fake GitHub's CI runs the world's deploy workflow on pushes: a green run deploys the
//! pushed tree before its `completed` webhook goes out; a red run deploys nothing.

use axum::routing::post;
use serde_json::Value;

use crate::support::fake_github::{Delivery, FakeGitHub};
use crate::support::lower_env::{LowerEnv, RolloutState, TEST};
use crate::*;

const REPO: &str = "acme/payments-api";

/// A webhook receiver that takes everything (the App is not under test here).
async fn receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!(
        "http://{}/webhooks",
        listener.local_addr().expect("address")
    );
    let app = axum::Router::new().route("/webhooks", post(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn github(env: &LowerEnv) -> FakeGitHub {
    let github = FakeGitHub::start().await;
    github.add_installation(4242, "acme");
    github.deliver_webhooks_to(&receiver().await, "a-secret");
    for (path, content) in last_good() {
        github.add_file(REPO, None, &path, content);
    }
    env.follow(&github, REPO);
    github
}

/// The conclusion of the `n`th push's run (1-based), from its `completed` webhook.
async fn completed(github: &FakeGitHub, n: usize) -> String {
    let all = github.wait_for_deliveries(3 * n).await;
    let done: Vec<&Delivery> = all.iter().filter(|d| d.action == "completed").collect();
    let body: Value = serde_json::from_slice(&done[n - 1].body).expect("a JSON webhook");
    let run = &body["workflow_run"];
    run["conclusion"].as_str().unwrap_or("?").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_green_run_deploys_its_tree_and_a_red_run_deploys_nothing() {
    let env = world(needs(), &oom_tree(512)).await;
    env.ci_fails_when(
        "assert_eq!(settle(&batch), 3);",
        TEST,
        "test settlement::tests::settles ... FAILED\nassertion `left == right` failed",
    );
    let github = github(&env).await;
    let before = env.primary().id;

    let td = task_definition(1024, &["DATABASE_URL"], &["PAYMENTS_API_KEY"]);
    let red_test = "#[test]\nfn settles() { assert_eq!(settle(&batch), 3); }\n";
    github.push(
        REPO,
        "fixpoint/payments-api-9001",
        &[
            ("task-definition.json", Some(td.as_str())),
            ("src/settlement_tests.rs", Some(red_test)),
        ],
    );
    assert_eq!(completed(&github, 1).await, "failure");
    assert_eq!(env.primary().id, before, "a red run deploys nothing");

    github.push(
        REPO,
        "fixpoint/payments-api-9001",
        &[("src/settlement_tests.rs", None)],
    );
    assert_eq!(completed(&github, 2).await, "success");
    let d = env.primary();
    assert_ne!(d.id, before, "the green run deployed before it completed");
    assert_eq!(d.rollout, RolloutState::InProgress);
    let sha = github
        .branch_sha(REPO, "fixpoint/payments-api-9001")
        .expect("the branch");
    assert_eq!(d.origin, crate::support::lower_env::Origin::Push { sha });
    assert_eq!(rollout_of(&roll_out(&ecs().await).await), "COMPLETED");
}

fn rollout_of(service: &aws_sdk_ecs::types::Service) -> String {
    primary(service)
        .rollout_state()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_under_test_receives_the_deploy_runs_and_the_world_keeps_its_clock() {
    let env = world(needs(), &oom_tree(512)).await;
    // After the world: it sets the AWS environment the App reads.
    let app = crate::support::TestApp::start().await;
    env.keep_time_with(app.clock.clone());
    app.github.add_installation(4242, "acme");
    for (path, content) in last_good() {
        app.github.add_file(REPO, None, &path, content);
    }
    env.follow(&app.github, REPO);
    app.clock.advance(std::time::Duration::from_secs(120));

    let fix = task_definition(1024, &["DATABASE_URL"], &["PAYMENTS_API_KEY"]);
    app.github.push(
        REPO,
        "fixpoint/payments-api-9001",
        &[("task-definition.json", Some(fix.as_str()))],
    );
    let deliveries = app.github.wait_for_deliveries(3).await;
    for d in &deliveries {
        assert!(
            d.answer.as_ref().is_ok_and(|s| (200..300).contains(s)),
            "the App refused the {} webhook: {:?}",
            d.action,
            d.answer
        );
    }
    let d = env.primary();
    assert_eq!(
        d.created_at,
        fixpoint::clock::Clock::now(app.clock.as_ref())
    );
    assert_eq!(rollout_of(&roll_out(&ecs().await).await), "COMPLETED");
    app.settle().await;
    app.stop().await;
}
