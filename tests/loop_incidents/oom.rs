//! payments-api's settlement change needs more memory than its task definition gives it: the
//! kernel kills each task (exit 137), the circuit breaker stops the rollout, the deploy goes
//! red. The fix is in the repository's task definition file.

use fixpoint::domain::LoopStatus;

use crate::story::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_is_raised_in_the_task_definition_and_the_fix_is_proven_before_the_pr() {
    let story = Story::begin(oom_needs(900), at(512), at(512), config("")).await;
    let ended = story.run_loop().await;

    assert_eq!(ended.status, LoopStatus::Fixed, "{:?}", ended.status_reason);
    assert_eq!(ended.iteration, 1);
    let file = story.branch_file("task-definition.json");
    assert!(file.contains("\"memory\": \"1024\""), "{file}");
    assert_eq!(story.commits_made(), 1);
    let prs = story.app.github.pull_requests(REPO);
    assert_eq!(prs.len(), 1, "one PR");
    let pr = &prs[0];
    assert!(pr.title.contains("memory"), "{}", pr.title);
    let body = pr.body.clone().unwrap_or_default();
    assert!(body.contains("oom_killed"), "{body}");
    assert!(body.contains("verified healthy"), "{body}");
    let history = story.history().await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["outcome"], "fixed");
    assert!(
        history[0]["fingerprint"]
            .as_str()
            .is_some_and(|f| f.ends_with("/memory=1024")),
        "{history:?}"
    );
    story.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raise_that_is_not_enough_is_followed_by_a_larger_one_never_the_same_one() {
    let story = Story::begin(oom_needs(1500), at(512), at(512), config("")).await;
    let ended = story.run_loop().await;

    assert_eq!(ended.status, LoopStatus::Fixed, "{:?}", ended.status_reason);
    assert_eq!(ended.iteration, 2);
    let history = story.history().await;
    assert_eq!(history.len(), 2, "{history:#?}");
    assert_eq!(history[0]["outcome"], "failed");
    // 1024 MiB is still under what the service needs: its new tasks are killed too, and
    // the circuit breaker fails the rollout.
    assert!(
        history[0]["result"]
            .as_str()
            .unwrap_or_default()
            .contains("rollout failed"),
        "{history:#?}"
    );
    assert_ne!(history[0]["fingerprint"], history[1]["fingerprint"]);
    assert_eq!(history[1]["outcome"], "fixed");
    let file = story.branch_file("task-definition.json");
    assert!(file.contains("\"memory\": \"2048\""), "{file}");
    assert_eq!(story.commits_made(), 2, "one commit per iteration");
    assert_eq!(story.app.github.pull_requests(REPO).len(), 1);
    story.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_that_never_heals_stops_at_max_iterations_and_tries_nothing_twice() {
    let story = Story::begin(
        oom_needs(900),
        at(512),
        at(512),
        config("max_iterations: 3\n"),
    )
    .await;
    story.env.never_heals();
    let ended = story.run_loop().await;

    assert_eq!(
        ended.status,
        LoopStatus::StoppedAtLimit,
        "{:?}",
        ended.status_reason
    );
    let history = story.history().await;
    assert_eq!(history.len(), 3, "{history:#?}");
    let fingerprints: std::collections::BTreeSet<&str> = history
        .iter()
        .filter_map(|e| e["fingerprint"].as_str())
        .collect();
    assert_eq!(
        fingerprints.len(),
        3,
        "each iteration tried another fix: {history:#?}"
    );
    assert!(
        history.iter().all(|e| e["outcome"] == "failed"),
        "{history:#?}"
    );
    assert!(
        story.app.github.pull_requests(REPO).is_empty(),
        "no PR without a verified fix"
    );
    story.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_min_confidence_the_loop_changes_nothing() {
    let story = Story::begin(
        oom_needs(900),
        at(512),
        at(512),
        config("min_confidence: 0.99\n"),
    )
    .await;
    let ended = story.run_loop().await;

    assert_eq!(
        ended.status,
        LoopStatus::StoppedUnsure,
        "{:?}",
        ended.status_reason
    );
    let why = ended.status_reason.unwrap_or_default();
    assert!(why.contains("under min_confidence 0.99"), "{why}");
    assert_eq!(story.commits_made(), 0);
    assert!(
        story.app.github.branch_sha(REPO, BRANCH).is_none(),
        "no branch"
    );
    assert!(story.env.ecs_writes().is_empty());
    story.app.stop().await;
}
