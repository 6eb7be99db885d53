//! What a failure looks like from outside: how ECS records the task that stopped (stop code,
//! stopped reason, each container's exit code and reason, as "Amazon ECS stopped task error
//! messages" in the ECS developer guide words them) and what the container printed first.

use super::outcome::{Failure, ServiceNeeds};

/// How a task ended, in DescribeTasks' terms.
#[derive(Debug, Clone)]
pub struct Stop {
    pub stop_code: &'static str,
    pub reason: String,
    /// The essential container's exit code (none when it never started) and reason.
    pub exit_code: Option<i32>,
    pub container_reason: Option<String>,
}

/// The load balancer target group the service's tasks register with.
pub fn target_group(service: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:{}:{}:targetgroup/{service}-tg/6d0ecf831eec9f09",
        super::REGION,
        super::ACCOUNT
    )
}

/// The stop, and the lines the container printed (one CloudWatch event each).
pub fn of(failure: &Failure, needs: &ServiceNeeds) -> (Stop, Vec<String>) {
    let service = &needs.service;
    let exited = |code: i32, reason: Option<String>| Stop {
        stop_code: "EssentialContainerExited",
        reason: "Essential container in task exited".into(),
        exit_code: Some(code),
        container_reason: reason,
    };
    let starting = format!("INFO {service} starting");
    match failure {
        Failure::ImagePull { image } => (
            Stop {
                stop_code: "TaskFailedToStart",
                reason: format!(
                    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image}: {image}: not found"
                ),
                exit_code: None,
                container_reason: None,
            },
            Vec::new(),
        ),
        Failure::SecretFetch { value_from } => (
            Stop {
                stop_code: "TaskFailedToStart",
                reason: format!(
                    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret {value_from} from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret."
                ),
                exit_code: None,
                container_reason: None,
            },
            Vec::new(),
        ),
        Failure::MissingVariable { name } => (
            exited(1, None),
            vec![
                starting,
                format!("Error: missing required environment variable {name}"),
            ],
        ),
        Failure::Crash { path, line_no } => {
            (exited(1, None), vec![starting, stack_trace(path, *line_no)])
        }
        Failure::OutOfMemory { given_mib, .. } => (
            exited(
                137,
                Some("OutOfMemoryError: Container killed due to memory usage".into()),
            ),
            vec![
                format!("INFO {service} listening on :8080"),
                "INFO settlement: loading batch 2026-11-24 (1,204,331 rows) into memory".into(),
                format!(
                    "memory allocation of {} bytes failed",
                    u64::from(*given_mib) * 1024 * 1024
                ),
            ],
        ),
        Failure::HealthChecks { startup_s, .. } => (
            failed_health_checks(service),
            vec![
                format!("INFO {service} starting: warming caches (about {startup_s} s)"),
                "WARN GET /health 503 (not ready yet)".into(),
                "INFO received SIGTERM, shutting down".into(),
            ],
        ),
        Failure::NotReady { reason } => (
            failed_health_checks(service),
            vec![
                format!("INFO {service} listening on :8080"),
                format!("ERROR readiness: {reason}: not ready"),
                "WARN GET /health 503 (not ready)".into(),
                "INFO received SIGTERM, shutting down".into(),
            ],
        ),
    }
}

/// The load balancer gave up on the task: ECS stops it (SIGTERM, exit 143).
fn failed_health_checks(service: &str) -> Stop {
    Stop {
        stop_code: "ServiceSchedulerInitiated",
        reason: format!(
            "Task failed ELB health checks in (target-group {})",
            target_group(service)
        ),
        exit_code: Some(143),
        container_reason: None,
    }
}

/// The service event ECS records for the stop, when it records one.
pub fn event(failure: &Failure, needs: &ServiceNeeds) -> Option<String> {
    matches!(
        failure,
        Failure::HealthChecks { .. } | Failure::NotReady { .. }
    )
    .then(|| {
        format!(
            "(service {}) (port 8080) is unhealthy in (target-group {}) due to (reason Health checks failed with these codes: [503]).",
            needs.service,
            target_group(&needs.service)
        )
    })
}

/// The trace the runtime prints when the bug line runs, naming the file and line: a Rust
/// panic, a Python traceback or a Node error, by the file's extension.
fn stack_trace(path: &str, line_no: usize) -> String {
    if path.ends_with(".rs") {
        format!(
            "thread 'main' panicked at {path}:{line_no}:17:\ncalled `Option::unwrap()` on a `None` value\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"
        )
    } else if path.ends_with(".py") {
        format!(
            "Traceback (most recent call last):\n  File \"/app/main.py\", line 8, in <module>\n    start()\n  File \"/app/{path}\", line {line_no}, in start\n    rate = rates[\"EUR\"]\nKeyError: 'EUR'"
        )
    } else {
        format!(
            "TypeError: Cannot read properties of undefined (reading 'EUR')\n    at start (/app/{path}:{line_no}:17)\n    at Object.<anonymous> (/app/index.js:8:1)"
        )
    }
}

/// What a healthy task prints while it starts and serves.
pub fn healthy_lines(needs: &ServiceNeeds) -> Vec<String> {
    vec![
        format!("INFO {} listening on :8080", needs.service),
        "INFO GET /health 200 2ms".into(),
    ]
}
