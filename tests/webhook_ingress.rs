//! Incidents at the edge: what GitHub (or anyone else) sends to `POST /webhooks`, and
//! what Fixpoint stores. Every delivery is one of GitHub's own examples, signed by
//! GitHub's own library.

mod support;

use fixpoint::domain::{CommandStatus, InstallationState};
use fixpoint::server::webhook::verify_signature;
use secrecy::SecretString;
use serde_json::json;
use support::TestApp;
use support::webhooks::{self, bytes, example, failed_deploy};

/// What was sent (a name, headers, body) and the status it must get.
type Case = (&'static str, Vec<(&'static str, String)>, Vec<u8>, u16);

async fn jobs(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM jobs").await
}

#[test]
fn githubs_documented_signature_vector_verifies() {
    let secret = [SecretString::from("It's a Secret to Everybody".to_string())];
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(verify_signature(&secret, b"Hello, World!", sig), Ok(()));
    assert!(verify_signature(&secret, b"Hello, World?", sig).is_err());
    // GitHub's library agrees with the vector, so the signer the tests use is honest too.
    assert_eq!(
        webhooks::sign("It's a Secret to Everybody", b"Hello, World!"),
        sig
    );
}

#[tokio::test]
async fn a_failed_deploy_is_acknowledged_202_only_once_it_is_a_stored_job() {
    let app = TestApp::start().await;
    let body = bytes(&failed_deploy("acme/payments-api", 9001, 1, 77));
    let res = app.deliver("workflow_run", "d-1", &body).await;
    assert_eq!(res.status(), 202);
    // The job is in the store by the time the 202 arrived.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'workflow_run' AND dedupe_key = 'workflow_run:acme/payments-api:9001:1'").await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM deliveries WHERE delivery_id = 'd-1' AND outcome = 'accepted'"
        )
        .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn the_rejection_matrix_queues_nothing() {
    let app = TestApp::start().await;
    let body = bytes(&failed_deploy("acme/payments-api", 1, 1, 77));
    let good = webhooks::sign(support::SECRET, &body);
    let client = reqwest::Client::new();
    let send = |headers: Vec<(&'static str, String)>, body: Vec<u8>| {
        let mut req = client.post(format!("{}/webhooks", app.url)).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let base = |sig: &str| {
        vec![
            ("content-type", "application/json".to_string()),
            ("x-github-event", "workflow_run".to_string()),
            ("x-github-delivery", "d-reject".to_string()),
            ("x-hub-signature-256", sig.to_string()),
        ]
    };
    let without = |name: &str| {
        base(&good)
            .into_iter()
            .filter(|(k, _)| *k != name)
            .collect::<Vec<_>>()
    };
    let cases: Vec<Case> = vec![
        (
            "no event header",
            without("x-github-event"),
            body.clone(),
            400,
        ),
        (
            "no delivery header",
            without("x-github-delivery"),
            body.clone(),
            400,
        ),
        (
            "no signature at all",
            without("x-hub-signature-256"),
            body.clone(),
            400,
        ),
        (
            "only the SHA-1 signature",
            without("x-hub-signature-256")
                .into_iter()
                .chain([(
                    "x-hub-signature",
                    "sha1=0123456789abcdef0123456789abcdef01234567".to_string(),
                )])
                .collect(),
            body.clone(),
            401,
        ),
        (
            "sha1 in the sha256 header",
            base("sha1=0123456789abcdef0123456789abcdef01234567"),
            body.clone(),
            401,
        ),
        (
            "not hex",
            base(&format!("sha256={}", "zz".repeat(32))),
            body.clone(),
            401,
        ),
        ("wrong length", base("sha256=abcd"), body.clone(), 401),
        ("empty", base("sha256="), body.clone(), 401),
        (
            "signed with another secret",
            base(&webhooks::sign("not-our-secret", &body)),
            body.clone(),
            401,
        ),
        (
            "form-encoded content type",
            base(&good)
                .into_iter()
                .map(|(k, v)| {
                    if k == "content-type" {
                        (k, "application/x-www-form-urlencoded".to_string())
                    } else {
                        (k, v)
                    }
                })
                .collect(),
            body.clone(),
            415,
        ),
    ];
    for (what, headers, body, status) in cases {
        let res = send(headers, body).await.unwrap();
        assert_eq!(
            res.status().as_u16(),
            status,
            "{what}: {}",
            res.text().await.unwrap()
        );
    }
    // Over 25 MiB, declared up front: refused before the body is read.
    let big = vec![b' '; 25 * 1024 * 1024 + 1];
    let res = send(base(&good), big).await.unwrap();
    assert_eq!(res.status(), 413);
    // Over 25 MiB, streamed without a length: refused once the limit is crossed.
    let chunks =
        futures::stream::iter((0..27).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024 * 1024])));
    let mut req = client
        .post(format!("{}/webhooks", app.url))
        .body(reqwest::Body::wrap_stream(chunks));
    for (k, v) in base(&good) {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 413);

    assert_eq!(
        jobs(&app).await,
        0,
        "a rejected delivery must queue nothing"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM deliveries").await, 0);
    let metrics = reqwest::get(format!("{}/metrics", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"fixpoint_webhooks_total{event="workflow_run",outcome="rejected"} 11"#),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_raw_body_is_what_is_verified_not_a_reserialisation() {
    let app = TestApp::start().await;
    let mut v = failed_deploy("acme/payments-api", 4242, 1, 77);
    v["workflow_run"]["display_title"] =
        "Déploiement « staging » — naïve\tfix \u{1F680} \"quoted\" \\ back".into();
    // Bytes as GitHub could send them: non-ASCII escaped, slashes escaped, odd spacing.
    let text = serde_json::to_string_pretty(&v)
        .unwrap()
        .replace('/', "\\/")
        .replace("Déploiement", "D\\u00e9ploiement");
    let raw = text.into_bytes();
    let sig = webhooks::sign(support::SECRET, &raw);
    let res = webhooks::post(&app.url, "workflow_run", "raw-1", &raw, &sig).await;
    assert_eq!(res.status(), 202);
    // The same JSON re-serialised is different bytes: the original signature fails.
    let reserialised =
        serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(&raw).unwrap()).unwrap();
    assert_ne!(reserialised, raw);
    let res = webhooks::post(&app.url, "workflow_run", "raw-2", &reserialised, &sig).await;
    assert_eq!(res.status(), 401);
    assert_eq!(jobs(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn events_fixpoint_does_not_act_on_get_200_and_nothing_is_queued() {
    let app = TestApp::start().await;
    let mut green = failed_deploy("acme/payments-api", 5, 1, 77);
    green["workflow_run"]["conclusion"] = "success".into();
    let requested = example("workflow_run", Some("requested"));
    let star =
        json!({"action": "created", "starred_at": null, "repository": {"full_name": "acme/x"}});
    for (event, body) in [
        ("workflow_run", bytes(&green)),
        ("workflow_run", bytes(&requested)),
        ("star", bytes(&star)),
        ("ping", bytes(&example("ping", None))),
    ] {
        let res = app
            .deliver(event, &format!("ignored-{event}-{}", body.len()), &body)
            .await;
        assert_eq!(res.status(), 200, "{event}");
    }
    assert_eq!(jobs(&app).await, 0);
    let metrics = reqwest::get(format!("{}/metrics", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"fixpoint_webhooks_total{event="workflow_run",outcome="ignored"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"fixpoint_webhooks_total{event="other",outcome="ignored"} 1"#),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_deliveries_of_one_guid_make_one_job() {
    let app = TestApp::start().await;
    let body = bytes(&failed_deploy("acme/payments-api", 777, 1, 77));
    let sig = webhooks::sign(support::SECRET, &body);
    let sends = (0..50).map(|_| webhooks::post(&app.url, "workflow_run", "same-guid", &body, &sig));
    let statuses: Vec<u16> = futures::future::join_all(sends)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        49,
        "{statuses:?}"
    );
    assert_eq!(jobs(&app).await, 1);
    let metrics = reqwest::get(format!("{}/metrics", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"fixpoint_webhooks_total{event="workflow_run",outcome="duplicate"} 49"#),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_new_delivery_about_the_same_run_attempt_joins_the_first_job() {
    let app = TestApp::start().await;
    let body = bytes(&failed_deploy("acme/payments-api", 31337, 1, 77));
    assert_eq!(
        app.deliver("workflow_run", "first", &body).await.status(),
        202
    );
    assert_eq!(
        app.deliver("workflow_run", "redelivered-as-new", &body)
            .await
            .status(),
        200
    );
    assert_eq!(jobs(&app).await, 1);
    // A re-run is a new attempt: a new incident.
    let rerun = bytes(&failed_deploy("acme/payments-api", 31337, 2, 77));
    assert_eq!(
        app.deliver("workflow_run", "rerun", &rerun).await.status(),
        202
    );
    assert_eq!(jobs(&app).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn runs_on_fixpoint_branches_are_loop_progress_not_incidents() {
    let app = TestApp::start().await;
    let mut v = failed_deploy("acme/payments-api", 66, 1, 77);
    v["workflow_run"]["head_branch"] = "fixpoint/payments-api-9001".into();
    v["workflow_run"]["conclusion"] = "success".into();
    assert_eq!(
        app.deliver("workflow_run", "loop-1", &bytes(&v))
            .await
            .status(),
        202
    );
    app.settle().await;
    let runs = app.store.loop_runs().await.unwrap();
    assert_eq!(
        runs,
        vec![(
            "acme/payments-api".to_string(),
            "fixpoint/payments-api-9001".to_string(),
            66,
            Some("success".to_string())
        )]
    );
    assert!(app.store.investigations().await.unwrap().is_empty());
    app.stop().await;
}

/// A deploy whose workflow file GitHub cannot even start (a bad `uses:`, an invalid
/// expression) ends `startup_failure`: that is a red deploy too, and was once dropped
/// here while the gha skill counted it as failed.
#[tokio::test]
async fn a_deploy_that_could_not_start_is_an_incident_and_a_cancelled_one_is_not() {
    let app = TestApp::start().await;
    for (run, conclusion, status) in [
        (41, "startup_failure", 202),
        (42, "timed_out", 202),
        (43, "cancelled", 200),
        (44, "action_required", 200),
        (45, "a_conclusion_github_adds_later", 200),
    ] {
        let mut v = failed_deploy("acme/payments-api", run, 1, 77);
        v["workflow_run"]["conclusion"] = conclusion.into();
        let res = app
            .deliver("workflow_run", &format!("c-{run}"), &bytes(&v))
            .await;
        assert_eq!(res.status(), status, "{conclusion}");
    }
    let kinds: Vec<(String, String)> = app
        .store
        .jobs()
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.kind, j.state.to_string()))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(
        kinds.iter().all(|(kind, _)| kind == "workflow_run"),
        "{kinds:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn fixpoint_commands_on_prs_are_stored_and_bots_are_ignored() {
    let app = TestApp::start().await;
    let app_id = app.github.app_id();
    let mut pr_comment = example("issue_comment", Some("created"));
    pr_comment["issue"]["pull_request"] =
        json!({"url": "https://api.github.com/repos/acme/payments-api/pulls/12"});
    pr_comment["comment"]["body"] = "  /fixpoint retry try a bigger pool".into();
    pr_comment["installation"] = json!({"id": 77});
    pr_comment["comment"]["user"]["type"] = "User".into();
    pr_comment["sender"]["type"] = "User".into();
    assert_eq!(
        app.deliver("issue_comment", "c-1", &bytes(&pr_comment))
            .await
            .status(),
        202
    );

    let mut by_bot = pr_comment.clone();
    by_bot["comment"]["id"] = 2.into();
    by_bot["sender"]["type"] = "Bot".into();
    let mut by_us = pr_comment.clone();
    by_us["comment"]["id"] = 3.into();
    by_us["comment"]["performed_via_github_app"] = json!({"id": app_id});
    let mut not_a_command = pr_comment.clone();
    not_a_command["comment"]["id"] = 4.into();
    not_a_command["comment"]["body"] = "LGTM, but /fixpoint should look at this".into();
    let mut on_an_issue = pr_comment.clone();
    on_an_issue["comment"]["id"] = 5.into();
    on_an_issue["issue"]
        .as_object_mut()
        .unwrap()
        .remove("pull_request");
    for (i, v) in [by_bot, by_us, not_a_command, on_an_issue]
        .iter()
        .enumerate()
    {
        assert_eq!(
            app.deliver("issue_comment", &format!("c-ignored-{i}"), &bytes(v))
                .await
                .status(),
            200
        );
    }
    app.settle().await;
    let commands = app.store.pr_commands().await.unwrap();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0].1, "  /fixpoint retry try a bigger pool");
    assert_eq!(commands[0].2, CommandStatus::Received);
    app.stop().await;
}

#[tokio::test]
async fn installations_are_remembered_with_their_repositories() {
    let app = TestApp::start().await;
    let mut created = example("installation", Some("created"));
    let id = created["installation"]["id"].as_u64().unwrap();
    created["repositories"] = json!([{"id": 1, "node_id": "x", "name": "payments-api", "full_name": "acme/payments-api", "private": true}]);
    assert_eq!(
        app.deliver("installation", "i-1", &bytes(&created))
            .await
            .status(),
        202
    );
    let mut added = example("installation_repositories", Some("added"));
    added["installation"]["id"] = id.into();
    added["repositories_added"] = json!([{"id": 2, "node_id": "y", "name": "ledger", "full_name": "acme/ledger", "private": true}]);
    added["repositories_removed"] = json!([]);
    assert_eq!(
        app.deliver("installation_repositories", "i-2", &bytes(&added))
            .await
            .status(),
        202
    );
    let inst = fixpoint::ids::InstallationId(id);
    assert_eq!(
        app.store.installed_repos(inst).await.unwrap(),
        vec!["acme/ledger", "acme/payments-api"]
    );

    let mut removed = example("installation_repositories", Some("removed"));
    removed["installation"]["id"] = id.into();
    removed["repositories_removed"] = json!([{"id": 1, "node_id": "x", "name": "payments-api", "full_name": "acme/payments-api", "private": true}]);
    removed["repositories_added"] = json!([]);
    assert_eq!(
        app.deliver("installation_repositories", "i-3", &bytes(&removed))
            .await
            .status(),
        202
    );
    assert_eq!(
        app.store.installed_repos(inst).await.unwrap(),
        vec!["acme/ledger"]
    );

    let mut deleted = example("installation", Some("deleted"));
    deleted["installation"]["id"] = id.into();
    assert_eq!(
        app.deliver("installation", "i-4", &bytes(&deleted))
            .await
            .status(),
        202
    );
    assert_eq!(
        app.store.installation_state(inst).await.unwrap(),
        Some(InstallationState::Deleted)
    );
    assert!(app.store.installed_repos(inst).await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_signed_but_malformed_payload_is_a_clear_400() {
    let app = TestApp::start().await;
    let mut v = failed_deploy("acme/payments-api", 8, 1, 77);
    v["workflow_run"]
        .as_object_mut()
        .unwrap()
        .remove("head_sha");
    let res = app.deliver("workflow_run", "bad-1", &bytes(&v)).await;
    assert_eq!(res.status(), 400);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("head_sha"),
        "the error names the missing field: {text}"
    );
    let res = app.deliver("workflow_run", "bad-2", b"{not json").await;
    assert_eq!(res.status(), 400);
    assert_eq!(jobs(&app).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::start().await;
    assert_eq!(
        reqwest::get(format!("{}/healthz", app.url))
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = reqwest::get(format!("{}/readyz", app.url)).await.unwrap();
    assert_eq!(ready.status(), 200);
    let body = bytes(&failed_deploy("acme/payments-api", 12, 1, 77));
    app.deliver("workflow_run", "m-1", &body).await;
    let res = reqwest::get(format!("{}/metrics", app.url)).await.unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text().await.unwrap();
    for line in [
        "# TYPE fixpoint_webhooks_total counter",
        r#"fixpoint_webhooks_total{event="workflow_run",outcome="accepted"} 1"#,
        "fixpoint_jobs{state=\"queued\"}",
        "fixpoint_jobs{state=\"running\"}",
        "fixpoint_jobs{state=\"failed\"}",
        "fixpoint_jobs{state=\"dead\"}",
        // One delivery, so one commit of one.
        "fixpoint_delivery_commits_total 1",
        "fixpoint_deliveries_committed_total 1",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_hanging_up_mid_delivery_never_wedge_the_store() {
    // GitHub gives up on a delivery after 10 s, and proxies drop connections: the store's
    // transaction must still finish, or its connection goes back to the pool holding
    // SQLite's write lock and every later delivery fails.
    let app = TestApp::start().await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_micros(1500))
        .build()
        .unwrap();
    let bodies: Vec<(Vec<u8>, String)> = (0..48)
        .map(|i| {
            let body = bytes(&failed_deploy("acme/payments-api", 50_000 + i, 1, 77));
            let sig = webhooks::sign(support::SECRET, &body);
            (body, sig)
        })
        .collect();
    for round in 0..5 {
        let sends = bodies.iter().enumerate().map(|(i, (body, sig))| {
            impatient
                .post(format!("{}/webhooks", app.url))
                .header("content-type", "application/json")
                .header("x-github-event", "workflow_run")
                .header("x-github-delivery", format!("abandoned-{round}-{i}"))
                .header("x-hub-signature-256", sig)
                .body(body.clone())
                .send()
        });
        let _ = futures::future::join_all(sends).await;
        let body = bytes(&failed_deploy("acme/payments-api", 90_000 + round, 1, 77));
        let res = app
            .deliver("workflow_run", &format!("patient-{round}"), &body)
            .await;
        assert_eq!(
            res.status(),
            202,
            "round {round}: {}",
            res.text().await.unwrap()
        );
    }
    app.stop().await;
}
