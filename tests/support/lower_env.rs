//! A lower environment that heals only when the fix is right: one ECS service whose state is
//! computed from what was deployed (the task definition file and the code of the pushed tree,
//! or a task definition registered through the ECS API), never from the fact that something
//! was pushed.
//!
//! - `ServiceNeeds` says what the service needs: memory, variables, the one image the
//!   registry has, a start-up time, and a bug line that crashes start-up while it is in a file;
//!   or a readiness check that fails whatever is deployed (`not_ready_while`: a cause outside
//!   the service, such as a queue's backlog).
//! - `LowerEnv::start` resets moto, puts the AWS stub in front of it, points the SDK's
//!   environment at the stub, and plays the service's history: a last good deploy long ago,
//!   then the failing deploy of `failing`, which the circuit breaker stopped. The sweep sees
//!   stopped tasks with ECS's stop reasons, the lines the tasks printed (CloudWatch, in moto),
//!   and a health endpoint answering 503.
//! - `follow(github, repo)` makes the fake GitHub's CI run the deploy workflow on each push and
//!   deploy green trees (`deploy`): the task definition file is registered in moto and a new
//!   deployment starts. UpdateService through the ECS API starts one the same way.
//! - Each DescribeServices is time passing (see `rollout`): healthy → COMPLETED, health 200;
//!   else new stopped tasks with the matching reason and lines, FAILED after three, 503.
//! - Time: task times and log lines read the clock the test gives (`keep_time_with` hands
//!   the world the App's `ManualClock` once `TestApp` has started).
//! - Knobs: `rollback_silently` (the circuit breaker rolls back to the last completed revision),
//!   `never_heals` (every new deployment fails as the first did; with `rollback_silently`, a
//!   right fix is rolled back), `ci_fails_when` (a marker in the tree fails a CI step), and a
//!   production-named cluster through `ServiceNeeds::new("production", …)`.

//!
//! In an incident test:
//!
//! ```ignore
//! let env = LowerEnv::start(needs, fixpoint::clock::system(), &last_good, &failing).await;
//! let app = TestApp::start().await; // after the world: it sets the AWS environment
//! env.keep_time_with(app.clock.clone());
//! env.follow(&app.github, "acme/payments-api"); // pushes now deploy
//! // … the loop pushes a fix; its rollout plays out as the App polls DescribeServices …
//! assert_eq!(env.primary().rollout, RolloutState::Completed);
//! ```

mod ci;
mod ecs_api;
mod ecs_json;
mod health;
mod moto_calls;
mod outcome;
mod rollout;
mod symptoms;
mod world;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Duration;
use fixpoint::clock::SharedClock;

use crate::support::aws_stub::{AwsStub, Call};
use crate::support::fake_github::{FakeGitHub, PushedTree};
use crate::support::moto::{self, Moto};
pub use crate::support::moto::{ACCOUNT, REGION};
use world::World;

// Re-exported for the incident tests; a binary that uses none of them is fine.
#[allow(unused_imports)]
pub use ci::{BUILD, CHECKOUT, CiFailure, DEPLOY, RENDER, TEST, WORKFLOW};
#[allow(unused_imports)]
pub use outcome::{Bug, Deployed, Failure, ServiceNeeds, Verdict};
#[allow(unused_imports)]
pub use rollout::{Deployment, FAILURE_THRESHOLD, Origin, RolloutState};

/// One world per process at a time: it resets moto and sets the process's AWS environment.
/// nextest runs each test in its own process, so this never waits there.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long ago the story began: the last good deploy, then the failing one.
const LAST_GOOD_AGO_MIN: i64 = 180;
const FAILING_AGO_MIN: i64 = 15;

/// The lower environment of one service (see the module's documentation).
pub struct LowerEnv {
    /// The AWS front door the SDK's environment points at.
    pub stub: AwsStub,
    world: Arc<World>,
    health_url: String,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

fn files(list: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    list.iter()
        .map(|(path, text)| (path.to_string(), text.as_bytes().to_vec()))
        .collect()
}

async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

impl LowerEnv {
    /// Stands the world up: `last_good` (path → content) deployed three hours ago and healthy,
    /// then `failing` deployed fifteen minutes ago and failed, both on `clock`'s time.
    ///
    /// Points this process's AWS environment at the stub: call it before the App under test
    /// starts and before any sweep, while no other thread reads the environment.
    pub async fn start(
        needs: ServiceNeeds,
        clock: SharedClock,
        last_good: &[(&str, &str)],
        failing: &[(&str, &str)],
    ) -> LowerEnv {
        let turn = ONE_AT_A_TIME.lock().await;
        let moto = off_runtime(|| {
            let moto = Moto::shared();
            moto.reset();
            moto
        })
        .await;
        let stub = AwsStub::start(moto.endpoint());
        // SAFETY: the world's lock is held and, as documented above, nothing else in this
        // process reads the environment while it changes.
        unsafe { moto::point_aws_sdk_at(stub.url()) };
        let world = Arc::new(World {
            needs: needs.clone(),
            moto: moto.endpoint().to_string(),
            clock: Mutex::new(clock),
            service: Mutex::new(rollout::Service::new(needs)),
            ci_failures: Mutex::default(),
            problems: Mutex::default(),
        });
        let (good, bad) = (files(last_good), files(failing));
        let w = world.clone();
        off_runtime(move || {
            let now = w.now();
            let minute = Duration::minutes(1);
            let at = now - Duration::minutes(LAST_GOOD_AGO_MIN);
            w.deploy_files(&good, Origin::History, at)
                .and_then(|_| w.play_out(at, minute))
                .unwrap_or_else(|e| panic!("the last good tree does not deploy: {e}"));
            let at = now - Duration::minutes(FAILING_AGO_MIN);
            w.deploy_files(
                &bad,
                Origin::Push {
                    sha: "failing".into(),
                },
                at,
            )
            .and_then(|_| w.play_out(at, minute))
            .unwrap_or_else(|e| panic!("the failing tree does not deploy: {e}"));
            let state = w.state();
            assert!(
                !state.healthy(),
                "the failing tree healed the service: its needs describe no failure"
            );
        })
        .await;
        ecs_api::serve(&stub, world.clone());
        let w = world.clone();
        let health_url = health::serve(&world.needs.service, Arc::new(move || w.state().healthy()));
        LowerEnv {
            stub,
            world,
            health_url,
            _turn: turn,
        }
    }

    pub fn needs(&self) -> &ServiceNeeds {
        &self.world.needs
    }

    /// The service's health endpoint (`http://127.0.0.1:<port>/health`).
    pub fn health_url(&self) -> &str {
        &self.health_url
    }

    /// From now on, task times and log lines read `clock`: the App's `TestApp.clock`, which
    /// exists only once the App has started (after the world, which sets the environment).
    pub fn keep_time_with(&self, clock: SharedClock) {
        *self.world.clock.lock().unwrap_or_else(|e| e.into_inner()) = clock;
    }

    /// The circuit breaker rolls a failed deployment back to the last completed revision.
    pub fn rollback_silently(&self) {
        self.world.state().rollback = true;
    }

    /// Every new deployment fails as the first failing one did, whatever it deploys.
    pub fn never_heals(&self) {
        self.world.state().never_heals = true;
    }

    /// CI fails `step` (e.g. `TEST`), printing `excerpt`, for every tree holding `marker` in
    /// any file: a planted failing test, or a task definition value a policy step refuses
    /// (`"memory": "4096"`), so that a fix itself can turn CI red.
    pub fn ci_fails_when(&self, marker: &str, step: &'static str, excerpt: &str) {
        self.world
            .ci_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(CiFailure {
                marker: marker.into(),
                step,
                excerpt: excerpt.into(),
            });
    }

    /// Makes `repo`'s CI on the fake GitHub run the deploy workflow on every push and
    /// workflow dispatch, and deploy each green run's tree before the run completes.
    pub fn follow(&self, github: &FakeGitHub, repo: &str) {
        let w = self.world.clone();
        github.follow_pushes(repo, move |tree| {
            let failures = w
                .ci_failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            ci::run(tree, &w.needs, &failures)
        });
        let w = self.world.clone();
        github.deploy_on_green(repo, move |tree| {
            let w = w.clone();
            Box::pin(async move {
                let sha = tree.sha.clone();
                let deployed = off_runtime({
                    let w = w.clone();
                    move || w.deploy_files(&tree.files, Origin::Push { sha }, w.now())
                })
                .await;
                if let Err(e) = deployed {
                    w.problems.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                }
            })
        });
    }

    /// Deploys a pushed tree as the deploy job does; returns the new deployment's id.
    pub async fn deploy(&self, tree: &PushedTree) -> Result<String, String> {
        let (w, tree) = (self.world.clone(), tree.clone());
        off_runtime(move || {
            let origin = Origin::Push {
                sha: tree.sha.clone(),
            };
            w.deploy_files(&tree.files, origin, w.now())
        })
        .await
    }

    /// The deployments as they stand (PRIMARY first), without time passing.
    pub fn deployments(&self) -> Vec<Deployment> {
        self.world.state().deployments.clone()
    }

    /// The PRIMARY deployment; panics when the service has none.
    pub fn primary(&self) -> Deployment {
        self.deployments()
            .into_iter()
            .next()
            .expect("the service has a deployment")
    }

    /// How many tasks stopped for `stop` reasons containing `words`, ever (ECS lists them).
    pub fn stops_mentioning(&self, words: &str) -> usize {
        self.world
            .state()
            .stopped
            .iter()
            .filter(|t| {
                t.stopped.as_ref().is_some_and(|(_, s)| {
                    s.reason.contains(words)
                        || s.container_reason
                            .as_deref()
                            .is_some_and(|r| r.contains(words))
                })
            })
            .count()
    }

    /// Every ECS call the SDK made through the stub that changes something (UpdateService,
    /// RegisterTaskDefinition, …): what Fixpoint did to the environment.
    pub fn ecs_writes(&self) -> Vec<Call> {
        self.stub.calls(|c| {
            c.target().is_some_and(|t| {
                t.starts_with("AmazonEC2ContainerServiceV20141113.")
                    && !["Describe", "List"]
                        .iter()
                        .any(|read| t.contains(&format!(".{read}")))
            })
        })
    }

    /// A topology map of the service (ECS and logs) written into `dir`; returns its path.
    pub fn map(&self, dir: &Path) -> PathBuf {
        let n = &self.world.needs;
        let yaml = format!(
            "service: {}\nenvironment: staging\necs: {{cluster: {}, service: {}}}\nlogs: {{group: {}}}\n",
            n.service, n.cluster, n.service, n.log_group
        );
        let path = dir.join(format!("{}.yaml", n.service));
        std::fs::write(&path, yaml)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

/// The file of the payments-api story's start-up bug, and the line that crashes it.
pub const BUG_FILE: &str = "src/rates.rs";
pub const BUG_LINE: &str = "let rate = rates.get(\"EUR\").unwrap();";

/// The code of the rates module; `with_bug` keeps the line that crashes start-up.
pub fn rates(with_bug: bool) -> String {
    let lookup = if with_bug {
        BUG_LINE
    } else {
        "let rate = rates.get(\"EUR\").copied().unwrap_or(Rate::ONE);"
    };
    format!(
        "use crate::Rate;\n\npub fn start(rates: &Rates) -> Rate {{\n    // Rates are loaded at start-up.\n    {lookup}\n    rate\n}}\n"
    )
}

/// A Fargate task definition file for `service`, as the deploy action renders it: one `web`
/// container on the image the registry has, its `environment` values and `secrets` references
/// (Secrets Manager ARNs, never values).
pub fn task_definition_file(
    service: &str,
    memory: u32,
    environment: &[&str],
    secrets: &[&str],
) -> String {
    let image = ServiceNeeds::new("staging", service).image;
    let environment: Vec<_> = environment
        .iter()
        .map(|n| serde_json::json!({"name": n, "value": format!("value-of-{n}")}))
        .collect();
    let secrets: Vec<_> = secrets
        .iter()
        .map(|n| serde_json::json!({"name": n, "valueFrom": format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{service}/{n}-Ab12Cd")}))
        .collect();
    let file = serde_json::json!({
        "family": service,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": memory.to_string(),
        "executionRoleArn": format!("arn:aws:iam::123456789012:role/{service}-execution"),
        "containerDefinitions": [{
            "name": "web",
            "image": image,
            "essential": true,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "environment": environment,
            "secrets": secrets,
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": format!("/ecs/{service}"), "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"
            }}
        }]
    });
    serde_json::to_string_pretty(&file).expect("a task definition serialises")
}

impl Drop for LowerEnv {
    fn drop(&mut self) {
        let problems = std::mem::take(
            &mut *self
                .world
                .problems
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        if !std::thread::panicking() {
            assert!(
                problems.is_empty(),
                "the lower environment could not deploy:\n  {}",
                problems.join("\n  ")
            );
        }
    }
}
