//! The fake GitHub is only worth its tests if it answers as GitHub does. These incidents drive it
//! with plain HTTP and with the real octocrab client, check every answer against GitHub's own
//! OpenAPI description, and prove that drift (a missing field, a wrong status) is caught.

#[path = "support/fake_github/mod.rs"]
mod fake_github;
#[path = "support/openapi.rs"]
mod openapi;
#[allow(dead_code)]
#[path = "support/webhooks.rs"]
mod webhooks;

#[path = "fake_github_honesty/auth.rs"]
mod auth;
#[path = "fake_github_honesty/ci.rs"]
mod ci;
#[path = "fake_github_honesty/compare.rs"]
mod compare;
#[path = "fake_github_honesty/drift.rs"]
mod drift;
#[path = "fake_github_honesty/git_data.rs"]
mod git_data;
#[path = "fake_github_honesty/issues_and_checks.rs"]
mod issues_and_checks;
#[path = "fake_github_honesty/logs_and_faults.rs"]
mod logs_and_faults;
#[path = "fake_github_honesty/pulls.rs"]
mod pulls;
#[path = "fake_github_honesty/schema.rs"]
mod schema;
#[path = "fake_github_honesty/served.rs"]
mod served;
#[path = "fake_github_honesty/test_mistakes.rs"]
mod test_mistakes;

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use fake_github::{AuthKind, FakeGitHub, Job, Step, WorkflowRun};
use octocrab::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use octocrab::models::{AppId, InstallationId, JobId, RunId};
use openapi::OpenApi;
use reqwest::StatusCode;
use serde_json::{Value, json};

const INSTALLATION: u64 = 7001;
const REPO: &str = "acme/api";
const SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
const RUN: u64 = 30433642;
const BUILD_JOB: u64 = 399444496;
const DEPLOY_JOB: u64 = 399444497;
const RUN_TEMPLATE: &str = "/repos/{owner}/{repo}/actions/runs/{run_id}";

fn failed_deploy() -> WorkflowRun {
    WorkflowRun::new(RUN, "Deploy")
        .head_sha(SHA)
        .conclusion("failure")
        .job(
            Job::new(BUILD_JOB, "build")
                .step(Step::succeeded("Set up job"))
                .step(
                    Step::succeeded("cargo build")
                        .log("Compiling fixpoint v0.1.0\nFinished release"),
                ),
        )
        .job(
            Job::new(DEPLOY_JOB, "deploy")
                .conclusion("failure")
                .step(Step::succeeded("Set up job"))
                .step(Step::failed("Roll out").log("error: service api-prod failed to stabilize")),
        )
}

/// A fake with the App installed on `acme` (repos `api` and `web`), a failed deploy run and a file.
async fn fake_with_failed_deploy() -> FakeGitHub {
    let fake = FakeGitHub::start().await;
    fake.add_installation_with_repos(INSTALLATION, "acme", &["api", "web"]);
    fake.add_workflow_run(REPO, failed_deploy());
    fake.add_file(
        REPO,
        Some(SHA),
        "deploy/app.yaml",
        "replicas: 3\nimage: api:1.4.2\n",
    );
    fake
}

fn app_jwt(pem: &str, iss: Value, iat_offset: i64, lifetime: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "iss": iss, "iat": now + iat_offset, "exp": now + iat_offset + lifetime });
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("an RSA PEM key");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).expect("a signed JWT")
}

fn good_jwt(fake: &FakeGitHub) -> String {
    app_jwt(fake.private_key_pem(), json!(fake.app_id()), -60, 600)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Option<Value>,
}

async fn call(
    method: &str,
    url: String,
    authorization: Option<String>,
    body: Option<Value>,
) -> Answer {
    let mut request = http().request(method.parse().expect("a method"), url);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the fake answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a body");
    let body = (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).expect("a JSON body"));
    Answer {
        status,
        headers,
        body,
    }
}

async fn mint(fake: &FakeGitHub, body: Value) -> Answer {
    let url = format!(
        "{}/app/installations/{INSTALLATION}/access_tokens",
        fake.url()
    );
    call(
        "POST",
        url,
        Some(format!("Bearer {}", good_jwt(fake))),
        Some(body),
    )
    .await
}

async fn token(fake: &FakeGitHub) -> String {
    let answer = mint(fake, json!({})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    answer.body.expect("a token body")["token"]
        .as_str()
        .expect("a token")
        .to_string()
}

/// Checks an answer in the test itself too, so this does not rest on the fake's own gate.
fn assert_documented(method: &str, template: &str, answer: &Answer) {
    let verdict = OpenApi::load().validate(
        method,
        template,
        answer.status.as_u16(),
        answer.body.as_ref(),
    );
    assert_eq!(verdict, Ok(()), "{method} {template}");
}

/// For `support/webhooks.rs`, which finds GitHub's npm packages from the crate root.
fn manifest_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fake with `acme/api` installed, files on `main`, and a token that may write contents,
/// pull requests, issues, checks and actions.
async fn writable_fake() -> (FakeGitHub, String) {
    let fake = FakeGitHub::start().await;
    fake.add_installation_with_repos(INSTALLATION, "acme", &["api"]);
    fake.set_installation_permissions(
        INSTALLATION,
        &[
            ("actions", "write"),
            ("checks", "write"),
            ("contents", "write"),
            ("issues", "write"),
            ("metadata", "read"),
            ("pull_requests", "write"),
        ],
    );
    fake.add_file(REPO, None, "deploy/task.json", "{\"memory\": 512}\n");
    fake.add_file(REPO, None, "notes/old.txt", "stale\n");
    let token = token(&fake).await;
    (fake, token)
}

/// `method` on `/repos/acme/api{path}` with the token; checked against GitHub's description for
/// `template` (relative to `/repos/{owner}/{repo}`) whatever the status.
async fn repo_call(
    fake: &FakeGitHub,
    token: &str,
    method: &str,
    path: &str,
    template: &str,
    body: Option<Value>,
) -> Answer {
    let url = format!("{}/repos/{REPO}{path}", fake.url());
    let answer = call(method, url, Some(format!("token {token}")), body).await;
    let template = format!("/repos/{{owner}}/{{repo}}{template}");
    let verdict = OpenApi::load().validate(
        method,
        &template,
        answer.status.as_u16(),
        answer.body.as_ref(),
    );
    if answer.status.is_success() {
        assert_eq!(verdict, Ok(()), "{method} {template}");
    }
    answer
}

/// The string at `pointer` in an answer's body.
fn text(answer: &Answer, pointer: &str) -> String {
    answer
        .body
        .as_ref()
        .and_then(|body| body.pointer(pointer))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {:?}", answer.body))
        .to_string()
}
