//! The one-shot commands behind `fixpoint topology check`, `fixpoint sweep` and
//! `fixpoint investigate`: read-only, for people at a shell and for scripts (`--json`).
//! Exit codes: 0 all healthy, 1 something is not, 2 a usage or configuration error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, ProcessEnv};
use crate::github::GitHubApp;
use crate::github::auth::Permissions;
use crate::ids::{InstallationId, RepoName};
use crate::skills::{RunContext, SkillContext};
use crate::sweep::{self, SweepOptions, SweepReport};
use crate::topology::{self, TopologyGraph};

/// Where the failed run lives, when the command is about one.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub repo: String,
    pub run_id: u64,
    pub attempt: u64,
    pub installation: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct SweepArgs {
    pub topology: PathBuf,
    pub depth: u32,
    pub since_minutes: i64,
    pub run: Option<RunArgs>,
    pub production_names: Vec<String>,
    pub env_file: PathBuf,
}

/// A usage or configuration problem: exit code 2, with the message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn topology_check(path: &Path, production_names: &[String]) -> (String, i32) {
    topology::run_check_command(path, production_names)
}

/// Loads the graph and builds the skills' context (GitHub only when a run is named).
pub async fn prepare(args: &SweepArgs) -> Result<(TopologyGraph, Arc<SkillContext>), UsageError> {
    let graph = TopologyGraph::load(&args.topology, args.depth, &args.production_names)
        .map_err(|e| UsageError(e.problem().to_string()))?;
    let run = match &args.run {
        None => None,
        Some(run) => Some(run_context(run, &args.env_file).await?),
    };
    let since = chrono::Utc::now() - chrono::Duration::minutes(args.since_minutes.max(1));
    let vars: Arc<dyn config::Vars + Send + Sync> = Arc::new(ProcessEnv);
    Ok((graph, Arc::new(SkillContext::new(since, run, vars))))
}

async fn run_context(run: &RunArgs, env_file: &Path) -> Result<RunContext, UsageError> {
    let repo = RepoName::parse(&run.repo).map_err(|e| UsageError(format!("--repo: {e}")))?;
    let server = config::load_from_env(env_file).map_err(|e| UsageError(e.to_string()))?;
    let creds = server.app.ok_or_else(|| {
        UsageError("--repo/--run-id need the App's credentials: set APP_ID, PRIVATE_KEY and WEBHOOK_SECRET (or register with `fixpoint serve`)".into())
    })?;
    let app =
        GitHubApp::new(&creds, &server.github_api_url).map_err(|e| UsageError(format!("{e:#}")))?;
    let installation = match run.installation {
        Some(id) => InstallationId(id),
        None => app
            .installation_of(&repo)
            .await
            .map_err(|e| UsageError(format!("{e}: is the App installed on {repo}?")))?,
    };
    Ok(RunContext {
        github: app.repo(installation, repo, Permissions::investigate()),
        run_id: run.run_id,
        attempt: run.attempt,
    })
}

pub async fn sweep(args: &SweepArgs) -> Result<SweepReport, UsageError> {
    let (graph, ctx) = prepare(args).await?;
    Ok(sweep::sweep(&graph, ctx, &SweepOptions::default()).await)
}

/// Prints the report and returns the exit code.
pub fn print_sweep(report: &SweepReport, json: bool) -> i32 {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).expect("a report serialises")
        );
    } else {
        print!("{}", sweep::render_table(report));
    }
    if report.all_healthy() { 0 } else { 1 }
}
