//! The service's deployments, played as ECS plays a rolling update with the deployment
//! circuit breaker on (minimumHealthyPercent 0: the old tasks stop before the new ones start,
//! as a staging service saves money). Each `step` is time passing: a healthy deployment goes
//! pending → running → COMPLETED; a failing one launches a task that stops, until
//! `FAILURE_THRESHOLD` consecutive failures turn it FAILED (and, with rollback on, roll back
//! to the last completed revision within the same step, so that no one sees the failure). Stopped tasks stay listed, as real ECS keeps
//! them for about an hour.

use chrono::{DateTime, Duration, Utc};

use super::outcome::{Deployed, Failure, ServiceNeeds, Verdict, judge};
use super::symptoms::{self, Stop};

/// The circuit breaker's threshold for a small service: ECS uses half the desired count,
/// at least 3 and at most 200.
pub const FAILURE_THRESHOLD: u32 = 3;

/// A registered task definition revision and the code built beside it.
#[derive(Debug, Clone)]
pub struct Revision {
    pub arn: String,
    pub deployed: Deployed,
    /// The bug file's content in the deployed build, when the service has a bug.
    pub code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutState {
    InProgress,
    Completed,
    Failed,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }
}

/// Who started a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The deploy job of a green CI run at this commit.
    Push { sha: String },
    /// UpdateService through the ECS API (Fixpoint's `allow: [ecs_api]` path).
    EcsApi,
    /// The circuit breaker, rolling back to the last completed deployment.
    Rollback,
    /// The world's history before the test began.
    History,
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    pub revision: Revision,
    pub origin: Origin,
    pub verdict: Verdict,
    pub rollout: RolloutState,
    pub reason: String,
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    pub failed_tasks: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    steps: u32,
}

/// A task of the service, running or stopped.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub deployment: String,
    pub task_definition: String,
    pub memory_mib: Option<u32>,
    pub image: String,
    pub container: String,
    pub created_at: DateTime<Utc>,
    /// Whether it got past PENDING.
    pub started: bool,
    /// `None` while pending or running.
    pub stopped: Option<(DateTime<Utc>, Stop)>,
}

/// One line the service printed, for CloudWatch.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub stream: String,
    pub at: DateTime<Utc>,
    pub text: String,
}

pub struct Service {
    pub needs: ServiceNeeds,
    /// Newest first; the first is the PRIMARY deployment.
    pub deployments: Vec<Deployment>,
    pub running: Vec<Task>,
    /// Newest last.
    pub stopped: Vec<Task>,
    /// Newest last (DescribeServices lists them newest first).
    pub events: Vec<(DateTime<Utc>, String)>,
    /// `healthCheckGracePeriodSeconds`, set by UpdateService.
    pub grace_s: u32,
    /// The circuit breaker rolls a failed deployment back.
    pub rollback: bool,
    /// Every new deployment fails as the first failing one did, whatever it deploys.
    pub never_heals: bool,
    first_failure: Option<Failure>,
    last_completed: Option<(String, Revision)>,
    counter: u64,
}

impl Service {
    pub fn new(needs: ServiceNeeds) -> Self {
        Service {
            needs,
            deployments: Vec::new(),
            running: Vec::new(),
            stopped: Vec::new(),
            events: Vec::new(),
            grace_s: 0,
            rollback: false,
            never_heals: false,
            first_failure: None,
            last_completed: None,
            counter: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    pub fn primary(&self) -> Option<&Deployment> {
        self.deployments.first()
    }

    /// Whether the service answers its health check: a completed PRIMARY serves.
    pub fn healthy(&self) -> bool {
        self.primary()
            .is_some_and(|d| d.rollout == RolloutState::Completed)
    }

    /// The running revision's code, which a deployment through the ECS API keeps.
    pub fn current_code(&self) -> Option<String> {
        self.primary().and_then(|d| d.revision.code.clone())
    }

    /// Starts a deployment of `revision`: the old tasks stop, the new deployment is PRIMARY
    /// and IN_PROGRESS. Returns its id.
    pub fn begin(&mut self, revision: Revision, origin: Origin, now: DateTime<Utc>) -> String {
        let mut verdict = match origin {
            // What completed before serves again.
            Origin::Rollback | Origin::History => Verdict::Healthy,
            _ => judge(
                &self.needs,
                &revision.deployed,
                revision.code.as_deref(),
                self.grace_s,
            ),
        };
        if let Verdict::Fails(f) = &verdict
            && self.first_failure.is_none()
        {
            self.first_failure = Some(f.clone());
        }
        if self.never_heals && !matches!(origin, Origin::Rollback | Origin::History) {
            verdict = self.still_failing(&revision, verdict);
        }
        let id = format!("ecs-svc/{}", 4_718_046_393_727_436_000 + self.next() * 7919);
        for old in &mut self.deployments {
            old.running = 0;
            old.pending = 0;
            old.updated_at = now;
        }
        let replaced = std::mem::take(&mut self.running);
        for mut task in replaced {
            task.stopped = Some((
                now,
                Stop {
                    stop_code: "ServiceSchedulerInitiated",
                    reason: format!("Scaling activity initiated by (deployment {id})"),
                    exit_code: Some(143),
                    container_reason: None,
                },
            ));
            self.stopped.push(task);
        }
        self.deployments.insert(
            0,
            Deployment {
                id: id.clone(),
                revision,
                origin,
                verdict,
                rollout: RolloutState::InProgress,
                reason: format!("ECS deployment {id} in progress."),
                desired: self.needs.desired,
                running: 0,
                pending: 0,
                failed_tasks: 0,
                created_at: now,
                updated_at: now,
                steps: 0,
            },
        );
        id
    }

    /// A healthy verdict turned into the first failure again (with the memory now given).
    fn still_failing(&self, revision: &Revision, verdict: Verdict) -> Verdict {
        match (&verdict, &self.first_failure) {
            (Verdict::Healthy, Some(Failure::OutOfMemory { needed_mib, .. })) => {
                let given = revision.deployed.memory_mib.unwrap_or(0);
                Verdict::Fails(Failure::OutOfMemory {
                    given_mib: given,
                    needed_mib: (*needed_mib).max(given + 1),
                })
            }
            (Verdict::Healthy, Some(first)) => Verdict::Fails(first.clone()),
            _ => verdict,
        }
    }

    /// Time passes on the PRIMARY deployment; returns what the tasks printed. `span` is how
    /// long the step took (the lines and stops are spread over it).
    pub fn step(&mut self, now: DateTime<Utc>, span: Duration) -> Vec<LogLine> {
        let Some(primary) = self.deployments.first() else {
            return Vec::new();
        };
        if primary.rollout != RolloutState::InProgress {
            return Vec::new();
        }
        match primary.verdict.clone() {
            Verdict::Healthy => self.step_healthy(now, span),
            Verdict::Fails(failure) => self.step_failing(&failure, now, span),
        }
    }

    fn task(&mut self, now: DateTime<Utc>) -> Task {
        let n = self.next();
        let d = &self.deployments[0];
        Task {
            id: format!("{:016x}{:016x}", 0x5f8c_1a2e_9b3d_4c7e_u64, n * 104_729),
            deployment: d.id.clone(),
            task_definition: d.revision.arn.clone(),
            memory_mib: d.revision.deployed.memory_mib,
            image: d.revision.deployed.image.clone(),
            container: d.revision.deployed.container.clone(),
            created_at: now,
            started: false,
            stopped: None,
        }
    }

    fn lines(task: &Task, texts: Vec<String>, at: DateTime<Utc>, span: Duration) -> Vec<LogLine> {
        let n = texts.len().max(1) as i32;
        texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| LogLine {
                stream: format!("ecs/{}/{}", task.container, task.id),
                at: at + span * (i as i32) / n + Duration::milliseconds(i as i64),
                text,
            })
            .collect()
    }

    fn event(&mut self, at: DateTime<Utc>, message: String) {
        self.events.push((at, message));
    }

    fn step_healthy(&mut self, now: DateTime<Utc>, span: Duration) -> Vec<LogLine> {
        let service = self.needs.service.clone();
        let d = &mut self.deployments[0];
        d.steps += 1;
        d.updated_at = now + span;
        let (id, desired, steps) = (d.id.clone(), d.desired, d.steps);
        let mut out = Vec::new();
        match steps {
            1 => {
                let tasks: Vec<Task> = (0..desired).map(|_| self.task(now)).collect();
                let names: Vec<String> = tasks.iter().map(|t| format!("(task {})", t.id)).collect();
                self.event(
                    now,
                    format!(
                        "(service {service}) has started {desired} tasks: {}.",
                        names.join(" ")
                    ),
                );
                self.running = tasks;
                self.deployments[0].pending = desired;
            }
            2 => {
                let d = &mut self.deployments[0];
                d.pending = 0;
                d.running = desired;
                for task in &mut self.running {
                    task.started = true;
                }
                d.failed_tasks = 0;
                let lines = symptoms::healthy_lines(&self.needs);
                for task in self.running.clone() {
                    out.extend(Self::lines(&task, lines.clone(), now, span));
                }
            }
            _ => {
                let d = &mut self.deployments[0];
                d.rollout = RolloutState::Completed;
                d.reason = format!("ECS deployment {id} completed.");
                let revision = d.revision.clone();
                // The deployments it replaced have drained: ECS no longer lists them.
                self.deployments.truncate(1);
                self.last_completed = Some((id.clone(), revision));
                self.event(
                    now,
                    format!("(service {service}) (deployment {id}) deployment completed."),
                );
                self.event(
                    now + span,
                    format!("(service {service}) has reached a steady state."),
                );
            }
        }
        out
    }

    fn step_failing(
        &mut self,
        failure: &Failure,
        now: DateTime<Utc>,
        span: Duration,
    ) -> Vec<LogLine> {
        let service = self.needs.service.clone();
        let mut task = self.task(now);
        let (stop, texts) = symptoms::of(failure, &self.needs);
        let lines = Self::lines(&task, texts, now, span);
        let stopped_at = now + span;
        self.event(
            now,
            format!(
                "(service {service}) has started 1 tasks: (task {}).",
                task.id
            ),
        );
        if let Some(event) = symptoms::event(failure, &self.needs) {
            self.event(stopped_at, event);
        }
        task.stopped = Some((stopped_at, stop));
        self.stopped.push(task);
        let d = &mut self.deployments[0];
        d.failed_tasks += 1;
        d.steps += 1;
        d.updated_at = stopped_at;
        if d.failed_tasks < FAILURE_THRESHOLD {
            d.pending = 1;
            return lines;
        }
        d.pending = 0;
        d.rollout = RolloutState::Failed;
        let id = d.id.clone();
        d.reason = "ECS deployment circuit breaker: tasks failed to start.".into();
        self.event(
            stopped_at,
            format!(
                "(service {service}) (deployment {id}) deployment failed: tasks failed to start."
            ),
        );
        if self.rollback
            && let Some((to, revision)) = self.last_completed.clone()
        {
            self.deployments[0].reason =
                format!("ECS deployment circuit breaker: rolling back to deploymentId {to}.");
            self.event(
                stopped_at,
                format!("(service {service}) (deployment {id}) deployment failed: rolling back to deployment {to}."),
            );
            self.begin(revision, Origin::Rollback, stopped_at);
            // Silently: the rollback's tasks start fast and it completes before anyone looks
            // again, so the next DescribeServices shows one stable deployment, not the fix's.
            let mut lines = lines;
            while self
                .primary()
                .is_some_and(|d| d.rollout == RolloutState::InProgress)
            {
                lines.extend(self.step(stopped_at, Duration::zero()));
            }
            return lines;
        }
        lines
    }
}
