//! The loop's keys in `.github/fixpoint.yml`: how Fixpoint deploys its branch, how long it
//! waits, how it verifies and tests the lower environment, and what it may change.
//! Every key has a default, so a config with only `deploy_workflows` and `topology` runs
//! the loop with the documented behaviour (docs/fixpoint.example.yml).

use serde::{Deserialize, Serialize};

/// How the deploy workflow runs on a `fixpoint/` branch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The deploy workflow runs on pushes to `fixpoint/**` (two lines in the workflow).
    #[default]
    Push,
    /// Fixpoint calls `workflow_dispatch` on the branch (needs actions: write).
    Dispatch,
}

/// Changes Fixpoint may make outside the repository's files. None by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Allowance {
    /// Register a task definition revision and update the service through the ECS API, in
    /// the lower environment only, when the repository has no task definition file.
    EcsApi,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeployConfig {
    pub trigger: Trigger,
    /// The workflows that must succeed at the fix commit; empty means `deploy_workflows`.
    pub workflows: Vec<String>,
    /// How long to wait for them, in minutes.
    pub ci_timeout_min: u32,
    /// How long to wait for the ECS rollout of the fix, in minutes.
    pub rollout_timeout_min: u32,
}

impl Default for DeployConfig {
    fn default() -> Self {
        Self {
            trigger: Trigger::Push,
            workflows: Vec::new(),
            ci_timeout_min: 30,
            rollout_timeout_min: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifyConfig {
    /// How long the service's logs are watched after the rollout, in seconds.
    pub soak_s: u32,
    /// Error lines per minute tolerated over the soak window.
    pub max_errors_per_min: f64,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            soak_s: 120,
            max_errors_per_min: 0.0,
        }
    }
}

/// One HTTP load probe. The target must belong to the lower environment's topology: a
/// node by name (its URL comes from the map), or a URL whose host a node of the map has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// Appended to the node's URL.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default = "default_requests")]
    pub requests: u32,
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// The probe stops after this many seconds, whatever is left.
    #[serde(default = "default_duration")]
    pub duration_s: u32,
    /// Fraction of requests allowed to fail (non-2xx/3xx or no answer).
    #[serde(default)]
    pub max_error_rate: f64,
    #[serde(default = "default_p95")]
    pub max_p95_ms: u64,
}

fn default_requests() -> u32 {
    100
}
fn default_concurrency() -> u32 {
    4
}
fn default_duration() -> u32 {
    30
}
fn default_p95() -> u64 {
    1000
}

/// Bounds that keep a probe a probe, not a load test against a shared environment.
pub const MAX_PROBE_REQUESTS: u32 = 10_000;
pub const MAX_PROBE_CONCURRENCY: u32 = 64;
pub const MAX_PROBE_DURATION_S: u32 = 300;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestConfig {
    pub http: Vec<HttpProbe>,
    /// Workflows (e.g. a Playwright e2e job) that must succeed on the branch's head.
    pub workflows: Vec<String>,
}

/// Checks the loop's keys once parsed; the message names the key and a valid value.
pub(super) fn validate(
    min_confidence: f64,
    max_memory_mib: u32,
    deploy: &DeployConfig,
    verify: &VerifyConfig,
    test: &TestConfig,
) -> Result<(), String> {
    if !(0.0..=1.0).contains(&min_confidence) {
        return Err(format!(
            "`min_confidence: {min_confidence}` is out of range: use 0.0 to 1.0 (default 0.6)"
        ));
    }
    if !(512..=120 * 1024).contains(&max_memory_mib) {
        return Err(format!(
            "`max_memory_mib: {max_memory_mib}` is out of range: use 512 to 122880 (Fargate's largest task)"
        ));
    }
    for (key, minutes) in [
        ("deploy.ci_timeout_min", deploy.ci_timeout_min),
        ("deploy.rollout_timeout_min", deploy.rollout_timeout_min),
    ] {
        if !(1..=360).contains(&minutes) {
            return Err(format!(
                "`{key}: {minutes}` is out of range: use 1 to 360 minutes"
            ));
        }
    }
    if verify.soak_s > 3600 {
        return Err(format!(
            "`verify.soak_s: {}` is out of range: use 0 to 3600 seconds",
            verify.soak_s
        ));
    }
    if !verify.max_errors_per_min.is_finite() || verify.max_errors_per_min < 0.0 {
        return Err("`verify.max_errors_per_min` must be 0 or more".into());
    }
    for (i, probe) in test.http.iter().enumerate() {
        let at = format!("test.http[{i}]");
        match (&probe.node, &probe.url) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(format!(
                    "`{at}` needs exactly one of `node:` (a node of the topology map) or `url:`"
                ));
            }
            _ => {}
        }
        if probe.requests == 0 || probe.requests > MAX_PROBE_REQUESTS {
            return Err(format!(
                "`{at}.requests: {}` is out of range: use 1 to {MAX_PROBE_REQUESTS}",
                probe.requests
            ));
        }
        if probe.concurrency == 0 || probe.concurrency > MAX_PROBE_CONCURRENCY {
            return Err(format!(
                "`{at}.concurrency: {}` is out of range: use 1 to {MAX_PROBE_CONCURRENCY}",
                probe.concurrency
            ));
        }
        if probe.duration_s == 0 || probe.duration_s > MAX_PROBE_DURATION_S {
            return Err(format!(
                "`{at}.duration_s: {}` is out of range: use 1 to {MAX_PROBE_DURATION_S}",
                probe.duration_s
            ));
        }
        if !(0.0..=1.0).contains(&probe.max_error_rate) {
            return Err(format!(
                "`{at}.max_error_rate: {}` is out of range: use 0.0 to 1.0",
                probe.max_error_rate
            ));
        }
    }
    Ok(())
}
