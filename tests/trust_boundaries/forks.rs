//! Only the repository's own deploys start anything: a fork's run, or a run a pull request
//! triggered, carries files its author wrote.

use crate::support::TestApp;
use crate::support::webhooks::{bytes, failed_deploy};

async fn nothing_started(app: &TestApp) {
    app.settle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM investigations").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM loop_runs").await, 0);
}

#[tokio::test]
async fn a_forks_failed_run_named_like_the_deploy_starts_nothing() {
    let app = TestApp::start().await;
    let mut run = failed_deploy("acme/payments-api", 4001, 1, 77);
    run["workflow_run"]["head_repository"]["full_name"] = "evil/fork".into();
    run["workflow_run"]["event"] = "pull_request".into();
    let res = app.deliver("workflow_run", "fork-1", &bytes(&run)).await;
    assert_eq!(res.status(), 200);
    let said = res.text().await.unwrap();
    assert!(said.starts_with("ignored: "), "{said}");

    // Pushed from the fork's own branch but reported under the repository: still a fork.
    run["workflow_run"]["event"] = "push".into();
    let res = app.deliver("workflow_run", "fork-2", &bytes(&run)).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("fork"));

    // The repository's own commit, but run for a pull request (`pull_request_target`
    // runs with the base repository's secrets): not a deploy.
    let mut pr = failed_deploy("acme/payments-api", 4002, 1, 77);
    pr["workflow_run"]["event"] = "pull_request_target".into();
    let res = app.deliver("workflow_run", "pr-1", &bytes(&pr)).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("pull request"));
    nothing_started(&app).await;
    // Each refusal is on record with its reason, for whoever asks why nothing happened.
    for (guid, why) in [
        ("fork-1", "pull request"),
        ("fork-2", "fork"),
        ("pr-1", "pull request"),
    ] {
        let (outcome, reason) = app
            .store
            .delivery_outcome(guid)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{guid} was not recorded"));
        assert_eq!(outcome, "refused", "{guid}");
        assert!(
            reason.as_deref().unwrap_or_default().contains(why),
            "{guid}: {reason:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_fork_branch_named_fixpoint_is_not_loop_progress() {
    let app = TestApp::start().await;
    let mut run = failed_deploy("acme/payments-api", 4003, 1, 77);
    run["workflow_run"]["head_branch"] = "fixpoint/payments-api-9001".into();
    run["workflow_run"]["conclusion"] = "success".into();
    run["workflow_run"]["head_repository"]["full_name"] = "evil/payments-api".into();
    let res = app.deliver("workflow_run", "fork-loop", &bytes(&run)).await;
    assert_eq!(res.status(), 200);
    // A deleted fork leaves `head_repository: null`.
    run["workflow_run"]["head_repository"] = serde_json::Value::Null;
    let res = app.deliver("workflow_run", "gone-fork", &bytes(&run)).await;
    assert_eq!(res.status(), 200);
    nothing_started(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn ids_past_i64_and_a_10_mb_head_sha_are_refused_before_anything_is_stored() {
    let app = TestApp::start().await;
    let huge_id = failed_deploy("acme/payments-api", u64::MAX, 1, 77);
    let res = app.deliver("workflow_run", "id-1", &bytes(&huge_id)).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("workflow_run.id"));

    let mut long_sha = failed_deploy("acme/payments-api", 4004, 1, 77);
    long_sha["workflow_run"]["head_sha"] = "a".repeat(10 * 1024 * 1024).into();
    let res = app
        .deliver("workflow_run", "sha-1", &bytes(&long_sha))
        .await;
    assert_eq!(res.status(), 400);
    let said = res.text().await.unwrap();
    assert!(
        said.contains("head_sha") && said.len() < 1000,
        "{said:.300}"
    );

    let mut not_hex = failed_deploy("acme/payments-api", 4005, 1, 77);
    not_hex["workflow_run"]["head_sha"] = "main".into();
    let res = app.deliver("workflow_run", "sha-2", &bytes(&not_hex)).await;
    assert_eq!(res.status(), 400);
    nothing_started(&app).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM deliveries").await, 0);
    app.stop().await;
}
