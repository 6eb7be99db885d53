//! The sweep: every node of the service and of its next hops, checked concurrently
//! (bounded), each under its own timeout, so a hung dependency becomes an `unknown`
//! finding instead of holding up the rest. A skill's error is a finding, never a crash.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::redact;
use crate::skills::{Evidence, Finding, Observation, SkillContext, Status, skill_for};
use crate::topology::{CheckTarget, PlannedCheck, TopologyGraph};

#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Checks running at once.
    pub concurrency: usize,
    /// A node's timeout when its map sets none (`timeout_s`).
    pub default_timeout: Duration,
}

impl Default for SweepOptions {
    fn default() -> Self {
        Self {
            concurrency: 32,
            default_timeout: Duration::from_secs(15),
        }
    }
}

/// What a sweep saw: the shape `fixpoint sweep --json` prints and investigations store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    pub service: String,
    pub environment: Option<String>,
    pub elapsed_ms: u64,
    /// Unhealthy first, then by hop and node.
    pub findings: Vec<Finding>,
    /// What kept the sweep from seeing something, said once (e.g. no AWS credentials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl SweepReport {
    pub fn all_healthy(&self) -> bool {
        self.findings.iter().all(|f| f.status == Status::Healthy)
    }
}

pub async fn sweep(
    graph: &TopologyGraph,
    ctx: Arc<SkillContext>,
    options: &SweepOptions,
) -> SweepReport {
    let started = Instant::now();
    let mut notes = Vec::new();
    if graph
        .checks
        .iter()
        .any(|c| c.skill.is_some_and(|k| k.uses_aws()))
        && let Err(why) = ctx.aws_access().await
    {
        tracing::warn!("{why}; AWS nodes are not checked");
        notes.push(format!("{why}; AWS nodes are not checked"));
    }
    let mut findings: Vec<Finding> = futures::stream::iter(graph.checks.iter().cloned())
        .map(|check| {
            let ctx = ctx.clone();
            let timeout = check
                .timeout_s
                .map(Duration::from_secs)
                .unwrap_or(options.default_timeout);
            async move { run_check(check, &ctx, timeout).await }
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    findings.sort_by(|a, b| {
        (a.status, a.hop, &a.node, &a.skill).cmp(&(b.status, b.hop, &b.node, &b.skill))
    });
    SweepReport {
        service: graph.root.name.clone(),
        environment: graph.root.environment.clone(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        findings,
        notes,
    }
}

async fn run_check(check: PlannedCheck, ctx: &SkillContext, timeout: Duration) -> Finding {
    let skill_name = check.skill.map(|s| s.as_str()).unwrap_or("none");
    let observation = match (&check.target, check.skill) {
        (CheckTarget::Missing { what }, _) => {
            Observation::new(Status::Unknown, format!("not checked: {what}"))
        }
        (_, None) => Observation::new(Status::Unknown, "not checked: the node names no skill"),
        (_, Some(kind)) if kind.uses_aws() && ctx.aws_access().await.is_err() => {
            Observation::new(Status::Unknown, "not checked: no AWS credentials")
        }
        (target, Some(kind)) => {
            let span = tracing::info_span!("check", node = %check.node, hop = check.hop, skill = kind.as_str());
            let checked = tokio::time::timeout(timeout, skill_for(kind).check(target, ctx))
                .instrument(span)
                .await;
            match checked {
                Ok(Ok(observation)) => observation,
                Ok(Err(e)) => Observation::new(Status::Unknown, format!("check failed: {e:#}")),
                Err(_) => Observation::new(
                    Status::Unknown,
                    format!("timed out after {} s", timeout.as_secs_f64()),
                ),
            }
        }
    };
    finding(&check, skill_name, observation)
}

/// Everything a finding says passes through redaction: it is stored, shown and sent to models.
fn finding(check: &PlannedCheck, skill: &str, o: Observation) -> Finding {
    Finding {
        node: check.node.clone(),
        hop: check.hop,
        skill: skill.to_string(),
        status: o.status,
        summary: redact::redact(&o.summary).into_owned(),
        evidence: o
            .evidence
            .into_iter()
            .map(|e| Evidence {
                source: redact::redact(&e.source).into_owned(),
                at: e.at,
                text: redact::redact(&e.text).into_owned(),
            })
            .collect(),
        metrics: o.metrics,
        observed_at: Utc::now(),
    }
}

/// The table people read: node, hop, skill, status, summary; unhealthy first.
pub fn render_table(report: &SweepReport) -> String {
    let header = ["NODE", "HOP", "SKILL", "STATUS", "SUMMARY"];
    let rows: Vec<[String; 5]> = report
        .findings
        .iter()
        .map(|f| {
            [
                f.node.clone(),
                f.hop.to_string(),
                f.skill.clone(),
                f.status.as_str().to_string(),
                f.summary.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()).take(4) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        format!(
            "{:<w0$}  {:>w1$}  {:<w2$}  {:<w3$}  {}\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    let mut out = format!(
        "{} ({}) — {} finding(s) in {} ms\n\n",
        report.service,
        report
            .environment
            .as_deref()
            .unwrap_or("environment not set"),
        report.findings.len(),
        report.elapsed_ms
    );
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    if !report.notes.is_empty() {
        out.push('\n');
    }
    out.push_str(&line(header));
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    out
}
