//! Investigations (one per failed deploy run attempt), the failed run's jobs, runs on
//! `fixpoint/` branches, and `/fixpoint` commands waiting for the command grammar.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::Store;
use crate::domain::{CommandStatus, Conclusion, InvestigationStatus, PrCommand, RunRef};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Investigation {
    pub id: i64,
    pub repo: String,
    pub service: Option<String>,
    pub run_id: i64,
    pub run_attempt: i64,
    pub head_sha: String,
    pub branch: String,
    pub status: InvestigationStatus,
    pub status_reason: Option<String>,
}

/// The JSON documents stored with an investigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    Sweep,
    Diagnosis,
    /// The seed's debug context: every iteration of the loop.
    DebugContext,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunJob {
    pub job_id: u64,
    pub name: String,
    pub conclusion: Option<Conclusion>,
    pub failed_steps: Vec<String>,
}

impl Store {
    /// Opens the investigation for this run attempt, or returns the one already open.
    pub async fn open_investigation(&self, run: &RunRef) -> anyhow::Result<i64> {
        let now = self.now_ms();
        sqlx::query(
            "INSERT INTO investigations (repo, installation_id, workflow, run_id, run_attempt,
               head_sha, branch, conclusion, status, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (repo, run_id, run_attempt) DO NOTHING",
        )
        .bind(run.repo.to_string())
        .bind(run.installation_id.0 as i64)
        .bind(&run.workflow)
        .bind(run.run_id.0 as i64)
        .bind(run.run_attempt as i64)
        .bind(&run.head_sha.0)
        .bind(&run.branch)
        .bind(run.conclusion.map(Conclusion::as_str).unwrap_or_default())
        .bind(InvestigationStatus::Received)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_scalar(
            "SELECT id FROM investigations WHERE repo = ? AND run_id = ? AND run_attempt = ?",
        )
        .bind(run.repo.to_string())
        .bind(run.run_id.0 as i64)
        .bind(run.run_attempt as i64)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn set_investigation_status(
        &self,
        id: i64,
        status: InvestigationStatus,
        reason: Option<&str>,
        service: Option<&str>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE investigations SET status = ?, status_reason = ?,
               service = COALESCE(?, service), updated_at = ? WHERE id = ?",
        )
        .bind(status)
        .bind(reason)
        .bind(service)
        .bind(self.now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores a JSON document (the sweep's report, the diagnosis) with the investigation.
    pub async fn set_investigation_document<T: Serialize>(
        &self,
        id: i64,
        column: Document,
        value: &T,
    ) -> anyhow::Result<()> {
        let sql = match column {
            Document::Sweep => "UPDATE investigations SET sweep = ?, updated_at = ? WHERE id = ?",
            Document::Diagnosis => {
                "UPDATE investigations SET diagnosis = ?, updated_at = ? WHERE id = ?"
            }
            Document::DebugContext => {
                "UPDATE investigations SET debug_context = ?, updated_at = ? WHERE id = ?"
            }
        };
        sqlx::query(sql)
            .bind(serde_json::to_string(value)?)
            .bind(self.now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn investigation_document(
        &self,
        id: i64,
        column: Document,
    ) -> anyhow::Result<Option<serde_json::Value>> {
        let sql = match column {
            Document::Sweep => "SELECT sweep FROM investigations WHERE id = ?",
            Document::Diagnosis => "SELECT diagnosis FROM investigations WHERE id = ?",
            Document::DebugContext => "SELECT debug_context FROM investigations WHERE id = ?",
        };
        let text: Option<String> = sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    pub async fn record_run_jobs(&self, investigation: i64, jobs: &[RunJob]) -> anyhow::Result<()> {
        let (store, jobs) = (self.clone(), jobs.to_vec());
        super::detached(async move { store.record_run_jobs_now(investigation, &jobs).await }).await
    }

    async fn record_run_jobs_now(&self, investigation: i64, jobs: &[RunJob]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for job in jobs {
            sqlx::query(
                "INSERT INTO run_jobs (investigation_id, job_id, name, conclusion, failed_steps)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (investigation_id, job_id) DO UPDATE SET
                   conclusion = excluded.conclusion, failed_steps = excluded.failed_steps",
            )
            .bind(investigation)
            .bind(job.job_id as i64)
            .bind(&job.name)
            .bind(job.conclusion.map(Conclusion::as_str))
            .bind(serde_json::to_string(&job.failed_steps)?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn investigations(&self) -> anyhow::Result<Vec<Investigation>> {
        let rows = sqlx::query(
            "SELECT id, repo, service, run_id, run_attempt, head_sha, branch, status, status_reason
             FROM investigations ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Investigation {
                id: r.get("id"),
                repo: r.get("repo"),
                service: r.get("service"),
                run_id: r.get("run_id"),
                run_attempt: r.get("run_attempt"),
                head_sha: r.get("head_sha"),
                branch: r.get("branch"),
                status: r.get("status"),
                status_reason: r.get("status_reason"),
            })
            .collect())
    }

    pub async fn run_jobs(&self, investigation: i64) -> anyhow::Result<Vec<RunJob>> {
        let rows = sqlx::query(
            "SELECT job_id, name, conclusion, failed_steps FROM run_jobs
             WHERE investigation_id = ? ORDER BY job_id",
        )
        .bind(investigation)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(RunJob {
                    job_id: r.get::<i64, _>("job_id") as u64,
                    name: r.get("name"),
                    conclusion: r
                        .get::<Option<String>, _>("conclusion")
                        .map(|c| Conclusion::parse(&c)),
                    failed_steps: serde_json::from_str(&r.get::<String, _>("failed_steps"))?,
                })
            })
            .collect()
    }

    pub async fn record_loop_run(&self, run: &RunRef) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO loop_runs (repo, branch, run_id, run_attempt, conclusion, head_sha, recorded_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repo, run_id, run_attempt) DO NOTHING",
        )
        .bind(run.repo.to_string())
        .bind(&run.branch)
        .bind(run.run_id.0 as i64)
        .bind(run.run_attempt as i64)
        .bind(run.conclusion.map(Conclusion::as_str))
        .bind(&run.head_sha.0)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Runs recorded on `fixpoint/` branches: `(repo, branch, run id, conclusion)`.
    pub async fn loop_runs(&self) -> anyhow::Result<Vec<(String, String, i64, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT repo, branch, run_id, conclusion FROM loop_runs ORDER BY recorded_at, run_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn record_pr_command(&self, cmd: &PrCommand) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO pr_commands (comment_id, repo, pr_number, author, body, status, received_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (comment_id) DO NOTHING",
        )
        .bind(cmd.comment_id as i64)
        .bind(cmd.repo.to_string())
        .bind(cmd.pr_number as i64)
        .bind(&cmd.author)
        .bind(&cmd.body)
        .bind(CommandStatus::Received)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stored `/fixpoint` commands, oldest first: `(comment id, body, status)`.
    pub async fn pr_commands(&self) -> anyhow::Result<Vec<(i64, String, CommandStatus)>> {
        Ok(sqlx::query_as(
            "SELECT comment_id, body, status FROM pr_commands ORDER BY received_at, comment_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
