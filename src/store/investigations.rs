//! Investigations (one per failed deploy run attempt), the failed run's jobs, runs on
//! `fixpoint/` branches, and `/fixpoint` commands waiting for the command grammar.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Store, now_ms};

/// What the `workflow_run` job knows about the failed run when it opens an investigation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRef {
    pub repo: String,
    pub installation_id: u64,
    pub workflow: String,
    pub workflow_path: Option<String>,
    pub run_id: u64,
    pub run_attempt: u64,
    pub head_sha: String,
    pub branch: String,
    pub conclusion: String,
    pub default_branch: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Investigation {
    pub id: i64,
    pub repo: String,
    pub service: Option<String>,
    pub run_id: i64,
    pub run_attempt: i64,
    pub head_sha: String,
    pub branch: String,
    pub status: String,
    pub status_reason: Option<String>,
}

/// The JSON documents stored with an investigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    Sweep,
    Diagnosis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunJob {
    pub job_id: u64,
    pub name: String,
    pub conclusion: Option<String>,
    pub failed_steps: Vec<String>,
}

impl Store {
    /// Opens the investigation for this run attempt, or returns the one already open.
    pub async fn open_investigation(&self, run: &RunRef) -> anyhow::Result<i64> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO investigations (repo, installation_id, workflow, run_id, run_attempt,
               head_sha, branch, conclusion, status, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'received', ?, ?)
             ON CONFLICT (repo, run_id, run_attempt) DO NOTHING",
        )
        .bind(&run.repo)
        .bind(run.installation_id as i64)
        .bind(&run.workflow)
        .bind(run.run_id as i64)
        .bind(run.run_attempt as i64)
        .bind(&run.head_sha)
        .bind(&run.branch)
        .bind(&run.conclusion)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_scalar(
            "SELECT id FROM investigations WHERE repo = ? AND run_id = ? AND run_attempt = ?",
        )
        .bind(&run.repo)
        .bind(run.run_id as i64)
        .bind(run.run_attempt as i64)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn set_investigation_status(
        &self,
        id: i64,
        status: &str,
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
        .bind(now_ms())
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
        };
        sqlx::query(sql)
            .bind(serde_json::to_string(value)?)
            .bind(now_ms())
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
            .bind(&job.conclusion)
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
                    conclusion: r.get("conclusion"),
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
        .bind(&run.repo)
        .bind(&run.branch)
        .bind(run.run_id as i64)
        .bind(run.run_attempt as i64)
        .bind(&run.conclusion)
        .bind(&run.head_sha)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn record_pr_command(
        &self,
        comment_id: u64,
        repo: &str,
        pr_number: u64,
        author: &str,
        body: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO pr_commands (comment_id, repo, pr_number, author, body, status, received_at)
             VALUES (?, ?, ?, ?, ?, 'received', ?) ON CONFLICT (comment_id) DO NOTHING",
        )
        .bind(comment_id as i64)
        .bind(repo)
        .bind(pr_number as i64)
        .bind(author)
        .bind(body)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
