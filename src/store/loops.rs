//! Fix loops: one row per loop with its typed state (JSON, owned by `harness::state`), and
//! the red deploys seen while a loop held its service. At most one loop per service is open
//! (active or paused): the table's partial unique index says so, so two workers racing to
//! open one cannot both win.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::Store;
use crate::domain::{LoopStatus, Phase, RepoName};

/// A loop as stored.
#[derive(Debug, Clone)]
pub struct LoopRow<S> {
    pub id: i64,
    pub investigation_id: i64,
    pub repo: String,
    pub service: String,
    pub branch: String,
    pub status: LoopStatus,
    pub phase: Phase,
    pub iteration: u32,
    pub status_reason: Option<String>,
    pub pr_number: Option<u64>,
    pub state: S,
}

/// What opening a loop for an investigation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Opened {
    /// This investigation's loop (new, or opened by an earlier attempt of the same step).
    Mine(i64),
    /// Another investigation's loop holds the service; this run was recorded on it.
    Busy(i64),
}

/// The loop to open.
pub struct NewLoop<'a, S> {
    pub investigation_id: i64,
    pub repo: &'a RepoName,
    pub installation_id: u64,
    pub service: &'a str,
    pub branch: &'a str,
    pub run_id: u64,
    pub head_sha: &'a str,
    pub state: &'a S,
}

impl Store {
    /// Opens the investigation's loop, unless another loop holds the service: then the run
    /// is recorded on that one ("seen again at <sha>") and `Busy` names it.
    pub async fn open_loop<S: Serialize>(&self, new: &NewLoop<'_, S>) -> anyhow::Result<Opened> {
        let now = self.now_ms();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mine: Option<i64> =
            sqlx::query_scalar("SELECT id FROM loops WHERE investigation_id = ?")
                .bind(new.investigation_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(id) = mine {
            return Ok(Opened::Mine(id));
        }
        let holder: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM loops WHERE repo = ? AND service = ? AND status IN ('active', 'paused')",
        )
        .bind(new.repo.to_string())
        .bind(new.service)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = holder {
            sqlx::query(
                "INSERT INTO loop_sightings (loop_id, run_id, head_sha, seen_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (loop_id, run_id) DO NOTHING",
            )
            .bind(id)
            .bind(new.run_id as i64)
            .bind(new.head_sha)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Opened::Busy(id));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO loops (investigation_id, repo, installation_id, service, branch, status,
               phase, iteration, state, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?) RETURNING id",
        )
        .bind(new.investigation_id)
        .bind(new.repo.to_string())
        .bind(new.installation_id as i64)
        .bind(new.service)
        .bind(new.branch)
        .bind(LoopStatus::Active)
        .bind(Phase::Plan)
        .bind(serde_json::to_string(new.state)?)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Opened::Mine(id))
    }

    pub async fn load_loop<S: DeserializeOwned>(&self, id: i64) -> anyhow::Result<LoopRow<S>> {
        let row = sqlx::query(&format!("{SELECT_LOOP} WHERE id = ?"))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        loop_row(&row)
    }

    /// Stores a transition: the phase the loop is at, its status, and its state.
    pub async fn save_loop<S: Serialize>(&self, row: &LoopRow<S>) -> anyhow::Result<()> {
        let (store, id) = (self.clone(), row.id);
        let (status, phase, iteration) = (row.status, row.phase, row.iteration as i64);
        let reason = row.status_reason.clone();
        let pr = row.pr_number.map(|n| n as i64);
        let state = serde_json::to_string(&row.state)?;
        // Finished even if the job's future is dropped: a transition half-seen is the one
        // thing a resumable loop cannot afford.
        super::detached(async move {
            sqlx::query(
                "UPDATE loops SET status = ?, phase = ?, iteration = ?, status_reason = ?,
                   pr_number = ?, state = ?, updated_at = ? WHERE id = ?",
            )
            .bind(status)
            .bind(phase)
            .bind(iteration)
            .bind(reason)
            .bind(pr)
            .bind(state)
            .bind(store.now_ms())
            .bind(id)
            .execute(&store.pool)
            .await?;
            Ok(())
        })
        .await
    }

    /// Every loop, oldest first, state left as JSON (for status pages and tests).
    pub async fn loops(&self) -> anyhow::Result<Vec<LoopRow<serde_json::Value>>> {
        sqlx::query(&format!("{SELECT_LOOP} ORDER BY id"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(loop_row)
            .collect()
    }

    /// Red deploys recorded on a loop while it held the service: `(run id, head SHA)`.
    pub async fn loop_sightings(&self, loop_id: i64) -> anyhow::Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT run_id, head_sha FROM loop_sightings WHERE loop_id = ? ORDER BY seen_at, run_id",
        )
        .bind(loop_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

const SELECT_LOOP: &str = "SELECT id, investigation_id, repo, service, branch, status, phase, \
     iteration, status_reason, pr_number, state FROM loops";

fn loop_row<S: DeserializeOwned>(row: &sqlx::sqlite::SqliteRow) -> anyhow::Result<LoopRow<S>> {
    Ok(LoopRow {
        id: row.get("id"),
        investigation_id: row.get("investigation_id"),
        repo: row.get("repo"),
        service: row.get("service"),
        branch: row.get("branch"),
        status: row.get("status"),
        phase: row.get("phase"),
        iteration: row.get::<i64, _>("iteration") as u32,
        status_reason: row.get("status_reason"),
        pr_number: row.get::<Option<i64>, _>("pr_number").map(|n| n as u64),
        state: serde_json::from_str(&row.get::<String, _>("state"))?,
    })
}
