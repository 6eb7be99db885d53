//! Reading a failed job's log as GitHub serves it: the job's own log, streamed from the
//! HTTP body, or its files in the run's zip archive, spooled to an unnamed temporary file
//! and read entry by entry. Either way the bytes go through an `ExcerptExtractor` as they
//! arrive: memory does not grow with the size of the log.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use tokio::io::AsyncWriteExt;

use crate::github::RepoClient;
use crate::github::actions::WorkflowJob;
use crate::ids::{JobId, RunId};
use crate::skills::excerpts::{Excerpt, ExcerptExtractor, ExcerptLimits, LogCounts};

/// A run's archive larger than this is not spooled to disk.
const MAX_ARCHIVE_BYTES: u64 = 2 << 30;
/// Uncompressed bytes read from one archive at most (a zip bomb stops here).
const MAX_UNZIPPED_BYTES: u64 = 8 << 30;

/// What one log file of a job said. `step` is the step number when the file is one step's.
pub(super) struct LogFile {
    pub step: Option<u64>,
    pub counts: LogCounts,
    pub excerpts: Vec<Excerpt>,
}

/// Streams one job's log through the extractor.
pub(super) async fn read_job_log(
    github: &RepoClient,
    job: JobId,
    limits: &ExcerptLimits,
) -> anyhow::Result<LogFile> {
    let mut response = github.download_job_logs(job).await?;
    let mut extractor = ExcerptExtractor::new(limits.clone());
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        anyhow::anyhow!(
            "the download of job {job}'s log broke off: {}",
            e.without_url()
        )
    })? {
        extractor.push_bytes(&chunk);
    }
    let (counts, excerpts) = extractor.finish_with_counts();
    Ok(LogFile {
        step: None,
        counts,
        excerpts,
    })
}

/// The log files of `jobs` in the archive of one attempt of a run: each failed step's file
/// when the archive has them (`build/3_cargo test.txt`), else the job's (`0_build.txt`).
/// Jobs the archive has no file for are left out.
pub(super) async fn read_run_archive(
    github: &RepoClient,
    run: RunId,
    attempt: u64,
    jobs: &[&WorkflowJob],
    limits: &ExcerptLimits,
) -> anyhow::Result<Vec<(u64, LogFile)>> {
    let mut response = github.download_run_logs(run, attempt).await?;
    // Unnamed: the file is gone when closed, even if the process dies.
    let spool =
        tempfile::tempfile().context("cannot create a temporary file for the run's logs")?;
    let mut file = tokio::fs::File::from_std(spool);
    let mut spooled = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        anyhow::anyhow!(
            "the download of run {run}'s logs broke off: {}",
            e.without_url()
        )
    })? {
        spooled += chunk.len() as u64;
        anyhow::ensure!(
            spooled <= MAX_ARCHIVE_BYTES,
            "the log archive of run {run} is larger than {MAX_ARCHIVE_BYTES} bytes"
        );
        file.write_all(&chunk)
            .await
            .context("cannot spool the run's logs")?;
    }
    file.flush().await.context("cannot spool the run's logs")?;
    let file = file.into_std().await;
    let wanted: Vec<Wanted> = jobs.iter().map(|job| Wanted::new(job)).collect();
    let limits = limits.clone();
    // If the sweep gives up on this check, the blocking reader stops at its next chunk.
    let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let cancelled = cancel.0.clone();
    let read =
        tokio::task::spawn_blocking(move || read_archive(file, &wanted, &limits, &cancelled));
    read.await.context("the archive reader stopped")?
}

struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A job as the archive names it: GitHub drops characters file names cannot hold.
struct Wanted {
    id: u64,
    file_name: String,
    failed_steps: Vec<u64>,
}

impl Wanted {
    fn new(job: &WorkflowJob) -> Self {
        Self {
            id: job.id,
            file_name: file_name(&job.name),
            failed_steps: job
                .steps
                .iter()
                .filter(|s| super::failed(s.conclusion))
                .map(|s| s.number)
                .collect(),
        }
    }

    /// Whether `entry` is this job's file (`3_build.txt`), or which failed step's file
    /// (`build/4_Run tests.txt`) it is.
    fn claims(&self, entry: &str) -> Option<Option<u64>> {
        let stem = entry.strip_suffix(".txt")?;
        match stem.split_once('/') {
            Some((dir, step)) if dir == self.file_name => {
                let number: u64 = step.split_once('_')?.0.parse().ok()?;
                self.failed_steps.contains(&number).then_some(Some(number))
            }
            Some(_) => None,
            None => {
                let (index, name) = stem.split_once('_')?;
                (index.bytes().all(|b| b.is_ascii_digit()) && name == self.file_name)
                    .then_some(None)
            }
        }
    }
}

fn file_name(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '/' | '\\' | ':' | '<' | '>' | '|' | '*' | '?' | '"'))
        .collect()
}

fn read_archive(
    file: std::fs::File,
    wanted: &[Wanted],
    limits: &ExcerptLimits,
    cancelled: &AtomicBool,
) -> anyhow::Result<Vec<(u64, LogFile)>> {
    let mut archive = zip::ZipArchive::new(file).context("the run's logs are not a zip archive")?;
    let mut entries: Vec<(usize, u64, Option<u64>)> = Vec::new();
    for index in 0..archive.len() {
        let Some(name) = archive.name_for_index(index) else {
            continue;
        };
        for job in wanted {
            if let Some(step) = job.claims(name) {
                entries.push((index, job.id, step));
            }
        }
    }
    // A job read step by step is not read again whole.
    let by_step: Vec<u64> = entries
        .iter()
        .filter(|e| e.2.is_some())
        .map(|e| e.1)
        .collect();
    entries.retain(|e| e.2.is_some() || !by_step.contains(&e.1));
    let mut budget = MAX_UNZIPPED_BYTES;
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    for (index, job, step) in entries {
        let mut entry = archive
            .by_index(index)
            .context("cannot read the run's log archive")?;
        let mut extractor = ExcerptExtractor::new(limits.clone());
        loop {
            anyhow::ensure!(
                !cancelled.load(Ordering::Relaxed),
                "reading the run's logs was cancelled"
            );
            let n = entry
                .read(&mut buf)
                .context("cannot unzip the run's logs")?;
            if n == 0 {
                break;
            }
            budget = budget
                .checked_sub(n as u64)
                .context("the run's logs unzip to more than 8 GiB")?;
            extractor.push_bytes(&buf[..n]);
        }
        let (counts, excerpts) = extractor.finish_with_counts();
        out.push((
            job,
            LogFile {
                step,
                counts,
                excerpts,
            },
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, Write};

    use super::*;
    use crate::domain::{Conclusion, RunStatus};
    use crate::github::actions::JobStep;

    fn job(id: u64, name: &str, failed_step: u64) -> WorkflowJob {
        let step = |number: u64, conclusion: Conclusion| JobStep {
            name: format!("step {number}"),
            number,
            conclusion: Some(conclusion),
        };
        WorkflowJob {
            id,
            name: name.into(),
            status: RunStatus::Completed,
            conclusion: Some(Conclusion::Failure),
            steps: vec![
                step(1, Conclusion::Success),
                step(failed_step, Conclusion::Failure),
            ],
        }
    }

    /// An archive shaped like GitHub's: `N_job.txt` per job, `job/N_step.txt` per step; names
    /// lose the characters files cannot hold (`:` here).
    fn archive(files: &[(&str, &str)]) -> std::fs::File {
        let mut file = tempfile::tempfile().unwrap();
        let mut zip = zip::ZipWriter::new(&mut file);
        for (name, text) in files {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        file.rewind().unwrap();
        file
    }

    #[test]
    fn a_job_is_read_by_its_failed_steps_when_the_archive_has_them() {
        let file = archive(&[
            (
                "0_test (ubuntu stable).txt",
                "whole log\nERROR not read twice\n",
            ),
            (
                "test (ubuntu stable)/1_step 1.txt",
                "ERROR in a step that passed\n",
            ),
            (
                "test (ubuntu stable)/3_step 3.txt",
                "error[E0425]: cannot find value `x`\n",
            ),
            ("1_deploy.txt", "##[error]Timed out\n"),
            ("2_lint.txt", "ERROR not wanted\n"),
        ]);
        let wanted = [
            Wanted::new(&job(7, "test (ubuntu: stable)", 3)),
            Wanted::new(&job(8, "deploy", 2)),
        ];
        let cancelled = AtomicBool::new(false);
        let read = read_archive(file, &wanted, &ExcerptLimits::default(), &cancelled).unwrap();
        let seen: Vec<(u64, Option<u64>, u64, u64)> = read
            .iter()
            .map(|(job, f)| {
                (
                    *job,
                    f.step,
                    f.counts.compile_errors,
                    f.counts.runner_errors,
                )
            })
            .collect();
        assert_eq!(seen, [(7, Some(3), 1, 0), (8, None, 0, 1)]);
    }
}
