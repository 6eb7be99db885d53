//! payments-api 43 caches every rendered receipt (32 KB each, no TTL) in the Redis that also
//! holds sessions. Redis reaches maxmemory and evicts the least recently used keys: sessions.
//! Signed-in users get 401, and the post-deploy end-to-end tests fail. The tests are not
//! wrong: the cache is what broke them.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::EcsService;
use crate::harness::*;
use crate::support::fake_github::{Job, Step, WorkflowRun};
use crate::support::redis::RedisServer;

const E2E_OUTPUT: &str = "\
     Running tests/e2e.rs (target/debug/deps/e2e-5d1c)

running 14 tests
test checkout::keeps_the_cart_after_login ... FAILED
test sessions::stay_signed_in_across_requests ... FAILED
test payments::refund_a_charge ... ok

failures:

---- checkout::keeps_the_cart_after_login stdout ----
thread 'checkout::keeps_the_cart_after_login' panicked at tests/e2e/checkout.rs:58:5:
assertion `left == right` failed
  left: 401
 right: 200

---- sessions::stay_signed_in_across_requests stdout ----
thread 'sessions::stay_signed_in_across_requests' panicked at tests/e2e/sessions.rs:23:5:
signed out after 3 requests: GET /me answered 401

failures:
    checkout::keeps_the_cart_after_login
    sessions::stay_signed_in_across_requests

test result: FAILED. 12 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 41.20s

error: test failed, to rerun pass `--test e2e`";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_evicting_sessions_explains_the_failing_end_to_end_tests() {
    let mut incident = Incident::begin(30).await;
    let deployed = minutes_ago(20);

    // 2 MB, allkeys-lru. Sessions first, then the receipts that push them out.
    let cache = RedisServer::start().await;
    let mut conn = cache.connect().await;
    for i in 0..50 {
        let _: () = redis::cmd("SET")
            .arg(format!("session:{i:04}"))
            .arg("{\"user\":42,\"scopes\":[\"payments\"]}")
            .query_async(&mut conn)
            .await
            .expect("SET session");
    }
    let receipt = "r".repeat(32 * 1024);
    for i in 0..200 {
        let _: () = redis::cmd("SET")
            .arg(format!("receipt:{i:06}"))
            .arg(&receipt)
            .query_async(&mut conn)
            .await
            .expect("SET receipt");
    }
    incident.var("PAYMENTS_REDIS_URL", &cache.url());

    EcsService::steady("staging", "payments-api", 43, 2, deployed)
        .replaced(2, deployed)
        .task_definition(1024, &["REDIS_URL", "DATABASE_URL"], &[])
        .serve(&incident.aws.stub);
    let first = minutes_ago(15);
    let mut lines = Vec::new();
    for i in 0..30 {
        lines.push((
            "ecs/web/5e6f",
            seconds_after(first, 20 * i),
            format!(
                "ERROR auth: session session:{:04} not found in redis; answering 401 to GET /me",
                i % 50
            ),
        ));
        lines.push((
            "ecs/web/5e6f",
            seconds_after(first, 20 * i + 5),
            "INFO POST /payments 201 41ms".to_string(),
        ));
    }
    incident.aws.logs("/ecs/payments-api", lines).await;

    incident
        .failed_run(
            "acme/payments-api",
            WorkflowRun::new(9007, "Deploy to staging")
                .conclusion("failure")
                .job(
                    Job::new(90071, "deploy")
                        .step(Step::succeeded("Deploy payments-api:43 to staging")),
                )
                .job(
                    Job::new(90072, "e2e")
                        .conclusion("failure")
                        .step(Step::succeeded("Run actions/checkout@v4"))
                        .step(Step::failed("cargo test --test e2e").log(E2E_OUTPUT)),
                ),
        )
        .await;

    let map = incident.map(
        "payments-api.yaml",
        "service: payments-api
environment: staging
repo: acme/payments-api
ecs: {cluster: staging, service: payments-api}
logs: {group: /ecs/payments-api}
downstream:
  - {name: redis, type: cache, skill: redis, url_env: PAYMENTS_REDIS_URL}
",
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "redis",
        "redis",
        Status::Degraded,
        &["evicting keys", "allkeys-lru"],
    );
    assert_saw(
        &report,
        "payments-api",
        "gha",
        Status::Degraded,
        &["2 tests failed"],
    );
    assert_saw(&report, "payments-api", "ecs", Status::Healthy, &[]);

    assert_root_cause(&report, "redis", Class::CacheMemoryPressure);
    let d = &report.diagnosis;
    // The failing tests are the symptom at the end of the chain, not the cause.
    assert_eq!(
        chain(d),
        [
            ("redis", Class::CacheMemoryPressure),
            ("payments-api", Class::CiTestFailed)
        ]
    );
    assert_eq!(d.proposed_action.kind, ActionKind::Infra);
    assert!(
        d.proposed_action.summary.contains("maxmemory"),
        "{}",
        d.proposed_action.summary
    );

    incident.cli_agrees(&map, &report).await;
}
