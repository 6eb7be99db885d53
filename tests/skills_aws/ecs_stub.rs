//! ECS responses for the states moto cannot make, shaped as the ECS API reference documents
//! DescribeServices, ListTasks, DescribeTasks and DescribeTaskDefinition (awsJson1.1,
//! timestamps as epoch seconds), and the stub routes that serve them.
//!
//! Why not moto: its ECS never launches a service's tasks, its containers always exit 0,
//! service `events` stay empty, rollouts never fail, and `ListTasks` ignores `serviceName`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::support::aws_stub::Reply;
use crate::support::moto::{ACCOUNT, REGION};
use crate::{aws, minutes_ago};

pub const ECS: &str = "AmazonEC2ContainerServiceV20141113";

pub fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

pub fn arn(kind: &str, rest: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:{kind}/{rest}")
}

pub fn deployment(
    id: &str,
    status: &str,
    revision: u32,
    counts: (u32, u32, u32),
    failed: u32,
    rollout: (&str, &str),
    at: DateTime<Utc>,
) -> Value {
    json!({
        "id": id,
        "status": status,
        "taskDefinition": arn("task-definition", &format!("payments-api:{revision}")),
        "desiredCount": counts.0,
        "runningCount": counts.1,
        "pendingCount": counts.2,
        "failedTasks": failed,
        "createdAt": epoch(at),
        "updatedAt": epoch(at + chrono::Duration::seconds(90)),
        "launchType": "FARGATE",
        "platformVersion": "1.4.0",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0a1b2c3d"], "securityGroups": ["sg-0a1b2c3d"], "assignPublicIp": "DISABLED"}},
        "rolloutState": rollout.0,
        "rolloutStateReason": rollout.1,
    })
}

pub fn service(
    cluster: &str,
    counts: (u32, u32, u32),
    deployments: Vec<Value>,
    events: Vec<(DateTime<Utc>, &str)>,
) -> Value {
    let events: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, (at, message))| json!({"id": format!("5f8c1a2e-0000-4000-8000-00000000000{i}"), "createdAt": epoch(*at), "message": message}))
        .collect();
    json!({
        "services": [{
            "serviceArn": arn("service", &format!("{cluster}/payments-api")),
            "serviceName": "payments-api",
            "clusterArn": arn("cluster", cluster),
            "loadBalancers": [],
            "serviceRegistries": [],
            "status": "ACTIVE",
            "desiredCount": counts.0,
            "runningCount": counts.1,
            "pendingCount": counts.2,
            "launchType": "FARGATE",
            "platformVersion": "LATEST",
            "taskDefinition": arn("task-definition", "payments-api:43"),
            "deploymentConfiguration": {
                "deploymentCircuitBreaker": {"enable": true, "rollback": false},
                "maximumPercent": 200,
                "minimumHealthyPercent": 100
            },
            "deployments": deployments,
            "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"),
            "events": events,
            "createdAt": epoch(minutes_ago(600)),
            "placementConstraints": [],
            "placementStrategy": [],
            "schedulingStrategy": "REPLICA",
            "deploymentController": {"type": "ECS"},
            "createdBy": format!("arn:aws:iam::{ACCOUNT}:role/deployer"),
            "enableECSManagedTags": false,
            "propagateTags": "NONE",
            "enableExecuteCommand": false
        }],
        "failures": []
    })
}

pub struct Stopped<'a> {
    pub id: &'a str,
    pub group: &'a str,
    pub stop_code: &'a str,
    pub reason: &'a str,
    pub at: DateTime<Utc>,
    /// (name, exit code, reason)
    pub containers: Vec<(&'a str, Option<i32>, Option<&'a str>)>,
}

pub fn task(cluster: &str, t: &Stopped) -> Value {
    let task_arn = arn("task", &format!("{cluster}/{}", t.id));
    let containers: Vec<Value> = t
        .containers
        .iter()
        .map(|(name, exit, reason)| {
            let mut c = json!({
                "containerArn": arn("container", &format!("{cluster}/{}/{name}", t.id)),
                "taskArn": task_arn,
                "name": name,
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/payments-api:sha-9f8e7d",
                "lastStatus": "STOPPED",
                "networkInterfaces": [],
                "healthStatus": "UNKNOWN",
                "cpu": "0"
            });
            if let Some(exit) = exit {
                c["exitCode"] = json!(exit);
            }
            if let Some(reason) = reason {
                c["reason"] = json!(reason);
            }
            c
        })
        .collect();
    json!({
        "attachments": [],
        "availabilityZone": "us-east-1a",
        "clusterArn": arn("cluster", cluster),
        "connectivity": "CONNECTED",
        "containers": containers,
        "cpu": "512",
        "createdAt": epoch(t.at - chrono::Duration::seconds(60)),
        "desiredStatus": "STOPPED",
        "executionStoppedAt": epoch(t.at - chrono::Duration::seconds(2)),
        "group": t.group,
        "healthStatus": "UNKNOWN",
        "lastStatus": "STOPPED",
        "launchType": "FARGATE",
        "memory": "1024",
        "platformVersion": "1.4.0",
        "startedBy": "ecs-svc/4718046393727436785",
        "stopCode": t.stop_code,
        "stoppedAt": epoch(t.at),
        "stoppedReason": t.reason,
        "stoppingAt": epoch(t.at - chrono::Duration::seconds(5)),
        "taskArn": task_arn,
        "taskDefinitionArn": arn("task-definition", "payments-api:43"),
        "version": 4
    })
}

pub fn task_definition() -> Value {
    json!({
        "taskDefinition": {
            "taskDefinitionArn": arn("task-definition", "payments-api:43"),
            "containerDefinitions": [{
                "name": "web",
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/payments-api:sha-9f8e7d",
                "cpu": 0,
                "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
                "essential": true,
                "environment": [
                    {"name": "LOG_LEVEL", "value": "s3cr3t-looking-value-never-shown"},
                    {"name": "PORT", "value": "8080"}
                ],
                "secrets": [{"name": "REDIS_URL", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:payments/REDIS_URL-Ab12Cd"}],
                "mountPoints": [],
                "volumesFrom": []
            }],
            "family": "payments-api",
            "executionRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"),
            "networkMode": "awsvpc",
            "revision": 43,
            "volumes": [],
            "status": "ACTIVE",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "512",
            "memory": "1024",
            "registeredAt": epoch(minutes_ago(20))
        },
        "tags": []
    })
}

/// Scripts the four ECS calls the skill makes for `cluster`.
pub fn script_cluster(cluster: &str, service_body: Value, stopped: Vec<Stopped<'static>>) {
    let stub = &aws().stub;
    stub.on_json(
        &format!("{ECS}.DescribeServices"),
        "cluster",
        cluster,
        move |_| Reply::AwsJson(200, service_body.clone()),
    );
    let tasks: Vec<Value> = stopped.iter().map(|t| task(cluster, t)).collect();
    let arns: Vec<Value> = tasks.iter().map(|t| t["taskArn"].clone()).collect();
    stub.on_json(&format!("{ECS}.ListTasks"), "cluster", cluster, move |_| {
        Reply::AwsJson(200, json!({"taskArns": arns}))
    });
    stub.on_json(
        &format!("{ECS}.DescribeTasks"),
        "cluster",
        cluster,
        move |_| Reply::AwsJson(200, json!({"tasks": tasks, "failures": []})),
    );
    stub.on_json(
        &format!("{ECS}.DescribeTaskDefinition"),
        "taskDefinition",
        &arn("task-definition", "payments-api:43"),
        |_| Reply::AwsJson(200, task_definition()),
    );
}
