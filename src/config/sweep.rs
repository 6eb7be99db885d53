//! What a sweep started by a webhook may reach: the addresses (`FIXPOINT_SWEEP_ALLOW`, see
//! `crate::outbound`) and the environment variables a map's `url_env` may name
//! (`FIXPOINT_SWEEP_ENV`).
//!
//! A map is written by whoever can push to its repository, and the server's environment
//! holds every team's connection URLs and Fixpoint's own secrets. So in `serve`, `url_env`
//! reads only a variable the operator granted to that repository:
//!
//! - `owner/repo:NAME`: that repository only
//! - `owner/*:NAME`: every repository of that owner
//! - `NAME`: every repository
//!
//! Fixpoint's own settings ([`is_reserved`]) can never be granted or read through a map.

use std::collections::BTreeSet;

use super::{ConfigError, Vars, err};
use crate::outbound::{Cidr, OutboundPolicy};

pub const ENV_VAR: &str = "FIXPOINT_SWEEP_ENV";
pub const ALLOW_VAR: &str = "FIXPOINT_SWEEP_ALLOW";

/// The outbound policy `FIXPOINT_SWEEP_ALLOW` describes (the default when unset).
pub fn outbound_from_vars(vars: &dyn Vars) -> Result<OutboundPolicy, ConfigError> {
    let Some(raw) = vars.get(ALLOW_VAR) else {
        return Ok(OutboundPolicy::default());
    };
    let cidrs = raw
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Cidr::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|problem| {
            err(
                ALLOW_VAR,
                problem,
                "list address ranges, comma-separated, e.g. 10.0.0.0/8,127.0.0.0/8",
            )
        })?;
    Ok(OutboundPolicy::allow_only(cidrs))
}

/// The sweep's limits, read once at start-up.
#[derive(Debug, Clone, Default)]
pub struct SweepSettings {
    pub outbound: OutboundPolicy,
    pub env: SweepEnv,
}

impl SweepSettings {
    pub fn from_vars(vars: &dyn Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            outbound: outbound_from_vars(vars)?,
            env: SweepEnv::from_vars(vars)?,
        })
    }
}

/// The grants in `FIXPOINT_SWEEP_ENV`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepEnv {
    grants: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq)]
struct Grant {
    /// `None`: every repository. `Some("owner/*")` or `Some("owner/repo")`.
    scope: Option<String>,
    name: String,
}

impl Grant {
    fn covers(&self, repo: &str) -> bool {
        match &self.scope {
            None => true,
            Some(scope) => match scope.strip_suffix("/*") {
                Some(owner) => repo
                    .split_once('/')
                    .is_some_and(|(o, _)| o.eq_ignore_ascii_case(owner)),
                None => scope.eq_ignore_ascii_case(repo),
            },
        }
    }
}

impl SweepEnv {
    pub fn from_vars(vars: &dyn Vars) -> Result<Self, ConfigError> {
        let Some(raw) = vars.get(ENV_VAR) else {
            return Ok(Self::default());
        };
        let fix = "list grants, comma-separated: owner/repo:NAME, owner/*:NAME or NAME";
        let mut grants = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (scope, name) = match item.rsplit_once(':') {
                Some((scope, name)) => (Some(scope.trim()), name.trim()),
                None => (None, item),
            };
            if let Some(scope) = scope {
                let parts: Vec<&str> = scope.split('/').collect();
                if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
                    return Err(err(
                        ENV_VAR,
                        format!("`{scope}` is not owner/repo or owner/*"),
                        fix,
                    ));
                }
            }
            if !is_env_name(name) {
                return Err(err(
                    ENV_VAR,
                    format!("`{item}` does not end in a variable name"),
                    fix,
                ));
            }
            if is_reserved(name) {
                return Err(err(
                    ENV_VAR,
                    format!(
                        "{name} is one of Fixpoint's own settings and cannot be granted to a map"
                    ),
                    "give the service's URL its own variable (e.g. PAYMENTS_DB_URL) and grant that",
                ));
            }
            grants.push(Grant {
                scope: scope.map(str::to_string),
                name: name.to_string(),
            });
        }
        Ok(Self { grants })
    }

    /// Every granted name, for the redactor: their values are secrets wherever they appear.
    pub fn names(&self) -> BTreeSet<&str> {
        self.grants.iter().map(|g| g.name.as_str()).collect()
    }

    /// What a sweep for `repo` may read.
    pub fn scope_for(&self, repo: &str) -> EnvScope {
        EnvScope::Repository {
            repo: repo.to_string(),
            names: self
                .grants
                .iter()
                .filter(|g| g.covers(repo))
                .map(|g| g.name.clone())
                .collect(),
        }
    }
}

/// Which variables `url_env` may read in one sweep.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvScope {
    /// The CLI, run by a person in their own shell: their environment, less Fixpoint's own.
    Operator,
    /// A sweep the server started for a repository: what `FIXPOINT_SWEEP_ENV` grants it.
    Repository {
        repo: String,
        names: BTreeSet<String>,
    },
}

impl EnvScope {
    /// `Ok` when `name` may be read; the error names the variable and the fix.
    pub fn check(&self, name: &str) -> Result<(), String> {
        if is_reserved(name) {
            return Err(format!(
                "`url_env: {name}` names one of Fixpoint's own settings, which a map can never read: give the URL its own variable"
            ));
        }
        match self {
            EnvScope::Operator => Ok(()),
            EnvScope::Repository { names, .. } if names.contains(name) => Ok(()),
            EnvScope::Repository { repo, .. } => Err(format!(
                "`url_env: {name}` is not granted to {repo}: the operator grants it with {ENV_VAR}={repo}:{name}"
            )),
        }
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Fixpoint's own settings and the cloud credentials of the machine it runs on.
pub fn is_reserved(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    const EXACT: [&str; 7] = [
        "APP_ID",
        "PRIVATE_KEY",
        "PRIVATE_KEY_PATH",
        "WEBHOOK_SECRET",
        "DATABASE_URL",
        "PUBLIC_URL",
        "PORT",
    ];
    const PREFIXES: [&str; 6] = [
        "AWS_",
        "FIXPOINT_",
        "GITHUB_",
        "ANTHROPIC_",
        "OPENAI_",
        "AZURE_OPENAI_",
    ];
    EXACT.contains(&upper.as_str()) || PREFIXES.iter().any(|p| upper.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(value: &str) -> Result<SweepEnv, ConfigError> {
        let vars: HashMap<String, String> = [(ENV_VAR.to_string(), value.to_string())].into();
        SweepEnv::from_vars(&vars)
    }

    #[test]
    fn grants_cover_a_repository_an_owner_or_everyone() {
        let grants =
            env("acme/payments-api:PAYMENTS_DB_URL, acme/*:SHARED_REDIS_URL, STATUS_URL").unwrap();
        let payments = grants.scope_for("acme/payments-api");
        for name in ["PAYMENTS_DB_URL", "SHARED_REDIS_URL", "STATUS_URL"] {
            assert_eq!(payments.check(name), Ok(()), "{name}");
        }
        let other = grants.scope_for("other/ledger");
        assert!(other.check("PAYMENTS_DB_URL").is_err());
        assert!(other.check("SHARED_REDIS_URL").is_err());
        assert_eq!(other.check("STATUS_URL"), Ok(()));
    }

    #[test]
    fn fixpoints_own_settings_cannot_be_granted_or_read() {
        let e = env("AWS_SECRET_ACCESS_KEY").unwrap_err();
        assert_eq!(e.var, ENV_VAR);
        assert!(env("acme/x:WEBHOOK_SECRET").is_err());
        assert!(env("acme/x:not a name").is_err());
        assert!(env("acme:NAME").is_err());
        assert!(EnvScope::Operator.check("AWS_SECRET_ACCESS_KEY").is_err());
        assert!(EnvScope::Operator.check("PRIVATE_KEY").is_err());
        assert_eq!(EnvScope::Operator.check("PAYMENTS_DB_URL"), Ok(()));
    }
}
