//! Pull requests: open one from a Fixpoint branch (draft or ready), find it again by its
//! head, update its text or state, ask for reviewers, and mark a draft ready (GraphQL:
//! REST has no such call). Merging is not here, and never will be.

use axum::http::Method;
use serde::{Deserialize, Serialize};

use super::guard::{MAX_BODY_CHARS, outgoing_text};
use super::{FixpointBranch, GitHubError, RepoClient, url};
use crate::domain::CommitSha;

#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub node_id: String,
    pub html_url: String,
    pub state: PrState,
    #[serde(default)]
    pub draft: Option<bool>,
    pub title: String,
    pub body: Option<String>,
    pub head: PrHead,
    pub base: PrBase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrState {
    Open,
    Closed,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PrHead {
    #[serde(rename = "ref")]
    pub branch: String,
    pub sha: CommitSha,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PrBase {
    #[serde(rename = "ref")]
    pub branch: String,
}

/// A pull request to open. `head` can only be one of Fixpoint's branches.
#[derive(Debug, Clone)]
pub struct NewPullRequest<'a> {
    pub head: &'a FixpointBranch,
    pub base: &'a str,
    pub title: &'a str,
    pub body: &'a str,
}

/// What to change on a pull request; `None` leaves it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PrUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<PrState>,
}

#[derive(Serialize)]
struct Create<'a> {
    title: String,
    body: String,
    head: &'a str,
    base: &'a str,
    draft: bool,
}

impl RepoClient {
    /// Opens a ready-for-review pull request.
    pub async fn open_pr(&self, pr: &NewPullRequest<'_>) -> Result<PullRequest, GitHubError> {
        self.create_pr("open a pull request", pr, false).await
    }

    /// Opens a draft pull request. Private repositories on GitHub Free refuse drafts
    /// with 422; the caller can open a ready one instead.
    pub async fn open_draft_pr(&self, pr: &NewPullRequest<'_>) -> Result<PullRequest, GitHubError> {
        self.create_pr("open a draft pull request", pr, true).await
    }

    async fn create_pr(
        &self,
        op: &str,
        pr: &NewPullRequest<'_>,
        draft: bool,
    ) -> Result<PullRequest, GitHubError> {
        let body = Create {
            title: outgoing_text(pr.title, 256),
            body: outgoing_text(pr.body, MAX_BODY_CHARS),
            head: pr.head.as_str(),
            base: pr.base,
            draft,
        };
        self.send_json(op, Method::POST, &self.path("/pulls"), &body)
            .await
    }

    /// The pull request (open or closed) whose head is `branch` in this repository, so a
    /// step run again finds the one it opened instead of opening another.
    pub async fn find_pr_by_head(
        &self,
        branch: &FixpointBranch,
    ) -> Result<Option<PullRequest>, GitHubError> {
        let head = format!("{}:{}", self.repo().owner(), branch);
        let path = self.path(&format!(
            "/pulls?state=all&per_page=10&head={}",
            url::query(&head)
        ));
        let prs: Vec<PullRequest> = self.get("find a pull request by head", &path).await?;
        Ok(prs.into_iter().find(|pr| pr.head.branch == branch.as_str()))
    }

    pub async fn get_pr(&self, number: u64) -> Result<PullRequest, GitHubError> {
        self.get(
            "read a pull request",
            &self.path(&format!("/pulls/{number}")),
        )
        .await
    }

    /// Changes a pull request's title, body or state; texts are redacted and capped.
    pub async fn update_pr(
        &self,
        number: u64,
        update: PrUpdate,
    ) -> Result<PullRequest, GitHubError> {
        let update = PrUpdate {
            title: update.title.map(|t| outgoing_text(&t, 256)),
            body: update.body.map(|b| outgoing_text(&b, MAX_BODY_CHARS)),
            state: update.state,
        };
        let path = self.path(&format!("/pulls/{number}"));
        self.send_json("update a pull request", Method::PATCH, &path, &update)
            .await
    }

    pub async fn request_reviewers(
        &self,
        number: u64,
        reviewers: &[String],
    ) -> Result<(), GitHubError> {
        #[derive(Serialize)]
        struct Reviewers<'a> {
            reviewers: &'a [String],
        }
        let path = self.path(&format!("/pulls/{number}/requested_reviewers"));
        self.send_no_content(
            "request reviewers",
            Method::POST,
            &path,
            &Reviewers { reviewers },
        )
        .await
    }

    /// Draft → ready for review, which only GraphQL can do
    /// (`markPullRequestReadyForReview`).
    pub async fn mark_ready_for_review(&self, pr: &PullRequest) -> Result<(), GitHubError> {
        #[derive(Serialize)]
        struct Query<'a> {
            query: &'static str,
            variables: Vars<'a>,
        }
        #[derive(Serialize)]
        struct Vars<'a> {
            id: &'a str,
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            errors: Option<Vec<GraphQlError>>,
        }
        #[derive(Deserialize)]
        struct GraphQlError {
            message: String,
        }
        const MUTATION: &str = "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft } } }";
        let op = "mark a pull request ready for review";
        let answer: Answer = self
            .send_json(
                op,
                Method::POST,
                super::transport::GRAPHQL,
                &Query {
                    query: MUTATION,
                    variables: Vars { id: &pr.node_id },
                },
            )
            .await?;
        match answer.errors.unwrap_or_default().first() {
            None => Ok(()),
            Some(e) => Err(GitHubError::Status {
                operation: op.into(),
                status: axum::http::StatusCode::OK,
                message: e.message.clone(),
            }),
        }
    }
}
