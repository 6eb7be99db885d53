//! The `gha` skill against the fake GitHub: a failed run's jobs, failed steps and logs, read
//! the way GitHub serves them (the API redirects to a signed download URL), turned into a
//! finding that says what failed: tests, a compiler, a deploy step that timed out.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use fixpoint::github::GitHubApp;
use fixpoint::github::auth::Permissions;
use fixpoint::ids::{InstallationId, RepoName};
use fixpoint::skills::{Observation, RunContext, SkillContext, Status, skill_for};
use fixpoint::topology::{CheckTarget, SkillKind};
use support::fake_github::{AuthKind, FakeGitHub, Job, Step, WorkflowRun};

const INSTALLATION: u64 = 77;
const REPO: &str = "acme/x";

struct Incident {
    fake: FakeGitHub,
    _dir: tempfile::TempDir,
    app: GitHubApp,
}

impl Incident {
    async fn with_run(run: WorkflowRun) -> Incident {
        let fake = FakeGitHub::start().await;
        fake.add_installation(INSTALLATION, "acme");
        fake.add_workflow_run(REPO, run);
        let dir = tempfile::tempdir().expect("temp dir");
        let config = support::config_for(&fake, dir.path());
        let app = GitHubApp::with_policy(
            config.app.as_ref().unwrap(),
            fake.url(),
            support::fast_policy(),
        )
        .expect("GitHub client");
        Incident {
            fake,
            _dir: dir,
            app,
        }
    }

    fn run(&self, run_id: u64) -> RunContext {
        let repo = RepoName::parse(REPO).unwrap();
        RunContext {
            github: self.app.repo(
                InstallationId(INSTALLATION),
                repo,
                Permissions::investigate(),
            ),
            run_id,
            attempt: 1,
        }
    }

    /// The requests that went to the signed download URLs (not the API).
    fn downloads(&self) -> Vec<AuthKind> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/_downloads/"))
            .map(|r| r.auth)
            .collect()
    }
}

async fn check(run: Option<RunContext>) -> Observation {
    let ctx = SkillContext::new(Utc::now(), run, Arc::new(HashMap::<String, String>::new()));
    let target = CheckTarget::Gha {
        repo: RepoName::parse(REPO).unwrap(),
    };
    let observation = skill_for(SkillKind::Gha)
        .check(&target, &ctx)
        .await
        .unwrap_or_else(|e| panic!("the gha skill failed instead of observing: {e:#}"));
    println!(
        "gha {}: {}",
        observation.status.as_str(),
        observation.summary
    );
    for (name, value) in &observation.metrics {
        println!("    {name} = {value}");
    }
    for e in &observation.evidence {
        println!("    [{}] {:?}\n{}", e.source, e.at, e.text);
    }
    observation
}

fn metric(o: &Observation, name: &str) -> f64 {
    *o.metrics
        .get(name)
        .unwrap_or_else(|| panic!("no metric {name}: {:?}", o.metrics))
}

const CARGO_TEST_OUTPUT: &str = "\
   Compiling payments v0.1.0 (/home/runner/work/x/x)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 9.81s
     Running unittests src/lib.rs (target/debug/deps/payments-1c2d)

running 3 tests
test tests::adds ... ok
test tests::subtracts ... FAILED
test tests::refunds_part_of_a_charge ... FAILED

failures:

---- tests::subtracts stdout ----
thread 'tests::subtracts' panicked at src/lib.rs:20:9:
assertion `left == right` failed
  left: 1
 right: 2
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

---- tests::refunds_part_of_a_charge stdout ----
thread 'tests::refunds_part_of_a_charge' panicked at src/refunds.rs:41:5:
refund of 500 exceeds the charge of 400

failures:
    tests::subtracts
    tests::refunds_part_of_a_charge

test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

error: test failed, to rerun pass `--lib`";

fn ci_run(id: u64, job_id: u64, job: &str, failing: Step) -> WorkflowRun {
    WorkflowRun::new(id, "CI").conclusion("failure").job(
        Job::new(job_id, job)
            .conclusion("failure")
            .step(Step::succeeded("Set up job"))
            .step(Step::succeeded("Run actions/checkout@v4"))
            .step(failing)
            .step(Step::skipped("Post Run actions/checkout@v4")),
    )
}

#[tokio::test]
async fn a_test_failure_names_the_failing_tests() {
    let incident = Incident::with_run(ci_run(
        101,
        1001,
        "test",
        Step::failed("cargo test").log(CARGO_TEST_OUTPUT),
    ))
    .await;
    let o = check(Some(incident.run(101))).await;
    assert_eq!(o.status, Status::Degraded);
    assert_eq!(
        o.summary,
        "'test' failed at step 'cargo test': 2 tests failed"
    );
    assert_eq!(metric(&o, "test_failures"), 2.0);
    assert_eq!(metric(&o, "failed_jobs"), 1.0);
    assert_eq!(metric(&o, "failed_steps"), 1.0);
    assert_eq!(metric(&o, "compile_errors"), 0.0);
    let names = &o.evidence[0];
    assert_eq!(names.source, "gha:job/1001/step/3 (cargo test)");
    assert_eq!(
        names.text,
        "2 tests failed: tests::subtracts, tests::refunds_part_of_a_charge"
    );
    let all: String = o
        .evidence
        .iter()
        .map(|e| e.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        all.contains("test result: FAILED. 1 passed; 2 failed"),
        "{all}"
    );
    assert!(
        all.contains("refund of 500 exceeds the charge of 400"),
        "{all}"
    );
    assert!(
        o.evidence
            .iter()
            .all(|e| e.source == "gha:job/1001/step/3 (cargo test)")
    );
}

#[tokio::test]
async fn the_log_download_never_carries_the_token() {
    let incident = Incident::with_run(ci_run(
        102,
        1002,
        "test",
        Step::failed("cargo test").log(CARGO_TEST_OUTPUT),
    ))
    .await;
    check(Some(incident.run(102))).await;
    let downloads = incident.downloads();
    assert_eq!(
        downloads.len(),
        1,
        "one job log, fetched once: {downloads:?}"
    );
    assert_eq!(
        downloads,
        [AuthKind::None],
        "the signed download URL was fetched with the installation token"
    );
}

#[tokio::test]
async fn a_compile_error_is_counted_as_such() {
    let log = "\
   Compiling thiserror v2.0.12
   Compiling payments v0.1.0 (/home/runner/work/x/x)
error[E0425]: cannot find value `amount_cents` in this scope
  --> src/charges.rs:112:17
   |
112 |         total + amount_cents
   |                 ^^^^^^^^^^^^ not found in this scope

error[E0308]: mismatched types
  --> src/refunds.rs:40:5
   |
40 |     amount
   |     ^^^^^^ expected `u64`, found `i64`

Some errors have detailed explanations: E0308, E0425.
For more information about an error, try `rustc --explain E0308`.
error: could not compile `payments` (lib) due to 2 previous errors";
    let incident = Incident::with_run(ci_run(
        103,
        1003,
        "build",
        Step::failed("cargo build --locked").log(log),
    ))
    .await;
    let o = check(Some(incident.run(103))).await;
    assert_eq!(o.status, Status::Degraded);
    assert_eq!(
        o.summary,
        "'build' failed at step 'cargo build --locked': 2 compiler errors"
    );
    assert_eq!(metric(&o, "compile_errors"), 2.0);
    assert_eq!(metric(&o, "test_failures"), 0.0);
    assert!(
        o.evidence[0]
            .text
            .contains("error[E0425]: cannot find value `amount_cents` in this scope")
    );
    assert!(
        o.evidence[0].text.contains("--> src/charges.rs:112:17"),
        "{}",
        o.evidence[0].text
    );
    assert!(
        o.evidence[1]
            .text
            .contains("error[E0308]: mismatched types")
    );
}

#[tokio::test]
async fn a_deploy_step_that_times_out_shows_its_last_lines() {
    let log = "\
Waiting for service payments-api-staging to become stable
service payments-api-staging: 1 of 3 tasks running
service payments-api-staging: 1 of 3 tasks running
(service payments-api-staging) has started 2 tasks: (task 9f1c).
##[error]Timed out after 600 s waiting for ECS service payments-api-staging to become stable";
    let run = WorkflowRun::new(104, "Deploy").conclusion("failure").job(
        Job::new(2001, "deploy-staging")
            .conclusion("failure")
            .step(Step::succeeded("Set up job"))
            .step(Step::succeeded("Configure AWS credentials"))
            .step(Step::failed("Wait for ECS service stability").log(log))
            .step(Step::skipped("Smoke test")),
    );
    let incident = Incident::with_run(run).await;
    let o = check(Some(incident.run(104))).await;
    assert_eq!(
        o.summary,
        "'deploy-staging' failed at step 'Wait for ECS service stability': 2 error lines"
    );
    assert_eq!(metric(&o, "error_lines"), 2.0);
    let e = &o.evidence[0];
    assert_eq!(
        e.source,
        "gha:job/2001/step/3 (Wait for ECS service stability)"
    );
    assert_eq!(
        e.text,
        "service payments-api-staging: 1 of 3 tasks running\n\
         service payments-api-staging: 1 of 3 tasks running\n\
         (service payments-api-staging) has started 2 tasks: (task 9f1c).\n\
         ##[error]Timed out after 600 s waiting for ECS service payments-api-staging to become stable\n\
         ##[error]Process completed with exit code 1."
    );
    // The fake stamps a step's lines at the job's start plus 5 s per step number.
    let started = o.evidence[0].at.expect("the time GitHub wrote on the line");
    assert!((Utc::now() - started).num_minutes() < 10, "{started}");
    assert_eq!(
        metric(&o, "first_error_epoch_s"),
        started.timestamp() as f64
    );
}

#[tokio::test]
async fn a_repeated_error_is_shown_once() {
    let mut log = String::from("starting payments-api\n");
    for i in 0..30 {
        log.push_str(&format!(
            "ERROR payments_api::db: pool timed out after {}ms (conn {i})\n",
            30_000 + i
        ));
    }
    log.push_str("ERROR payments_api::db: giving up after 30 attempts");
    let incident = Incident::with_run(ci_run(
        105,
        1005,
        "integration",
        Step::failed("cargo run --bin smoke").log(&log),
    ))
    .await;
    let o = check(Some(incident.run(105))).await;
    assert_eq!(metric(&o, "error_lines"), 32.0);
    let pool: Vec<_> = o
        .evidence
        .iter()
        .filter(|e| e.text.contains("pool timed out"))
        .collect();
    assert_eq!(pool.len(), 1, "{:#?}", o.evidence);
    assert!(
        pool[0]
            .text
            .ends_with("(this error repeated 29 more times)"),
        "{}",
        pool[0].text
    );
    assert_eq!(
        pool[0].text.matches("pool timed out").count(),
        1,
        "{}",
        pool[0].text
    );
    assert!(
        o.evidence
            .iter()
            .any(|e| e.text.contains("giving up after 30 attempts"))
    );
}

#[tokio::test]
async fn a_successful_run_is_healthy_and_its_logs_are_not_read() {
    let run = WorkflowRun::new(106, "CI").job(
        Job::new(1006, "test")
            .step(Step::succeeded("Set up job"))
            .step(Step::succeeded("cargo test").log("test result: ok. 3 passed; 0 failed")),
    );
    let incident = Incident::with_run(run).await;
    let o = check(Some(incident.run(106))).await;
    assert_eq!(o.status, Status::Healthy);
    assert_eq!(o.summary, "run 106 succeeded: 1 job passed");
    assert_eq!(metric(&o, "failed_jobs"), 0.0);
    assert!(o.evidence.is_empty());
    assert!(
        incident
            .fake
            .requests()
            .iter()
            .all(|r| !r.path.ends_with("/logs"))
    );
}

#[tokio::test]
async fn without_a_run_there_is_nothing_to_read() {
    let o = check(None).await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(o.summary, "no failed run given (pass --repo and --run-id)");
}

#[tokio::test]
async fn when_a_job_log_is_gone_the_run_archive_is_read() {
    let incident = Incident::with_run(ci_run(
        107,
        1007,
        "test",
        Step::failed("cargo test").log(CARGO_TEST_OUTPUT),
    ))
    .await;
    incident
        .fake
        .fail_next("GET", "/repos/acme/x/actions/jobs/1007/logs", 1, 404, &[]);
    let o = check(Some(incident.run(107))).await;
    assert_eq!(
        o.summary,
        "'test' failed at step 'cargo test': 2 tests failed"
    );
    assert_eq!(o.evidence[0].source, "gha:job/1007/step/3 (cargo test)");
    assert_eq!(incident.downloads(), [AuthKind::None]);
}
