//! The loop, end to end, as incidents: a red deploy of payments-api reaches Fixpoint through
//! its webhook; Fixpoint diagnoses it, fixes it on `fixpoint/payments-api-9001`, waits for CI
//! (the fake GitHub's, which deploys the pushed tree to the lower environment) and for the
//! rollout, verifies, and opens a PR only when the world healed, which it does only when the
//! fix is right.
//!
//! Run with `cargo nextest run --test loop_incidents` (moto_server in `.venv`).

mod support;

#[path = "loop_incidents/code.rs"]
mod code;
#[path = "loop_incidents/crash.rs"]
mod crash;
#[path = "loop_incidents/deploy.rs"]
mod deploy;
#[path = "loop_incidents/far.rs"]
mod far;
#[path = "loop_incidents/model.rs"]
mod model;
#[path = "loop_incidents/oom.rs"]
mod oom;
#[path = "loop_incidents/rollout.rs"]
mod rollout;
#[path = "loop_incidents/story.rs"]
mod story;
