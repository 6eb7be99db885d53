//! How a fix reaches the lower environment and what must pass there before the PR: the deploy
//! workflow dispatched on the branch (when it does not run on pushes to `fixpoint/**`), a
//! load probe and an e2e workflow on the branch's head, and a fix made through the ECS API
//! when the repository has no task definition file.

use fixpoint::domain::LoopStatus;

use crate::story::*;
use crate::support::fake_github::{Job, PushedTree, Step, WorkflowRun};

/// The deploy workflow as the repository has it: pushes to main and manual dispatches only.
const DEPLOY_WORKFLOW: &str =
    "name: Deploy to staging\non:\n  push:\n    branches: [main]\n  workflow_dispatch:\n";

/// payments-api's OOM, with the deploy workflow's file in the tree.
async fn oom_with_workflow_file(config: String) -> Arranged {
    let with_workflow = |memory| {
        let mut files = at(memory);
        files.push((
            format!(".github/workflows/{WORKFLOW_FILE}"),
            DEPLOY_WORKFLOW.to_string(),
        ));
        files
    };
    let arranged = arrange(
        oom_needs(900),
        with_workflow(512),
        with_workflow(512),
        config,
    )
    .await;
    // `on: push: branches: [main]` and `workflow_dispatch`: a push to fixpoint/ runs nothing.
    arranged
        .github
        .ci_runs_only_when(REPO, |tree: &PushedTree| {
            tree.event == "workflow_dispatch" || tree.branch == "main"
        });
    arranged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_trigger_dispatch_the_deploy_workflow_is_dispatched_on_the_branch() {
    let arranged = oom_with_workflow_file(config("deploy:\n  trigger: dispatch\n")).await;
    arranged.github.set_installation_permissions(
        INSTALLATION,
        &[
            ("actions", "write"),
            ("contents", "write"),
            ("metadata", "read"),
            ("pull_requests", "write"),
        ],
    );
    let story = Story::start(arranged).await;
    let ended = story.run_loop().await;

    assert_eq!(ended.status, LoopStatus::Fixed, "{:?}", ended.status_reason);
    let dispatches = story.app.github.dispatches(REPO);
    assert_eq!(
        dispatches.len(),
        1,
        "one dispatch for one fix: {dispatches:?}"
    );
    assert_eq!(dispatches[0].workflow, WORKFLOW_FILE);
    assert!(
        dispatches[0].git_ref.ends_with(BRANCH),
        "{:?}",
        dispatches[0].git_ref
    );
    let file = story.branch_file("task-definition.json");
    assert!(file.contains("\"memory\": \"1024\""), "{file}");
    assert_eq!(story.app.github.pull_requests(REPO).len(), 1);
    story.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_actions_write_a_dispatch_ends_the_loop_naming_the_permission() {
    let arranged = oom_with_workflow_file(config("deploy:\n  trigger: dispatch\n")).await;
    let story = Story::start(arranged).await;
    let why = ended_as(&story.run_loop().await, LoopStatus::Failed);
    assert!(why.contains("actions"), "{why}");
    assert!(why.contains("write"), "{why}");
    assert!(story.app.github.dispatches(REPO).is_empty());
    assert!(story.app.github.pull_requests(REPO).is_empty());
    story.app.stop().await;
}

/// The e2e workflow: its checkout journey fails while the rates module rounds down.
fn e2e(tree: &PushedTree) -> WorkflowRun {
    let broken = tree
        .text(BUG_FILE)
        .is_some_and(|code| code.contains(ROUNDS_DOWN));
    let (step, conclusion) = if broken {
        (
            Step::failed("Run Playwright tests").log(PLAYWRIGHT_RED),
            "failure",
        )
    } else {
        (
            Step::succeeded("Run Playwright tests").log("  24 passed"),
            "success",
        )
    };
    let mut run = WorkflowRun::new(1, "E2E")
        .conclusion(conclusion)
        .job(Job::new(1, "playwright").step(step).conclusion(conclusion));
    run.workflow_id = 161_336;
    run
}

const ROUNDS_DOWN: &str = "// totals are rounded down";

/// What Playwright's list reporter prints when the checkout journey fails.
const PLAYWRIGHT_RED: &str = "Running 24 tests using 4 workers

  1) [chromium] › checkout.spec.ts:14:5 › pays an invoice in EUR ──────────────────

    Error: expect(received).toBe(expected) // Object.is equality

    Expected: \"10.00\"
    Received: \"9.99\"

  1 failed
    [chromium] › checkout.spec.ts:14:5 › pays an invoice in EUR
  23 passed (41.2s)";

/// The OOM incident, with the load probe and the e2e workflow in fixpoint.yml; `rounds_down`
/// also ships the rounding change that breaks checkout (start-up is fine with it).
async fn oom_with_tests(rounds_down: bool, probe: &str) -> Story {
    let rates = |down: bool| {
        let code = rates(false);
        if down {
            format!("{ROUNDS_DOWN}\n{code}")
        } else {
            code
        }
    };
    let tree = |down| tree(task_definition(512, &[], &[]), rates(down));
    let tests =
        format!("test:\n  http:\n    - {probe}\n  workflows: [e2e.yml]\nmax_iterations: 2\n");
    let arranged = arrange(
        crate::support::lower_env::ServiceNeeds::new(CLUSTER, SERVICE).memory(900),
        tree(false),
        tree(rounds_down),
        config(&tests),
    )
    .await;
    arranged.github.also_run(REPO, e2e);
    Story::start(arranged).await
}

const PROBE: &str = "{node: payments-api-health, requests: 40, concurrency: 4, max_error_rate: 0.0, max_p95_ms: 2000}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_probe_and_the_e2e_workflow_pass_before_the_pr_and_say_so_in_it() {
    let story = oom_with_tests(false, PROBE).await;
    let ended = story.run_loop().await;

    assert_eq!(ended.status, LoopStatus::Fixed, "{:?}", ended.status_reason);
    let prs = story.app.github.pull_requests(REPO);
    assert_eq!(prs.len(), 1);
    let body = prs[0].body.clone().unwrap_or_default();
    assert!(body.contains("probe http://127.0.0.1:"), "{body}");
    assert!(body.contains("40 request(s), 0.0% failed, p95"), "{body}");
    assert!(body.contains("test workflows passed: E2E #"), "{body}");
    story.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_e2e_after_the_memory_fix_is_read_and_the_rounding_change_reverted_keeping_the_raise()
{
    let story = oom_with_tests(true, PROBE).await;
    let ended = story.run_loop().await;

    assert_eq!(ended.status, LoopStatus::Fixed, "{:?}", ended.status_reason);
    let history = story.history().await;
    assert_eq!(history.len(), 2, "{history:#?}");
    // Iteration 1: the raise healed the service, and the e2e run said what else is wrong.
    let first = history[0]["result"].as_str().unwrap_or_default();
    assert!(first.contains("test workflow E2E"), "{history:#?}");
    assert!(first.contains("Run Playwright tests"), "{first}");
    assert!(
        first.contains("checkout.spec.ts:14:5 › pays an invoice in EUR"),
        "{first}"
    );
    assert_eq!(history[0]["outcome"], "failed");
    // Iteration 2 read that red run, and put back people's change, not the raise.
    assert!(
        history[1]["diagnosis"]
            .as_str()
            .is_some_and(|d| d.starts_with("ci_")),
        "{history:#?}"
    );
    let code = story.branch_file(BUG_FILE);
    assert!(!code.contains(ROUNDS_DOWN), "{code}");
    let file = story.branch_file("task-definition.json");
    assert!(
        file.contains("\"memory\": \"1024\""),
        "the raise stays: {file}"
    );
    assert_eq!(story.commits_made(), 2);
    assert_eq!(story.app.github.pull_requests(REPO).len(), 1);
    story.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_aimed_outside_the_lower_environment_is_refused_and_fails_the_test() {
    let story = oom_with_tests(false, "{url: \"http://203.0.113.7/pay\", requests: 10}").await;
    let ended = story.run_loop().await;

    assert_ne!(ended.status, LoopStatus::Fixed, "{:?}", ended.status_reason);
    let history = story.history().await;
    let first = history[0]["result"].as_str().unwrap_or_default();
    assert!(
        first.contains("host 203.0.113.7 belongs to no node of the topology map"),
        "{history:#?}"
    );
    assert!(story.app.github.pull_requests(REPO).is_empty());
    story.app.stop().await;
}

/// payments-api's OOM in a repository without a task definition file (it is kept elsewhere).
async fn oom_without_a_file(allow: &str) -> Story {
    Story::start(arrange_without_a_task_definition_file(allow).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_allow_ecs_api_memory_is_raised_in_the_lower_environment_and_no_pr_is_pretended() {
    let story = oom_without_a_file("allow: [ecs_api]\n").await;
    let ended = story.run_loop().await;

    assert_eq!(ended.status, LoopStatus::Fixed, "{:?}", ended.status_reason);
    let writes: Vec<String> = story
        .env
        .ecs_writes()
        .iter()
        .filter_map(|c| c.target().map(str::to_string))
        .collect();
    assert!(
        writes
            .iter()
            .any(|t| t.ends_with(".RegisterTaskDefinition")),
        "{writes:?}"
    );
    assert!(
        writes.iter().any(|t| t.ends_with(".UpdateService")),
        "{writes:?}"
    );
    let why = ended.status_reason.unwrap_or_default();
    assert!(why.contains("through the ECS API"), "{why}");
    assert!(why.contains("carry the change into the code"), "{why}");
    assert_eq!(story.commits_made(), 0, "nothing in the repository changed");
    assert!(story.app.github.pull_requests(REPO).is_empty());
    story.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_allow_ecs_api_a_repository_without_the_file_gets_no_change_at_all() {
    let story = oom_without_a_file("").await;
    let why = ended_as(&story.run_loop().await, LoopStatus::StoppedNoFix);
    assert!(why.contains("allow: [ecs_api]"), "{why}");
    assert!(story.env.ecs_writes().is_empty());
    assert_eq!(story.commits_made(), 0);
    story.app.stop().await;
}
