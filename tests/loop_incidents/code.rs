//! A change to the service's code or configuration broke start-up: a variable it needs is no
//! longer in the task definition, or a bad line crashes it. The fix comes from the last good
//! deploy: its task definition's entry, or its version of the file the stack trace names.

use fixpoint::domain::LoopStatus;

use crate::story::*;
use crate::support::lower_env::{ServiceNeeds, TEST};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_is_restored_as_a_reference_never_as_a_value() {
    let needs = ServiceNeeds::new(CLUSTER, SERVICE)
        .memory(256)
        .variables(&["DATABASE_URL", "PAYMENTS_API_KEY"]);
    let good = tree(
        task_definition(512, &["DATABASE_URL"], &["PAYMENTS_API_KEY"]),
        rates(false),
    );
    let failing = tree(task_definition(512, &["DATABASE_URL"], &[]), rates(false));
    let story = Story::begin(needs, good, failing, config("")).await;
    let ended = story.run_loop().await;

    assert_eq!(ended.status, LoopStatus::Fixed, "{:?}", ended.status_reason);
    let file = story.branch_file("task-definition.json");
    assert!(file.contains("\"PAYMENTS_API_KEY\""), "{file}");
    assert!(
        file.contains("secret:payments-api/PAYMENTS_API_KEY"),
        "{file}"
    );
    assert!(!file.contains("value-of-PAYMENTS_API_KEY"), "{file}");
    story.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_commit_that_crashes_start_up_is_reverted_with_the_rules_alone() {
    let needs = ServiceNeeds::new(CLUSTER, SERVICE)
        .memory(256)
        .bug(BUG_FILE, BUG_LINE);
    let good = tree(task_definition(512, &[], &[]), rates(false));
    let failing = tree(task_definition(512, &[], &[]), rates(true));
    let story = Story::begin(needs, good, failing, config("")).await;
    let ended = story.run_loop().await;

    assert_eq!(ended.status, LoopStatus::Fixed, "{:?}", ended.status_reason);
    let code = story.branch_file(BUG_FILE);
    assert!(!code.contains(BUG_LINE), "{code}");
    assert_eq!(code, rates(false), "the last good version, as it was");
    story.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_whose_ci_goes_red_fails_with_the_step_and_the_next_iteration_reads_it() {
    let needs = ServiceNeeds::new(CLUSTER, SERVICE).memory(900);
    let at = |m| tree(task_definition(m, &[], &[]), rates(false));
    let story = Story::begin(needs, at(512), at(512), config("max_iterations: 2\n")).await;
    story.env.ci_fails_when(
        "\"memory\": \"1024\"",
        TEST,
        "test settlement::fits_in_the_budget ... FAILED\nassertion failed: task memory 1024 MiB is over the team budget of 768 MiB\ntest result: FAILED. 41 passed; 1 failed",
    );
    let ended = story.run_loop().await;

    assert!(!ended.status.is_open(), "{ended:?}");
    let history = story.history().await;
    let first = history[0]["result"].as_str().unwrap_or_default();
    assert!(first.contains("CI failed"), "{first}");
    assert!(first.contains(TEST), "{first}");
    assert!(
        first.contains("FAILED") || first.contains("failed"),
        "{first}"
    );
    assert_eq!(history[0]["outcome"], "failed");
    let second = history
        .get(1)
        .and_then(|e| e["diagnosis"].as_str())
        .unwrap_or_default();
    assert!(
        second.starts_with("ci_"),
        "iteration 2 diagnoses the red CI: {:?} {history:#?}",
        ended.status_reason
    );
    story.app.stop().await;
}
