//! `fixpoint`: the command line. `serve` runs the GitHub App; `topology check`, `sweep`
//! and `investigate` are read-only tools for people and scripts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use fixpoint::cli::{self, RunArgs, SweepArgs};
use fixpoint::diagnose::llm::Provider;

#[derive(Parser)]
#[command(
    name = "fixpoint",
    version,
    about = "Turns a red deploy into a reviewed fix on a fixpoint/ branch"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the GitHub App: webhooks, workers, health and metrics. Without APP_ID it
    /// serves the setup page that registers the App.
    Serve {
        #[command(flatten)]
        env: EnvFile,
    },
    /// Service topology maps.
    Topology {
        #[command(subcommand)]
        command: TopologyCommand,
    },
    /// Check every node of a service's topology in parallel and print the findings.
    /// Exit code 0 when all is healthy, 1 when anything is not, 2 for a usage error.
    Sweep {
        #[command(flatten)]
        sweep: SweepFlags,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Sweep, then diagnose: the root cause, the chain, the evidence and the proposed
    /// action, and which engine decided. With --repo/--run-id, also the fix the loop would
    /// make (a dry run): the plan, the files and their diffs. Read-only: changes nothing.
    Investigate {
        #[command(flatten)]
        sweep: SweepFlags,
        /// Print one JSON object (the sweep's, plus "diagnosis" and "fix").
        #[arg(long)]
        json: bool,
        /// The model beside the rules engine: none, openai or anthropic (default: from
        /// FIXPOINT_LLM_PROVIDER). Its answer is validated and falls back to the rules.
        #[arg(long, value_enum)]
        llm: Option<LlmFlag>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LlmFlag {
    None,
    Openai,
    Anthropic,
}

impl LlmFlag {
    fn provider(self) -> Option<Provider> {
        match self {
            LlmFlag::None => None,
            LlmFlag::Openai => Some(Provider::OpenAi),
            LlmFlag::Anthropic => Some(Provider::Anthropic),
        }
    }
}

#[derive(Subcommand)]
enum TopologyCommand {
    /// Validate a map (or every map in a folder) and print the graph.
    Check {
        /// A topology file or a folder of them.
        #[arg(default_value = "topology")]
        path: PathBuf,
        /// More environment names to refuse as production (comma-separated).
        #[arg(long, value_delimiter = ',', env = "FIXPOINT_PRODUCTION_NAMES")]
        production_names: Vec<String>,
    },
}

#[derive(Args)]
struct EnvFile {
    /// The dotenv file read at start-up (and written by the setup flow).
    #[arg(long, env = "FIXPOINT_ENV_FILE", default_value = ".env")]
    env_file: PathBuf,
}

#[derive(Args)]
struct SweepFlags {
    /// The service's topology map (YAML or JSON).
    #[arg(long)]
    topology: PathBuf,
    /// The repository of the failed run (with --run-id).
    #[arg(long, requires = "run_id")]
    repo: Option<String>,
    /// The failed workflow run to read (with --repo).
    #[arg(long, requires = "repo")]
    run_id: Option<u64>,
    /// The run attempt.
    #[arg(long, default_value_t = 1)]
    attempt: u64,
    /// The App's installation id (looked up from the repository when omitted).
    #[arg(long)]
    installation: Option<u64>,
    /// How many hops of linked maps to sweep.
    #[arg(long, default_value_t = fixpoint::topology::DEFAULT_DEPTH)]
    depth: u32,
    /// Read logs and events from this many minutes ago.
    #[arg(long, default_value_t = 60)]
    since_minutes: i64,
    /// More environment names to refuse as production (comma-separated).
    #[arg(long, value_delimiter = ',', env = "FIXPOINT_PRODUCTION_NAMES")]
    production_names: Vec<String>,
    #[command(flatten)]
    env: EnvFile,
}

impl SweepFlags {
    fn args(self) -> SweepArgs {
        SweepArgs {
            topology: self.topology,
            depth: self.depth,
            since_minutes: self.since_minutes,
            run: self.repo.zip(self.run_id).map(|(repo, run_id)| RunArgs {
                repo,
                run_id,
                attempt: self.attempt,
                installation: self.installation,
            }),
            production_names: self.production_names,
            env_file: self.env.env_file,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FIXPOINT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log(&cli.command))),
        )
        .with_writer(|| RedactingStderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match cli.command {
        Command::Serve { env } => {
            let config = match fixpoint::config::load_from_env(&env.env_file) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            config.install_redactor();
            match runtime.block_on(fixpoint::server::serve(config)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    1
                }
            }
        }
        Command::Topology {
            command:
                TopologyCommand::Check {
                    path,
                    production_names,
                },
        } => {
            let (out, code) = cli::topology_check(&path, &production_names);
            print!("{out}");
            code
        }
        Command::Investigate { sweep, json, llm } => {
            let report = cli::model_for(llm.map(LlmFlag::provider)).and_then(|model| {
                runtime.block_on(cli::investigate(&sweep.args(), model.as_ref()))
            });
            match report {
                Ok(report) => cli::print_investigation(&report, json),
                Err(e) => {
                    eprintln!("error: {e}");
                    2
                }
            }
        }
        Command::Sweep { sweep, json } => match runtime.block_on(cli::sweep(&sweep.args())) {
            Ok(report) => cli::print_sweep(&report, json),
            Err(e) => {
                eprintln!("error: {e}");
                2
            }
        },
    };
    ExitCode::from(code as u8)
}

/// Every log line passes through the redactor before it reaches stderr: a token quoted in
/// an error from GitHub or a URL with a password in a skill's error never lands in logs.
struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter hands over one whole event per call, so a secret is never split.
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(fixpoint::redact::redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The one-shot commands keep stderr quiet unless asked; the server logs its work.
/// The AWS SDK's own warnings (every instance-metadata probe, as a whole HTTP response)
/// stay out unless asked for with `FIXPOINT_LOG`; Fixpoint says once what is missing.
fn default_log(command: &Command) -> &'static str {
    match command {
        Command::Serve { .. } => {
            "info,aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error"
        }
        _ => "warn,aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error",
    }
}
