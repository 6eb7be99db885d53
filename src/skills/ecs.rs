//! The `ecs` skill: how a service's rollout went. It reads the service (counts, deployments and
//! their rollout state, the last events), the tasks that stopped since the deploy began (why
//! each stopped, every container's exit code and reason), and the task definition being rolled
//! out (memory, cpu, and the NAMES of its environment variables, never their values).
//!
//! Status: down when nothing runs although tasks are wanted; degraded when fewer run than
//! wanted, a rollout failed, or tasks stopped with errors since the deploy began; else healthy.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use aws_sdk_ecs::types::{DesiredStatus, Service, Task};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use regex::Regex;

use super::aws::{MAX_EVIDENCE_CHARS, aws_cause, clip, utc};
use super::{Evidence, Observation, Skill, SkillContext, Status};
use crate::topology::{CheckTarget, SkillKind};
pub use stops::StopCause;
use stops::{StopReport, cause};

mod stops;

const MAX_EVENTS: usize = 5;
const MAX_TASK_EVIDENCE: usize = 5;

pub struct Ecs;

impl Skill for Ecs {
    fn kind(&self) -> SkillKind {
        SkillKind::Ecs
    }

    fn check<'a>(
        &'a self,
        target: &'a CheckTarget,
        ctx: &'a SkillContext,
    ) -> BoxFuture<'a, anyhow::Result<Observation>> {
        Box::pin(async move {
            match target {
                CheckTarget::Ecs {
                    cluster,
                    service,
                    region,
                } => check_service(cluster, service, region.as_deref(), ctx).await,
                other => Err(super::wrong_target(self.kind(), other)),
            }
        })
    }
}

async fn check_service(
    cluster: &str,
    name: &str,
    region: Option<&str>,
    ctx: &SkillContext,
) -> anyhow::Result<Observation> {
    let client = aws_sdk_ecs::Client::new(&ctx.aws(region).await);
    let described = client
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot describe ECS service {cluster}/{name}: {}",
                aws_cause(&e)
            )
        })?;
    let Some(service) = described.services().first() else {
        let why = described
            .failures()
            .first()
            .map(|f| format!(" ({})", f.reason().unwrap_or("no reason given")))
            .unwrap_or_default();
        anyhow::bail!("ECS service {name} not found in cluster {cluster}{why}");
    };

    let (desired, running, pending) = (
        service.desired_count(),
        service.running_count(),
        service.pending_count(),
    );
    let mut obs = Observation::new(Status::Healthy, String::new())
        .metric("desired", desired.into())
        .metric("running", running.into())
        .metric("pending", pending.into())
        .metric("deployments", service.deployments().len() as f64);
    let mut problems = vec![format!("running {running}/{desired} (pending {pending})")];
    let mut status = Status::Healthy;
    if service.status() == Some("INACTIVE") {
        problems.push("service is INACTIVE (deleted)".into());
        status = Status::Down;
    } else if desired > 0 && running == 0 {
        status = Status::Down;
    } else if running < desired {
        status = Status::Degraded;
    }

    // Deployments: the PRIMARY one is what is being rolled out.
    let (mut rollout_failed, mut in_progress, mut failed_tasks) = (0.0, 0.0, 0.0);
    for d in service.deployments() {
        let state = d.rollout_state().map(|s| s.as_str()).unwrap_or("unknown");
        let primary = d.status() == Some("PRIMARY");
        if primary {
            failed_tasks = f64::from(d.failed_tasks());
            if state == "FAILED" {
                rollout_failed = 1.0;
                problems.push(format!(
                    "rollout FAILED: {}",
                    d.rollout_state_reason().unwrap_or("no reason given")
                ));
            } else if state == "IN_PROGRESS" {
                in_progress = 1.0;
                problems.push("rollout in progress".into());
            }
        }
        let text = format!(
            "{} deployment of {}: rollout {state}{}; running {}/{} pending {}, failed tasks {}",
            d.status().unwrap_or("?"),
            short_arn(d.task_definition().unwrap_or("?")),
            d.rollout_state_reason()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            d.running_count(),
            d.desired_count(),
            d.pending_count(),
            d.failed_tasks(),
        );
        let mut e = Evidence::new(
            format!("ecs:deployment/{}", d.id().unwrap_or("?")),
            clip(&text, MAX_EVIDENCE_CHARS),
        );
        if let Some(at) = d.updated_at().or(d.created_at()).and_then(utc) {
            e = e.at(at);
        }
        obs = obs.evidence(e);
    }
    if rollout_failed > 0.0 && status == Status::Healthy {
        status = Status::Degraded;
    }
    obs = obs
        .metric("rollout_failed", rollout_failed)
        .metric("rollout_in_progress", in_progress)
        .metric("failed_tasks", failed_tasks);

    // The task definition being rolled out: sizes and variable names.
    let task_definition = service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.task_definition())
        .or(service.task_definition());
    let mut variables = BTreeSet::new();
    if let Some(arn) = task_definition {
        match client
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
        {
            Ok(out) => {
                if let Some(td) = out.task_definition() {
                    let (e, memory, cpu) = task_definition_evidence(td, &mut variables);
                    let secrets: usize = td
                        .container_definitions()
                        .iter()
                        .map(|c| c.secrets().len())
                        .sum();
                    obs = obs
                        .evidence(e)
                        .metric("env_vars", variables.len() as f64)
                        .metric("secret_vars", secrets as f64);
                    if let Some(m) = memory {
                        obs = obs.metric("memory_mb", m);
                    }
                    if let Some(c) = cpu {
                        obs = obs.metric("cpu_units", c);
                    }
                }
            }
            Err(e) => {
                let text = format!(
                    "task definition {} not readable: {}",
                    short_arn(arn),
                    aws_cause(&e)
                );
                obs = obs.evidence(Evidence::new("ecs:task-definition", text));
            }
        }
    }

    // Tasks stopped since the deploy began.
    let stopped = match stopped_tasks(&client, cluster, service, ctx.since).await {
        Ok(tasks) => tasks,
        Err(cause) => {
            obs = obs.evidence(Evidence::new(
                "ecs:stopped-tasks",
                format!("stopped tasks not readable: {cause}"),
            ));
            Vec::new()
        }
    };
    let report = StopReport::of(&stopped);
    for (name, n) in [
        ("stopped_tasks", stopped.len()),
        ("stopped_with_errors", report.failed),
        ("oom_kills", report.oom_kills),
        ("exit_137", report.exit_137),
        ("image_pull_failures", report.image_pull_failures),
        ("registry_auth_failures", report.registry_auth_failures),
        ("secret_fetch_failures", report.secret_fetch_failures),
        ("log_driver_failures", report.log_driver_failures),
        ("network_failures", report.network_failures),
        ("health_check_stops", report.health_check_stops),
        ("crashes", report.crashes),
    ] {
        obs = obs.metric(name, n as f64);
    }
    if let Some(code) = report.crash_exit_code {
        obs = obs.metric("crash_exit_code", code.into());
    }
    if report.failed > 0 {
        let mut text = format!(
            "{} tasks stopped with errors since {}",
            report.failed,
            ctx.since.format("%H:%M:%SZ")
        );
        if report.oom_kills > 0 {
            text.push_str(&format!(", {} OOM kills", report.oom_kills));
        }
        if report.exit_137 > 0 {
            text.push_str(&format!(", exit 137 ×{}", report.exit_137));
        }
        for (n, what) in [
            (report.image_pull_failures, "image pull failures"),
            (report.registry_auth_failures, "registry auth failures"),
            (report.secret_fetch_failures, "secret fetch failures"),
            (report.log_driver_failures, "log driver failures"),
            (report.network_failures, "network set-up failures"),
            (report.health_check_stops, "stopped by health checks"),
        ] {
            if n > 0 {
                text.push_str(&format!(", {n} {what}"));
            }
        }
        problems.push(text);
        if status == Status::Healthy {
            status = Status::Degraded;
        }
    }
    for task in stopped
        .iter()
        .filter(|t| cause(t).is_failure())
        .take(MAX_TASK_EVIDENCE)
    {
        obs = obs.evidence(task_evidence(task));
    }
    let mentioned = mentioned_variables(&stopped);
    obs = obs.metric("missing_env_signals", mentioned.len() as f64);
    for var in &mentioned {
        let known = if variables.contains(var.as_str()) {
            "among"
        } else {
            "NOT among"
        };
        let text = format!(
            "a stop reason mentions {var}, which is {known} the task definition's variables"
        );
        obs = obs.evidence(Evidence::new("ecs:missing-env", text));
    }

    // The service's own log, newest first.
    for event in service.events().iter().take(MAX_EVENTS) {
        let mut e = Evidence::new(
            "ecs:event",
            clip(event.message().unwrap_or_default(), MAX_EVIDENCE_CHARS),
        );
        if let Some(at) = event.created_at().and_then(utc) {
            e = e.at(at);
        }
        obs = obs.evidence(e);
    }

    obs.status = status;
    obs.summary = clip(&problems.join("; "), MAX_EVIDENCE_CHARS);
    Ok(obs)
}

/// The service's tasks that stopped at or after `since`, newest first (at most 100: one page).
async fn stopped_tasks(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &Service,
    since: DateTime<Utc>,
) -> Result<Vec<Task>, String> {
    let name = service.service_name().unwrap_or_default();
    let arns = client
        .list_tasks()
        .cluster(cluster)
        .service_name(name)
        .desired_status(DesiredStatus::Stopped)
        .max_results(100)
        .send()
        .await
        .map_err(|e| aws_cause(&e))?
        .task_arns()
        .to_vec();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let described = client
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns))
        .send()
        .await
        .map_err(|e| aws_cause(&e))?;
    let group = format!("service:{name}");
    let mut tasks: Vec<Task> = described
        .tasks()
        .iter()
        // Some ECS stand-ins ignore `serviceName`; the task's group says whose it is.
        .filter(|t| t.group().is_none_or(|g| g == group))
        .filter(|t| stopped_at(t).is_none_or(|at| at >= since))
        .cloned()
        .collect();
    tasks.sort_by_key(|t| std::cmp::Reverse(stopped_at(t)));
    Ok(tasks)
}

fn stopped_at(task: &Task) -> Option<DateTime<Utc>> {
    task.stopped_at()
        .or(task.stopping_at())
        .or(task.created_at())
        .and_then(utc)
}

fn task_evidence(task: &Task) -> Evidence {
    let id = task.task_arn().map(short_arn).unwrap_or("?");
    let mut text = format!(
        "stopped ({}; cause: {}): {}",
        task.stop_code()
            .map(|c| c.as_str())
            .unwrap_or("no stop code"),
        cause(task).as_str(),
        task.stopped_reason().unwrap_or("no reason given")
    );
    for c in task.containers() {
        text.push_str(&format!("; container {}", c.name().unwrap_or("?")));
        match c.exit_code() {
            Some(code) => text.push_str(&format!(" exit {code}")),
            None => text.push_str(" no exit code"),
        }
        if let Some(reason) = c.reason() {
            text.push_str(&format!(" ({reason})"));
        }
    }
    let mut e = Evidence::new(
        format!("ecs:stopped-task/{id}"),
        clip(&text, MAX_EVIDENCE_CHARS),
    );
    if let Some(at) = stopped_at(task) {
        e = e.at(at);
    }
    e
}

/// Memory and cpu of a task definition (task level, else the sum of its containers) and the
/// evidence line listing its variable names, which it also adds to `names`.
fn task_definition_evidence(
    td: &aws_sdk_ecs::types::TaskDefinition,
    names: &mut BTreeSet<String>,
) -> (Evidence, Option<f64>, Option<f64>) {
    let containers = td.container_definitions();
    let memory = td.memory().and_then(|m| m.parse::<f64>().ok()).or_else(|| {
        let sum: i32 = containers
            .iter()
            .filter_map(|c| c.memory().or(c.memory_reservation()))
            .sum();
        (sum > 0).then_some(f64::from(sum))
    });
    let cpu = td.cpu().and_then(|c| c.parse::<f64>().ok()).or_else(|| {
        let sum: i32 = containers.iter().map(|c| c.cpu()).sum();
        (sum > 0).then_some(f64::from(sum))
    });
    let mut plain = BTreeSet::new();
    let mut secret = BTreeSet::new();
    for c in containers {
        plain.extend(
            c.environment()
                .iter()
                .filter_map(|kv| kv.name())
                .map(str::to_string),
        );
        secret.extend(c.secrets().iter().map(|s| s.name().to_string()));
    }
    names.extend(plain.iter().cloned());
    names.extend(secret.iter().cloned());
    let list = |s: &BTreeSet<String>| {
        if s.is_empty() {
            "none".to_string()
        } else {
            s.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    };
    let text = format!(
        "{}: memory {} MiB, cpu {} units; environment variable names: {}; secret names: {}",
        short_arn(td.task_definition_arn().unwrap_or("?")),
        memory.map(|m| m.to_string()).unwrap_or_else(|| "?".into()),
        cpu.map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
        list(&plain),
        list(&secret),
    );
    // Names only, so a long list may exceed the usual clip: cut generously, never mid-value.
    (
        Evidence::new("ecs:task-definition", clip(&text, 4 * MAX_EVIDENCE_CHARS)),
        memory,
        cpu,
    )
}

/// Variable-like names (`DATABASE_URL`) that a stop reason mentions in an environment sense.
fn mentioned_variables(tasks: &[Task]) -> BTreeSet<String> {
    static NAME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b").expect("valid regex"));
    static CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)env|variable|secret|not set|missing|undefined|required|unset")
            .expect("valid regex")
    });
    let reasons = tasks.iter().flat_map(|t| {
        t.stopped_reason()
            .into_iter()
            .chain(t.containers().iter().filter_map(|c| c.reason()))
    });
    reasons
        .filter(|r| CONTEXT.is_match(r))
        .flat_map(|r| {
            NAME.find_iter(r)
                .map(|m| m.as_str().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The last part of an ARN (`…:task-definition/payments-api:42` → `payments-api:42`).
fn short_arn(arn: &str) -> &str {
    arn.rsplit_once('/').map(|(_, tail)| tail).unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{Container, Task, TaskStopCode};

    use super::{StopCause, cause};

    fn stopped_by_scheduler(reason: &str) -> Task {
        Task::builder()
            .stop_code(TaskStopCode::ServiceSchedulerInitiated)
            .stopped_reason(reason)
            .containers(Container::builder().name("app").exit_code(143).build())
            .build()
    }

    #[test]
    fn a_task_stopped_for_failing_health_checks_is_a_failure_but_a_scale_in_is_not() {
        assert_eq!(
            cause(&stopped_by_scheduler(
                "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/payments/abc)"
            )),
            StopCause::HealthCheck
        );
        assert!(
            !cause(&stopped_by_scheduler(
                "Scaling activity initiated by (deployment ecs-svc/1234567890123456789)"
            ))
            .is_failure()
        );
    }
}
