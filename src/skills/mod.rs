//! Skills: one trait, one file per skill. A skill checks one node of the topology and
//! says what it saw as an `Observation`; the sweep turns it into a `Finding` with the
//! node, hop and time, redacted. Adding a skill is its file plus one line in `skill_for`.

mod aws;
pub mod cloudwatch;
pub mod ecs;
pub mod excerpts;
pub mod gha;
pub mod http;
pub mod lambda;
pub mod postgres;
pub mod redis;
pub mod sqs;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::config::Vars;
use crate::config::sweep::{EnvScope, SweepSettings};
use crate::github::RepoClient;
use crate::topology::{CheckTarget, Endpoint, SkillKind};

/// How a node looked. Ordered worst first, so sorting puts what is broken on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Down,
    Degraded,
    Unknown,
    Healthy,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Down => "down",
            Status::Degraded => "degraded",
            Status::Unknown => "unknown",
            Status::Healthy => "healthy",
        }
    }
}

/// A short excerpt that supports a finding, with where and when it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// e.g. `ecs:stopped-task/abc123`, `logs:/ecs/payments-api`, `postgres:pg_stat_activity`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    pub text: String,
}

impl Evidence {
    pub fn new(source: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            at: None,
            text: text.into(),
        }
    }

    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = Some(at);
        self
    }
}

/// What one skill saw of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub status: Status,
    /// One line for people.
    pub summary: String,
    pub evidence: Vec<Evidence>,
    /// Name → number, e.g. `running: 1`, `desired: 3`, `evicted_keys: 412`.
    pub metrics: BTreeMap<String, f64>,
}

impl Observation {
    pub fn new(status: Status, summary: impl Into<String>) -> Self {
        Self {
            status,
            summary: summary.into(),
            evidence: Vec::new(),
            metrics: BTreeMap::new(),
        }
    }

    pub fn metric(mut self, name: &str, value: f64) -> Self {
        self.metrics.insert(name.to_string(), value);
        self
    }

    pub fn evidence(mut self, e: Evidence) -> Self {
        self.evidence.push(e);
        self
    }
}

/// One node's finding in a sweep: the shape stored, shown, and reasoned over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub node: String,
    pub hop: u32,
    pub skill: String,
    pub status: Status,
    pub summary: String,
    pub evidence: Vec<Evidence>,
    pub metrics: BTreeMap<String, f64>,
    pub observed_at: DateTime<Utc>,
}

/// The failed run a sweep is about, when there is one (the `gha` skill needs it).
#[derive(Debug, Clone)]
pub struct RunContext {
    pub github: RepoClient,
    pub run_id: u64,
    pub attempt: u64,
}

/// What every skill can reach. Built once per sweep; cheap to share.
pub struct SkillContext {
    /// When the deploy began: logs and metrics are read from here on.
    pub since: DateTime<Utc>,
    pub run: Option<RunContext>,
    /// Where `*_env` connection details are looked up.
    pub vars: Arc<dyn Vars + Send + Sync>,
    /// Which of `vars` a map's `url_env` may name.
    pub env_scope: EnvScope,
    /// Where a check may connect when a map names the place.
    pub outbound: crate::outbound::OutboundPolicy,
    /// Resolves through `outbound`: a name is judged by what it resolves to.
    pub http: reqwest::Client,
    aws: Mutex<HashMap<Option<String>, aws_config::SdkConfig>>,
    /// Whether the credential chain found credentials, asked once per sweep.
    aws_access: tokio::sync::OnceCell<Result<(), String>>,
}

impl SkillContext {
    /// For a person's own shell (the CLI, tests): `url_env` reads `vars` (less Fixpoint's
    /// own settings) and `FIXPOINT_SWEEP_ALLOW` in `vars` sets the outbound policy.
    pub fn new(
        since: DateTime<Utc>,
        run: Option<RunContext>,
        vars: Arc<dyn Vars + Send + Sync>,
    ) -> Self {
        let outbound = crate::config::sweep::outbound_from_vars(vars.as_ref()).unwrap_or_else(|e| {
            // Fail closed: every address refused, and each finding says why.
            tracing::error!(error = %e, "the outbound policy does not parse; the sweep connects nowhere");
            crate::outbound::OutboundPolicy::allow_only([])
        });
        Self::build(since, run, vars, EnvScope::Operator, outbound)
    }

    /// For a sweep the server runs for `repo`: the operator's policy, and only the
    /// variables `FIXPOINT_SWEEP_ENV` grants that repository.
    pub fn for_repository(
        since: DateTime<Utc>,
        run: Option<RunContext>,
        vars: Arc<dyn Vars + Send + Sync>,
        sweep: &SweepSettings,
        repo: &str,
    ) -> Self {
        let scope = sweep.env.scope_for(repo);
        Self::build(since, run, vars, scope, sweep.outbound.clone())
    }

    fn build(
        since: DateTime<Utc>,
        run: Option<RunContext>,
        vars: Arc<dyn Vars + Send + Sync>,
        env_scope: EnvScope,
        outbound: crate::outbound::OutboundPolicy,
    ) -> Self {
        let http = reqwest::Client::builder()
            // Health checks report redirects instead of following them silently.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("fixpoint/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(crate::outbound::PolicyResolver(outbound.clone())))
            .build()
            .expect("a default reqwest client builds");
        Self {
            since,
            run,
            vars,
            env_scope,
            outbound,
            http,
            aws: Mutex::default(),
            aws_access: tokio::sync::OnceCell::new(),
        }
    }

    /// `Err` with one line naming the fix when the standard chain finds no AWS credentials.
    /// Asked once per sweep: without it every AWS node repeats the SDK's long error, and
    /// the SDK's probing of instance metadata fills the log.
    pub async fn aws_access(&self) -> Result<(), String> {
        self.aws_access
            .get_or_init(|| async {
                let config = self.aws(None).await;
                let Some(provider) = config.credentials_provider() else {
                    return Err(NO_AWS_CREDENTIALS.to_string());
                };
                use aws_sdk_ecs::config::ProvideCredentials as _;
                match tokio::time::timeout(AWS_CREDENTIALS_WAIT, provider.provide_credentials())
                    .await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "AWS credential chain");
                        Err(NO_AWS_CREDENTIALS.to_string())
                    }
                    Err(_) => Err(format!(
                        "{NO_AWS_CREDENTIALS} (the credential chain gave no answer within {} s)",
                        AWS_CREDENTIALS_WAIT.as_secs()
                    )),
                }
            })
            .await
            .clone()
    }

    /// AWS configuration from the standard chain (env, profile, IMDS …) for a region
    /// (`None` = the chain's region). `AWS_ENDPOINT_URL` is honoured, as the SDK does.
    pub async fn aws(&self, region: Option<&str>) -> aws_config::SdkConfig {
        let mut cache = self.aws.lock().await;
        let key = region.map(str::to_string);
        if let Some(config) = cache.get(&key) {
            return config.clone();
        }
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_string()));
        }
        let config = loader.load().await;
        cache.insert(key, config.clone());
        config
    }

    /// A positive number (a threshold) from the context's variables, or `default` when unset.
    pub fn threshold(&self, name: &str, default: f64) -> anyhow::Result<f64> {
        let Some(raw) = self.vars.get(name) else {
            return Ok(default);
        };
        match raw.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => Ok(s),
            _ => anyhow::bail!(
                "{name}={raw:?} is not a positive number: set it to e.g. {default}, or unset it"
            ),
        }
    }

    /// The URL behind an endpoint: written in the map, or read from its variable.
    pub fn resolve(&self, endpoint: &Endpoint) -> anyhow::Result<String> {
        match endpoint {
            Endpoint::Url(url) => Ok(url.clone()),
            Endpoint::Env(var) => {
                self.env_scope.check(var).map_err(anyhow::Error::msg)?;
                self.vars.get(var).ok_or_else(|| {
                    anyhow::anyhow!(
                        "environment variable {var} is not set: set it to the connection URL"
                    )
                })
            }
        }
    }
}

/// What a person reads when AWS cannot be reached for lack of credentials.
pub const NO_AWS_CREDENTIALS: &str = "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_REGION), or AWS_ENDPOINT_URL with test keys for a local stand-in such as moto";

/// How long the credential chain may take (it probes instance metadata last).
const AWS_CREDENTIALS_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The one trait every skill implements.
pub trait Skill: Sync {
    fn kind(&self) -> SkillKind;
    fn check<'a>(
        &'a self,
        target: &'a CheckTarget,
        ctx: &'a SkillContext,
    ) -> BoxFuture<'a, anyhow::Result<Observation>>;
}

/// The registry: one line per skill.
pub fn skill_for(kind: SkillKind) -> &'static dyn Skill {
    match kind {
        SkillKind::Gha => &gha::Gha,
        SkillKind::Ecs => &ecs::Ecs,
        SkillKind::Cloudwatch => &cloudwatch::Cloudwatch,
        SkillKind::Postgres => &postgres::Postgres,
        SkillKind::Redis => &redis::Redis,
        SkillKind::Sqs => &sqs::Sqs,
        SkillKind::Lambda => &lambda::Lambda,
        SkillKind::HttpHealth => &http::HttpHealth,
    }
}

/// The error a skill returns when handed another skill's target (a bug in the plan).
pub fn wrong_target(kind: SkillKind, target: &CheckTarget) -> anyhow::Error {
    anyhow::anyhow!("the {} skill cannot check {target}", kind.as_str())
}
