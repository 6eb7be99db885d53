//! The one-shot commands behind `fixpoint topology check`, `fixpoint sweep` and
//! `fixpoint investigate`: read-only, for people at a shell and for scripts (`--json`).
//! With a failed run named, `investigate` also shows the fix the loop would make (a dry run).
//! Exit codes: 0 all healthy, 1 something is not, 2 a usage or configuration error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::config::{self, ProcessEnv};
use crate::diagnose::llm::{ModelConfig, Provider};
use crate::diagnose::{self, DebugContext, Diagnosis, Engine};
use crate::github::auth::Permissions;
use crate::github::{GitHubApp, RepoClient};
use crate::harness::dry_run::{self, DryRun, DryRunRequest};
use crate::ids::{InstallationId, RepoName, RunId};
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

/// What a one-shot command works with: the graph, the skills' context and, when a run is
/// named, the read-only client of its repository.
pub struct Prepared {
    pub graph: TopologyGraph,
    pub skills: Arc<SkillContext>,
    pub client: Option<RepoClient>,
}

/// Loads the graph and builds the skills' context (GitHub only when a run is named).
pub async fn prepare(args: &SweepArgs) -> Result<Prepared, UsageError> {
    let graph = TopologyGraph::load(&args.topology, args.depth, &args.production_names)
        .map_err(|e| UsageError(e.problem().to_string()))?;
    let run = match &args.run {
        None => None,
        Some(run) => Some(run_context(run, &args.env_file).await?),
    };
    let client = run.as_ref().map(|r| r.github.clone());
    let since = chrono::Utc::now() - chrono::Duration::minutes(args.since_minutes.max(1));
    let vars: Arc<dyn config::Vars + Send + Sync> = Arc::new(ProcessEnv);
    Ok(Prepared {
        graph,
        skills: Arc::new(SkillContext::new(since, run, vars)),
        client,
    })
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

/// What `fixpoint investigate --json` prints: the sweep's object plus the diagnosis and
/// the fix the loop would make (`fix`, with its `decision`).
#[derive(Debug, Clone, Serialize)]
pub struct InvestigationReport {
    #[serde(flatten)]
    pub sweep: SweepReport,
    pub diagnosis: Diagnosis,
    pub fix: DryRun,
}

/// Sweep, then diagnose with the rules engine and (when configured) the model, then ask the
/// loop's planner what it would fix. Read-only: the client has the investigation's
/// read permissions, and the plan is shown, never carried out.
pub async fn investigate(
    args: &SweepArgs,
    model: Option<&ModelConfig>,
) -> Result<InvestigationReport, UsageError> {
    let Prepared {
        graph,
        skills,
        client,
    } = prepare(args).await?;
    let sweep = sweep::sweep(&graph, skills, &SweepOptions::default()).await;
    let history = DebugContext {
        service: sweep.service.clone(),
        iteration: 1,
        history: Vec::new(),
    };
    let diagnosis = diagnose::decide(
        &sweep.service,
        &sweep.findings,
        Some(&graph),
        &history,
        model,
    )
    .await;
    let fix = match (client, &args.run) {
        (Some(client), Some(run)) => {
            dry_run::dry_run(DryRunRequest {
                client,
                run_id: RunId(run.run_id),
                service: &sweep.service,
                graph: &graph,
                diagnosis: &diagnosis,
                model,
                production_names: &args.production_names,
            })
            .await
        }
        _ => DryRun::NeedsRun {
            why: dry_run::NEEDS_RUN.to_string(),
        },
    };
    Ok(InvestigationReport {
        sweep,
        diagnosis,
        fix,
    })
}

/// The model for `--llm`: `None` = no flag (the environment decides), `Some(None)` = off.
pub fn model_for(flag: Option<Option<Provider>>) -> Result<Option<ModelConfig>, UsageError> {
    let usage = |e: config::ConfigError| UsageError(e.to_string());
    match flag {
        Some(None) => Ok(None),
        None => ModelConfig::from_vars(&ProcessEnv).map_err(usage),
        Some(Some(provider)) => match ModelConfig::from_vars(&ProcessEnv).map_err(usage)? {
            Some(config) => Ok(Some(config.with_provider_override(provider))),
            None => ModelConfig::from_vars_for(&ProcessEnv, provider)
                .map(Some)
                .map_err(usage),
        },
    }
}

/// Prints what people read (or the JSON) and returns the exit code. All of it passes the
/// redactor: the dry run quotes whole files (a task definition with a password in it), and
/// this output lands in terminals and CI logs.
pub fn print_investigation(report: &InvestigationReport, json: bool) -> i32 {
    let out = if json {
        serde_json::to_string_pretty(report).expect("a report serialises") + "\n"
    } else {
        format!(
            "{}\n{}\n{}",
            sweep::render_table(&report.sweep),
            render_diagnosis(&report.diagnosis),
            report.fix.render()
        )
    };
    print!("{}", crate::redact::redact(&out));
    if report.sweep.all_healthy() { 0 } else { 1 }
}

pub fn render_diagnosis(d: &Diagnosis) -> String {
    let mut out = String::new();
    let engine = match d.engine {
        Engine::Rules => "rules engine",
        Engine::Llm => "model (validated)",
    };
    let _ = writeln!(
        out,
        "Root cause: {} at {} (confidence {:.2}, decided by the {engine})",
        d.root_cause.class.as_str(),
        d.root_cause.node,
        d.confidence
    );
    let _ = writeln!(out, "  {}", d.root_cause.summary);
    if !d.chain.is_empty() {
        let chain: Vec<String> = d
            .chain
            .iter()
            .map(|l| format!("{} ({})", l.node, l.class.as_str()))
            .collect();
        let _ = writeln!(out, "Chain: {}", chain.join(" → "));
    }
    if !d.evidence.is_empty() {
        let _ = writeln!(out, "Evidence:");
        for e in d.evidence.iter().take(8) {
            let at =
                e.at.map(|t| format!(" @ {}", t.format("%H:%M:%S")))
                    .unwrap_or_default();
            let _ = writeln!(out, "  - [{}{at}] {}", e.source, e.text);
        }
    }
    for n in &d.noise {
        let _ = writeln!(out, "Not the cause: {}: {}", n.node, n.why);
    }
    for m in &d.missing {
        let _ = writeln!(out, "Would help: {m}");
    }
    let kind = d.proposed_action.kind.as_str();
    let _ = writeln!(
        out,
        "Proposed action ({kind}): {}",
        d.proposed_action.summary
    );
    if let Some(note) = &d.note {
        let _ = writeln!(out, "Note: {note}");
    }
    out
}

pub async fn sweep(args: &SweepArgs) -> Result<SweepReport, UsageError> {
    let prepared = prepare(args).await?;
    Ok(sweep::sweep(&prepared.graph, prepared.skills, &SweepOptions::default()).await)
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
