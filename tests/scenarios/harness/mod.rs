//! What every incident shares: one incident at a time per process (the environment is
//! process-wide), a fresh AWS stand-in (moto, with the stub in front for what moto cannot
//! make), topology maps written into a temporary folder, and the two ways people run an
//! investigation: `fixpoint::cli::investigate` in process, and the `fixpoint investigate`
//! binary, whose JSON must name the same root cause.

pub mod aws;
pub mod ecs;

use std::path::{Path, PathBuf};

use chrono::{DateTime, DurationRound, Utc};
use fixpoint::cli::{self, InvestigationReport, RunArgs, SweepArgs};
use fixpoint::diagnose::{Diagnosis, RootCauseClass as Class};
use fixpoint::skills::{Finding, Status};
use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};

use crate::support::fake_github::{FakeGitHub, Job, Step, WorkflowRun};
pub use aws::Aws;

/// Held for a whole incident. nextest runs each test in its own process, so this never
/// waits there; under `cargo test` it keeps incidents from sharing the process environment,
/// moto and the stub at the same time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// The installation the fake GitHub knows the App by.
const INSTALLATION: u64 = 4242;

pub struct Incident {
    pub aws: Aws,
    /// Topology maps and the (absent) dotenv file live here.
    pub dir: tempfile::TempDir,
    since_minutes: i64,
    depth: u32,
    run: Option<RunArgs>,
    /// Serves the failed run while the incident lasts; on drop it fails the test if it was
    /// asked anything GitHub would not answer that way.
    github: Option<FakeGitHub>,
    _turn: MutexGuard<'static, ()>,
}

impl Incident {
    /// A fresh scene: moto reset, a new stub in front of it, the SDK pointed at the stub.
    /// Logs, events and stopped tasks are read from `since_minutes` ago.
    pub async fn begin(since_minutes: i64) -> Incident {
        let turn = ONE_AT_A_TIME.lock().await;
        let aws = Aws::fresh().await;
        let incident = Incident {
            aws,
            dir: tempfile::Builder::new()
                .prefix("fixpoint-incident-")
                .tempdir()
                .expect("temp dir"),
            since_minutes,
            depth: fixpoint::topology::DEFAULT_DEPTH,
            run: None,
            github: None,
            _turn: turn,
        };
        // The incident's databases and services listen on loopback, as an operator's local
        // run would: the outbound policy refuses loopback unless told.
        incident.var("FIXPOINT_SWEEP_ALLOW", "127.0.0.0/8");
        incident
    }

    /// Follow linked maps this many hops (the CLI's `--depth`).
    pub fn depth(mut self, depth: u32) -> Incident {
        self.depth = depth;
        self
    }

    /// Writes a topology map into the incident's folder and returns its path.
    pub fn map(&self, file: &str, yaml: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("cannot write {file}: {e}"));
        path
    }

    /// Sets a variable where Fixpoint runs (a node's `url_env`, the App's credentials).
    pub fn var(&self, name: &str, value: &str) {
        // SAFETY: `ONE_AT_A_TIME` is held, so no other incident in this process runs; this
        // incident's sweep has not started, and the threads already running (the stub's, the
        // runtime's idle workers, the servers' tasks) do not read the environment.
        unsafe { std::env::set_var(name, value) };
    }

    /// Removes a variable where Fixpoint runs (credentials it should not have).
    pub fn unset(&self, name: &str) {
        // SAFETY: as for `var`: the incident lock is held and no sweep has started.
        unsafe { std::env::remove_var(name) };
    }

    /// The deploy's workflow run failed: GitHub (the fake) holds it, the App is installed on
    /// the repository's owner, and the investigation reads the run through the `gha` skill.
    pub async fn failed_run(&mut self, repo: &str, run: WorkflowRun) {
        let github = FakeGitHub::start().await;
        let owner = repo.split('/').next().expect("owner/name");
        github.add_installation(INSTALLATION, owner);
        let run_id = run.id;
        github.add_workflow_run(repo, run);
        self.var("APP_ID", &github.app_id().to_string());
        self.var("PRIVATE_KEY", github.private_key_pem());
        self.var("WEBHOOK_SECRET", "scenario-webhook-secret");
        self.var("GITHUB_API_URL", github.url());
        self.run = Some(RunArgs {
            repo: repo.to_string(),
            run_id,
            attempt: 1,
            // The fake GitHub does not serve `GET /repos/{owner}/{repo}/installation`, the
            // look-up the CLI makes without `--installation`: name it, as the worker does.
            installation: Some(INSTALLATION),
        });
        self.github = Some(github);
    }

    fn args(&self, topology: &Path) -> SweepArgs {
        SweepArgs {
            topology: topology.to_path_buf(),
            depth: self.depth,
            since_minutes: self.since_minutes,
            run: self.run.clone(),
            production_names: Vec::new(),
            env_file: self.dir.path().join(".env"),
        }
    }

    /// `fixpoint::cli::investigate` with the rules engine only: what a test asserts in detail.
    pub async fn investigate(&self, topology: &Path) -> InvestigationReport {
        let report = cli::investigate(&self.args(topology), None)
            .await
            .unwrap_or_else(|e| panic!("investigate refused the incident: {e}"));
        println!("{}", describe(&report));
        report
    }

    /// The `fixpoint investigate --json --llm none` binary against the same environment
    /// (it inherits this process's variables), and the JSON it printed.
    pub async fn investigate_cli(&self, topology: &Path) -> Value {
        let mut args: Vec<String> = ["investigate", "--json", "--llm", "none", "--topology"]
            .map(String::from)
            .to_vec();
        args.push(topology.display().to_string());
        args.extend([
            "--depth".into(),
            self.depth.to_string(),
            "--since-minutes".into(),
            self.since_minutes.to_string(),
            "--env-file".into(),
            self.dir.path().join(".env").display().to_string(),
        ]);
        if let Some(run) = &self.run {
            args.extend([
                "--repo".into(),
                run.repo.clone(),
                "--run-id".into(),
                run.run_id.to_string(),
            ]);
            if let Some(installation) = run.installation {
                args.extend(["--installation".into(), installation.to_string()]);
            }
        }
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_fixpoint"))
                .args(&args)
                .env("FIXPOINT_LOG", "warn")
                .output()
                .expect("the fixpoint binary runs")
        })
        .await
        .expect("the binary's thread");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "fixpoint investigate exited {:?} (2 = usage error)\nstderr:\n{stderr}\nstdout:\n{stdout}",
            out.status.code()
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "fixpoint investigate --json printed no JSON ({e}):\n{stdout}\nstderr:\n{stderr}"
            )
        })
    }

    /// Runs the binary too, and asserts it names the same root cause and chain as the
    /// in-process investigation did.
    pub async fn cli_agrees(&self, topology: &Path, report: &InvestigationReport) {
        let json = self.investigate_cli(topology).await;
        let d = &report.diagnosis;
        let said = &json["diagnosis"];
        let root = (
            said["root_cause"]["node"].as_str().unwrap_or("?"),
            said["root_cause"]["class"].as_str().unwrap_or("?"),
        );
        assert_eq!(
            root,
            (d.root_cause.node.as_str(), d.root_cause.class.as_str()),
            "the binary named another root cause:\n{}",
            serde_json::to_string_pretty(said).unwrap_or_default()
        );
        let chain: Vec<(String, String)> = said["chain"]
            .as_array()
            .map(|links| {
                links
                    .iter()
                    .map(|l| {
                        (
                            l["node"].as_str().unwrap_or("?").to_string(),
                            l["class"].as_str().unwrap_or("?").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let expected: Vec<(String, String)> = d
            .chain
            .iter()
            .map(|l| (l.node.clone(), l.class.as_str().to_string()))
            .collect();
        assert_eq!(chain, expected, "the binary's chain differs");
        assert_eq!(said["engine"], "rules");
        assert_eq!(json["service"], report.sweep.service.as_str());
    }
}

/// A staging service's map: its ECS service and log group (named after it), then `nodes`
/// (YAML lines such as `downstream:` and its entries).
pub fn service_map(service: &str, nodes: &str) -> String {
    format!(
        "service: {service}\nenvironment: staging\necs: {{cluster: staging, service: {service}}}\nlogs: {{group: /ecs/{service}}}\n{nodes}"
    )
}

/// The deploy workflow of a service: its `deploy` job failed at `step`, which printed `log`.
pub fn deploy_failed(run_id: u64, service: &str, step: &str, log: &str) -> WorkflowRun {
    WorkflowRun::new(run_id, "Deploy to staging")
        .conclusion("failure")
        .job(
            Job::new(run_id * 10 + 1, "deploy")
                .conclusion("failure")
                .step(Step::succeeded("Run actions/checkout@v4"))
                .step(Step::succeeded(&format!("Build and push {service}")))
                .step(Step::failed(step).log(log)),
        )
}

/// The sweep's table and the diagnosis, as `fixpoint investigate` prints them.
pub fn describe(report: &InvestigationReport) -> String {
    format!(
        "{}\n{}",
        fixpoint::sweep::render_table(&report.sweep),
        cli::render_diagnosis(&report.diagnosis)
    )
}

/// Where `scripts/calibration` collects each incident's outcome: one JSON line per
/// incident, written before the assertion so that a wrong answer is counted too.
const OUTCOMES_VAR: &str = "FIXPOINT_SCENARIO_OUTCOMES";

fn record_outcome(report: &InvestigationReport, node: &str, class: Class) {
    let Ok(path) = std::env::var(OUTCOMES_VAR) else {
        return;
    };
    let d = &report.diagnosis;
    let line = serde_json::json!({
        // `#[tokio::test]` runs the incident on the test's own thread, named after it.
        "test": std::thread::current().name().unwrap_or("?"),
        "service": report.sweep.service,
        "expected": {"node": node, "class": class.as_str()},
        "said": {"node": d.root_cause.node, "class": d.root_cause.class.as_str()},
        "confidence": d.confidence,
    });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{OUTCOMES_VAR}={path}: cannot append: {e}"));
    std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes())
        .unwrap_or_else(|e| panic!("{OUTCOMES_VAR}={path}: cannot write: {e}"));
}

/// Asserts the root cause, saying what the sweep saw when it is wrong.
pub fn assert_root_cause(report: &InvestigationReport, node: &str, class: Class) {
    record_outcome(report, node, class);
    let d = &report.diagnosis;
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        (node, class),
        "wrong root cause\n{}\n{d:#?}",
        describe(report)
    );
}

pub fn chain(d: &Diagnosis) -> Vec<(&str, Class)> {
    d.chain.iter().map(|l| (l.node.as_str(), l.class)).collect()
}

/// Why `node` was judged not to be the cause.
pub fn noise<'a>(report: &'a InvestigationReport, node: &str) -> &'a str {
    report
        .diagnosis
        .noise
        .iter()
        .find(|n| n.node == node)
        .map(|n| n.why.as_str())
        .unwrap_or_else(|| panic!("{node} is not in the noise\n{}", describe(report)))
}

/// The finding one skill made of one node.
pub fn finding<'a>(report: &'a InvestigationReport, node: &str, skill: &str) -> &'a Finding {
    report
        .sweep
        .findings
        .iter()
        .find(|f| f.node == node && f.skill == skill)
        .unwrap_or_else(|| panic!("no {skill} finding for {node}\n{}", describe(report)))
}

/// Asserts what a skill saw of a node: its status and words of its summary.
pub fn assert_saw(
    report: &InvestigationReport,
    node: &str,
    skill: &str,
    status: Status,
    words: &[&str],
) {
    let f = finding(report, node, skill);
    assert_eq!(
        f.status,
        status,
        "{node} ({skill}): {}\n{}",
        f.summary,
        describe(report)
    );
    for w in words {
        assert!(
            f.summary.contains(w),
            "{node} ({skill}) summary lacks {w:?}: {}",
            f.summary
        );
    }
}

/// Every finding except those listed is healthy: the environment around the incident is fine.
pub fn assert_rest_healthy(report: &InvestigationReport, except: &[(&str, &str)]) {
    for f in &report.sweep.findings {
        if except.iter().any(|(n, s)| f.node == *n && f.skill == *s) {
            continue;
        }
        assert_eq!(
            f.status,
            Status::Healthy,
            "{} ({}) should be healthy: {}\n{}",
            f.node,
            f.skill,
            f.summary,
            describe(report)
        );
    }
}

/// A whole second `n` minutes ago: ECS timestamps are epoch-second doubles.
pub fn minutes_ago(n: i64) -> DateTime<Utc> {
    (Utc::now() - chrono::Duration::minutes(n))
        .duration_trunc(chrono::Duration::seconds(1))
        .expect("truncates")
}

pub fn seconds_after(t: DateTime<Utc>, s: i64) -> DateTime<Utc> {
    t + chrono::Duration::seconds(s)
}
