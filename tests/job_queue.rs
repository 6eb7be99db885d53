//! The durable queue on a test clock: a loop waiting on CI snoozes without holding a worker
//! or burning an attempt, wakes when a run on its branch is delivered or when its time
//! comes, and never mixes up one iteration's steps with another's. Time moves only when
//! the test moves it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use fixpoint::clock::{Clock as _, ManualClock, SharedClock};
use fixpoint::domain::{CommitSha, Conclusion, InstallationId, JobState, RepoName, RunId, RunRef};
use fixpoint::jobs::{Job, JobContext, wake_key_for_branch};
use fixpoint::store::deliveries::{Delivery, Effect, Ingested};
use fixpoint::store::{JobRow, Store};

const LEASE: Duration = Duration::from_secs(60);

struct Queue {
    store: Store,
    clock: Arc<ManualClock>,
    url: String,
    _dir: tempfile::TempDir,
}

async fn queue() -> Queue {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fixpoint.sqlite").display());
    let clock = ManualClock::new();
    let shared: SharedClock = clock.clone();
    let store = Store::connect_with_clock(&url, shared)
        .await
        .expect("store opens");
    Queue {
        store,
        clock,
        url,
        _dir: dir,
    }
}

fn run(branch: &str, run_id: u64) -> RunRef {
    RunRef {
        repo: RepoName::parse("acme/payments-api").unwrap(),
        installation_id: InstallationId(77),
        workflow: "Deploy to staging".into(),
        workflow_path: Some(".github/workflows/deploy.yml".into()),
        run_id: RunId(run_id),
        run_attempt: 1,
        head_sha: CommitSha("4a1b2c3d4e5f60718293a4b5c6d7e8f901234567".into()),
        branch: branch.into(),
        conclusion: Some(Conclusion::Failure),
        default_branch: Some("main".into()),
    }
}

impl Queue {
    async fn row(&self, id: i64) -> JobRow {
        self.store
            .jobs()
            .await
            .unwrap()
            .into_iter()
            .find(|j| j.id == id)
            .expect("the job exists")
    }

    async fn enqueue(&self, job: &Job) -> i64 {
        let now = self.clock.now_ms();
        let (id, created) = self.store.enqueue(job.row(), now, 5).await.unwrap();
        assert!(created);
        id
    }
}

#[tokio::test]
async fn a_snoozed_job_holds_no_lease_costs_no_attempt_and_is_due_at_the_clocks_time() {
    let q = queue().await;
    let id = q.enqueue(&Job::WorkflowRun(run("main", 9001))).await;
    let claimed = q
        .store
        .claim("worker-a", LEASE)
        .await
        .unwrap()
        .expect("due");
    assert_eq!((claimed.id, claimed.attempts), (id, 1));

    let until = q.clock.now_ms() + 10 * 60 * 1000;
    assert!(
        q.store
            .snooze(&claimed, until, Some("branch:acme/payments-api:fixpoint/x"))
            .await
            .unwrap()
    );
    let row = q.row(id).await;
    assert_eq!(row.state, JobState::Snoozed);
    assert_eq!(row.attempts, 0, "waiting is not a failed attempt");
    assert_eq!(row.lease_owner, None, "the worker is free again");
    assert_eq!(row.run_at, until);

    assert!(
        q.store.claim("worker-b", LEASE).await.unwrap().is_none(),
        "not due yet"
    );
    q.clock.advance(Duration::from_secs(9 * 60));
    assert!(
        q.store.claim("worker-b", LEASE).await.unwrap().is_none(),
        "still a minute early"
    );
    q.clock.advance(Duration::from_secs(60));
    let again = q
        .store
        .claim("worker-b", LEASE)
        .await
        .unwrap()
        .expect("due now");
    assert_eq!((again.id, again.attempts), (id, 1));
    // A snooze from a worker that no longer holds the lease changes nothing.
    assert!(!q.store.snooze(&claimed, until, None).await.unwrap());
}

#[tokio::test]
async fn a_run_delivered_for_the_branch_wakes_the_loop_waiting_on_it_early() {
    let q = queue().await;
    let waiting_run = run("fixpoint/payments-api-9001", 9001);
    let id = q.enqueue(&Job::WorkflowRun(run("main", 9001))).await;
    let other = q.enqueue(&Job::WorkflowRun(run("main", 9002))).await;
    for owner in ["a", "b"] {
        let claimed = q.store.claim(owner, LEASE).await.unwrap().unwrap();
        let key = if claimed.id == id {
            wake_key_for_branch(&waiting_run)
        } else {
            "branch:acme/payments-api:fixpoint/someone-else".to_string()
        };
        let in_half_an_hour = q.clock.now_ms() + 30 * 60 * 1000;
        assert!(
            q.store
                .snooze(&claimed, in_half_an_hour, Some(&key))
                .await
                .unwrap()
        );
    }
    assert!(q.store.claim("c", LEASE).await.unwrap().is_none());

    // The CI run on the loop's branch completes: its webhook goes through the delivery
    // writer like any other, and storing it wakes the loop.
    let writer = q.store.delivery_writer(5, 128).unwrap();
    let mut progress = waiting_run.clone();
    progress.run_id = RunId(555);
    progress.conclusion = Some(Conclusion::Success);
    let stored = writer
        .ingest(
            Delivery {
                delivery_id: "ci-done".into(),
                event: "workflow_run".into(),
                action: Some("completed".into()),
                repo: Some("acme/payments-api".into()),
            },
            Effect::Job(Job::LoopProgress(progress).row()),
        )
        .await
        .unwrap();
    assert!(matches!(stored, Ingested::Accepted { job_id: Some(_) }));

    let mut due = Vec::new();
    while let Some(job) = q.store.claim("c", LEASE).await.unwrap() {
        due.push(job.id);
    }
    assert!(
        due.contains(&id),
        "the loop waiting on the branch is due: {due:?}"
    );
    assert!(
        !due.contains(&other),
        "a loop on another branch sleeps on: {due:?}"
    );
    assert_eq!(q.row(other).await.state, JobState::Snoozed);
}

#[tokio::test]
async fn enqueue_from_a_worker_is_deduplicated_by_the_callers_key() {
    let q = queue().await;
    let job = Job::WorkflowRun(run("main", 7));
    let now = q.clock.now_ms();
    let (first, created) = q
        .store
        .enqueue(job.to_row("loop:acme/payments-api:7".into()), now, 5)
        .await
        .unwrap();
    assert!(created);
    let (second, created) = q
        .store
        .enqueue(job.to_row("loop:acme/payments-api:7".into()), now, 5)
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(first, second);
    assert_eq!(q.store.jobs().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_attempt_waits_out_its_backoff_and_a_dead_workers_lease_expires_on_the_clock() {
    let q = queue().await;
    let id = q.enqueue(&Job::WorkflowRun(run("main", 8))).await;
    let claimed = q.store.claim("a", LEASE).await.unwrap().unwrap();
    q.store.fail(&claimed, "GitHub answered 502").await.unwrap();
    assert_eq!(q.row(id).await.state, JobState::Failed);
    assert!(
        q.store.claim("b", LEASE).await.unwrap().is_none(),
        "backing off"
    );
    q.clock.advance(Duration::from_secs(2));
    let retried = q
        .store
        .claim("b", LEASE)
        .await
        .unwrap()
        .expect("backoff over");
    assert_eq!(retried.attempts, 2);

    // Worker b dies holding the job: nobody else may take it until the lease runs out.
    assert!(q.store.claim("c", LEASE).await.unwrap().is_none());
    q.clock.advance(LEASE + Duration::from_millis(1));
    let taken = q
        .store
        .claim("c", LEASE)
        .await
        .unwrap()
        .expect("lease expired");
    assert_eq!((taken.id, taken.attempts), (id, 3));
    assert!(
        !q.store.heartbeat(&retried, LEASE).await.unwrap(),
        "b lost it"
    );
}

#[tokio::test]
async fn each_iteration_of_a_job_has_its_own_steps() {
    let q = queue().await;
    let id = q.enqueue(&Job::WorkflowRun(run("main", 10))).await;
    let github = support::fake_github::FakeGitHub::start().await;
    let creds = support::config_for(&github, q._dir.path()).app.unwrap();
    let ctx = JobContext {
        store: q.store.clone(),
        github: fixpoint::github::GitHubApp::new(&creds, github.url()).unwrap(),
        settings: Arc::default(),
        job_id: id,
        max_attempts: 5,
        jobs_ready: Arc::default(),
    };
    let made = std::sync::atomic::AtomicU32::new(0);
    let commit = |n: u32| {
        let made = &made;
        move || async move {
            made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(format!("commit of iteration {n}"))
        }
    };
    let one: String = ctx.step_in(1, "commit", commit(1)).await.unwrap();
    let two: String = ctx.step_in(2, "commit", commit(2)).await.unwrap();
    assert_eq!(one, "commit of iteration 1");
    assert_eq!(
        two, "commit of iteration 2",
        "iteration 2 did not reuse iteration 1's"
    );
    // Run again after a crash: both are reused, neither is made again.
    let again: String = ctx.step_in(1, "commit", commit(99)).await.unwrap();
    assert_eq!(again, "commit of iteration 1");
    assert_eq!(made.load(std::sync::atomic::Ordering::SeqCst), 2);
    let _ = &q.url;
}

#[tokio::test]
async fn a_database_from_before_typed_states_migrates_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("old.sqlite").display()
    );
    // The first two migrations as an older Fixpoint applied them.
    let old = dir.path().join("old-migrations");
    std::fs::create_dir(&old).unwrap();
    for file in ["0001_init.sql", "0002_sweep_and_diagnosis.sql"] {
        std::fs::copy(
            support::manifest_dir().join("migrations").join(file),
            old.join(file),
        )
        .unwrap();
    }
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for sql in [
        "INSERT INTO jobs (id, kind, dedupe_key, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
         VALUES (1, 'workflow_run', 'k1', '{}', 'done', 1, 5, 0, 0, 0)",
        "INSERT INTO job_steps (job_id, step, result, finished_at) VALUES (1, 'read_repo_config', '\"Missing\"', 0)",
        "INSERT INTO investigations (id, repo, installation_id, workflow, run_id, run_attempt, head_sha, branch, conclusion, status, created_at, updated_at)
         VALUES (1, 'acme/api', 7, 'Deploy', 42, 1, 'abc', 'main', 'failure', 'diagnosed', 0, 0)",
        "INSERT INTO run_jobs (investigation_id, job_id, name, conclusion, failed_steps) VALUES (1, 3, 'deploy', 'failure', '[]')",
        "INSERT INTO pr_commands (comment_id, repo, pr_number, author, body, status, received_at) VALUES (5, 'acme/api', 2, 'octocat', '/fixpoint status', 'received', 0)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let store = Store::connect(&url).await.expect("migrates");
    let jobs = store.jobs().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Done);
    assert_eq!(
        store
            .step_result::<String>(1, 0, "read_repo_config")
            .await
            .unwrap()
            .as_deref(),
        Some("Missing")
    );
    let inv = store.investigations().await.unwrap();
    assert_eq!(
        inv[0].status,
        fixpoint::domain::InvestigationStatus::Diagnosed
    );
    assert_eq!(
        store.run_jobs(1).await.unwrap()[0].conclusion,
        Some(Conclusion::Failure)
    );
    assert_eq!(store.pr_commands().await.unwrap().len(), 1);
    // The CHECK constraints now hold: a state this build does not know cannot be written.
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let refused = sqlx::query("UPDATE jobs SET state = 'exploded' WHERE id = 1")
        .execute(&db)
        .await;
    assert!(refused.is_err(), "{refused:?}");
}
