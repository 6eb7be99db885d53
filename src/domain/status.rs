//! Persisted states. Each maps to text here and nowhere else (`sqlx::Type`, serde and
//! `as_str` agree); the tables carry a CHECK constraint with the same values
//! (migrations/0003), so a value this build does not know cannot be written.

use serde::{Deserialize, Serialize};

macro_rules! text_states {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
        #[serde(rename_all = "snake_case")]
        #[sqlx(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|s| s.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_states!(
    /// Where a job is in the durable queue.
    JobState {
        /// Waiting for a worker (`run_at` says from when).
        Queued = "queued",
        /// A worker holds its lease.
        Running = "running",
        /// An attempt failed; retried at `run_at`.
        Failed = "failed",
        /// Waiting on something outside (CI, a rollout) until `run_at` or a wake-up;
        /// holds no worker and counts no attempt.
        Snoozed = "snoozed",
        Done = "done",
        /// Out of attempts: a person must look.
        Dead = "dead",
    }
);

text_states!(
    /// How far an investigation got.
    InvestigationStatus {
        Received = "received",
        /// The run is not one Fixpoint debugs (no config, not a deploy, branch not covered).
        NotStarted = "not_started",
        /// The failed run's jobs and steps are stored.
        Collected = "collected",
        Swept = "swept",
        Diagnosed = "diagnosed",
        /// GitHub refused for good (not installed, no permission).
        Failed = "failed",
    }
);

text_states!(
    /// What became of a `/fixpoint` command.
    CommandStatus {
        /// Stored, not yet acted on.
        Received = "received",
        Done = "done",
        /// The author may not command Fixpoint.
        Denied = "denied",
        /// Not a command Fixpoint knows: the reply says what to type.
        Unparsed = "unparsed",
        Failed = "failed",
    }
);

text_states!(
    /// Whether an installation of the App may be acted for.
    InstallationState {
        Active = "active",
        Suspended = "suspended",
        Deleted = "deleted",
    }
);

text_states!(
    /// Where a fix loop is. `Active` and `Paused` hold the service: one loop per service runs
    /// at a time; every other status is an end.
    LoopStatus {
        Active = "active",
        /// A person paused it; it resumes where it stopped.
        Paused = "paused",
        /// Verified healthy in the lower environment; the PR is open.
        Fixed = "fixed",
        /// `max_iterations` reached without a verified fix.
        StoppedAtLimit = "stopped_at_limit",
        /// The diagnosis could not see the environment, named no class, or was under
        /// `min_confidence`: nothing was changed.
        StoppedUnsure = "stopped_unsure",
        /// No fix is within this repository's reach (a dependency, a database), or every
        /// fix that applies was tried.
        StoppedNoFix = "stopped_no_fix",
        /// A person stopped it.
        Stopped = "stopped",
        /// GitHub or AWS refused for good (a permission, a safety rule); the reason says which.
        Failed = "failed",
    }
);

impl LoopStatus {
    /// The loop still owns its service (and may act again).
    pub fn is_open(self) -> bool {
        matches!(self, LoopStatus::Active | LoopStatus::Paused)
    }
}

text_states!(
    /// The step of an iteration a loop is at. Each is stored before its effect runs.
    Phase {
        /// Sweep (after iteration 1), diagnose with the history, choose a fix.
        Plan = "plan",
        /// Commit the fix on the branch (or change the lower environment through ECS) and
        /// start the deploy.
        Act = "act",
        /// Wait for the deploy workflows at the fix commit.
        AwaitCi = "await_ci",
        /// Wait for the ECS rollout of the fix to complete.
        AwaitRollout = "await_rollout",
        /// Soak: logs, a fresh sweep, blocking queries.
        Verify = "verify",
        /// HTTP load probe and test workflows.
        Test = "test",
        /// Healthy: open the PR.
        Report = "report",
        /// Nothing more to do (see the loop's status).
        Done = "done",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_serde_agree() {
        for s in JobState::ALL {
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, s.as_str());
            assert_eq!(JobState::parse(s.as_str()), Some(*s));
        }
        for s in InvestigationStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in CommandStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in LoopStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in Phase::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(InvestigationStatus::parse("exploded"), None);
    }
}
