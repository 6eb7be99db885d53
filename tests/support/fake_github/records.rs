//! What the App wrote into the fake (issues and pull requests, comments, check runs, workflow
//! dispatches) and what the fake sent back to the App (webhook deliveries), as tests read them.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// An issue, or a pull request when `pull` is set (GitHub numbers both in one sequence).
#[derive(Clone, Debug)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    /// `open` or `closed`.
    pub state: String,
    pub labels: Vec<String>,
    /// The login that opened it (the App's bot for what the App opened).
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub pull: Option<Pull>,
}

/// What a pull request has beyond an issue.
#[derive(Clone, Debug)]
pub struct Pull {
    /// The head branch, e.g. `fixpoint/oom-api`.
    pub head: String,
    pub base: String,
    pub draft: bool,
    pub requested_reviewers: Vec<String>,
    pub requested_teams: Vec<String>,
}

/// A comment on an issue or pull request.
#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    pub issue_number: u64,
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Reaction contents in the order they were added, e.g. `["eyes", "+1"]`.
    pub reactions: Vec<String>,
    /// Taken by `expect_comment`; a comment never taken fails the test when the fake is dropped.
    pub(super) expected: bool,
}

/// A check run the App created (and perhaps updated).
#[derive(Clone, Debug)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    pub conclusion: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub details_url: Option<String>,
    pub external_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// One accepted `POST actions/workflows/{workflow_id}/dispatches`.
#[derive(Clone, Debug)]
pub struct Dispatch {
    /// The workflow as named in the URL: its numeric id or its file name.
    pub workflow: String,
    pub git_ref: String,
    pub inputs: Value,
}

/// One webhook the fake posted to the App.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event: String,
    pub action: String,
    /// `X-GitHub-Delivery`.
    pub guid: String,
    /// `X-Hub-Signature-256`.
    pub signature: String,
    pub body: Vec<u8>,
    /// The App's answer; `Err` when it could not be reached.
    pub answer: Result<u16, String>,
}
