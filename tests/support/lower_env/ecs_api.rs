//! The ECS operations the stub answers for the world's service, in front of moto. Why not
//! moto (5.2.5): its UpdateService adds no deployment and never changes `rolloutState`, its
//! services never launch tasks, its containers always exit 0 and its `events` stay empty.
//! Task definitions (Register/DescribeTaskDefinition) and logs stay in moto.
//!
//! Each DescribeServices is time passing: the PRIMARY deployment moves one step.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::ecs_json::{self, names_cluster, names_service};
use super::outcome::ServiceNeeds;
use super::rollout::{Origin, Task};
use super::world::World;
use crate::support::aws_stub::{AwsStub, Call, Reply};

const ECS: &str = "AmazonEC2ContainerServiceV20141113";

fn op(call: &Call, name: &str) -> bool {
    call.target()
        .and_then(|t| t.strip_prefix(ECS))
        .and_then(|t| t.strip_prefix('.'))
        == Some(name)
}

/// A documented ECS error: `__type` and `message`.
fn error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::AwsJson(status, json!({"__type": kind, "message": message}))
}

/// Whether a request (its JSON body) is about the world's service.
type Asks = fn(&ServiceNeeds, &Value) -> bool;
type Answers = fn(&World, &Value) -> Reply;

fn route(stub: &AwsStub, world: &Arc<World>, operation: &'static str, asks: Asks, answer: Answers) {
    let (mine, w) = (world.clone(), world.clone());
    stub.on(
        move |call| op(call, operation) && asks(&mine.needs, &call.json()),
        move |call| answer(&w, &call.json()),
    );
}

pub fn serve(stub: &AwsStub, world: Arc<World>) {
    route(
        stub,
        &world,
        "DescribeServices",
        |n, body| {
            names_cluster(&body["cluster"], &n.cluster)
                && body["services"].as_array().is_some_and(|list| {
                    list.iter()
                        .any(|x| names_service(x, &n.cluster, &n.service))
                })
        },
        |w, _| match w.observe() {
            Ok(service) => Reply::AwsJson(200, json!({"services": [service], "failures": []})),
            Err(why) => error(500, "ServerException", &why),
        },
    );
    route(
        stub,
        &world,
        "ListTasks",
        |n, body| {
            names_cluster(&body["cluster"], &n.cluster)
                && names_service(&body["serviceName"], &n.cluster, &n.service)
        },
        list_tasks,
    );
    route(
        stub,
        &world,
        "DescribeTasks",
        |n, body| {
            let mine = format!("/{}/", n.cluster);
            names_cluster(&body["cluster"], &n.cluster)
                && body["tasks"].as_array().is_some_and(|list| {
                    list.iter()
                        .any(|a| a.as_str().is_some_and(|a| a.contains(&mine)))
                })
        },
        describe_tasks,
    );
    route(
        stub,
        &world,
        "UpdateService",
        |n, body| {
            names_cluster(&body["cluster"], &n.cluster)
                && names_service(&body["service"], &n.cluster, &n.service)
        },
        |w, body| match update_service(w, body) {
            Ok(service) => Reply::AwsJson(200, json!({"service": service})),
            Err(why) => error(400, "ClientException", &why),
        },
    );
}

/// ECS keeps a stopped task visible for about an hour after it stopped.
fn visible(task: &Task, now: DateTime<Utc>) -> bool {
    task.stopped
        .as_ref()
        .is_none_or(|(at, _)| *at >= now - Duration::hours(1))
}

/// ListTasks: the stopped tasks (`desiredStatus: STOPPED`) or the running ones, newest first.
fn list_tasks(world: &World, body: &Value) -> Reply {
    let now = world.now();
    let state = world.state();
    let tasks = if body["desiredStatus"] == "STOPPED" {
        &state.stopped
    } else {
        &state.running
    };
    let arns: Vec<String> = tasks
        .iter()
        .rev()
        .filter(|t| visible(t, now))
        .take(100)
        .map(|t| ecs_json::task_arn(&world.needs.cluster, t))
        .collect();
    Reply::AwsJson(200, json!({"taskArns": arns}))
}

/// DescribeTasks: each asked task by ARN or id; unknown ones are `MISSING` failures.
fn describe_tasks(world: &World, body: &Value) -> Reply {
    let now = world.now();
    let state = world.state();
    let (mut tasks, mut failures) = (Vec::new(), Vec::new());
    for asked in body["tasks"].as_array().into_iter().flatten() {
        let asked = asked.as_str().unwrap_or_default();
        let known = state
            .running
            .iter()
            .chain(&state.stopped)
            .filter(|t| visible(t, now))
            .find(|t| asked == t.id || asked == ecs_json::task_arn(&world.needs.cluster, t));
        match known {
            Some(t) => tasks.push(ecs_json::task(&state, t)),
            None => failures.push(json!({"arn": asked, "reason": "MISSING"})),
        }
    }
    Reply::AwsJson(200, json!({"tasks": tasks, "failures": failures}))
}

/// UpdateService: a new task definition or `forceNewDeployment` starts a deployment whose
/// outcome is computed from the task definition as registered (in moto) and the code that
/// runs now (an ECS API deployment builds nothing).
fn update_service(world: &World, body: &Value) -> Result<Value, String> {
    if let Some(grace) = body["healthCheckGracePeriodSeconds"].as_u64() {
        world.state().grace_s = u32::try_from(grace).map_err(|_| {
            format!("healthCheckGracePeriodSeconds {grace} is out of range (0-2147483647)")
        })?;
    }
    let asked = body["taskDefinition"].as_str().map(str::to_string);
    let force = body["forceNewDeployment"].as_bool().unwrap_or(false);
    let current = world.state().primary().map(|d| d.revision.arn.clone());
    if let Some(name) = asked.or(force.then_some(current).flatten()) {
        let code = world.state().current_code();
        world.begin_from_registered(&name, code, Origin::EcsApi)?;
    }
    Ok(ecs_json::service(&world.state()))
}
