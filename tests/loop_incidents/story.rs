//! payments-api on staging, as the loop meets it: a repository with its fixpoint.yml, its map
//! and its task definition on the fake GitHub, a lower environment that heals only when what
//! was deployed is right, and Fixpoint running against both on a test clock.

use std::time::Duration;

use fixpoint::config::Settings;
use fixpoint::domain::{InvestigationStatus, JobState, LoopStatus};
use fixpoint::store::loops::LoopRow;
use serde_json::Value;

use crate::support::fake_github::{FakeGitHub, Job, Step, WorkflowRun};
use crate::support::lower_env::{DEPLOY, LowerEnv, ServiceNeeds, WORKFLOW};
use crate::support::{TestApp, webhooks};

pub const REPO: &str = "acme/payments-api";
pub const INSTALLATION: u64 = 4242;
pub const CLUSTER: &str = "staging";
pub const SERVICE: &str = "payments-api";
pub const FAILED_RUN: u64 = 9001;
pub const BRANCH: &str = "fixpoint/payments-api-9001";
pub const WORKFLOW_FILE: &str = "deploy-to-staging.yml";
pub use crate::support::lower_env::{BUG_FILE, BUG_LINE, rates};

/// The repository's fixpoint.yml: the deploy workflow, the map, the task definition file,
/// a one-minute soak; `extra` adds keys.
pub fn config(extra: &str) -> String {
    config_with_soak(60, extra)
}

/// As `config`, with a soak of `soak_s` seconds.
pub fn config_with_soak(soak_s: u32, extra: &str) -> String {
    format!(
        "deploy_workflows: [{WORKFLOW_FILE}]\ntopology: topology/payments-api.yaml\ntask_definition: task-definition.json\nverify:\n  soak_s: {soak_s}\n{extra}"
    )
}

/// The map of `service` in `repo`: the world's ECS service in `cluster`, its logs and its
/// health endpoint.
pub fn map_of(repo: &str, service: &str, health_url: &str, cluster: &str) -> String {
    format!(
        "service: {service}\nenvironment: staging\nrepo: {repo}\necs: {{cluster: {cluster}, service: {SERVICE}}}\nlogs: {{group: /ecs/{SERVICE}}}\nupstream:\n  - {{name: {service}-health, type: http, skill: http-health, url: \"{health_url}\"}}\n"
    )
}

/// The task definition file, as the deploy action renders it.
pub fn task_definition(memory: u32, environment: &[&str], secrets: &[&str]) -> String {
    crate::support::lower_env::task_definition_file(SERVICE, memory, environment, secrets)
}

/// What payments-api needs since the settlement change: `memory` MiB and its two variables.
pub fn oom_needs(memory: u32) -> ServiceNeeds {
    ServiceNeeds::new(CLUSTER, SERVICE)
        .memory(memory)
        .variables(&["DATABASE_URL", "PAYMENTS_API_KEY"])
}

/// The service's tree with `memory` MiB and both variables set.
pub fn at(memory: u32) -> Vec<(String, String)> {
    tree(
        task_definition(memory, &["DATABASE_URL"], &["PAYMENTS_API_KEY"]),
        rates(false),
    )
}

/// A tree of the service: its task definition file and its rates module.
pub fn tree(task_definition: String, rates: String) -> Vec<(String, String)> {
    vec![
        ("task-definition.json".to_string(), task_definition),
        (BUG_FILE.to_string(), rates),
    ]
}

/// A tree as the world takes it.
pub fn borrowed(tree: &[(String, String)]) -> Vec<(&str, &str)> {
    tree.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect()
}

/// One incident: the world, the repository and the App.
pub struct Story {
    pub env: LowerEnv,
    pub app: TestApp,
}

/// The world and the repository, before Fixpoint runs: the service ran `last_good` for
/// hours; `failing` was pushed and its deploy went red. CI follows the repository from now on.
pub struct Arranged {
    pub env: LowerEnv,
    pub github: FakeGitHub,
    pub failing_sha: String,
}

pub async fn arrange(
    needs: ServiceNeeds,
    last_good: Vec<(String, String)>,
    failing: Vec<(String, String)>,
    config: String,
) -> Arranged {
    let env = LowerEnv::start(
        needs,
        fixpoint::clock::system(),
        &borrowed(&last_good),
        &borrowed(&failing),
    )
    .await;
    let github = FakeGitHub::start().await;
    github.add_installation_with_repos(INSTALLATION, "acme", &["payments-api"]);
    let failing_sha = arrange_repo(
        &github,
        &env,
        &Incident::default(),
        &last_good,
        &failing,
        &config,
    );
    Arranged {
        env,
        github,
        failing_sha,
    }
}

/// payments-api's OOM in a repository that keeps no task definition file (the service's
/// lives only in ECS): the world runs the whole trees, the repository holds only the code.
/// `extra` adds fixpoint.yml keys (`allow: [ecs_api]\n`).
pub async fn arrange_without_a_task_definition_file(extra: &str) -> Arranged {
    let deployed = at(512);
    let env = LowerEnv::start(
        oom_needs(900),
        fixpoint::clock::system(),
        &borrowed(&deployed),
        &borrowed(&deployed),
    )
    .await;
    let github = FakeGitHub::start().await;
    github.add_installation_with_repos(INSTALLATION, "acme", &["payments-api"]);
    let repo: Vec<(String, String)> = deployed
        .into_iter()
        .filter(|(path, _)| path != "task-definition.json")
        .collect();
    let config = format!(
        "deploy_workflows: [{WORKFLOW_FILE}]\ntopology: topology/payments-api.yaml\n{extra}verify:\n  soak_s: 60\n"
    );
    let failing_sha = arrange_repo(&github, &env, &Incident::default(), &repo, &repo, &config);
    Arranged {
        env,
        github,
        failing_sha,
    }
}

/// How a loop ended, asserted: its status is `status`; returns the reason it gave.
pub fn ended_as(ended: &LoopRow<Value>, status: LoopStatus) -> String {
    assert_eq!(ended.status, status, "{:?}", ended.status_reason);
    ended.status_reason.clone().unwrap_or_default()
}

/// Which repository, service and red run an incident is about: payments-api's by default.
pub struct Incident {
    pub repo: String,
    pub service: String,
    pub failed_run: u64,
}

impl Default for Incident {
    fn default() -> Self {
        Incident {
            repo: REPO.into(),
            service: SERVICE.into(),
            failed_run: FAILED_RUN,
        }
    }
}

/// The incident's repository on `github` (the App must be installed on it): its history,
/// `last_good` deployed by a green run, then `failing` whose deploy went red. From then on CI
/// follows the repository and deploys to `env`. Returns the failing commit.
pub fn arrange_repo(
    github: &FakeGitHub,
    env: &LowerEnv,
    incident: &Incident,
    last_good: &[(String, String)],
    failing: &[(String, String)],
    config: &str,
) -> String {
    let repo = incident.repo.as_str();
    let map = map_of(
        repo,
        &incident.service,
        env.health_url(),
        &env.needs().cluster,
    );
    let mut good: Vec<(&str, Option<&str>)> = last_good
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_str())))
        .collect();
    good.push((".github/fixpoint.yml", Some(config)));
    good.push(("topology/payments-api.yaml", Some(map.as_str())));
    // History is arranged before CI follows the repository: these pushes deploy nothing.
    let good_sha = github.push(repo, "main", &good);
    github.add_workflow_run(
        repo,
        WorkflowRun::new(incident.failed_run - 11, WORKFLOW)
            .head_sha(&good_sha)
            .conclusion("success"),
    );
    let bad: Vec<(&str, Option<&str>)> = failing
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_str())))
        .collect();
    let failing_sha = github.push(repo, "main", &bad);
    github.add_workflow_run(
        repo,
        WorkflowRun::new(incident.failed_run, WORKFLOW)
            .head_sha(&failing_sha)
            .conclusion("failure")
            .job(
                Job::new(1, "deploy")
                    .step(Step::succeeded("Build"))
                    .step(
                        Step::failed(DEPLOY)
                            .log("Waiter ServicesStable failed: Max attempts exceeded"),
                    )
                    .conclusion("failure"),
            ),
    );
    env.follow(github, repo);
    failing_sha
}

/// The red deploy's `workflow_run.completed`, as GitHub sends it.
pub fn red_deploy_hook(failing_sha: &str) -> Vec<u8> {
    red_deploy_hook_of(&Incident::default(), failing_sha)
}

/// The red deploy of `incident`'s repository at `failing_sha`.
pub fn red_deploy_hook_of(incident: &Incident, failing_sha: &str) -> Vec<u8> {
    let mut hook = webhooks::failed_deploy(&incident.repo, incident.failed_run, 1, INSTALLATION);
    hook["workflow_run"]["head_sha"] = failing_sha.into();
    hook["workflow_run"]["path"] = format!(".github/workflows/{WORKFLOW_FILE}").into();
    hook["workflow_run"]["name"] = WORKFLOW.into();
    webhooks::bytes(&hook)
}

impl Story {
    /// The incident as `arrange` sets it up, with Fixpoint (in process, on a test clock)
    /// receiving the red deploy's webhook.
    pub async fn begin(
        needs: ServiceNeeds,
        last_good: Vec<(String, String)>,
        failing: Vec<(String, String)>,
        config: String,
    ) -> Story {
        Story::start(arrange(needs, last_good, failing, config).await).await
    }

    /// Fixpoint (in process, on a test clock) starts on an arranged incident and receives
    /// its red deploy's webhook.
    pub async fn start(arranged: Arranged) -> Story {
        Story::start_with(arranged, local_settings()).await
    }

    /// As `start`, with Fixpoint's settings of the test's choosing (a model, say).
    pub async fn start_with(arranged: Arranged, settings: Settings) -> Story {
        let Arranged {
            env,
            github,
            failing_sha,
        } = arranged;
        let app = TestApp::start_with_settings(github, settings).await;
        env.keep_time_with(app.clock.clone());
        let answer = app
            .deliver("workflow_run", "incident-1", &red_deploy_hook(&failing_sha))
            .await;
        assert_eq!(answer.status(), 202, "the red deploy's webhook is stored");
        Story { env, app }
    }

    /// Runs the App until its loop ends: the queue settles, then the clock moves a poll
    /// interval (CI and rollouts are waited on by snoozing). Returns the loop as it ended.
    pub async fn run_loop(&self) -> LoopRow<Value> {
        for _ in 0..120 {
            self.app.settle().await;
            let loops = self.app.store.loops().await.expect("loops read");
            if let Some(l) = loops.first()
                && !l.status.is_open()
            {
                return l.clone();
            }
            let ended_early = self
                .app
                .store
                .investigations()
                .await
                .unwrap()
                .into_iter()
                .find(|i| {
                    matches!(
                        i.status,
                        InvestigationStatus::NotStarted | InvestigationStatus::Failed
                    )
                });
            if let Some(i) = ended_early {
                panic!("the investigation ended without a loop: {i:?}");
            }
            let dead: Vec<_> = self
                .app
                .store
                .jobs()
                .await
                .unwrap()
                .into_iter()
                .filter(|j| j.state == JobState::Dead)
                .collect();
            assert!(dead.is_empty(), "a job gave up: {dead:#?}");
            // Past the loop's poll: its snoozed job is due; wait for that run to end.
            self.app.clock.advance(Duration::from_secs(30));
            let _ =
                tokio::time::timeout(Duration::from_secs(5), self.app.job_ended("fix_loop")).await;
        }
        panic!(
            "the loop did not end: {:?}",
            self.app.store.loops().await.unwrap()
        );
    }

    /// The task definition file on the loop's branch.
    pub fn branch_file(&self, path: &str) -> String {
        let bytes = self
            .app
            .github
            .file_at(REPO, BRANCH, path)
            .unwrap_or_else(|| panic!("{path} is not on {BRANCH}"));
        String::from_utf8(bytes).expect("UTF-8")
    }

    /// Commits Fixpoint made (each `POST /git/commits` it sent).
    pub fn commits_made(&self) -> usize {
        self.app
            .github
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/git/commits"))
            .count()
    }

    /// The loop's debug history, as stored with the investigation.
    pub async fn history(&self) -> Vec<Value> {
        let loops = self.app.store.loops().await.unwrap();
        let state = &loops.first().expect("a loop").state;
        state["history"]["history"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// What Fixpoint may reach in the tests: loopback.
pub fn local_settings() -> Settings {
    let vars: std::collections::HashMap<String, String> = [(
        "FIXPOINT_SWEEP_ALLOW".to_string(),
        "127.0.0.0/8".to_string(),
    )]
    .into();
    Settings::from_vars(&vars).expect("settings")
}
