//! Job logs as GitHub Actions serves them: one timestamped text per job, and per run a zip
//! archive with `N_jobname.txt` per job plus `jobname/N_stepname.txt` per step.

use std::io::{Cursor, Write};

use chrono::{DateTime, Duration, Utc};
use zip::write::SimpleFileOptions;

use super::model::{Job, Step, WorkflowRun};

fn stamp(at: DateTime<Utc>) -> String {
    // GitHub's log timestamps carry seven fractional digits.
    format!("{}.0000000Z", at.format("%Y-%m-%dT%H:%M:%S"))
}

/// The lines one step printed, timestamped, inside its `##[group]` header like GitHub's.
fn step_text(job: &Job, step: &Step) -> String {
    let at = stamp(job.started_at + Duration::seconds(i64::from(step.number) * 5));
    let mut text = format!("{at} ##[group]Run {}\n{at} ##[endgroup]\n", step.name);
    for line in step.log.lines() {
        text.push_str(&format!("{at} {line}\n"));
    }
    if step.conclusion.as_deref() == Some("failure") {
        text.push_str(&format!(
            "{at} ##[error]Process completed with exit code 1.\n"
        ));
    }
    text
}

/// The whole log of one job, as `GET .../actions/jobs/{job_id}/logs` leads to.
pub(super) fn job_text(job: &Job) -> String {
    match &job.log {
        Some(text) => text.clone(),
        None => job.steps.iter().map(|step| step_text(job, step)).collect(),
    }
}

/// GitHub strips characters that cannot be in a file name.
fn file_name(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '/' | '\\' | ':' | '<' | '>' | '|' | '*' | '?' | '"'))
        .collect()
}

/// The run's log archive for its latest attempt.
pub(super) fn run_archive(run: &WorkflowRun) -> Vec<u8> {
    let mut archive = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let jobs = run
        .jobs
        .iter()
        .filter(|job| job.run_attempt == run.run_attempt);
    for (index, job) in jobs.enumerate() {
        let job_name = file_name(&job.name);
        archive
            .start_file(format!("{index}_{job_name}.txt"), options)
            .expect("zip entry");
        archive
            .write_all(job_text(job).as_bytes())
            .expect("zip write");
        for step in &job.steps {
            let step_name = file_name(&step.name);
            archive
                .start_file(
                    format!("{job_name}/{}_{step_name}.txt", step.number),
                    options,
                )
                .expect("zip entry");
            archive
                .write_all(step_text(job, step).as_bytes())
                .expect("zip write");
        }
    }
    archive.finish().expect("zip finish").into_inner()
}
