//! The rules engine over a 200-node sweep: time per diagnosis, median and p99, with the
//! topology graph and without it. Target: under 5 ms per diagnosis.
//!
//! `cargo bench --bench diagnose` (ITERATIONS=n to change the sample count). The maps are
//! generated into a temporary folder and loaded with the real loader; the findings are
//! synthetic: most nodes healthy, the seed's incident (consumer down, queue backed up, the
//! service's health checks failing) plus noise, with log evidence on every service.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use fixpoint::diagnose::DebugContext;
use fixpoint::diagnose::rank::diagnose;
use fixpoint::skills::{Evidence, Finding, Status};
use fixpoint::topology::TopologyGraph;

const SERVICES: usize = 4;
const RESOURCES_PER_SERVICE: usize = 30;
const ROOT_RESOURCES: usize = 50;
const CALLERS: usize = 20;

const KINDS: [(&str, &str); 5] = [
    ("postgres", "url_env: DB_URL"),
    ("redis", "url_env: REDIS_URL"),
    ("sqs", "queue: jobs"),
    ("lambda", "function: worker"),
    (
        "http-health",
        "url: \"https://svc.staging.example.com/health\"",
    ),
];

fn node_line(name: &str, i: usize) -> String {
    let (skill, conn) = KINDS[i % KINDS.len()];
    let conn = conn
        .replace("jobs", &format!("{name}-q"))
        .replace("worker", &format!("{name}-fn"));
    format!("  - {{name: {name}, skill: {skill}, {conn}}}\n")
}

/// Writes the maps and returns every (node, hop, skill) the sweep would report.
fn write_maps(dir: &Path) -> Vec<(String, u32, &'static str)> {
    let mut nodes = vec![
        ("payments-api".to_string(), 0, "gha"),
        ("payments-api".to_string(), 0, "ecs"),
        ("payments-api".to_string(), 0, "cloudwatch"),
    ];
    let mut root = String::from(
        "service: payments-api\nenvironment: staging\nrepo: acme/payments-api\n\
         ecs: {cluster: staging, service: payments-api}\nlogs: {group: /ecs/payments-api}\nupstream:\n",
    );
    for i in 0..CALLERS {
        let name = format!("caller-{i}");
        root.push_str(&format!(
            "  - {{name: {name}, skill: http-health, url: \"https://{name}.example.com/h\"}}\n"
        ));
        nodes.push((name, 1, "http-health"));
    }
    root.push_str("downstream:\n  - {name: sqs-payments, skill: sqs, queue: payments-jobs}\n");
    nodes.push(("sqs-payments".into(), 1, "sqs"));
    for i in 0..ROOT_RESOURCES {
        let name = format!("res-{i}");
        root.push_str(&node_line(&name, i));
        nodes.push((name, 1, KINDS[i % KINDS.len()].0));
    }
    for s in 0..SERVICES {
        let service = format!("svc-{s}");
        root.push_str(&format!(
            "  - {{name: {service}, topology: {service}.yaml}}\n"
        ));
        nodes.push((service.clone(), 1, "ecs"));
        nodes.push((service.clone(), 1, "cloudwatch"));
        let mut map = format!(
            "service: {service}\nenvironment: staging\necs: {{cluster: staging, service: {service}}}\n\
             logs: {{group: /ecs/{service}}}\n"
        );
        if s == 0 {
            map.push_str("upstream:\n  - {name: sqs-payments, skill: sqs, queue: payments-jobs}\n");
        }
        map.push_str("downstream:\n");
        for i in 0..RESOURCES_PER_SERVICE {
            let name = format!("{service}-res-{i}");
            map.push_str(&node_line(&name, i));
            nodes.push((name, 2, KINDS[i % KINDS.len()].0));
        }
        std::fs::write(dir.join(format!("{service}.yaml")), map).expect("write a service map");
    }
    std::fs::write(dir.join("payments-api.yaml"), root).expect("write the root map");
    nodes
}

fn findings(nodes: &[(String, u32, &'static str)]) -> Vec<Finding> {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
    nodes
        .iter()
        .enumerate()
        .map(|(i, (node, hop, skill))| {
            let mut metrics = BTreeMap::new();
            let mut evidence = Vec::new();
            let mut status = Status::Healthy;
            let mut summary = "ok".to_string();
            match (node.as_str(), *skill) {
                ("payments-api", "ecs") => {
                    status = Status::Degraded;
                    metrics.extend([("desired".into(), 3.0), ("running".into(), 1.0), ("stopped_tasks".into(), 2.0)]);
                    evidence.push(Evidence::new("ecs:service-event", "(service payments-api) failed ELB health checks"));
                    evidence.push(Evidence::new("ecs:task-definition/payments-api:7", "environment: DATABASE_URL, REDIS_URL"));
                }
                (_, "cloudwatch") => {
                    status = if node == "payments-api" || node == "svc-0" { Status::Degraded } else { Status::Healthy };
                    metrics.insert("errors_total".into(), 40.0);
                    for k in 0..8 {
                        let text = format!("ERROR request {k} failed: SendMessage to payments-jobs timed out after 5000 ms");
                        evidence.push(Evidence::new(format!("logs:/ecs/{node}"), text).at(t0 + chrono::Duration::minutes(k)));
                    }
                }
                ("svc-0", "ecs") => {
                    status = Status::Down;
                    metrics.extend([("desired".into(), 2.0), ("running".into(), 0.0), ("stopped_tasks".into(), 5.0)]);
                    evidence.push(Evidence::new("ecs:stopped-task/1", "Essential container in task exited (exit code 1)"));
                }
                ("sqs-payments", _) => {
                    status = Status::Degraded;
                    metrics.extend([("visible".into(), 4210.0), ("in_flight".into(), 0.0)]);
                }
                (_, "lambda") if i % 7 == 0 => {
                    status = Status::Degraded;
                    summary = "throttled".into();
                    metrics.insert("throttles".into(), 12.0);
                }
                (_, "postgres") => {
                    metrics.extend([("connections_ratio".into(), 0.2), ("blocked_sessions".into(), 0.0)]);
                }
                (_, "http-health") if i % 11 == 0 => {
                    status = Status::Down;
                    summary = "connection refused".into();
                }
                _ => {}
            }
            Finding {
                node: node.clone(),
                hop: *hop,
                skill: skill.to_string(),
                status,
                summary,
                evidence,
                metrics,
                observed_at: t0,
            }
        })
        .collect()
}

fn measure(label: &str, iterations: usize, run: impl Fn() -> usize) -> String {
    for _ in 0..iterations / 10 {
        black_box(run());
    }
    let mut times: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            black_box(run());
            start.elapsed()
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    format!(
        "{label:<28} median {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms   ({iterations} runs)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    )
}

fn main() {
    let iterations = std::env::var("ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().expect("a temporary folder for the maps");
    let nodes = write_maps(dir.path());
    let graph = TopologyGraph::load(&dir.path().join("payments-api.yaml"), 3, &[])
        .expect("the generated maps load");
    let findings = findings(&nodes);
    let history = DebugContext::default();
    let distinct: std::collections::BTreeSet<&str> =
        findings.iter().map(|f| f.node.as_str()).collect();

    let d = diagnose("payments-api", &findings, Some(&graph), &history);
    let chain: Vec<String> = d
        .chain
        .iter()
        .map(|l| format!("{}:{}", l.node, l.class.as_str()))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rules diagnosis: {} nodes, {} findings, {} planned checks; root cause {} {} (chain {}), {} noise",
        distinct.len(),
        findings.len(),
        graph.checks.len(),
        d.root_cause.node,
        d.root_cause.class.as_str(),
        chain.join(" → "),
        d.noise.len()
    );
    let _ = writeln!(
        out,
        "{}",
        measure("with the topology graph", iterations, || {
            diagnose("payments-api", &findings, Some(&graph), &history)
                .noise
                .len()
        })
    );
    let _ = writeln!(
        out,
        "{}",
        measure("without a graph (hops)", iterations, || {
            diagnose("payments-api", &findings, None, &history)
                .noise
                .len()
        })
    );
    print!("{out}");
}
