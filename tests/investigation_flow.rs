//! A red deploy arrives; Fixpoint opens an investigation, reads the repository's
//! `.github/fixpoint.yml` at the failing commit and collects the failed run's jobs.

mod support;

use fixpoint::domain::{Conclusion, InvestigationStatus};
use fixpoint::store::investigations::{Document, Investigation};
use support::TestApp;
use support::fake_github::{Job, Step, WorkflowRun};
use support::webhooks::{bytes, failed_deploy};

const REPO: &str = "acme/payments-api";
const SHA: &str = "4a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
const CONFIG: &str = "deploy_workflows: [deploy.yml]\nbranches: [main]\ntopology: topology/payments-api.yaml\nmax_iterations: 4\n";
/// The service's map as committed: its own GitHub checks, a dependency whose connection
/// detail was forgotten, and a linked map for the next hop.
const MAP: &str = "service: payments-api\nenvironment: staging\nrepo: acme/payments-api\ndownstream:\n  - {name: postgresql, type: db, skill: postgres}\n  - {name: ledger-consumer, type: service, topology: ledger-consumer.yaml}\n";
const LINKED: &str = "service: ledger-consumer\nenvironment: staging\ndownstream:\n  - {name: ledger-db, type: db, skill: postgres}\n";

fn red_deploy(run_id: u64) -> WorkflowRun {
    WorkflowRun::new(run_id, "Deploy to staging")
        .head_sha(SHA)
        .conclusion("failure")
        .job(
            Job::new(run_id * 10 + 1, "build")
                .conclusion("success")
                .step(Step::succeeded("cargo build")),
        )
        .job(
            Job::new(run_id * 10 + 2, "deploy-staging")
                .conclusion("failure")
                .step(Step::succeeded("Render task definition"))
                .step(
                    Step::failed("Wait for ECS service stability")
                        .log("Error: services-stable waiter timed out"),
                ),
        )
}

async fn app_with_repo(config: Option<&str>) -> TestApp {
    let app = TestApp::start().await;
    app.github.add_installation(77, "acme");
    if let Some(config) = config {
        app.github
            .add_file(REPO, Some(SHA), ".github/fixpoint.yml", config);
    }
    app.github
        .add_file(REPO, Some(SHA), "topology/payments-api.yaml", MAP);
    app.github
        .add_file(REPO, Some(SHA), "topology/ledger-consumer.yaml", LINKED);
    app.github.add_workflow_run(REPO, red_deploy(9001));
    app
}

async fn only_investigation(app: &TestApp) -> Investigation {
    let mut all = app.store.investigations().await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    all.pop().unwrap()
}

#[tokio::test]
async fn a_failed_deploy_collects_the_failed_jobs_and_sweeps_the_topology() {
    let app = app_with_repo(Some(CONFIG)).await;
    assert_eq!(
        app.deliver(
            "workflow_run",
            "r-1",
            &bytes(&failed_deploy(REPO, 9001, 1, 77))
        )
        .await
        .status(),
        202
    );
    app.settle().await;
    let inv = only_investigation(&app).await;
    assert_eq!(
        (inv.status.as_str(), inv.service.as_deref()),
        ("diagnosed", Some("payments-api"))
    );
    // Both maps were read at the failing commit, and every planned check has a finding.
    let sweep = app
        .store
        .investigation_document(inv.id, Document::Sweep)
        .await
        .unwrap()
        .expect("sweep stored");
    let mut seen: Vec<(String, u64, String)> = sweep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["node"].as_str().unwrap().to_string(),
                f["hop"].as_u64().unwrap(),
                f["skill"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("ledger-consumer".to_string(), 1, "none".to_string()),
            ("ledger-db".to_string(), 2, "postgres".to_string()),
            ("payments-api".to_string(), 0, "gha".to_string()),
            ("postgresql".to_string(), 1, "postgres".to_string()),
        ]
    );
    // The diagnosis was stored beside the sweep, decided by the rules engine (no model set).
    let diagnosis = app
        .store
        .investigation_document(inv.id, Document::Diagnosis)
        .await
        .unwrap()
        .expect("diagnosis stored");
    assert_eq!(diagnosis["engine"], "rules");
    // The only red is a deploy step that timed out waiting for ECS, and the map gives no way
    // to look at ECS, its logs or either database: the honest answer is "cannot tell", with
    // what to add, never a guess that the loop would act on.
    assert_eq!(
        (
            diagnosis["root_cause"]["node"].as_str(),
            diagnosis["root_cause"]["class"].as_str()
        ),
        (Some("payments-api"), Some("unknown"))
    );
    assert_eq!(diagnosis["proposed_action"]["kind"], "escalate");
    assert_eq!(diagnosis["confidence"], 0.0);
    let missing: Vec<&str> = diagnosis["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(
        missing.iter().any(|m| m.contains("add `ecs:` to the map")),
        "{missing:?}"
    );
    insta::assert_snapshot!("diagnosed_status", inv.status_reason.as_deref().unwrap());
    let forgotten = sweep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["node"] == "postgresql")
        .unwrap();
    assert_eq!(forgotten["status"], "unknown");
    assert!(
        forgotten["summary"].as_str().unwrap().contains("url_env"),
        "{forgotten}"
    );
    assert_eq!(
        (
            inv.run_id,
            inv.run_attempt,
            inv.head_sha.as_str(),
            inv.branch.as_str()
        ),
        (9001, 1, SHA, "main")
    );
    let jobs = app.store.run_jobs(inv.id).await.unwrap();
    let failed: Vec<_> = jobs
        .iter()
        .filter(|j| j.conclusion == Some(Conclusion::Failure))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].name, "deploy-staging");
    assert_eq!(failed[0].failed_steps, ["Wait for ECS service stability"]);
    // The config was read at the failing commit, with a token narrowed to this repository.
    let config_reads: Vec<_> = app
        .github
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/contents/.github/fixpoint.yml"))
        .collect();
    assert_eq!(config_reads.len(), 1);
    assert_eq!(
        config_reads[0].query.as_deref(),
        Some(format!("ref={SHA}").as_str())
    );
    assert!(
        app.github
            .token_mints()
            .iter()
            .all(|m| m.repositories.as_deref() == Some(&["payments-api".to_string()][..]))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_repository_without_fixpoint_yml_is_recorded_as_not_started() {
    let app = app_with_repo(None).await;
    app.deliver(
        "workflow_run",
        "r-2",
        &bytes(&failed_deploy(REPO, 9001, 1, 77)),
    )
    .await;
    app.settle().await;
    let inv = only_investigation(&app).await;
    assert_eq!(inv.status, InvestigationStatus::NotStarted);
    insta::assert_snapshot!("no_config_status", inv.status_reason.as_deref().unwrap());
    app.stop().await;
}

#[tokio::test]
async fn a_typo_in_the_config_names_the_key_and_the_run_is_not_started() {
    let app = app_with_repo(Some(
        "deploy_workflows: [deploy.yml]\ntopolgy: topology/payments-api.yaml\n",
    ))
    .await;
    app.deliver(
        "workflow_run",
        "r-3",
        &bytes(&failed_deploy(REPO, 9001, 1, 77)),
    )
    .await;
    app.settle().await;
    let inv = only_investigation(&app).await;
    assert_eq!(inv.status, InvestigationStatus::NotStarted);
    let reason = inv.status_reason.unwrap();
    assert!(
        reason.contains("unknown key `topolgy` (did you mean `topology`?)"),
        "{reason}"
    );
    insta::assert_snapshot!("config_typo_status", reason);
    app.stop().await;
}

#[tokio::test]
async fn a_failed_ci_workflow_that_is_not_a_deploy_is_not_an_incident() {
    let app = app_with_repo(Some(CONFIG)).await;
    let mut ci = failed_deploy(REPO, 9001, 1, 77);
    ci["workflow_run"]["name"] = "CI".into();
    ci["workflow_run"]["path"] = ".github/workflows/ci.yml".into();
    app.deliver("workflow_run", "r-4", &bytes(&ci)).await;
    app.settle().await;
    let inv = only_investigation(&app).await;
    assert_eq!(inv.status, InvestigationStatus::NotStarted);
    assert!(
        inv.status_reason
            .unwrap()
            .contains("workflow `CI` is not a deploy")
    );
    assert!(app.store.run_jobs(inv.id).await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn github_flaking_during_the_collection_is_retried_not_lost() {
    let app = app_with_repo(Some(CONFIG)).await;
    app.github.fail_next(
        "GET",
        "/repos/acme/payments-api/actions/runs/9001",
        2,
        502,
        &[],
    );
    app.deliver(
        "workflow_run",
        "r-5",
        &bytes(&failed_deploy(REPO, 9001, 1, 77)),
    )
    .await;
    app.settle().await;
    assert_eq!(
        only_investigation(&app).await.status,
        InvestigationStatus::Diagnosed
    );
    app.stop().await;
}

#[tokio::test]
async fn an_app_not_installed_on_the_repository_fails_the_investigation_with_the_reason() {
    let app = TestApp::start().await; // no installation 77 at GitHub
    app.deliver(
        "workflow_run",
        "r-6",
        &bytes(&failed_deploy(REPO, 9001, 1, 77)),
    )
    .await;
    app.settle().await;
    let inv = only_investigation(&app).await;
    assert_eq!(inv.status, InvestigationStatus::Failed);
    insta::assert_snapshot!("not_installed_status", inv.status_reason.unwrap());
    let jobs = app.store.jobs().await.unwrap();
    assert_eq!(
        jobs.iter()
            .map(|j| (j.state, j.attempts))
            .collect::<Vec<_>>(),
        [(fixpoint::domain::JobState::Done, 1)],
        "a permanent refusal is not retried"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_production_environment_in_the_map_is_refused_before_anything_is_checked() {
    let app = app_with_repo(Some(CONFIG)).await;
    app.github.add_file(
        REPO,
        Some(SHA),
        "topology/payments-api.yaml",
        MAP.replace("staging", "production"),
    );
    app.deliver(
        "workflow_run",
        "r-7",
        &bytes(&failed_deploy(REPO, 9001, 1, 77)),
    )
    .await;
    app.settle().await;
    let inv = only_investigation(&app).await;
    assert_eq!(inv.status, InvestigationStatus::NotStarted);
    let reason = inv.status_reason.unwrap();
    assert!(
        reason.contains("production") && reason.contains("topology/payments-api.yaml"),
        "{reason}"
    );
    insta::assert_snapshot!("production_refused_status", reason);
    assert!(
        app.store
            .investigation_document(inv.id, Document::Sweep)
            .await
            .unwrap()
            .is_none()
    );
    app.stop().await;
}

/// Fixpoint's own branch: the fake's CI follows the push, posts `requested`, `in_progress`
/// and `completed` back to the App, signed as GitHub signs them, and the App records the
/// completed run as progress of the loop that owns the branch, not as a new incident.
#[tokio::test]
async fn a_push_to_a_fixpoint_branch_runs_ci_whose_webhooks_are_recorded_as_loop_progress() {
    let app = app_with_repo(Some(CONFIG)).await;
    app.github.follow_pushes(REPO, |tree| {
        // The deploy goes green only when the pushed task definition has enough memory.
        let enough = tree
            .text("task-definition.json")
            .is_some_and(|t| t.contains("\"memory\": \"1024\""));
        WorkflowRun::new(0, "Deploy to staging")
            .conclusion(if enough { "success" } else { "failure" })
            .job(Job::new(0, "deploy-staging").conclusion(if enough {
                "success"
            } else {
                "failure"
            }))
    });
    let sha = app.github.push(
        REPO,
        "fixpoint/payments-api-9001",
        &[(
            "task-definition.json",
            Some(r#"{"family": "payments-api", "memory": "1024"}"#),
        )],
    );
    let delivered = app.github.wait_for_deliveries(3).await;
    let actions: Vec<&str> = delivered.iter().map(|d| d.action.as_str()).collect();
    assert_eq!(actions, ["requested", "in_progress", "completed"]);
    let answers: Vec<Result<u16, String>> = delivered.iter().map(|d| d.answer.clone()).collect();
    assert_eq!(
        answers,
        [Ok(200), Ok(200), Ok(202)],
        "only the completed run is stored"
    );
    let progress = app.job_ended("loop_progress").await;
    assert_eq!(progress.ended, fixpoint::worker::Ended::Done);
    app.settle().await;
    let runs = app.store.loop_runs().await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].1, "fixpoint/payments-api-9001");
    assert_eq!(runs[0].3.as_deref(), Some("success"));
    assert_eq!(app.expect_branch(REPO, "fixpoint/payments-api-9001"), sha);
    assert!(
        app.store.investigations().await.unwrap().is_empty(),
        "a run on a fixpoint branch is not an incident"
    );
    app.stop().await;
}

/// A config whose `topology` smuggles a query (`?ref=` another branch) reaches GitHub as a
/// file name, not as a query: the map is read at the failing commit or not at all.
#[tokio::test]
async fn a_topology_path_with_a_query_in_it_stays_a_file_name() {
    let app = app_with_repo(Some(
        "deploy_workflows: [deploy.yml]\nbranches: [main]\ntopology: \"topology/payments-api.yaml?ref=attacker-branch&x=\"\n",
    ))
    .await;
    app.deliver(
        "workflow_run",
        "r-8",
        &bytes(&failed_deploy(REPO, 9001, 1, 77)),
    )
    .await;
    app.settle().await;
    let inv = only_investigation(&app).await;
    assert_eq!(inv.status, InvestigationStatus::NotStarted, "{inv:?}");
    let map_reads: Vec<_> = app
        .github
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/contents/topology/"))
        .collect();
    assert_eq!(map_reads.len(), 1, "{map_reads:?}");
    assert!(
        map_reads[0]
            .path
            .ends_with("payments-api.yaml%3Fref%3Dattacker-branch%26x%3D"),
        "{map_reads:?}"
    );
    assert_eq!(
        map_reads[0].query.as_deref(),
        Some(format!("ref={SHA}").as_str())
    );
    app.stop().await;
}
