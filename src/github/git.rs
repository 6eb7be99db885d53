//! The Git Data API: refs, blobs, trees and commits. Fixpoint commits without a clone,
//! and commits an App makes this way (no custom author or committer) are signed by
//! GitHub. Branches are only ever `FixpointBranch`es, moved fast-forward only.

use axum::http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::{FixpointBranch, GitHubError, RepoClient, guard, url};
use crate::domain::CommitSha;
use crate::redact::redact;

#[derive(Deserialize)]
struct Ref {
    object: RefObject,
}

#[derive(Deserialize)]
struct RefObject {
    sha: CommitSha,
}

#[derive(Deserialize)]
struct Created {
    sha: CommitSha,
}

/// A commit as the Git Data API shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct GitCommit {
    pub sha: CommitSha,
    pub message: String,
    pub tree: TreeRef,
    #[serde(default)]
    pub parents: Vec<Parent>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TreeRef {
    pub sha: CommitSha,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Parent {
    pub sha: CommitSha,
}

/// One file of a commit: new content, or `None` to delete it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub content: Option<String>,
}

/// Whether a file may be committed as it is: refused when its path is a workflow file or
/// leaves the repository, or when its text holds what the redactor takes for a secret. The
/// dry run asks it too, so it says what the loop's commit would refuse.
pub fn check_committable(op: &str, path: &str, content: Option<&str>) -> Result<(), GitHubError> {
    guard::check_writable_path(op, path)?;
    if let Some(content) = content
        && redact(content) != content
    {
        return Err(GitHubError::refused(
            op,
            format!(
                "`{path}` would carry text that looks like a secret; Fixpoint never commits one"
            ),
        ));
    }
    Ok(())
}

#[derive(Serialize)]
struct TreeEntry<'a> {
    path: &'a str,
    mode: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    /// `null` deletes the path from the base tree.
    sha: Option<&'a str>,
}

impl RepoClient {
    /// The commit a branch points at; `None` when there is no such branch.
    pub async fn branch_head(&self, branch: &str) -> Result<Option<CommitSha>, GitHubError> {
        let op = "read a branch";
        let path = self.path(&format!("/git/ref/heads/{}", url::path(branch)));
        Ok(self
            .get_optional::<Ref>(op, &path)
            .await?
            .map(|r| r.object.sha))
    }

    pub async fn get_commit(&self, sha: &CommitSha) -> Result<GitCommit, GitHubError> {
        let path = self.path(&format!("/git/commits/{}", url::segment(&sha.0)));
        self.get("read a commit", &path).await
    }

    /// Creates `branch` at `at`. A branch that exists already is left as it is and its
    /// head returned, so a step run again after a crash makes no second branch.
    pub async fn create_branch(
        &self,
        branch: &FixpointBranch,
        at: &CommitSha,
    ) -> Result<CommitSha, GitHubError> {
        #[derive(Serialize)]
        struct NewRef<'a> {
            #[serde(rename = "ref")]
            name: String,
            sha: &'a str,
        }
        let op = "create a branch";
        let body = NewRef {
            name: format!("refs/heads/{branch}"),
            sha: &at.0,
        };
        match self
            .send_json::<_, Ref>(op, Method::POST, &self.path("/git/refs"), &body)
            .await
        {
            Ok(created) => Ok(created.object.sha),
            Err(e) if e.status() == Some(StatusCode::UNPROCESSABLE_ENTITY) => {
                self.branch_head(branch.as_str()).await?.ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Moves `branch` to `to`, fast-forward only: never a force push. GitHub refuses a
    /// move that is not a fast-forward with 422.
    pub async fn update_branch(
        &self,
        branch: &FixpointBranch,
        to: &CommitSha,
    ) -> Result<(), GitHubError> {
        #[derive(Serialize)]
        struct Move<'a> {
            sha: &'a str,
            force: bool,
        }
        let op = "move a branch (fast-forward)";
        let path = self.path(&format!("/git/refs/heads/{}", url::path(branch.as_str())));
        let body = Move {
            sha: &to.0,
            force: false,
        };
        self.send_json::<_, Ref>(op, Method::PATCH, &path, &body)
            .await
            .map(|_| ())
    }

    /// Stores a file's content; returns the blob's SHA.
    pub async fn create_blob(&self, content: &str) -> Result<CommitSha, GitHubError> {
        #[derive(Serialize)]
        struct Blob<'a> {
            content: &'a str,
            encoding: &'static str,
        }
        let body = Blob {
            content,
            encoding: "utf-8",
        };
        let created: Created = self
            .send_json(
                "create a blob",
                Method::POST,
                &self.path("/git/blobs"),
                &body,
            )
            .await?;
        Ok(created.sha)
    }

    /// Makes one commit of `changes` on top of `parent` and moves `branch` to it
    /// (fast-forward), creating the branch at the commit when it does not exist yet. Refused before anything is sent when a path is a workflow file or
    /// leaves the repository, or when a file holds text the redactor takes for a secret.
    /// The message is redacted.
    pub async fn commit_files(
        &self,
        branch: &FixpointBranch,
        parent: &CommitSha,
        message: &str,
        changes: &[FileChange],
    ) -> Result<CommitSha, GitHubError> {
        let op = "commit files";
        if changes.is_empty() {
            return Err(GitHubError::refused(op, "a commit with no change"));
        }
        for change in changes {
            check_committable(op, &change.path, change.content.as_deref())?;
        }
        let base = self.get_commit(parent).await?;
        let mut blobs = Vec::with_capacity(changes.len());
        for change in changes {
            blobs.push(match &change.content {
                Some(content) => Some(self.create_blob(content).await?),
                None => None,
            });
        }
        let entries: Vec<TreeEntry> = changes
            .iter()
            .zip(&blobs)
            .map(|(change, blob)| TreeEntry {
                path: change.path.trim_start_matches("./"),
                mode: "100644",
                kind: "blob",
                sha: blob.as_ref().map(|b| b.0.as_str()),
            })
            .collect();
        #[derive(Serialize)]
        struct NewTree<'a> {
            base_tree: &'a str,
            tree: Vec<TreeEntry<'a>>,
        }
        let tree: Created = self
            .send_json(
                "create a tree",
                Method::POST,
                &self.path("/git/trees"),
                &NewTree {
                    base_tree: &base.tree.sha.0,
                    tree: entries,
                },
            )
            .await?;
        #[derive(Serialize)]
        struct NewCommit<'a> {
            message: &'a str,
            tree: &'a str,
            parents: [&'a str; 1],
        }
        let message = redact(message);
        let commit: Created = self
            .send_json(
                "create a commit",
                Method::POST,
                &self.path("/git/commits"),
                &NewCommit {
                    message: &message,
                    tree: &tree.sha.0,
                    parents: [&parent.0],
                },
            )
            .await?;
        // A new branch is made at the fix itself: made at the parent first, it would be a
        // push of the unfixed tree, and a deploy workflow on `fixpoint/**` would deploy it.
        match self.branch_head(branch.as_str()).await? {
            None => {
                self.create_branch(branch, &commit.sha).await?;
            }
            Some(_) => self.update_branch(branch, &commit.sha).await?,
        }
        Ok(commit.sha)
    }
}
