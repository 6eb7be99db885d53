//! The `lambda` skill: whether a function can run. It reads the function's state and last
//! update status (`GetFunction`), its reserved concurrency (`GetFunctionConcurrency`), and its
//! invocations, errors and throttles since the deploy began from CloudWatch metrics
//! (`AWS/Lambda`, one-minute sums). Metrics that cannot be read (no permission, an endpoint
//! that does not speak CloudWatch's CBOR protocol) are reported as not readable; the rest of
//! the finding stands.
//!
//! Status: down when State or LastUpdateStatus is `Failed`, or reserved concurrency is 0
//! (every invocation is throttled); degraded on any throttle, or when errors reach
//! [`ERRORS_DEGRADED`] or [`ERROR_RATE_DEGRADED`] of invocations; healthy otherwise.

use futures::future::BoxFuture;

use super::aws::{MAX_EVIDENCE_CHARS, MetricQuery, aws_cause, clip, read_metrics};
use super::{Evidence, Observation, Skill, SkillContext, Status};
use crate::topology::{CheckTarget, SkillKind};

/// Errors since the deploy began from which a function counts as degraded.
pub const ERRORS_DEGRADED: f64 = 5.0;
/// Share of invocations that failed from which a function counts as degraded.
pub const ERROR_RATE_DEGRADED: f64 = 0.1;

pub struct Lambda;

impl Skill for Lambda {
    fn kind(&self) -> SkillKind {
        SkillKind::Lambda
    }

    fn check<'a>(
        &'a self,
        target: &'a CheckTarget,
        ctx: &'a SkillContext,
    ) -> BoxFuture<'a, anyhow::Result<Observation>> {
        Box::pin(async move {
            match target {
                CheckTarget::Lambda { function, region } => {
                    check_function(function, region.as_deref(), ctx).await
                }
                other => Err(super::wrong_target(self.kind(), other)),
            }
        })
    }
}

async fn check_function(
    function: &str,
    region: Option<&str>,
    ctx: &SkillContext,
) -> anyhow::Result<Observation> {
    let config = ctx.aws(region).await;
    let client = aws_sdk_lambda::Client::new(&config);
    let out = client
        .get_function()
        .function_name(function)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot read Lambda function {function}: {}", aws_cause(&e))
        })?;
    let Some(conf) = out.configuration() else {
        anyhow::bail!("Lambda returned no configuration for function {function}");
    };
    let name = conf.function_name().unwrap_or(function).to_string();
    let source = format!("lambda:{name}");
    let state = conf.state().map(|s| s.as_str()).unwrap_or("unknown");
    let update = conf
        .last_update_status()
        .map(|s| s.as_str())
        .unwrap_or("unknown");

    let mut obs = Observation::new(Status::Healthy, String::new());
    let mut parts = vec![format!("state {state}, last update {update}")];
    let mut status = Status::Healthy;
    let mut text = format!("state {state}");
    if let Some(reason) = conf.state_reason() {
        text.push_str(&format!(
            " ({}: {reason})",
            conf.state_reason_code()
                .map(|c| c.as_str())
                .unwrap_or("no code")
        ));
    }
    text.push_str(&format!("; last update {update}"));
    if let Some(reason) = conf.last_update_status_reason() {
        let code = conf
            .last_update_status_reason_code()
            .map(|c| c.as_str())
            .unwrap_or("no code");
        text.push_str(&format!(" ({code}: {reason})"));
    }
    if let Some(modified) = conf.last_modified() {
        text.push_str(&format!("; last modified {modified}"));
    }
    obs = obs.evidence(Evidence::new(&source, clip(&text, MAX_EVIDENCE_CHARS)));
    if state == "Failed" || update == "Failed" {
        status = Status::Down;
        let reason = conf.last_update_status_reason().or(conf.state_reason());
        if let Some(reason) = reason {
            parts[0].push_str(&format!(": {}", clip(reason, 120)));
        }
    }
    if let Some(m) = conf.memory_size() {
        obs = obs.metric("memory_mb", m.into());
    }
    if let Some(t) = conf.timeout() {
        obs = obs.metric("timeout_s", t.into());
    }
    if let Some(env) = conf.environment().and_then(|e| e.variables()) {
        let mut names: Vec<&str> = env.keys().map(String::as_str).collect();
        names.sort_unstable();
        obs = obs
            .metric("env_vars", names.len() as f64)
            .evidence(Evidence::new(
                &source,
                clip(
                    &format!("environment variable names: {}", names.join(", ")),
                    4 * MAX_EVIDENCE_CHARS,
                ),
            ));
    }

    // Reserved concurrency: absent means the function shares the account's pool.
    let reserved = match client
        .get_function_concurrency()
        .function_name(function)
        .send()
        .await
    {
        Ok(c) => c.reserved_concurrent_executions(),
        Err(e) => {
            obs = obs.evidence(Evidence::new(
                &source,
                clip(
                    &format!("reserved concurrency not readable: {}", aws_cause(&e)),
                    MAX_EVIDENCE_CHARS,
                ),
            ));
            out.concurrency()
                .and_then(|c| c.reserved_concurrent_executions())
        }
    };
    if let Some(reserved) = reserved {
        obs = obs.metric("reserved_concurrency", reserved.into());
        parts.push(format!("reserved concurrency {reserved}"));
        if reserved == 0 {
            status = Status::Down;
            parts.push("every invocation is throttled".into());
        }
    }

    let queries = [
        ("invocations", "Invocations"),
        ("errors", "Errors"),
        ("throttles", "Throttles"),
    ]
    .map(|(id, metric)| MetricQuery {
        id,
        namespace: "AWS/Lambda",
        name: metric,
        dimension: ("FunctionName", name.as_str()),
        stat: "Sum",
    });
    match read_metrics(&config, ctx.since, &queries).await {
        Ok(points) => {
            let sum = |id: &str| {
                points
                    .get(id)
                    .map(|p| p.iter().map(|(_, v)| v).sum::<f64>())
                    .unwrap_or(0.0)
            };
            let (invocations, errors, throttles) =
                (sum("invocations"), sum("errors"), sum("throttles"));
            obs = obs
                .metric("invocations", invocations)
                .metric("errors", errors)
                .metric("throttles", throttles)
                .evidence(Evidence::new(
                    "cloudwatch:AWS/Lambda",
                    format!("since {}: {invocations} invocations, {errors} errors, {throttles} throttles", ctx.since.format("%H:%M:%SZ")),
                ));
            parts.push(format!(
                "{invocations} invocations, {errors} errors, {throttles} throttles"
            ));
            let error_rate_high = invocations > 0.0 && errors / invocations >= ERROR_RATE_DEGRADED;
            if status == Status::Healthy
                && (throttles > 0.0
                    || (errors > 0.0 && (errors >= ERRORS_DEGRADED || error_rate_high)))
            {
                status = Status::Degraded;
            }
        }
        Err(cause) => {
            let text = clip(
                &format!("errors/throttles: not readable: {cause}"),
                MAX_EVIDENCE_CHARS,
            );
            obs = obs.evidence(Evidence::new("cloudwatch:AWS/Lambda", &text));
            parts.push(format!(
                "errors/throttles: not readable: {}",
                clip(&cause, 100)
            ));
        }
    }

    obs.status = status;
    obs.summary = clip(&parts.join("; "), MAX_EVIDENCE_CHARS);
    Ok(obs)
}
