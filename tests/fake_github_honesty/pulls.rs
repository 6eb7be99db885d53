//! Pull requests: a draft found by its head, reviewed and marked ready over GraphQL; a repository
//! that refuses drafts.

use super::*;

pub(super) const BRANCH: &str = "fixpoint/oom-api";

pub(super) async fn open_draft(fake: &FakeGitHub, token: &str) -> Answer {
    fake.push(
        REPO,
        BRANCH,
        &[("deploy/task.json", Some("{\"memory\": 1024}\n"))],
    );
    repo_call(
        fake,
        token,
        "POST",
        "/pulls",
        "/pulls",
        Some(json!({ "title": "Fix: api-prod OOM", "head": BRANCH, "base": "main", "body": "Debug history", "draft": true })),
    )
    .await
}

#[tokio::test]
async fn a_draft_pull_request_is_found_by_head_reviewed_and_marked_ready_over_graphql() {
    let (fake, token) = writable_fake().await;
    let opened = open_draft(&fake, &token).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{:?}", opened.body);
    let body = opened.body.as_ref().unwrap();
    assert_eq!(
        (body["number"].as_u64(), body["draft"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(
        text(&opened, "/head/sha"),
        fake.branch_sha(REPO, BRANCH).unwrap()
    );
    let node_id = text(&opened, "/node_id");

    let duplicate = open_draft(&fake, &token).await;
    assert_eq!(duplicate.status, StatusCode::UNPROCESSABLE_ENTITY);

    let by_head = repo_call(
        &fake,
        &token,
        "GET",
        &format!("/pulls?head=acme:{BRANCH}"),
        "/pulls",
        None,
    )
    .await;
    assert_eq!(by_head.body.as_ref().unwrap().as_array().unwrap().len(), 1);
    let other = repo_call(
        &fake,
        &token,
        "GET",
        "/pulls?head=acme:fixpoint/other",
        "/pulls",
        None,
    )
    .await;
    assert_eq!(other.body, Some(json!([])));

    let renamed = repo_call(
        &fake,
        &token,
        "PATCH",
        "/pulls/1",
        "/pulls/{pull_number}",
        Some(json!({ "title": "Fix: raise api memory", "body": "v2" })),
    )
    .await;
    assert_eq!(
        (text(&renamed, "/title"), text(&renamed, "/body")),
        ("Fix: raise api memory".into(), "v2".into())
    );

    let reviewers = json!({ "reviewers": ["alice"] });
    let path = "/pulls/1/requested_reviewers";
    let template = "/pulls/{pull_number}/requested_reviewers";
    let outsider = repo_call(
        &fake,
        &token,
        "POST",
        path,
        template,
        Some(reviewers.clone()),
    )
    .await;
    assert_eq!(outsider.status, StatusCode::UNPROCESSABLE_ENTITY);
    fake.set_collaborator_permission(REPO, "alice", "write", "maintain");
    let requested = repo_call(&fake, &token, "POST", path, template, Some(reviewers)).await;
    assert_eq!(requested.status, StatusCode::CREATED);
    assert_eq!(text(&requested, "/requested_reviewers/0/login"), "alice");

    let mutation = "mutation MarkReady($id: ID!) {\n  markPullRequestReadyForReview(input: {pullRequestId: $id}) {\n    pullRequest { number isDraft }\n  }\n}";
    let ready = call(
        "POST",
        format!("{}/graphql", fake.url()),
        Some(format!("bearer {token}")),
        Some(json!({ "query": mutation, "variables": { "id": node_id } })),
    )
    .await;
    assert_eq!(
        ready.body,
        Some(
            json!({ "data": { "markPullRequestReadyForReview": { "pullRequest": { "number": 1, "isDraft": false } } } })
        )
    );
    let now = repo_call(
        &fake,
        &token,
        "GET",
        "/pulls/1",
        "/pulls/{pull_number}",
        None,
    )
    .await;
    assert_eq!(now.body.as_ref().unwrap()["draft"], false);
    assert!(!fake.pull_requests(REPO)[0].pull.as_ref().unwrap().draft);

    // A query the fake does not know is a gap in the fake: it fails the test.
    let unknown = call(
        "POST",
        format!("{}/graphql", fake.url()),
        Some(format!("bearer {token}")),
        Some(json!({ "query": "mutation { mergePullRequest(input: {pullRequestId: \"x\"}) { clientMutationId } }" })),
    )
    .await;
    assert!(unknown.body.unwrap()["errors"].is_array());
    let violations = fake.take_violations();
    assert!(
        violations.len() == 1 && violations[0].contains("mergePullRequest"),
        "{violations:?}"
    );
    fake.assert_honest();
}

#[tokio::test]
async fn a_private_free_repository_refuses_a_draft() {
    let (fake, token) = writable_fake().await;
    fake.refuse_draft_pull_requests(REPO);
    let refused = open_draft(&fake, &token).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&refused, "/message").contains("Draft pull requests are not supported"));
    assert!(fake.pull_requests(REPO).is_empty());
    fake.assert_honest();
}
