//! `fixpoint serve` is killed (SIGKILL: an OOM kill, a host failure) while its loop waits on
//! CI, and again in the middle of committing the fix (the commit made, the branch not yet
//! moved). A restarted Fixpoint resumes the loop from what was stored: one branch, one commit
//! for the iteration on it, one PR.

use std::time::{Duration, Instant};

use crate::story::*;
use crate::support::fake_github::FakeGitHub;
use crate::support::process::{Server, free_port, serve};

/// `fixpoint serve` against the fake GitHub and the world's AWS, polling every second.
async fn start(github: &FakeGitHub, dir: &std::path::Path, port: u16, log: &str) -> Server {
    // The world pointed this process's AWS environment at its stub: the server reads the same.
    let mut extra: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_") || k == "PATH")
        .collect();
    for (k, v) in [
        ("FIXPOINT_WORKERS", "2"),
        ("FIXPOINT_LOOP_POLL_SECS", "1"),
        ("FIXPOINT_SWEEP_ALLOW", "127.0.0.0/8"),
    ] {
        extra.push((k.into(), v.into()));
    }
    serve(github, dir, port, log, &extra).await
}

/// Waits until `sql` (one text value) answers `want`, reading the server's database.
async fn wait_until(db: &sqlx::SqlitePool, sql: &str, want: &str, dir: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got: Option<String> = sqlx::query_scalar(sql)
            .fetch_optional(db)
            .await
            .ok()
            .flatten();
        if got.as_deref() == Some(want) {
            return;
        }
        let logs: Vec<String> = ["first.log", "second.log"]
            .iter()
            .filter_map(|l| std::fs::read_to_string(dir.join(l)).ok())
            .collect();
        assert!(
            Instant::now() < deadline,
            "`{sql}` never answered {want} (last: {got:?}); logs:\n{}",
            logs.join("\n----\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn killed_and_resumed(kill_after_commit: bool) {
    let arranged = arrange(oom_needs(900), at(512), at(512), config_with_soak(0, "")).await;
    let github = &arranged.github;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    github.deliver_webhooks_to(
        &format!("http://127.0.0.1:{port}/webhooks"),
        crate::support::SECRET,
    );
    if kill_after_commit {
        // GitHub hangs on creating the branch at the fix commit: the commit exists, the
        // branch does not, nothing is recorded; the process dies there.
        github.stall_next(
            "POST",
            "/repos/acme/payments-api/git/refs",
            1,
            Duration::from_secs(120),
        );
    } else {
        github.hold_ci(REPO);
    }
    let first = start(github, dir.path(), port, "first.log").await;
    let body = red_deploy_hook(&arranged.failing_sha);
    let answer = crate::support::webhooks::post(
        &format!("http://127.0.0.1:{port}"),
        "workflow_run",
        "crash-1",
        &body,
        &crate::support::webhooks::sign(crate::support::SECRET, &body),
    )
    .await;
    assert_eq!(answer.status(), 202);
    let db = crate::support::inspect(&format!(
        "sqlite://{}",
        dir.path().join("fixpoint.sqlite").display()
    ))
    .await;
    if kill_after_commit {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !github
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with("/git/commits"))
        {
            assert!(Instant::now() < deadline, "the fix commit was never made");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    } else {
        wait_until(&db, "SELECT phase FROM loops", "await_ci", dir.path()).await;
    }
    drop(first); // SIGKILL
    let _second = start(github, dir.path(), port, "second.log").await;
    if !kill_after_commit {
        github.finish_ci_run(REPO);
    }
    wait_until(&db, "SELECT status FROM loops", "fixed", dir.path()).await;

    // One commit for the iteration on the branch, straight on the failing commit.
    let head = github.branch_sha(REPO, BRANCH).expect("the loop's branch");
    assert_eq!(
        github.parents_of(REPO, &head),
        vec![arranged.failing_sha.clone()],
        "the branch holds one fix commit on top of the failing one"
    );
    let commits = github
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/git/commits"))
        .count();
    // Killed before the branch moved, the first commit object is unreachable: the resumed
    // loop makes the commit again. Killed while waiting on CI, it finds the commit by its
    // trailers and makes none.
    assert_eq!(commits, if kill_after_commit { 2 } else { 1 });
    assert_eq!(github.pull_requests(REPO).len(), 1, "one PR");
    let file = String::from_utf8(
        github
            .file_at(REPO, BRANCH, "task-definition.json")
            .unwrap(),
    )
    .unwrap();
    assert!(file.contains("\"memory\": \"1024\""), "{file}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_waiting_on_ci_the_loop_resumes_without_repeating_an_effect() {
    killed_and_resumed(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_committing_the_loop_resumes_with_one_commit_on_the_branch() {
    killed_and_resumed(true).await;
}
