//! `GET compare/{base}...{head}` over real git: a red deploy is compared with the last good one,
//! and every file that changed since is listed with how it changed, as the "revert since last
//! good" plan needs.

use fixpoint::config::AppCredentials;
use fixpoint::github::GitHubApp;
use fixpoint::github::auth::Permissions;
use fixpoint::ids::{AppId, CommitSha, RepoName};
use secrecy::SecretString;

use super::*;

const TEMPLATE: &str = "/compare/{basehead}";
const LIMITS: &str = "[limits]\nconnections = 200\ntimeout_ms = 1500\n";

/// The last good deploy on `main`, then two pushes that broke it: the task's memory raised and
/// a cache added, then the old notes removed and the limits file renamed.
struct History {
    good: String,
    first: String,
    bad: String,
}

fn deploys_since_last_good(fake: &FakeGitHub) -> History {
    let good = fake.push(REPO, "main", &[("config/limits.toml", Some(LIMITS))]);
    let first = fake.push(
        REPO,
        "main",
        &[
            ("deploy/task.json", Some("{\"memory\": 1024}\n")),
            ("src/cache.rs", Some("pub struct Cache;\n")),
        ],
    );
    let bad = fake.push(
        REPO,
        "main",
        &[
            ("notes/old.txt", None),
            ("config/limits.toml", None),
            ("config/limits.production.toml", Some(LIMITS)),
        ],
    );
    History { good, first, bad }
}

async fn compare(fake: &FakeGitHub, token: &str, basehead: &str) -> Answer {
    let path = format!("/compare/{basehead}");
    repo_call(fake, token, "GET", &path, TEMPLATE, None).await
}

fn files(answer: &Answer) -> Vec<(String, String, Option<String>)> {
    let body = answer.body.as_ref().expect("a comparison");
    body["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| {
            (
                file["filename"].as_str().expect("a filename").to_string(),
                file["status"].as_str().expect("a status").to_string(),
                file["previous_filename"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_red_deploy_lists_each_file_changed_since_the_last_good_one() {
    let (fake, token) = writable_fake().await;
    let history = deploys_since_last_good(&fake);

    let answer = compare(&fake, &token, &format!("{}...main", history.good)).await;

    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let owned = |text: &str| text.to_string();
    assert_eq!(
        files(&answer),
        vec![
            (
                owned("config/limits.production.toml"),
                owned("renamed"),
                Some(owned("config/limits.toml"))
            ),
            (owned("deploy/task.json"), owned("modified"), None),
            (owned("notes/old.txt"), owned("removed"), None),
            (owned("src/cache.rs"), owned("added"), None),
        ]
    );
    let body = answer.body.as_ref().expect("a comparison");
    let task = &body["files"][1];
    assert_eq!(
        (&task["additions"], &task["deletions"], &task["changes"]),
        (&json!(1), &json!(1), &json!(2))
    );
    assert_eq!(body["status"], "ahead");
    assert_eq!(
        (&body["ahead_by"], &body["behind_by"]),
        (&json!(2), &json!(0))
    );
    assert_eq!(body["total_commits"], 2);
    let commits: Vec<&str> = body["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .map(|commit| commit["sha"].as_str().expect("a sha"))
        .collect();
    assert_eq!(commits, vec![history.first.as_str(), history.bad.as_str()]);
    assert_eq!(body["base_commit"]["sha"], history.good.as_str());
    assert_eq!(body["merge_base_commit"]["sha"], history.good.as_str());
    assert_eq!(
        body["commits"][0]["parents"][0]["sha"],
        history.good.as_str()
    );
    fake.assert_honest();
}

#[tokio::test]
async fn a_branch_cut_before_the_bad_push_is_behind_and_one_with_its_own_fix_has_diverged() {
    let (fake, token) = writable_fake().await;
    let history = deploys_since_last_good(&fake);
    fake.push(
        REPO,
        "fixpoint/lower-memory",
        &[("deploy/task.json", Some("{\"memory\": 512}\n"))],
    );
    let later = fake.push(REPO, "main", &[("README.md", Some("# api\n"))]);

    let behind = compare(&fake, &token, &format!("main...{}", history.first)).await;
    let diverged = compare(&fake, &token, "main...acme:fixpoint/lower-memory").await;

    assert_eq!(behind.status, StatusCode::OK, "{:?}", behind.body);
    assert_eq!(diverged.status, StatusCode::OK, "{:?}", diverged.body);
    let behind = behind.body.expect("a comparison");
    assert_eq!(behind["status"], "behind");
    assert_eq!(
        (&behind["ahead_by"], &behind["behind_by"]),
        (&json!(0), &json!(2))
    );
    assert_eq!(behind["files"], json!([]));
    let diverged = diverged.body.expect("a comparison");
    assert_eq!(diverged["status"], "diverged");
    assert_eq!(
        (&diverged["ahead_by"], &diverged["behind_by"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(diverged["base_commit"]["sha"], later.as_str());
    assert_eq!(diverged["merge_base_commit"]["sha"], history.bad.as_str());
    // GitHub diffs against the merge base: main's later README is not the branch's change.
    assert_eq!(diverged["files"][0]["filename"], "deploy/task.json");
    assert_eq!(diverged["files"].as_array().map(Vec::len), Some(1));
    fake.assert_honest();
}

#[tokio::test]
async fn a_fix_the_app_committed_is_listed_as_its_bot_and_verified() {
    let (fake, token) = writable_fake().await;
    let main = fake.branch_sha(REPO, "main").expect("main exists");
    let memory = Some("{\"memory\": 1024}\n");
    let fix = super::git_data::commit(&fake, &token, &main, &[("deploy/task.json", memory)]).await;

    let answer = compare(&fake, &token, &format!("main...{fix}")).await;

    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let body = answer.body.as_ref().expect("a comparison");
    let commit = &body["commits"][0];
    assert_eq!(commit["sha"], fix.as_str());
    assert_eq!(commit["author"]["login"], "fixpoint-test[bot]");
    assert_eq!(commit["author"]["type"], "Bot");
    assert_eq!(commit["commit"]["verification"]["verified"], true);
    let files = &body["files"];
    assert_eq!(files[0]["filename"], "deploy/task.json");
    assert_eq!(files[0]["status"], "modified");
    // The arranged history was written under an address GitHub links to no account.
    let base = &body["base_commit"];
    assert_eq!(base["author"], Value::Null);
    assert_eq!(base["commit"]["verification"]["verified"], false);
    fake.assert_honest();
}

#[tokio::test]
async fn a_base_git_cannot_resolve_or_a_repository_the_app_cannot_see_is_not_found() {
    let (fake, token) = writable_fake().await;
    deploys_since_last_good(&fake);

    let made_up = compare(&fake, &token, &format!("{SHA}...main")).await;
    let no_branch = compare(&fake, &token, "release-2024...main").await;
    let other_fork = compare(&fake, &token, "octocat:main...main").await;
    let no_dots = compare(&fake, &token, "main").await;
    let url = format!("{}/repos/acme/billing/compare/main...main", fake.url());
    let unknown_repo = call("GET", url, Some(format!("token {token}")), None).await;

    for answer in [&made_up, &no_branch, &other_fork, &no_dots, &unknown_repo] {
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{:?}", answer.body);
        assert_documented("GET", "/repos/{owner}/{repo}/compare/{basehead}", answer);
    }
    fake.assert_honest();
}

#[tokio::test]
async fn the_apps_client_reads_the_files_changed_since_the_last_good_deploy() {
    let (fake, _token) = writable_fake().await;
    let history = deploys_since_last_good(&fake);
    let credentials = AppCredentials {
        app_id: AppId(fake.app_id()),
        private_key: SecretString::from(fake.private_key_pem().to_string()),
        webhook_secrets: Vec::new(),
    };
    let app = GitHubApp::new(&credentials, fake.url()).expect("an App client");
    let client = app.repo(
        fixpoint::ids::InstallationId(INSTALLATION),
        RepoName::parse(REPO).expect("a repository name"),
        Permissions::investigate(),
    );

    let changed = client
        .compare(&CommitSha(history.good), &CommitSha(history.bad))
        .await
        .expect("the comparison");

    let listed: Vec<(&str, &str, Option<&str>)> = changed
        .iter()
        .map(|file| {
            let previous = file.previous_filename.as_deref();
            (file.filename.as_str(), file.status.as_str(), previous)
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                "config/limits.production.toml",
                "renamed",
                Some("config/limits.toml")
            ),
            ("deploy/task.json", "modified", None),
            ("notes/old.txt", "removed", None),
            ("src/cache.rs", "added", None),
        ]
    );
    fake.assert_honest();
}
