//! Test support: the fake GitHub, GitHub's own webhook examples signed by GitHub's own
//! library, and the real Fixpoint router and workers started in-process on loopback.
#![allow(dead_code)]

pub mod aws_stub;
pub mod fake_github;
pub mod http_servers;
pub mod model_server;
pub mod moto;
pub mod openapi;
pub mod postgres;
pub mod redis;
pub mod webhooks;

use std::path::PathBuf;
use std::time::Duration;

use fixpoint::config::{AppCredentials, ServerConfig};
use fixpoint::github::GitHubApp;
use fixpoint::github::policy::RetryPolicy;
use fixpoint::ids::AppId;
use fixpoint::store::Store;
use secrecy::SecretString;
use tokio::sync::watch;

use fake_github::FakeGitHub;

pub const SECRET: &str = "test-webhook-secret";

/// The real router and worker pool on a loopback port, against the fake GitHub.
pub struct TestApp {
    pub url: String,
    pub store: Store,
    /// A read-only connection of the test's own, for counting rows the store has no
    /// query for (the store keeps its pool to itself).
    pub db: sqlx::SqlitePool,
    pub github: FakeGitHub,
    pub dir: tempfile::TempDir,
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
        let dir = tempfile::tempdir().expect("temp dir");
        let config = config_for(&github, dir.path());
        let store = Store::connect(&config.database_url)
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
        let task = tokio::spawn(fixpoint::server::run_app_with(
            listener,
            config,
            store.clone(),
            client,
            rx,
        ));
        TestApp {
            url,
            store,
            db,
            github,
            dir,
            shutdown,
            task,
        }
    }

    /// Posts a webhook signed with the App's current secret by GitHub's own library.
    pub async fn deliver(&self, event: &str, delivery: &str, body: &[u8]) -> reqwest::Response {
        let signature = webhooks::sign(SECRET, body);
        webhooks::post(&self.url, event, delivery, body, &signature).await
    }

    /// Waits until no job is queued, running or failed-and-retrying.
    pub async fn settle(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let q = self.store.queue_counts().await.unwrap();
            if q.queued == 0 && q.running == 0 && q.failed == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "jobs did not settle within 20 s: {q:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
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
