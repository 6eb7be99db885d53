//! What a job's handler can reach, and what it can ask of the queue.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use super::Job;
use crate::config::Settings;
use crate::github::GitHubApp;
use crate::store::Store;

/// How a handler's run ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job is finished.
    Done,
    /// Waiting on something outside (CI, a rollout): run again at `until`, or earlier
    /// when work stored under `wake_key` arrives. Holds no worker, costs no attempt.
    Snooze {
        until: DateTime<Utc>,
        wake_key: Option<String>,
    },
}

pub struct JobContext {
    pub store: Store,
    pub github: GitHubApp,
    pub settings: Arc<Settings>,
    pub job_id: i64,
    /// Attempts a job enqueued from here gets.
    pub max_attempts: u32,
    /// Wakes an idle worker when this job enqueues work.
    pub jobs_ready: Arc<Notify>,
}

impl JobContext {
    pub fn now(&self) -> DateTime<Utc> {
        self.store.clock().now()
    }

    /// Runs `f` once per job: if this step finished in an earlier attempt, its stored
    /// result is returned and `f` is not called again.
    pub async fn step<T, F, Fut>(&self, name: &str, f: F) -> anyhow::Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        self.step_in(0, name, f).await
    }

    /// As `step`, keyed by a loop's iteration too, so iteration 2's `commit` never
    /// reuses iteration 1's.
    pub async fn step_in<T, F, Fut>(&self, iteration: u32, name: &str, f: F) -> anyhow::Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        if let Some(done) = self.store.step_result(self.job_id, iteration, name).await? {
            tracing::info!(
                step = name,
                iteration,
                "step finished in an earlier attempt; reusing its result"
            );
            return Ok(done);
        }
        let out = f().await.with_context(|| format!("step `{name}` failed"))?;
        self.store
            .record_step(self.job_id, iteration, name, &out)
            .await?;
        Ok(out)
    }

    /// Queues `job` to run after `delay`, under `dedupe_key`; `false` when a job with that
    /// key exists already.
    pub async fn enqueue(
        &self,
        job: &Job,
        dedupe_key: String,
        delay: Duration,
    ) -> anyhow::Result<bool> {
        let run_at =
            self.store.clock().now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        let (_, created) = self
            .store
            .enqueue(job.to_row(dedupe_key), run_at, self.max_attempts)
            .await?;
        self.jobs_ready.notify_one();
        Ok(created)
    }
}
