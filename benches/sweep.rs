//! Sweep wall time against the slowest node: 25 HTTP nodes that each answer in 300 ms.
//! A sweep that checks them concurrently takes about as long as one of them; the ratio
//! (sweep wall time / 300 ms) is the number that matters (target ≤ 1.10).
//!
//! Run: `cargo bench --bench sweep`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fixpoint::config::{ProcessEnv, Vars};
use fixpoint::skills::SkillContext;
use fixpoint::sweep::{SweepOptions, sweep};
use fixpoint::topology::TopologyGraph;

const NODES: usize = 25;
const NODE_LATENCY: Duration = Duration::from_millis(300);
const RUNS: usize = 15;

/// The process environment, with loopback allowed: the bench's nodes are servers on
/// 127.0.0.1, which the outbound policy refuses by default (`FIXPOINT_SWEEP_ALLOW`).
struct LoopbackAllowed;

impl Vars for LoopbackAllowed {
    fn get(&self, name: &str) -> Option<String> {
        match name {
            "FIXPOINT_SWEEP_ALLOW" => Some("127.0.0.0/8".into()),
            _ => ProcessEnv.get(name),
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/health/{n}",
            axum::routing::get(|| async {
                tokio::time::sleep(NODE_LATENCY).await;
                "ok"
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let dir = tempfile::tempdir().unwrap();
        let mut map = String::from("service: bench\nenvironment: staging\ndownstream:\n");
        for n in 0..NODES {
            map.push_str(&format!(
                "  - {{name: dep-{n}, type: http, skill: http-health, url: \"http://{addr}/health/{n}\", expect_body: ok}}\n"
            ));
        }
        let path = dir.path().join("bench.yaml");
        std::fs::write(&path, map).unwrap();
        let graph = TopologyGraph::load(&path, 2, &[]).unwrap();
        let options = SweepOptions::default();

        let mut walls = Vec::with_capacity(RUNS);
        for run in 0..=RUNS {
            let ctx = Arc::new(SkillContext::new(chrono::Utc::now(), None, Arc::new(LoopbackAllowed)));
            let started = Instant::now();
            let report = sweep(&graph, ctx, &options).await;
            let wall = started.elapsed();
            assert_eq!(report.findings.len(), NODES);
            assert!(report.all_healthy(), "every node answers: {:?}", report.findings[0]);
            if run > 0 {
                // The first run warms the connection pool and the allocator; it is not counted.
                walls.push(wall);
            }
        }
        walls.sort();
        let median = walls[walls.len() / 2];
        let worst = *walls.last().unwrap();
        let ratio = |d: Duration| d.as_secs_f64() / NODE_LATENCY.as_secs_f64();
        println!("sweep of {NODES} nodes × {} ms each, {RUNS} runs (concurrency {})", NODE_LATENCY.as_millis(), options.concurrency);
        println!("  median wall {:>6.1} ms  ratio {:.3}", median.as_secs_f64() * 1e3, ratio(median));
        println!("  worst  wall {:>6.1} ms  ratio {:.3}", worst.as_secs_f64() * 1e3, ratio(worst));
    });
}
