//! The fix plan catalogue as incidents: payments-api's deploy went red, the diagnosis named a
//! root cause, and the loop asks what to change. Each test sets up the repository (its task
//! definition file as AWS documents it, the commits since the last good deploy) and the lower
//! environment's task definitions in memory, and checks the plan people would review: the
//! file as it would be committed, the fingerprint that keeps a failed fix from coming back,
//! and why nothing is changed when nothing should be.

#[path = "support/model_server.rs"]
mod model_server;

#[path = "fix_plans/world.rs"]
mod world;

#[path = "fix_plans/ecs_api.rs"]
mod ecs_api;
#[path = "fix_plans/health.rs"]
mod health;
#[path = "fix_plans/image.rs"]
mod image;
#[path = "fix_plans/memory.rs"]
mod memory;
#[path = "fix_plans/model_edit.rs"]
mod model_edit;
#[path = "fix_plans/reach.rs"]
mod reach;
#[path = "fix_plans/revert.rs"]
mod revert;
#[path = "fix_plans/summaries.rs"]
mod summaries;
#[path = "fix_plans/variable.rs"]
mod variable;
