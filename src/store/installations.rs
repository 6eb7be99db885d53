//! Which accounts and repositories the App is installed on, kept from the
//! `installation` and `installation_repositories` events.

use sqlx::SqliteConnection;

use super::{Store, now_ms};
use crate::ids::{InstallationId, RepoName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallationChange {
    /// Created, unsuspended or permissions accepted: active with these repositories
    /// (`None` leaves the known list as it is).
    Active {
        id: InstallationId,
        account: String,
        repos: Option<Vec<RepoName>>,
    },
    Suspended {
        id: InstallationId,
        account: String,
    },
    Deleted {
        id: InstallationId,
        account: String,
    },
    ReposChanged {
        id: InstallationId,
        account: String,
        added: Vec<RepoName>,
        removed: Vec<RepoName>,
    },
}

pub(crate) async fn apply(
    conn: &mut SqliteConnection,
    change: &InstallationChange,
) -> anyhow::Result<()> {
    let (id, account, state) = match change {
        InstallationChange::Active { id, account, .. }
        | InstallationChange::ReposChanged { id, account, .. } => (id, account, "active"),
        InstallationChange::Suspended { id, account } => (id, account, "suspended"),
        InstallationChange::Deleted { id, account } => (id, account, "deleted"),
    };
    sqlx::query(
        "INSERT INTO installations (installation_id, account, state, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (installation_id) DO UPDATE SET account = excluded.account,
           state = excluded.state, updated_at = excluded.updated_at",
    )
    .bind(id.0 as i64)
    .bind(account)
    .bind(state)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    let (replace, added, removed): (bool, &[RepoName], &[RepoName]) = match change {
        InstallationChange::Active {
            repos: Some(repos), ..
        } => (true, repos, &[]),
        InstallationChange::Deleted { .. } => (true, &[], &[]),
        InstallationChange::ReposChanged { added, removed, .. } => (false, added, removed),
        _ => (false, &[], &[]),
    };
    if replace {
        sqlx::query("DELETE FROM installation_repos WHERE installation_id = ?")
            .bind(id.0 as i64)
            .execute(&mut *conn)
            .await?;
    }
    for repo in added {
        sqlx::query(
            "INSERT OR IGNORE INTO installation_repos (installation_id, repo) VALUES (?, ?)",
        )
        .bind(id.0 as i64)
        .bind(repo.to_string())
        .execute(&mut *conn)
        .await?;
    }
    for repo in removed {
        sqlx::query("DELETE FROM installation_repos WHERE installation_id = ? AND repo = ?")
            .bind(id.0 as i64)
            .bind(repo.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl Store {
    /// The repositories an active installation covers, sorted.
    pub async fn installed_repos(&self, id: InstallationId) -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT r.repo FROM installation_repos r JOIN installations i USING (installation_id)
             WHERE r.installation_id = ? AND i.state = 'active' ORDER BY r.repo",
        )
        .bind(id.0 as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn installation_state(&self, id: InstallationId) -> anyhow::Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT state FROM installations WHERE installation_id = ?")
                .bind(id.0 as i64)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
