//! Diagnosis: from a sweep's findings to one root cause, with the chain that connects
//! it to the symptom. The rules engine always runs (offline); a model, when configured,
//! reasons over the same findings and the rules' candidates, and its answer is checked
//! against the world before it is used.

pub mod llm;
pub mod rank;
pub mod rules;

use serde::{Deserialize, Serialize};

use crate::skills::{Evidence, Finding};
use crate::topology::TopologyGraph;

/// The rules engine always; then the model when one is configured. The model's answer is
/// validated inside `llm` and falls back to the rules' diagnosis, saying why.
pub async fn decide(
    service: &str,
    findings: &[Finding],
    graph: Option<&TopologyGraph>,
    history: &DebugContext,
    model: Option<&llm::ModelConfig>,
) -> Diagnosis {
    let rules = rank::diagnose(service, findings, graph, history);
    match model {
        None => rules,
        Some(config) => {
            llm::diagnose_with_model(config, service, findings, graph, history, &rules).await
        }
    }
}

/// The fixed vocabulary of root causes (documented in docs/root-causes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RootCauseClass {
    OomKilled,
    CrashLoop,
    ImagePullFailed,
    MissingConfig,
    HealthCheckFailed,
    CiBuildFailed,
    CiTestFailed,
    DbConnectionsExhausted,
    DbBlockingLocks,
    DbSlowQueries,
    CacheMemoryPressure,
    CacheUnreachable,
    QueueBacklog,
    DeadLetters,
    LambdaThrottled,
    LambdaErrors,
    DependencyUnhealthy,
    Unknown,
}

impl RootCauseClass {
    pub const ALL: [RootCauseClass; 18] = [
        Self::OomKilled,
        Self::CrashLoop,
        Self::ImagePullFailed,
        Self::MissingConfig,
        Self::HealthCheckFailed,
        Self::CiBuildFailed,
        Self::CiTestFailed,
        Self::DbConnectionsExhausted,
        Self::DbBlockingLocks,
        Self::DbSlowQueries,
        Self::CacheMemoryPressure,
        Self::CacheUnreachable,
        Self::QueueBacklog,
        Self::DeadLetters,
        Self::LambdaThrottled,
        Self::LambdaErrors,
        Self::DependencyUnhealthy,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OomKilled => "oom_killed",
            Self::CrashLoop => "crash_loop",
            Self::ImagePullFailed => "image_pull_failed",
            Self::MissingConfig => "missing_config",
            Self::HealthCheckFailed => "health_check_failed",
            Self::CiBuildFailed => "ci_build_failed",
            Self::CiTestFailed => "ci_test_failed",
            Self::DbConnectionsExhausted => "db_connections_exhausted",
            Self::DbBlockingLocks => "db_blocking_locks",
            Self::DbSlowQueries => "db_slow_queries",
            Self::CacheMemoryPressure => "cache_memory_pressure",
            Self::CacheUnreachable => "cache_unreachable",
            Self::QueueBacklog => "queue_backlog",
            Self::DeadLetters => "dead_letters",
            Self::LambdaThrottled => "lambda_throttled",
            Self::LambdaErrors => "lambda_errors",
            Self::DependencyUnhealthy => "dependency_unhealthy",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootCause {
    /// A topology node's name, or the service's own name.
    pub node: String,
    pub class: RootCauseClass,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainLink {
    pub node: String,
    pub class: RootCauseClass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Code,
    Infra,
    Rollback,
    None,
    Escalate,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Code => "code",
            ActionKind::Infra => "infra",
            ActionKind::Rollback => "rollback",
            ActionKind::None => "none",
            ActionKind::Escalate => "escalate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedAction {
    pub kind: ActionKind,
    pub summary: String,
    /// The fix's stable name (`fix_fingerprint`), which the loop records in the history so
    /// a failed fix is never proposed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Rules,
    Llm,
}

/// An unhealthy node that does not explain the failure, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Noise {
    pub node: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub root_cause: RootCause,
    /// From the root cause to the symptom, e.g. consumer down → queue backlog → caller.
    pub chain: Vec<ChainLink>,
    /// 0.0 to 1.0.
    pub confidence: f64,
    pub evidence: Vec<Evidence>,
    pub proposed_action: ProposedAction,
    pub engine: Engine,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noise: Vec<Noise>,
    /// What would be needed to say more, when the class is `unknown` or confidence is low.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Why the engine that decided is the one named (e.g. the model's answer was invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The seed's shared debug context: what the loop tried, so nothing is tried twice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DebugContext {
    pub service: String,
    pub iteration: u32,
    pub history: Vec<HistoryEntry>,
}

/// One iteration of the loop. The seed's fields (`iteration`, `diagnosis`, `action`,
/// `commit`, `gha`, `result`) are prose for people and the PR; `kind`, `fingerprint` and
/// `outcome` are for machines: "was this fix tried, and did it fail" is decided from them
/// alone, never by reading the prose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub iteration: u32,
    pub diagnosis: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gha: Option<String>,
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ActionKind>,
    /// What was changed, stably named (`fix_fingerprint`): the same fix has the same
    /// fingerprint in every iteration, however its summary is worded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default)]
    pub outcome: IterationOutcome,
}

impl HistoryEntry {
    /// This iteration's fix was carried out and did not hold.
    pub fn failed(&self) -> bool {
        self.outcome.failed()
    }
}

/// How an iteration ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IterationOutcome {
    /// Still running (CI, the rollout, verification); an entry from the seed's shape
    /// without an outcome reads as this.
    #[default]
    Pending,
    /// Verified healthy in the lower environment.
    Fixed,
    /// Deployed and verified, and the service was still unhealthy (or CI went red).
    Failed,
    /// Deployed, and nothing changed: the fix did not touch the cause.
    NoChange,
    /// Stopped before it could be judged (a person stopped it, a gate refused it).
    Aborted,
}

impl IterationOutcome {
    /// A fix that was tried and did not hold: never to be proposed again.
    pub fn failed(self) -> bool {
        matches!(self, Self::Failed | Self::NoChange)
    }
}

/// `tried` is the fix `fingerprint` names: the same, or a variant of it with parameters
/// after a `/` (a plan that raised memory to 2048 is a "raise memory").
pub fn same_fix(tried: &str, fingerprint: &str) -> bool {
    tried == fingerprint
        || tried
            .strip_prefix(fingerprint)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The stable name of a fix: what kind of change, for which root cause, where (and what,
/// when the cause names a subject such as a variable). Each usual fix of a class has its
/// own kind, so this tells them apart.
pub fn fix_fingerprint(
    kind: ActionKind,
    class: RootCauseClass,
    node: &str,
    subject: Option<&str>,
) -> String {
    let kind = kind.as_str();
    match subject {
        Some(subject) => format!("{kind}:{}:{node}:{subject}", class.as_str()),
        None => format!("{kind}:{}:{node}", class.as_str()),
    }
}
