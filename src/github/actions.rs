//! GitHub Actions: a run's jobs and logs, the runs of a workflow (to find the last good
//! deploy, or the run CI started on a branch), and `workflow_dispatch`.

use axum::http::Method;
use serde::{Deserialize, Serialize};

use super::{FixpointBranch, GitHubError, RepoClient, url};
use crate::domain::{CommitSha, Conclusion, JobId, RunId, RunStatus};

#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowJob {
    pub id: u64,
    pub name: String,
    pub status: RunStatus,
    pub conclusion: Option<Conclusion>,
    #[serde(default)]
    pub steps: Vec<JobStep>,
}

impl WorkflowJob {
    pub fn failed(&self) -> bool {
        Conclusion::failed(self.conclusion)
    }

    /// The names of the steps that failed, in order.
    pub fn failed_steps(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| Conclusion::failed(s.conclusion))
            .map(|s| s.name.clone())
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobStep {
    pub name: String,
    pub number: u64,
    pub conclusion: Option<Conclusion>,
}

#[derive(Deserialize)]
struct JobsPage {
    total_count: u64,
    jobs: Vec<WorkflowJob>,
}

/// A workflow run as listed.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowRun {
    pub id: RunId,
    pub name: Option<String>,
    pub head_sha: CommitSha,
    pub head_branch: Option<String>,
    pub status: Option<RunStatus>,
    pub conclusion: Option<Conclusion>,
    pub run_attempt: Option<u64>,
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Deserialize)]
struct RunsPage {
    workflow_runs: Vec<WorkflowRun>,
}

/// Which runs to list; empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct RunFilter<'a> {
    /// The workflow's file name (`deploy.yml`) or id; `None` lists every workflow's runs.
    pub workflow: Option<&'a str>,
    pub branch: Option<&'a str>,
    pub head_sha: Option<&'a CommitSha>,
    /// `completed`, `success`, `failure`, `in_progress`… as the API takes them.
    pub status: Option<&'a str>,
}

#[derive(Serialize)]
struct Dispatch<'a> {
    #[serde(rename = "ref")]
    git_ref: &'a str,
}

impl RepoClient {
    /// Every job of one attempt of a run (paginated).
    pub async fn list_run_jobs(
        &self,
        run: RunId,
        attempt: u64,
    ) -> Result<Vec<WorkflowJob>, GitHubError> {
        let op = "list the run's jobs";
        let mut jobs = Vec::new();
        for page in 1..=20 {
            let path = self.path(&format!(
                "/actions/runs/{run}/attempts/{attempt}/jobs?per_page=100&page={page}"
            ));
            let batch: JobsPage = self.get(op, &path).await?;
            let done = batch.jobs.is_empty();
            jobs.extend(batch.jobs);
            if done || jobs.len() as u64 >= batch.total_count {
                break;
            }
        }
        Ok(jobs)
    }

    /// One run (`GET /repos/{owner}/{repo}/actions/runs/{run_id}`): its head commit and
    /// branch, which a dry run of the fix reads the repository at.
    pub async fn workflow_run(&self, run: RunId) -> Result<WorkflowRun, GitHubError> {
        self.get(
            "read a workflow run",
            &self.path(&format!("/actions/runs/{run}")),
        )
        .await
    }

    /// Runs matching `filter`, newest first (one page of up to 100).
    pub async fn list_workflow_runs(
        &self,
        filter: &RunFilter<'_>,
    ) -> Result<Vec<WorkflowRun>, GitHubError> {
        let op = "list workflow runs";
        let mut query = vec!["per_page=100".to_string()];
        if let Some(branch) = filter.branch {
            query.push(format!("branch={}", url::query(branch)));
        }
        if let Some(sha) = filter.head_sha {
            query.push(format!("head_sha={}", url::query(&sha.0)));
        }
        if let Some(status) = filter.status {
            query.push(format!("status={}", url::query(status)));
        }
        let base = match filter.workflow {
            Some(workflow) => format!("/actions/workflows/{}/runs", url::segment(workflow)),
            None => "/actions/runs".to_string(),
        };
        let path = self.path(&format!("{base}?{}", query.join("&")));
        Ok(self.get::<RunsPage>(op, &path).await?.workflow_runs)
    }

    /// The newest successful run of `workflow` on `branch`: its head is the last good
    /// commit a revert goes back to.
    pub async fn last_successful_run(
        &self,
        workflow: &str,
        branch: &str,
    ) -> Result<Option<WorkflowRun>, GitHubError> {
        let runs = self
            .list_workflow_runs(&RunFilter {
                workflow: Some(workflow),
                branch: Some(branch),
                status: Some("success"),
                head_sha: None,
            })
            .await?;
        Ok(runs
            .into_iter()
            .find(|r| r.conclusion == Some(Conclusion::Success)))
    }

    /// Starts `workflow` on one of Fixpoint's branches (`workflow_dispatch`; needs the
    /// App's actions permission raised to write, and a 403 says so).
    pub async fn dispatch_workflow(
        &self,
        workflow: &str,
        branch: &FixpointBranch,
    ) -> Result<(), GitHubError> {
        let op = "dispatch a workflow (needs actions: write)";
        let path = self.path(&format!(
            "/actions/workflows/{}/dispatches",
            url::segment(workflow)
        ));
        let body = Dispatch {
            git_ref: branch.as_str(),
        };
        self.send_no_content(op, Method::POST, &path, &body).await
    }

    /// One job's log (`GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs`): plain text,
    /// every line timestamped. The body is left unread, to be streamed (`chunk()`).
    pub async fn download_job_logs(&self, job: JobId) -> Result<reqwest::Response, GitHubError> {
        let path = self.path(&format!("/actions/jobs/{job}/logs"));
        self.download("download a job's log", &path).await
    }

    /// The zip archive of one attempt's logs
    /// (`GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/logs`):
    /// a file per job and, per job, a file per step. The body is left unread.
    pub async fn download_run_logs(
        &self,
        run: RunId,
        attempt: u64,
    ) -> Result<reqwest::Response, GitHubError> {
        let path = self.path(&format!("/actions/runs/{run}/attempts/{attempt}/logs"));
        self.download("download a run's logs", &path).await
    }
}
