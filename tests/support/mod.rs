//! Test support: the fake GitHub, GitHub's own webhook examples, and `TestApp`, the incident
//! tester: the real Fixpoint router and worker pool in-process on loopback, on a test clock,
//! against the fake GitHub (whose CI posts its webhooks back to the App). Tests wait on the
//! workers' completion signals, read what the App wrote (`expect_comment`, `expect_branch`,
//! `expect_check_run`), and fail on anything the fake did not expect.
#![allow(dead_code)]

pub mod aws_stub;
pub mod fake_github;
pub mod http_servers;
pub mod lower_env;
pub mod model_server;
pub mod moto;
pub mod openapi;
pub mod postgres;
pub mod process;
pub mod redis;
pub mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fixpoint::clock::{ManualClock, SharedClock};
use fixpoint::config::{AppCredentials, ServerConfig};
use fixpoint::github::GitHubApp;
use fixpoint::github::policy::RetryPolicy;
use fixpoint::ids::AppId;
use fixpoint::store::Store;
use fixpoint::worker::{Ended, JobRunEnded};
use secrecy::SecretString;
use tokio::sync::{broadcast, watch};

use fake_github::FakeGitHub;

pub const SECRET: &str = "test-webhook-secret";

/// The longest a test waits for the App to do something.
pub const WAIT: Duration = Duration::from_secs(20);

/// The real router and worker pool on a loopback port, against the fake GitHub.
pub struct TestApp {
    pub url: String,
    pub store: Store,
    /// A read-only connection of the test's own, for counting rows the store has no
    /// query for (the store keeps its pool to itself).
    pub db: sqlx::SqlitePool,
    pub github: FakeGitHub,
    pub dir: tempfile::TempDir,
    /// The time the queue reads: it moves only when the test moves it.
    pub clock: Arc<ManualClock>,
    /// Each job run's end, as the worker pool reports it.
    ended: tokio::sync::Mutex<broadcast::Receiver<JobRunEnded>>,
    /// Every job run's end so far, in order (`runs`).
    log: Arc<std::sync::Mutex<Vec<JobRunEnded>>>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A read-only connection to the database at `url`, for a test to look inside.
pub async fn inspect(url: &str) -> sqlx::SqlitePool {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .expect("a SQLite URL")
        .read_only(true);
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options)
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A retry policy that keeps the test quick but still exercises every branch.
pub fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        min_rate_limit_wait: Duration::from_millis(200),
        max_rate_limit_wait: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
    }
}

pub fn config_for(github: &FakeGitHub, dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        port: 0,
        database_url: format!("sqlite://{}", dir.join("fixpoint.sqlite").display()),
        github_api_url: github.url().to_string(),
        github_web_url: "https://github.com".into(),
        public_url: Some("https://fixpoint.example.com".into()),
        env_file: dir.join(".env"),
        workers: 2,
        job_lease: Duration::from_secs(30),
        max_attempts: 3,
        wal_restart_mib: 128,
        settings: Default::default(),
        app: Some(AppCredentials {
            app_id: AppId(github.app_id()),
            private_key: SecretString::from(github.private_key_pem().to_string()),
            webhook_secrets: vec![
                SecretString::from("an-old-secret-being-rotated-out".to_string()),
                SecretString::from(SECRET.to_string()),
            ],
        }),
    }
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(FakeGitHub::start().await).await
    }

    pub async fn start_with(github: FakeGitHub) -> TestApp {
        Self::start_configured(github, Default::default(), Default::default()).await
    }

    /// As `start_with`, with the workers' settings (e.g. an outbound policy that lets the
    /// sweep reach the loopback stand-ins).
    pub async fn start_with_settings(
        github: FakeGitHub,
        settings: fixpoint::config::Settings,
    ) -> TestApp {
        Self::start_configured(github, settings, Default::default()).await
    }

    /// As `start_with`, with the server's connection limits of the test's choosing.
    pub async fn start_limited(
        github: FakeGitHub,
        limits: fixpoint::server::listen::Limits,
    ) -> TestApp {
        Self::start_configured(github, Default::default(), limits).await
    }

    async fn start_configured(
        github: FakeGitHub,
        settings: fixpoint::config::Settings,
        limits: fixpoint::server::listen::Limits,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = config_for(&github, dir.path());
        config.settings = settings;
        let clock = ManualClock::new();
        let shared: SharedClock = clock.clone();
        let store = Store::connect_with_clock(&config.database_url, shared)
            .await
            .expect("store opens");
        let client =
            GitHubApp::with_policy(config.app.as_ref().unwrap(), github.url(), fast_policy())
                .expect("GitHub client");
        let db = inspect(&config.database_url).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // CI that a test scripts with `follow_pushes` reports to this App, signed with its secret.
        github.deliver_webhooks_to(&format!("{url}/webhooks"), SECRET);
        let (shutdown, rx) = watch::channel(false);
        let (observer, ended) = broadcast::channel(1024);
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut heard = observer.subscribe();
        let kept = log.clone();
        tokio::spawn(async move {
            loop {
                match heard.recv().await {
                    Ok(run) => kept.lock().unwrap_or_else(|e| e.into_inner()).push(run),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        let hooks = fixpoint::server::Hooks {
            observer: Some(observer),
            limits,
        };
        let task = tokio::spawn(fixpoint::server::run_app_observed(
            listener,
            config,
            store.clone(),
            client,
            rx,
            hooks,
        ));
        TestApp {
            url,
            store,
            db,
            github,
            dir,
            clock,
            ended: tokio::sync::Mutex::new(ended),
            log,
            shutdown,
            task,
        }
    }

    /// Waits for the next run of a job of `kind` to end, and says how it ended.
    pub async fn job_ended(&self, kind: &str) -> JobRunEnded {
        let mut ended = self.ended.lock().await;
        let wait = async {
            loop {
                match ended.recv().await {
                    Ok(run) if run.kind == kind => return run,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        panic!("the worker pool stopped before a {kind} job ended")
                    }
                }
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .unwrap_or_else(|_| panic!("no {kind} job ended within {} s", WAIT.as_secs()))
    }

    /// Every job run that has ended so far, in order, with how long each ran.
    pub fn runs(&self) -> Vec<JobRunEnded> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The commit `branch` of `repo` points at; fails the test when there is no such branch.
    pub fn expect_branch(&self, repo: &str, branch: &str) -> String {
        self.github
            .branch_sha(repo, branch)
            .unwrap_or_else(|| panic!("expected a branch {branch} in {repo}, found none"))
    }

    /// The check run named `name` on `repo`; fails the test when there is none.
    pub fn expect_check_run(&self, repo: &str, name: &str) -> fake_github::CheckRun {
        self.github
            .check_runs(repo)
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("expected a check run `{name}` on {repo}, found none"))
    }

    /// Takes the next comment on `repo`#`number` (see `FakeGitHub::wait_for_comment`).
    pub async fn expect_comment(&self, repo: &str, number: u64) -> fake_github::Comment {
        self.github.wait_for_comment(repo, number).await
    }

    /// Posts a webhook signed with the App's current secret by GitHub's own library.
    pub async fn deliver(&self, event: &str, delivery: &str, body: &[u8]) -> reqwest::Response {
        let signature = webhooks::sign(SECRET, body);
        webhooks::post(&self.url, event, delivery, body, &signature).await
    }

    /// Runs the queue until nothing is left to do now: woken by each job run's end, it moves
    /// the test clock past a failed attempt's backoff so the retry runs, and leaves snoozed
    /// jobs asleep (a test wakes them by moving the clock or delivering what they wait on).
    pub async fn settle(&self) {
        let deadline = std::time::Instant::now() + WAIT;
        let mut ended = self.ended.lock().await;
        loop {
            let q = self.store.queue_counts().await.unwrap();
            if q.queued == 0 && q.running == 0 {
                if q.failed == 0 {
                    return;
                }
                self.clock.advance(Duration::from_secs(600));
            }
            assert!(
                std::time::Instant::now() < deadline,
                "jobs did not settle within {} s: {q:?}",
                WAIT.as_secs()
            );
            // A job just stored is claimed within the workers' poll; one that ends says so.
            if let Ok(Ok(JobRunEnded {
                ended: Ended::Failed(why),
                kind,
                ..
            })) = tokio::time::timeout(Duration::from_millis(600), ended.recv()).await
            {
                eprintln!("a {kind} job attempt failed: {why}");
            }
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.db)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        self.github.assert_honest();
    }
}
