//! What the sweep runs: one `PlannedCheck` per node or service check, and the `CheckTarget`
//! its skill needs, built from a node's connection details.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::model::{Direction, Node};
use super::skill::SkillKind;
use crate::ids::RepoName;

/// One check for the sweep: which skill, against what, at which hop, reached how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedCheck {
    pub node: String,
    pub hop: u32,
    /// `None` only for a node that names no skill (its target is `Missing`).
    pub skill: Option<SkillKind>,
    /// `None` for the root service's own checks.
    pub direction: Option<Direction>,
    /// Node names from the root service down to (not including) `node`.
    pub via: Vec<String>,
    pub source_file: PathBuf,
    pub target: CheckTarget,
    pub timeout_s: Option<u64>,
}

/// What a skill needs to run. Secrets stay as the name of their environment variable.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckTarget {
    Gha {
        repo: RepoName,
    },
    Ecs {
        cluster: String,
        service: String,
        region: Option<String>,
    },
    Logs {
        group: String,
        region: Option<String>,
    },
    Http {
        endpoint: Endpoint,
        expect_status: Option<u16>,
        expect_body: Option<String>,
        /// The node's own timeout, so the probe can name a hang before the sweep cuts it off.
        timeout_s: Option<u64>,
    },
    Postgres {
        endpoint: Endpoint,
    },
    Redis {
        endpoint: Endpoint,
    },
    Sqs {
        queue: String,
        dlq: Option<String>,
        region: Option<String>,
    },
    Lambda {
        function: String,
        region: Option<String>,
    },
    /// The node lacks what its skill needs; the sweep reports it `unknown` with `what`.
    Missing {
        what: String,
    },
}

/// A URL written in the map, or the name of the environment variable that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Url(String),
    Env(String),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Url(url) => f.write_str(&crate::redact::redact(url)),
            Endpoint::Env(var) => write!(f, "${var}"),
        }
    }
}

impl fmt::Display for CheckTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let region = |r: &Option<String>| r.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
        match self {
            CheckTarget::Gha { repo } => write!(f, "{repo}"),
            CheckTarget::Ecs {
                cluster,
                service,
                region: r,
            } => write!(f, "{cluster}/{service}{}", region(r)),
            CheckTarget::Logs { group, region: r } => write!(f, "{group}{}", region(r)),
            CheckTarget::Http {
                endpoint,
                expect_status,
                expect_body,
                ..
            } => {
                write!(f, "{endpoint}")?;
                if let Some(status) = expect_status {
                    write!(f, " expect {status}")?;
                }
                match expect_body {
                    Some(body) => write!(f, " expect body {body:?}"),
                    None => Ok(()),
                }
            }
            CheckTarget::Postgres { endpoint } | CheckTarget::Redis { endpoint } => {
                write!(f, "{endpoint}")
            }
            CheckTarget::Sqs {
                queue,
                dlq,
                region: r,
            } => {
                write!(f, "{queue}{}", region(r))?;
                match dlq {
                    Some(dlq) => write!(f, " dlq {dlq}"),
                    None => Ok(()),
                }
            }
            CheckTarget::Lambda {
                function,
                region: r,
            } => write!(f, "{function}{}", region(r)),
            CheckTarget::Missing { what } => write!(f, "✗ missing: {what}"),
        }
    }
}

/// The target of a node that has what its skill needs (see [`Node::missing_connection`]).
pub(crate) fn target_of(node: &Node) -> CheckTarget {
    let endpoint = || match (&node.url_env, &node.url) {
        (Some(var), _) => Endpoint::Env(var.clone()),
        (None, url) => Endpoint::Url(url.clone().unwrap_or_default()),
    };
    let region = node.region.clone();
    let missing = || CheckTarget::Missing {
        what: "no skill".into(),
    };
    match node.skill {
        None => missing(),
        Some(SkillKind::HttpHealth) => CheckTarget::Http {
            endpoint: endpoint(),
            expect_status: node.expect_status,
            expect_body: node.expect_body.clone(),
            timeout_s: node.timeout_s,
        },
        Some(SkillKind::Postgres) => CheckTarget::Postgres {
            endpoint: endpoint(),
        },
        Some(SkillKind::Redis) => CheckTarget::Redis {
            endpoint: endpoint(),
        },
        Some(SkillKind::Sqs) => CheckTarget::Sqs {
            queue: node.queue.clone().unwrap_or_default(),
            dlq: node.dlq.clone(),
            region,
        },
        Some(SkillKind::Lambda) => CheckTarget::Lambda {
            function: node.function.clone().unwrap_or_default(),
            region,
        },
        Some(SkillKind::Ecs) => match &node.ecs {
            Some(e) => CheckTarget::Ecs {
                cluster: e.cluster.clone(),
                service: e.service.clone(),
                region: e.region.clone().or(region),
            },
            None => missing(),
        },
        Some(SkillKind::Cloudwatch) => match &node.logs {
            Some(l) => CheckTarget::Logs {
                group: l.group.clone(),
                region: l.region.clone().or(region),
            },
            None => missing(),
        },
        Some(SkillKind::Gha) => match &node.repo {
            Some(repo) => CheckTarget::Gha { repo: repo.clone() },
            None => missing(),
        },
    }
}
