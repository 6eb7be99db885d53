//! Service topology maps: the model of `topology/<service>.yaml` (or `.json`), the loader,
//! the multi-hop graph a sweep walks, and `topology check`.
//!
//! - [`model`]: `Topology`, `Node`, `SkillKind`, `Direction`, the production-name rule.
//! - [`load`]: one file → `Topology`, with errors that name the file, node and fix.
//! - [`graph`]: follow `topology:` links to a depth → `TopologyGraph` of `PlannedCheck`s.
//! - [`check`]: every problem across the linked maps, and the tree for people.
//!
//! The format is described in `topology/README.md`, beside the example maps.

pub mod check;
pub mod error;
pub mod graph;
pub mod load;
pub mod model;
mod render;

pub use check::{CheckReport, check, run_check_command};
pub use error::{Problem, Severity, TopologyError};
pub use graph::{
    CheckTarget, DEFAULT_DEPTH, Endpoint, NodeVisit, PlannedCheck, ServiceVisit, TopologyGraph,
};
pub use load::{Format, load, parse_str};
pub use model::{
    Direction, EcsCoords, LogCoords, Node, PRODUCTION_NAMES, SkillKind, Topology, is_production,
};
pub use render::render;
