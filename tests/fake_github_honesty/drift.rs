//! Every endpoint the fake gained for writing refuses to send a body that drifted from GitHub's
//! description: one required field taken out of each answer is caught, named, and answered 500.

use super::pulls::{BRANCH, open_draft};
use super::*;

/// Calls `call` ("METHOD /path" under the repository) with its answer's `field` removed (from
/// the first item of a list), and checks the fake refused to send it, naming the field.
async fn drifted(
    fake: &FakeGitHub,
    token: &str,
    call: &str,
    template: &str,
    body: Option<Value>,
    field: &'static str,
) {
    let (method, path) = call.split_once(' ').expect("METHOD /path");
    let prefix = format!("/repos/{REPO}{}", path.split('?').next().unwrap_or(path));
    fake.corrupt_next(method, &prefix, move |answer: &mut Value| {
        let target = match answer {
            Value::Array(items) => items.first_mut().expect("a non-empty list"),
            object => object,
        };
        target.as_object_mut().expect("an object").remove(field);
    });
    let answer = repo_call(fake, token, method, path, template, body).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{call}");
    let violations = fake.take_violations();
    let named = format!("\"{field}\" is a required property");
    assert!(
        violations.len() == 1 && violations[0].contains(&named),
        "{call}: {violations:?}"
    );
}

/// An answer's field as text, through a clean call.
async fn read(fake: &FakeGitHub, token: &str, path: &str, template: &str, pointer: &str) -> String {
    text(
        &repo_call(fake, token, "GET", path, template, None).await,
        pointer,
    )
}

#[tokio::test]
async fn every_new_endpoint_refuses_to_send_a_drifted_body() {
    let (fake, token) = writable_fake().await;
    let (fake, token) = (&fake, token.as_str());
    assert_eq!(open_draft(fake, token).await.status, StatusCode::CREATED);
    fake.set_collaborator_permission(REPO, "alice", "admin", "admin");
    fake.add_workflow_run(REPO, WorkflowRun::new(11, "Deploy"));
    let main = fake.branch_sha(REPO, "main").unwrap();
    let tree = read(
        fake,
        token,
        &format!("/git/commits/{main}"),
        "/git/commits/{commit_sha}",
        "/tree/sha",
    )
    .await;
    let blob = read(
        fake,
        token,
        "/contents/deploy/task.json",
        "/contents/{path}",
        "/sha",
    )
    .await;

    let git = [
        ("GET /git/ref/heads/main", "/git/ref/{ref}", None, "object"),
        (
            "GET /git/matching-refs/heads",
            "/git/matching-refs/{ref}",
            None,
            "ref",
        ),
        (
            &format!("GET /git/commits/{main}"),
            "/git/commits/{commit_sha}",
            None,
            "verification",
        ),
        (
            "POST /git/blobs",
            "/git/blobs",
            Some(json!({ "content": "x" })),
            "sha",
        ),
        (
            &format!("GET /git/blobs/{blob}"),
            "/git/blobs/{file_sha}",
            None,
            "content",
        ),
        (
            &format!("GET /git/trees/{tree}"),
            "/git/trees/{tree_sha}",
            None,
            "truncated",
        ),
        (
            "POST /git/trees",
            "/git/trees",
            Some(
                json!({ "tree": [{ "path": "a", "mode": "100644", "type": "blob", "content": "a" }] }),
            ),
            "tree",
        ),
        (
            "POST /git/commits",
            "/git/commits",
            Some(json!({ "message": "m", "tree": tree, "parents": [main] })),
            "parents",
        ),
        (
            "POST /git/refs",
            "/git/refs",
            Some(json!({ "ref": "refs/heads/drift", "sha": main })),
            "object",
        ),
        (
            "PATCH /git/refs/heads/drift",
            "/git/refs/{ref}",
            Some(json!({ "sha": main })),
            "ref",
        ),
    ];
    for (call, template, body, field) in git {
        drifted(fake, token, call, template, body, field).await;
    }
    // A directory listing is one of four shapes (`oneOf`), so the violation names no field.
    fake.corrupt_next("GET", &format!("/repos/{REPO}/contents/deploy"), |list| {
        list[0].as_object_mut().unwrap().remove("sha");
    });
    let listing = repo_call(
        fake,
        token,
        "GET",
        "/contents/deploy",
        "/contents/{path}",
        None,
    )
    .await;
    assert_eq!(listing.status, StatusCode::INTERNAL_SERVER_ERROR);
    let violations = fake.take_violations();
    assert!(
        violations.len() == 1 && violations[0].contains("oneOf"),
        "{violations:?}"
    );

    let pulls = [
        ("GET /pulls/1", "/pulls/{pull_number}", None, "head"),
        (
            "PATCH /pulls/1",
            "/pulls/{pull_number}",
            Some(json!({ "title": "t" })),
            "base",
        ),
        (
            &format!("GET /pulls?head=acme:{BRANCH}") as &str,
            "/pulls",
            None,
            "user",
        ),
        (
            "POST /pulls/1/requested_reviewers",
            "/pulls/{pull_number}/requested_reviewers",
            Some(json!({ "reviewers": ["alice"] })),
            "head",
        ),
        (
            "POST /issues",
            "/issues",
            Some(json!({ "title": "t" })),
            "number",
        ),
        ("GET /issues/2", "/issues/{issue_number}", None, "labels"),
        (
            "POST /issues/1/labels",
            "/issues/{issue_number}/labels",
            Some(json!({ "labels": ["a", "b"] })),
            "name",
        ),
        (
            "DELETE /issues/1/labels/a",
            "/issues/{issue_number}/labels/{name}",
            None,
            "color",
        ),
        (
            "POST /issues/1/comments",
            "/issues/{issue_number}/comments",
            Some(json!({ "body": "b" })),
            "user",
        ),
        (
            "GET /issues/1/comments",
            "/issues/{issue_number}/comments",
            None,
            "html_url",
        ),
    ];
    for (call, template, body, field) in pulls {
        drifted(fake, token, call, template, body, field).await;
    }

    let comment = fake.expect_comment(REPO, 1).id;
    let head = fake.branch_sha(REPO, BRANCH).unwrap();
    let check = json!({ "name": "Fixpoint", "head_sha": head });
    let check_id = repo_call(
        fake,
        token,
        "POST",
        "/check-runs",
        "/check-runs",
        Some(check.clone()),
    )
    .await
    .body
    .unwrap()["id"]
        .clone();
    let rest = [
        (
            format!("GET /issues/comments/{comment}"),
            "/issues/comments/{comment_id}",
            None,
            "issue_url",
        ),
        (
            format!("PATCH /issues/comments/{comment}"),
            "/issues/comments/{comment_id}",
            Some(json!({ "body": "c" })),
            "id",
        ),
        (
            format!("POST /issues/comments/{comment}/reactions"),
            "/issues/comments/{comment_id}/reactions",
            Some(json!({ "content": "+1" })),
            "content",
        ),
        (
            "POST /check-runs".into(),
            "/check-runs",
            Some(check),
            "status",
        ),
        (
            format!("PATCH /check-runs/{check_id}"),
            "/check-runs/{check_run_id}",
            Some(json!({ "status": "in_progress" })),
            "app",
        ),
        (
            format!("GET /check-runs/{check_id}"),
            "/check-runs/{check_run_id}",
            None,
            "output",
        ),
        (
            "GET /collaborators/alice/permission".into(),
            "/collaborators/{username}/permission",
            None,
            "role_name",
        ),
        (
            "GET /actions/runs".into(),
            "/actions/runs",
            None,
            "total_count",
        ),
        (
            "GET /actions/workflows/deploy.yml/runs".into(),
            "/actions/workflows/{workflow_id}/runs",
            None,
            "workflow_runs",
        ),
    ];
    for (call, template, body, field) in rest {
        drifted(fake, token, &call, template, body, field).await;
    }
    fake.assert_honest();
}
