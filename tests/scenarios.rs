//! Incidents: each test stands up a real local environment (moto and the AWS stub, PostgreSQL,
//! Redis, HTTP servers, the fake GitHub), writes the service's topology map(s), runs
//! `fixpoint investigate` (in process, and the binary), and asserts the root cause's node and
//! class, and the chain or the noise where the incident is about them.
//!
//! | incident | module |
//! |---|---|
//! | tasks killed for memory | `oom` |
//! | a variable missing at start-up | `missing_config` |
//! | an image that cannot be pulled | `image_pull` |
//! | a health check that fails with nothing behind it | `health_check` |
//! | the database out of connections | `db_connections` |
//! | a migration's lock blocking the app | `db_locks` |
//! | Redis evicting under memory pressure | `redis_eviction` |
//! | the queue's consumer down, the symptoms in the caller | `consumer_down` |
//! | the same outage seen as memory pressure in the caller (the seed's story) | `memory_pressure` |
//! | a dead-letter queue filling | `dead_letters` |
//! | a Lambda function throttled | `lambda_throttled` |
//! | an upstream outage while the service is healthy | `upstream_outage` |
//! | a plain CI test failure in a healthy environment | `ci_test_failure` |
//! | a compile error in a healthy environment | `ci_build_failure` |
//! | two nodes degraded, one explains the failure | `noisy` |
//! | no credentials and no DNS: the sweep cannot see, and says so | `blind_observer` |
//! | ECS refused registry auth (the words say "secrets") | `registry_auth` |
//! | a missing variable in Go's, Spring's and Ruby's words | `missing_config_dialects` |
//! | a `KeyError` in a healthy consumer whose DLQ fills | `poison_message` |
//! | Redis full under `volatile-lru`, answering but refusing writes | `redis_refusing_writes` |
//!
//! Run with `cargo nextest run --test scenarios` (moto_server on PATH or in `.venv`).

mod support;

#[path = "scenarios/harness/mod.rs"]
mod harness;

#[path = "scenarios/blind_observer.rs"]
mod blind_observer;
#[path = "scenarios/ci_build_failure.rs"]
mod ci_build_failure;
#[path = "scenarios/ci_test_failure.rs"]
mod ci_test_failure;
#[path = "scenarios/consumer_down.rs"]
mod consumer_down;
#[path = "scenarios/db_connections.rs"]
mod db_connections;
#[path = "scenarios/db_locks.rs"]
mod db_locks;
#[path = "scenarios/dead_letters.rs"]
mod dead_letters;
#[path = "scenarios/health_check.rs"]
mod health_check;
#[path = "scenarios/image_pull.rs"]
mod image_pull;
#[path = "scenarios/lambda_throttled.rs"]
mod lambda_throttled;
#[path = "scenarios/memory_pressure.rs"]
mod memory_pressure;
#[path = "scenarios/missing_config.rs"]
mod missing_config;
#[path = "scenarios/missing_config_dialects.rs"]
mod missing_config_dialects;
#[path = "scenarios/noisy.rs"]
mod noisy;
#[path = "scenarios/oom.rs"]
mod oom;
#[path = "scenarios/poison_message.rs"]
mod poison_message;
#[path = "scenarios/redis_eviction.rs"]
mod redis_eviction;
#[path = "scenarios/redis_refusing_writes.rs"]
mod redis_refusing_writes;
#[path = "scenarios/registry_auth.rs"]
mod registry_auth;
#[path = "scenarios/upstream_outage.rs"]
mod upstream_outage;
