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
        assert_eq!(InvestigationStatus::parse("exploded"), None);
    }
}
