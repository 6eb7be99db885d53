//! The `workflow_run` job: one investigation per failed deploy run attempt.
//!
//! Today it opens the investigation, reads `.github/fixpoint.yml` at the failing
//! commit, decides whether this run is a deploy Fixpoint covers, and collects the
//! failed run's jobs and failed steps, fetches the service's topology maps at that
//! commit and sweeps them. The diagnosis builds on the stored sweep.

mod maps;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::config::ProcessEnv;
use crate::diagnose::{self, DebugContext, Engine};
use crate::harness;
use crate::skills::{RunContext, SkillContext, Status};
use crate::store::investigations::Document;
use crate::sweep::{self, SweepOptions};
use crate::topology::TopologyGraph;

use crate::config::repo::{self, RepoConfig};
use crate::domain::{Conclusion, InvestigationStatus, RunRef};
use crate::github::GitHubError;
use crate::github::auth::Permissions;
use crate::jobs::{JobContext, Outcome};
use crate::store::investigations::RunJob;

/// What the repository's config said, as stored in the job's journal.
#[derive(Debug, Serialize, Deserialize)]
enum ConfigOutcome {
    Loaded(Box<RepoConfig>),
    Missing,
    Invalid(String),
}

pub async fn run(ctx: &JobContext, run: RunRef) -> anyhow::Result<Outcome> {
    let span = tracing::info_span!("investigation", repo = %run.repo, run_id = %run.run_id, attempt = run.run_attempt);
    investigate(ctx, run).instrument(span).await?;
    Ok(Outcome::Done)
}

async fn investigate(ctx: &JobContext, run: RunRef) -> anyhow::Result<()> {
    let store = &ctx.store;
    let id = ctx
        .step("open_investigation", || store.open_investigation(&run))
        .await?;
    let client = ctx.github.repo(
        run.installation_id,
        run.repo.clone(),
        Permissions::investigate(),
    );

    let config = ctx
        .step("read_repo_config", || async {
            Ok(match client.read_file(repo::PATH, &run.head_sha.0).await {
                Ok(None) => ConfigOutcome::Missing,
                Ok(Some(text)) => parse_config(text).await,
                Err(e) => return Err(classify(e)),
            })
        })
        .await;
    let config = match config {
        Ok(c) => c,
        Err(e) => return give_up_if_permanent(ctx, id, e).await,
    };
    let config = match config {
        ConfigOutcome::Loaded(c) => *c,
        ConfigOutcome::Missing => {
            let why = format!(
                "no {} at {}: add one (see docs/fixpoint.example.yml) for Fixpoint to debug this repository's deploys",
                repo::PATH,
                short(&run.head_sha.0)
            );
            return not_started(ctx, id, &why).await;
        }
        ConfigOutcome::Invalid(why) => return not_started(ctx, id, &why).await,
    };
    if let Some(why) = config.not_covered(
        &run.workflow,
        run.workflow_path.as_deref(),
        &run.branch,
        run.default_branch.as_deref(),
    ) {
        return not_started(ctx, id, &why).await;
    }
    let service = std::path::Path::new(&config.topology)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned());

    let jobs = ctx
        .step("fetch_run_jobs", || async {
            let jobs = client
                .list_run_jobs(run.run_id, run.run_attempt)
                .await
                .map_err(classify)?;
            Ok(jobs
                .into_iter()
                .map(|j| RunJob {
                    job_id: j.id,
                    failed_steps: j.failed_steps(),
                    name: j.name,
                    conclusion: j.conclusion,
                })
                .collect::<Vec<_>>())
        })
        .await;
    let jobs = match jobs {
        Ok(j) => j,
        Err(e) => return give_up_if_permanent(ctx, id, e).await,
    };
    store.record_run_jobs(id, &jobs).await?;
    let failed: Vec<&str> = jobs
        .iter()
        .filter(|j| Conclusion::failed(j.conclusion))
        .map(|j| j.name.as_str())
        .collect();
    let summary = format!(
        "{} job(s), failed: {}",
        jobs.len(),
        if failed.is_empty() {
            "none reported".into()
        } else {
            failed.join(", ")
        }
    );
    tracing::info!(investigation = id, %summary, "failed run collected");
    store
        .set_investigation_status(
            id,
            InvestigationStatus::Collected,
            Some(&summary),
            service.as_deref(),
        )
        .await?;

    let fetched = ctx
        .step("fetch_topology", || async {
            match maps::fetch(&client, &config.topology, &run.head_sha.0).await {
                Ok(maps) => Ok(MapsOutcome::Fetched(maps)),
                Err(e) => match e.downcast_ref::<GitHubError>() {
                    Some(g) if !g.is_permanent() => Err(e),
                    _ => Ok(MapsOutcome::Unusable(format!("{e:#}"))),
                },
            }
        })
        .await?;
    let maps = match fetched {
        MapsOutcome::Fetched(maps) => maps,
        MapsOutcome::Unusable(why) => {
            return not_started(ctx, id, &format!("cannot read the topology map: {why}")).await;
        }
    };
    let graph = match TopologyGraph::load_fetched(
        &maps,
        &config.topology,
        config.topology_depth,
        &ctx.settings.production_names,
    ) {
        Ok(graph) => graph,
        Err(e) => {
            let problem = e.problem().to_string();
            return not_started(
                ctx,
                id,
                &format!("the topology map is not usable: {problem}"),
            )
            .await;
        }
    };
    let report = ctx
        .step("sweep", || async {
            let skills = SkillContext::for_repository(
                chrono::Utc::now() - chrono::Duration::hours(1),
                Some(RunContext {
                    github: client.clone(),
                    run_id: run.run_id.0,
                    attempt: run.run_attempt,
                }),
                Arc::new(ProcessEnv),
                &ctx.settings.sweep,
                &run.repo.to_string(),
            );
            Ok(sweep::sweep(&graph, Arc::new(skills), &SweepOptions::default()).await)
        })
        .await?;
    store
        .set_investigation_document(id, Document::Sweep, &report)
        .await?;
    let unhealthy = report
        .findings
        .iter()
        .filter(|f| f.status != Status::Healthy)
        .count();
    let summary = format!(
        "{summary}; swept {} node check(s), {unhealthy} not healthy",
        report.findings.len()
    );
    store
        .set_investigation_status(
            id,
            InvestigationStatus::Swept,
            Some(&summary),
            Some(&report.service),
        )
        .await?;

    let history = DebugContext {
        service: report.service.clone(),
        iteration: 1,
        history: Vec::new(),
    };
    let diagnosis = ctx
        .step("diagnose", || async {
            Ok(diagnose::decide(
                &report.service,
                &report.findings,
                Some(&graph),
                &history,
                ctx.settings.model.as_ref(),
            )
            .await)
        })
        .await?;
    store
        .set_investigation_document(id, Document::Diagnosis, &diagnosis)
        .await?;
    let rc = &diagnosis.root_cause;
    let engine = match diagnosis.engine {
        Engine::Llm => "model",
        Engine::Rules => "rules",
    };
    let summary = format!(
        "root cause: {} at {} ({engine} engine, confidence {:.2}): {}",
        rc.class.as_str(),
        rc.node,
        diagnosis.confidence,
        rc.summary
    );
    tracing::info!(investigation = id, %summary, "diagnosed");
    store
        .set_investigation_status(id, InvestigationStatus::Diagnosed, Some(&summary), None)
        .await?;

    let first_unhealthy: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.status != Status::Healthy)
        .map(|f| f.node.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let opened = ctx
        .step("start_loop", || {
            harness::start(
                ctx,
                harness::Start {
                    investigation_id: id,
                    run: &run,
                    service: &report.service,
                    config: &config,
                    maps: &maps,
                    topology: &config.topology,
                    first_unhealthy,
                    diagnosis: &diagnosis,
                },
            )
        })
        .await?;
    tracing::info!(investigation = id, loop_ = ?opened, "fix loop");
    Ok(())
}

/// How long parsing a repository's config may take; a config is a few lines of keys.
const CONFIG_PARSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Parses `.github/fixpoint.yml` off the async runtime, under a time limit: the file is
/// written by whoever can push, and a YAML parse of hostile input must never stall the
/// webhook endpoint or `/healthz` that share the runtime.
async fn parse_config(text: String) -> ConfigOutcome {
    let parse = tokio::task::spawn_blocking(move || RepoConfig::parse(&text));
    match tokio::time::timeout(CONFIG_PARSE_LIMIT, parse).await {
        Ok(Ok(Ok(config))) => ConfigOutcome::Loaded(Box::new(config)),
        Ok(Ok(Err(e))) => ConfigOutcome::Invalid(e.to_string()),
        Ok(Err(_)) => ConfigOutcome::Invalid(format!("{} could not be parsed", repo::PATH)),
        Err(_) => ConfigOutcome::Invalid(format!(
            "{} took longer than {} s to parse: keep it to a few lines of keys",
            repo::PATH,
            CONFIG_PARSE_LIMIT.as_secs()
        )),
    }
}

/// The topology maps as fetched, stored in the job's journal.
#[derive(Debug, Serialize, Deserialize)]
enum MapsOutcome {
    Fetched(BTreeMap<String, String>),
    Unusable(String),
}

/// A GitHub answer that retrying cannot change (404, 403 without a rate limit, 422).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Permanent(GitHubError);

/// Marks 4xx answers as permanent; everything else is retried by the queue.
fn classify(e: GitHubError) -> anyhow::Error {
    if e.is_permanent() {
        Permanent(e).into()
    } else {
        e.into()
    }
}

async fn give_up_if_permanent(ctx: &JobContext, id: i64, e: anyhow::Error) -> anyhow::Result<()> {
    let permanent = e
        .chain()
        .find_map(|c| c.downcast_ref::<Permanent>())
        .map(|p| p.to_string());
    if let Some(p) = permanent {
        let why = format!(
            "GitHub refused: {p}. Check that the App is installed on the repository with actions and contents read"
        );
        ctx.store
            .set_investigation_status(id, InvestigationStatus::Failed, Some(&why), None)
            .await?;
        return Ok(());
    }
    Err(e)
}

async fn not_started(ctx: &JobContext, id: i64, why: &str) -> anyhow::Result<()> {
    tracing::info!(
        investigation = id,
        reason = why,
        "investigation not started"
    );
    ctx.store
        .set_investigation_status(id, InvestigationStatus::NotStarted, Some(why), None)
        .await
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}
