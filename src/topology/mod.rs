//! Service topology maps: the model of `topology/<service>.yaml` (or `.json`), the loader,
//! the multi-hop graph a sweep walks, and `topology check`.
//!
//! - [`model`]: `Topology`, `Node`, `Direction`, the production-name rule.
//! - [`skill`]: `SkillKind`, with the seed's skill names and ours.
//! - [`load`]: one file → `Topology`, with errors that name the file, node and fix.
//! - [`keys`]: unknown keys (did-you-mean) and inline credentials, before deserialising.
//! - [`graph`]: follow `topology:` links to a depth → `TopologyGraph` of `PlannedCheck`s.
//! - [`plan`]: `PlannedCheck` and the `CheckTarget` each skill needs.
//! - [`check`]: every problem across the linked maps, and the tree for people.
//!
//! The format is described in `topology/README.md`, beside the example maps.

pub mod check;
pub mod error;
pub mod graph;
mod judge;
pub mod keys;
pub mod limits;
pub mod load;
pub mod model;
pub mod plan;
mod render;
pub mod skill;
mod source;

pub use check::{CheckReport, check, run_check_command};
pub use error::{Problem, Severity, TopologyError};
pub use graph::{DEFAULT_DEPTH, NodeVisit, ServiceVisit, TopologyGraph};
pub use keys::{FieldFix, UnknownField};
pub use load::{Format, load, parse_str};
pub use model::{Direction, EcsCoords, LogCoords, Node, PRODUCTION_NAMES, Topology, is_production};
pub use plan::{CheckTarget, Endpoint, PlannedCheck};
pub use render::render;
pub use skill::SkillKind;
