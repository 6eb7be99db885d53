//! The rules engine as incidents: each test is a sweep of payments-api's topology
//! (tests/fixtures/diagnose/) where everything is healthy but what the incident breaks, and
//! asserts the root cause, the chain, the noise and the kind of action proposed.

#[path = "diagnose_rules/corpus.rs"]
mod corpus;
#[path = "diagnose_rules/dependencies.rs"]
mod dependencies;
#[path = "diagnose_rules/ranking.rs"]
mod ranking;
#[path = "diagnose_rules/seeing.rs"]
mod seeing;
#[path = "diagnose_rules/service_itself.rs"]
mod service_itself;
#[path = "diagnose_rules/sweep.rs"]
mod sweep;
#[path = "diagnose_rules/taxonomy.rs"]
mod taxonomy;
