//! Recording a verified delivery and its effect in one transaction, so that a
//! delivery acknowledged with 202 is always durably stored, and a delivery seen
//! twice (a redelivery, or two concurrent requests) has its effect once.

use anyhow::Context;

use super::installations::{self, InstallationChange};
use super::jobs::{self, NewJob};
use super::{Store, now_ms};

/// What storing a delivery should do besides remembering it.
#[derive(Debug, Clone)]
pub enum Effect {
    Job(NewJob),
    Installation(InstallationChange),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Stored for the first time; `job_id` when it queued (or joined) a job.
    Accepted { job_id: Option<i64> },
    /// The same delivery GUID was stored before: nothing done.
    DuplicateDelivery,
    /// A new delivery about something already queued (same repo, run id and attempt).
    DuplicateJob { job_id: i64 },
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub repo: Option<String>,
}

impl Store {
    /// Runs to completion even if the caller goes away (a client hanging up on the
    /// webhook): see `super::detached`.
    pub async fn ingest(
        &self,
        delivery: Delivery,
        effect: Effect,
        max_attempts: u32,
    ) -> anyhow::Result<Ingested> {
        let store = self.clone();
        super::detached(async move { store.ingest_now(&delivery, &effect, max_attempts).await })
            .await
    }

    async fn ingest_now(
        &self,
        delivery: &Delivery,
        effect: &Effect,
        max_attempts: u32,
    ) -> anyhow::Result<Ingested> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("cannot start a transaction")?;
        let fresh = sqlx::query(
            "INSERT INTO deliveries (delivery_id, event, action, repo, outcome, received_at)
             VALUES (?, ?, ?, ?, 'accepted', ?) ON CONFLICT (delivery_id) DO NOTHING",
        )
        .bind(&delivery.delivery_id)
        .bind(&delivery.event)
        .bind(&delivery.action)
        .bind(&delivery.repo)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .context("cannot record the delivery")?;
        if fresh.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Ingested::DuplicateDelivery);
        }
        let outcome = match effect {
            Effect::Job(job) => {
                let (job_id, created) = jobs::insert(&mut tx, job, max_attempts).await?;
                sqlx::query("UPDATE deliveries SET job_id = ?, outcome = ? WHERE delivery_id = ?")
                    .bind(job_id)
                    .bind(if created { "accepted" } else { "duplicate" })
                    .bind(&delivery.delivery_id)
                    .execute(&mut *tx)
                    .await?;
                if created {
                    Ingested::Accepted {
                        job_id: Some(job_id),
                    }
                } else {
                    Ingested::DuplicateJob { job_id }
                }
            }
            Effect::Installation(change) => {
                installations::apply(&mut tx, change).await?;
                Ingested::Accepted { job_id: None }
            }
        };
        tx.commit().await.context("cannot commit the delivery")?;
        Ok(outcome)
    }
}
