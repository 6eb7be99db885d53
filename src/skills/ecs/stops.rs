//! Why an ECS task stopped, read by the taxonomy ECS documents for stopped reasons
//! ("Amazon ECS stopped task error messages" in the ECS developer guide), together with the
//! task's stop code and its containers' exit codes — not by the words a reason happens to
//! contain. `ResourceInitializationError: unable to pull secrets or registry auth: …` says
//! "secrets" whichever of the two failed; what failed is named further in.

use aws_sdk_ecs::types::Task;

/// What stopped a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopCause {
    /// `CannotPullContainerError` / `CannotPullImageManifestError`: the image itself (a tag
    /// or repository that does not exist, access denied, the registry unreachable).
    ImagePull,
    /// `ResourceInitializationError` while getting registry credentials before the pull
    /// (`unable to retrieve ecr registry auth`): the task execution role, or the path to ECR.
    RegistryAuth,
    /// `ResourceInitializationError` while fetching the task definition's secrets or
    /// parameters (Secrets Manager, SSM).
    SecretFetch,
    /// `ResourceInitializationError` while setting up the log driver (`failed to validate
    /// logger args`, a log group that does not exist).
    LogDriver,
    /// `ResourceInitializationError` that is about the network: an ENI that could not be
    /// attached or a service endpoint that could not be reached from the task's subnet.
    Network,
    /// `OutOfMemoryError`, `OOMKilled`, or exit 137 with a memory reason.
    OutOfMemory,
    /// The scheduler stopped it for failing ELB or container health checks (exit 143).
    HealthCheck,
    /// The essential container exited by itself with a non-zero code.
    Crashed(i32),
    /// `TaskFailedToStart` for a reason not listed above (capacity, placement, agent).
    FailedToStart,
    /// Scaled in, replaced by a deployment, stopped by a person, a Spot interruption, or a
    /// container that exited 0.
    Deliberate,
    /// A stop the taxonomy does not name.
    Other,
}

impl StopCause {
    /// Reads a stopped task: its stop code (`TaskFailedToStart`, …), its stopped reason,
    /// and each container's `(exit code, reason)`.
    pub fn read(stop_code: &str, reason: &str, containers: &[(Option<i32>, Option<&str>)]) -> Self {
        if let Some(cause) = Self::from_reason(reason).or_else(|| {
            containers
                .iter()
                .find_map(|(_, r)| r.and_then(Self::from_reason))
        }) {
            return cause;
        }
        let deliberate = matches!(
            stop_code,
            "ServiceSchedulerInitiated"
                | "UserInitiated"
                | "SpotInterruption"
                | "TerminationNotice"
        );
        // 143 is SIGTERM: what the scheduler sends to tasks it replaces or scales in.
        let exit = containers
            .iter()
            .filter_map(|(code, _)| *code)
            .find(|&c| c != 0 && !(deliberate && c == 143));
        match exit {
            Some(137) => {
                let memory = containers
                    .iter()
                    .any(|(_, r)| r.is_some_and(|r| r.to_ascii_lowercase().contains("memory")));
                if memory {
                    Self::OutOfMemory
                } else {
                    Self::Crashed(137)
                }
            }
            Some(code) => Self::Crashed(code),
            None if deliberate => Self::Deliberate,
            None if stop_code == "TaskFailedToStart" => Self::FailedToStart,
            // An essential container that exits 0 still ends a task meant to keep running.
            None if stop_code == "EssentialContainerExited"
                || reason.contains("Essential container in task exited") =>
            {
                Self::Crashed(0)
            }
            None => Self::Other,
        }
    }

    /// The cause a stopped reason (or a container's reason) names by itself, if any.
    pub fn from_reason(reason: &str) -> Option<Self> {
        let lower = reason.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
        if has(&["cannotpullcontainererror", "cannotpullimagemanifesterror"]) {
            return Some(Self::ImagePull);
        }
        if lower.contains("resourceinitializationerror") {
            return Some(Self::resource_initialization(&lower));
        }
        if has(&[
            "outofmemoryerror",
            "oomkilled",
            "container killed due to memory usage",
        ]) {
            return Some(Self::OutOfMemory);
        }
        if has(&["failed elb health checks", "failed container health checks"]) {
            return Some(Self::HealthCheck);
        }
        None
    }

    /// `ResourceInitializationError` has sub-causes; the part after the common prefix says
    /// which. A registry-auth failure that timed out is still registry auth: the image is
    /// what cannot be fetched, and the summary says the path to ECR is what failed.
    fn resource_initialization(lower: &str) -> Self {
        // "unable to pull secrets or registry auth: …" is the prefix the secrets and the
        // registry sub-causes share: only what follows it says which one failed.
        let rest = lower
            .split_once("secrets or registry auth")
            .map_or(lower, |(_, rest)| rest);
        let has = |words: &[&str]| words.iter().any(|w| rest.contains(w));
        if has(&["registry auth", "getauthorizationtoken"]) {
            return Self::RegistryAuth;
        }
        if has(&[
            "retrieve secret",
            "secrets from ssm",
            "secretsmanager",
            "getsecretvalue",
            "ssm:getparameters",
            "fetch secret",
            "from asm",
        ]) {
            return Self::SecretFetch;
        }
        if has(&[
            "logger",
            "log driver",
            "log group",
            "log stream",
            "createlogstream",
        ]) {
            return Self::LogDriver;
        }
        if has(&[
            " eni",
            "eni:",
            "network interface",
            "subnet",
            "i/o timeout",
            "no route to host",
        ]) {
            return Self::Network;
        }
        Self::FailedToStart
    }

    /// A short name for evidence and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImagePull => "image pull",
            Self::RegistryAuth => "registry auth",
            Self::SecretFetch => "secrets",
            Self::LogDriver => "log driver",
            Self::Network => "network",
            Self::OutOfMemory => "out of memory",
            Self::HealthCheck => "health checks",
            Self::Crashed(_) => "exited",
            Self::FailedToStart => "failed to start",
            Self::Deliberate => "deliberate",
            Self::Other => "other",
        }
    }

    /// Whether something went wrong (a deliberate stop did not).
    pub fn is_failure(self) -> bool {
        !matches!(self, Self::Deliberate)
    }
}

/// Why a task stopped, by ECS's taxonomy (see [`stops`]).
pub(super) fn cause(task: &Task) -> StopCause {
    let containers: Vec<(Option<i32>, Option<&str>)> = task
        .containers()
        .iter()
        .map(|c| (c.exit_code(), c.reason()))
        .collect();
    StopCause::read(
        task.stop_code().map(|c| c.as_str()).unwrap_or_default(),
        task.stopped_reason().unwrap_or_default(),
        &containers,
    )
}

/// Stopped tasks counted by cause: the metrics the rules read before any text.
#[derive(Default)]
pub(super) struct StopReport {
    pub(super) failed: usize,
    pub(super) oom_kills: usize,
    pub(super) exit_137: usize,
    pub(super) image_pull_failures: usize,
    pub(super) registry_auth_failures: usize,
    pub(super) secret_fetch_failures: usize,
    pub(super) log_driver_failures: usize,
    pub(super) network_failures: usize,
    pub(super) health_check_stops: usize,
    pub(super) crashes: usize,
    /// The exit code most crashed tasks ended with.
    pub(super) crash_exit_code: Option<i32>,
}

impl StopReport {
    pub(super) fn of(tasks: &[Task]) -> StopReport {
        let mut r = StopReport::default();
        let mut exits: Vec<i32> = Vec::new();
        for task in tasks {
            let cause = cause(task);
            r.failed += usize::from(cause.is_failure());
            r.exit_137 += task
                .containers()
                .iter()
                .filter(|c| c.exit_code() == Some(137))
                .count();
            match cause {
                StopCause::OutOfMemory => {
                    let containers = task
                        .containers()
                        .iter()
                        .filter(|c| c.reason().and_then(StopCause::from_reason) == Some(cause))
                        .count();
                    r.oom_kills += containers.max(1);
                }
                StopCause::ImagePull => r.image_pull_failures += 1,
                StopCause::RegistryAuth => r.registry_auth_failures += 1,
                StopCause::SecretFetch => r.secret_fetch_failures += 1,
                StopCause::LogDriver => r.log_driver_failures += 1,
                StopCause::Network => r.network_failures += 1,
                StopCause::HealthCheck => r.health_check_stops += 1,
                StopCause::Crashed(code) => {
                    r.crashes += 1;
                    exits.push(code);
                }
                StopCause::FailedToStart | StopCause::Deliberate | StopCause::Other => {}
            }
        }
        r.crash_exit_code = exits
            .iter()
            .copied()
            .max_by_key(|c| exits.iter().filter(|e| *e == c).count());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::StopCause;

    #[test]
    fn registry_auth_is_not_a_secret_because_the_prefix_says_secrets() {
        let r = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/ecsTaskExecutionRole/abc is not authorized to perform: ecr:GetAuthorizationToken on resource: *";
        assert_eq!(StopCause::from_reason(r), Some(StopCause::RegistryAuth));
        let s = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 5 time(s): failed to fetch secret arn:aws:secretsmanager:us-east-1:123456789012:secret:payments/STRIPE_KEY-Ab12Cd from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret.";
        assert_eq!(StopCause::from_reason(s), Some(StopCause::SecretFetch));
    }

    #[test]
    fn exit_codes_decide_when_the_reason_names_nothing() {
        let read = |code, exit| {
            StopCause::read(code, "Essential container in task exited", &[(exit, None)])
        };
        assert_eq!(
            read("EssentialContainerExited", Some(1)),
            StopCause::Crashed(1)
        );
        assert_eq!(
            read("ServiceSchedulerInitiated", Some(143)),
            StopCause::Deliberate
        );
        assert_eq!(
            read("EssentialContainerExited", Some(0)),
            StopCause::Crashed(0)
        );
        assert_eq!(
            StopCause::read(
                "EssentialContainerExited",
                "Essential container in task exited",
                &[(
                    Some(137),
                    Some("OutOfMemoryError: Container killed due to memory usage")
                )]
            ),
            StopCause::OutOfMemory
        );
    }
}
