//! The validator itself: drift is caught naming the field, nullable is exact, GitHub's own
//! examples pass, and a fake that drifts fails the test that saw it.

use super::*;

#[tokio::test]
async fn a_workflow_run_missing_head_sha_or_with_a_wrong_status_is_caught_naming_it() {
    let fake = fake_with_failed_deploy().await;
    let token = token(&fake).await;
    let url = format!("{}/repos/{REPO}/actions/runs/{RUN}", fake.url());
    let mut run = call("GET", url, Some(format!("Bearer {token}")), None)
        .await
        .body
        .unwrap();
    let openapi = OpenApi::load();
    assert_eq!(
        openapi.validate("get", RUN_TEMPLATE, 200, Some(&run)),
        Ok(())
    );

    let wrong_status = openapi
        .validate("get", RUN_TEMPLATE, 201, Some(&run))
        .unwrap_err();
    assert!(
        wrong_status.contains("does not document status 201"),
        "{wrong_status}"
    );
    assert!(wrong_status.contains("documented: 200"), "{wrong_status}");
    assert!(
        wrong_status.contains("actions/get-workflow-run"),
        "{wrong_status}"
    );

    run.as_object_mut().unwrap().remove("head_sha");
    let missing = openapi
        .validate("get", RUN_TEMPLATE, 200, Some(&run))
        .unwrap_err();
    assert!(
        missing.contains("\"head_sha\" is a required property"),
        "{missing}"
    );

    run["head_sha"] = json!(SHA);
    run["repository"]["owner"]["login"] = json!(42);
    let nested = openapi
        .validate("get", RUN_TEMPLATE, 200, Some(&run))
        .unwrap_err();
    assert!(nested.contains("/repository/owner/login"), "{nested}");

    let none = openapi
        .validate("get", RUN_TEMPLATE, 200, None)
        .unwrap_err();
    assert!(none.contains("none was served"), "{none}");
}

#[tokio::test]
async fn nullable_fields_take_null_and_nothing_undocumented() {
    let fake = fake_with_failed_deploy().await;
    let token = token(&fake).await;
    let url = format!("{}/repos/{REPO}/actions/runs/{RUN}", fake.url());
    let run = call("GET", url.clone(), Some(format!("token {token}")), None)
        .await
        .body
        .unwrap();
    let jobs = call(
        "GET",
        format!("{url}/jobs"),
        Some(format!("token {token}")),
        None,
    )
    .await
    .body
    .unwrap();
    let openapi = OpenApi::load();
    let run_with = |field: &str, value: Value| {
        let mut run = run.clone();
        run[field] = value;
        openapi.validate("get", RUN_TEMPLATE, 200, Some(&run))
    };
    // `type: string, nullable: true`
    assert_eq!(run_with("conclusion", Value::Null), Ok(()));
    assert!(run_with("conclusion", json!(5)).is_err());
    // `$ref: nullable-simple-commit`, itself `nullable: true` on an object
    assert_eq!(run_with("head_commit", Value::Null), Ok(()));
    // `$ref: minimal-repository` is not nullable
    assert!(
        run_with("repository", Value::Null)
            .unwrap_err()
            .contains("/repository")
    );

    // `enum` + `nullable`: null joins the enum, an unknown word does not
    let template = "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs";
    let jobs_with = |value: Value| {
        let mut jobs = jobs.clone();
        jobs["jobs"][0]["conclusion"] = value;
        openapi.validate("get", template, 200, Some(&jobs))
    };
    assert_eq!(jobs_with(Value::Null), Ok(()));
    assert!(
        jobs_with(json!("exploded"))
            .unwrap_err()
            .contains("/jobs/0/conclusion")
    );
    // GitHub's `basic-error` shape is what undocumented error statuses are held to.
    assert_eq!(
        openapi.validate_component("basic-error", &json!({"message": "Not Found"})),
        Ok(())
    );
    assert!(
        openapi
            .validate_component("basic-error", &json!({"message": 404}))
            .is_err()
    );
}

#[test]
fn githubs_own_examples_pass_the_validator_and_formats_are_enforced() {
    let openapi = OpenApi::load();
    let example = |name: &str| openapi.example(name).cloned().unwrap_or(Value::Null);
    let served = [
        ("get", "/app", 200, "integration"),
        (
            "post",
            "/app/installations/{installation_id}/access_tokens",
            201,
            "installation-token",
        ),
        ("get", RUN_TEMPLATE, 200, "workflow-run"),
        (
            "post",
            "/app-manifests/{code}/conversions",
            201,
            "integration-from-manifest",
        ),
        (
            "get",
            "/repos/{owner}/{repo}/contents/{path}",
            200,
            "content-file-response-if-content-is-a-file",
        ),
    ];
    for (method, template, status, name) in served {
        let body = example(name);
        assert!(!body.is_null(), "no example {name}");
        assert_eq!(
            openapi.validate(method, template, status, Some(&body)),
            Ok(()),
            "example {name}"
        );
    }

    // GitHub's own jobs example predates `created_at` becoming required: the validator says so,
    // and the example passes once the field is there.
    let jobs_template = "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs";
    let mut jobs = example("job-paginated");
    let stale = openapi
        .validate("get", jobs_template, 200, Some(&jobs))
        .unwrap_err();
    assert!(
        stale.contains("at /jobs/0: \"created_at\" is a required property"),
        "{stale}"
    );
    jobs["jobs"][0]["created_at"] = json!("2019-08-08T08:00:00-07:00");
    assert_eq!(
        openapi.validate("get", jobs_template, 200, Some(&jobs)),
        Ok(())
    );

    let mut run = example("workflow-run");
    run["created_at"] = json!("yesterday");
    let error = openapi
        .validate("get", RUN_TEMPLATE, 200, Some(&run))
        .unwrap_err();
    assert!(
        error.contains("/created_at") && error.contains("date-time"),
        "{error}"
    );
}

#[tokio::test]
async fn the_fake_refuses_to_send_a_drifted_body_and_fails_the_test_that_saw_it() {
    let fake = fake_with_failed_deploy().await;
    let token = token(&fake).await;
    fake.corrupt_next("GET", &format!("/repos/{REPO}/actions/runs/"), |run| {
        run.as_object_mut().unwrap().remove("head_sha");
    });
    let url = format!("{}/repos/{REPO}/actions/runs/{RUN}", fake.url());
    let answer = call("GET", url.clone(), Some(format!("token {token}")), None).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        answer.body.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("head_sha")
    );
    assert_eq!(
        call("GET", url, Some(format!("token {token}")), None)
            .await
            .status,
        StatusCode::OK
    );

    let violations = fake.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("\"head_sha\" is a required property"),
        "{violations:?}"
    );
    let on_assert = catch_unwind(AssertUnwindSafe(|| fake.assert_honest())).unwrap_err();
    assert!(panic_text(&on_assert).contains("head_sha"));

    // Even a test that never calls assert_honest fails: dropping the fake panics.
    let unchecked = FakeGitHub::start().await;
    let _ = call(
        "GET",
        format!("{}/repos/{REPO}/releases", unchecked.url()),
        None,
        None,
    )
    .await;
    let _ = call("DELETE", format!("{}/app", unchecked.url()), None, None).await;
    let on_drop = panic_text(&catch_unwind(AssertUnwindSafe(|| drop(unchecked))).unwrap_err());
    assert!(
        on_drop.contains("does not serve GET /repos/acme/api/releases"),
        "{on_drop}"
    );
    assert!(on_drop.contains("does not serve DELETE /app"), "{on_drop}");
    assert_eq!(on_drop.matches("does not serve").count(), 2, "{on_drop}");
}

fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
