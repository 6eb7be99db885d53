//! A refactor renamed `Refund::amount` to `Refund::amount_cents` and missed one call site.
//! The build is red before any test runs, and nothing was deployed: staging is healthy.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::EcsService;
use crate::harness::*;
use crate::support::fake_github::{Job, Step, WorkflowRun};
use crate::support::postgres::PgCluster;

const CARGO_BUILD_OUTPUT: &str = "\
   Compiling payments v0.43.0 (/home/runner/work/payments-api/payments-api)
error[E0609]: no field `amount` on type `Refund`
  --> src/refunds.rs:41:21
   |
41 |     let cents = refund.amount * 100;
   |                        ^^^^^^ unknown field
   |
   = note: available fields are: `id`, `charge`, `amount_cents`, `reason`

For more information about this error, try `rustc --explain E0609`.
error: could not compile `payments` (lib) due to 1 previous error";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_error_in_a_healthy_environment_is_ci_build_failed() {
    let mut incident = Incident::begin(30).await;

    let db = PgCluster::start(20).await;
    incident.var("PAYMENTS_DB_URL", &db.url("fixpoint"));
    EcsService::steady("staging", "payments-api", 42, 3, minutes_ago(2000))
        .task_definition(1024, &["DATABASE_URL"], &["STRIPE_KEY"])
        .serve(&incident.aws.stub);
    incident
        .aws
        .logs(
            "/ecs/payments-api",
            vec![(
                "ecs/web/2a3b",
                minutes_ago(5),
                "INFO POST /payments 201 33ms".to_string(),
            )],
        )
        .await;

    incident
        .failed_run(
            "acme/payments-api",
            WorkflowRun::new(9015, "CI").conclusion("failure").job(
                Job::new(90151, "build")
                    .conclusion("failure")
                    .step(Step::succeeded("Run actions/checkout@v4"))
                    .step(Step::failed("cargo build --locked").log(CARGO_BUILD_OUTPUT)),
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
  - {name: postgresql, type: db, skill: postgres, url_env: PAYMENTS_DB_URL}
",
    );

    let report = incident.investigate(&map).await;
    assert_saw(
        &report,
        "payments-api",
        "gha",
        Status::Degraded,
        &[
            "'build' failed at step 'cargo build --locked'",
            "1 compiler error",
        ],
    );
    assert_rest_healthy(&report, &[("payments-api", "gha")]);

    assert_root_cause(&report, "payments-api", Class::CiBuildFailed);
    let d = &report.diagnosis;
    assert_eq!(chain(d), [("payments-api", Class::CiBuildFailed)]);
    assert_eq!(d.proposed_action.kind, ActionKind::Code);
    assert!(
        d.proposed_action.summary.contains("E0609"),
        "{}",
        d.proposed_action.summary
    );

    incident.cli_agrees(&map, &report).await;
}
