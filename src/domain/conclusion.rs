//! How a workflow run, a job or a step ended, and whether that counts as failed.

use serde::{Deserialize, Serialize};

/// A run's, job's or step's `conclusion` as GitHub documents it. `Other` keeps Fixpoint
/// working when GitHub adds a value: it is never read as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    Success,
    Failure,
    TimedOut,
    StartupFailure,
    Cancelled,
    ActionRequired,
    Neutral,
    Skipped,
    Stale,
    #[serde(other)]
    Other,
}

impl Conclusion {
    /// The one definition of "failed", used at ingress, in the investigation and by the
    /// gha skill: the run (or job, or step) broke, as opposed to being stopped, skipped
    /// or waiting for a person.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failure | Self::TimedOut | Self::StartupFailure)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::TimedOut => "timed_out",
            Self::StartupFailure => "startup_failure",
            Self::Cancelled => "cancelled",
            Self::ActionRequired => "action_required",
            Self::Neutral => "neutral",
            Self::Skipped => "skipped",
            Self::Stale => "stale",
            Self::Other => "other",
        }
    }

    const ALL: [Self; 9] = [
        Self::Success,
        Self::Failure,
        Self::TimedOut,
        Self::StartupFailure,
        Self::Cancelled,
        Self::ActionRequired,
        Self::Neutral,
        Self::Skipped,
        Self::Stale,
    ];

    /// GitHub's text; a value this build does not know is `Other`.
    pub fn parse(text: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .unwrap_or(Self::Other)
    }

    /// `true` for `Some(c)` with `c` failed; a missing conclusion (still running) is not.
    pub fn failed(conclusion: Option<Self>) -> bool {
        conclusion.is_some_and(Self::is_failure)
    }
}

impl std::fmt::Display for Conclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run's or job's `status`: where it is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Requested,
    Queued,
    Pending,
    Waiting,
    InProgress,
    Completed,
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_means_broke_not_stopped() {
        for c in ["failure", "timed_out", "startup_failure"] {
            let c: Conclusion = serde_json::from_value(c.into()).unwrap();
            assert!(c.is_failure(), "{c}");
        }
        for c in [
            "success",
            "cancelled",
            "skipped",
            "neutral",
            "action_required",
            "stale",
        ] {
            let parsed: Conclusion = serde_json::from_value(c.into()).unwrap();
            assert!(!parsed.is_failure(), "{c}");
            assert_eq!(parsed.as_str(), c);
        }
        let future: Conclusion = serde_json::from_value("exploded".into()).unwrap();
        assert_eq!(future, Conclusion::Other);
        assert_eq!(Conclusion::parse("exploded"), Conclusion::Other);
        for c in Conclusion::ALL {
            assert_eq!(Conclusion::parse(c.as_str()), c);
        }
        assert!(!Conclusion::failed(None));
    }
}
