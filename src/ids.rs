//! Newtypes for the identities Fixpoint passes around, so a run id is never
//! mistaken for a job id and a repository name is always `owner/name`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `owner/name`, validated at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName {
    owner: String,
    name: String,
}

impl RepoName {
    pub fn parse(full: &str) -> Result<Self, String> {
        let (owner, name) = full
            .split_once('/')
            .ok_or_else(|| format!("repository `{full}` is not of the form owner/name"))?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 100
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !ok(owner) || !ok(name) || name == "." || name == ".." {
            return Err(format!(
                "repository `{full}` is not of the form owner/name (letters, digits, `-`, `_`, `.`)"
            ));
        }
        Ok(Self {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl TryFrom<String> for RepoName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<RepoName> for String {
    fn from(r: RepoName) -> String {
        r.to_string()
    }
}

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

numeric_id!(
    /// A GitHub App's numeric id (`APP_ID`).
    AppId
);
numeric_id!(
    /// One installation of the App on an account.
    InstallationId
);
numeric_id!(
    /// A GitHub Actions workflow run.
    RunId
);
numeric_id!(
    /// A GitHub Actions job inside a run.
    JobId
);

/// A git commit SHA as GitHub sends it (40 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommitSha(pub String);

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `X-GitHub-Delivery` GUID of one webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryId(pub String);

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names_are_owner_slash_name() {
        let r = RepoName::parse("acme/payments-api").unwrap();
        assert_eq!((r.owner(), r.name()), ("acme", "payments-api"));
        assert!(RepoName::parse("acme").is_err());
        assert!(RepoName::parse("acme/../etc").is_err());
        assert!(RepoName::parse("/x").is_err());
    }
}
