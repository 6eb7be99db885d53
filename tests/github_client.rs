//! The App talking to GitHub: JWTs, installation tokens narrowed to one repository,
//! and the retry policy under GitHub's failure modes. The real client against the fake.

mod support;

use std::time::{Duration, Instant};

use fixpoint::github::GitHubApp;
use fixpoint::github::auth::Permissions;
use fixpoint::ids::{InstallationId, RepoName, RunId};
use octocrab::jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use secrecy::ExposeSecret;
use support::fake_github::{FakeGitHub, Job, Step, WorkflowRun};

const INSTALLATION: u64 = 77;

async fn setup() -> (FakeGitHub, GitHubApp) {
    let fake = FakeGitHub::start().await;
    fake.add_installation(INSTALLATION, "acme");
    let dir = tempfile::tempdir().unwrap();
    let config = support::config_for(&fake, dir.path());
    let app = GitHubApp::with_policy(
        config.app.as_ref().unwrap(),
        fake.url(),
        support::fast_policy(),
    )
    .unwrap();
    (fake, app)
}

fn client(app: &GitHubApp, repo: &str) -> fixpoint::github::RepoClient {
    app.repo(
        InstallationId(INSTALLATION),
        RepoName::parse(repo).unwrap(),
        Permissions::investigate(),
    )
}

#[tokio::test]
async fn the_app_jwt_is_rs256_issued_a_minute_back_and_short_lived() {
    let (fake, app) = setup().await;
    let now = 1_760_000_000;
    let jwt = app.app_jwt_at(now).unwrap();
    let key = DecodingKey::from_rsa_pem(fake.public_key_pem().as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = decode::<serde_json::Value>(jwt.expose_secret(), &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["iat"], now - 60);
    assert!(claims["exp"].as_i64().unwrap() <= now + 600);
    assert!(claims["exp"].as_i64().unwrap() > now);
    assert_eq!(claims["iss"], fake.app_id().to_string());
    fake.assert_honest();
}

#[tokio::test]
async fn tokens_are_narrowed_to_one_repository_and_cached() {
    let (fake, app) = setup().await;
    fake.add_file("acme/payments-api", None, "README.md", "hello");
    let c = client(&app, "acme/payments-api");
    assert_eq!(
        c.read_file("README.md", "main").await.unwrap().as_deref(),
        Some("hello")
    );
    assert_eq!(
        c.read_file("README.md", "main").await.unwrap().as_deref(),
        Some("hello")
    );
    assert_eq!(c.read_file("missing.txt", "main").await.unwrap(), None);
    let mints = fake.token_mints();
    assert_eq!(
        mints.len(),
        1,
        "one token serves every call while it is fresh"
    );
    assert_eq!(
        mints[0].repositories.as_deref(),
        Some(&["payments-api".to_string()][..])
    );
    let perms: Vec<(String, String)> = mints[0].permissions.clone().into_iter().collect();
    assert_eq!(
        perms,
        [
            ("actions", "read"),
            ("contents", "read"),
            ("metadata", "read")
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    // The JWT that minted it obeyed GitHub's clock rules.
    let jwt = fake.jwts().pop().unwrap();
    assert!(jwt.rejection.is_none(), "{:?}", jwt.rejection);
    fake.assert_honest();
}

#[tokio::test]
async fn a_token_close_to_expiry_is_minted_again() {
    let (fake, app) = setup().await;
    fake.add_file("acme/payments-api", None, "a.txt", "a");
    fake.set_token_lifetime(Duration::from_secs(4 * 60));
    let c = client(&app, "acme/payments-api");
    c.read_file("a.txt", "main").await.unwrap();
    c.read_file("a.txt", "main").await.unwrap();
    assert_eq!(
        fake.token_mints().len(),
        2,
        "a token with under 5 minutes left is refreshed"
    );
    fake.assert_honest();
}

#[tokio::test]
async fn a_revoked_token_is_minted_again_once_after_the_401() {
    let (fake, app) = setup().await;
    fake.add_file("acme/payments-api", None, "a.txt", "a");
    let c = client(&app, "acme/payments-api");
    c.read_file("a.txt", "main").await.unwrap();
    fake.revoke_token(&fake.token_mints()[0].token);
    assert_eq!(
        c.read_file("a.txt", "main").await.unwrap().as_deref(),
        Some("a")
    );
    assert_eq!(fake.token_mints().len(), 2);
    let statuses: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/contents/"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 401, 200]);
    fake.assert_honest();
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let (fake, app) = setup().await;
    fake.add_file("acme/payments-api", None, "a.txt", "a");
    fake.fail_next(
        "GET",
        "/repos/acme/payments-api/contents",
        1,
        429,
        &[("retry-after", "1")],
    );
    let c = client(&app, "acme/payments-api");
    let started = Instant::now();
    assert_eq!(
        c.read_file("a.txt", "main").await.unwrap().as_deref(),
        Some("a")
    );
    let contents: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/contents/"))
        .collect();
    assert_eq!(contents.len(), 2);
    let gap = contents[1].at - contents[0].at;
    assert!(
        gap >= Duration::from_secs(1),
        "retried after {gap:?}, before retry-after: 1"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    fake.assert_honest();
}

#[tokio::test]
async fn a_secondary_rate_limit_403_waits_for_the_reset_time() {
    let (fake, app) = setup().await;
    fake.add_file("acme/payments-api", None, "a.txt", "a");
    let reset = (chrono::Utc::now().timestamp() + 2).to_string();
    fake.fail_next(
        "GET",
        "/repos/acme/payments-api/contents",
        1,
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ],
    );
    let c = client(&app, "acme/payments-api");
    assert_eq!(
        c.read_file("a.txt", "main").await.unwrap().as_deref(),
        Some("a")
    );
    let contents: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/contents/"))
        .collect();
    assert!(contents[1].at - contents[0].at >= Duration::from_secs(1));
    fake.assert_honest();
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_fail_visibly() {
    let (fake, app) = setup().await;
    fake.add_workflow_run(
        "acme/payments-api",
        WorkflowRun::new(900, "Deploy").conclusion("failure").job(
            Job::new(1, "deploy")
                .conclusion("failure")
                .step(Step::failed("Wait for ECS")),
        ),
    );
    let c = client(&app, "acme/payments-api");
    fake.fail_next(
        "GET",
        "/repos/acme/payments-api/actions/runs/900",
        2,
        502,
        &[],
    );
    let jobs = c.list_run_jobs(RunId(900), 1).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0]
            .steps
            .iter()
            .find(|s| s.conclusion == Some(fixpoint::domain::Conclusion::Failure))
            .unwrap()
            .name,
        "Wait for ECS"
    );

    // Past the cap the failure is an error that names the operation and the count.
    fake.fail_next(
        "GET",
        "/repos/acme/payments-api/actions/runs/900",
        10,
        503,
        &[],
    );
    let err = c
        .list_run_jobs(RunId(900), 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("list the run's jobs") && err.contains("gave up after 4 attempts"),
        "{err}"
    );
    // A plain 404 is final: no retry.
    let before = fake.requests().len();
    let err = c
        .list_run_jobs(RunId(404404), 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("404"), "{err}");
    assert_eq!(fake.requests().len() - before, 1);
    fake.assert_honest();
}

#[tokio::test]
async fn secrets_never_show_in_debug_output_or_errors() {
    let (fake, app) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let config = support::config_for(&fake, dir.path());
    let shown = format!("{config:?} {app:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(!shown.contains(support::SECRET), "{shown}");
    fake.add_file("acme/payments-api", None, "a.txt", "a");
    let c = client(&app, "acme/payments-api");
    c.read_file("a.txt", "main").await.unwrap();
    let token = fake.token_mints()[0].token.clone();
    fake.fail_next("GET", "/repos/acme/payments-api/contents", 1, 422, &[]);
    let err = c.read_file("a.txt", "main").await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains(&token));
    fake.assert_honest();
}
