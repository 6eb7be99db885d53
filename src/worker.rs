//! The worker pool: claims jobs from the durable queue, keeps their leases alive with
//! heartbeats, and runs each through its handler (`dispatch`, a plain match on `Job`).
//! A job's steps are journaled (`JobContext::step`), so a job run again after a crash
//! resumes after its last finished step and never repeats an effect; a handler that
//! waits snoozes (`Outcome::Snooze`) and gives its worker back.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::config::Settings;
use crate::github::GitHubApp;
use crate::harness;
use crate::investigation;
use crate::jobs::{Job, JobContext, Outcome};
use crate::store::{ClaimedJob, Store};

/// How often an idle worker looks for due jobs (retries whose backoff ended, expired leases).
const POLL: Duration = Duration::from_millis(500);

pub struct WorkerPool {
    pub store: Store,
    pub github: GitHubApp,
    pub workers: usize,
    pub lease: Duration,
    pub max_attempts: u32,
    pub jobs_ready: Arc<Notify>,
    pub settings: Arc<Settings>,
    /// Told each time a job's run ends; an operator's dashboard or a test waits on it
    /// instead of polling the queue.
    pub observer: Option<broadcast::Sender<JobRunEnded>>,
}

/// How one run of a job ended, as the observer hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRunEnded {
    pub job_id: i64,
    pub kind: String,
    pub ended: Ended,
    /// How long the run took, from its claim to its end: the work a job does, without the
    /// time it spent snoozed or queued (what an operator sums to see a loop's own cost).
    pub ran: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Done,
    Snoozed,
    /// The attempt failed; the queue retries it or, out of attempts, gives it up.
    Failed(String),
    /// Another worker holds the job now (this one lost its lease).
    LostLease,
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
    let span = tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
    let began = std::time::Instant::now();
    async {
        let ctx = JobContext {
            store: pool.store.clone(),
            github: pool.github.clone(),
            settings: pool.settings.clone(),
            job_id: job.id,
            max_attempts: pool.max_attempts,
            jobs_ready: pool.jobs_ready.clone(),
        };
        let result = match Job::from_row(job.id, &job.kind, &job.payload) {
            Ok(typed) => tokio::select! {
                r = dispatch(&ctx, typed) => r,
                lost = keep_lease(&pool.store, &job, pool.lease) => Err(lost),
            },
            Err(unreadable) => Err(unreadable.into()),
        };
        let ended = match result {
            Ok(Outcome::Done) => match pool.store.complete(&job).await {
                Ok(true) => {
                    tracing::info!("job done");
                    Ended::Done
                }
                Ok(false) => {
                    tracing::warn!("job finished after its lease was taken over");
                    Ended::LostLease
                }
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "cannot mark the job done");
                    Ended::Failed(format!("{e:#}"))
                }
            },
            Ok(Outcome::Snooze { until, wake_key }) => {
                match pool
                    .store
                    .snooze(&job, until.timestamp_millis(), wake_key.as_deref())
                    .await
                {
                    Ok(true) => {
                        tracing::info!(%until, wake_key, "job snoozed");
                        Ended::Snoozed
                    }
                    Ok(false) => {
                        tracing::warn!("job snoozed after its lease was taken over");
                        Ended::LostLease
                    }
                    Err(e) => {
                        tracing::error!(error = format!("{e:#}"), "cannot snooze the job");
                        Ended::Failed(format!("{e:#}"))
                    }
                }
            }
            Err(e) => {
                let msg = format!("{e:#}");
                tracing::warn!(error = %msg, "job attempt failed");
                if let Err(e) = pool.store.fail(&job, &msg).await {
                    tracing::error!(error = format!("{e:#}"), "cannot record the failed attempt");
                }
                Ended::Failed(msg)
            }
        };
        if let Some(observer) = &pool.observer {
            // Nobody listening is fine: the observer is optional.
            let _ = observer.send(JobRunEnded {
                job_id: job.id,
                kind: job.kind.clone(),
                ended,
                ran: began.elapsed(),
            });
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

async fn dispatch(ctx: &JobContext, job: Job) -> anyhow::Result<Outcome> {
    match job {
        Job::WorkflowRun(run) => investigation::run(ctx, run).await,
        Job::LoopProgress(run) => {
            tracing::info!(repo = %run.repo, branch = %run.branch, run_id = %run.run_id, conclusion = ?run.conclusion, "run on a fixpoint branch recorded");
            ctx.store.record_loop_run(&run).await?;
            Ok(Outcome::Done)
        }
        Job::PrCommand(cmd) => {
            ctx.store.record_pr_command(&cmd).await?;
            Ok(Outcome::Done)
        }
        Job::FixLoop { loop_id } => harness::run(ctx, loop_id).await,
    }
}
