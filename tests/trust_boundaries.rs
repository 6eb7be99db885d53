//! Trust boundaries: what a repository's files (or a fork of it, or anyone who can reach
//! the server) can make Fixpoint do. Each test is one of the ways in that were tried on an
//! earlier build, and shows the door now closed.

mod support;

#[path = "trust_boundaries/forks.rs"]
mod forks;
#[path = "trust_boundaries/hostile_yaml.rs"]
mod hostile_yaml;
#[path = "trust_boundaries/ingress.rs"]
mod ingress;
#[path = "trust_boundaries/maps.rs"]
mod maps;
#[path = "trust_boundaries/outbound.rs"]
mod outbound;
#[path = "trust_boundaries/redaction_table.rs"]
mod redaction_table;
#[path = "trust_boundaries/tls_names.rs"]
mod tls_names;
#[path = "trust_boundaries/url_env.rs"]
mod url_env;
