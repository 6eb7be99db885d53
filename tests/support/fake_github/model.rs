//! What tests arrange in the fake (workflow runs, jobs, steps) and what they read back from it
//! (requests, JWTs, token mints, manifest conversions).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration, SubsecRound, Utc};

/// A workflow run as GitHub Actions reports it. Defaults: a completed, successful `push` run on
/// `main`, attempt 1, created now.
#[derive(Clone, Debug)]
pub struct WorkflowRun {
    pub id: u64,
    pub name: String,
    pub workflow_id: u64,
    pub workflow_path: String,
    pub head_branch: String,
    pub head_sha: String,
    pub event: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub run_number: u64,
    pub run_attempt: u32,
    pub display_title: String,
    pub created_at: DateTime<Utc>,
    pub jobs: Vec<Job>,
}

impl WorkflowRun {
    pub fn new(id: u64, name: &str) -> Self {
        WorkflowRun {
            id,
            name: name.to_string(),
            workflow_id: 161335,
            workflow_path: format!(
                ".github/workflows/{}.yml",
                name.to_lowercase().replace(' ', "-")
            ),
            head_branch: "main".into(),
            head_sha: "009b8a3a9ccbb128af87f9b1c0f4c62e8a304f6d".into(),
            event: "push".into(),
            status: "completed".into(),
            conclusion: Some("success".into()),
            run_number: id % 1000 + 1,
            run_attempt: 1,
            display_title: format!("{name} on main"),
            created_at: Utc::now().trunc_subsecs(0) - Duration::minutes(10),
            jobs: Vec::new(),
        }
    }

    pub fn head_sha(mut self, sha: &str) -> Self {
        self.head_sha = sha.into();
        self
    }

    pub fn head_branch(mut self, branch: &str) -> Self {
        self.head_branch = branch.into();
        self
    }

    pub fn event(mut self, event: &str) -> Self {
        self.event = event.into();
        self
    }

    /// `completed` with this conclusion (`success`, `failure`, `cancelled`, `timed_out`, ...).
    pub fn conclusion(mut self, conclusion: &str) -> Self {
        self.status = "completed".into();
        self.conclusion = Some(conclusion.into());
        self
    }

    pub fn in_progress(mut self) -> Self {
        self.status = "in_progress".into();
        self.conclusion = None;
        self
    }

    /// The run's latest attempt; `/jobs` without `filter=all` shows only that attempt's jobs.
    pub fn attempt(mut self, run_attempt: u32) -> Self {
        self.run_attempt = run_attempt;
        self
    }

    /// Adds a job; a job whose attempt was left at 0 belongs to the run's latest attempt.
    pub fn job(mut self, mut job: Job) -> Self {
        if job.run_attempt == 0 {
            job.run_attempt = self.run_attempt;
        }
        self.jobs.push(job);
        self
    }
}

/// A job of a workflow run. Defaults: completed, successful, no steps.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: u64,
    pub name: String,
    /// 0 = the run's latest attempt (filled in by [`WorkflowRun::job`]).
    pub run_attempt: u32,
    pub status: String,
    pub conclusion: Option<String>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub labels: Vec<String>,
    pub steps: Vec<Step>,
    /// The whole job log as served; `None` = built from the steps' logs like GitHub's.
    pub log: Option<String>,
}

impl Job {
    pub fn new(id: u64, name: &str) -> Self {
        let started_at = Utc::now().trunc_subsecs(0) - Duration::minutes(9);
        Job {
            id,
            name: name.to_string(),
            run_attempt: 0,
            status: "completed".into(),
            conclusion: Some("success".into()),
            started_at,
            completed_at: Some(started_at + Duration::minutes(2)),
            labels: vec!["ubuntu-latest".into()],
            steps: Vec::new(),
            log: None,
        }
    }

    pub fn conclusion(mut self, conclusion: &str) -> Self {
        self.status = "completed".into();
        self.conclusion = Some(conclusion.into());
        self
    }

    pub fn in_progress(mut self) -> Self {
        self.status = "in_progress".into();
        self.conclusion = None;
        self.completed_at = None;
        self
    }

    pub fn attempt(mut self, run_attempt: u32) -> Self {
        self.run_attempt = run_attempt;
        self
    }

    /// Adds a step, numbered from 1 in order.
    pub fn step(mut self, mut step: Step) -> Self {
        step.number = self.steps.len() as u32 + 1;
        self.steps.push(step);
        self
    }

    /// Serves exactly this text as the job's log instead of one built from the steps.
    pub fn log(mut self, text: &str) -> Self {
        self.log = Some(text.into());
        self
    }
}

/// One step of a job, with the lines it printed.
#[derive(Clone, Debug)]
pub struct Step {
    pub name: String,
    pub number: u32,
    pub status: String,
    pub conclusion: Option<String>,
    pub log: String,
}

impl Step {
    pub fn succeeded(name: &str) -> Self {
        Step {
            name: name.into(),
            number: 0,
            status: "completed".into(),
            conclusion: Some("success".into()),
            log: String::new(),
        }
    }

    /// A failed step; its log ends with GitHub's `##[error]Process completed with exit code 1.`
    pub fn failed(name: &str) -> Self {
        Step {
            conclusion: Some("failure".into()),
            ..Step::succeeded(name)
        }
    }

    pub fn skipped(name: &str) -> Self {
        Step {
            conclusion: Some("skipped".into()),
            ..Step::succeeded(name)
        }
    }

    /// The lines the step printed (without timestamps: the fake adds them like GitHub).
    pub fn log(mut self, text: &str) -> Self {
        self.log = text.into();
        self
    }
}

/// How a request authenticated, as the fake classified its `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthKind {
    None,
    /// `Bearer <three dot-separated parts>`: an App JWT (verified or not).
    Jwt,
    /// `token X` or `Bearer X` with X an installation token (`ghs_...`), live or not.
    InstallationToken(String),
    Other(String),
}

/// One request the fake received, in arrival order.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    /// The path without the query, e.g. `/repos/acme/api/actions/runs/7`.
    pub path: String,
    pub query: Option<String>,
    pub auth: AuthKind,
    pub at: Instant,
    pub status: u16,
    /// True when a `fail_next` fault answered instead of the endpoint.
    pub injected_fault: bool,
}

/// The claims of one App JWT the fake received, and why it was refused (if it was).
#[derive(Clone, Debug)]
pub struct JwtRecord {
    /// Claims as sent (read without verifying, so they are there even for a bad signature).
    pub claims: serde_json::Value,
    pub received_at: DateTime<Utc>,
    pub rejection: Option<String>,
}

impl JwtRecord {
    pub fn iat(&self) -> Option<i64> {
        self.claims["iat"].as_i64()
    }

    pub fn exp(&self) -> Option<i64> {
        self.claims["exp"].as_i64()
    }
}

/// One installation access token the fake minted.
#[derive(Clone, Debug)]
pub struct TokenMint {
    pub installation_id: u64,
    pub token: String,
    /// Repository names the token was narrowed to; `None` = every repository of the installation.
    pub repositories: Option<Vec<String>>,
    pub permissions: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// One `POST /app-manifests/{code}/conversions` the fake answered with 201.
#[derive(Clone, Debug)]
pub struct ManifestConversion {
    pub code: String,
    pub app_id: u64,
    pub client_id: String,
    pub webhook_secret: String,
}
