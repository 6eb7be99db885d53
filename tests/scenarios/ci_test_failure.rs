//! A change to refunds breaks two unit tests. CI is red before anything is deployed: staging
//! still runs payments-api 42, steady, with a healthy database, cache and gateway. The
//! environment has nothing to say; the tests do.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::EcsService;
use crate::harness::*;
use crate::support::fake_github::{Job, Step, WorkflowRun};
use crate::support::http_servers::HttpServers;
use crate::support::postgres::PgCluster;
use crate::support::redis::RedisServer;

const CARGO_TEST_OUTPUT: &str = "\
   Compiling payments v0.43.0 (/home/runner/work/payments-api/payments-api)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 48.10s
     Running unittests src/lib.rs (target/debug/deps/payments-1c2d)

running 43 tests
test refunds::partial_refund_rounds_down ... FAILED
test refunds::refund_of_a_disputed_charge_is_refused ... FAILED
test charges::captures_an_authorised_charge ... ok

failures:

---- refunds::partial_refund_rounds_down stdout ----
thread 'refunds::partial_refund_rounds_down' panicked at src/refunds.rs:88:9:
assertion `left == right` failed
  left: 334
 right: 333

---- refunds::refund_of_a_disputed_charge_is_refused stdout ----
thread 'refunds::refund_of_a_disputed_charge_is_refused' panicked at src/refunds.rs:121:9:
refund of a disputed charge went through

failures:
    refunds::partial_refund_rounds_down
    refunds::refund_of_a_disputed_charge_is_refused

test result: FAILED. 41 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.31s

error: test failed, to rerun pass `--lib`";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_test_failure_in_a_healthy_environment_is_ci_test_failed() {
    let mut incident = Incident::begin(30).await;

    let http = HttpServers::start().await;
    let db = PgCluster::start(20).await;
    let cache = RedisServer::start().await;
    incident.var("PAYMENTS_DB_URL", &db.url("fixpoint"));
    incident.var("PAYMENTS_REDIS_URL", &cache.url());

    EcsService::steady("staging", "payments-api", 42, 3, minutes_ago(2000))
        .task_definition(1024, &["DATABASE_URL", "REDIS_URL"], &["STRIPE_KEY"])
        .serve(&incident.aws.stub);
    let first = minutes_ago(20);
    let lines = (0..20)
        .map(|i| {
            (
                "ecs/web/2a3b",
                seconds_after(first, 60 * i),
                format!("INFO POST /payments 201 {}ms", 25 + i),
            )
        })
        .collect();
    incident.aws.logs("/ecs/payments-api", lines).await;

    incident
        .failed_run(
            "acme/payments-api",
            WorkflowRun::new(9013, "CI").conclusion("failure").job(
                Job::new(90131, "test")
                    .conclusion("failure")
                    .step(Step::succeeded("Run actions/checkout@v4"))
                    .step(Step::failed("cargo test").log(CARGO_TEST_OUTPUT)),
            ),
        )
        .await;

    let map = incident.map(
        "payments-api.yaml",
        &format!(
            "service: payments-api
environment: staging
repo: acme/payments-api
ecs: {{cluster: staging, service: payments-api}}
logs: {{group: /ecs/payments-api}}
upstream:
  - {{name: api-gateway, type: http, skill: http-health, url: \"{}\", timeout_s: 5}}
downstream:
  - {{name: postgresql, type: db, skill: postgres, url_env: PAYMENTS_DB_URL}}
  - {{name: redis, type: cache, skill: redis, url_env: PAYMENTS_REDIS_URL}}
",
            http.healthy()
        ),
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "payments-api",
        "gha",
        Status::Degraded,
        &["'test' failed at step 'cargo test'", "2 tests failed"],
    );
    assert_rest_healthy(&report, &[("payments-api", "gha")]);

    assert_root_cause(&report, "payments-api", Class::CiTestFailed);
    let d = &report.diagnosis;
    assert_eq!(chain(d), [("payments-api", Class::CiTestFailed)]);
    assert!(d.noise.is_empty(), "{:#?}", d.noise);
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert!(
        d.evidence
            .iter()
            .any(|e| e.text.contains("refunds::partial_refund_rounds_down")),
        "the failing tests are named: {:#?}",
        d.evidence
    );

    incident.cli_agrees(&map, &report).await;
}
