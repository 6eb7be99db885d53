//! Repository contents: a file's text at a ref, and what changed between two commits.

use base64::Engine;
use serde::Deserialize;

use super::{GitHubError, RepoClient, url};
use crate::domain::CommitSha;

#[derive(Deserialize)]
struct ContentFile {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    encoding: String,
}

/// A file changed between two commits (`GET /compare/{base}...{head}`).
#[derive(Debug, Clone, Deserialize)]
pub struct ChangedFile {
    pub filename: String,
    pub status: String,
    #[serde(default)]
    pub previous_filename: Option<String>,
}

#[derive(Deserialize)]
struct Comparison {
    #[serde(default)]
    files: Vec<ChangedFile>,
}

impl RepoClient {
    /// A file's text at a ref; `None` when the file does not exist there.
    pub async fn read_file(
        &self,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<String>, GitHubError> {
        let op = "read a file";
        let api_path = self.path(&format!(
            "/contents/{}?ref={}",
            url::path(path),
            url::query(git_ref)
        ));
        let Some(file) = self.get_optional::<ContentFile>(op, &api_path).await? else {
            return Ok(None);
        };
        if file.kind != "file" || file.encoding != "base64" {
            return Err(GitHubError::decode(
                op,
                format!("{path} is a {} ({}), not a file", file.kind, file.encoding),
            ));
        }
        let compact: String = file.content.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| GitHubError::decode(op, e))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| GitHubError::decode(op, format!("{path} is not UTF-8 text")))
    }

    /// The files changed from `base` to `head` (at most the 300 GitHub lists).
    pub async fn compare(
        &self,
        base: &CommitSha,
        head: &CommitSha,
    ) -> Result<Vec<ChangedFile>, GitHubError> {
        let op = "compare two commits";
        let path = self.path(&format!(
            "/compare/{}...{}",
            url::segment(&base.0),
            url::segment(&head.0)
        ));
        Ok(self.get::<Comparison>(op, &path).await?.files)
    }
}
