//! The existing sweep and rules engine, pointed at the world, read its failing states as the
//! incidents they are and its healed state as healthy: the world speaks ECS and CloudWatch as
//! the skills expect, not in a dialect of its own.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fixpoint::config::ProcessEnv;
use fixpoint::diagnose::{self, DebugContext, Diagnosis, RootCauseClass as Class};
use fixpoint::skills::{SkillContext, Status};
use fixpoint::sweep::{self, SweepOptions, SweepReport};
use fixpoint::topology::TopologyGraph;

use crate::starts::{container_with, with_health_check};
use crate::support::lower_env::LowerEnv;
use crate::*;

/// Sweeps the world's map from `since` and diagnoses it with the rules only.
async fn investigate(env: &LowerEnv, since: DateTime<Utc>) -> (SweepReport, Diagnosis) {
    // The stub listens on loopback, which the sweep refuses unless told.
    // SAFETY: set before the sweep builds its context; nothing else reads the environment now.
    unsafe { std::env::set_var("FIXPOINT_SWEEP_ALLOW", "127.0.0.0/8") };
    let dir = tempfile::tempdir().expect("temp dir");
    let map = env.map(dir.path());
    let graph = TopologyGraph::load(&map, 1, &[]).expect("the world's map loads");
    let ctx = Arc::new(SkillContext::new(since, None, Arc::new(ProcessEnv)));
    let report = sweep::sweep(&graph, ctx, &SweepOptions::default()).await;
    let history = DebugContext {
        service: SERVICE.into(),
        iteration: 1,
        history: Vec::new(),
    };
    let diagnosis = diagnose::decide(SERVICE, &report.findings, Some(&graph), &history, None).await;
    println!(
        "{}\n{}",
        sweep::render_table(&report),
        fixpoint::cli::render_diagnosis(&diagnosis)
    );
    (report, diagnosis)
}

fn half_an_hour_ago() -> DateTime<Utc> {
    Utc::now() - chrono::Duration::minutes(30)
}

fn root(d: &Diagnosis) -> (&str, Class) {
    (d.root_cause.node.as_str(), d.root_cause.class)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_reads_the_oom_world_as_oom_killed_at_the_service() {
    let env = world(needs(), &oom_tree(512)).await;
    let (report, d) = investigate(&env, half_an_hour_ago()).await;
    assert!(!report.all_healthy());
    assert_eq!(root(&d), (SERVICE, Class::OomKilled), "{d:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_reads_the_missing_variable_by_name() {
    let failing = tree(
        &task_definition(1024, &["DATABASE_URL"], &[]),
        &rates(false),
    );
    let env = world(needs(), &failing).await;
    let (_, d) = investigate(&env, half_an_hour_ago()).await;
    assert_eq!(root(&d), (SERVICE, Class::MissingConfig), "{d:#?}");
    assert!(
        d.root_cause.summary.contains("PAYMENTS_API_KEY"),
        "{}",
        d.root_cause.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_reads_the_start_up_crash_as_a_crash_loop() {
    let td = task_definition(1024, &["DATABASE_URL"], &["PAYMENTS_API_KEY"]);
    let env = world(needs(), &tree(&td, &rates(true))).await;
    let (report, d) = investigate(&env, half_an_hour_ago()).await;
    assert_eq!(root(&d), (SERVICE, Class::CrashLoop), "{d:#?}");
    let logs = report
        .findings
        .iter()
        .find(|f| f.skill == "cloudwatch")
        .expect("a cloudwatch finding");
    let said = serde_json::to_string(&logs.evidence).unwrap_or_default();
    assert!(
        said.contains(BUG_FILE),
        "the stack trace names the file: {said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_reads_an_image_the_registry_lacks_as_image_pull_failed() {
    let missing = "123456789012.dkr.ecr.us-east-1.amazonaws.com/payments-api:sha-deadbee";
    let td = container_with(|c| c["image"] = serde_json::json!(missing));
    let env = world(needs(), &tree(&td, &rates(false))).await;
    let (_, d) = investigate(&env, half_an_hour_ago()).await;
    assert_eq!(root(&d), (SERVICE, Class::ImagePullFailed), "{d:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_reads_a_slow_start_as_failed_health_checks() {
    let td = with_health_check(30);
    let env = world(needs().startup(90), &tree(&td, &rates(false))).await;
    let (_, d) = investigate(&env, half_an_hour_ago()).await;
    assert_eq!(root(&d), (SERVICE, Class::HealthCheckFailed), "{d:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_right_fix_rolls_out_the_sweep_finds_the_service_healthy() {
    let env = world(needs(), &oom_tree(512)).await;
    let deployed_at = Utc::now() - chrono::Duration::seconds(1);
    env.deploy(&pushed(&oom_tree(1024)))
        .await
        .expect("the fix deploys");
    roll_out(&ecs().await).await;
    // Verification reads what happened since the fix began rolling out; the old OOM stops
    // are still listed by ECS but belong to the window before it.
    let (report, d) = investigate(&env, deployed_at).await;
    for f in &report.findings {
        assert_eq!(
            f.status,
            Status::Healthy,
            "{} ({}): {}",
            f.node,
            f.skill,
            f.summary
        );
    }
    assert_eq!(d.root_cause.class, Class::Unknown, "{d:#?}");
}
