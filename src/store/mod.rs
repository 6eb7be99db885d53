//! Durable state in SQLite: deliveries, the job queue with leases, installations and
//! investigations. Through sqlx, except the delivery writer, which has a connection
//! and a thread of its own (`deliveries`). Every SQL statement lives below this
//! module, which is the seam a Postgres backend would slot in behind.

pub mod deliveries;
pub mod installations;
pub mod investigations;
pub mod jobs;
pub mod loops;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use jobs::{ClaimedJob, JobRow, NewJob, QueueCounts};

use crate::clock::{self, SharedClock};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// The database file, for the delivery writer's own connection.
    file: PathBuf,
    /// Every time the store writes or compares comes from here.
    clock: SharedClock,
}

impl Store {
    /// Opens (creating if needed) the database and applies the embedded migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with_clock(url, clock::system()).await
    }

    /// As `connect`, reading time from `clock` (tests move a `ManualClock`).
    pub async fn connect_with_clock(url: &str, clock: SharedClock) -> anyhow::Result<Self> {
        // The delivery writer opens the file a second time (`deliveries`); an in-memory
        // database would be a different one there (config refuses it for the App).
        if is_in_memory(url) {
            anyhow::bail!("`{url}` is in memory: the store needs a database file");
        }
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("DATABASE_URL `{url}` is not a SQLite URL"))?
            .create_if_missing(true)
            // WAL lets the webhook handler write while workers read; NORMAL is durable
            // across process crashes in WAL mode, which is the failure we design for.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // A local file cannot drop a connection: pinging each one before use only
            // adds a round trip to its thread.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open the database at `{url}`"))?;
        MIGRATOR
            .run(&pool)
            .await
            .context("cannot apply the database migrations")?;
        let file = options.get_filename().to_path_buf();
        Ok(Self { pool, file, clock })
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Ready means: the database answers and every embedded migration is applied.
    pub async fn readiness(&self) -> Result<(), String> {
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| format!("database unreachable: {e}"))?;
        let expected = MIGRATOR.iter().count() as i64;
        if applied < expected {
            return Err(format!("{applied} of {expected} migrations applied"));
        }
        Ok(())
    }
}

/// Runs a store transaction in its own task, so it finishes even when the caller's future
/// is dropped (a worker losing its lease, a shutdown). A SQLite
/// transaction cancelled midway can go back to sqlx's pool still inside
/// `BEGIN IMMEDIATE`, holding the write lock, and every later write then fails.
async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::spawn(work)
        .await
        .map_err(|e| anyhow::anyhow!("a store task failed: {e}"))?
}

/// How long a statement waits for SQLite's write lock, on every connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A SQLite URL naming an in-memory database, which the delivery writer's own connection
/// cannot open again, and a restart empties.
pub fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}
