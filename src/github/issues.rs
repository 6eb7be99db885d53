//! Issue and pull-request conversation: comments (post, update, list), labels,
//! reactions and assignees. Every body is redacted and capped before it leaves.

use axum::http::Method;
use serde::{Deserialize, Serialize};

use super::guard::{MAX_BODY_CHARS, outgoing_text};
use super::{GitHubError, RepoClient};

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub html_url: String,
    #[serde(default)]
    pub body: Option<String>,
    pub user: Option<CommentAuthor>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommentAuthor {
    pub login: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// The reactions GitHub offers on a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Reaction {
    #[serde(rename = "+1")]
    ThumbsUp,
    #[serde(rename = "-1")]
    ThumbsDown,
    #[serde(rename = "laugh")]
    Laugh,
    #[serde(rename = "confused")]
    Confused,
    #[serde(rename = "heart")]
    Heart,
    #[serde(rename = "hooray")]
    Hooray,
    #[serde(rename = "rocket")]
    Rocket,
    #[serde(rename = "eyes")]
    Eyes,
}

#[derive(Serialize)]
struct Body {
    body: String,
}

impl RepoClient {
    /// Comments on an issue or pull request.
    pub async fn post_comment(&self, issue: u64, body: &str) -> Result<Comment, GitHubError> {
        let path = self.path(&format!("/issues/{issue}/comments"));
        let body = Body {
            body: outgoing_text(body, MAX_BODY_CHARS),
        };
        self.send_json("post a comment", Method::POST, &path, &body)
            .await
    }

    pub async fn update_comment(&self, comment: u64, body: &str) -> Result<Comment, GitHubError> {
        let path = self.path(&format!("/issues/comments/{comment}"));
        let body = Body {
            body: outgoing_text(body, MAX_BODY_CHARS),
        };
        self.send_json("update a comment", Method::PATCH, &path, &body)
            .await
    }

    /// Every comment on an issue or pull request, oldest first (up to 1,000).
    pub async fn list_comments(&self, issue: u64) -> Result<Vec<Comment>, GitHubError> {
        let mut all = Vec::new();
        for page in 1..=10 {
            let path = self.path(&format!(
                "/issues/{issue}/comments?per_page=100&page={page}"
            ));
            let batch: Vec<Comment> = self.get("list comments", &path).await?;
            let last = batch.len() < 100;
            all.extend(batch);
            if last {
                break;
            }
        }
        Ok(all)
    }

    pub async fn add_labels(&self, issue: u64, labels: &[&str]) -> Result<(), GitHubError> {
        #[derive(Serialize)]
        struct Labels<'a> {
            labels: &'a [&'a str],
        }
        let path = self.path(&format!("/issues/{issue}/labels"));
        self.send_no_content("add labels", Method::POST, &path, &Labels { labels })
            .await
    }

    pub async fn add_assignees(&self, issue: u64, assignees: &[String]) -> Result<(), GitHubError> {
        #[derive(Serialize)]
        struct Assignees<'a> {
            assignees: &'a [String],
        }
        let path = self.path(&format!("/issues/{issue}/assignees"));
        self.send_no_content(
            "add assignees",
            Method::POST,
            &path,
            &Assignees { assignees },
        )
        .await
    }

    /// Reacts to a comment (Fixpoint's way of saying "seen" before it replies).
    pub async fn react_to_comment(
        &self,
        comment: u64,
        reaction: Reaction,
    ) -> Result<(), GitHubError> {
        #[derive(Serialize)]
        struct Content {
            content: Reaction,
        }
        let path = self.path(&format!("/issues/comments/{comment}/reactions"));
        self.send_no_content(
            "react to a comment",
            Method::POST,
            &path,
            &Content { content: reaction },
        )
        .await
    }

    /// The permission `user` has on this repository: `admin`, `write`, `read` or `none`
    /// (maintain counts as write, triage as read). Decides who may command Fixpoint.
    pub async fn collaborator_permission(&self, user: &str) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct Permission {
            permission: String,
        }
        let path = self.path(&format!(
            "/collaborators/{}/permission",
            super::url::segment(user)
        ));
        let answer: Permission = self.get("read a collaborator's permission", &path).await?;
        Ok(answer.permission)
    }
}
