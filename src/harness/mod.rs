//! The loop: from a diagnosis to a fix proven in the lower environment.
//!
//! `plan → act → await_ci → await_rollout → verify → test → (healthy: report | not: next
//! iteration | limit: stop)`. Each phase is a function of the stored state that returns
//! where to go next (`Next`); the driver stores that transition before the next effect
//! runs, and every effect is idempotent (derived branch name, commit trailers looked for
//! before a commit is made, PR looked up by head), so a loop killed anywhere resumes
//! without repeating one. Waiting (CI, a rollout, a soak) snoozes the loop's job: no worker
//! is held; a run on the branch wakes it, and a poll covers missed webhooks.
//!
//! - `plans` chooses the fix (typed `FixPlan`s with stable fingerprints, never one that
//!   failed before);
//! - `plan` decides whether to act at all (never blind, never unsure);
//! - `act` commits on `fixpoint/<service>-<run>` or changes the lower environment;
//! - `ci`, `rollout`, `verify`, `probe` wait and judge;
//! - `report` opens the pull request with the debug history.

mod act;
mod ci;
pub mod dry_run;
mod lower_env;
mod plan;
pub mod plans;
mod probe;
mod report;
mod rollout;
pub mod state;
mod verify;
mod workspace;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::Instrument;

use crate::config::ProcessEnv;
use crate::config::repo::RepoConfig;
use crate::diagnose::{DebugContext, Diagnosis};
use crate::domain::{LoopStatus, Phase, RunRef};
use crate::github::auth::Permissions;
use crate::github::guard::FixpointBranch;
use crate::github::{GitHubError, RepoClient};
use crate::jobs::{Job, JobContext, Outcome, branch_wake_key};
use crate::skills::{RunContext, SkillContext};
use crate::store::investigations::Document;
use crate::store::loops::{LoopRow, NewLoop, Opened};
use crate::topology::TopologyGraph;
use state::{Iteration, IterationResult, LoopState};

pub use lower_env::{LowerEnvRefused, LowerEnvService};

/// How often a waiting loop looks again when no webhook woke it.
const CI_POLL: Duration = Duration::from_secs(60);
const ROLLOUT_POLL: Duration = Duration::from_secs(30);

/// Transitions one run of the loop's job may make before it yields its worker (a loop that
/// never waits would otherwise hold it for good).
const MAX_TRANSITIONS: usize = 32;

/// What the investigation hands the loop.
pub struct Start<'a> {
    pub investigation_id: i64,
    pub run: &'a RunRef,
    pub service: &'a str,
    pub config: &'a RepoConfig,
    pub maps: &'a BTreeMap<String, String>,
    pub topology: &'a str,
    pub first_unhealthy: Vec<String>,
    pub diagnosis: &'a Diagnosis,
}

/// Opens the investigation's loop and queues its job; a service whose loop is running gets
/// the run recorded on that loop instead ("seen again at <sha>").
pub async fn start(ctx: &JobContext, s: Start<'_>) -> anyhow::Result<Opened> {
    let branch = FixpointBranch::for_run(s.service, s.run.run_id.0)
        .map_err(|e| anyhow::anyhow!("cannot name the loop's branch: {e}"))?;
    let mut current = Iteration::new(1);
    current.diagnosis = Some(s.diagnosis.clone());
    let state = LoopState {
        run: s.run.clone(),
        service: s.service.to_string(),
        config: s.config.clone(),
        maps: s.maps.clone(),
        topology: s.topology.to_string(),
        first_unhealthy: s.first_unhealthy,
        head: s.run.head_sha.clone(),
        current,
        last: None,
        history: DebugContext {
            service: s.service.to_string(),
            iteration: 1,
            history: Vec::new(),
        },
    };
    let opened = ctx
        .store
        .open_loop(&NewLoop {
            investigation_id: s.investigation_id,
            repo: &s.run.repo,
            installation_id: s.run.installation_id.0,
            service: s.service,
            branch: branch.as_str(),
            run_id: s.run.run_id.0,
            head_sha: &s.run.head_sha.0,
            state: &state,
        })
        .await?;
    if let Opened::Mine(id) = opened {
        let job = Job::FixLoop { loop_id: id };
        ctx.enqueue(&job, job.dedupe_key(), Duration::ZERO).await?;
    }
    Ok(opened)
}

/// Where a phase sends the loop.
#[derive(Debug)]
pub(crate) enum Next {
    Go(Phase),
    /// Snooze until `until`, or until a run on the branch arrives when `wake` is set.
    Wait {
        until: DateTime<Utc>,
        wake: bool,
    },
    /// The iteration is judged; the driver records it and starts the next one, or stops.
    Judged(IterationResult),
    /// The loop ends with this status and reason.
    End(LoopStatus, String),
}

/// What every phase reaches. The stored maps are loaded once per run of the loop's job,
/// not in every phase (a waiting loop runs again at every poll).
pub(crate) struct Env<'a> {
    pub ctx: &'a JobContext,
    pub client: RepoClient,
    pub branch: FixpointBranch,
    pub loop_id: i64,
    pub repo: String,
    pub graph: TopologyGraph,
    /// The root service's ECS service; `Err` when one of its names means production.
    pub ecs: Option<Result<LowerEnvService, LowerEnvRefused>>,
}

impl Env<'_> {
    /// How long a waiting loop sleeps before it looks again (`default` unless the
    /// operator set `FIXPOINT_LOOP_POLL_SECS`).
    pub fn poll(&self, default: Duration) -> Duration {
        self.ctx.settings.loop_poll.unwrap_or(default)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.ctx.now()
    }

    pub fn after(&self, wait: Duration) -> DateTime<Utc> {
        self.now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
    }

    /// What the skills reach for this repository, reading from `since` (and `run`'s logs).
    pub fn skills(&self, since: DateTime<Utc>, run: Option<RunContext>) -> SkillContext {
        SkillContext::for_repository(
            since,
            run,
            Arc::new(ProcessEnv),
            &self.ctx.settings.sweep,
            &self.repo,
        )
    }

    /// A failed run of this repository, for the `gha` skill to read.
    pub fn run_context(&self, run_id: u64, attempt: u64) -> RunContext {
        RunContext {
            github: self.client.clone(),
            run_id,
            attempt,
        }
    }
}

/// What the loop may do on GitHub: write its branch and PR, read runs (write them too when
/// it dispatches the deploy).
fn permissions(config: &RepoConfig) -> Permissions {
    let actions = match config.deploy.trigger {
        crate::config::fixing::Trigger::Dispatch => "write",
        crate::config::fixing::Trigger::Push => "read",
    };
    Permissions::new(&[
        ("actions", actions),
        ("contents", "write"),
        ("metadata", "read"),
        ("pull_requests", "write"),
    ])
}

/// Why the loop cannot go on when GitHub refuses the token for what it asks (permissions the
/// installation does not grant, a repository it no longer covers): retrying cannot change
/// that, a person must. `None` for any other error.
fn not_granted(e: &anyhow::Error, config: &RepoConfig) -> Option<String> {
    let refused = e
        .chain()
        .find_map(|c| c.downcast_ref::<GitHubError>())
        .filter(|g| matches!(g, GitHubError::Token { .. }) && g.is_permanent())?;
    let wanted: Vec<String> = permissions(config)
        .0
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let dispatch = match config.deploy.trigger {
        crate::config::fixing::Trigger::Dispatch => {
            " (`deploy.trigger: dispatch` needs `actions: write`: raise it in the App's settings and accept it on the installation, or deploy on pushes to `fixpoint/**` instead)"
        }
        crate::config::fixing::Trigger::Push => "",
    };
    Some(format!(
        "{refused}: the loop needs {} on this repository{dispatch}",
        wanted.join(", ")
    ))
}

/// One run of the loop's job: advance through phases until the loop waits or ends.
pub async fn run(ctx: &JobContext, loop_id: i64) -> anyhow::Result<Outcome> {
    let row: LoopRow<LoopState> = ctx.store.load_loop(loop_id).await?;
    let span = tracing::info_span!("loop", id = loop_id, repo = %row.repo, service = %row.service);
    drive(ctx, row).instrument(span).await
}

async fn drive(ctx: &JobContext, mut row: LoopRow<LoopState>) -> anyhow::Result<Outcome> {
    if row.status != LoopStatus::Active {
        tracing::info!(status = %row.status, "loop not active; nothing to do");
        return Ok(Outcome::Done);
    }
    let branch = FixpointBranch::new(&row.branch)
        .map_err(|e| anyhow::anyhow!("loop {} has an unusable branch: {e}", row.id))?;
    let graph = TopologyGraph::load_fetched(
        &row.state.maps,
        &row.state.topology,
        row.state.config.topology_depth,
        &ctx.settings.production_names,
    )
    .map_err(|e| anyhow::anyhow!("the stored topology map no longer loads: {}", e.problem()))?;
    let ecs = LowerEnvService::of(&graph, &ctx.settings.production_names);
    let env = Env {
        ctx,
        client: ctx.github.repo(
            row.state.run.installation_id,
            row.state.run.repo.clone(),
            permissions(&row.state.config),
        ),
        branch,
        loop_id: row.id,
        repo: row.state.run.repo.to_string(),
        graph,
        ecs,
    };
    for _ in 0..MAX_TRANSITIONS {
        let phase = row.phase;
        let stepped = match phase {
            // Boxed: the planner's future (sweep, model, catalogue) is deep enough that
            // inlining it into the worker's future overflows the compiler's layout limit.
            Phase::Plan => Box::pin(plan::plan(&env, &mut row.state)).await,
            Phase::Act => act::act(&env, &mut row.state).await,
            Phase::AwaitCi => ci::await_deploy(&env, &mut row.state).await,
            Phase::AwaitRollout => rollout::await_rollout(&env, &mut row.state).await,
            Phase::Verify => verify::verify(&env, &mut row.state).await,
            Phase::Test => probe::test(&env, &mut row.state).await,
            Phase::Report => report::report(&env, &mut row).await,
            Phase::Done => return Ok(Outcome::Done),
        };
        let next = match stepped {
            Ok(next) => next,
            Err(e) => match not_granted(&e, &row.state.config) {
                Some(why) => Next::End(LoopStatus::Failed, why),
                None => return Err(e),
            },
        };
        tracing::info!(%phase, iteration = row.iteration, next = ?next, "loop step");
        match next {
            Next::Go(to) => {
                row.phase = to;
                ctx.store.save_loop(&row).await?;
            }
            Next::Wait { until, wake } => {
                ctx.store.save_loop(&row).await?;
                return Ok(Outcome::Snooze {
                    until,
                    wake_key: wake.then(|| branch_wake_key(&row.state.run.repo, &row.branch)),
                });
            }
            Next::Judged(result) => {
                judged(ctx, &mut row, result).await?;
            }
            Next::End(status, why) => {
                tracing::info!(%status, reason = %why, "loop ended");
                stopped_in(ctx, &mut row, &why).await?;
                row.status = status;
                row.phase = Phase::Done;
                row.status_reason = Some(why);
                ctx.store.save_loop(&row).await?;
                return Ok(Outcome::Done);
            }
        }
    }
    // Many transitions without a wait: give the worker back and go on right away.
    Ok(Outcome::Snooze {
        until: ctx.now(),
        wake_key: None,
    })
}

/// Records an iteration's result in the debug history and decides what follows: the PR,
/// the next iteration, or the stop at `max_iterations`.
async fn judged(
    ctx: &JobContext,
    row: &mut LoopRow<LoopState>,
    result: IterationResult,
) -> anyhow::Result<()> {
    let healthy = result == IterationResult::Healthy;
    row.state.current.result = Some(result);
    let gha = (!row.state.current.ci_runs.is_empty()).then(|| row.state.current.ci_runs.join(", "));
    let entry = state::history_entry(&row.state.current, gha);
    row.state.history.history.push(entry);
    row.state.history.iteration = row.state.current.number;
    ctx.store
        .set_investigation_document(
            row.investigation_id,
            Document::DebugContext,
            &row.state.history,
        )
        .await?;
    let limit = row.state.config.max_iterations;
    if healthy {
        row.phase = Phase::Report;
    } else if row.state.current.number >= limit {
        row.status = LoopStatus::StoppedAtLimit;
        row.phase = Phase::Done;
        row.status_reason = Some(format!(
            "{limit} iteration(s) without a verified fix (max_iterations: {limit}); last: {}",
            row.state
                .history
                .history
                .last()
                .map(|e| e.result.as_str())
                .unwrap_or_default()
        ));
    } else {
        let next = row.state.current.number + 1;
        let done = std::mem::replace(&mut row.state.current, Iteration::new(next));
        row.state.last = Some(done);
        row.iteration = next;
        row.phase = Phase::Plan;
    }
    ctx.store.save_loop(row).await
}

/// An iteration the loop stopped in before it was judged (unsure, no fix, refused) still
/// goes into the history people read, with what it found and why it stopped.
async fn stopped_in(
    ctx: &JobContext,
    row: &mut LoopRow<LoopState>,
    why: &str,
) -> anyhow::Result<()> {
    let current = &row.state.current;
    if current.result.is_some() || current.diagnosis.is_none() {
        return Ok(());
    }
    let mut entry = state::history_entry(current, None);
    entry.result = format!("stopped: {why}");
    entry.outcome = crate::diagnose::IterationOutcome::Aborted;
    row.state.history.history.push(entry);
    ctx.store
        .set_investigation_document(
            row.investigation_id,
            Document::DebugContext,
            &row.state.history,
        )
        .await
}
