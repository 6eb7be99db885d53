//! The durable job queue: leases, heartbeats, retries with backoff, dead letters, and
//! a journal of finished steps so a job run again after a crash never repeats an effect.

use std::time::Duration;

use anyhow::Context;
use rusqlite::OptionalExtension;
use serde::{Serialize, de::DeserializeOwned};
use sqlx::Row;

use super::{Store, now_ms};

/// What a job does; stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A failed deploy: open (or resume) an investigation.
    WorkflowRun,
    /// A run on a `fixpoint/` branch: progress of the loop that owns the branch.
    LoopProgress,
    /// A `/fixpoint …` comment on a pull request.
    PrCommand,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::WorkflowRun => "workflow_run",
            JobKind::LoopProgress => "loop_progress",
            JobKind::PrCommand => "pr_command",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::WorkflowRun, Self::LoopProgress, Self::PrCommand]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: JobKind,
    /// Two jobs with one key are one job (e.g. `workflow_run:acme/api:42:1`).
    pub dedupe_key: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: Option<JobKind>,
    pub kind_name: String,
    pub payload: serde_json::Value,
    pub attempts: i64,
    pub owner: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    pub queued: i64,
    pub running: i64,
    pub failed: i64,
    pub dead: i64,
    pub done: i64,
}

/// Queues the job inside the delivery writer's transaction (`super::deliveries`), or
/// finds the one already queued under its dedupe key; returns `(id, created)`.
pub(crate) fn insert(
    conn: &rusqlite::Connection,
    job: &NewJob,
    max_attempts: i64,
    now: i64,
) -> anyhow::Result<(i64, bool)> {
    let inserted: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO jobs (kind, dedupe_key, payload, max_attempts, run_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5)
             ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        )?
        .query_row(
            rusqlite::params![
                job.kind.as_str(),
                job.dedupe_key,
                job.payload.to_string(),
                max_attempts,
                now
            ],
            |row| row.get(0),
        )
        .optional()
        .context("cannot insert the job")?;
    if let Some(id) = inserted {
        return Ok((id, true));
    }
    let id = conn
        .prepare_cached("SELECT id FROM jobs WHERE dedupe_key = ?")?
        .query_row([&job.dedupe_key], |row| row.get(0))
        .context("cannot find the queued job")?;
    Ok((id, false))
}

/// Exponential backoff for a failed attempt: 2 s, 4 s, 8 s … capped at 10 minutes.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 20) as u32;
    Duration::from_secs(2u64.saturating_pow(exp).min(600))
}

impl Store {
    /// Claims the next runnable job: queued or failed and due, or running with an
    /// expired lease (its worker died). Runs in a `BEGIN IMMEDIATE` transaction so two
    /// workers can never take the same job. A job out of attempts goes to `dead`.
    pub async fn claim(&self, owner: &str, lease: Duration) -> anyhow::Result<Option<ClaimedJob>> {
        let (store, owner) = (self.clone(), owner.to_string());
        super::detached(async move { store.claim_now(&owner, lease).await }).await
    }

    async fn claim_now(&self, owner: &str, lease: Duration) -> anyhow::Result<Option<ClaimedJob>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let now = now_ms();
        loop {
            let row = sqlx::query(
                "SELECT id, kind, payload, attempts, max_attempts FROM jobs
                 WHERE (state IN ('queued', 'failed') AND run_at <= ?1)
                    OR (state = 'running' AND lease_expires_at <= ?1)
                 ORDER BY run_at, id LIMIT 1",
            )
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                tx.commit().await?;
                return Ok(None);
            };
            let id: i64 = row.get("id");
            let attempts: i64 = row.get("attempts");
            let max_attempts: i64 = row.get("max_attempts");
            if attempts >= max_attempts {
                // Its last worker died holding it: nothing more to try.
                sqlx::query(
                    "UPDATE jobs SET state = 'dead', lease_owner = NULL, updated_at = ?,
                     last_error = COALESCE(last_error, 'lease expired on the last attempt')
                     WHERE id = ?",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                continue;
            }
            sqlx::query(
                "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?,
                 heartbeat_at = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
            )
            .bind(owner)
            .bind(now + lease.as_millis() as i64)
            .bind(now)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            let kind_name: String = row.get("kind");
            let payload: String = row.get("payload");
            return Ok(Some(ClaimedJob {
                id,
                kind: JobKind::parse(&kind_name),
                kind_name,
                payload: serde_json::from_str(&payload)
                    .context("stored job payload is not JSON")?,
                attempts: attempts + 1,
                owner: owner.to_string(),
            }));
        }
    }

    /// Extends the lease; `false` means the lease was lost (another worker owns the job).
    pub async fn heartbeat(&self, job: &ClaimedJob, lease: Duration) -> anyhow::Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = ?, heartbeat_at = ?
             WHERE id = ? AND lease_owner = ? AND state = 'running'",
        )
        .bind(now + lease.as_millis() as i64)
        .bind(now)
        .bind(job.id)
        .bind(&job.owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks the job done, only if this worker still holds its lease.
    pub async fn complete(&self, job: &ClaimedJob) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL,
             updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'",
        )
        .bind(now_ms())
        .bind(job.id)
        .bind(&job.owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed attempt: retried after a backoff, or dead once out of attempts.
    pub async fn fail(&self, job: &ClaimedJob, error: &str) -> anyhow::Result<()> {
        let now = now_ms();
        let retry_at = now + backoff(job.attempts).as_millis() as i64;
        sqlx::query(
            "UPDATE jobs SET
               state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'failed' END,
               run_at = ?, last_error = ?, lease_owner = NULL, lease_expires_at = NULL,
               updated_at = ?
             WHERE id = ? AND lease_owner = ?",
        )
        .bind(retry_at)
        .bind(error)
        .bind(now)
        .bind(job.id)
        .bind(&job.owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn queue_counts(&self) -> anyhow::Result<QueueCounts> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut c = QueueCounts::default();
        for row in rows {
            let n: i64 = row.get("n");
            match row.get::<String, _>("state").as_str() {
                "queued" => c.queued = n,
                "running" => c.running = n,
                "failed" => c.failed = n,
                "dead" => c.dead = n,
                "done" => c.done = n,
                _ => {}
            }
        }
        Ok(c)
    }

    /// The stored result of a finished step of this job, if it finished before.
    pub async fn step_result<T: DeserializeOwned>(
        &self,
        job_id: i64,
        step: &str,
    ) -> anyhow::Result<Option<T>> {
        let stored: Option<String> =
            sqlx::query_scalar("SELECT result FROM job_steps WHERE job_id = ? AND step = ?")
                .bind(job_id)
                .bind(step)
                .fetch_optional(&self.pool)
                .await?;
        stored
            .map(|s| serde_json::from_str(&s).context("stored step result is not valid"))
            .transpose()
    }

    pub async fn record_step<T: Serialize>(
        &self,
        job_id: i64,
        step: &str,
        result: &T,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO job_steps (job_id, step, result, finished_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (job_id, step) DO NOTHING",
        )
        .bind(job_id)
        .bind(step)
        .bind(serde_json::to_string(result)?)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
