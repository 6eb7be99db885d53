//! The lower environment's own honesty: it heals only when what was deployed is right, and the
//! existing sweep reads its failing and healed states as they are. Each story is
//! payments-api on staging, whose last good deploy ran for hours before a failing one.
//!
//! Run with `cargo nextest run --test lower_env` (moto_server on PATH or in `.venv`).

mod support;

#[path = "lower_env/ci_deploys.rs"]
mod ci_deploys;
#[path = "lower_env/heals.rs"]
mod heals;
#[path = "lower_env/starts.rs"]
mod starts;
#[path = "lower_env/sweep_reads.rs"]
mod sweep_reads;
#[path = "lower_env/time.rs"]
mod time;

use aws_sdk_ecs::types::{Deployment, DesiredStatus, Service};
use support::fake_github::PushedTree;
use support::lower_env::{LowerEnv, ServiceNeeds};

pub const CLUSTER: &str = "staging";
pub const SERVICE: &str = "payments-api";
pub use crate::support::lower_env::{BUG_FILE, BUG_LINE, rates};

/// What payments-api needs since the settlement change: 1 GiB, its database and the card
/// partner's key, and a start-up without the EUR crash.
pub fn needs() -> ServiceNeeds {
    ServiceNeeds::new(CLUSTER, SERVICE)
        .memory(1024)
        .variables(&["DATABASE_URL", "PAYMENTS_API_KEY"])
        .bug(BUG_FILE, BUG_LINE)
}

/// The repository's task definition file, as the deploy action renders it.
pub fn task_definition(memory: u32, environment: &[&str], secrets: &[&str]) -> String {
    support::lower_env::task_definition_file(SERVICE, memory, environment, secrets)
}

/// A tree of the repository: the task definition file and the rates module.
pub fn tree(task_definition: &str, code: &str) -> Vec<(String, String)> {
    vec![
        ("task-definition.json".into(), task_definition.into()),
        (BUG_FILE.into(), code.into()),
    ]
}

pub fn borrowed(tree: &[(String, String)]) -> Vec<(&str, &str)> {
    tree.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect()
}

/// The last good tree: 512 MiB was enough before the settlement change, every variable set.
pub fn last_good() -> Vec<(String, String)> {
    tree(
        &task_definition(512, &["DATABASE_URL"], &["PAYMENTS_API_KEY"]),
        &rates(false),
    )
}

/// The settlement change needs 1 GiB; a tree that gives it `memory` MiB, everything else right.
pub fn oom_tree(memory: u32) -> Vec<(String, String)> {
    tree(
        &task_definition(memory, &["DATABASE_URL"], &["PAYMENTS_API_KEY"]),
        &rates(false),
    )
}

/// `tree` as pushed to a fix branch.
pub fn pushed(tree: &[(String, String)]) -> PushedTree {
    PushedTree {
        branch: "fixpoint/payments-api-9001".into(),
        sha: "7a1c0ffee7a1c0ffee7a1c0ffee7a1c0ffee7a1c".into(),
        event: "push".into(),
        files: tree
            .iter()
            .map(|(p, c)| (p.clone(), c.as_bytes().to_vec()))
            .collect(),
    }
}

/// Starts the world of `needs` with the last good tree and `failing`, on the wall clock.
pub async fn world(needs: ServiceNeeds, failing: &[(String, String)]) -> LowerEnv {
    LowerEnv::start(
        needs,
        fixpoint::clock::system(),
        &borrowed(&last_good()),
        &borrowed(failing),
    )
    .await
}

/// An ECS client as the App builds one: the standard chain, pointed at the stub.
pub async fn ecs() -> aws_sdk_ecs::Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_ecs::Client::new(&config)
}

pub async fn describe(ecs: &aws_sdk_ecs::Client) -> Service {
    let out = ecs
        .describe_services()
        .cluster(CLUSTER)
        .services(SERVICE)
        .send()
        .await
        .expect("DescribeServices answers");
    out.services()
        .first()
        .cloned()
        .expect("the service is described")
}

pub fn primary(service: &Service) -> Deployment {
    service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .cloned()
        .expect("a PRIMARY deployment")
}

/// Polls DescribeServices, as a deploy action waits, until the PRIMARY deployment's rollout
/// ends; asserts it was seen IN_PROGRESS first (a rollout takes time). Returns the service.
pub async fn roll_out(ecs: &aws_sdk_ecs::Client) -> Service {
    let mut seen_in_progress = false;
    for _ in 0..20 {
        let service = describe(ecs).await;
        match primary(&service).rollout_state().map(|s| s.as_str()) {
            Some("IN_PROGRESS") => seen_in_progress = true,
            _ => {
                assert!(
                    seen_in_progress,
                    "the rollout ended before anyone saw it run"
                );
                return service;
            }
        }
    }
    panic!("the rollout did not end within 20 DescribeServices calls");
}

/// The ARNs of the service's stopped tasks, as ListTasks lists them.
pub async fn stopped_tasks(ecs: &aws_sdk_ecs::Client) -> Vec<String> {
    ecs.list_tasks()
        .cluster(CLUSTER)
        .service_name(SERVICE)
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .expect("ListTasks answers")
        .task_arns()
        .to_vec()
}

/// The health endpoint's status code.
pub async fn health(env: &LowerEnv) -> u16 {
    reqwest::get(env.health_url())
        .await
        .expect("the health endpoint answers")
        .status()
        .as_u16()
}
