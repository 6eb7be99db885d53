//! The data-path skills against real servers: a PostgreSQL cluster whose connections run
//! out, whose migration holds a lock the app waits on, whose report query runs for a
//! minute; a Redis that evicts keys or refuses writes at maxmemory, or is gone; HTTP
//! services that answer, fail, dawdle, hang, redirect to a login page, or refuse.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use fixpoint::skills::{Observation, SkillContext, Status, skill_for};
use fixpoint::topology::{CheckTarget, Endpoint, SkillKind};
use support::http_servers::{HttpServers, refused_url};
use support::postgres::{PgCluster, free_port};
use support::redis::RedisServer;

fn context(vars: &[(&str, &str)]) -> SkillContext {
    // The stand-ins listen on loopback, which the outbound policy allows only when told.
    let vars: HashMap<String, String> = [("FIXPOINT_SWEEP_ALLOW", "127.0.0.0/8")]
        .iter()
        .chain(vars)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    SkillContext::new(Utc::now(), None, Arc::new(vars))
}

async fn observe(kind: SkillKind, target: CheckTarget, vars: &[(&str, &str)]) -> Observation {
    let ctx = context(vars);
    let observation = skill_for(kind)
        .check(&target, &ctx)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the {} skill failed instead of observing: {e:#}",
                kind.as_str()
            )
        });
    println!(
        "{} {}: {}",
        kind.as_str(),
        observation.status.as_str(),
        observation.summary
    );
    for e in &observation.evidence {
        println!("    [{}] {}", e.source, e.text);
    }
    observation
}

async fn postgres(url: &str, vars: &[(&str, &str)]) -> Observation {
    let target = CheckTarget::Postgres {
        endpoint: Endpoint::Url(url.to_string()),
    };
    observe(SkillKind::Postgres, target, vars).await
}

async fn redis(url: &str) -> Observation {
    let target = CheckTarget::Redis {
        endpoint: Endpoint::Url(url.to_string()),
    };
    observe(SkillKind::Redis, target, &[]).await
}

async fn http(
    url: &str,
    expect_status: Option<u16>,
    expect_body: Option<&str>,
    vars: &[(&str, &str)],
) -> Observation {
    let target = CheckTarget::Http {
        endpoint: Endpoint::Url(url.to_string()),
        expect_status,
        expect_body: expect_body.map(str::to_string),
        timeout_s: None,
    };
    observe(SkillKind::HttpHealth, target, vars).await
}

/// Server state changes (a backend exiting, a lock wait starting) land a moment later:
/// look again until `done` holds, for up to 5 s.
async fn postgres_until(
    url: &str,
    vars: &[(&str, &str)],
    done: impl Fn(&Observation) -> bool,
) -> Observation {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let o = postgres(url, vars).await;
        if done(&o) || Instant::now() > deadline {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn metric(o: &Observation, name: &str) -> f64 {
    *o.metrics
        .get(name)
        .unwrap_or_else(|| panic!("no metric {name} in {:?}", o.metrics))
}

fn assert_says(o: &Observation, status: Status, words: &[&str]) {
    assert_eq!(o.status, status, "{o:#?}");
    for w in words {
        assert!(o.summary.contains(w), "summary lacks {w:?}: {}", o.summary);
    }
}

/// No password reaches a summary or evidence, even when the URL carried one.
fn assert_no_secret(o: &Observation) {
    let all = format!("{} {:?}", o.summary, o.evidence);
    assert!(!all.contains("hunter2"), "a password leaked: {all}");
}

#[tokio::test]
async fn postgres_healthy_database_is_read_through_a_read_only_session() {
    let pg = PgCluster::start(20).await;
    let o = postgres(&pg.url("fixpoint"), &[]).await;
    assert_says(
        &o,
        Status::Healthy,
        &["usable connections", "no lock waits"],
    );
    assert_eq!(metric(&o, "read_only"), 1.0);
    assert_eq!(metric(&o, "max_connections"), 20.0);
    assert_eq!(metric(&o, "blocked_sessions"), 0.0);
    assert_no_secret(&o);

    // The session the skill reads through refuses writes, whatever the role may do.
    let mut session = fixpoint::skills::postgres::read_only_session(&pg.url("postgres"))
        .await
        .unwrap();
    let write = sqlx::query("UPDATE orders SET status = 'refunded'")
        .execute(&mut session)
        .await;
    let code = write
        .expect_err("a write through the skill's session must fail")
        .as_database_error()
        .and_then(|e| e.code().map(|c| c.into_owned()));
    assert_eq!(code.as_deref(), Some("25006"), "read_only_sql_transaction");
}

#[tokio::test]
async fn postgres_connections_exhausted_by_the_app_pool() {
    // 8 slots, 3 reserved for superusers: the app and the skill share 5.
    let pg = PgCluster::start(8).await;
    let mut app = Vec::new();
    for _ in 0..4 {
        app.push(pg.connect("app").await);
    }
    let url = pg.url("fixpoint");
    let o = postgres_until(&url, &[], |o| o.metrics.get("connections") == Some(&5.0)).await;
    assert_says(
        &o,
        Status::Degraded,
        &["connections nearly exhausted", "5/5 usable connections"],
    );
    assert_eq!(metric(&o, "connections_ratio"), 1.0);
    assert_eq!(metric(&o, "idle"), 4.0);

    // The pool grows by one: now nobody but a superuser gets in, and that is the finding.
    app.push(pg.connect("app").await);
    let o = postgres_until(&url, &[], |o| o.status == Status::Down).await;
    assert_says(
        &o,
        Status::Down,
        &[
            "connections exhausted: server refuses new connections (53300)",
            "reserved",
        ],
    );
    assert_no_secret(&o);

    // An operator logs in to look, three times: the server is full for everyone.
    let mut admins = Vec::new();
    for _ in 0..3 {
        admins.push(pg.connect("postgres").await);
    }
    let o = postgres(&url, &[]).await;
    assert_says(&o, Status::Down, &["(53300)", "too many clients"]);
}

#[tokio::test]
async fn postgres_migration_holding_a_lock_blocks_the_app() {
    let pg = PgCluster::start(20).await;
    // The deploy's migration takes an ACCESS EXCLUSIVE lock and does not commit.
    let mut migration = pg.connect("app").await;
    sqlx::query("BEGIN").execute(&mut migration).await.unwrap();
    sqlx::query("ALTER TABLE orders ADD COLUMN refunded_at timestamptz")
        .execute(&mut migration)
        .await
        .unwrap();
    // Two app requests read orders and wait.
    let mut readers = Vec::new();
    for id in [7, 8] {
        let mut conn = pg.connect("app").await;
        readers.push(tokio::spawn(async move {
            sqlx::query("SELECT status FROM orders WHERE id = $1")
                .bind(id as i64)
                .fetch_optional(&mut conn)
                .await
                .map(|_| ())
        }));
    }
    pg.wait_for(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
        2,
    )
    .await;

    let url = pg.url("fixpoint");
    let o = postgres(&url, &[]).await;
    assert_says(
        &o,
        Status::Degraded,
        &[
            "2 sessions blocked on locks",
            "idle in transaction",
            "AccessExclusiveLock on orders",
            "ALTER TABLE orders ADD COLUMN refunded_at timestamptz",
        ],
    );
    assert_eq!(metric(&o, "blocked_sessions"), 2.0);
    assert_eq!(metric(&o, "waiting_on_locks"), 2.0);
    assert_eq!(metric(&o, "idle_in_transaction"), 1.0);
    let chain = o
        .evidence
        .iter()
        .find(|e| e.text.starts_with("blocking chain"))
        .expect("a blocking chain in the evidence");
    assert!(
        chain.text.contains("blocks 2 sessions")
            && chain.text.contains("for AccessShareLock on orders"),
        "{}",
        chain.text
    );

    // The migration is rolled back; the readers go through and the database is healthy again.
    sqlx::query("ROLLBACK")
        .execute(&mut migration)
        .await
        .unwrap();
    for reader in readers {
        reader
            .await
            .unwrap()
            .expect("the reader completes once the lock is gone");
    }
    let o = postgres_until(&url, &[], |o| o.status == Status::Healthy).await;
    assert_says(&o, Status::Healthy, &["no lock waits"]);
}

#[tokio::test]
async fn postgres_long_running_report_query() {
    let pg = PgCluster::start(20).await;
    let mut report = pg.connect("app").await;
    let _running = tokio::spawn(async move {
        let _ = sqlx::query("SELECT pg_sleep(60), 'quarterly report for acme@example.com'")
            .execute(&mut report)
            .await;
    });
    pg.wait_for(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND now() - query_start > interval '1.2 s'",
        1,
    )
    .await;
    let url = pg.url("fixpoint");

    // With the production threshold (30 s) a query a second old is no finding.
    let o = postgres(&url, &[]).await;
    assert_says(&o, Status::Healthy, &["no queries over 30 s"]);

    let o = postgres(&url, &[("FIXPOINT_PG_LONG_QUERY_S", "1")]).await;
    assert_says(
        &o,
        Status::Degraded,
        &["1 query running over 1 s", "SELECT pg_sleep(60)"],
    );
    assert!(metric(&o, "longest_query_s") >= 1.0, "{:?}", o.metrics);
    assert_eq!(metric(&o, "long_queries"), 1.0);
    assert!(
        !o.summary.contains("acme@example.com"),
        "literals are masked: {}",
        o.summary
    );

    // A threshold that is not a number is named, with the fix.
    let ctx = context(&[("FIXPOINT_PG_LONG_QUERY_S", "half a minute")]);
    let target = CheckTarget::Postgres {
        endpoint: Endpoint::Url(url),
    };
    let err = skill_for(SkillKind::Postgres)
        .check(&target, &ctx)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("FIXPOINT_PG_LONG_QUERY_S") && err.contains("set it to"),
        "{err}"
    );
}

#[tokio::test]
async fn postgres_not_listening_is_down_not_unknown() {
    let port = free_port();
    let o = postgres(
        &format!("postgres://app:hunter2@127.0.0.1:{port}/payments"),
        &[],
    )
    .await;
    assert_says(
        &o,
        Status::Down,
        &[&format!("connection refused at 127.0.0.1:{port}")],
    );
    assert_no_secret(&o);
}

#[tokio::test]
async fn redis_evicts_keys_at_maxmemory() {
    let server = RedisServer::start().await;
    let o = redis(&server.url()).await;
    assert_says(&o, Status::Healthy, &["of 2.00M", "no evictions"]);
    assert_no_secret(&o);

    // The session cache grows past 2 MB; allkeys-lru drops the oldest sessions.
    let mut conn = server.connect().await;
    let blob = "x".repeat(32 * 1024);
    for i in 0..200 {
        let _: () = redis::cmd("SET")
            .arg(format!("session:{i}"))
            .arg(&blob)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let o = redis(&server.url()).await;
    assert_says(&o, Status::Degraded, &["evicting keys", "allkeys-lru"]);
    assert!(metric(&o, "evicted_keys") > 0.0, "{:?}", o.metrics);
    assert!(metric(&o, "memory_ratio") >= 0.9, "{:?}", o.metrics);
    assert_no_secret(&o);
}

#[tokio::test]
async fn redis_full_with_noeviction_refuses_writes() {
    let server = RedisServer::start_with(&["--maxmemory-policy", "noeviction"]).await;
    let mut conn = server.connect().await;
    let blob = "x".repeat(32 * 1024);
    let mut refused = None;
    for i in 0..200 {
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("cart:{i}"))
            .arg(&blob)
            .query_async(&mut conn)
            .await;
        if let Err(e) = set {
            refused = Some(e.to_string());
            break;
        }
    }
    let refused = refused.expect("writes are refused once maxmemory is reached");
    assert!(refused.contains("OOM"), "{refused}");

    let o = redis(&server.url()).await;
    assert_says(
        &o,
        Status::Down,
        &[
            "out of memory: answers, but writes refused with OOM",
            "noeviction",
        ],
    );
    assert!(metric(&o, "oom_errors") >= 1.0, "{:?}", o.metrics);
}

#[tokio::test]
async fn redis_out_of_client_slots_refuses_connections() {
    let server = RedisServer::start_with(&["--maxclients", "2"]).await;
    let workers = [server.connect().await, server.connect().await];
    let o = redis(&server.url()).await;
    assert_says(&o, Status::Down, &["connections exhausted", "maxclients"]);
    assert_no_secret(&o);

    // A worker goes away; the skill gets in and finds the refusals counted.
    drop(workers);
    let mut o = redis(&server.url()).await;
    for _ in 0..100 {
        if o.status != Status::Down {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        o = redis(&server.url()).await;
    }
    assert_says(&o, Status::Degraded, &["rejected at maxclients"]);
    assert!(metric(&o, "rejected_connections") >= 1.0, "{:?}", o.metrics);
}

#[tokio::test]
async fn redis_stopped_is_down() {
    let mut server = RedisServer::start().await;
    let url = server.url();
    server.stop();
    let o = redis(&url).await;
    assert_says(
        &o,
        Status::Down,
        &[&format!("connection refused at 127.0.0.1:{}", server.port)],
    );
    assert_no_secret(&o);
}

#[tokio::test]
async fn http_healthy_with_expected_body() {
    let servers = HttpServers::start().await;
    let o = http(&servers.healthy(), None, Some("ready"), &[]).await;
    assert_says(&o, Status::Healthy, &["200 OK in"]);
    assert_eq!(metric(&o, "status_code"), 200.0);
    assert!(o.metrics.contains_key("latency_ms"));

    let o = http(&servers.healthy(), None, Some("\"status\":\"ok\""), &[]).await;
    assert_says(&o, Status::Degraded, &["the body did not match"]);
}

#[tokio::test]
async fn http_503_is_down_with_the_body_quoted() {
    let servers = HttpServers::start().await;
    let o = http(&servers.unavailable(), None, None, &[]).await;
    assert_says(&o, Status::Down, &["503 Service Unavailable"]);
    assert_eq!(metric(&o, "status_code"), 503.0);
    assert!(
        o.evidence[0].text.contains("upstream connect error"),
        "{:?}",
        o.evidence
    );
}

#[tokio::test]
async fn http_slow_answer_is_degraded() {
    let servers = HttpServers::start().await;
    let o = http(
        &servers.slow(Duration::from_millis(600)),
        None,
        None,
        &[("FIXPOINT_HTTP_SLOW_S", "0.2")],
    )
    .await;
    assert_says(
        &o,
        Status::Degraded,
        &["200 OK in", "slow: over the 200 ms threshold"],
    );
    assert!(metric(&o, "latency_ms") >= 600.0, "{:?}", o.metrics);
}

#[tokio::test]
async fn http_hanging_service_times_out_within_the_skills_own_limit() {
    let servers = HttpServers::start().await;
    let started = Instant::now();
    let o = http(
        &servers.hanging(),
        None,
        None,
        &[("FIXPOINT_HTTP_TIMEOUT_S", "0.5")],
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_says(
        &o,
        Status::Down,
        &["no response from 127.0.0.1:", "within 0.5 s (timed out)"],
    );
}

#[tokio::test]
async fn http_redirect_to_login_is_named() {
    let servers = HttpServers::start().await;
    let o = http(&servers.redirecting(), None, None, &[]).await;
    assert_says(
        &o,
        Status::Degraded,
        &["redirected 302 to https://sso.example.com/login?next=%2Fhealth (expected 2xx)"],
    );
    // A map that expects the redirect gets it.
    let o = http(&servers.redirecting(), Some(302), None, &[]).await;
    assert_says(&o, Status::Healthy, &["302 Found"]);
}

#[tokio::test]
async fn http_connection_refused_is_named_without_the_password() {
    let url = refused_url().replacen("http://", "http://deploy:hunter2@", 1);
    let o = http(&url, None, None, &[]).await;
    assert_says(&o, Status::Down, &["connection refused at 127.0.0.1:"]);
    assert_no_secret(&o);
}

#[tokio::test]
async fn http_tls_handshake_failure_is_named() {
    let servers = HttpServers::start().await;
    let o = http(&servers.tls_to_plain_http(), None, None, &[]).await;
    assert_says(&o, Status::Down, &["TLS handshake failed with 127.0.0.1:"]);
}

#[tokio::test]
async fn a_host_that_does_not_resolve_is_named_as_dns() {
    // `.invalid` never resolves (RFC 6761).
    let o = http(
        "http://payments-api.staging.invalid/health",
        None,
        None,
        &[],
    )
    .await;
    assert_says(
        &o,
        Status::Down,
        &["DNS lookup failed for payments-api.staging.invalid"],
    );
    let o = postgres(
        "postgres://app:hunter2@ledger-db.staging.invalid:5432/ledger",
        &[],
    )
    .await;
    assert_says(
        &o,
        Status::Down,
        &["DNS lookup failed for ledger-db.staging.invalid:5432"],
    );
    assert_no_secret(&o);
}
