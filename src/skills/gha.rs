//! The `gha` skill: what failed in the run being investigated. The API gives the jobs and
//! their failed steps; each failed job's log is streamed through `excerpts::ExcerptExtractor`
//! (the job's own log, or the run's zip archive when that cannot be had), so the finding
//! says what failed (compiler errors, tests, a deploy step) and shows the lines that say why.

mod logs;

use anyhow::Context;
use futures::future::BoxFuture;

use super::excerpts::{Excerpt, ExcerptKind, ExcerptLimits, LogCounts};
use super::{Evidence, Observation, RunContext, Skill, SkillContext, Status};
use crate::domain::{Conclusion, RunStatus};
use crate::github::actions::{JobStep, WorkflowJob};
use crate::ids::{JobId, RepoName, RunId};
use crate::topology::{CheckTarget, SkillKind};
use logs::LogFile;

/// Failed jobs whose logs are read (a matrix can fail dozens of jobs the same way).
const MAX_JOBS_READ: usize = 5;
/// Evidence items in the finding.
const MAX_EVIDENCE: usize = 12;

pub struct Gha;

impl Skill for Gha {
    fn kind(&self) -> SkillKind {
        SkillKind::Gha
    }

    fn check<'a>(
        &'a self,
        target: &'a CheckTarget,
        ctx: &'a SkillContext,
    ) -> BoxFuture<'a, anyhow::Result<Observation>> {
        Box::pin(async move {
            let CheckTarget::Gha { repo } = target else {
                return Err(super::wrong_target(self.kind(), target));
            };
            match &ctx.run {
                Some(run) => check_run(repo, run).await,
                None => Ok(Observation::new(
                    Status::Unknown,
                    "no failed run given (pass --repo and --run-id)",
                )),
            }
        })
    }
}

/// A conclusion that means the job or step failed (the one definition, in `domain`).
fn failed(conclusion: Option<Conclusion>) -> bool {
    Conclusion::failed(conclusion)
}

/// A job that ended without failing or being stopped.
fn passed(conclusion: Option<Conclusion>) -> bool {
    matches!(
        conclusion,
        Some(Conclusion::Success | Conclusion::Skipped | Conclusion::Neutral)
    )
}

fn conclusion_text(conclusion: Option<Conclusion>, missing: &'static str) -> &'static str {
    conclusion.map(Conclusion::as_str).unwrap_or(missing)
}

async fn check_run(repo: &RepoName, run: &RunContext) -> anyhow::Result<Observation> {
    let github = &run.github;
    if !github
        .repo()
        .to_string()
        .eq_ignore_ascii_case(&repo.to_string())
    {
        let summary = format!("the failed run is in {}, not in {repo}", github.repo());
        return Ok(Observation::new(Status::Unknown, summary));
    }
    let jobs = github
        .list_run_jobs(RunId(run.run_id), run.attempt)
        .await
        .with_context(|| {
            format!(
                "cannot list the jobs of run {} (attempt {})",
                run.run_id, run.attempt
            )
        })?;
    let failed_jobs: Vec<&WorkflowJob> = jobs.iter().filter(|j| failed(j.conclusion)).collect();
    if failed_jobs.is_empty() {
        return Ok(without_failure(run, &jobs));
    }
    let limits = ExcerptLimits::default();
    let mut reports: Vec<JobReport> = failed_jobs.iter().map(|job| JobReport::new(job)).collect();
    let mut unread = Vec::new();
    for report in reports.iter_mut().take(MAX_JOBS_READ) {
        match logs::read_job_log(github, JobId(report.job.id), &limits).await {
            Ok(file) => report.add(file),
            Err(e) => {
                tracing::warn!(job = report.job.id, error = %format!("{e:#}"), "cannot read a job's log; trying the run's archive");
                unread.push(report.job);
            }
        }
    }
    if !unread.is_empty() {
        match logs::read_run_archive(github, RunId(run.run_id), run.attempt, &unread, &limits).await
        {
            Ok(files) => {
                for (job, file) in files {
                    if let Some(report) = reports.iter_mut().find(|r| r.job.id == job) {
                        report.add(file);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(run = run.run_id, error = %format!("{e:#}"), "cannot read the run's log archive");
            }
        }
    }
    Ok(observe(&jobs, &reports))
}

/// A run with no failed job: healthy when every job passed.
fn without_failure(run: &RunContext, jobs: &[WorkflowJob]) -> Observation {
    let total = jobs.len() as f64;
    let id = run.run_id;
    let observation = if jobs.is_empty() {
        Observation::new(
            Status::Unknown,
            format!("run {id} (attempt {}) has no jobs", run.attempt),
        )
    } else if let Some(busy) = jobs.iter().find(|j| j.status != RunStatus::Completed) {
        let done = jobs
            .iter()
            .filter(|j| j.status == RunStatus::Completed)
            .count();
        let summary = format!(
            "run {id} is still running ('{}' is {:?}): {done} of {} jobs done",
            busy.name,
            busy.status,
            jobs.len()
        );
        Observation::new(Status::Unknown, summary)
    } else if jobs.iter().all(|j| passed(j.conclusion)) {
        Observation::new(
            Status::Healthy,
            format!(
                "run {id} succeeded: {} passed",
                plural(jobs.len() as u64, "job")
            ),
        )
    } else {
        let odd: Vec<String> = jobs
            .iter()
            .filter(|j| !passed(j.conclusion))
            .map(|j| {
                format!(
                    "'{}' {}",
                    j.name,
                    conclusion_text(j.conclusion, "without a conclusion")
                )
            })
            .collect();
        Observation::new(
            Status::Degraded,
            format!("run {id}: no job failed, but {}", odd.join(", ")),
        )
    };
    observation.metric("jobs", total).metric("failed_jobs", 0.0)
}

/// What the logs of one failed job said.
struct JobReport<'a> {
    job: &'a WorkflowJob,
    read: bool,
    counts: LogCounts,
    excerpts: Vec<(Option<&'a JobStep>, Excerpt)>,
}

impl<'a> JobReport<'a> {
    fn new(job: &'a WorkflowJob) -> Self {
        Self {
            job,
            read: false,
            counts: LogCounts::default(),
            excerpts: Vec::new(),
        }
    }

    fn add(&mut self, file: LogFile) {
        self.read = true;
        self.counts.add(&file.counts);
        for excerpt in file.excerpts {
            let step = match file.step {
                Some(n) => self.job.steps.iter().find(|s| s.number == n),
                None => step_of(self.job, excerpt.section.as_deref()),
            };
            self.excerpts.push((step, excerpt));
        }
    }

    fn first_failed_step(&self) -> Option<&'a JobStep> {
        self.job.steps.iter().find(|s| failed(s.conclusion))
    }

    fn source(&self, step: Option<&JobStep>) -> String {
        match step {
            Some(s) => format!("gha:job/{}/step/{} ({})", self.job.id, s.number, s.name),
            None => format!("gha:job/{} ({})", self.job.id, self.job.name),
        }
    }

    /// `3 compiler errors`, `2 tests failed`, `1 error line`.
    fn what(&self) -> String {
        let c = &self.counts;
        if !self.read {
            "its log could not be read".into()
        } else if c.compile_errors > 0 {
            plural(c.compile_errors, "compiler error")
        } else if c.test_failures > 0 {
            format!("{} failed", plural(c.test_failures, "test"))
        } else {
            plural(c.error_lines, "error line")
        }
    }

    /// Which job leads the summary: a build that did not compile, then failed tests.
    fn rank(&self) -> u8 {
        match (
            self.counts.compile_errors > 0,
            self.counts.test_failures > 0,
            self.read,
        ) {
            (true, _, _) => 0,
            (_, true, _) => 1,
            (_, _, true) => 2,
            _ => 3,
        }
    }
}

/// The step an excerpt belongs to: the step its `##[group]Run …` header names (unnamed
/// steps are called `Run <command>`), else the job's first failed step.
fn step_of<'a>(job: &'a WorkflowJob, section: Option<&str>) -> Option<&'a JobStep> {
    section
        .and_then(|title| {
            job.steps
                .iter()
                .find(|s| s.name == title || s.name.strip_prefix("Run ") == Some(title))
        })
        .or_else(|| job.steps.iter().find(|s| failed(s.conclusion)))
}

fn observe(jobs: &[WorkflowJob], reports: &[JobReport<'_>]) -> Observation {
    let lead = reports
        .iter()
        .min_by_key(|r| r.rank())
        .expect("a failed run has a failed job");
    let mut summary = match lead.first_failed_step() {
        Some(step) => format!(
            "'{}' failed at step '{}': {}",
            lead.job.name,
            step.name,
            lead.what()
        ),
        None => format!(
            "'{}' {}: {}",
            lead.job.name,
            conclusion_text(lead.job.conclusion, "failed"),
            lead.what()
        ),
    };
    let others: Vec<String> = reports
        .iter()
        .filter(|r| r.job.id != lead.job.id)
        .map(|r| format!("'{}'", r.job.name))
        .collect();
    if !others.is_empty() {
        summary.push_str(&format!(" (also failed: {})", others.join(", ")));
    }

    let mut total = LogCounts::default();
    for report in reports {
        total.add(&report.counts);
    }
    let failed_steps = reports
        .iter()
        .flat_map(|r| &r.job.steps)
        .filter(|s| failed(s.conclusion))
        .count();
    let mut observation = Observation::new(Status::Degraded, summary)
        .metric("jobs", jobs.len() as f64)
        .metric("failed_jobs", reports.len() as f64)
        .metric("failed_steps", failed_steps as f64)
        .metric("compile_errors", total.compile_errors as f64)
        .metric("test_failures", total.test_failures as f64)
        .metric("error_lines", total.error_lines as f64)
        .metric("panics", total.panics as f64)
        .metric("log_bytes", total.bytes as f64);
    if let Some(first) = total.first_error_at {
        observation = observation.metric("first_error_epoch_s", first.timestamp() as f64);
    }

    // The failed tests by name first, then excerpts, most telling first.
    let mut evidence = Vec::new();
    for report in reports.iter().filter(|r| !r.counts.failed_tests.is_empty()) {
        let names = &report.counts.failed_tests;
        let text = format!(
            "{} failed: {}",
            plural(report.counts.test_failures.max(names.len() as u64), "test"),
            names.join(", ")
        );
        evidence.push((
            ExcerptKind::TestFailure,
            0,
            Evidence::new(report.source(report.first_failed_step()), text),
        ));
    }
    for report in reports {
        for (step, excerpt) in &report.excerpts {
            let mut item = Evidence::new(report.source(*step), excerpt.text());
            if let Some(at) = excerpt.at {
                item = item.at(at);
            }
            evidence.push((excerpt.kind, excerpt.line, item));
        }
    }
    evidence.sort_by_key(|(kind, line, _)| (*kind, *line));
    for (_, _, item) in evidence.into_iter().take(MAX_EVIDENCE) {
        observation = observation.evidence(item);
    }
    observation
}

fn plural(n: u64, noun: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {noun}{s}")
}
