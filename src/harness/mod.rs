//! The loop: from a diagnosis to a fix proven in the lower environment.
//!
//! `plan → act → await_ci → await_rollout → verify → test → (healthy: report | not: next
//! iteration | limit: stop)`. Every transition is stored before the next effect, and every
//! effect is idempotent (derived branch name, commit trailers looked for before a commit is
//! made, PR looked up by head), so a loop killed anywhere resumes without repeating one.
//!
//! `plans` chooses the fix (typed `FixPlan`s with stable fingerprints, never one that failed
//! before).

pub mod plans;
