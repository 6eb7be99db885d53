//! Which accounts and repositories the App is installed on, kept from the
//! `installation` and `installation_repositories` events.

use rusqlite::params;

use super::Store;
use crate::domain::{InstallationChange, InstallationId, InstallationState, RepoName};

/// Applies the change inside the delivery writer's transaction (`super::deliveries`).
pub(crate) fn apply(
    conn: &rusqlite::Connection,
    change: &InstallationChange,
    now: i64,
) -> anyhow::Result<()> {
    let (id, account, state) = match change {
        InstallationChange::Active { id, account, .. }
        | InstallationChange::ReposChanged { id, account, .. } => {
            (id, account, InstallationState::Active)
        }
        InstallationChange::Suspended { id, account } => {
            (id, account, InstallationState::Suspended)
        }
        InstallationChange::Deleted { id, account } => (id, account, InstallationState::Deleted),
    };
    let id = id.0 as i64;
    conn.prepare_cached(
        "INSERT INTO installations (installation_id, account, state, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (installation_id) DO UPDATE SET account = excluded.account,
           state = excluded.state, updated_at = excluded.updated_at",
    )?
    .execute(params![id, account, state.as_str(), now])?;
    let (replace, added, removed): (bool, &[RepoName], &[RepoName]) = match change {
        InstallationChange::Active {
            repos: Some(repos), ..
        } => (true, repos, &[]),
        InstallationChange::Deleted { .. } => (true, &[], &[]),
        InstallationChange::ReposChanged { added, removed, .. } => (false, added, removed),
        _ => (false, &[], &[]),
    };
    if replace {
        conn.prepare_cached("DELETE FROM installation_repos WHERE installation_id = ?")?
            .execute([id])?;
    }
    for repo in added {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO installation_repos (installation_id, repo) VALUES (?, ?)",
        )?
        .execute(params![id, repo.to_string()])?;
    }
    for repo in removed {
        conn.prepare_cached(
            "DELETE FROM installation_repos WHERE installation_id = ? AND repo = ?",
        )?
        .execute(params![id, repo.to_string()])?;
    }
    Ok(())
}

impl Store {
    /// The repositories an active installation covers, sorted.
    pub async fn installed_repos(&self, id: InstallationId) -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT r.repo FROM installation_repos r JOIN installations i USING (installation_id)
             WHERE r.installation_id = ? AND i.state = ? ORDER BY r.repo",
        )
        .bind(id.0 as i64)
        .bind(InstallationState::Active)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn installation_state(
        &self,
        id: InstallationId,
    ) -> anyhow::Result<Option<InstallationState>> {
        Ok(
            sqlx::query_scalar("SELECT state FROM installations WHERE installation_id = ?")
                .bind(id.0 as i64)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
