//! The durable job queue's rows: leases, heartbeats, retries with backoff, dead letters,
//! snoozes that hold no worker, and a journal of finished steps so a job run again after
//! a crash never repeats an effect. The typed side (what a job is) lives in `crate::jobs`;
//! here a job is its kind's name and a JSON payload.

use std::time::Duration;

use anyhow::Context;
use rusqlite::OptionalExtension;
use serde::{Serialize, de::DeserializeOwned};
use sqlx::Row;

use super::Store;
use crate::domain::JobState;

/// A job to store. Two jobs with one `dedupe_key` are one job.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub dedupe_key: String,
    pub payload: serde_json::Value,
    /// Storing this job also wakes the jobs snoozed on this key (a run on a branch a loop
    /// is waiting on).
    pub wakes: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub attempts: i64,
    pub owner: String,
}

/// One row of the queue as an operator (or a test) would look at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub state: JobState,
    pub attempts: i64,
    pub run_at: i64,
    pub wake_key: Option<String>,
    pub lease_owner: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    pub queued: i64,
    pub running: i64,
    pub failed: i64,
    pub snoozed: i64,
    pub dead: i64,
    pub done: i64,
}

impl QueueCounts {
    /// Jobs not yet done, by state: what `/metrics` shows (done jobs only ever grow).
    pub fn open(&self) -> [(JobState, i64); 5] {
        [
            (JobState::Queued, self.queued),
            (JobState::Running, self.running),
            (JobState::Failed, self.failed),
            (JobState::Snoozed, self.snoozed),
            (JobState::Dead, self.dead),
        ]
    }
}

/// One statement for both paths a job is stored by (the delivery writer's rusqlite
/// connection, a worker's sqlx pool): ?1 kind, ?2 dedupe key, ?3 payload, ?4 state,
/// ?5 max attempts, ?6 run at, ?7 now.
const INSERT_JOB: &str = "INSERT INTO jobs (kind, dedupe_key, payload, state, max_attempts, run_at, created_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
     ON CONFLICT (dedupe_key) DO NOTHING RETURNING id";

const FIND_JOB: &str = "SELECT id FROM jobs WHERE dedupe_key = ?1";

/// ?1 now, ?2 wake key, ?3 the snoozed state.
const WAKE_JOBS: &str = "UPDATE jobs SET run_at = MIN(run_at, ?1), updated_at = ?1
     WHERE wake_key = ?2 AND state = ?3";

/// Queues the job inside the delivery writer's transaction (`super::deliveries`), or
/// finds the one already queued under its dedupe key; returns `(id, created)`.
pub(crate) fn insert(
    conn: &rusqlite::Connection,
    job: &NewJob,
    max_attempts: i64,
    now: i64,
) -> anyhow::Result<(i64, bool)> {
    let inserted: Option<i64> = conn
        .prepare_cached(INSERT_JOB)?
        .query_row(
            rusqlite::params![
                job.kind,
                job.dedupe_key,
                job.payload.to_string(),
                JobState::Queued.as_str(),
                max_attempts,
                now,
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
        .prepare_cached(FIND_JOB)?
        .query_row([&job.dedupe_key], |row| row.get(0))
        .context("cannot find the queued job")?;
    Ok((id, false))
}

/// Makes the jobs snoozed on `key` due now (inside the delivery writer's transaction).
pub(crate) fn wake(conn: &rusqlite::Connection, key: &str, now: i64) -> anyhow::Result<usize> {
    conn.prepare_cached(WAKE_JOBS)?
        .execute(rusqlite::params![now, key, JobState::Snoozed.as_str()])
        .context("cannot wake the snoozed jobs")
}

/// Exponential backoff for a failed attempt: 2 s, 4 s, 8 s … capped at 10 minutes.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 20) as u32;
    Duration::from_secs(2u64.saturating_pow(exp).min(600))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// Stores a job from a worker (`jobs::JobContext::enqueue`), due at `run_at_ms`;
    /// returns `(id, created)`, `created = false` when its dedupe key was taken.
    pub async fn enqueue(
        &self,
        job: NewJob,
        run_at_ms: i64,
        max_attempts: u32,
    ) -> anyhow::Result<(i64, bool)> {
        let now = self.now_ms();
        let inserted: Option<i64> = sqlx::query_scalar(INSERT_JOB)
            .bind(&job.kind)
            .bind(&job.dedupe_key)
            .bind(job.payload.to_string())
            .bind(JobState::Queued)
            .bind(i64::from(max_attempts))
            .bind(run_at_ms)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .context("cannot enqueue the job")?;
        if let Some(key) = &job.wakes {
            self.wake(key).await?;
        }
        match inserted {
            Some(id) => Ok((id, true)),
            None => Ok((
                sqlx::query_scalar(FIND_JOB)
                    .bind(&job.dedupe_key)
                    .fetch_one(&self.pool)
                    .await?,
                false,
            )),
        }
    }

    /// Claims the next runnable job: queued, failed or snoozed and due, or running with
    /// an expired lease (its worker died). Runs in a `BEGIN IMMEDIATE` transaction so two
    /// workers can never take the same job. A job out of attempts goes to `dead`.
    pub async fn claim(&self, owner: &str, lease: Duration) -> anyhow::Result<Option<ClaimedJob>> {
        let (store, owner) = (self.clone(), owner.to_string());
        super::detached(async move { store.claim_now(&owner, lease).await }).await
    }

    async fn claim_now(&self, owner: &str, lease: Duration) -> anyhow::Result<Option<ClaimedJob>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let now = self.now_ms();
        loop {
            let row = sqlx::query(
                "SELECT id, kind, payload, attempts, max_attempts FROM jobs
                 WHERE (state IN (?2, ?3, ?4) AND run_at <= ?1)
                    OR (state = ?5 AND lease_expires_at <= ?1)
                 ORDER BY run_at, id LIMIT 1",
            )
            .bind(now)
            .bind(JobState::Queued)
            .bind(JobState::Failed)
            .bind(JobState::Snoozed)
            .bind(JobState::Running)
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
                    "UPDATE jobs SET state = ?, lease_owner = NULL, updated_at = ?,
                     last_error = COALESCE(last_error, 'lease expired on the last attempt')
                     WHERE id = ?",
                )
                .bind(JobState::Dead)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                continue;
            }
            sqlx::query(
                "UPDATE jobs SET state = ?, lease_owner = ?, lease_expires_at = ?,
                 heartbeat_at = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
            )
            .bind(JobState::Running)
            .bind(owner)
            .bind(now + ms(lease))
            .bind(now)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            let payload: String = row.get("payload");
            return Ok(Some(ClaimedJob {
                id,
                kind: row.get("kind"),
                payload: serde_json::from_str(&payload)
                    .context("stored job payload is not JSON")?,
                attempts: attempts + 1,
                owner: owner.to_string(),
            }));
        }
    }

    /// Extends the lease; `false` means the lease was lost (another worker owns the job).
    pub async fn heartbeat(&self, job: &ClaimedJob, lease: Duration) -> anyhow::Result<bool> {
        let now = self.now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = ?, heartbeat_at = ?
             WHERE id = ? AND lease_owner = ? AND state = ?",
        )
        .bind(now + ms(lease))
        .bind(now)
        .bind(job.id)
        .bind(&job.owner)
        .bind(JobState::Running)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks the job done, only if this worker still holds its lease.
    pub async fn complete(&self, job: &ClaimedJob) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = ?, lease_owner = NULL, lease_expires_at = NULL,
             wake_key = NULL, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = ?",
        )
        .bind(JobState::Done)
        .bind(self.now_ms())
        .bind(job.id)
        .bind(&job.owner)
        .bind(JobState::Running)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts a running job to sleep until `until_ms` or until `wake_key` is woken: the lease
    /// and the worker are released and the attempt it was claimed with is given back
    /// (waiting on CI is not a failure). Only while this worker holds the lease.
    pub async fn snooze(
        &self,
        job: &ClaimedJob,
        until_ms: i64,
        wake_key: Option<&str>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = ?, run_at = ?, wake_key = ?, attempts = MAX(attempts - 1, 0),
             lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
             WHERE id = ? AND lease_owner = ? AND state = ?",
        )
        .bind(JobState::Snoozed)
        .bind(until_ms)
        .bind(wake_key)
        .bind(self.now_ms())
        .bind(job.id)
        .bind(&job.owner)
        .bind(JobState::Running)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Makes every job snoozed on `key` due now; returns how many.
    pub async fn wake(&self, key: &str) -> anyhow::Result<u64> {
        let now = self.now_ms();
        let done = sqlx::query(WAKE_JOBS)
            .bind(now)
            .bind(key)
            .bind(JobState::Snoozed)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Records a failed attempt: retried after a backoff, or dead once out of attempts.
    pub async fn fail(&self, job: &ClaimedJob, error: &str) -> anyhow::Result<()> {
        let now = self.now_ms();
        let retry_at = now + ms(backoff(job.attempts));
        sqlx::query(
            "UPDATE jobs SET
               state = CASE WHEN attempts >= max_attempts THEN ? ELSE ? END,
               run_at = ?, last_error = ?, lease_owner = NULL, lease_expires_at = NULL,
               updated_at = ?
             WHERE id = ? AND lease_owner = ?",
        )
        .bind(JobState::Dead)
        .bind(JobState::Failed)
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
        let rows: Vec<(JobState, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        let mut c = QueueCounts::default();
        for (state, n) in rows {
            let slot = match state {
                JobState::Queued => &mut c.queued,
                JobState::Running => &mut c.running,
                JobState::Failed => &mut c.failed,
                JobState::Snoozed => &mut c.snoozed,
                JobState::Dead => &mut c.dead,
                JobState::Done => &mut c.done,
            };
            *slot = n;
        }
        Ok(c)
    }

    /// Every job, oldest first.
    pub async fn jobs(&self) -> anyhow::Result<Vec<JobRow>> {
        let rows = sqlx::query(
            "SELECT id, kind, state, attempts, run_at, wake_key, lease_owner, last_error
             FROM jobs ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| JobRow {
                id: r.get("id"),
                kind: r.get("kind"),
                state: r.get("state"),
                attempts: r.get("attempts"),
                run_at: r.get("run_at"),
                wake_key: r.get("wake_key"),
                lease_owner: r.get("lease_owner"),
                last_error: r.get("last_error"),
            })
            .collect())
    }

    /// The stored result of a finished step of this job's `iteration`, if it finished
    /// before.
    pub async fn step_result<T: DeserializeOwned>(
        &self,
        job_id: i64,
        iteration: u32,
        step: &str,
    ) -> anyhow::Result<Option<T>> {
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT result FROM job_steps WHERE job_id = ? AND iteration = ? AND step = ?",
        )
        .bind(job_id)
        .bind(i64::from(iteration))
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
        iteration: u32,
        step: &str,
        result: &T,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO job_steps (job_id, iteration, step, result, finished_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (job_id, iteration, step) DO NOTHING",
        )
        .bind(job_id)
        .bind(i64::from(iteration))
        .bind(step)
        .bind(serde_json::to_string(result)?)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
