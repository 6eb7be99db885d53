//! The shape of one topology map: a service, its own coordinates, and the nodes it talks to.
//!
//! These types are what `topology/<service>.yaml` (or `.json`) deserialises into. Unknown keys
//! are refused (`deny_unknown_fields`); the loader checks keys first so that a typo gets a
//! did-you-mean that names the node, and only then deserialises into these types.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::skill::SkillKind;
use crate::ids::RepoName;

/// One service's map: `topology/<service>.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub service: String,
    /// The lower environment this map describes. `None` is allowed (the seed's map has none);
    /// a name that means production is refused when the graph is loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<RepoName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<EcsCoords>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogCoords>,
    #[serde(default)]
    pub upstream: Vec<Node>,
    #[serde(default)]
    pub downstream: Vec<Node>,
}

/// Where a service runs on ECS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsCoords {
    pub cluster: String,
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// Where a service's logs go in CloudWatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogCoords {
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// Something the service talks to, upstream or downstream.
///
/// Connection details are URLs, AWS resource names, or `url_env`, the *name* of an environment
/// variable that holds a URL with its secret. The name is never resolved at load time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub name: String,
    /// The `type` field: `http`, `db`, `cache`, `queue`, `compute`, `service`… (free text).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<SkillKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// An SQS queue name or URL (`queue_url` is accepted as the same field).
    #[serde(default, alias = "queue_url", skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The dead-letter queue (name or URL) to watch beside `queue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dlq: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// For `skill: ecs` on a node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<EcsCoords>,
    /// For `skill: cloudwatch` on a node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogCoords>,
    /// For `skill: gha` on a node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<RepoName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// The node's own map, the next hop; relative to the file that names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<PathBuf>,
}

/// Keys each map level accepts. Kept beside the types; a unit test checks they agree with serde.
pub const TOPOLOGY_FIELDS: &[&str] = &[
    "service",
    "environment",
    "repo",
    "ecs",
    "logs",
    "upstream",
    "downstream",
];
pub const ECS_FIELDS: &[&str] = &["cluster", "service", "region"];
pub const LOG_FIELDS: &[&str] = &["group", "region"];
pub const NODE_FIELDS: &[&str] = &[
    "name",
    "type",
    "skill",
    "url",
    "url_env",
    "queue",
    "queue_url",
    "dlq",
    "function",
    "region",
    "ecs",
    "logs",
    "repo",
    "expect_status",
    "expect_body",
    "timeout_s",
    "topology",
];

impl Node {
    /// What this node lacks for its skill to run, so the sweep can report it `unknown`
    /// with the reason. `None` when the node has what it needs.
    pub fn missing_connection(&self) -> Option<String> {
        match (self.skill, self.missing_field()?) {
            (Some(skill), field) => Some(format!("{skill} needs {field}")),
            (None, _) => Some(format!(
                "`{}` has neither `skill` nor `topology`: name a skill ({}) with its connection, \
                 or point `topology:` at its own map",
                self.name,
                SkillKind::ALL.map(|s| s.as_str()).join(", ")
            )),
        }
    }

    /// The field(s) to add, for [`Self::missing_connection`] and the fix `topology check` prints.
    pub fn missing_field(&self) -> Option<&'static str> {
        let Some(skill) = self.skill else {
            // A service node's checks are its map's own ecs/logs.
            return self.topology.is_none().then_some("`skill` or `topology`");
        };
        let has_endpoint = self.url.is_some() || self.url_env.is_some();
        Some(match skill {
            SkillKind::Postgres | SkillKind::Redis if !has_endpoint => {
                "`url_env` (the environment variable holding the URL) or `url`"
            }
            SkillKind::HttpHealth if !has_endpoint => "`url` or `url_env`",
            SkillKind::Sqs if self.queue.is_none() => "`queue` (a queue name or URL)",
            SkillKind::Lambda if self.function.is_none() => "`function` (the Lambda function name)",
            SkillKind::Ecs if self.ecs.is_none() => "`ecs: {cluster, service}`",
            SkillKind::Cloudwatch if self.logs.is_none() => "`logs: {group}`",
            SkillKind::Gha if self.repo.is_none() => "`repo` (owner/name)",
            _ => return None,
        })
    }
}

/// Which side of the service a node sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Upstream,
    Downstream,
}

impl Direction {
    pub fn arrow(self) -> &'static str {
        match self {
            Direction::Upstream => "↑",
            Direction::Downstream => "↓",
        }
    }
}

/// Environment names that always mean production, whatever the caller configures.
pub const PRODUCTION_NAMES: &[&str] = &["prod", "production", "live"];

/// True when `environment` means production: it equals, case-insensitively, one of
/// [`PRODUCTION_NAMES`] or `extra`, or one of its `-`/`_`/`.`/`/`/space-separated parts does
/// (`prod-eu` means production; `preprod` does not).
pub fn is_production(environment: &str, extra: &[String]) -> bool {
    let env = environment.trim().to_ascii_lowercase();
    let names = PRODUCTION_NAMES
        .iter()
        .map(|n| n.to_string())
        .chain(extra.iter().map(|n| n.trim().to_ascii_lowercase()))
        .filter(|n| !n.is_empty());
    let parts: Vec<&str> = env.split(['-', '_', '.', '/', ' ']).collect();
    names
        .into_iter()
        .any(|n| env == n || parts.contains(&n.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_names_are_refused_however_spelled() {
        let extra = vec!["PRD".to_string()];
        for env in ["prod", "Production", "LIVE", "prod-eu", "us_live", "prd"] {
            assert!(is_production(env, &extra), "{env}");
        }
        for env in ["staging", "preprod", "dev", "delivery", "qa-2"] {
            assert!(!is_production(env, &extra), "{env}");
        }
    }

    #[test]
    fn missing_connection_says_what_the_skill_needs() {
        let node = |skill| Node {
            name: "n".into(),
            skill: Some(skill),
            ..Node::default()
        };
        assert_eq!(
            node(SkillKind::Postgres).missing_connection().as_deref(),
            Some("postgres needs `url_env` (the environment variable holding the URL) or `url`")
        );
        let mut pg = node(SkillKind::Postgres);
        pg.url_env = Some("DB_URL".into());
        assert_eq!(pg.missing_connection(), None);
        assert!(
            node(SkillKind::Sqs)
                .missing_connection()
                .unwrap()
                .contains("`queue`")
        );
        let service = Node {
            name: "s".into(),
            topology: Some("s.yaml".into()),
            ..Node::default()
        };
        assert_eq!(service.missing_connection(), None);
        let bare = Node {
            name: "bare".into(),
            ..Node::default()
        };
        assert!(
            bare.missing_connection()
                .unwrap()
                .contains("neither `skill` nor `topology`")
        );
    }

    /// The key lists drive did-you-mean; serde's own list is the truth they must match.
    #[test]
    fn field_lists_agree_with_serde() {
        fn serde_fields<T: serde::de::DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
            let err = serde_json::from_str::<T>(r#"{"zz_not_a_field": 1}"#).unwrap_err();
            let msg = err.to_string();
            // "unknown field `zz_not_a_field`, expected `a` or `b`" / "expected one of `a`, `b`, …"
            let list = msg.split(", expected ").nth(1).unwrap_or("");
            let mut v: Vec<String> = list
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            v.sort();
            v
        }
        fn sorted(v: &[&str]) -> Vec<String> {
            let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            v.sort();
            v
        }
        assert_eq!(serde_fields::<Topology>(), sorted(TOPOLOGY_FIELDS));
        assert_eq!(serde_fields::<EcsCoords>(), sorted(ECS_FIELDS));
        assert_eq!(serde_fields::<LogCoords>(), sorted(LOG_FIELDS));
        assert_eq!(serde_fields::<Node>(), sorted(NODE_FIELDS));
    }
}
