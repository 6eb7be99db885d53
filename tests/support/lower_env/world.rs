//! The world's state behind the stub and the deploy job: the service, the clock it keeps,
//! and moto, where task definitions and log lines live.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use fixpoint::clock::SharedClock;
use serde_json::Value;

use super::CiFailure;
use super::outcome::{Deployed, ServiceNeeds};
use super::rollout::{self, FAILURE_THRESHOLD, Origin, RolloutState};
use super::{ci, ecs_json, moto_calls};
use crate::support::fake_github::PushedTree;

pub(crate) struct World {
    pub(super) needs: ServiceNeeds,
    pub(super) moto: String,
    /// The test's clock: task times and log lines read it.
    pub(super) clock: Mutex<SharedClock>,
    pub(super) service: Mutex<rollout::Service>,
    pub(super) ci_failures: Mutex<Vec<CiFailure>>,
    /// Deploys that could not happen (a test's mistake): the world fails the test on drop.
    pub(super) problems: Mutex<Vec<String>>,
}

impl World {
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock.lock().unwrap_or_else(|e| e.into_inner()).now()
    }

    pub(super) fn state(&self) -> MutexGuard<'_, rollout::Service> {
        self.service.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One look at the service (a DescribeServices): time passes, the tasks print.
    pub(super) fn observe(&self) -> Result<Value, String> {
        let (lines, service) = {
            let mut state = self.state();
            let lines = state.step(self.now(), Duration::zero());
            (lines, ecs_json::service(&state))
        };
        moto_calls::put_lines(&self.moto, &self.needs.log_group, &lines)?;
        Ok(service)
    }

    /// Starts a deployment of a revision registered in moto (by family, family:revision or
    /// ARN) with `code` running.
    pub(super) fn begin_from_registered(
        &self,
        name: &str,
        code: Option<String>,
        origin: Origin,
    ) -> Result<String, String> {
        let td = moto_calls::describe_task_definition(&self.moto, name)
            .map_err(|e| format!("Unable to describe task definition {name}: {e}"))?;
        self.begin(&td, code, origin, self.now())
    }

    pub(super) fn begin(
        &self,
        registered: &Value,
        code: Option<String>,
        origin: Origin,
        at: DateTime<Utc>,
    ) -> Result<String, String> {
        let revision = rollout::Revision {
            arn: registered["taskDefinitionArn"]
                .as_str()
                .ok_or("the registered task definition has no ARN")?
                .to_string(),
            deployed: Deployed::read(registered)?,
            code,
        };
        Ok(self.state().begin(revision, origin, at))
    }

    /// The deploy job: registers the tree's task definition file and rolls it out with the
    /// tree's code. Returns the new deployment's id.
    pub(super) fn deploy_files(
        &self,
        files: &BTreeMap<String, Vec<u8>>,
        origin: Origin,
        at: DateTime<Utc>,
    ) -> Result<String, String> {
        let tree = PushedTree {
            branch: String::new(),
            sha: String::new(),
            event: "push".into(),
            files: files.clone(),
        };
        let file = ci::render(&tree, &self.needs)?;
        let registered = moto_calls::register_task_definition(&self.moto, &file)?;
        let code = self
            .needs
            .bug
            .as_ref()
            .and_then(|bug| tree.text(&bug.path))
            .map(str::to_string);
        self.begin(&registered, code, origin, at)
    }

    /// Steps the PRIMARY deployment until it ends, `every` apart from `from`; returns when.
    pub(super) fn play_out(
        &self,
        from: DateTime<Utc>,
        every: Duration,
    ) -> Result<DateTime<Utc>, String> {
        let mut at = from;
        for _ in 0..4 * FAILURE_THRESHOLD + 8 {
            at += every;
            let lines = {
                let mut state = self.state();
                if state
                    .primary()
                    .is_none_or(|d| d.rollout != RolloutState::InProgress)
                {
                    return Ok(at);
                }
                state.step(at, every * 3 / 4)
            };
            moto_calls::put_lines(&self.moto, &self.needs.log_group, &lines)?;
        }
        Err("the rollout never ended".into())
    }
}
