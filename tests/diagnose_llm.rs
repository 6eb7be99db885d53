//! The model reasoner as incidents: payments-api's deploy is red, PostgreSQL is out of
//! connections, and a model (a scripted stand-in on loopback speaking the provider's wire
//! format) is asked for the root cause. Its requests are checked against the provider's
//! documented shape; its answers are checked against the world before they are used, and
//! every path ends in a valid diagnosis that names the engine that decided.

mod support;

#[path = "diagnose_llm/incident.rs"]
mod incident;

#[path = "diagnose_llm/answers.rs"]
mod answers;
#[path = "diagnose_llm/budget.rs"]
mod budget;
#[path = "diagnose_llm/config.rs"]
mod config;
#[path = "diagnose_llm/injection.rs"]
mod injection;
#[path = "diagnose_llm/wire.rs"]
mod wire;

use fixpoint::diagnose::Diagnosis;
use fixpoint::diagnose::llm::{ModelConfig, diagnose_with_model};

/// The reasoner on the incident, as the investigation calls it.
async fn diagnose(config: &ModelConfig, findings: &[fixpoint::skills::Finding]) -> Diagnosis {
    let graph = incident::graph();
    diagnose_with_model(
        config,
        incident::SERVICE,
        findings,
        Some(&graph),
        &incident::history(),
        &incident::rules_diagnosis(),
    )
    .await
}
