//! Fixpoint: a GitHub App that turns a red deploy into a reviewed fix.
//!
//! The modules read as the loop (see ARCHITECTURE.md): a webhook enters in `server`,
//! becomes a typed `jobs::Job` stored by `store`, is picked up by `worker`, and drives an
//! `investigation` that talks to GitHub through `github`.
//!
//! Imports point one way, from the top of this list to the bottom:
//! cli → server → worker → investigation → harness → jobs → diagnose → sweep → skills →
//! github/topology/store/config → domain/ids/clock/outbound/redact.

pub mod cli;
pub mod server;
pub mod worker;

pub mod investigation;

pub mod harness;
pub mod jobs;

pub mod diagnose;
pub mod skills;
pub mod sweep;

pub mod config;
pub mod github;
pub mod store;
pub mod topology;

pub mod clock;
pub mod domain;
pub mod ids;
pub mod outbound;
pub mod redact;
