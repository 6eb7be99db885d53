//! The world's service in the shapes the ECS API reference documents (awsJson1.1, timestamps
//! as epoch seconds): `Service` with `deployments[]` and `events[]` for DescribeServices and
//! UpdateService, `Task` for DescribeTasks.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::rollout::{Service, Task};
use super::{ACCOUNT, REGION};

/// ECS lists at most this many events per service.
const MAX_EVENTS: usize = 100;

pub fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

pub fn arn(kind: &str, rest: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:{kind}/{rest}")
}

pub fn task_arn(cluster: &str, task: &Task) -> String {
    arn("task", &format!("{cluster}/{}", task.id))
}

/// Whether a request's `cluster` (a name or an ARN) is this cluster.
pub fn names_cluster(value: &Value, cluster: &str) -> bool {
    value
        .as_str()
        .is_some_and(|v| v == cluster || v == arn("cluster", cluster))
}

/// Whether a request's service (a name or an ARN) is this service.
pub fn names_service(value: &Value, cluster: &str, service: &str) -> bool {
    value
        .as_str()
        .is_some_and(|v| v == service || v == arn("service", &format!("{cluster}/{service}")))
}

/// The `Service` object.
pub fn service(s: &Service) -> Value {
    let n = &s.needs;
    let deployments: Vec<Value> = s
        .deployments
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({
                "id": d.id,
                "status": if i == 0 { "PRIMARY" } else { "ACTIVE" },
                "taskDefinition": d.revision.arn,
                "desiredCount": d.desired,
                "runningCount": d.running,
                "pendingCount": d.pending,
                "failedTasks": d.failed_tasks,
                "createdAt": epoch(d.created_at),
                "updatedAt": epoch(d.updated_at),
                "launchType": "FARGATE",
                "platformVersion": "1.4.0",
                "rolloutState": d.rollout.as_str(),
                "rolloutStateReason": d.reason,
            })
        })
        .collect();
    let events: Vec<Value> = s
        .events
        .iter()
        .enumerate()
        .rev()
        .take(MAX_EVENTS)
        .map(|(i, (at, message))| {
            json!({"id": format!("5f8c1a2e-0000-4000-8000-{i:012}"), "createdAt": epoch(*at), "message": message})
        })
        .collect();
    let running: u32 = s.deployments.iter().map(|d| d.running).sum();
    let pending: u32 = s.deployments.iter().map(|d| d.pending).sum();
    let task_definition = s.primary().map(|d| d.revision.arn.clone());
    json!({
        "serviceArn": arn("service", &format!("{}/{}", n.cluster, n.service)),
        "serviceName": n.service,
        "clusterArn": arn("cluster", &n.cluster),
        "loadBalancers": [{
            "targetGroupArn": super::symptoms::target_group(&n.service),
            "containerName": s.primary().map(|d| d.revision.deployed.container.clone()),
            "containerPort": 8080
        }],
        "status": "ACTIVE",
        "desiredCount": n.desired,
        "runningCount": running,
        "pendingCount": pending,
        "launchType": "FARGATE",
        "taskDefinition": task_definition,
        "healthCheckGracePeriodSeconds": s.grace_s,
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": true, "rollback": s.rollback},
            "maximumPercent": 100,
            "minimumHealthyPercent": 0
        },
        "deployments": deployments,
        "events": events,
        "createdAt": s.deployments.last().map(|d| epoch(d.created_at)),
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"}
    })
}

/// The `Task` object.
pub fn task(s: &Service, t: &Task) -> Value {
    let cluster = &s.needs.cluster;
    let task_arn = task_arn(cluster, t);
    let (last, stopped) = match &t.stopped {
        Some(stop) => ("STOPPED", Some(stop)),
        None if t.started => ("RUNNING", None),
        None => ("PENDING", None),
    };
    let mut container = json!({
        "containerArn": format!("{task_arn}/{}", t.container),
        "taskArn": task_arn,
        "name": t.container,
        "image": t.image,
        "lastStatus": last,
        "healthStatus": if last == "RUNNING" { "HEALTHY" } else { "UNKNOWN" }
    });
    let mut task = json!({
        "availabilityZone": "us-east-1a",
        "clusterArn": arn("cluster", cluster),
        "containers": [],
        "cpu": "512",
        "createdAt": epoch(t.created_at),
        "desiredStatus": if last == "STOPPED" { "STOPPED" } else { "RUNNING" },
        "group": format!("service:{}", s.needs.service),
        "lastStatus": last,
        "launchType": "FARGATE",
        "startedBy": t.deployment,
        "taskArn": task_arn,
        "taskDefinitionArn": t.task_definition,
        "version": 4
    });
    if let Some(memory) = t.memory_mib {
        task["memory"] = json!(memory.to_string());
    }
    if let Some((at, stop)) = stopped {
        if let Some(code) = stop.exit_code {
            container["exitCode"] = json!(code);
            task["startedAt"] = json!(epoch(t.created_at));
        }
        if let Some(reason) = &stop.container_reason {
            container["reason"] = json!(reason);
        }
        task["stopCode"] = json!(stop.stop_code);
        task["stoppedReason"] = json!(stop.reason);
        task["stoppingAt"] = json!(epoch(*at));
        task["stoppedAt"] = json!(epoch(*at));
    } else if t.started {
        task["startedAt"] = json!(epoch(t.created_at));
    }
    task["containers"] = json!([container]);
    task
}
