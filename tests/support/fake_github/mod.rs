//! A stateful fake of GitHub's REST API (bors-style) on loopback, for the real octocrab client.
//!
//! Tests arrange installations, files, workflow runs and faults, then read back what the App did
//! (requests, JWT claims, token mints). Every API response passes an honesty gate first: it must
//! be a documented status of its operation with a body that fits GitHub's OpenAPI schema, or the
//! fake answers 500, records the violation, and fails the test when dropped.
//!
//! Each repository is a real bare git repository (the `git` CLI makes objects and SHAs), so
//! what the App writes through the Git Data API is real history:
//! - `add_file(repo, ref, path, content)`: a commit (`None` = the default branch, also served at
//!   refs git cannot name, such as a made-up head SHA); `push(repo, branch, files)`: a person's
//!   push, which CI follows; `branch_sha`, `file_at`: read git back; `open_pull_request` and
//!   `add_comment`: what people did.
//! - Served: contents at any ref; blobs, trees (`base_tree`, `sha: null` deletes), commits,
//!   refs (PATCH refuses a non-fast-forward without `force`, creating an existing ref is 422);
//!   pulls (create, draft or not; `refuse_draft_pull_requests`), get, list by `head`, update,
//!   requested reviewers (collaborators only); issues, comments, labels, reactions; check runs;
//!   `collaborators/{user}/permission` (`set_collaborator_permission`; anyone else is 404);
//!   `compare/{base}...{head}` (git's merge base, commits and renamed-aware file list);
//!   GraphQL `markPullRequestReadyForReview` only; workflow runs by workflow, branch, head_sha
//!   and status; `workflow_dispatch`. Writes need the token's `write` on the matching permission.
//! - CI: `follow_pushes(repo, |tree| run)` turns each pushed tree into a run (jobs, steps, logs)
//!   and posts `workflow_run` requested/in_progress/completed, HMAC-signed, to
//!   `deliver_webhooks_to(url, secret)` (TestApp points it at its App); `hold_ci` keeps runs
//!   `in_progress` until `finish_ci_run`; `deliveries`/`wait_for_deliveries` read them back;
//!   `deploy_on_green(repo, hook)` deploys a green run's tree before the run completes.
//! - The test's own mistakes fail it on drop: a `fail_next`/`stall_next`/`corrupt_next` that never
//!   fired (`take_unused_scripts` forgets them), and a comment the App posted that no
//!   `expect_comment`/`wait_for_comment` took (`take_unexpected_comments` forgets them).
#![allow(dead_code, unused_imports)]

mod arrange;
mod auth;
mod bodies;
mod bodies_git;
mod bodies_pulls;
mod checks_routes;
mod ci;
mod compare_routes;
mod downloads;
mod expect;
mod gate;
mod git;
mod git_diff;
mod git_routes;
mod graphql;
mod issues_routes;
mod logs;
mod model;
mod pulls_routes;
mod records;
mod refs_routes;
mod repos;
mod request;
mod routes;
mod state;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::task::JoinHandle;

use super::openapi::OpenApi;
use gate::{Shared, lock};
use state::{App, Corruption, Fault, Installation, Stall, State};

pub use auth::{RsaKeyPair, generate_rsa_key_pair};
pub use ci::{CiScript, DeployHook, PushedTree, signature_256};
pub use git::Signature;
pub use model::{
    AuthKind, Job, JwtRecord, ManifestConversion, RequestRecord, Step, TokenMint, WorkflowRun,
};
pub use records::{CheckRun, Comment, Delivery, Dispatch, Issue, Pull};

/// The App id the fake knows its App by.
pub const APP_ID: u64 = 1_234_567;

/// What a new installation may do unless a test says otherwise.
const DEFAULT_PERMISSIONS: [(&str, &str); 6] = [
    ("actions", "read"),
    ("checks", "read"),
    ("contents", "write"),
    ("issues", "write"),
    ("metadata", "read"),
    ("pull_requests", "write"),
];

pub struct FakeGitHub {
    url: String,
    shared: Shared,
    keys: RsaKeyPair,
    server: JoinHandle<()>,
}

/// One key pair per test binary: 2048-bit generation is slow enough to matter across many tests.
fn app_keys() -> RsaKeyPair {
    static KEYS: OnceLock<RsaKeyPair> = OnceLock::new();
    KEYS.get_or_init(generate_rsa_key_pair).clone()
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

impl FakeGitHub {
    /// Starts the fake on `127.0.0.1:0`. Panics if GitHub's OpenAPI description or `openssl` is
    /// missing, saying how to install it.
    pub async fn start() -> FakeGitHub {
        blocking(|| {
            OpenApi::load();
        })
        .await;
        let keys = blocking(app_keys).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the fake GitHub to 127.0.0.1:0");
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        let url = format!("http://{address}");
        let app = App {
            id: APP_ID,
            owner: "fixpoint-dev".into(),
            slug: "fixpoint-test".into(),
            name: "Fixpoint (test)".into(),
            keys: keys.clone(),
        };
        let shared: Shared = Arc::new(Mutex::new(State::new(url.clone(), app)));
        let router = routes::router(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("the fake GitHub server stopped");
        });
        FakeGitHub {
            url,
            shared,
            keys,
            server,
        }
    }

    /// The base URL to use as `GITHUB_API_URL`, e.g. `http://127.0.0.1:41234` (no trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn app_id(&self) -> u64 {
        APP_ID
    }

    /// The App's private key as GitHub hands it out (PKCS#1 PEM).
    pub fn private_key_pem(&self) -> &str {
        &self.keys.private_pem
    }

    pub fn public_key_pem(&self) -> &str {
        &self.keys.public_pem
    }

    // --- arranging ---

    /// Installs the App on `account` for all of its repositories.
    pub fn add_installation(&self, installation_id: u64, account: &str) {
        self.install(installation_id, account, None);
    }

    /// Installs the App on `account` for the named repositories only.
    pub fn add_installation_with_repos(&self, installation_id: u64, account: &str, repos: &[&str]) {
        let names = repos.iter().map(|name| name.to_lowercase()).collect();
        self.install(installation_id, account, Some(names));
    }

    fn install(&self, installation_id: u64, account: &str, repositories: Option<Vec<String>>) {
        let permissions = DEFAULT_PERMISSIONS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let installation = Installation {
            account: account.to_string(),
            repositories,
            permissions,
        };
        lock(&self.shared)
            .installations
            .insert(installation_id, installation);
    }

    /// Replaces an installation's permissions, e.g. `&[("contents", "read")]`.
    pub fn set_installation_permissions(&self, installation_id: u64, permissions: &[(&str, &str)]) {
        let permissions: BTreeMap<String, String> = permissions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut state = lock(&self.shared);
        let installation = state
            .installations
            .get_mut(&installation_id)
            .unwrap_or_else(|| panic!("no installation {installation_id}: add it first"));
        installation.permissions = permissions;
    }

    /// How long tokens minted from now on live (GitHub: 1 hour). `ZERO` = already expired.
    pub fn set_token_lifetime(&self, lifetime: std::time::Duration) {
        let lifetime = chrono::Duration::from_std(lifetime).expect("a token lifetime fits chrono");
        lock(&self.shared).token_lifetime = lifetime;
    }

    /// Makes every later request with `token` fail with 401 "Bad credentials".
    pub fn revoke_token(&self, token: &str) {
        let mut state = lock(&self.shared);
        let grant = state
            .grants
            .get_mut(token)
            .unwrap_or_else(|| panic!("the fake never minted {token}"));
        grant.revoked = true;
    }

    /// A file in `owner/repo` at `git_ref`, committed to the repository's git history:
    /// `None` = on the default branch and served at whatever ref git cannot name (a made-up
    /// head SHA, say); a branch that exists = a commit on it; any other name = a commit on a
    /// ref only the fake knows. Arranging never runs CI; `push` does.
    pub fn add_file(
        &self,
        repo: &str,
        git_ref: Option<&str>,
        path: &str,
        content: impl AsRef<[u8]>,
    ) {
        let (owner, name) = split_repo(repo);
        let path = path.trim_start_matches('/').to_string();
        let mut state = lock(&self.shared);
        let repo = state.repo_mut(owner, name);
        let target = repo.arranged_ref(git_ref);
        let message = format!("Arrange {path}");
        repo.commit_files(
            &target,
            &[(path.clone(), Some(content.as_ref().to_vec()))],
            &message,
        );
        if git_ref.is_none() {
            repo.any_ref_paths.insert(path);
        }
    }

    /// A workflow run (with its jobs, steps and logs) in `owner/repo`.
    pub fn add_workflow_run(&self, repo: &str, run: WorkflowRun) {
        assert!(
            repo.contains('/'),
            "a repository is `owner/name`, got {repo:?}"
        );
        lock(&self.shared)
            .runs
            .insert((repo.to_lowercase(), run.id), run);
    }

    /// A one-time code for `POST /app-manifests/{code}/conversions`.
    pub fn add_manifest_code(&self, code: &str) {
        lock(&self.shared).manifest_codes.insert(code.to_string());
    }

    /// The next `times` requests whose method is `method` (`"*"` = any) and whose path starts with
    /// `path_prefix` get `status` with `headers` and GitHub's error body instead of an answer.
    pub fn fail_next(
        &self,
        method: &str,
        path_prefix: &str,
        times: usize,
        status: u16,
        headers: &[(&str, &str)],
    ) {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        lock(&self.shared).faults.push(Fault {
            method: method.to_string(),
            path_prefix: path_prefix.to_string(),
            times,
            remaining: times,
            status,
            headers,
        });
    }

    /// The next `times` matching requests wait `delay` before they are answered.
    pub fn stall_next(
        &self,
        method: &str,
        path_prefix: &str,
        times: usize,
        delay: std::time::Duration,
    ) {
        lock(&self.shared).stalls.push(Stall {
            method: method.to_string(),
            path_prefix: path_prefix.to_string(),
            times,
            remaining: times,
            delay,
        });
    }

    /// Rewrites the next matching JSON body before the honesty gate sees it: to prove the gate
    /// stops a drifted response. The resulting violation must be taken with `take_violations`.
    pub fn corrupt_next(
        &self,
        method: &str,
        path_prefix: &str,
        rewrite: impl FnOnce(&mut serde_json::Value) + Send + 'static,
    ) {
        lock(&self.shared).corruptions.push(Corruption {
            method: method.to_string(),
            path_prefix: path_prefix.to_string(),
            rewrite: Box::new(rewrite),
        });
    }

    // --- inspecting ---

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared).requests.clone()
    }

    /// Every App JWT received so far (accepted or not).
    pub fn jwts(&self) -> Vec<JwtRecord> {
        lock(&self.shared).jwts.clone()
    }

    pub fn token_mints(&self) -> Vec<TokenMint> {
        lock(&self.shared).mints.clone()
    }

    pub fn manifest_conversions(&self) -> Vec<ManifestConversion> {
        lock(&self.shared).conversions.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        lock(&self.shared).violations.clone()
    }

    /// Returns and forgets the violations, for tests that provoke one on purpose.
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.shared).violations)
    }

    /// Panics listing every response the fake refused to send because GitHub would not send it,
    /// and every request for an endpoint the fake does not serve.
    pub fn assert_honest(&self) {
        let violations = self.take_violations();
        assert!(
            violations.is_empty(),
            "the fake GitHub was asked for something GitHub would not answer that way:\n  {}",
            violations.join("\n  ")
        );
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.abort();
        if !std::thread::panicking() {
            let problems = self.end_of_test_problems();
            assert!(problems.is_empty(), "{}", problems.join("\n"));
        }
    }
}

/// `owner/name` → (`owner`, `name`); anything else is a mistake in the test.
fn split_repo(repo: &str) -> (&str, &str) {
    repo.split_once('/')
        .unwrap_or_else(|| panic!("a repository is `owner/name`, got {repo:?}"))
}
