//! CI that follows pushes: a branch pushed through the Git Data API runs the test's CI on the
//! pushed tree, and the App hears `workflow_run` requested, in_progress and completed, signed.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};

use super::*;

const SECRET: &str = "ci-webhook-secret";

/// One webhook as a loopback receiver saw it, with its own verdict on the signature.
#[derive(Clone, Debug)]
struct Received {
    event: String,
    action: String,
    conclusion: Value,
    run_id: u64,
    signature_valid: bool,
}

/// A loopback stand-in for the App's webhook endpoint that checks every signature itself
/// (constant-time, with the `hmac` crate), answering 401 to a bad one as the App does.
async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/webhooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                let signature = header("x-hub-signature-256");
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(&body);
                let signature_valid = signature
                    .strip_prefix("sha256=")
                    .and_then(|hex_text| hex::decode(hex_text).ok())
                    .is_some_and(|bytes| mac.verify_slice(&bytes).is_ok());
                let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
                record.lock().unwrap().push(Received {
                    event: header("x-github-event"),
                    action: payload["action"].as_str().unwrap_or_default().to_string(),
                    conclusion: payload["workflow_run"]["conclusion"].clone(),
                    run_id: payload["workflow_run"]["id"].as_u64().unwrap_or_default(),
                    signature_valid,
                });
                if signature_valid {
                    StatusCode::OK
                } else {
                    StatusCode::UNAUTHORIZED
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// The deploy workflow as a test scripts it: it fails with an OOM unless the task has 1024 MiB.
fn deploy_ci(tree: &fake_github::PushedTree) -> WorkflowRun {
    let task = tree.text("deploy/task.json").unwrap_or_default();
    let run = WorkflowRun::new(0, "Deploy").attempt(1);
    if task.contains("1024") {
        run.job(
            Job::new(1, "deploy")
                .step(Step::succeeded("Roll out").log("service api-prod is stable")),
        )
    } else {
        run.conclusion("failure").job(
            Job::new(1, "deploy").conclusion("failure").step(
                Step::failed("Roll out").log("task stopped: OutOfMemoryError: Container killed"),
            ),
        )
    }
}

#[tokio::test]
async fn a_pushed_fix_runs_ci_and_three_signed_webhooks_reach_the_app() {
    let (fake, token) = writable_fake().await;
    let (url, seen) = receiver().await;
    fake.deliver_webhooks_to(&url, SECRET);
    fake.follow_pushes(REPO, deploy_ci);

    // The App pushes its fix: a blob-tree-commit made by the API, then a new branch.
    let main = fake.branch_sha(REPO, "main").unwrap();
    let tree = repo_call(
        &fake,
        &token,
        "POST",
        "/git/trees",
        "/git/trees",
        Some(json!({
            "base_tree": fake_tree_of(&fake, &token, &main).await,
            "tree": [{ "path": "deploy/task.json", "mode": "100644", "type": "blob", "content": "{\"memory\": 1024}\n" }],
        })),
    )
    .await;
    let commit = repo_call(
        &fake,
        &token,
        "POST",
        "/git/commits",
        "/git/commits",
        Some(json!({ "message": "Raise memory", "tree": text(&tree, "/sha"), "parents": [main] })),
    )
    .await;
    let fix = text(&commit, "/sha");
    let branch = json!({ "ref": "refs/heads/fixpoint/oom-api", "sha": fix });
    assert_eq!(
        repo_call(
            &fake,
            &token,
            "POST",
            "/git/refs",
            "/git/refs",
            Some(branch)
        )
        .await
        .status,
        StatusCode::CREATED
    );

    let deliveries = fake.wait_for_deliveries(3).await;
    let actions: Vec<&str> = deliveries.iter().map(|d| d.action.as_str()).collect();
    assert_eq!(actions, ["requested", "in_progress", "completed"]);
    assert!(
        deliveries.iter().all(|d| d.answer == Ok(200)),
        "{deliveries:?}"
    );
    let received = seen.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|r| r.event == "workflow_run" && r.signature_valid),
        "{received:?}"
    );
    let heard: Vec<&str> = received.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(heard, actions, "delivered in order");
    assert_eq!(
        received
            .iter()
            .map(|r| r.conclusion.clone())
            .collect::<Vec<_>>(),
        [Value::Null, Value::Null, json!("success")]
    );

    // The run the webhooks announced is served like any other, with the head the push left.
    let run_id = received[2].run_id;
    let run = repo_call(
        &fake,
        &token,
        "GET",
        &format!("/actions/runs/{run_id}"),
        "/actions/runs/{run_id}",
        None,
    )
    .await;
    assert_eq!(
        (text(&run, "/head_sha"), text(&run, "/head_branch")),
        (fix, "fixpoint/oom-api".into())
    );
    let payload: Value = serde_json::from_slice(&deliveries[2].body).unwrap();
    assert_eq!(payload["installation"]["id"], INSTALLATION);
    assert_eq!(payload["repository"]["full_name"], REPO);
    assert_has_fields_of_githubs_example(&payload);
    fake.assert_honest();
}

/// Every field GitHub's own `workflow_run.completed` example has at the top and in its
/// `workflow_run` and `workflow`, the fake's payload has too (GitHub's webhook schemas are not
/// installed, so this is the shape check).
fn assert_has_fields_of_githubs_example(payload: &Value) {
    let example = webhooks::example("workflow_run", Some("completed"));
    for pointer in ["", "/workflow_run", "/workflow", "/repository"] {
        let ours = payload.pointer(pointer).and_then(Value::as_object).unwrap();
        let theirs = example.pointer(pointer).and_then(Value::as_object).unwrap();
        let missing: Vec<&String> = theirs
            .keys()
            .filter(|key| !ours.contains_key(*key))
            .collect();
        assert!(
            missing.is_empty(),
            "the fake's workflow_run{pointer} lacks {missing:?}"
        );
    }
}

#[tokio::test]
async fn a_push_that_still_fails_delivers_a_failed_run_with_its_log() {
    let (fake, token) = writable_fake().await;
    let (url, seen) = receiver().await;
    fake.deliver_webhooks_to(&url, SECRET);
    fake.follow_pushes(REPO, deploy_ci);
    let sha = fake.push(REPO, "fixpoint/oom-api", &[("README.md", Some("retry\n"))]);

    let deliveries = fake.wait_for_deliveries(3).await;
    let completed: Value = serde_json::from_slice(&deliveries[2].body).unwrap();
    assert_eq!(completed["workflow_run"]["conclusion"], "failure");
    assert_eq!(completed["workflow_run"]["head_sha"], sha);
    let run_id = seen.lock().unwrap()[2].run_id;
    let jobs = repo_call(
        &fake,
        &token,
        "GET",
        &format!("/actions/runs/{run_id}/jobs"),
        "/actions/runs/{run_id}/jobs",
        None,
    )
    .await;
    let job_id = jobs.body.as_ref().unwrap()["jobs"][0]["id"]
        .as_u64()
        .unwrap();
    let log = http()
        .get(format!(
            "{}/repos/{REPO}/actions/jobs/{job_id}/logs",
            fake.url()
        ))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    let location = log.headers()["location"].to_str().unwrap().to_string();
    let text = http()
        .get(location)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("OutOfMemoryError") && text.contains("##[error]"),
        "{text}"
    );
    fake.assert_honest();
}

#[tokio::test]
async fn held_ci_stays_in_progress_until_the_test_lets_it_finish() {
    let (fake, token) = writable_fake().await;
    let (url, _seen) = receiver().await;
    fake.deliver_webhooks_to(&url, SECRET);
    fake.follow_pushes(REPO, deploy_ci);
    fake.hold_ci(REPO);
    fake.push(
        REPO,
        "fixpoint/oom-api",
        &[("deploy/task.json", Some("{\"memory\": 1024}\n"))],
    );

    let started = fake.wait_for_deliveries(2).await;
    let run_id =
        serde_json::from_slice::<Value>(&started[1].body).unwrap()["workflow_run"]["id"].clone();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.deliveries().len(), 2, "held: no `completed` yet");
    let path = format!("/actions/runs/{run_id}");
    let running = repo_call(&fake, &token, "GET", &path, "/actions/runs/{run_id}", None).await;
    assert_eq!(
        (
            text(&running, "/status"),
            &running.body.as_ref().unwrap()["conclusion"]
        ),
        ("in_progress".into(), &Value::Null)
    );

    fake.finish_ci_run(REPO);
    let all = fake.wait_for_deliveries(3).await;
    assert_eq!(all[2].action, "completed");
    let done = repo_call(&fake, &token, "GET", &path, "/actions/runs/{run_id}", None).await;
    assert_eq!(text(&done, "/conclusion"), "success");
    fake.assert_honest();
}

#[tokio::test]
async fn the_in_process_signature_matches_githubs_library() {
    // GitHub's documented vector first, then a real delivery body with non-ASCII text.
    assert_eq!(
        fake_github::signature_256("It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    let body =
        serde_json::to_vec(&json!({ "action": "completed", "note": "512 → 1024 MiB ✓" })).unwrap();
    assert_eq!(
        fake_github::signature_256(SECRET, &body),
        webhooks::sign_with_node(SECRET, &body)
    );
}

/// The tree SHA of `commit`, through the API.
async fn fake_tree_of(fake: &FakeGitHub, token: &str, commit: &str) -> String {
    let answer = repo_call(
        fake,
        token,
        "GET",
        &format!("/git/commits/{commit}"),
        "/git/commits/{commit_sha}",
        None,
    )
    .await;
    text(&answer, "/tree/sha")
}
