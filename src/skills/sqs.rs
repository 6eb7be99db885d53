//! The `sqs` skill: whether a queue is keeping up. It reads the queue's approximate depths
//! (visible, in flight, delayed), its redrive policy and the depth of its dead-letter queue
//! (the policy's `deadLetterTargetArn`, else the node's `dlq`), and the age of the oldest
//! message from CloudWatch metrics where they can be read (SQS itself does not report it).
//!
//! Status: degraded when [`BACKLOG_DEGRADED`] or more messages are visible, when the oldest
//! message is [`OLDEST_AGE_DEGRADED_S`] seconds old or more, or when the dead-letter queue
//! holds any message; healthy otherwise. A queue that does not exist is an error.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName as Attr;
use futures::future::BoxFuture;

use super::aws::{MAX_EVIDENCE_CHARS, MetricQuery, aws_cause, clip, read_metrics};
use super::{Evidence, Observation, Skill, SkillContext, Status};
use crate::topology::{CheckTarget, SkillKind};

/// Visible messages from which a queue counts as backed up.
pub const BACKLOG_DEGRADED: f64 = 100.0;
/// Age of the oldest message (seconds) from which a queue counts as stuck.
pub const OLDEST_AGE_DEGRADED_S: f64 = 900.0;

pub struct Sqs;

impl Skill for Sqs {
    fn kind(&self) -> SkillKind {
        SkillKind::Sqs
    }

    fn check<'a>(
        &'a self,
        target: &'a CheckTarget,
        ctx: &'a SkillContext,
    ) -> BoxFuture<'a, anyhow::Result<Observation>> {
        Box::pin(async move {
            match target {
                CheckTarget::Sqs { queue, dlq, region } => {
                    check_queue(queue, dlq.as_deref(), region.as_deref(), ctx).await
                }
                other => Err(super::wrong_target(self.kind(), other)),
            }
        })
    }
}

async fn check_queue(
    queue: &str,
    node_dlq: Option<&str>,
    region: Option<&str>,
    ctx: &SkillContext,
) -> anyhow::Result<Observation> {
    let config = ctx.aws(region).await;
    let client = aws_sdk_sqs::Client::new(&config);
    let name = queue_name(queue);
    let url = queue_url(&client, queue, None).await?;
    let attrs = attributes(&client, &url, queue).await?;
    let (visible, in_flight, delayed) = depths(&attrs);
    let source = format!("sqs:{name}");
    let mut obs = Observation::new(Status::Healthy, String::new())
        .metric("visible", visible)
        .metric("in_flight", in_flight)
        .metric("delayed", delayed)
        .evidence(Evidence::new(
            &source,
            format!("approximately {visible} visible, {in_flight} in flight, {delayed} delayed"),
        ));
    let mut parts = vec![format!(
        "{visible} visible, {in_flight} in flight, {delayed} delayed"
    )];
    let mut degraded = visible >= BACKLOG_DEGRADED;
    if degraded {
        parts[0].push_str(&format!(" (backlog: {BACKLOG_DEGRADED} or more visible)"));
    }

    // Redrive policy: where failed messages go, after how many receives.
    let mut dlq: Option<(String, Option<String>)> = None; // (name or URL, owner account)
    match attrs
        .get(&Attr::RedrivePolicy)
        .map(|p| serde_json::from_str::<serde_json::Value>(p))
    {
        Some(Ok(policy)) => {
            let arn = policy
                .get("deadLetterTargetArn")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let max = policy.get("maxReceiveCount").and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            });
            if let Some(max) = max {
                obs = obs.metric("max_receive_count", max);
            }
            let max = max.map(|m| m.to_string()).unwrap_or_else(|| "?".into());
            obs = obs.evidence(Evidence::new(
                &source,
                clip(
                    &format!("redrive policy: dead-letter queue {arn}, maxReceiveCount {max}"),
                    MAX_EVIDENCE_CHARS,
                ),
            ));
            // arn:aws:sqs:<region>:<account>:<name>
            let fields: Vec<&str> = arn.split(':').collect();
            if let [_, _, _, _, account, dlq_name] = fields[..] {
                if let Some(node) = node_dlq.filter(|n| queue_name(n) != dlq_name) {
                    let text = format!(
                        "the map names dead-letter queue {node}, but the redrive policy targets {dlq_name}: reading {dlq_name}"
                    );
                    obs = obs.evidence(Evidence::new(&source, text));
                }
                dlq = Some((dlq_name.to_string(), Some(account.to_string())));
            }
        }
        Some(Err(e)) => {
            obs = obs.evidence(Evidence::new(
                &source,
                format!("redrive policy is not valid JSON: {e}"),
            ))
        }
        None => {
            obs = obs.evidence(Evidence::new(
                &source,
                "no redrive policy: failed messages are not dead-lettered",
            ))
        }
    }
    if dlq.is_none() {
        dlq = node_dlq.map(|d| (d.to_string(), None));
    }

    if let Some((dlq, owner)) = dlq {
        let dlq_name = queue_name(&dlq).to_string();
        let read = async {
            let url = queue_url(&client, &dlq, owner.as_deref()).await?;
            attributes(&client, &url, &dlq).await
        };
        match read.await {
            Ok(dlq_attrs) => {
                let (dlq_visible, dlq_in_flight, _) = depths(&dlq_attrs);
                obs = obs
                    .metric("dlq_visible", dlq_visible)
                    .metric("dlq_in_flight", dlq_in_flight)
                    .evidence(Evidence::new(
                        format!("sqs:{dlq_name}"),
                        format!("dead-letter queue holds {dlq_visible} visible, {dlq_in_flight} in flight"),
                    ));
                if dlq_visible > 0.0 {
                    degraded = true;
                    parts.push(format!(
                        "dead-letter queue {dlq_name} holds {dlq_visible} messages"
                    ));
                }
            }
            Err(e) => {
                obs = obs.evidence(Evidence::new(
                    format!("sqs:{dlq_name}"),
                    clip(
                        &format!("dead-letter queue not readable: {e}"),
                        MAX_EVIDENCE_CHARS,
                    ),
                ));
                parts.push(format!("dead-letter queue {dlq_name} not readable"));
            }
        }
    }

    // Age of the oldest message: a CloudWatch metric, not a queue attribute.
    let query = MetricQuery {
        id: "oldest",
        namespace: "AWS/SQS",
        name: "ApproximateAgeOfOldestMessage",
        dimension: ("QueueName", name),
        stat: "Maximum",
    };
    match read_metrics(&config, ctx.since, &[query]).await {
        Ok(points) => match points.get("oldest").and_then(|p| p.first()) {
            Some((at, age)) => {
                obs = obs.metric("age_of_oldest_s", *age).evidence(
                    Evidence::new(&source, format!("oldest message is {age} s old")).at(*at),
                );
                if *age >= OLDEST_AGE_DEGRADED_S {
                    degraded = true;
                    parts.push(format!("oldest message {age} s old"));
                }
            }
            None => {
                obs = obs.evidence(Evidence::new(
                    &source,
                    "age of oldest message: no datapoints since the deploy began",
                ))
            }
        },
        Err(cause) => {
            obs = obs.evidence(Evidence::new(
                &source,
                clip(
                    &format!("age of oldest message: not readable: {cause}"),
                    MAX_EVIDENCE_CHARS,
                ),
            ));
        }
    }

    obs.status = if degraded {
        Status::Degraded
    } else {
        Status::Healthy
    };
    obs.summary = clip(&parts.join("; "), MAX_EVIDENCE_CHARS);
    Ok(obs)
}

/// A queue's URL: as given when it is one, else looked up by name (and owner account).
async fn queue_url(
    client: &aws_sdk_sqs::Client,
    queue: &str,
    owner: Option<&str>,
) -> anyhow::Result<String> {
    if queue.starts_with("https://") || queue.starts_with("http://") {
        return Ok(queue.to_string());
    }
    match client
        .get_queue_url()
        .queue_name(queue)
        .set_queue_owner_aws_account_id(owner.map(str::to_string))
        .send()
        .await
    {
        Ok(out) => out
            .queue_url()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("SQS returned no URL for queue {queue}")),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist()) =>
        {
            anyhow::bail!("SQS queue {queue} does not exist: {}", aws_cause(&e))
        }
        Err(e) => anyhow::bail!("cannot look up SQS queue {queue}: {}", aws_cause(&e)),
    }
}

async fn attributes(
    client: &aws_sdk_sqs::Client,
    url: &str,
    queue: &str,
) -> anyhow::Result<HashMap<Attr, String>> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Attr::All)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read attributes of SQS queue {queue}: {}",
                aws_cause(&e)
            )
        })?;
    Ok(out.attributes().cloned().unwrap_or_default())
}

/// (visible, in flight, delayed); a missing or unreadable attribute counts as 0.
fn depths(attrs: &HashMap<Attr, String>) -> (f64, f64, f64) {
    let n = |a: Attr| {
        attrs
            .get(&a)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        n(Attr::ApproximateNumberOfMessages),
        n(Attr::ApproximateNumberOfMessagesNotVisible),
        n(Attr::ApproximateNumberOfMessagesDelayed),
    )
}

/// `orders` from `orders` or `https://sqs.us-east-1.amazonaws.com/123456789012/orders`.
fn queue_name(queue: &str) -> &str {
    queue
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(queue)
}
