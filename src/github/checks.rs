//! Check runs: the status line a fix shows on its commit. Texts are redacted and capped at
//! the 65,535 characters GitHub takes.

use axum::http::Method;
use serde::{Deserialize, Serialize};

use super::guard::{MAX_CHECK_CHARS, outgoing_text};
use super::{GitHubError, RepoClient};
use crate::domain::CommitSha;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Queued,
    InProgress,
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    Success,
    Failure,
    Neutral,
    Cancelled,
    TimedOut,
    ActionRequired,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckOutput {
    pub title: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CheckOutput {
    fn outgoing(&self) -> CheckOutput {
        CheckOutput {
            title: outgoing_text(&self.title, 256),
            summary: outgoing_text(&self.summary, MAX_CHECK_CHARS),
            text: self
                .text
                .as_ref()
                .map(|t| outgoing_text(t, MAX_CHECK_CHARS)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckRun {
    pub id: u64,
    pub status: CheckStatus,
    pub conclusion: Option<CheckConclusion>,
}

#[derive(Serialize)]
struct Create<'a> {
    name: &'a str,
    head_sha: &'a str,
    status: CheckStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    conclusion: Option<CheckConclusion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<CheckOutput>,
}

#[derive(Serialize)]
struct Update {
    status: CheckStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    conclusion: Option<CheckConclusion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<CheckOutput>,
}

impl RepoClient {
    pub async fn create_check_run(
        &self,
        name: &str,
        head_sha: &CommitSha,
        status: CheckStatus,
        output: Option<&CheckOutput>,
    ) -> Result<CheckRun, GitHubError> {
        let body = Create {
            name,
            head_sha: &head_sha.0,
            status,
            conclusion: None,
            output: output.map(CheckOutput::outgoing),
        };
        self.send_json(
            "create a check run",
            Method::POST,
            &self.path("/check-runs"),
            &body,
        )
        .await
    }

    /// Moves a check run on; `conclusion` is required by GitHub once `Completed`.
    pub async fn update_check_run(
        &self,
        id: u64,
        status: CheckStatus,
        conclusion: Option<CheckConclusion>,
        output: Option<&CheckOutput>,
    ) -> Result<CheckRun, GitHubError> {
        let body = Update {
            status,
            conclusion,
            output: output.map(CheckOutput::outgoing),
        };
        let path = self.path(&format!("/check-runs/{id}"));
        self.send_json("update a check run", Method::PATCH, &path, &body)
            .await
    }
}
