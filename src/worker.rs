//! The worker pool: claims jobs from the durable queue, keeps their leases alive with
//! heartbeats, and runs each through its handler. A job's steps are journaled
//! (`JobContext::step`), so a job run again after a crash resumes after its last
//! finished step and never repeats an effect.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::config::Settings;
use crate::github::GitHubApp;
use crate::investigation;
use crate::server::events::PrCommand;
use crate::store::investigations::RunRef;
use crate::store::{ClaimedJob, JobKind, Store};

/// How often an idle worker looks for due jobs (retries whose backoff ended, expired leases).
const POLL: Duration = Duration::from_millis(500);

pub struct WorkerPool {
    pub store: Store,
    pub github: GitHubApp,
    pub workers: usize,
    pub lease: Duration,
    pub jobs_ready: Arc<Notify>,
    pub settings: Arc<Settings>,
}

/// What a job handler can reach.
pub struct JobContext {
    pub store: Store,
    pub github: GitHubApp,
    pub job_id: i64,
    pub settings: Arc<Settings>,
}

impl JobContext {
    /// Runs `f` once per job: if this step finished in an earlier attempt, its stored
    /// result is returned and `f` is not called again.
    pub async fn step<T, F, Fut>(&self, name: &str, f: F) -> anyhow::Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        if let Some(done) = self.store.step_result(self.job_id, name).await? {
            tracing::info!(
                step = name,
                "step finished in an earlier attempt; reusing its result"
            );
            return Ok(done);
        }
        let out = f().await.with_context(|| format!("step `{name}` failed"))?;
        self.store.record_step(self.job_id, name, &out).await?;
        Ok(out)
    }
}

impl WorkerPool {
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let host = std::env::var("HOSTNAME")
            .or_else(|_| std::env::var("FLY_MACHINE_ID"))
            .unwrap_or_else(|_| "local".to_string());
        let pool = Arc::new(self);
        let mut set = JoinSet::new();
        for i in 0..pool.workers {
            let owner = format!("{host}:{}:{i}", std::process::id());
            set.spawn(worker_loop(pool.clone(), owner, shutdown.clone()));
        }
        while set.join_next().await.is_some() {}
    }
}

async fn worker_loop(pool: Arc<WorkerPool>, owner: String, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        match pool.store.claim(&owner, pool.lease).await {
            Ok(Some(job)) => run_one(&pool, job).await,
            Ok(None) => {
                tokio::select! {
                    _ = pool.jobs_ready.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "cannot claim a job");
                tokio::time::sleep(POLL * 2).await;
            }
        }
    }
}

async fn run_one(pool: &WorkerPool, job: ClaimedJob) {
    let span =
        tracing::info_span!("job", id = job.id, kind = %job.kind_name, attempt = job.attempts);
    async {
        let ctx = JobContext {
            store: pool.store.clone(),
            github: pool.github.clone(),
            job_id: job.id,
            settings: pool.settings.clone(),
        };
        let result = tokio::select! {
            r = dispatch(&ctx, &job) => r,
            lost = keep_lease(&pool.store, &job, pool.lease) => Err(lost),
        };
        match result {
            Ok(()) => match pool.store.complete(&job).await {
                Ok(true) => tracing::info!("job done"),
                Ok(false) => tracing::warn!("job finished after its lease was taken over"),
                Err(e) => tracing::error!(error = format!("{e:#}"), "cannot mark the job done"),
            },
            Err(e) => {
                let msg = format!("{e:#}");
                tracing::warn!(error = %msg, "job attempt failed");
                if let Err(e) = pool.store.fail(&job, &msg).await {
                    tracing::error!(error = format!("{e:#}"), "cannot record the failed attempt");
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// Heartbeats until the lease is lost; only returns then.
async fn keep_lease(store: &Store, job: &ClaimedJob, lease: Duration) -> anyhow::Error {
    let mut tick = tokio::time::interval(lease / 3);
    tick.tick().await;
    loop {
        tick.tick().await;
        match store.heartbeat(job, lease).await {
            Ok(true) => {}
            Ok(false) => return anyhow::anyhow!("lease lost: another worker took the job over"),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "heartbeat failed; will retry"),
        }
    }
}

async fn dispatch(ctx: &JobContext, job: &ClaimedJob) -> anyhow::Result<()> {
    let payload = job.payload.clone();
    match job.kind {
        Some(JobKind::WorkflowRun) => {
            let run: RunRef =
                serde_json::from_value(payload).context("workflow_run job payload")?;
            investigation::run(ctx, run).await
        }
        Some(JobKind::LoopProgress) => {
            let run: RunRef =
                serde_json::from_value(payload).context("loop_progress job payload")?;
            tracing::info!(repo = %run.repo, branch = %run.branch, run_id = run.run_id, conclusion = %run.conclusion, "run on a fixpoint branch recorded");
            ctx.store.record_loop_run(&run).await
        }
        Some(JobKind::PrCommand) => {
            let cmd: PrCommand =
                serde_json::from_value(payload).context("pr_command job payload")?;
            ctx.store
                .record_pr_command(
                    cmd.comment_id,
                    &cmd.repo,
                    cmd.pr_number,
                    &cmd.author,
                    &cmd.body,
                )
                .await
        }
        None => anyhow::bail!(
            "unknown job kind `{}`: written by a newer Fixpoint?",
            job.kind_name
        ),
    }
}
