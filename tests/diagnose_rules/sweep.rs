//! The sweep every incident starts from: payments-api's fixture topology with every node
//! healthy, builders for findings, and the incidents more than one test uses.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use fixpoint::topology::TopologyGraph;

pub use fixpoint::diagnose::rank::{candidates, diagnose};
pub use fixpoint::diagnose::{
    ActionKind, DebugContext, Diagnosis, Engine, HistoryEntry, IterationOutcome,
    RootCauseClass as Class,
};
pub use fixpoint::skills::{Evidence, Finding, Status};

pub const SERVICE: &str = "payments-api";

pub fn graph() -> TopologyGraph {
    TopologyGraph::load(
        Path::new("tests/fixtures/diagnose/payments-api.yaml"),
        3,
        &[],
    )
    .expect("the fixture map loads")
}

pub fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, h, m, 0).unwrap()
}

pub fn finding(node: &str, hop: u32, skill: &str, status: Status, summary: &str) -> Finding {
    Finding {
        node: node.into(),
        hop,
        skill: skill.into(),
        status,
        summary: summary.into(),
        evidence: Vec::new(),
        metrics: BTreeMap::new(),
        observed_at: at(8, 30),
    }
}

pub trait Build {
    fn m(self, name: &str, value: f64) -> Self;
    fn e(self, source: &str, text: &str) -> Self;
    fn e_at(self, source: &str, text: &str, when: DateTime<Utc>) -> Self;
}

impl Build for Finding {
    fn m(mut self, name: &str, value: f64) -> Self {
        self.metrics.insert(name.into(), value);
        self
    }
    fn e(mut self, source: &str, text: &str) -> Self {
        self.evidence.push(Evidence::new(source, text));
        self
    }
    fn e_at(mut self, source: &str, text: &str, when: DateTime<Utc>) -> Self {
        self.evidence.push(Evidence::new(source, text).at(when));
        self
    }
}

/// A sweep of the fixture where every node is healthy and the deploy job failed.
pub fn healthy() -> Vec<Finding> {
    use Status::Healthy;
    vec![
        finding(
            SERVICE,
            0,
            "gha",
            Status::Down,
            "deploy failed: service did not stabilize",
        )
        .m("failed_jobs", 1.0)
        .m("failed_steps", 1.0)
        .e(
            "gha:job/deploy",
            "##[error]Waiter ServicesStable failed: Max attempts exceeded",
        ),
        finding(SERVICE, 0, "ecs", Healthy, "3/3 tasks running")
            .m("desired", 3.0)
            .m("running", 3.0)
            .m("memory_mb", 1024.0)
            .e(
                "ecs:task-definition/payments-api:42",
                "environment: DATABASE_URL, REDIS_URL, PAYMENTS_QUEUE_URL; secrets: STRIPE_KEY",
            ),
        finding(
            SERVICE,
            0,
            "cloudwatch",
            Healthy,
            "no errors since the deploy",
        )
        .m("errors_total", 0.0),
        finding("api-gateway", 1, "http-health", Healthy, "200 in 40 ms")
            .m("status_code", 200.0)
            .m("latency_ms", 40.0),
        finding("postgresql", 1, "postgres", Healthy, "20/100 connections")
            .m("connections", 20.0)
            .m("max_connections", 100.0)
            .m("connections_ratio", 0.2)
            .m("blocked_sessions", 0.0)
            .m("longest_query_s", 0.4),
        finding("redis", 1, "redis", Healthy, "40% of maxmemory")
            .m("memory_ratio", 0.4)
            .m("evicted_keys", 0.0),
        finding("sqs-payments", 1, "sqs", Healthy, "3 visible, 2 in flight")
            .m("visible", 3.0)
            .m("in_flight", 2.0)
            .m("dlq_visible", 0.0),
        finding(
            "lambda-worker",
            1,
            "lambda",
            Healthy,
            "no throttles, no errors",
        )
        .m("throttles", 0.0)
        .m("errors", 0.0)
        .m("reserved_concurrency", 50.0),
        finding(
            "notification-svc",
            1,
            "http-health",
            Healthy,
            "200 in 25 ms",
        )
        .m("status_code", 200.0),
        finding("ledger-consumer", 1, "ecs", Healthy, "2/2 tasks running")
            .m("desired", 2.0)
            .m("running", 2.0),
        finding("ledger-consumer", 1, "cloudwatch", Healthy, "no errors").m("errors_total", 0.0),
        finding("ledger-db", 2, "postgres", Healthy, "5/100 connections")
            .m("connections_ratio", 0.05),
    ]
}

/// The healthy sweep with these findings in place of the ones for the same node and skill.
pub fn sweep(changes: Vec<Finding>) -> Vec<Finding> {
    replace(healthy(), changes)
}

pub fn replace(mut findings: Vec<Finding>, changes: Vec<Finding>) -> Vec<Finding> {
    for change in changes {
        match findings
            .iter_mut()
            .find(|f| f.node == change.node && f.skill == change.skill)
        {
            Some(f) => *f = change,
            None => findings.push(change),
        }
    }
    findings
}

pub fn run(findings: &[Finding]) -> Diagnosis {
    run_with(findings, &DebugContext::default())
}

pub fn run_with(findings: &[Finding], history: &DebugContext) -> Diagnosis {
    let graph = graph();
    let d = diagnose(SERVICE, findings, Some(&graph), history);
    assert_eq!(d.engine, Engine::Rules);
    assert!((0.0..=1.0).contains(&d.confidence), "{d:#?}");
    d
}

pub fn chain(d: &Diagnosis) -> Vec<(&str, Class)> {
    d.chain.iter().map(|l| (l.node.as_str(), l.class)).collect()
}

pub fn noise<'a>(d: &'a Diagnosis, node: &str) -> &'a str {
    d.noise
        .iter()
        .find(|n| n.node == node)
        .map(|n| n.why.as_str())
        .unwrap_or_else(|| panic!("{node} is not in the noise: {d:#?}"))
}

pub fn ecs_degraded(summary: &str) -> Finding {
    finding(SERVICE, 0, "ecs", Status::Degraded, summary)
        .m("desired", 3.0)
        .m("running", 1.0)
        .m("memory_mb", 1024.0)
        .e(
            "ecs:task-definition/payments-api:43",
            "environment: DATABASE_URL, REDIS_URL, PAYMENTS_QUEUE_URL; secrets: STRIPE_KEY",
        )
}

pub fn health_checks_failing() -> Finding {
    ecs_degraded("1/3 running: tasks fail ELB health checks")
        .m("stopped_tasks", 2.0)
        .e("ecs:service-event", "(service payments-api) (task 1a2b3c) failed ELB health checks in (target-group payments-api-tg)")
        .e("ecs:stopped-task/1a2b3c", "Task failed ELB health checks")
}

pub fn oom() -> Vec<Finding> {
    sweep(vec![
        ecs_degraded("1/3 running: tasks OOM-killed")
            .m("stopped_tasks", 4.0)
            .m("oom_kills", 4.0)
            .m("exit_137", 4.0)
            .e("ecs:stopped-task/9f8e", "Essential container in task exited: OutOfMemoryError: Container killed due to memory usage (exit code 137)"),
        finding(SERVICE, 0, "cloudwatch", Status::Degraded, "12 errors")
            .m("errors_total", 12.0)
            .e_at("logs:/ecs/payments-api", "java.lang.OutOfMemoryError: Java heap space", at(8, 3)),
        // A caller down at the same time: it does not explain payments-api's own failure.
        finding("api-gateway", 1, "http-health", Status::Down, "connect error").m("status_code", 502.0),
    ])
}

pub fn connections_exhausted() -> Vec<Finding> {
    vec![
        health_checks_failing(),
        finding(SERVICE, 0, "cloudwatch", Status::Degraded, "212 errors")
            .m("errors_total", 212.0)
            .m("first_error_epoch_s", at(8, 2).timestamp() as f64)
            .e_at(
                "logs:/ecs/payments-api",
                "sqlx::pool: timed out waiting for connection after 30s",
                at(8, 2),
            ),
        finding(
            "postgresql",
            1,
            "postgres",
            Status::Degraded,
            "97/100 connections; too many clients",
        )
        .m("connections", 97.0)
        .m("max_connections", 100.0)
        .m("connections_ratio", 0.97)
        .m("idle_in_transaction", 41.0)
        .m("blocked_sessions", 0.0)
        .m("longest_query_s", 2.0)
        .e(
            "postgres:pg_stat_activity",
            "41 connections idle in transaction from payments-api",
        ),
    ]
}

/// The seed's story: ledger-consumer stopped consuming, payments-jobs backed up, payments-api
/// timed out sending to it, and its deploy's health checks failed.
pub fn consumer_down() -> Vec<Finding> {
    sweep(vec![
        health_checks_failing(),
        finding(SERVICE, 0, "cloudwatch", Status::Degraded, "431 errors")
            .m("errors_total", 431.0)
            .m("first_error_epoch_s", at(8, 1).timestamp() as f64)
            .e_at(
                "logs:/ecs/payments-api",
                "SendMessage to payments-jobs timed out after 5000 ms",
                at(8, 1),
            ),
        finding(
            "sqs-payments",
            1,
            "sqs",
            Status::Degraded,
            "4210 visible, 0 in flight",
        )
        .m("visible", 4210.0)
        .m("in_flight", 0.0)
        .m("dlq_visible", 0.0),
        finding("ledger-consumer", 1, "ecs", Status::Down, "0/2 running")
            .m("desired", 2.0)
            .m("running", 0.0)
            .m("stopped_tasks", 5.0)
            .e(
                "ecs:stopped-task/0c0c",
                "Essential container in task exited (exit code 1)",
            ),
        finding(
            "ledger-consumer",
            1,
            "cloudwatch",
            Status::Degraded,
            "crash at start-up",
        )
        .m("errors_total", 25.0)
        .m("first_error_epoch_s", at(6, 2).timestamp() as f64)
        .e_at(
            "logs:/ecs/ledger-consumer",
            "panic: ledger schema version 41 != 42",
            at(6, 2),
        ),
    ])
}
