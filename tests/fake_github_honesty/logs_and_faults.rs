//! Job and run logs behind their redirects, and injected faults for the retry policy.

use super::*;

#[tokio::test]
async fn the_job_log_redirect_is_followed_to_timestamped_text() {
    let fake = fake_with_failed_deploy().await;
    let token = token(&fake).await;
    let url = format!("{}/repos/{REPO}/actions/jobs/{DEPLOY_JOB}/logs", fake.url());
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.url().path().starts_with("/_downloads/"),
        "{}",
        response.url()
    );
    let text = response.text().await.unwrap();
    let failure = text
        .lines()
        .find(|line| line.contains("failed to stabilize"))
        .expect("the step's line");
    assert!(
        failure.split(' ').next().unwrap().ends_with("0000000Z"),
        "{failure}"
    );
    assert!(text.contains("##[group]Run Roll out"), "{text}");
    assert!(
        text.contains("##[error]Process completed with exit code 1."),
        "{text}"
    );
    fake.assert_honest();
}

#[tokio::test]
async fn the_run_log_archive_holds_a_file_per_job_and_per_step() {
    let fake = fake_with_failed_deploy().await;
    let token = token(&fake).await;
    let url = format!("{}/repos/{REPO}/actions/runs/{RUN}/logs", fake.url());
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/zip");
    let bytes = response.bytes().await.unwrap();
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a zip archive");
    let mut names: Vec<String> = archive.file_names().map(str::to_string).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "0_build.txt",
            "1_deploy.txt",
            "build/1_Set up job.txt",
            "build/2_cargo build.txt",
            "deploy/1_Set up job.txt",
            "deploy/2_Roll out.txt"
        ]
    );
    let mut step = String::new();
    archive
        .by_name("deploy/2_Roll out.txt")
        .unwrap()
        .read_to_string(&mut step)
        .unwrap();
    assert!(
        step.contains("failed to stabilize") && !step.contains("Compiling"),
        "{step}"
    );
    fake.assert_honest();
}

#[tokio::test]
async fn injected_faults_answer_first_and_every_request_is_logged() {
    let fake = FakeGitHub::start().await;
    let jwt = Some(format!("Bearer {}", good_jwt(&fake)));
    let app = format!("{}/app", fake.url());
    fake.fail_next("GET", "/app", 3, 502, &[]);
    for _ in 0..3 {
        assert_eq!(
            call("GET", app.clone(), jwt.clone(), None).await.status,
            StatusCode::BAD_GATEWAY
        );
    }
    assert_eq!(
        call("GET", app.clone(), jwt.clone(), None).await.status,
        StatusCode::OK
    );

    fake.fail_next("*", "/app", 1, 429, &[("retry-after", "1")]);
    let limited = call("GET", app.clone(), jwt.clone(), None).await;
    assert_eq!(
        (limited.status, &limited.headers["retry-after"]),
        (StatusCode::TOO_MANY_REQUESTS, &"1".parse().unwrap())
    );
    assert!(
        limited.body.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("secondary rate limit")
    );

    let reset = (chrono::Utc::now().timestamp() + 60).to_string();
    fake.fail_next(
        "GET",
        "/app",
        1,
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ],
    );
    let exhausted = call("GET", app.clone(), jwt.clone(), None).await;
    assert_eq!(exhausted.status, StatusCode::FORBIDDEN);
    assert_eq!(
        exhausted.headers["x-ratelimit-reset"].to_str().unwrap(),
        reset
    );

    let log = fake.requests();
    let shape: Vec<(u16, bool)> = log.iter().map(|r| (r.status, r.injected_fault)).collect();
    assert_eq!(
        shape,
        [
            (502, true),
            (502, true),
            (502, true),
            (200, false),
            (429, true),
            (403, true)
        ]
    );
    assert!(
        log.iter()
            .all(|r| r.method == "GET" && r.path == "/app" && r.auth == AuthKind::Jwt)
    );
    assert!(log.windows(2).all(|pair| pair[0].at <= pair[1].at));
    // Faults answer before authentication: only the one request that got through showed its JWT.
    assert_eq!(fake.jwts().len(), 1);
    fake.assert_honest();
}
