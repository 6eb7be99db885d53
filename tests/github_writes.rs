//! What Fixpoint writes to a repository, through the real client against the fake GitHub (real
//! git behind it, every answer checked against GitHub's OpenAPI description). The rules below
//! the planner are tested here by calling the verbs directly, as a confused planner or model
//! would: only `fixpoint/` branches, fast-forward only, nothing under `.github/workflows/`, no
//! secret in anything written, and a refused write never leaves the process.

mod support;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use fixpoint::domain::{CommitSha, Conclusion, InstallationId, RepoName};
use fixpoint::github::actions::RunFilter;
use fixpoint::github::auth::Permissions;
use fixpoint::github::checks::{CheckConclusion, CheckOutput, CheckStatus};
use fixpoint::github::git::FileChange;
use fixpoint::github::issues::Reaction;
use fixpoint::github::pulls::{NewPullRequest, PrState, PrUpdate};
use fixpoint::github::{FixpointBranch, GitHubApp, GitHubError, RepoClient};
use support::fake_github::{FakeGitHub, WorkflowRun};

const REPO: &str = "acme/payments-api";
const INSTALLATION: u64 = 7001;
const TASK_DEF: &str = r#"{"family": "payments-api", "memory": "512"}"#;
const GITHUB_TOKEN: &str = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";

struct Repo {
    fake: FakeGitHub,
    client: RepoClient,
    main: CommitSha,
    _dir: tempfile::TempDir,
}

async fn repo() -> Repo {
    let fake = FakeGitHub::start().await;
    fake.add_installation_with_repos(INSTALLATION, "acme", &["payments-api"]);
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
    fake.add_file(REPO, None, "task-definition.json", TASK_DEF);
    fake.add_file(
        REPO,
        None,
        ".github/workflows/deploy.yml",
        "on: [push, workflow_dispatch]\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let creds = support::config_for(&fake, dir.path()).app.unwrap();
    let app = GitHubApp::with_policy(&creds, fake.url(), support::fast_policy()).unwrap();
    let client = app.repo(
        InstallationId(INSTALLATION),
        RepoName::parse(REPO).unwrap(),
        Permissions::new(&[
            ("actions", "write"),
            ("checks", "write"),
            ("contents", "write"),
            ("issues", "write"),
            ("metadata", "read"),
            ("pull_requests", "write"),
        ]),
    );
    let main = CommitSha(fake.branch_sha(REPO, "main").expect("main exists"));
    Repo {
        fake,
        client,
        main,
        _dir: dir,
    }
}

impl Repo {
    /// `fixpoint/payments-api-<run>` from main, with the memory fix committed on it.
    async fn branch_with_fix(&self, run: u64) -> FixpointBranch {
        let b = FixpointBranch::for_run("payments-api", run).unwrap();
        self.client.create_branch(&b, &self.main).await.unwrap();
        self.client
            .commit_files(&b, &self.main, "Raise memory", &raise_memory())
            .await
            .unwrap();
        b
    }
}

fn branch() -> FixpointBranch {
    FixpointBranch::for_run("payments-api", 9001).unwrap()
}

fn raise_memory() -> Vec<FileChange> {
    vec![FileChange {
        path: "task-definition.json".into(),
        content: Some(r#"{"family": "payments-api", "memory": "1024"}"#.into()),
    }]
}

#[tokio::test]
async fn a_fix_is_one_commit_on_its_own_branch_and_the_branch_only_moves_forward() {
    let r = repo().await;
    let b = branch();
    assert_eq!(r.client.create_branch(&b, &r.main).await.unwrap(), r.main);
    // Run again after a crash: the branch is found, not made twice.
    assert_eq!(r.client.create_branch(&b, &r.main).await.unwrap(), r.main);

    let message = format!(
        "Raise payments-api memory to 1024 MiB\n\nleaked {GITHUB_TOKEN}\n\nFixpoint-Loop: 12\nFixpoint-Iteration: 1"
    );
    let fix = r
        .client
        .commit_files(&b, &r.main, &message, &raise_memory())
        .await
        .unwrap();
    assert_eq!(r.fake.branch_sha(REPO, b.as_str()), Some(fix.0.clone()));
    assert_eq!(
        r.fake.branch_sha(REPO, "main"),
        Some(r.main.0.clone()),
        "main untouched"
    );
    let content = r
        .fake
        .file_at(REPO, &fix.0, "task-definition.json")
        .unwrap();
    assert!(String::from_utf8(content).unwrap().contains("1024"));
    let commit = r.client.get_commit(&fix).await.unwrap();
    assert_eq!(commit.parents[0].sha, r.main);
    assert!(commit.message.contains("Fixpoint-Iteration: 1"));
    assert!(!commit.message.contains(GITHUB_TOKEN), "{}", commit.message);
    // Unchanged files carried over from the base tree.
    assert!(
        r.fake
            .file_at(REPO, &fix.0, ".github/workflows/deploy.yml")
            .is_some()
    );
    assert_eq!(
        r.client.branch_head(b.as_str()).await.unwrap(),
        Some(fix.clone())
    );

    // Moving the branch back would drop the fix: GitHub refuses a non-fast-forward.
    let back = r.client.update_branch(&b, &r.main).await.unwrap_err();
    assert_eq!(back.status().map(|s| s.as_u16()), Some(422), "{back}");
    assert_eq!(r.fake.branch_sha(REPO, b.as_str()), Some(fix.0));
}

#[tokio::test]
async fn a_file_is_deleted_by_a_change_without_content() {
    let r = repo().await;
    let b = branch();
    r.client.create_branch(&b, &r.main).await.unwrap();
    let gone = r
        .client
        .commit_files(
            &b,
            &r.main,
            "Drop the task definition",
            &[FileChange {
                path: "task-definition.json".into(),
                content: None,
            }],
        )
        .await
        .unwrap();
    assert!(
        r.fake
            .file_at(REPO, &gone.0, "task-definition.json")
            .is_none()
    );
}

#[tokio::test]
async fn refused_writes_never_reach_github() {
    let r = repo().await;
    let b = branch();
    r.client.create_branch(&b, &r.main).await.unwrap();
    let before = r.fake.requests().len();
    for (path, content) in [
        (
            ".github/workflows/deploy.yml",
            "on: push\njobs: {}\n".to_string(),
        ),
        ("./.github/workflows/new.yml", "on: push\n".to_string()),
        ("../outside.txt", "x".to_string()),
        ("config/app.env", format!("GITHUB_TOKEN={GITHUB_TOKEN}\n")),
    ] {
        let change = FileChange {
            path: path.into(),
            content: Some(content),
        };
        let refused = r
            .client
            .commit_files(&b, &r.main, "A change Fixpoint must not make", &[change])
            .await
            .unwrap_err();
        assert!(
            matches!(refused, GitHubError::Refused { .. }),
            "{path}: {refused}"
        );
        assert!(refused.is_permanent());
    }
    assert_eq!(r.fake.requests().len(), before, "nothing was sent");
    // The default branch cannot even be named to a writing verb.
    for name in ["main", "refs/heads/main", "fixpoint/../main"] {
        assert!(FixpointBranch::new(name).is_err(), "{name}");
    }
}

#[tokio::test]
async fn a_pull_request_is_found_again_by_its_head_and_drafts_fall_back_where_refused() {
    let r = repo().await;
    let b = r.branch_with_fix(9001).await;
    assert!(r.client.find_pr_by_head(&b).await.unwrap().is_none());
    let body = format!("Fixpoint raised memory.\n\nA log line said {GITHUB_TOKEN}.");
    let pr = NewPullRequest {
        head: &b,
        base: "main",
        title: "fixpoint: payments-api OOMKilled at 512 MiB",
        body: &body,
    };
    let opened = r.client.open_draft_pr(&pr).await.unwrap();
    assert_eq!(opened.draft, Some(true));
    assert_eq!(opened.head.branch, b.as_str());
    assert!(
        !opened
            .body
            .clone()
            .unwrap_or_default()
            .contains(GITHUB_TOKEN)
    );
    let found = r.client.find_pr_by_head(&b).await.unwrap().expect("found");
    assert_eq!(found.number, opened.number);

    r.client.mark_ready_for_review(&opened).await.unwrap();
    assert_eq!(
        r.client.get_pr(opened.number).await.unwrap().draft,
        Some(false)
    );
    let closed = r
        .client
        .update_pr(
            opened.number,
            PrUpdate {
                body: Some(format!("Superseded. {GITHUB_TOKEN}")),
                state: Some(PrState::Closed),
                ..PrUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(closed.state, PrState::Closed);
    assert!(!closed.body.unwrap_or_default().contains(GITHUB_TOKEN));

    // A private repository on GitHub Free refuses drafts: 422, and a ready PR opens.
    let other = r.branch_with_fix(9002).await;
    r.fake.refuse_draft_pull_requests(REPO);
    let pr = NewPullRequest { head: &other, ..pr };
    let refused = r.client.open_draft_pr(&pr).await.unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(422));
    assert_eq!(r.client.open_pr(&pr).await.unwrap().draft, Some(false));
}

#[tokio::test]
async fn comments_are_redacted_and_cut_to_what_github_takes() {
    let r = repo().await;
    let b = r.branch_with_fix(9001).await;
    let pr = r
        .client
        .open_pr(&NewPullRequest {
            head: &b,
            base: "main",
            title: "fixpoint: payments-api",
            body: "history",
        })
        .await
        .unwrap();
    let long = format!("token {GITHUB_TOKEN}\n{}", "log line\n".repeat(9_000));
    let posted = r.client.post_comment(pr.number, &long).await.unwrap();
    let seen = r.fake.expect_comment(REPO, pr.number);
    assert_eq!(seen.id, posted.id);
    assert!(!seen.body.contains(GITHUB_TOKEN));
    assert!(seen.body.chars().count() <= 65_536, "{}", seen.body.len());
    assert!(seen.body.ends_with("too long for GitHub)"));

    r.client
        .update_comment(posted.id, "Iteration 1: still OOMKilled")
        .await
        .unwrap();
    r.client
        .react_to_comment(posted.id, Reaction::Eyes)
        .await
        .unwrap();
    let listed = r.client.list_comments(pr.number).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].body.as_deref(),
        Some("Iteration 1: still OOMKilled")
    );
    let after = r.fake.comments(REPO);
    assert_eq!(after[0].reactions, vec!["eyes".to_string()]);
    r.client.add_labels(pr.number, &["fixpoint"]).await.unwrap();
}

#[tokio::test]
async fn a_check_run_follows_the_fix_and_its_text_is_redacted() {
    let r = repo().await;
    let output = CheckOutput {
        title: "Verifying in staging".into(),
        summary: format!("waiting for the rollout; {GITHUB_TOKEN}"),
        text: None,
    };
    let run = r
        .client
        .create_check_run("fixpoint", &r.main, CheckStatus::InProgress, Some(&output))
        .await
        .unwrap();
    assert_eq!(run.status, CheckStatus::InProgress);
    let done = r
        .client
        .update_check_run(
            run.id,
            CheckStatus::Completed,
            Some(CheckConclusion::Success),
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.conclusion, Some(CheckConclusion::Success));
    let seen = &r.fake.check_runs(REPO)[0];
    assert_eq!(seen.head_sha, r.main.0);
    assert!(
        !seen
            .summary
            .clone()
            .unwrap_or_default()
            .contains(GITHUB_TOKEN)
    );
    assert_eq!(seen.conclusion.as_deref(), Some("success"));
}

#[tokio::test]
async fn the_last_good_deploy_and_a_dispatch_on_a_fixpoint_branch() {
    let r = repo().await;
    let good = "1111111111111111111111111111111111111111";
    r.fake.add_workflow_run(
        REPO,
        WorkflowRun::new(501, "Deploy to staging")
            .head_sha(good)
            .conclusion("success"),
    );
    r.fake.add_workflow_run(
        REPO,
        WorkflowRun::new(502, "Deploy to staging")
            .head_sha("2222222222222222222222222222222222222222")
            .conclusion("failure"),
    );
    let last = r
        .client
        .last_successful_run("deploy-to-staging.yml", "main")
        .await
        .unwrap()
        .expect("a good run");
    assert_eq!(last.head_sha.0, good);
    assert_eq!(last.conclusion, Some(Conclusion::Success));
    let failed = r
        .client
        .list_workflow_runs(&RunFilter {
            status: Some("failure"),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].conclusion.unwrap().is_failure());

    let b = branch();
    r.client.create_branch(&b, &r.main).await.unwrap();
    r.client.dispatch_workflow("deploy.yml", &b).await.unwrap();
    let dispatched = r.fake.dispatches(REPO);
    assert_eq!(dispatched.len(), 1);
    assert_eq!(dispatched[0].git_ref, b.as_str());
}

#[tokio::test]
async fn who_may_command_fixpoint_is_read_from_the_collaborator_permission() {
    let r = repo().await;
    r.fake
        .set_collaborator_permission(REPO, "octocat", "write", "maintain");
    r.fake
        .set_collaborator_permission(REPO, "visitor", "read", "triage");
    assert_eq!(
        r.client.collaborator_permission("octocat").await.unwrap(),
        "write"
    );
    assert_eq!(
        r.client.collaborator_permission("visitor").await.unwrap(),
        "read"
    );
    let stranger = r
        .client
        .collaborator_permission("stranger")
        .await
        .unwrap_err();
    assert_eq!(stranger.status().map(|s| s.as_u16()), Some(404));
}

/// A GitHub Enterprise Server's layout in front of the fake: REST under `/api/v3`, GraphQL at
/// `/api/graphql`, anything else 404, as GHES serves them. Records each request it was sent.
async fn enterprise_server_front(fake: &FakeGitHub) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (upstream, record) = (fake.url().to_string(), seen.clone());
    let forward = move |request: Request| {
        let (upstream, record) = (upstream.clone(), record.clone());
        async move {
            let (parts, body) = request.into_parts();
            let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            record
                .lock()
                .unwrap()
                .push(format!("{} {}", parts.method, parts.uri.path()));
            let target = if parts.uri.path() == "/api/v3/graphql" {
                // Not an Enterprise Server's GraphQL endpoint: it has none under /api/v3.
                return (StatusCode::NOT_FOUND, HeaderMap::new(), Bytes::new());
            } else if let Some(rest) = path_and_query.strip_prefix("/api/v3/") {
                format!("{upstream}/{rest}")
            } else if parts.uri.path() == "/api/graphql" {
                format!("{upstream}/graphql")
            } else {
                return (StatusCode::NOT_FOUND, HeaderMap::new(), Bytes::new());
            };
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let mut headers = parts.headers.clone();
            headers.remove(axum::http::header::HOST);
            let answer = reqwest::Client::new()
                .request(parts.method, target)
                .headers(headers)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = answer.status();
            let mut headers = answer.headers().clone();
            headers.remove(axum::http::header::TRANSFER_ENCODING);
            headers.remove(axum::http::header::CONTENT_LENGTH);
            (status, headers, answer.bytes().await.unwrap())
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn on_an_enterprise_server_rest_goes_under_api_v3_and_graphql_to_api_graphql() {
    let r = repo().await;
    let b = r.branch_with_fix(9002).await;
    let (front, seen) = enterprise_server_front(&r.fake).await;
    let dir = tempfile::tempdir().unwrap();
    let creds = support::config_for(&r.fake, dir.path()).app.unwrap();
    let api = format!("{front}/api/v3");
    let app = GitHubApp::with_policy(&creds, &api, support::fast_policy()).unwrap();
    let client = app.repo(
        InstallationId(INSTALLATION),
        RepoName::parse(REPO).unwrap(),
        Permissions::new(&[("metadata", "read"), ("pull_requests", "write")]),
    );
    let pr = NewPullRequest {
        head: &b,
        base: "main",
        title: "fixpoint: payments-api OOMKilled at 512 MiB",
        body: "Fixpoint raised memory.",
    };
    let opened = client.open_draft_pr(&pr).await.unwrap();
    client.mark_ready_for_review(&opened).await.unwrap();

    assert_eq!(
        client.get_pr(opened.number).await.unwrap().draft,
        Some(false)
    );
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains(&"POST /api/graphql".to_string()), "{seen:?}");
    assert!(
        seen.iter()
            .all(|r| r.contains(" /api/v3/") || r.ends_with(" /api/graphql")),
        "every call under the server's REST or GraphQL root: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|r| r.starts_with("POST /api/v3/app/installations/")),
        "{seen:?}"
    );
}
