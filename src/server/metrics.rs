//! `GET /metrics`: Prometheus text format. Counters live in memory (they restart at
//! zero with the process, as Prometheus expects); queue gauges are read from the store
//! at scrape time so they are always the durable truth.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::store::QueueCounts;

/// Label values come from a fixed set, so a hostile `X-GitHub-Event` header cannot
/// create unbounded series.
const EVENTS: &[&str] = &[
    "workflow_run",
    "issue_comment",
    "installation",
    "installation_repositories",
    "ping",
];

#[derive(Default)]
pub struct Metrics {
    webhooks: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Metrics {
    pub fn webhook(&self, event: &str, outcome: &'static str) {
        let event = EVENTS
            .iter()
            .find(|e| **e == event)
            .copied()
            .unwrap_or("other");
        let mut map = self.webhooks.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((event, outcome)).or_default() += 1;
    }

    /// `commits`: (transactions, deliveries) of the delivery writer.
    pub fn render(&self, queue: Option<QueueCounts>, commits: (u64, u64)) -> String {
        let mut out = String::new();
        out.push_str("# HELP fixpoint_webhooks_total Webhook deliveries by event and outcome.\n");
        out.push_str("# TYPE fixpoint_webhooks_total counter\n");
        let map = self.webhooks.lock().unwrap_or_else(|p| p.into_inner());
        for ((event, outcome), n) in map.iter() {
            let _ = writeln!(
                out,
                "fixpoint_webhooks_total{{event=\"{event}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        drop(map);
        out.push_str("# HELP fixpoint_jobs Jobs in the durable queue by state.\n");
        out.push_str("# TYPE fixpoint_jobs gauge\n");
        if let Some(q) = queue {
            for (state, n) in q.open() {
                let _ = writeln!(out, "fixpoint_jobs{{state=\"{state}\"}} {n}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP fixpoint_delivery_commits_total Transactions that stored deliveries.\n# TYPE fixpoint_delivery_commits_total counter\nfixpoint_delivery_commits_total {}\n# HELP fixpoint_deliveries_committed_total Deliveries those transactions answered, duplicates included.\n# TYPE fixpoint_deliveries_committed_total counter\nfixpoint_deliveries_committed_total {}",
            commits.0, commits.1
        );
        let _ = writeln!(
            out,
            "# HELP fixpoint_store_up Whether the store answered this scrape.\n# TYPE fixpoint_store_up gauge\nfixpoint_store_up {}",
            u8::from(queue.is_some())
        );
        out
    }
}
