//! The AWS skills (`ecs`, `cloudwatch`, `sqs`, `lambda`) against real parts: moto_server
//! serves what it can, and a loopback stub in front of it answers the states moto cannot make
//! (each test says why). Skills reach both the way production does: `SkillContext::aws`, the
//! standard chain, `AWS_ENDPOINT_URL`. Test setup talks to moto directly.

mod support;

#[path = "skills_aws/ecs.rs"]
mod ecs;
#[path = "skills_aws/ecs_stub.rs"]
mod ecs_stub;
#[path = "skills_aws/lambda.rs"]
mod lambda;
#[path = "skills_aws/logs.rs"]
mod logs;
#[path = "skills_aws/sqs.rs"]
mod sqs;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use fixpoint::skills::{Evidence, Observation, SkillContext, skill_for};
use fixpoint::topology::{CheckTarget, SkillKind};

use support::aws_stub::AwsStub;
use support::moto::{self, Moto};

pub struct Aws {
    pub moto: &'static Moto,
    pub stub: AwsStub,
}

/// moto and the stub in front of it, started once per test process; the SDK's environment
/// points at the stub.
pub fn aws() -> &'static Aws {
    static AWS: OnceLock<Aws> = OnceLock::new();
    AWS.get_or_init(|| {
        let moto = Moto::shared();
        let stub = AwsStub::start(moto.endpoint());
        // SAFETY: this runs once, inside the OnceLock every test passes through before it
        // builds any AWS configuration; nothing else in this process writes the environment.
        unsafe { moto::point_aws_sdk_at(stub.url()) };
        Aws { moto, stub }
    })
}

/// SDK configuration straight at moto, for setting scenes up.
pub async fn moto_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(aws().moto.endpoint())
        .region(aws_config::Region::new(moto::REGION))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await
}

/// A sweep's context for a deploy that began at `since`.
pub fn context(since: DateTime<Utc>) -> SkillContext {
    aws();
    SkillContext::new(since, None, Arc::new(HashMap::<String, String>::new()))
}

/// Runs the registered skill for `kind`, as the sweep does.
pub async fn check(
    kind: SkillKind,
    target: CheckTarget,
    since: DateTime<Utc>,
) -> anyhow::Result<Observation> {
    let ctx = context(since);
    skill_for(kind).check(&target, &ctx).await
}

pub fn metric(obs: &Observation, name: &str) -> f64 {
    *obs.metrics
        .get(name)
        .unwrap_or_else(|| panic!("no metric {name} in {:#?}", obs.metrics))
}

/// Evidence whose source starts with `prefix`.
pub fn evidence<'a>(obs: &'a Observation, prefix: &str) -> Vec<&'a Evidence> {
    obs.evidence
        .iter()
        .filter(|e| e.source.starts_with(prefix))
        .collect()
}

/// Asserts that no evidence line, summary or metric name contains `secret`.
pub fn assert_never_shows(obs: &Observation, secret: &str) {
    let all = serde_json::to_string(obs).expect("observation serialises");
    assert!(
        !all.contains(secret),
        "{secret:?} leaked into the observation: {all}"
    );
}

pub fn minutes_ago(n: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::minutes(n)
}
