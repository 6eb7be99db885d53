//! An ECS service as the `ecs` skill meets it, answered by the stub in the shapes the ECS API
//! reference documents for DescribeServices, ListTasks, DescribeTasks and
//! DescribeTaskDefinition (awsJson1.1, timestamps as epoch seconds).
//!
//! Why not moto: its ECS never launches a service's tasks (every service reads 0 running), its
//! containers always exit 0, service `events` stay empty and rollouts never fail. Each
//! service is matched by cluster and name, so several can share a cluster.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::support::aws_stub::{AwsStub, Reply};
use crate::support::moto::{ACCOUNT, REGION};

const ECS: &str = "AmazonEC2ContainerServiceV20141113";

fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn arn(kind: &str, rest: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:{kind}/{rest}")
}

/// One rollout of a task definition revision.
pub struct Deployment {
    revision: u32,
    status: &'static str,
    rollout: &'static str,
    reason: String,
    /// desired, running, pending
    counts: (u32, u32, u32),
    failed_tasks: u32,
    at: DateTime<Utc>,
}

impl Deployment {
    /// The deployment being rolled out.
    pub fn primary(revision: u32, rollout: &'static str, reason: &str, at: DateTime<Utc>) -> Self {
        Deployment {
            revision,
            status: "PRIMARY",
            rollout,
            reason: reason.into(),
            counts: (0, 0, 0),
            failed_tasks: 0,
            at,
        }
    }

    /// A rollout the deployment circuit breaker stopped because its tasks failed to start.
    pub fn circuit_broken(revision: u32, at: DateTime<Utc>) -> Self {
        Self::primary(
            revision,
            "FAILED",
            "ECS deployment circuit breaker: tasks failed to start.",
            at,
        )
    }

    /// The previous deployment, still serving while the new one rolls out.
    pub fn previous(revision: u32, running: u32, at: DateTime<Utc>) -> Self {
        Deployment {
            revision,
            status: "ACTIVE",
            rollout: "COMPLETED",
            reason: "ECS deployment completed.".into(),
            counts: (running, running, 0),
            failed_tasks: 0,
            at,
        }
    }

    pub fn counts(mut self, desired: u32, running: u32, pending: u32) -> Self {
        self.counts = (desired, running, pending);
        self
    }

    pub fn failed_tasks(mut self, n: u32) -> Self {
        self.failed_tasks = n;
        self
    }
}

/// A task that stopped: why, and how each container exited.
pub struct Stopped {
    pub stop_code: &'static str,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// (container, exit code, reason)
    pub containers: Vec<(&'static str, Option<i32>, Option<String>)>,
}

impl Stopped {
    /// The essential container exited with `code` (and, for a kill, a reason).
    pub fn exited(at: DateTime<Utc>, code: i32, reason: Option<&str>) -> Self {
        Stopped {
            stop_code: "EssentialContainerExited",
            reason: "Essential container in task exited".into(),
            at,
            containers: vec![("web", Some(code), reason.map(str::to_string))],
        }
    }

    /// The task never started (image, secrets, network).
    pub fn failed_to_start(at: DateTime<Utc>, reason: &str) -> Self {
        Stopped {
            stop_code: "TaskFailedToStart",
            reason: reason.into(),
            at,
            containers: vec![("web", None, None)],
        }
    }
}

pub struct EcsService {
    cluster: String,
    name: String,
    /// desired, running, pending
    counts: (u32, u32, u32),
    deployments: Vec<Deployment>,
    /// Newest first, as ECS lists them.
    events: Vec<(DateTime<Utc>, String)>,
    stopped: Vec<Stopped>,
    revision: u32,
    memory_mb: u32,
    environment: Vec<String>,
    secrets: Vec<String>,
    image: String,
}

/// The load balancer target group the payments-api service registers with.
pub const TARGET_GROUP: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/payments-api-tg/6d0ecf831eec9f09";

impl EcsService {
    /// The events ECS records when the load balancer finds payments-api's targets unhealthy,
    /// `minutes` ago each, with the balancer's `reason`.
    pub fn unhealthy_targets(mut self, minutes: &[i64], reason: &str) -> Self {
        for &at in minutes {
            self = self.event(
                super::minutes_ago(at),
                &format!("(service payments-api) (port 8080) is unhealthy in (target-group {TARGET_GROUP}) due to (reason {reason})."),
            );
        }
        self
    }

    pub fn new(cluster: &str, name: &str) -> Self {
        EcsService {
            cluster: cluster.into(),
            name: name.into(),
            counts: (0, 0, 0),
            deployments: Vec::new(),
            events: Vec::new(),
            stopped: Vec::new(),
            revision: 1,
            memory_mb: 512,
            environment: Vec::new(),
            secrets: Vec::new(),
            image: format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}:sha-9f8e7d1"),
        }
    }

    /// A service that rolled `revision` out at `at` and has run `count` tasks steadily since.
    pub fn steady(cluster: &str, name: &str, revision: u32, count: u32, at: DateTime<Utc>) -> Self {
        EcsService::new(cluster, name)
            .counts(count, count, 0)
            .deployment(
                Deployment::primary(revision, "COMPLETED", "ECS deployment completed.", at)
                    .counts(count, count, 0),
            )
            .event(
                at + chrono::Duration::minutes(3),
                &format!("(service {name}) has reached a steady state."),
            )
    }

    /// The rolling deploy at `at` replaced `n` tasks of the previous revision: the scheduler
    /// stopped them (SIGTERM, exit 143), as every successful deploy does.
    pub fn replaced(mut self, n: u32, at: DateTime<Utc>) -> Self {
        for i in 0..n {
            self.stopped.push(Stopped {
                stop_code: "ServiceSchedulerInitiated",
                reason: "Scaling activity initiated by (deployment ecs-svc/4718046393727436785)"
                    .into(),
                at: at + chrono::Duration::seconds(120 + 30 * i64::from(i)),
                containers: vec![("web", Some(143), None)],
            });
        }
        self
    }

    pub fn counts(mut self, desired: u32, running: u32, pending: u32) -> Self {
        self.counts = (desired, running, pending);
        self
    }

    pub fn deployment(mut self, d: Deployment) -> Self {
        if d.status == "PRIMARY" {
            self.revision = d.revision;
        }
        self.deployments.push(d);
        self
    }

    /// A service event (`(service x) has started 1 tasks…`); kept newest first.
    pub fn event(mut self, at: DateTime<Utc>, message: &str) -> Self {
        self.events.push((at, message.into()));
        self.events.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
        self
    }

    pub fn stopped(mut self, task: Stopped) -> Self {
        self.stopped.push(task);
        self
    }

    /// The task definition being rolled out: memory, and the NAMES of its variables.
    pub fn task_definition(
        mut self,
        memory_mb: u32,
        environment: &[&str],
        secrets: &[&str],
    ) -> Self {
        self.memory_mb = memory_mb;
        self.environment = environment.iter().map(|s| s.to_string()).collect();
        self.secrets = secrets.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn image(mut self, image: &str) -> Self {
        self.image = image.into();
        self
    }

    fn td_arn(&self) -> String {
        arn(
            "task-definition",
            &format!("{}:{}", self.name, self.revision),
        )
    }

    fn task_arn(&self, i: usize) -> String {
        let id: String = format!(
            "{:x}",
            md5_like(&format!("{}/{}/{i}", self.cluster, self.name))
        );
        arn("task", &format!("{}/{id}", self.cluster))
    }

    fn service_json(&self) -> Value {
        let deployments: Vec<Value> = self
            .deployments
            .iter()
            .enumerate()
            .map(|(i, d)| {
                json!({
                    "id": format!("ecs-svc/{}", 4718046393727436785u64 - i as u64 * 977),
                    "status": d.status,
                    "taskDefinition": arn("task-definition", &format!("{}:{}", self.name, d.revision)),
                    "desiredCount": d.counts.0,
                    "runningCount": d.counts.1,
                    "pendingCount": d.counts.2,
                    "failedTasks": d.failed_tasks,
                    "createdAt": epoch(d.at),
                    "updatedAt": epoch(d.at + chrono::Duration::seconds(90)),
                    "launchType": "FARGATE",
                    "platformVersion": "1.4.0",
                    "rolloutState": d.rollout,
                    "rolloutStateReason": d.reason,
                })
            })
            .collect();
        let events: Vec<Value> = self
            .events
            .iter()
            .enumerate()
            .map(|(i, (at, message))| {
                json!({"id": format!("5f8c1a2e-0000-4000-8000-{i:012}"), "createdAt": epoch(*at), "message": message})
            })
            .collect();
        json!({
            "services": [{
                "serviceArn": arn("service", &format!("{}/{}", self.cluster, self.name)),
                "serviceName": self.name,
                "clusterArn": arn("cluster", &self.cluster),
                "loadBalancers": [],
                "status": "ACTIVE",
                "desiredCount": self.counts.0,
                "runningCount": self.counts.1,
                "pendingCount": self.counts.2,
                "launchType": "FARGATE",
                "taskDefinition": self.td_arn(),
                "deploymentConfiguration": {
                    "deploymentCircuitBreaker": {"enable": true, "rollback": false},
                    "maximumPercent": 200,
                    "minimumHealthyPercent": 100
                },
                "deployments": deployments,
                "events": events,
                "schedulingStrategy": "REPLICA",
                "deploymentController": {"type": "ECS"}
            }],
            "failures": []
        })
    }

    fn task_json(&self, i: usize, t: &Stopped) -> Value {
        let task_arn = self.task_arn(i);
        let containers: Vec<Value> = t
            .containers
            .iter()
            .map(|(name, exit, reason)| {
                let mut c = json!({
                    "containerArn": format!("{task_arn}/{name}"),
                    "taskArn": task_arn,
                    "name": name,
                    "image": self.image,
                    "lastStatus": "STOPPED",
                    "healthStatus": "UNKNOWN"
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
            "availabilityZone": "us-east-1a",
            "clusterArn": arn("cluster", &self.cluster),
            "containers": containers,
            "cpu": "512",
            "memory": self.memory_mb.to_string(),
            "createdAt": epoch(t.at - chrono::Duration::seconds(60)),
            "desiredStatus": "STOPPED",
            "group": format!("service:{}", self.name),
            "lastStatus": "STOPPED",
            "launchType": "FARGATE",
            "stopCode": t.stop_code,
            "stoppedAt": epoch(t.at),
            "stoppedReason": t.reason,
            "stoppingAt": epoch(t.at - chrono::Duration::seconds(5)),
            "taskArn": task_arn,
            "taskDefinitionArn": self.td_arn(),
            "version": 4
        })
    }

    fn task_definition_json(&self) -> Value {
        let environment: Vec<Value> = self
            .environment
            .iter()
            .map(|n| json!({"name": n, "value": format!("value-of-{n}-never-shown")}))
            .collect();
        let secrets: Vec<Value> = self
            .secrets
            .iter()
            .map(|n| json!({"name": n, "valueFrom": format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{}/{n}-Ab12Cd", self.name)}))
            .collect();
        json!({
            "taskDefinition": {
                "taskDefinitionArn": self.td_arn(),
                "family": self.name,
                "revision": self.revision,
                "containerDefinitions": [{
                    "name": "web",
                    "image": self.image,
                    "essential": true,
                    "environment": environment,
                    "secrets": secrets
                }],
                "networkMode": "awsvpc",
                "status": "ACTIVE",
                "requiresCompatibilities": ["FARGATE"],
                "cpu": "512",
                "memory": self.memory_mb.to_string()
            },
            "tags": []
        })
    }

    /// Registers the four calls the `ecs` skill makes for this service.
    pub fn serve(self, stub: &AwsStub) {
        let op = |name: &str| format!("{ECS}.{name}");
        let (cluster, name) = (self.cluster.clone(), self.name.clone());
        let service = self.service_json();
        let (c, n) = (cluster.clone(), name.clone());
        let describe_services = op("DescribeServices");
        stub.on(
            move |call| {
                let body = call.json();
                call.target() == Some(describe_services.as_str())
                    && body["cluster"] == c.as_str()
                    && body["services"]
                        .as_array()
                        .is_some_and(|s| s.iter().any(|x| x == n.as_str()))
            },
            move |_| Reply::AwsJson(200, service.clone()),
        );
        let tasks: Vec<Value> = self
            .stopped
            .iter()
            .enumerate()
            .map(|(i, t)| self.task_json(i, t))
            .collect();
        let arns: Vec<String> = (0..tasks.len()).map(|i| self.task_arn(i)).collect();
        let (c, n, listed) = (cluster.clone(), name.clone(), arns.clone());
        let list_tasks = op("ListTasks");
        stub.on(
            move |call| {
                let body = call.json();
                call.target() == Some(list_tasks.as_str())
                    && body["cluster"] == c.as_str()
                    && body["serviceName"] == n.as_str()
            },
            move |_| Reply::AwsJson(200, json!({"taskArns": listed})),
        );
        let (c, mine) = (cluster.clone(), arns);
        let describe_tasks = op("DescribeTasks");
        stub.on(
            move |call| {
                let body = call.json();
                call.target() == Some(describe_tasks.as_str())
                    && body["cluster"] == c.as_str()
                    && body["tasks"]
                        .as_array()
                        .and_then(|t| t.first())
                        .and_then(Value::as_str)
                        .is_some_and(|first| mine.iter().any(|m| m == first))
            },
            move |_| Reply::AwsJson(200, json!({"tasks": tasks, "failures": []})),
        );
        let td = self.task_definition_json();
        stub.on_json(
            &op("DescribeTaskDefinition"),
            "taskDefinition",
            &self.td_arn(),
            move |_| Reply::AwsJson(200, td.clone()),
        );
    }
}

/// A 128-bit task id from a name: ECS task ids are 32 hex digits.
fn md5_like(text: &str) -> u128 {
    // FNV-1a, widened: stable, and enough to tell tasks apart.
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in text.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h | (1 << 127)
}
