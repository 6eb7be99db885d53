//! payments-api's tasks fail their health checks. When they were still starting (the check
//! timed out), they get more time; when they answer wrongly, or more time did not hold, what
//! changed since the last good deploy is reverted.

use fixpoint::diagnose::RootCauseClass;
use fixpoint::harness::plans::PlanKind;

use crate::world::*;

const TASK_DEF: &str = "task-definition.json";

pub fn health(line: &str) -> fixpoint::diagnose::Diagnosis {
    diagnosis(
        RootCauseClass::HealthCheckFailed,
        SERVICE,
        None,
        &[("ecs:stopped-task/77aa01", line)],
    )
}

pub fn world() -> World {
    World::new(&[
        (TASK_DEF, &fixture("fargate-task-definition.json")),
        ("src/server.js", "app.listen(8080);\n"),
    ])
    .at_head(
        "src/server.js",
        Some("await warmCaches();\napp.listen(8080);\n"),
    )
}

#[tokio::test]
async fn a_slow_start_gets_a_longer_start_period() {
    let w = world();
    let d = health(
        "stopped (ServiceSchedulerInitiated): Task failed container health checks; health check timed out after 5s",
    );
    let p = plan(decide(&w, &d, &config(""), &[]).await);
    assert_eq!(p.kind, PlanKind::RaiseStartPeriod);
    assert_eq!(
        p.fingerprint,
        "infra:health_check_failed:payments-api/start_period=60"
    );
    let file = fixture("fargate-task-definition.json");
    assert_eq!(
        changed_lines(&file, only_file(&p).1),
        [("        \"startPeriod\": 10", "        \"startPeriod\": 60")]
    );
}

#[tokio::test]
async fn more_time_that_did_not_hold_is_followed_by_a_revert() {
    let w = world();
    let d = health(
        "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/payments/1a2b): Request timed out",
    );
    let failed = ["infra:health_check_failed:payments-api/start_period=60"];
    let p = plan(decide(&w, &d, &config(""), &failed).await);
    assert_eq!(p.kind, PlanKind::RevertSinceLastGood);
    assert_eq!(only_file(&p), ("src/server.js", "app.listen(8080);\n"));
    assert!(
        p.notes
            .iter()
            .any(|n| n.starts_with("already tried and did not hold")
                && n.contains("start_period=60")),
        "{:#?}",
        p.notes
    );
}

#[tokio::test]
async fn a_wrong_answer_is_reverted_not_waited_for() {
    let w = world();
    let d = health(
        "(service payments-api) (port 8080) is unhealthy in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/payments/1a2b) due to (reason Health checks failed with these codes: [500])",
    );
    let p = plan(decide(&w, &d, &config(""), &[]).await);
    assert_eq!(p.kind, PlanKind::RevertSinceLastGood);
    assert_eq!(
        p.fingerprint,
        "code:health_check_failed:payments-api/revert=1111111"
    );
}
