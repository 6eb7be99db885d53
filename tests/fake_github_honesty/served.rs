//! Every endpoint the fake serves, through plain HTTP and through octocrab.

use super::*;

#[tokio::test]
async fn every_endpoint_answers_in_githubs_documented_shape_over_plain_http() {
    let fake = fake_with_failed_deploy().await;
    fake.add_manifest_code("a180b1a3d263c81bc6441d7b990bae27d4c10679");
    let base = fake.url().to_string();

    let app = call(
        "GET",
        format!("{base}/app"),
        Some(format!("Bearer {}", good_jwt(&fake))),
        None,
    )
    .await;
    assert_eq!(app.status, StatusCode::OK);
    assert_documented("get", "/app", &app);
    assert_eq!(app.body.as_ref().unwrap()["id"], json!(fake.app_id()));

    let minted = mint(
        &fake,
        json!({ "repositories": ["api"], "permissions": { "actions": "read" } }),
    )
    .await;
    assert_documented(
        "post",
        "/app/installations/{installation_id}/access_tokens",
        &minted,
    );
    let minted = minted.body.unwrap();
    let token = minted["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ghs_") && token.len() == 40, "{token}");
    assert!(token[4..].chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(minted["repository_selection"], "selected");
    let auth = Some(format!("token {token}"));

    let file = call(
        "GET",
        format!("{base}/repos/{REPO}/contents/deploy/app.yaml?ref={SHA}"),
        auth.clone(),
        None,
    )
    .await;
    assert_documented("get", "/repos/{owner}/{repo}/contents/{path}", &file);
    let file = file.body.unwrap();
    let content = file["content"].as_str().unwrap();
    assert!(content.lines().all(|line| line.len() <= 60) && content.ends_with('\n'));
    let decoded = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        content.replace('\n', ""),
    );
    assert_eq!(decoded.unwrap(), b"replicas: 3\nimage: api:1.4.2\n");

    let run = call(
        "GET",
        format!("{base}/repos/{REPO}/actions/runs/{RUN}"),
        auth.clone(),
        None,
    )
    .await;
    assert_documented("get", RUN_TEMPLATE, &run);
    assert_eq!(run.body.unwrap()["conclusion"], "failure");

    for (path, template) in [
        ("jobs", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs"),
        (
            "attempts/1/jobs",
            "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs",
        ),
    ] {
        let jobs = call(
            "GET",
            format!("{base}/repos/{REPO}/actions/runs/{RUN}/{path}"),
            auth.clone(),
            None,
        )
        .await;
        assert_documented("get", template, &jobs);
        let jobs = jobs.body.unwrap();
        assert_eq!(jobs["total_count"], 2);
        assert_eq!(jobs["jobs"][1]["steps"][1]["conclusion"], "failure");
    }

    for (path, template) in [
        (
            format!("jobs/{DEPLOY_JOB}/logs"),
            "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs",
        ),
        (
            format!("runs/{RUN}/logs"),
            "/repos/{owner}/{repo}/actions/runs/{run_id}/logs",
        ),
    ] {
        let logs = call(
            "GET",
            format!("{base}/repos/{REPO}/actions/{path}"),
            auth.clone(),
            None,
        )
        .await;
        assert_eq!(logs.status, StatusCode::FOUND);
        assert_documented("get", template, &logs);
        let location = logs.headers["location"].to_str().unwrap();
        assert!(
            location.starts_with(&format!("{base}/_downloads/")),
            "{location}"
        );
    }

    let code = "a180b1a3d263c81bc6441d7b990bae27d4c10679";
    let app = call(
        "POST",
        format!("{base}/app-manifests/{code}/conversions"),
        None,
        None,
    )
    .await;
    assert_eq!(app.status, StatusCode::CREATED);
    assert_documented("post", "/app-manifests/{code}/conversions", &app);

    let missing = call(
        "GET",
        format!("{base}/repos/{REPO}/contents/nope.txt?ref={SHA}"),
        auth.clone(),
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_documented("get", "/repos/{owner}/{repo}/contents/{path}", &missing);
    fake.assert_honest();
}

#[tokio::test]
async fn octocrab_authenticates_as_the_app_and_reads_runs_jobs_logs_and_files() {
    let fake = fake_with_failed_deploy().await;
    fake.add_manifest_code("manifest-code-1");
    let key = EncodingKey::from_rsa_pem(fake.private_key_pem().as_bytes()).unwrap();
    let app = octocrab::Octocrab::builder()
        .base_uri(fake.url())
        .unwrap()
        .app(AppId(fake.app_id()), key)
        .build()
        .unwrap();

    let me = app.apps().get().await.expect("GET /app as the App");
    assert_eq!(me.id, AppId(fake.app_id()));
    let body = octocrab::models::apps::CreateInstallationAccessToken {
        repositories: Some(vec!["api".into()]),
        ..Default::default()
    };
    let minted = app
        .apps()
        .create_installation_access_token(InstallationId(INSTALLATION), &body)
        .await;
    assert!(minted.expect("a token").token.starts_with("ghs_"));

    let installation = app.installation(InstallationId(INSTALLATION)).unwrap();
    let workflows = installation.workflows("acme", "api");
    let run = workflows.get(RunId(RUN)).await.expect("the run");
    assert_eq!(
        (run.conclusion.as_deref(), run.head_sha.as_str()),
        (Some("failure"), SHA)
    );
    let jobs = workflows
        .list_jobs(RunId(RUN))
        .send()
        .await
        .expect("the jobs");
    let names: Vec<&str> = jobs.items.iter().map(|job| job.name.as_str()).collect();
    assert_eq!(names, ["build", "deploy"]);
    let log = workflows
        .download_job_logs(JobId(DEPLOY_JOB))
        .await
        .expect("the job log");
    assert!(String::from_utf8_lossy(&log).contains("failed to stabilize"));
    let content = installation
        .repos("acme", "api")
        .get_content()
        .path("deploy/app.yaml")
        .r#ref(SHA)
        .send()
        .await;
    let content = content.expect("the file").items.remove(0);
    assert_eq!(
        content.decoded_content().as_deref(),
        Some("replicas: 3\nimage: api:1.4.2\n")
    );

    let anonymous = octocrab::Octocrab::builder()
        .base_uri(fake.url())
        .unwrap()
        .build()
        .unwrap();
    let converted = anonymous
        .apps()
        .create_from_manifest("manifest-code-1")
        .await
        .expect("a conversion");
    assert_eq!(converted.id, AppId(fake.app_id()));
    assert_eq!(fake.manifest_conversions().len(), 1);

    let jwts = fake.jwts();
    assert!(jwts.len() >= 2, "{jwts:?}");
    for jwt in &jwts {
        assert_eq!(jwt.rejection, None);
        assert!(jwt.exp().unwrap() - jwt.iat().unwrap() <= 600, "{jwt:?}");
    }
    let mints = fake.token_mints();
    assert_eq!(mints[0].repositories, Some(vec!["api".to_string()]));
    assert!(
        mints
            .iter()
            .all(|mint| mint.installation_id == INSTALLATION)
    );
    let repo_calls: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/repos/"))
        .collect();
    assert!(
        repo_calls
            .iter()
            .all(|r| matches!(r.auth, AuthKind::InstallationToken(_))),
        "{repo_calls:?}"
    );
    fake.assert_honest();
}

#[tokio::test]
async fn jobs_follow_the_latest_attempt_unless_asked_for_all() {
    let fake = FakeGitHub::start().await;
    fake.add_installation(INSTALLATION, "acme");
    let run = WorkflowRun::new(9, "Deploy")
        .attempt(2)
        .job(Job::new(1, "deploy").attempt(1).conclusion("failure"))
        .job(Job::new(2, "deploy"));
    fake.add_workflow_run(REPO, run);
    let auth = Some(format!("token {}", token(&fake).await));
    let jobs = |path: &str| {
        call(
            "GET",
            format!("{}/repos/{REPO}/actions/runs/9/{path}", fake.url()),
            auth.clone(),
            None,
        )
    };
    let ids = |answer: Answer| -> Vec<u64> {
        answer.body.unwrap()["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(jobs("jobs").await), [2]);
    assert_eq!(ids(jobs("jobs?filter=all").await), [1, 2]);
    assert_eq!(ids(jobs("attempts/1/jobs").await), [1]);
    assert_eq!(jobs("attempts/3/jobs").await.status, StatusCode::NOT_FOUND);
    let run = call(
        "GET",
        format!("{}/repos/{REPO}/actions/runs/9", fake.url()),
        auth.clone(),
        None,
    )
    .await;
    assert!(
        run.body.unwrap()["previous_attempt_url"]
            .as_str()
            .unwrap()
            .ends_with("/attempts/1")
    );
    fake.assert_honest();
}

#[tokio::test]
async fn a_manifest_code_converts_once_into_the_apps_credentials() {
    let fake = FakeGitHub::start().await;
    fake.add_manifest_code("code-1");
    let url = |code: &str| format!("{}/app-manifests/{code}/conversions", fake.url());
    let first = call("POST", url("code-1"), None, None).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let app = first.body.unwrap();
    assert_eq!(app["pem"], fake.private_key_pem());
    assert_eq!(app["id"], json!(fake.app_id()));
    assert_eq!(
        app["webhook_secret"],
        fake.manifest_conversions()[0].webhook_secret.as_str()
    );
    assert_eq!(
        call("POST", url("code-1"), None, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call("POST", url("never-issued"), None, None).await.status,
        StatusCode::NOT_FOUND
    );
    fake.assert_honest();
}
