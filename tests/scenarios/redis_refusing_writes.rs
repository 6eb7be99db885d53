//! quotes-api 30 caches every quote it renders, without a TTL, in a Redis run under
//! `volatile-lru`. That policy evicts only keys with a TTL: there are none, so at maxmemory
//! Redis evicts nothing and refuses every write with `OOM command not allowed`. It answers
//! PING and INFO all along: full, not unreachable. Beside it, the rates service quotes-api
//! calls answers 503 for reasons of its own, and nothing quotes-api logs points at it.

use fixpoint::diagnose::{ActionKind, RootCauseClass as Class};
use fixpoint::skills::Status;

use crate::harness::ecs::EcsService;
use crate::harness::*;
use crate::support::http_servers::HttpServers;
use crate::support::redis::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_cache_that_answers_but_refuses_writes_is_memory_pressure_not_unreachable() {
    let incident = Incident::begin(30).await;
    let deployed = minutes_ago(16);

    let cache = RedisServer::start_with(&["--maxmemory-policy", "volatile-lru"]).await;
    let mut conn = cache.connect().await;
    let quote = "q".repeat(32 * 1024);
    let mut refused = None;
    for i in 0..200 {
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("quote:{i:06}"))
            .arg(&quote)
            .query_async(&mut conn)
            .await;
        if let Err(e) = set {
            refused = Some(e.to_string());
            break;
        }
    }
    // What quotes-api logs is Redis's own reply, as its client library words it
    // (`OOM: command not allowed …`: the redis crate puts a colon after the code).
    let refused = refused.expect("volatile-lru with no TTL keys refuses writes at maxmemory");
    assert!(
        refused.contains("command not allowed when used memory > 'maxmemory'"),
        "{refused}"
    );
    incident.var("QUOTES_REDIS_URL", &cache.url());

    let rates = HttpServers::start().await;

    EcsService::steady("staging", "quotes-api", 30, 2, deployed)
        .replaced(2, deployed)
        .task_definition(1024, &["REDIS_URL", "RATES_URL"], &[])
        .serve(&incident.aws.stub);
    let first = minutes_ago(12);
    let lines = (0..30)
        .map(|i| {
            (
                "ecs/web/9c",
                seconds_after(first, 20 * i),
                format!("ERROR cache write quote:{:06} failed: {refused}", 900 + i),
            )
        })
        .collect();
    incident.aws.logs("/ecs/quotes-api", lines).await;

    let map = incident.map(
        "quotes-api.yaml",
        &service_map(
            "quotes-api",
            &format!(
                "downstream:
  - {{name: quotes-cache, type: cache, skill: redis, url_env: QUOTES_REDIS_URL}}
  - {{name: rates, type: http, skill: http-health, url: \"{}\", timeout_s: 5}}
",
                rates.unavailable()
            ),
        ),
    );

    let report = incident.investigate(&map).await;
    let cache_finding = finding(&report, "quotes-cache", "redis");
    assert!(
        cache_finding
            .summary
            .contains("answers, but writes refused")
            && cache_finding.summary.contains("volatile-lru"),
        "{}",
        cache_finding.summary
    );
    assert_eq!(cache_finding.metrics.get("evicted_keys"), Some(&0.0));
    assert!(
        cache_finding
            .metrics
            .get("keys_without_ttl")
            .is_some_and(|&k| k > 0.0)
    );
    assert_saw(&report, "rates", "http-health", Status::Down, &["503"]);

    assert_root_cause(&report, "quotes-cache", Class::CacheMemoryPressure);
    let d = &report.diagnosis;
    assert!(
        d.root_cause.summary.contains("keys have none"),
        "{}",
        d.root_cause.summary
    );
    assert_eq!(
        chain(d),
        [
            ("quotes-cache", Class::CacheMemoryPressure),
            ("quotes-api", Class::DependencyUnhealthy)
        ]
    );
    let why = noise(&report, "rates");
    assert!(why.contains("nothing on the failing path"), "{why}");
    assert_eq!(d.proposed_action.kind, ActionKind::Infra);

    incident.cli_agrees(&map, &report).await;
}
