//! The `postgres` skill: one read-only session (not a pool) that reads what a failing deploy
//! most often runs into on its database: connections used up, sessions waiting on locks and
//! who holds them (a migration's `ALTER TABLE`), and queries running too long. When the
//! server refuses the session itself (SQLSTATE 53300), that refusal is the finding.
//!
//! The role needs `pg_monitor` (or `pg_read_all_stats`) to see other roles' sessions;
//! without it the evidence says so. Query texts are shown cut short, with string literals
//! masked: they may hold customer data.
//!
//! Threshold from the context's variables: `FIXPOINT_PG_LONG_QUERY_S` (default 30).

mod pinned;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use regex::Regex;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions as _, Connection as _};

use super::{Evidence, Observation, Skill, SkillContext, Status};
use crate::outbound::{OutboundPolicy, ResolveError};
use crate::redact::redact;
use crate::topology::{CheckTarget, SkillKind};

pub const LONG_QUERY_VAR: &str = "FIXPOINT_PG_LONG_QUERY_S";
const LONG_QUERY_S: f64 = 30.0;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections in use over the slots open to ordinary roles from which the pool is "nearly full".
const BUSY_RATIO: f64 = 0.9;
/// Blocking chains and long queries quoted as evidence, worst first.
const SHOWN: usize = 3;
const QUERY_CHARS: usize = 120;

pub struct Postgres;

impl Skill for Postgres {
    fn kind(&self) -> SkillKind {
        SkillKind::Postgres
    }

    fn check<'a>(
        &'a self,
        target: &'a CheckTarget,
        ctx: &'a SkillContext,
    ) -> BoxFuture<'a, anyhow::Result<Observation>> {
        Box::pin(async move {
            let CheckTarget::Postgres { endpoint } = target else {
                return Err(super::wrong_target(self.kind(), target));
            };
            let url = ctx.resolve(endpoint)?;
            let long_query_s = ctx.threshold(LONG_QUERY_VAR, LONG_QUERY_S)?;
            check_url(&url, long_query_s, &ctx.outbound).await
        })
    }
}

/// The session the skill reads through: one connection whose transactions are read-only
/// (`default_transaction_read_only`) and whose statements give up after 3 s. They are
/// startup parameters, not `SET`s, so they live and die with this session.
pub async fn read_only_session(url: &str) -> Result<PgConnection, sqlx::Error> {
    session(PgConnectOptions::from_str(url)?).await
}

/// As [`read_only_session`], to `addr`, an address the outbound policy judged for the
/// URL's host: the session dials nothing else, and `verify-full` still checks the
/// certificate against the host name (see `pinned`).
pub async fn read_only_session_at(
    options: PgConnectOptions,
    addr: SocketAddr,
) -> Result<PgConnection, sqlx::Error> {
    session(pinned::pin(options, addr, CONNECT_TIMEOUT).await?).await
}

async fn session(options: PgConnectOptions) -> Result<PgConnection, sqlx::Error> {
    options
        .application_name("fixpoint")
        .options([
            ("default_transaction_read_only", "on"),
            ("statement_timeout", "3s"),
            ("lock_timeout", "1s"),
        ])
        .disable_statement_logging()
        .connect()
        .await
}

async fn check_url(
    url: &str,
    long_query_s: f64,
    policy: &OutboundPolicy,
) -> anyhow::Result<Observation> {
    // Never echo the value: `url_env` may name a variable that holds a secret.
    let options = PgConnectOptions::from_str(url).map_err(|e| {
        anyhow::anyhow!(
            "the PostgreSQL URL does not parse ({e}); its value is not shown, as it may be a secret"
        )
    })?;
    let at = format!("{}:{}", options.get_host(), options.get_port());
    anyhow::ensure!(
        !options.get_host().starts_with('/'),
        "the URL names a Unix socket on Fixpoint's own machine; a map may name network addresses only"
    );
    let addr = match policy.resolve(options.get_host(), options.get_port()).await {
        Ok(addrs) => addrs[0],
        Err(ResolveError::Lookup { source, .. }) => return refused(sqlx::Error::Io(source), &at),
        Err(ResolveError::Refused(e)) => return Err(e.into()),
    };
    let session = read_only_session_at(options, addr);
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, session).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return refused(e, &at),
        Err(_) => {
            return Ok(Observation::new(
                Status::Down,
                format!(
                    "no answer from {at} within {} s (connect timed out)",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ));
        }
    };
    let observed = inspect(&mut conn, &at, long_query_s).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
    observed
}

/// The session could not be opened: the server's state when the server said so, an error
/// (an `unknown` finding) when the fault is in our own configuration.
fn refused(e: sqlx::Error, at: &str) -> anyhow::Result<Observation> {
    let down = |summary: String, detail: String| {
        Ok(
            Observation::new(Status::Down, summary).evidence(Evidence::new(
                format!("postgres:{at}"),
                redact(&detail).into_owned(),
            )),
        )
    };
    match &e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            down(format!("connection refused at {at}"), io.to_string())
        }
        sqlx::Error::Io(io) if io.to_string().contains("lookup address") => {
            down(format!("DNS lookup failed for {at}: {io}"), io.to_string())
        }
        sqlx::Error::Io(io) => down(format!("cannot reach {at}: {io}"), io.to_string()),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = db.message().to_string();
            match code.as_str() {
                "53300" => down(
                    format!(
                        "connections exhausted: server refuses new connections (53300): {message}"
                    ),
                    format!("SQLSTATE 53300 at {at}: {message}"),
                )
                .map(|o| o.metric("connections_ratio", 1.0)),
                "57P03" => down(
                    format!("{at} is not accepting connections (57P03): {message}"),
                    format!("SQLSTATE 57P03: {message}"),
                ),
                c if c.starts_with("28") => anyhow::bail!(
                    "cannot log in to {at} ({code}): {message}: check the role and password in the node's URL"
                ),
                _ => anyhow::bail!("{at} refused the session ({code}): {message}"),
            }
        }
        sqlx::Error::Tls(tls) => anyhow::bail!("TLS with {at} failed: {tls}"),
        _ => Err(anyhow::Error::new(e).context(format!("cannot open a session on {at}"))),
    }
}

/// One client backend, as `pg_stat_activity` shows it to us.
#[derive(sqlx::FromRow)]
struct Backend {
    pid: i32,
    state: Option<String>,
    waiting_on_lock: bool,
    blocked_by: Vec<i32>,
    query_s: Option<f64>,
    state_s: Option<f64>,
    query: Option<String>,
    is_self: bool,
    /// `client backend`, or e.g. `autovacuum worker`, which can block a migration too.
    backend_type: String,
}

impl Backend {
    fn is(&self, state: &str) -> bool {
        self.state.as_deref() == Some(state)
    }

    /// Running a query, not waiting on a lock (waits are reported as blocking).
    fn running(&self) -> bool {
        self.is("active") && !self.waiting_on_lock && self.is_client()
    }

    /// A client of the server other than this session: what connection slots are used by.
    fn is_client(&self) -> bool {
        !self.is_self && self.backend_type == "client backend"
    }

    /// `pid 4242 (idle in transaction for 47 s)`.
    fn describe(&self) -> String {
        let state = self.state.as_deref().unwrap_or("state hidden");
        let age = if self.is("active") {
            self.query_s
        } else {
            self.state_s
        };
        let kind = match self.backend_type.as_str() {
            "client backend" => String::new(),
            other => format!("{other}, "),
        };
        match age {
            Some(age) => format!("pid {} ({kind}{state} for {age:.0} s)", self.pid),
            None => format!("pid {} ({kind}{state})", self.pid),
        }
    }

    /// The query on one line, string literals masked, cut to [`QUERY_CHARS`].
    fn query(&self) -> String {
        static LITERAL: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"'(?:[^']|'')*'?").expect("literal pattern compiles"));
        let Some(query) = self.query.as_deref() else {
            return "(query not visible)".into();
        };
        let flat = query.split_whitespace().collect::<Vec<_>>().join(" ");
        let masked = LITERAL.replace_all(&flat, "'…'");
        match masked.char_indices().nth(QUERY_CHARS) {
            Some((cut, _)) => format!("{}…", &masked[..cut]),
            None => masked.into_owned(),
        }
    }
}

/// A lock a blocked session waits for, or a strong one a blocker holds.
#[derive(sqlx::FromRow)]
struct Lock {
    pid: i32,
    mode: String,
    granted: bool,
    object: String,
}

/// Connection slots: `max_connections`, less those kept for superusers (and, from
/// PostgreSQL 16, for `pg_use_reserved_connections`).
#[derive(sqlx::FromRow)]
struct Slots {
    max: i32,
    reserved_su: i32,
    reserved: i32,
    read_only: String,
}

async fn inspect(
    conn: &mut PgConnection,
    at: &str,
    long_query_s: f64,
) -> anyhow::Result<Observation> {
    let slots: Slots = sqlx::query_as(
        "SELECT current_setting('max_connections')::int4 AS max, \
                current_setting('superuser_reserved_connections')::int4 AS reserved_su, \
                coalesce(current_setting('reserved_connections', true)::int4, 0) AS reserved, \
                current_setting('transaction_read_only') AS read_only",
    )
    .fetch_one(&mut *conn)
    .await
    .with_context(|| format!("cannot read the connection settings of {at}"))?;
    // pg_blocking_pids is costly: ask only for sessions that wait on a lock.
    let backends: Vec<Backend> = sqlx::query_as(
        "SELECT pid, state, coalesce(wait_event_type = 'Lock', false) AS waiting_on_lock, \
                CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) ELSE '{}'::int4[] END AS blocked_by, \
                extract(epoch FROM now() - query_start)::float8 AS query_s, \
                extract(epoch FROM now() - state_change)::float8 AS state_s, \
                left(query, 400) AS query, pid = pg_backend_pid() AS is_self, \
                coalesce(backend_type, '') AS backend_type \
         FROM pg_stat_activity WHERE backend_type IN ('client backend', 'autovacuum worker')",
    )
    .fetch_all(&mut *conn)
    .await
    .with_context(|| format!("cannot read pg_stat_activity on {at}"))?;
    let involved: Vec<i32> = backends
        .iter()
        .filter(|b| !b.blocked_by.is_empty())
        .flat_map(|b| b.blocked_by.iter().copied().chain([b.pid]))
        .collect();
    let locks: Vec<Lock> = if involved.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "SELECT pid, mode, granted, \
                    CASE WHEN relation IS NOT NULL THEN relation::regclass::text \
                         WHEN locktype IN ('transactionid', 'tuple') THEN 'a row' ELSE locktype END AS object \
             FROM pg_locks WHERE pid = ANY($1) AND (NOT granted OR (locktype = 'relation' AND mode IN \
                ('AccessExclusiveLock', 'ExclusiveLock', 'ShareRowExclusiveLock', 'ShareLock', 'ShareUpdateExclusiveLock')))",
        )
        .bind(&involved)
        .fetch_all(&mut *conn)
        .await
        .with_context(|| format!("cannot read pg_locks on {at}"))?
    };
    Ok(assess(&backends, &locks, &slots, long_query_s))
}

fn assess(backends: &[Backend], locks: &[Lock], slots: &Slots, long_query_s: f64) -> Observation {
    let others = || backends.iter().filter(|b| b.is_client());
    let in_state = |state: &str| others().filter(|b| b.is(state)).count();
    let connections = others().count() + 1;
    let usable = (slots.max - slots.reserved_su - slots.reserved).max(1) as usize;
    let ratio = connections as f64 / usable as f64;
    let (active, idle) = (in_state("active"), in_state("idle"));
    let idle_in_tx = in_state("idle in transaction") + in_state("idle in transaction (aborted)");
    let waiting: Vec<&Backend> = others().filter(|b| b.waiting_on_lock).collect();
    let blocked: Vec<&Backend> = others().filter(|b| !b.blocked_by.is_empty()).collect();
    let longest_wait = waiting.iter().filter_map(|b| b.query_s).fold(0.0, f64::max);
    let longest = others()
        .filter(|b| b.running())
        .filter_map(|b| b.query_s)
        .fold(0.0, f64::max);
    let mut long: Vec<&Backend> = others()
        .filter(|b| b.running() && b.query_s.is_some_and(|s| s >= long_query_s))
        .collect();
    long.sort_by(|a, b| {
        b.query_s
            .partial_cmp(&a.query_s)
            .unwrap_or(std::cmp::Ordering::Equal)
    });

    let use_line = format!(
        "{connections}/{usable} usable connections ({:.0}%; max_connections {}, {} reserved)",
        ratio * 100.0,
        slots.max,
        slots.reserved_su + slots.reserved
    );
    let mut problems = Vec::new();
    let mut evidence = vec![Evidence::new(
        "postgres:pg_stat_activity",
        format!(
            "{use_line}: active {active}, idle {idle}, idle in transaction {idle_in_tx}, other {}, waiting on locks {}; read-only session: {}",
            connections.saturating_sub(1 + active + idle + idle_in_tx),
            waiting.len(),
            slots.read_only
        ),
    )];
    if ratio >= BUSY_RATIO {
        problems.push(format!(
            "connections nearly exhausted: {use_line}: {active} active, {idle} idle, {idle_in_tx} idle in transaction"
        ));
    }
    // Chain heads: blockers not blocked themselves, the one holding up most sessions first.
    let mut heads: Vec<(&Backend, usize)> = backends
        .iter()
        .filter(|b| b.blocked_by.is_empty())
        .map(|b| {
            (
                b,
                blocked
                    .iter()
                    .filter(|w| w.blocked_by.contains(&b.pid))
                    .count(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    heads.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.pid.cmp(&b.0.pid)));
    for (i, (head, held_up)) in heads.iter().take(SHOWN).enumerate() {
        let holds: Vec<String> = locks
            .iter()
            .filter(|l| l.pid == head.pid && l.granted)
            .map(|l| format!("{} on {}", l.mode, l.object))
            .collect();
        let holds = if holds.is_empty() {
            String::new()
        } else {
            format!(" holds {}", holds.join(", "))
        };
        let chain = format!("{}{holds}: {}", head.describe(), head.query());
        if i == 0 {
            problems.push(format!(
                "{} blocked on locks: {chain}",
                plural(blocked.len(), "session", "sessions")
            ));
        }
        let waits: Vec<String> = locks
            .iter()
            .filter(|l| !l.granted)
            .filter_map(|l| {
                Some((
                    l,
                    blocked
                        .iter()
                        .find(|w| w.pid == l.pid && w.blocked_by.contains(&head.pid))?,
                ))
            })
            .take(SHOWN)
            .map(|(l, w)| {
                format!(
                    "pid {} waits {:.0} s for {} on {}",
                    w.pid,
                    w.query_s.unwrap_or(0.0),
                    l.mode,
                    l.object
                )
            })
            .collect();
        evidence.push(Evidence::new(
            "postgres:pg_locks",
            format!(
                "blocking chain: {chain} — blocks {}; {}",
                plural(*held_up, "session", "sessions"),
                waits.join("; ")
            ),
        ));
    }
    if heads.is_empty() && !blocked.is_empty() {
        // The blockers are out of sight: a prepared transaction (pid 0), a cycle, or gone.
        let mut pids: Vec<i32> = blocked
            .iter()
            .flat_map(|b| b.blocked_by.iter().copied())
            .collect();
        pids.sort_unstable();
        pids.dedup();
        problems.push(format!(
            "{} blocked on locks held by pid(s) {pids:?} (0: a prepared transaction)",
            plural(blocked.len(), "session", "sessions")
        ));
    }
    if let Some(first) = long.first() {
        problems.push(format!(
            "{} running over {long_query_s} s, longest {}: {}",
            plural(long.len(), "query", "queries"),
            first.describe(),
            first.query()
        ));
    }
    for b in long.iter().take(SHOWN) {
        evidence.push(Evidence::new(
            "postgres:pg_stat_activity",
            format!("long query: {}: {}", b.describe(), b.query()),
        ));
    }
    let hidden = others()
        .filter(|b| b.query.as_deref() == Some("<insufficient privilege>"))
        .count();
    if hidden > 0 {
        evidence.push(Evidence::new(
            "postgres:pg_stat_activity",
            format!(
                "{} hidden from this role: grant it pg_monitor",
                plural(hidden, "session is", "sessions are")
            ),
        ));
    }
    let (status, summary) = if problems.is_empty() {
        let line =
            format!("{use_line}, {active} active, no lock waits, no queries over {long_query_s} s");
        (Status::Healthy, line)
    } else {
        (Status::Degraded, problems.join("; "))
    };
    let mut observation = Observation::new(status, redact(&summary).into_owned());
    for e in evidence {
        let text = redact(&e.text).into_owned();
        observation = observation.evidence(Evidence { text, ..e });
    }
    observation
        .metric("connections", connections as f64)
        .metric("max_connections", f64::from(slots.max))
        .metric(
            "superuser_reserved_connections",
            f64::from(slots.reserved_su),
        )
        .metric("connections_ratio", ratio)
        .metric("active", active as f64)
        .metric("idle", idle as f64)
        .metric("idle_in_transaction", idle_in_tx as f64)
        .metric("waiting_on_locks", waiting.len() as f64)
        .metric("blocked_sessions", blocked.len() as f64)
        .metric("longest_lock_wait_s", longest_wait)
        .metric("long_queries", long.len() as f64)
        .metric("longest_query_s", longest)
        .metric("read_only", if slots.read_only == "on" { 1.0 } else { 0.0 })
}

/// `1 session`, `3 sessions`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
