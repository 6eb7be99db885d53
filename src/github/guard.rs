//! The rules every write to GitHub obeys, whatever planned it: only branches under
//! `fixpoint/`, never a force push, nothing under `.github/workflows/`. They are checked
//! here, in the layer that talks to GitHub, so no planner or model can get around them;
//! a refused write never leaves the process.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::GitHubError;
use crate::domain::BRANCH_PREFIX;

/// A branch Fixpoint may write to: under `fixpoint/`, a valid git ref name. The only way
/// to name a branch to the writing verbs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FixpointBranch(String);

impl FixpointBranch {
    pub fn new(name: &str) -> Result<Self, String> {
        let rest = name.strip_prefix(BRANCH_PREFIX).ok_or_else(|| {
            format!(
                "`{name}` is not under `{BRANCH_PREFIX}`: Fixpoint writes only to its own branches"
            )
        })?;
        let bad_char = |c: char| {
            c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
        };
        if rest.is_empty()
            || name.len() > 200
            || name.chars().any(bad_char)
            || name.contains("..")
            || name.contains("@{")
            || name.contains("//")
            || name.ends_with('/')
            || name.ends_with(".lock")
            || name.ends_with('.')
            || name.split('/').any(|s| s.starts_with('.'))
        {
            return Err(format!(
                "`{name}` is not a valid branch name (git check-ref-format)"
            ));
        }
        Ok(Self(name.to_string()))
    }

    /// `fixpoint/<service>-<run id>`, from names that are checked already.
    pub fn for_run(service: &str, run_id: u64) -> Result<Self, String> {
        Self::new(&format!("{BRANCH_PREFIX}{service}-{run_id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FixpointBranch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for FixpointBranch {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::new(&s)
    }
}

impl From<FixpointBranch> for String {
    fn from(b: FixpointBranch) -> String {
        b.0
    }
}

/// Workflow files: changing them needs the `workflows` permission, which Fixpoint does
/// not ask for, and a person's approval; a fix that needs one is proposed in the PR text.
const WORKFLOWS_DIR: &str = ".github/workflows/";

/// Refuses a path Fixpoint may not write: workflow files, absolute or climbing paths.
pub fn check_writable_path(op: &str, path: &str) -> Result<(), GitHubError> {
    let normalised = path.trim_start_matches("./");
    if normalised.is_empty()
        || normalised.starts_with('/')
        || normalised
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(GitHubError::refused(
            op,
            format!("`{path}` is not a plain path inside the repository"),
        ));
    }
    if normalised.to_ascii_lowercase().starts_with(WORKFLOWS_DIR) {
        return Err(GitHubError::refused(
            op,
            format!(
                "`{path}` is a workflow file: Fixpoint never pushes under {WORKFLOWS_DIR}; propose the change in the PR text instead"
            ),
        ));
    }
    Ok(())
}

/// GitHub refuses a comment or PR body over 65,536 characters (422).
pub const MAX_BODY_CHARS: usize = 65_536;
/// A check run's `summary` and `text` hold at most 65,535 characters each.
pub const MAX_CHECK_CHARS: usize = 65_535;

/// Every text Fixpoint writes to GitHub: redacted first, then cut to `max` characters
/// with a note that says so (cutting first could split a secret past the redactor).
pub fn outgoing_text(text: &str, max: usize) -> String {
    const CUT: &str = "\n\n… (cut: too long for GitHub)";
    let redacted = crate::redact::redact(text);
    if redacted.chars().count() <= max {
        return redacted.into_owned();
    }
    let keep = max.saturating_sub(CUT.chars().count());
    let mut out: String = redacted.chars().take(keep).collect();
    out.push_str(CUT);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fixpoint_branches_can_be_named() {
        assert!(FixpointBranch::new("fixpoint/payments-api-42").is_ok());
        for bad in [
            "main",
            "refs/heads/main",
            "fixpoint/",
            "fixpoint/../main",
            "fixpoint/a b",
            "fixpoint/x.lock",
            "Fixpoint/x",
        ] {
            assert!(FixpointBranch::new(bad).is_err(), "{bad}");
        }
        let json: Result<FixpointBranch, _> = serde_json::from_value("main".into());
        assert!(json.is_err());
    }

    #[test]
    fn outgoing_text_is_redacted_then_cut_to_githubs_limit() {
        let secret = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
        let text = format!("token {secret} {}", "x".repeat(70_000));
        let out = outgoing_text(&text, MAX_BODY_CHARS);
        assert!(!out.contains(secret));
        assert_eq!(out.chars().count(), MAX_BODY_CHARS);
        assert!(out.ends_with("too long for GitHub)"));
        assert_eq!(outgoing_text("short", 10), "short");
    }

    #[test]
    fn workflow_files_and_escaping_paths_are_refused() {
        for bad in [
            ".github/workflows/deploy.yml",
            "./.github/workflows/x.yaml",
            ".GitHub/Workflows/x.yml",
            "../x",
            "/etc/passwd",
            "a//b",
            "",
        ] {
            assert!(check_writable_path("commit", bad).is_err(), "{bad}");
        }
        for ok in [
            "task-definition.json",
            ".aws/task-definition.json",
            ".github/fixpoint.yml",
            "src/app.py",
        ] {
            assert!(check_writable_path("commit", ok).is_ok(), "{ok}");
        }
    }
}
