//! The fix's deploy goes wrong after CI: the circuit breaker fails the rollout, or rolls the
//! service back to the old revision, which ends "stable". Neither is a fix.

use fixpoint::domain::LoopStatus;

use crate::story::*;
use crate::support::lower_env::ServiceNeeds;

/// One iteration whose fix never heals the service (its tasks keep being killed), rolled
/// back silently or not: the loop stops at the limit without a PR. Returns the iteration's
/// result as the history says it.
async fn one_failed_rollout(rollback: bool) -> String {
    let story = Story::begin(
        oom_needs(900),
        at(512),
        at(512),
        config("max_iterations: 1\n"),
    )
    .await;
    story.env.never_heals();
    if rollback {
        story.env.rollback_silently();
    }
    let ended = story.run_loop().await;

    assert_eq!(
        ended.status,
        LoopStatus::StoppedAtLimit,
        "{:?}",
        ended.status_reason
    );
    assert!(story.app.github.pull_requests(REPO).is_empty());
    let history = story.history().await;
    let result = history[0]["result"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    story.app.stop().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_breaker_failure_fails_the_iteration() {
    let result = one_failed_rollout(false).await;
    assert!(result.contains("rollout failed"), "{result}");
    assert!(result.contains("circuit breaker"), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_rollback_to_the_old_revision_is_not_mistaken_for_a_fix() {
    // ECS rolls back to the last deployment that completed, which ends stable.
    let result = one_failed_rollout(true).await;
    assert!(result.contains("rolled back"), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_named_cluster_is_refused_below_the_planner() {
    let needs = ServiceNeeds::new("production", SERVICE)
        .memory(900)
        .variables(&["DATABASE_URL", "PAYMENTS_API_KEY"]);
    let story = Story::begin(needs, at(512), at(512), config("")).await;
    let ended = story.run_loop().await;

    assert_eq!(
        ended.status,
        LoopStatus::Failed,
        "{:?}",
        ended.status_reason
    );
    let why = ended.status_reason.unwrap_or_default();
    assert!(
        why.contains("cluster `production` means production"),
        "{why}"
    );
    assert_eq!(story.commits_made(), 0);
    assert!(story.env.ecs_writes().is_empty());
    story.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_workflow_that_never_runs_on_the_branch_is_named_not_waited_on_forever() {
    // The workflow fixpoint.yml names for the fix never runs on fixpoint/ branches.
    let story = Story::begin(
        oom_needs(900),
        at(512),
        at(512),
        config("deploy:\n  workflows: [deploy-canary.yml]\n  ci_timeout_min: 1\n"),
    )
    .await;
    let why = ended_as(&story.run_loop().await, LoopStatus::Failed);
    assert!(why.contains("no run of deploy-canary.yml started"), "{why}");
    assert!(why.contains("fixpoint/**"), "{why}");
    assert!(story.app.github.pull_requests(REPO).is_empty());
    story.app.stop().await;
}
