//! payments-api 43 moved its health endpoint to `/healthz`; the target group still checks
//! `/health` and gets 404. The new tasks never pass, the load balancer has them stopped, and
//! the circuit breaker fails the rollout. Its database and cache are fine: nothing behind the
//! service explains it.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::{Deployment, EcsService, Stopped, TARGET_GROUP};
use crate::harness::*;
use crate::support::postgres::PgCluster;
use crate::support::redis::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_health_check_with_nothing_behind_it_is_the_services_own() {
    let incident = Incident::begin(30).await;
    let deployed = minutes_ago(16);

    let db = PgCluster::start(20).await;
    let cache = RedisServer::start().await;
    incident.var("PAYMENTS_DB_URL", &db.url("fixpoint"));
    incident.var("PAYMENTS_REDIS_URL", &cache.url());

    let mut ecs = EcsService::new("staging", "payments-api")
        .counts(2, 2, 0)
        .task_definition(1024, &["DATABASE_URL", "REDIS_URL"], &["STRIPE_KEY"])
        .deployment(
            Deployment::circuit_broken(43, deployed)
                .counts(2, 0, 0)
                .failed_tasks(3),
        )
        .deployment(Deployment::previous(42, 2, minutes_ago(800)));
    let mut lines = Vec::new();
    for (stream, at) in [
        ("ecs/web/7a11", 14),
        ("ecs/web/7b22", 10),
        ("ecs/web/7c33", 6),
    ] {
        let started = minutes_ago(at);
        ecs = ecs
            .event(
                seconds_after(started, 95),
                &format!("(service payments-api) (port 8080) is unhealthy in (target-group {TARGET_GROUP}) due to (reason Health checks failed with these codes: [404])."),
            )
            .stopped(Stopped {
                stop_code: "ServiceSchedulerInitiated",
                reason: format!("Task failed ELB health checks in (target-group {TARGET_GROUP})"),
                at: seconds_after(started, 100),
                containers: vec![("web", Some(143), None)],
            });
        lines.push((
            stream,
            started,
            "INFO payments-api 43 listening on :8080 (health: /healthz)".to_string(),
        ));
        for i in 0..6 {
            lines.push((
                stream,
                seconds_after(started, 30 + 10 * i),
                "INFO GET /health 404 0ms".to_string(),
            ));
        }
    }
    ecs.serve(&incident.aws.stub);
    incident.aws.logs("/ecs/payments-api", lines).await;

    let map = incident.map(
        "payments-api.yaml",
        "service: payments-api
environment: staging
ecs: {cluster: staging, service: payments-api}
logs: {group: /ecs/payments-api}
downstream:
  - {name: postgresql, type: db, skill: postgres, url_env: PAYMENTS_DB_URL}
  - {name: redis, type: cache, skill: redis, url_env: PAYMENTS_REDIS_URL}
",
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "payments-api",
        "ecs",
        Status::Degraded,
        &["rollout FAILED"],
    );
    assert_rest_healthy(&report, &[("payments-api", "ecs")]);

    assert_root_cause(&report, "payments-api", Class::HealthCheckFailed);
    let d = &report.diagnosis;
    assert_eq!(chain(d), [("payments-api", Class::HealthCheckFailed)]);
    assert!(d.noise.is_empty(), "{:#?}", d.noise);
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert!(
        d.proposed_action.summary.contains("health endpoint"),
        "{}",
        d.proposed_action.summary
    );

    incident.cli_agrees(&map, &report).await;
}
