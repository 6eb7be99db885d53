//! What can be wrong with a map, said so that a person can fix it: every error names the file,
//! the node when there is one, and the fix. `load` stops at the first; `check` lists them all.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::keys::UnknownField;
use crate::redact::redact;

/// An error loading a map or following its links. Callers match on the variant;
/// [`TopologyError::problem`] gives the message and fix people read.
#[derive(Debug)]
pub enum TopologyError {
    /// The file (or the map a `topology:` link names) cannot be read.
    Read {
        file: PathBuf,
        linked_from: Option<(PathBuf, String)>,
        reason: String,
    },
    /// Neither `.yaml`, `.yml` nor `.json`.
    Extension {
        file: PathBuf,
    },
    /// The YAML or JSON does not parse, or a value has the wrong type.
    Malformed {
        file: PathBuf,
        format: &'static str,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// A key the format does not know (boxed: it is the largest variant).
    UnknownField(Box<UnknownField>),
    UnknownSkill {
        file: PathBuf,
        node: String,
        skill: String,
        suggestion: Option<String>,
    },
    /// A required field missing, an empty name, a bad env var name, a value that is not allowed.
    Invalid {
        file: PathBuf,
        node: Option<String>,
        message: String,
        fix: String,
    },
    DuplicateNode {
        file: PathBuf,
        node: String,
    },
    /// A password or token inside a URL. The value itself is never repeated.
    InlineCredentials {
        file: PathBuf,
        node: Option<String>,
        field: String,
    },
    /// The map names a production environment.
    Production {
        file: PathBuf,
        environment: String,
    },
    /// `topology:` links that come back to a map already on the path: `files` is the cycle,
    /// first file repeated last. `node` in `file` is the link that closes it.
    Cycle {
        file: PathBuf,
        node: String,
        files: Vec<String>,
    },
}

/// How bad a problem is: errors fail `topology check`, warnings are shown and pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One line of `topology check` output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub file: PathBuf,
    pub node: Option<String>,
    pub message: String,
    pub fix: String,
}

impl Problem {
    pub fn error(file: &Path, node: Option<&str>, message: String, fix: String) -> Self {
        Self::new(Severity::Error, file, node, message, fix)
    }

    pub fn warning(file: &Path, node: Option<&str>, message: String, fix: String) -> Self {
        Self::new(Severity::Warning, file, node, message, fix)
    }

    fn new(
        severity: Severity,
        file: &Path,
        node: Option<&str>,
        message: String,
        fix: String,
    ) -> Self {
        Problem {
            severity,
            file: file.to_path_buf(),
            node: node.map(str::to_string),
            message: redact(&message).into_owned(),
            fix: redact(&fix).into_owned(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}", self.file.display())?;
        if let Some(node) = &self.node {
            write!(f, ": node `{node}`")?;
        }
        write!(f, ": {}\n  fix: {}", self.message, self.fix)
    }
}

impl TopologyError {
    pub fn file(&self) -> &Path {
        match self {
            TopologyError::UnknownField(unknown) => &unknown.file,
            TopologyError::Read { file, .. }
            | TopologyError::Extension { file }
            | TopologyError::Malformed { file, .. }
            | TopologyError::UnknownSkill { file, .. }
            | TopologyError::Invalid { file, .. }
            | TopologyError::DuplicateNode { file, .. }
            | TopologyError::InlineCredentials { file, .. }
            | TopologyError::Production { file, .. }
            | TopologyError::Cycle { file, .. } => file,
        }
    }

    /// The message, the node and the fix, as `topology check` prints them.
    pub fn problem(&self) -> Problem {
        let err = |node: Option<&str>, message: String, fix: String| {
            Problem::error(self.file(), node, message, fix)
        };
        match self {
            TopologyError::Read { file, linked_from: Some((from, node)), reason } => Problem::error(
                from,
                Some(node),
                format!("`topology:` names {}, which cannot be read: {reason}", file.display()),
                "fix the path; it is relative to the file that names it".into(),
            ),
            TopologyError::Read { reason, .. } => err(
                None,
                format!("cannot read the map: {reason}"),
                "check the path and that the file is readable".into(),
            ),
            TopologyError::Extension { .. } => err(
                None,
                "not a topology map: the name must end in .yaml, .yml or .json".into(),
                "rename the file, or point at the map itself".into(),
            ),
            TopologyError::Malformed { format, line, column, message, .. } => {
                let at = match (line, column) {
                    (Some(l), Some(c)) => format!(" at line {l} column {c}"),
                    _ => String::new(),
                };
                err(None, format!("malformed {format}{at}: {message}"), format!("fix the {format}{at}"))
            }
            TopologyError::UnknownField(unknown) => {
                let UnknownField { node, at, field, line, fix, .. } = unknown.as_ref();
                let line = line.map(|l| format!(" (line {l})")).unwrap_or_default();
                err(node.as_deref(), format!("unknown field `{field}` in `{at}`{line}"), fix.to_string())
            }
            TopologyError::UnknownSkill { node, skill, suggestion, .. } => {
                let known = super::skill::SkillKind::NAMES.iter().map(|(n, _)| *n);
                let known = known.collect::<Vec<_>>().join(", ");
                let fix = match suggestion {
                    Some(s) => format!("did you mean `skill: {s}`? (known skills: {known})"),
                    None => format!("use one of the known skills: {known}"),
                };
                err(Some(node), format!("unknown skill `{skill}`"), fix)
            }
            TopologyError::Invalid { node, message, fix, .. } => {
                err(node.as_deref(), message.clone(), fix.clone())
            }
            TopologyError::DuplicateNode { node, .. } => err(
                Some(node),
                format!("more than one node is named `{node}` in this map"),
                "give each node a unique name: findings and diagnoses refer to nodes by name".into(),
            ),
            TopologyError::InlineCredentials { node, field, .. } => err(
                node.as_deref(),
                format!("`{field}` carries a credential inline (user:password@ or a secret query parameter)"),
                "put the whole URL in an environment variable and name it with `url_env: SOME_VAR` \
                 (credentials never sit in a map); then rotate the exposed secret"
                    .into(),
            ),
            TopologyError::Production { environment, .. } => err(
                None,
                format!("environment `{environment}` means production; Fixpoint acts only on lower environments"),
                "describe a lower environment here (e.g. `environment: staging`), with its own coordinates".into(),
            ),
            TopologyError::Cycle { node, files, .. } => err(
                Some(node),
                format!("`topology:` links form a cycle: {}", files.join(" → ")),
                format!(
                    "drop `topology:` from node `{node}` and check it with a skill (e.g. http-health): \
                     a map may list its callers, but only one side of a call may link to the other's map"
                ),
            ),
        }
    }
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.problem().fmt(f)
    }
}

impl std::error::Error for TopologyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_repeat_a_password() {
        let problem = Problem::error(
            Path::new("m.yaml"),
            Some("db"),
            "invalid type: string \"postgres://app:hunter2@db:5432/x\"".into(),
            "use `url_env`".into(),
        );
        assert!(!problem.to_string().contains("hunter2"), "{problem}");
    }
}
