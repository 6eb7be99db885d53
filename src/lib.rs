//! Fixpoint: a GitHub App that turns a red deploy into a reviewed fix.
//!
//! The modules read as the loop (see ARCHITECTURE.md): a webhook enters in `server`,
//! becomes a durable job in `store`, is picked up by `worker`, and drives an
//! `investigation` that talks to GitHub through `github`.

pub mod cli;
pub mod config;
pub mod diagnose;
pub mod github;
pub mod ids;
pub mod investigation;
pub mod redact;
pub mod server;
pub mod skills;
pub mod store;
pub mod sweep;
pub mod topology;
pub mod worker;
