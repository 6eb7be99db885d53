//! The process dies mid-job (SIGKILL, as an OOM kill or a host failure would): the job's
//! lease expires, a restarted Fixpoint claims it again, and it completes exactly once,
//! without repeating the steps that had already finished.

mod support;

use std::time::{Duration, Instant};

use support::fake_github::{FakeGitHub, Job, Step, WorkflowRun};
use support::process::{Server, free_port, serve};
use support::webhooks::{bytes, failed_deploy};

const REPO: &str = "acme/payments-api";
const SHA: &str = "4a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

async fn start(fake: &FakeGitHub, dir: &std::path::Path, port: u16, log: &str) -> Server {
    serve(
        fake,
        dir,
        port,
        log,
        &[("FIXPOINT_WORKERS".into(), "1".into())],
    )
    .await
}

async fn wait_for(store: &sqlx::SqlitePool, sql: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(store).await.unwrap();
        if n > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_job_whose_worker_was_killed_completes_exactly_once_after_restart() {
    let fake = FakeGitHub::start().await;
    fake.add_installation(77, "acme");
    fake.add_file(
        REPO,
        Some(SHA),
        ".github/fixpoint.yml",
        "deploy_workflows: [deploy.yml]\ntopology: topology/payments-api.yaml\n",
    );
    fake.add_file(
        REPO,
        Some(SHA),
        "topology/payments-api.yaml",
        "service: payments-api\nenvironment: staging\nrepo: acme/payments-api\n",
    );
    fake.add_workflow_run(
        REPO,
        WorkflowRun::new(9001, "Deploy to staging")
            .head_sha(SHA)
            .conclusion("failure")
            .job(
                Job::new(1, "deploy")
                    .conclusion("failure")
                    .step(Step::failed("Wait for ECS service stability")),
            ),
    );
    // GitHub hangs on the jobs listing: the worker is caught mid-job when the process dies.
    fake.stall_next(
        "GET",
        "/repos/acme/payments-api/actions/runs/9001",
        1,
        Duration::from_secs(120),
    );

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let first = start(&fake, dir.path(), port, "first.log").await;
    let res = support::webhooks::post(
        &format!("http://127.0.0.1:{port}"),
        "workflow_run",
        "crash-1",
        &bytes(&failed_deploy(REPO, 9001, 1, 77)),
        &support::webhooks::sign(support::SECRET, &bytes(&failed_deploy(REPO, 9001, 1, 77))),
    )
    .await;
    assert_eq!(res.status(), 202);

    // The test's own read-only look into the server's database.
    let store = support::inspect(&format!(
        "sqlite://{}",
        dir.path().join("fixpoint.sqlite").display()
    ))
    .await;
    wait_for(
        &store,
        "SELECT COUNT(*) FROM job_steps WHERE step = 'read_repo_config'",
        "the config step to finish",
    )
    .await;
    wait_for(
        &store,
        "SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_owner IS NOT NULL",
        "the job to be claimed",
    )
    .await;
    drop(first); // SIGKILL: no graceful shutdown, the lease is left behind
    let owner: String = sqlx::query_scalar("SELECT lease_owner FROM jobs")
        .fetch_one(&store)
        .await
        .unwrap();

    let _second = start(&fake, dir.path(), port, "second.log").await;
    wait_for(
        &store,
        "SELECT COUNT(*) FROM jobs WHERE state = 'done'",
        "the job to complete after restart",
    )
    .await;

    let (attempts, new_owner): (i64, Option<String>) =
        sqlx::query_as("SELECT attempts, lease_owner FROM jobs")
            .fetch_one(&store)
            .await
            .unwrap();
    assert_eq!(attempts, 2, "claimed once by each process");
    assert_ne!(new_owner.as_deref(), Some(owner.as_str()));
    let status: String = sqlx::query_scalar("SELECT status FROM investigations")
        .fetch_one(&store)
        .await
        .unwrap();
    assert_eq!(status, "diagnosed");
    for (sql, n) in [
        ("SELECT COUNT(*) FROM investigations", 1),
        ("SELECT COUNT(*) FROM jobs WHERE kind = 'workflow_run'", 1),
        // The diagnosis hands over to one fix loop, however often the job ran.
        ("SELECT COUNT(*) FROM jobs WHERE kind = 'fix_loop'", 1),
        ("SELECT COUNT(*) FROM loops", 1),
        ("SELECT COUNT(*) FROM run_jobs", 1),
        (
            "SELECT COUNT(*) FROM job_steps WHERE step = 'open_investigation'",
            1,
        ),
    ] {
        let got: i64 = sqlx::query_scalar(sql).fetch_one(&store).await.unwrap();
        assert_eq!(got, n, "{sql}");
    }
    // The finished step was not done again: the config was read from GitHub once.
    let config_reads = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/contents/.github/fixpoint.yml"))
        .count();
    assert_eq!(config_reads, 1);
    let log = std::fs::read_to_string(dir.path().join("second.log")).unwrap();
    assert!(log.contains("step finished in an earlier attempt"), "{log}");
}
