//! YAML a repository hands Fixpoint is capped and parsed off the async runtime: two
//! hostile `fixpoint.yml` files and a hostile topology map, deployed as red deploys, end
//! `not_started` with the cap named, while `/healthz`, on the same runtime, keeps answering.
//! On an earlier build two 200 KB configs held `/healthz` for 20 s: the YAML parser's time
//! grows with the square of the nesting depth, and it ran on the runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fixpoint::domain::InvestigationStatus;

use crate::support::TestApp;
use crate::support::fake_github::{Job, Step, WorkflowRun};
use crate::support::webhooks::{bytes, failed_deploy};

/// The head commit of every red deploy here (the webhook example's).
const SHA: &str = "4a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
/// `/healthz` answers within this while the hostile files are handled. It is answered in
/// milliseconds; the slack is for a loaded test machine (the App, the fake GitHub and this
/// probe share one thread here, which makes any parse on the runtime show).
const HEALTHZ_BOUND: Duration = Duration::from_secs(5);

/// YAML that nests `depth` flow sequences under one key.
fn nested(key: &str, depth: usize) -> String {
    format!("{key}: {}{}\n", "[".repeat(depth), "]".repeat(depth))
}

fn red_deploy(run_id: u64) -> WorkflowRun {
    WorkflowRun::new(run_id, "Deploy to staging")
        .head_sha(SHA)
        .conclusion("failure")
        .job(
            Job::new(run_id * 10, "deploy-staging")
                .conclusion("failure")
                .step(Step::failed("Wait for ECS service stability")),
        )
}

/// Polls `/healthz` until `stop`, and says the slowest answer.
fn probe_healthz(url: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Duration> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut slowest = Duration::ZERO;
        while !stop.load(Ordering::SeqCst) {
            let asked = Instant::now();
            let answer =
                tokio::time::timeout(HEALTHZ_BOUND, http.get(format!("{url}/healthz")).send())
                    .await
                    .unwrap_or_else(|_| panic!("/healthz did not answer within {HEALTHZ_BOUND:?}"))
                    .expect("/healthz answers");
            assert_eq!(answer.status(), 200);
            slowest = slowest.max(asked.elapsed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        slowest
    })
}

#[tokio::test]
async fn hostile_configs_and_a_hostile_map_end_not_started_while_healthz_answers() {
    let app = TestApp::start().await;
    app.github.add_installation(77, "acme");
    // ~200 KB of nesting: over the size cap, refused unread.
    let huge = nested("deploy_workflows", 100_000);
    // Under the size cap, 30,000 levels deep: refused by the nesting cap.
    let deep = nested("deploy_workflows", 30_000);
    // A map of ~200 KB, nested 100,000 deep, behind a config that is fine.
    let map = nested("downstream", 100_000);
    let config =
        "deploy_workflows: [deploy.yml]\nbranches: [main]\ntopology: topology/search-api.yaml\n";
    let repos = [
        (
            "acme/payments-api",
            9101,
            ".github/fixpoint.yml",
            huge,
            "at most 64 KiB is read",
        ),
        (
            "acme/ledger-api",
            9102,
            ".github/fixpoint.yml",
            deep,
            "at most 64 are read",
        ),
        (
            "acme/search-api",
            9103,
            "topology/search-api.yaml",
            map,
            "at most 64 are read",
        ),
    ];
    app.github
        .add_file("acme/search-api", Some(SHA), ".github/fixpoint.yml", config);
    for (repo, run_id, path, text, _) in &repos {
        app.github.add_file(repo, Some(SHA), path, text);
        app.github.add_workflow_run(repo, red_deploy(*run_id));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let probe = probe_healthz(app.url.clone(), stop.clone());
    for (repo, run_id, ..) in &repos {
        let delivered = app
            .deliver(
                "workflow_run",
                &format!("hostile-{run_id}"),
                &bytes(&failed_deploy(repo, *run_id, 1, 77)),
            )
            .await;
        assert_eq!(delivered.status(), 202, "{repo}");
    }
    app.settle().await;
    stop.store(true, Ordering::SeqCst);
    let slowest = probe.await.expect("the probe ran to the end");
    println!("slowest /healthz while three hostile files were handled: {slowest:?}");

    let investigations = app.store.investigations().await.unwrap();
    assert_eq!(investigations.len(), repos.len(), "{investigations:?}");
    for (repo, _, path, _, cap) in &repos {
        let inv = investigations
            .iter()
            .find(|i| i.repo == *repo)
            .unwrap_or_else(|| panic!("no investigation of {repo}: {investigations:?}"));
        assert_eq!(
            inv.status,
            InvestigationStatus::NotStarted,
            "{repo}: {inv:?}"
        );
        let reason = inv.status_reason.as_deref().unwrap_or_default();
        assert!(reason.contains(cap), "{repo}: {reason}");
        assert!(
            reason.contains(path),
            "{repo}: the reason names the file: {reason}"
        );
    }
    app.stop().await;
}
