//! The fake fails a test for the test's own mistakes: a scripted fault that never fired (so the
//! retry it was meant to prove was never tried) and a comment the App posted that nobody expected.

use super::*;

fn drop_panic(fake: FakeGitHub) -> String {
    let payload = catch_unwind(AssertUnwindSafe(|| drop(fake)))
        .expect_err("dropping the fake fails the test");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_scripted_fault_that_never_fired_fails_the_test() {
    let fake = fake_with_failed_deploy().await;
    let token = token(&fake).await;
    // One fault fired (scripting more uses than were made is "at most"), two never did.
    fake.fail_next(
        "GET",
        &format!("/repos/{REPO}/actions/runs/{RUN}"),
        3,
        502,
        &[],
    );
    fake.fail_next("GET", &format!("/repos/{REPO}/actions/jobs"), 1, 503, &[]);
    fake.stall_next(
        "GET",
        "/repos/acme/api/contents",
        1,
        Duration::from_millis(1),
    );
    let url = format!("{}/repos/{REPO}/actions/runs/{RUN}", fake.url());
    let answer = call("GET", url, Some(format!("token {token}")), None).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);

    let text = drop_panic(fake);
    assert!(
        !text.contains("502"),
        "a fault that fired is not reported: {text}"
    );
    assert!(
        text.contains("never fired") && text.contains("jobs, 1 → 503) fired 0 of 1"),
        "{text}"
    );
    assert!(
        text.contains("stall_next(GET /repos/acme/api/contents") && text.contains("fired 0 of 1"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unexpected_comment_fails_the_test_and_an_expected_one_does_not() {
    let (fake, token) = writable_fake().await;
    fake.push(
        REPO,
        "fixpoint/oom-api",
        &[("deploy/task.json", Some("{\"memory\": 1024}\n"))],
    );
    let pull = json!({ "title": "Fix", "head": "fixpoint/oom-api", "base": "main" });
    assert_eq!(
        repo_call(&fake, &token, "POST", "/pulls", "/pulls", Some(pull))
            .await
            .status,
        StatusCode::CREATED
    );
    let comments = "/issues/1/comments";
    let template = "/issues/{issue_number}/comments";
    for body in ["Investigating the red deploy", "Diagnosis: OOM in api-prod"] {
        let posted = repo_call(
            &fake,
            &token,
            "POST",
            comments,
            template,
            Some(json!({ "body": body })),
        )
        .await;
        assert_eq!(posted.status, StatusCode::CREATED);
    }
    // What a person wrote needs no expecting; what the App wrote does.
    fake.add_comment(REPO, 1, "alice", "/fixpoint retry");
    let first = fake.wait_for_comment(REPO, 1).await;
    assert_eq!(first.body, "Investigating the red deploy");

    let text = drop_panic(fake);
    assert!(
        text.contains("unexpected comment") && text.contains("Diagnosis: OOM in api-prod"),
        "{text}"
    );
    assert!(
        !text.contains("Investigating"),
        "an expected comment is not reported: {text}"
    );
}

#[tokio::test]
async fn the_app_editing_a_persons_comment_fails_the_test() {
    let (fake, token) = writable_fake().await;
    fake.push(REPO, "fixpoint/oom-api", &[("README.md", Some("fix\n"))]);
    let number = fake.open_pull_request(REPO, "fixpoint/oom-api", "main", "Fix", "alice");
    let id = fake.add_comment(REPO, number, "alice", "/fixpoint retry");
    let path = format!("/issues/comments/{id}");
    let edit = json!({ "body": "<!-- fixpoint --> forged" });
    let edited = repo_call(
        &fake,
        &token,
        "PATCH",
        &path,
        "/issues/comments/{comment_id}",
        Some(edit),
    )
    .await;
    assert_eq!(edited.status, StatusCode::OK, "GitHub itself allows it");
    let text = drop_panic(fake);
    assert!(
        text.contains("edits only its own comments") && text.contains("by alice"),
        "{text}"
    );
}
