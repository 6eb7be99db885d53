//! What the App writes besides commits and pull requests: comments, reactions, labels, check
//! runs; and what it reads to decide: collaborator permissions, workflow runs; and dispatches.

use super::pulls::{BRANCH, open_draft};
use super::*;

#[tokio::test]
async fn comments_labels_reactions_and_check_runs_are_kept_as_written() {
    let (fake, token) = writable_fake().await;
    assert_eq!(open_draft(&fake, &token).await.status, StatusCode::CREATED);
    let issue = repo_call(
        &fake,
        &token,
        "POST",
        "/issues",
        "/issues",
        Some(json!({ "title": "Fixpoint gave up", "labels": ["fixpoint"] })),
    )
    .await;
    assert_eq!(
        (
            issue.status,
            issue.body.as_ref().unwrap()["number"].as_u64()
        ),
        (StatusCode::CREATED, Some(2))
    );

    let posted = repo_call(
        &fake,
        &token,
        "POST",
        "/issues/1/comments",
        "/issues/{issue_number}/comments",
        Some(json!({ "body": "Investigating…" })),
    )
    .await;
    assert_eq!(posted.status, StatusCode::CREATED);
    let id = posted.body.as_ref().unwrap()["id"].as_u64().unwrap();
    let edited = repo_call(
        &fake,
        &token,
        "PATCH",
        &format!("/issues/comments/{id}"),
        "/issues/comments/{comment_id}",
        Some(json!({ "body": "Fixed in 1 iteration" })),
    )
    .await;
    assert_eq!(edited.status, StatusCode::OK);
    let listed = repo_call(
        &fake,
        &token,
        "GET",
        "/issues/1/comments",
        "/issues/{issue_number}/comments",
        None,
    )
    .await;
    assert_eq!(text(&listed, "/0/body"), "Fixed in 1 iteration");
    let too_long = repo_call(
        &fake,
        &token,
        "POST",
        "/issues/1/comments",
        "/issues/{issue_number}/comments",
        Some(json!({ "body": "x".repeat(65_537) })),
    )
    .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);

    let reactions = format!("/issues/comments/{id}/reactions");
    let template = "/issues/comments/{comment_id}/reactions";
    let first = repo_call(
        &fake,
        &token,
        "POST",
        &reactions,
        template,
        Some(json!({ "content": "eyes" })),
    )
    .await;
    let second = repo_call(
        &fake,
        &token,
        "POST",
        &reactions,
        template,
        Some(json!({ "content": "eyes" })),
    )
    .await;
    assert_eq!(
        (first.status, second.status),
        (StatusCode::CREATED, StatusCode::OK)
    );

    let labels = repo_call(
        &fake,
        &token,
        "POST",
        "/issues/1/labels",
        "/issues/{issue_number}/labels",
        Some(json!({ "labels": ["fixpoint", "oom"] })),
    )
    .await;
    assert_eq!(labels.body.as_ref().unwrap().as_array().unwrap().len(), 2);
    let removed = repo_call(
        &fake,
        &token,
        "DELETE",
        "/issues/1/labels/oom",
        "/issues/{issue_number}/labels/{name}",
        None,
    )
    .await;
    assert_eq!(text(&removed, "/0/name"), "fixpoint");

    let comment = fake.expect_comment(REPO, 1);
    assert_eq!(
        (comment.body.as_str(), comment.reactions.as_slice()),
        ("Fixed in 1 iteration", &["eyes".to_string()][..])
    );
    assert_eq!(comment.author, "fixpoint-test[bot]");

    let head = fake.branch_sha(REPO, BRANCH).unwrap();
    let check = repo_call(
        &fake,
        &token,
        "POST",
        "/check-runs",
        "/check-runs",
        Some(json!({ "name": "Fixpoint", "head_sha": head, "status": "in_progress" })),
    )
    .await;
    assert_eq!(check.status, StatusCode::CREATED, "{:?}", check.body);
    let check_id = check.body.as_ref().unwrap()["id"].as_u64().unwrap();
    let done = repo_call(
        &fake,
        &token,
        "PATCH",
        &format!("/check-runs/{check_id}"),
        "/check-runs/{check_run_id}",
        Some(json!({ "conclusion": "success", "output": { "title": "Fixed", "summary": "Memory 512 → 1024" } })),
    )
    .await;
    assert_eq!(
        (text(&done, "/status"), text(&done, "/output/summary")),
        ("completed".into(), "Memory 512 → 1024".into())
    );
    let unknown_sha = repo_call(
        &fake,
        &token,
        "POST",
        "/check-runs",
        "/check-runs",
        Some(json!({ "name": "Fixpoint", "head_sha": "1".repeat(40) })),
    )
    .await;
    assert_eq!(unknown_sha.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A made-up head SHA that arrangement knows (the red deploy's) stands for its commit.
    fake.add_file(
        REPO,
        Some(SHA),
        ".github/fixpoint.yml",
        "environment: staging\n",
    );
    let on_deploy = json!({ "name": "Fixpoint", "head_sha": SHA });
    let arranged = repo_call(
        &fake,
        &token,
        "POST",
        "/check-runs",
        "/check-runs",
        Some(on_deploy),
    )
    .await;
    assert_eq!(arranged.status, StatusCode::CREATED);
    assert_eq!(
        fake.check_runs(REPO)[0].conclusion.as_deref(),
        Some("success")
    );
    fake.assert_honest();
}

#[tokio::test]
async fn permissions_runs_and_dispatches_answer_as_scripted() {
    let (fake, token) = writable_fake().await;
    fake.set_collaborator_permission(REPO, "alice", "write", "maintain");
    let alice = repo_call(
        &fake,
        &token,
        "GET",
        "/collaborators/alice/permission",
        "/collaborators/{username}/permission",
        None,
    )
    .await;
    assert_eq!(
        (text(&alice, "/permission"), text(&alice, "/role_name")),
        ("write".into(), "maintain".into())
    );
    let stranger = repo_call(
        &fake,
        &token,
        "GET",
        "/collaborators/mallory/permission",
        "/collaborators/{username}/permission",
        None,
    )
    .await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);

    fake.add_workflow_run(REPO, WorkflowRun::new(11, "Deploy").head_sha(SHA));
    fake.add_workflow_run(REPO, WorkflowRun::new(12, "Deploy").conclusion("failure"));
    fake.add_workflow_run(
        REPO,
        WorkflowRun::new(13, "Deploy").head_branch("fixpoint/x"),
    );
    let runs = "/actions/workflows/deploy.yml/runs?branch=main&status=success";
    let template = "/actions/workflows/{workflow_id}/runs";
    let last_good = repo_call(&fake, &token, "GET", runs, template, None).await;
    assert_eq!(last_good.body.as_ref().unwrap()["total_count"], 1);
    assert_eq!(text(&last_good, "/workflow_runs/0/head_sha"), SHA);
    let by_sha = repo_call(
        &fake,
        &token,
        "GET",
        &format!("/actions/runs?head_sha={SHA}"),
        "/actions/runs",
        None,
    )
    .await;
    assert_eq!(by_sha.body.as_ref().unwrap()["workflow_runs"][0]["id"], 11);

    let dispatches = "/actions/workflows/deploy.yml/dispatches";
    let template = "/actions/workflows/{workflow_id}/dispatches";
    let body = json!({ "ref": "main", "inputs": { "service": "api" } });
    let missing = repo_call(
        &fake,
        &token,
        "POST",
        dispatches,
        template,
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        missing.status,
        StatusCode::NOT_FOUND,
        "no workflow file at the ref yet"
    );
    fake.add_file(
        REPO,
        None,
        ".github/workflows/deploy.yml",
        "on: workflow_dispatch\n",
    );
    let dispatched = repo_call(&fake, &token, "POST", dispatches, template, Some(body)).await;
    assert_eq!(
        (dispatched.status, dispatched.body),
        (StatusCode::NO_CONTENT, None)
    );
    assert_eq!(fake.dispatches(REPO)[0].inputs["service"], "api");
    fake.assert_honest();
}
