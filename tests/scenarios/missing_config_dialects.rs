//! The same incident in three languages' dialects: fx-rates 9 reads PAYMENTS_FX_API_KEY
//! at start-up, nobody added it to the task definition, and every new task prints the
//! library's own message and exits 1 while the old tasks keep serving. Go's envconfig says
//! `required key … missing value` (no error word at all), Spring `Could not resolve
//! placeholder`, Ruby `key not found: "…" (KeyError)`. Each time a cache in the map is
//! evicting under its own load, a plausible second story that nothing in fx-rates points at.

use fixpoint::diagnose::RootCauseClass as Class;
use fixpoint::skills::Status;

use crate::harness::ecs::{Deployment, EcsService, Stopped};
use crate::harness::*;
use crate::support::redis::RedisServer;

/// fx-rates crash-looping on `line` (what its start-up prints), with a busy cache beside it.
async fn fx_rates_printing(line: &str, variable: &str) {
    let incident = Incident::begin(30).await;
    let deployed = minutes_ago(13);

    // The second story: an evicting cache, 2 MB under allkeys-lru, full of rate snapshots.
    let cache = RedisServer::start().await;
    let mut conn = cache.connect().await;
    let snapshot = "r".repeat(32 * 1024);
    for i in 0..120 {
        let _: () = redis::cmd("SET")
            .arg(format!("rates:snapshot:{i:05}"))
            .arg(&snapshot)
            .query_async(&mut conn)
            .await
            .expect("SET snapshot");
    }
    incident.var("FX_REDIS_URL", &cache.url());

    let mut ecs = EcsService::new("staging", "fx-rates")
        .counts(2, 2, 1)
        .task_definition(512, &["FX_PROVIDER_URL", "REDIS_URL", "LOG_LEVEL"], &[])
        .deployment(
            Deployment::primary(9, "IN_PROGRESS", "ECS deployment in progress.", deployed)
                .counts(2, 0, 1)
                .failed_tasks(3),
        )
        .deployment(Deployment::previous(8, 2, minutes_ago(800)));
    let mut lines = Vec::new();
    for (stream, at) in [("ecs/web/1a", 11), ("ecs/web/2b", 8), ("ecs/web/3c", 5)] {
        let started = minutes_ago(at);
        lines.push((stream, started, "INFO fx-rates 9 starting".to_string()));
        lines.push((stream, seconds_after(started, 1), line.to_string()));
        ecs = ecs.stopped(Stopped::exited(seconds_after(started, 2), 1, None));
    }
    lines.push((
        "ecs/web/old",
        minutes_ago(4),
        "INFO GET /rates/EUR 200 4ms".to_string(),
    ));
    ecs.serve(&incident.aws.stub);
    incident.aws.logs("/ecs/fx-rates", lines).await;

    let map = incident.map(
        "fx-rates.yaml",
        &service_map(
            "fx-rates",
            "downstream:
  - {name: rates-cache, type: cache, skill: redis, url_env: FX_REDIS_URL}
",
        ),
    );

    let report = incident.investigate(&map).await;
    assert_saw(&report, "fx-rates", "cloudwatch", Status::Degraded, &[]);
    assert_saw(
        &report,
        "rates-cache",
        "redis",
        Status::Degraded,
        &["evicting keys"],
    );

    assert_root_cause(&report, "fx-rates", Class::MissingConfig);
    let d = &report.diagnosis;
    assert!(
        d.root_cause.summary.contains(&format!(
            "{variable} is missing at start-up, and the task definition does not set it"
        )),
        "{}",
        d.root_cause.summary
    );
    assert_eq!(chain(d), [("fx-rates", Class::MissingConfig)]);
    let why = noise(&report, "rates-cache");
    assert!(why.contains("nothing on the failing path"), "{why}");
    assert!(
        d.proposed_action
            .summary
            .contains(&format!("add {variable} to fx-rates's task definition")),
        "{}",
        d.proposed_action.summary
    );

    incident.cli_agrees(&map, &report).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_envconfig_says_required_key_missing_value() {
    fx_rates_printing(
        "2026/12/01 08:14:02 envconfig.Process: required key PAYMENTS_FX_API_KEY missing value",
        "PAYMENTS_FX_API_KEY",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_cannot_resolve_the_placeholder() {
    fx_rates_printing(
        "Caused by: java.lang.IllegalArgumentException: Could not resolve placeholder 'PAYMENTS_FX_API_KEY' in value \"${PAYMENTS_FX_API_KEY}\"",
        "PAYMENTS_FX_API_KEY",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ruby_env_fetch_raises_key_not_found() {
    fx_rates_printing(
        "/app/config/initializers/fx.rb:3:in 'ENV.fetch': key not found: \"PAYMENTS_FX_API_KEY\" (KeyError)",
        "PAYMENTS_FX_API_KEY",
    )
    .await;
}
