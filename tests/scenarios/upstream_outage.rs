//! payments-api 43 rolled out cleanly: its tasks are steady, its logs quiet, its database
//! fine. But the deploy's smoke test goes through the API gateway, and the gateway answers 503
//! to everything. The deploy is red; payments-api is not what broke.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::EcsService;
use crate::harness::*;
use crate::support::http_servers::HttpServers;
use crate::support::postgres::PgCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_outage_while_the_service_is_healthy_is_the_upstreams() {
    let mut incident = Incident::begin(30).await;

    let http = HttpServers::start().await;
    let db = PgCluster::start(20).await;
    incident.var("PAYMENTS_DB_URL", &db.url("fixpoint"));

    let deployed = minutes_ago(16);
    EcsService::steady("staging", "payments-api", 43, 3, deployed)
        .replaced(3, deployed)
        .task_definition(1024, &["DATABASE_URL"], &["STRIPE_KEY"])
        .serve(&incident.aws.stub);
    let first = minutes_ago(12);
    let lines = (0..20)
        .map(|i| {
            (
                "ecs/web/6b7c",
                seconds_after(first, 30 * i),
                format!("INFO POST /payments 201 {}ms", 30 + i),
            )
        })
        .collect();
    incident.aws.logs("/ecs/payments-api", lines).await;

    incident
        .failed_run(
            "acme/payments-api",
            deploy_failed(
                9011,
                "payments-api",
                "Smoke test through the gateway",
                "curl -fsS https://gw.staging.example.com/payments/health\n\
                 curl: (22) The requested URL returned error: 503",
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
  - {{name: frontend-app, type: http, skill: http-health, url: \"{}\", timeout_s: 5}}
downstream:
  - {{name: postgresql, type: db, skill: postgres, url_env: PAYMENTS_DB_URL}}
",
            http.unavailable(),
            http.healthy()
        ),
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "api-gateway",
        "http-health",
        Status::Down,
        &["503 Service Unavailable"],
    );
    assert_rest_healthy(
        &report,
        &[("api-gateway", "http-health"), ("payments-api", "gha")],
    );

    assert_root_cause(&report, "api-gateway", Class::DependencyUnhealthy);
    let d = &report.diagnosis;
    assert!(
        d.root_cause
            .summary
            .contains("payments-api itself shows no failure"),
        "{}",
        d.root_cause.summary
    );
    assert_eq!(chain(d), [("api-gateway", Class::DependencyUnhealthy)]);
    assert!(d.noise.is_empty(), "{:#?}", d.noise);
    // The gateway is not payments-api's to fix: its owners are asked.
    assert_eq!(d.proposed_action.kind, ActionKind::Escalate);

    incident.cli_agrees(&map, &report).await;
}
