//! What the fix loop itself costs, in the incident world of `tests/loop_incidents` (moto and
//! the world's ECS stand-in, the fake GitHub whose CI runs at once on each push):
//!
//! 1. **Overhead per iteration**: the time the loop's job ran (planning, the commit, each
//!    poll of CI and the rollout, the verification sweep, the PR), summed over its runs and
//!    divided by its iterations. Waiting on CI and the rollout is not in it: the job is
//!    snoozed then. Target < 2 s.
//! 2. **Memory while waiting**: the resident set of `fixpoint serve` with 50 loops waiting on
//!    CI at once (50 repositories, CI held in progress), against the same process idle: cold
//!    (nothing handled yet) and warm (after one incident whose loop stopped unsure). Target
//!    < 10 MB above idle: a waiting loop is a row and a snoozed job, not a task.
//!
//! Run: `PATH=$PWD/.venv/bin:$PATH cargo bench --bench fix_loop` (moto_server comes from the
//! venv the test command installs). `FIX_LOOP_BENCH=overhead` or `=waiting` runs one part.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "../tests/loop_incidents/story.rs"]
#[allow(dead_code, unused_imports)]
mod story;

use std::time::{Duration, Instant};

use fixpoint::domain::LoopStatus;

use story::*;
use support::fake_github::FakeGitHub;
use support::lower_env::LowerEnv;
use support::process::{free_port, serve};

const OVERHEAD_RUNS: usize = 5;
const WAITING_LOOPS: usize = 50;
/// The service of the incident that warms the server up before "warm idle" is read.
const WARM_UP: &str = "warm-up";

fn main() {
    let part = std::env::var("FIX_LOOP_BENCH").unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        if part.is_empty() || part == "overhead" {
            overhead().await;
        }
        if part.is_empty() || part == "waiting" {
            waiting().await;
        }
    });
}

/// The OOM incident (one iteration) and the OOM that needs two raises (two iterations),
/// `OVERHEAD_RUNS` times each, with a soak of 0 s.
async fn overhead() {
    let mut per_iteration = Vec::new();
    let mut investigations = Vec::new();
    for (needs, iterations) in [(900, 1), (1500, 2)] {
        for _ in 0..OVERHEAD_RUNS {
            let began = Instant::now();
            let story =
                Story::begin(oom_needs(needs), at(512), at(512), config_with_soak(0, "")).await;
            let ended = story.run_loop().await;
            assert_eq!(ended.status, LoopStatus::Fixed, "{:?}", ended.status_reason);
            assert_eq!(ended.iteration, iterations);
            let runs = story.app.runs();
            let ran = |kind: &str| -> (Duration, usize) {
                let of_kind: Vec<_> = runs.iter().filter(|r| r.kind == kind).collect();
                (of_kind.iter().map(|r| r.ran).sum(), of_kind.len())
            };
            let (looped, job_runs) = ran("fix_loop");
            let (investigated, _) = ran("workflow_run");
            per_iteration.push(looped / iterations);
            investigations.push(investigated);
            println!(
                "needs {needs} MiB: {iterations} iteration(s), loop job ran {:.0} ms in {job_runs} runs; investigation {:.0} ms; whole story {:.1} s",
                ms(looped),
                ms(investigated),
                began.elapsed().as_secs_f64()
            );
            story.app.stop().await;
        }
    }
    per_iteration.sort();
    investigations.sort();
    println!(
        "loop overhead per iteration: median {:.0} ms, max {:.0} ms (target < 2000 ms); investigation before it: median {:.0} ms",
        ms(per_iteration[per_iteration.len() / 2]),
        ms(*per_iteration.last().expect("runs")),
        ms(investigations[investigations.len() / 2]),
    );
}

/// `WAITING_LOOPS` repositories, each with a red deploy of its own service; CI on their
/// `fixpoint/` branches stays in progress, so every loop waits.
async fn waiting() {
    let env = LowerEnv::start(
        oom_needs(900),
        fixpoint::clock::system(),
        &borrowed(&at(512)),
        &borrowed(&at(512)),
    )
    .await;
    let github = FakeGitHub::start().await;
    // `warm-up` runs first: an investigation and a loop that stops unsure (its repository
    // asks for more confidence than any diagnosis has), so the clients, pools and caches a
    // first incident builds exist before "warm idle" is read.
    let names: Vec<String> = std::iter::once(WARM_UP.to_string())
        .chain((0..WAITING_LOOPS).map(|i| format!("svc-{i:02}")))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    github.add_installation_with_repos(INSTALLATION, "acme", &refs);
    let incidents: Vec<(Incident, String)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let incident = Incident {
                repo: format!("acme/{name}"),
                service: name.clone(),
                failed_run: 20_000 + 100 * i as u64,
            };
            let extra = if name == WARM_UP {
                "min_confidence: 0.99\n"
            } else {
                ""
            };
            let failing =
                arrange_repo(&github, &env, &incident, &at(512), &at(512), &config(extra));
            github.hold_ci(&incident.repo);
            (incident, failing)
        })
        .collect();

    let dir = tempfile::tempdir().expect("a directory");
    let port = free_port();
    github.deliver_webhooks_to(
        &format!("http://127.0.0.1:{port}/webhooks"),
        support::SECRET,
    );
    let mut extra: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_") || k == "PATH")
        .collect();
    extra.push(("FIXPOINT_SWEEP_ALLOW".into(), "127.0.0.0/8".into()));
    let server = serve(&github, dir.path(), port, "serve.log", &extra).await;
    let db = support::inspect(&format!(
        "sqlite://{}",
        dir.path().join("fixpoint.sqlite").display()
    ))
    .await;

    tokio::time::sleep(Duration::from_secs(3)).await;
    let cold = peak_rss(server.pid(), Duration::from_secs(2)).await;
    let deliver = |(incident, failing): &(Incident, String)| {
        let body = red_deploy_hook_of(incident, failing);
        let signature = support::webhooks::sign(support::SECRET, &body);
        let url = format!("http://127.0.0.1:{port}");
        let delivery = format!("bench-{}", incident.failed_run);
        async move {
            let answer =
                support::webhooks::post(&url, "workflow_run", &delivery, &body, &signature).await;
            assert_eq!(answer.status(), 202);
        }
    };
    deliver(&incidents[0]).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while sqlx::query_scalar::<_, String>("SELECT status FROM loops")
        .fetch_optional(&db)
        .await
        .ok()
        .flatten()
        .as_deref()
        != Some("stopped_unsure")
    {
        assert!(Instant::now() < deadline, "the warm-up loop did not stop");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let warm = peak_rss(server.pid(), Duration::from_secs(2)).await;
    deliver(&incidents[1]).await;
    waiting_loops(&db, 1, dir.path()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let one = peak_rss(server.pid(), Duration::from_secs(2)).await;
    let began = Instant::now();
    for incident in &incidents[2..] {
        deliver(incident).await;
    }
    waiting_loops(&db, WAITING_LOOPS, dir.path()).await;
    let all_waiting_after = began.elapsed();
    // Over a whole poll round (60 s): each loop wakes once, looks at CI, snoozes again.
    let waiting = peak_rss(server.pid(), Duration::from_secs(70)).await;
    let jobs: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE kind = 'fix_loop' AND state = 'snoozed'",
    )
    .fetch_one(&db)
    .await
    .expect("jobs counted");
    println!(
        "fixpoint serve RSS: cold idle {:.1} MB; warm idle (after one incident) {:.1} MB; 1 loop waiting {:.1} MB; {WAITING_LOOPS} loops waiting (peak over 70 s) {:.1} MB",
        mb(cold),
        mb(warm),
        mb(one),
        mb(waiting)
    );
    println!(
        "  {:.1} MB above warm idle, {:.1} MB above cold idle (target < 10 MB); {:.0} KB per further loop; {jobs} loop jobs snoozed; the other {} loops were waiting {:.0} s after their webhooks",
        mb(waiting.saturating_sub(warm)),
        mb(waiting.saturating_sub(cold)),
        waiting.saturating_sub(one) as f64 / 1024.0 / (WAITING_LOOPS - 1) as f64,
        WAITING_LOOPS - 1,
        all_waiting_after.as_secs_f64()
    );
    drop(server);
    drop(env);
}

/// Waits until `n` loops are waiting on CI (phase `await_ci`), reading the server's database.
async fn waiting_loops(db: &sqlx::SqlitePool, n: usize, dir: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM loops WHERE phase = 'await_ci' AND status = 'active'",
        )
        .fetch_one(db)
        .await
        .unwrap_or(0);
        if waiting as usize >= n {
            return;
        }
        let ended: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT status, status_reason FROM loops WHERE status != 'active' AND service != 'warm-up'",
        )
                .fetch_all(db)
                .await
                .unwrap_or_default();
        assert!(
            ended.is_empty(),
            "loops ended instead of waiting: {ended:?}\n{}",
            std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
        );
        assert!(
            Instant::now() < deadline,
            "{waiting} of {n} loops waiting after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The highest resident set size of `pid` over `span`, in bytes, sampled every 100 ms.
async fn peak_rss(pid: u32, span: Duration) -> u64 {
    let end = Instant::now() + span;
    let mut peak = 0;
    while Instant::now() < end {
        peak = peak.max(rss(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peak
}

fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS in /proc status")
        * 1024
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}
