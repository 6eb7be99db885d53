//! CI that follows pushes: when a branch moves in a repository whose CI a test scripted, the fake
//! turns the pushed tree into a workflow run (through the test's function), serves it, and posts
//! the `workflow_run` webhooks `requested`, `in_progress` and `completed` to the App, signed in
//! process like GitHub signs them (HMAC-SHA256 of the body with the webhook secret).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use futures::future::BoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

use super::auth::random_alphanumeric;
use super::bodies;
use super::gate::{Shared, lock};
use super::model::WorkflowRun;
use super::records::Delivery;
use super::state::State;

/// The tree a push left on a branch, as the test's CI function sees it.
#[derive(Clone, Debug)]
pub struct PushedTree {
    pub branch: String,
    pub sha: String,
    /// `push` or `workflow_dispatch`.
    pub event: String,
    pub files: BTreeMap<String, Vec<u8>>,
}

impl PushedTree {
    /// A file's text, if the tree has the file and it is UTF-8.
    pub fn text(&self, path: &str) -> Option<&str> {
        std::str::from_utf8(self.files.get(path)?).ok()
    }
}

/// What a test's CI does with a pushed tree: the run it produces (its id, head and event are the
/// fake's to fill in; jobs get fresh ids too).
pub type CiScript = Arc<dyn Fn(&PushedTree) -> WorkflowRun + Send + Sync>;

/// The deploy step of a green run: awaited after the run is `in_progress` and before it
/// completes, as a deploy job is part of the run (a red run deploys nothing).
pub type DeployHook = Arc<dyn Fn(PushedTree) -> BoxFuture<'static, ()> + Send + Sync>;

/// Whether a push or dispatch starts the repository's workflows: their `on:`.
pub type CiTrigger = Arc<dyn Fn(&PushedTree) -> bool + Send + Sync>;

pub(super) struct CiFollower {
    /// The deploy workflow: its green runs deploy (`deploy`).
    pub script: CiScript,
    /// Other workflows every push and dispatch also runs (an e2e job); they deploy nothing.
    pub also: Vec<CiScript>,
    /// When set, only the pushes and dispatches it accepts run anything.
    pub on: Option<CiTrigger>,
    /// While set, each run waits after `in_progress` for one permit (`finish_ci_run`) before
    /// it completes: a test can look at the App while CI is still running.
    pub hold: Option<Arc<tokio::sync::Semaphore>>,
    pub deploy: Option<DeployHook>,
}

/// Where the fake posts webhooks, and the secret it signs them with.
pub(super) struct WebhookTarget {
    pub url: String,
    pub secret: String,
}

/// `sha256=<hex>`: GitHub's `X-Hub-Signature-256` of `body` under `secret`.
pub fn signature_256(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Runs the repository's CI on `sha` of `branch`, if a test scripted one. Called with the state
/// locked; the webhooks go out from a task of their own, in order.
pub(super) fn follow(
    state: &mut State,
    shared: &Shared,
    full_name: &str,
    branch: &str,
    sha: &str,
    event: &str,
) {
    let Some(repo) = state.repos.get(full_name) else {
        return;
    };
    let Some(ci) = &repo.ci else {
        return;
    };
    let tree = PushedTree {
        branch: branch.to_string(),
        sha: sha.to_string(),
        event: event.to_string(),
        files: repo.git.files_at(sha),
    };
    if ci.on.as_ref().is_some_and(|on| !on(&tree)) {
        return;
    }
    let deploy_run = (ci.script)(&tree);
    let others: Vec<WorkflowRun> = ci.also.iter().map(|script| script(&tree)).collect();
    let (hold, deploy) = (ci.hold.clone(), ci.deploy.clone());
    start_run(state, shared, full_name, &tree, deploy_run, hold, deploy);
    for run in others {
        start_run(state, shared, full_name, &tree, run, None, None);
    }
}

/// Serves `finished` as a run of `tree` (queued first) and announces it with its webhooks.
fn start_run(
    state: &mut State,
    shared: &Shared,
    full_name: &str,
    tree: &PushedTree,
    mut finished: WorkflowRun,
    hold: Option<Arc<tokio::sync::Semaphore>>,
    deploy: Option<DeployHook>,
) {
    let (branch, sha, event) = (&tree.branch, &tree.sha, &tree.event);
    finished.id = state.next_id();
    finished.head_sha = sha.to_string();
    finished.head_branch = branch.to_string();
    finished.event = event.to_string();
    finished.created_at = Utc::now().trunc_subsecs(0);
    finished.display_title = format!("{} on {branch}", finished.name);
    for job in &mut finished.jobs {
        job.id = state.next_id();
    }
    let mut queued = finished.clone();
    queued.status = "queued".into();
    queued.conclusion = None;
    queued.jobs.clear();
    let key = (full_name.to_string(), finished.id);
    state.runs.insert(key, queued.clone());
    if state.webhook_target.is_none() {
        state.violations.push(format!(
            "CI follows pushes in {full_name}, but the fake has nowhere to send its webhooks: \
             call `deliver_webhooks_to` first"
        ));
        return;
    }
    let shared = shared.clone();
    let full_name = full_name.to_string();
    let tree = tree.clone();
    tokio::spawn(async move {
        deliver(&shared, &full_name, &queued, "requested").await;
        let mut running = finished.clone();
        running.status = "in_progress".into();
        running.conclusion = None;
        running.jobs = finished
            .jobs
            .iter()
            .map(|job| job.clone().in_progress())
            .collect();
        set_run(&shared, &full_name, &running);
        deliver(&shared, &full_name, &running, "in_progress").await;
        if let Some(hold) = hold {
            hold.acquire()
                .await
                .expect("the fake never closes its CI hold")
                .forget();
        }
        if let Some(deploy) = deploy
            && finished.conclusion.as_deref() == Some("success")
        {
            deploy(tree).await;
        }
        set_run(&shared, &full_name, &finished);
        deliver(&shared, &full_name, &finished, "completed").await;
    });
}

fn set_run(shared: &Shared, full_name: &str, run: &WorkflowRun) {
    lock(shared)
        .runs
        .insert((full_name.to_string(), run.id), run.clone());
}

/// Posts one signed `workflow_run` webhook for `run` and records what the App answered.
async fn deliver(shared: &Shared, full_name: &str, run: &WorkflowRun, action: &str) {
    let (url, secret, body) = {
        let state = lock(shared);
        let Some(target) = &state.webhook_target else {
            return;
        };
        let body = workflow_run_event(&state, full_name, run, action);
        (target.url.clone(), target.secret.clone(), body)
    };
    let body = serde_json::to_vec(&body).expect("a webhook body serialises");
    let signature = signature_256(&secret, &body);
    let guid = guid();
    let answer = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/fake")
        .header("x-github-event", "workflow_run")
        .header("x-github-delivery", &guid)
        .header("x-github-hook-installation-target-type", "integration")
        .header("x-hub-signature-256", &signature)
        .body(body.clone())
        .send()
        .await
        .map(|response| response.status().as_u16())
        .map_err(|error| format!("cannot reach {url}: {error}"));
    lock(shared).deliveries.push(Delivery {
        event: "workflow_run".into(),
        action: action.into(),
        guid,
        signature,
        body,
        answer,
    });
}

/// A GUID like GitHub's `X-GitHub-Delivery`.
fn guid() -> String {
    let hex: String = random_alphanumeric(64)
        .bytes()
        .map(|b| char::from_digit(u32::from(b) % 16, 16).expect("a hex digit"))
        .take(32)
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The `workflow_run` webhook payload: the run as the REST API shows it, its workflow, the
/// repository, the sender and the installation that covers the repository.
fn workflow_run_event(state: &State, full_name: &str, run: &WorkflowRun, action: &str) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, ""));
    let base = &state.base_url;
    let default_branch = state
        .repos
        .get(full_name)
        .map(|repo| repo.default_branch.clone())
        .unwrap_or_else(|| "main".into());
    let repository = super::bodies_pulls::repository(base, owner, name, &default_branch);
    let installation = state.installation_for(owner, name).unwrap_or(0);
    let created = bodies::timestamp(run.created_at);
    json!({
        "action": action,
        "workflow_run": bodies::workflow_run(base, owner, name, run),
        "workflow": {
            "id": run.workflow_id,
            "node_id": format!("W_{}", run.workflow_id),
            "name": run.name,
            "path": run.workflow_path,
            "state": "active",
            "created_at": created,
            "updated_at": created,
            "url": format!("{base}/repos/{full_name}/actions/workflows/{}", run.workflow_id),
            "html_url": format!("https://github.com/{full_name}/blob/main/{}", run.workflow_path),
            "badge_url": format!("https://github.com/{full_name}/workflows/{}/badge.svg", run.name),
        },
        "repository": repository,
        "organization": organization(base, owner),
        "sender": bodies::simple_user(base, "octocat", "User"),
        "installation": { "id": installation, "node_id": format!("MDIzOkludGVncmF0aW9u{installation}") },
    })
}

/// `organization-simple`: the fake's repository owners are organizations.
fn organization(base: &str, login: &str) -> Value {
    let api = format!("{base}/orgs/{login}");
    let user = bodies::simple_user(base, login, "Organization");
    json!({
        "login": login,
        "id": user["id"],
        "node_id": user["node_id"],
        "url": api,
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events"),
        "hooks_url": format!("{api}/hooks"),
        "issues_url": format!("{api}/issues"),
        "members_url": format!("{api}/members{{/member}}"),
        "public_members_url": format!("{api}/public_members{{/member}}"),
        "avatar_url": user["avatar_url"],
        "description": null,
    })
}
