//! The `redis` skill: one connection, one `INFO`. It reports memory against `maxmemory` and
//! what the server does about it (evictions, refused writes), connections refused at
//! `maxclients`, and clients blocked in commands. `INFO` is all it sends, so it works on
//! managed Redis (ElastiCache) where `CONFIG` is disabled.
//!
//! Counters in `INFO` (`evicted_keys`, `rejected_connections`, `errorstat_OOM`) count since
//! the server started or its stats were reset: the evidence says so.
//!
//! Threshold from the context's variables: `FIXPOINT_REDIS_BLOCKED_CLIENTS` (default 50;
//! queue workers in `BLPOP` are blocked clients by design).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo,
    RedisError, RedisFuture, RedisResult,
};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

use super::{Evidence, Observation, Skill, SkillContext, Status};
use crate::outbound::{OutboundPolicy, ResolveError};
use crate::redact::redact;
use crate::topology::{CheckTarget, SkillKind};

pub const BLOCKED_CLIENTS_VAR: &str = "FIXPOINT_REDIS_BLOCKED_CLIENTS";
const BLOCKED_CLIENTS: f64 = 50.0;
/// For connecting and for each command.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Memory use from which evictions and OOM errors mean "full now", not "was full once".
const FULL_RATIO: f64 = 0.9;

pub struct Redis;

impl Skill for Redis {
    fn kind(&self) -> SkillKind {
        SkillKind::Redis
    }

    fn check<'a>(
        &'a self,
        target: &'a CheckTarget,
        ctx: &'a SkillContext,
    ) -> BoxFuture<'a, anyhow::Result<Observation>> {
        Box::pin(async move {
            let CheckTarget::Redis { endpoint } = target else {
                return Err(super::wrong_target(self.kind(), target));
            };
            let url = ctx.resolve(endpoint)?;
            let blocked_max = ctx.threshold(BLOCKED_CLIENTS_VAR, BLOCKED_CLIENTS)?;
            check_url(&url, blocked_max, &ctx.outbound).await
        })
    }
}

async fn check_url(
    url: &str,
    blocked_max: f64,
    policy: &OutboundPolicy,
) -> anyhow::Result<Observation> {
    // Never echo the value: `url_env` may name a variable that holds a secret.
    let info = url.into_connection_info().map_err(|e| {
        anyhow::anyhow!(
            "the Redis URL does not parse ({e}); its value is not shown, as it may be a secret"
        )
    })?;
    let judged = match judge(&info.addr, policy).await? {
        Ok(judged) => judged,
        Err(ResolveError::Lookup { host, source }) => {
            return Ok(Observation::new(
                Status::Down,
                format!("DNS lookup failed for {host}: {source}"),
            ));
        }
        Err(ResolveError::Refused(e)) => return Err(e.into()),
    };
    let at = info.addr.to_string();
    let plain = matches!(info.addr, ConnectionAddr::Tcp(..));
    let mut conn = match connect_at(info, judged.clone()).await {
        Ok(conn) => conn,
        Err(e) if e.is_connection_dropped() && plain => {
            let said = first_words(judged[0]).await;
            return refused(&e, &at, said.as_deref());
        }
        Err(e) => return refused(&e, &at, None),
    };
    let info: String = match redis::cmd("INFO").query_async(&mut conn).await {
        Ok(info) => info,
        Err(e) => return refused(&e, &at, None),
    };
    Ok(assess(&Info::parse(&info), &at, blocked_max))
}

/// The addresses of the URL's host that the policy allows.
/// Outer error: the URL is not one a map may name; inner: why no address came out.
async fn judge(
    addr: &ConnectionAddr,
    policy: &OutboundPolicy,
) -> anyhow::Result<Result<Vec<SocketAddr>, ResolveError>> {
    match addr {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            Ok(policy.resolve(host, *port).await)
        }
        ConnectionAddr::Unix(_) => anyhow::bail!(
            "the URL names a Unix socket on Fixpoint's own machine; a map may name network addresses only"
        ),
    }
}

/// A connection to one of `judged`, addresses the outbound policy allowed for the host of
/// `info`. The host stays in `info`: with `rediss://` the certificate is checked against
/// it. The driver's own lookup is replaced by `judged`, so it dials nothing else (no
/// second DNS answer).
pub async fn connect_at(
    info: ConnectionInfo,
    judged: Vec<SocketAddr>,
) -> RedisResult<MultiplexedConnection> {
    // redis builds its rustls config without naming a crypto provider, and the tree has
    // two (ring, aws-lc-rs), so rustls cannot pick: without a process default, `rediss://`
    // panics. An error here only says a default is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(TIMEOUT)
        .set_response_timeout(TIMEOUT)
        .set_dns_resolver(Judged(judged));
    redis::Client::open(info)?
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// The driver's "DNS": the addresses already judged, whatever name it asks for.
struct Judged(Vec<SocketAddr>);

impl redis::io::AsyncDNSResolver for Judged {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        _host: &'b str,
        _port: u16,
    ) -> RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
        let judged = self.0.clone().into_iter();
        Box::pin(async move { Ok(Box::new(judged) as Box<dyn Iterator<Item = SocketAddr> + Send>) })
    }
}

/// A connection or a command that failed: the server's state when the server said so,
/// an error (an `unknown` finding) when the fault is in our own configuration.
fn refused(e: &RedisError, at: &str, said: Option<&str>) -> anyhow::Result<Observation> {
    let text = redact(said.unwrap_or(&e.to_string())).into_owned();
    let down = |summary: String| {
        Ok(Observation::new(Status::Down, summary)
            .evidence(Evidence::new(format!("redis:{at}"), text.clone())))
    };
    if e.is_connection_refusal() {
        return down(format!("connection refused at {at}"));
    }
    if e.is_timeout() {
        return down(format!(
            "no answer from {at} within {} s (timed out)",
            TIMEOUT.as_secs()
        ));
    }
    if text.contains("max number of clients reached") {
        return down(format!(
            "connections exhausted: {at} refuses new clients (maxclients reached)"
        ));
    }
    match e.kind() {
        ErrorKind::BusyLoadingError => down(format!(
            "{at} is loading its dataset into memory and not serving yet (LOADING)"
        )),
        ErrorKind::MasterDown => down(format!(
            "{at} is a replica that lost its primary (MASTERDOWN)"
        )),
        ErrorKind::AuthenticationFailed => anyhow::bail!(
            "cannot authenticate to {at}: {text}: check the password in the node's URL"
        ),
        _ if text.contains("NOAUTH") || text.contains("WRONGPASS") => anyhow::bail!(
            "cannot authenticate to {at}: {text}: check the password in the node's URL"
        ),
        ErrorKind::IoError if e.is_connection_dropped() => {
            down(format!("{at} closed the connection: {text}"))
        }
        ErrorKind::IoError => down(format!("cannot reach {at}: {text}")),
        _ => anyhow::bail!("Redis at {at} answered INFO with an error: {text}"),
    }
}

/// What the server says first on a new connection. A server out of client slots writes
/// `-ERR max number of clients reached` and hangs up, often before the client's first command
/// is through, so the client only sees a broken pipe.
async fn first_words(addr: SocketAddr) -> Option<String> {
    let mut stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    let line = String::from_utf8_lossy(&buf[..n]);
    line.strip_prefix('-').map(|l| l.trim_end().to_string())
}

/// The fields of `INFO` the skill reads.
#[derive(Debug, Default)]
struct Info {
    used_memory: f64,
    used_memory_human: String,
    maxmemory: f64,
    maxmemory_human: String,
    policy: String,
    evicted_keys: f64,
    rejected_connections: f64,
    blocked_clients: f64,
    connected_clients: f64,
    oom_errors: f64,
    /// Keys with no TTL, over every database (`db0:keys=…,expires=…`).
    keys_without_ttl: f64,
    loading: bool,
    version: String,
}

impl Info {
    fn parse(text: &str) -> Info {
        let fields: HashMap<&str, &str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.trim_end().split_once(':'))
            .collect();
        let number = |name: &str| {
            fields
                .get(name)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let string = |name: &str| fields.get(name).map(|v| v.to_string()).unwrap_or_default();
        // `errorstat_OOM:count=12` (Redis 6.2+): writes refused for lack of memory.
        let oom_errors = fields
            .get("errorstat_OOM")
            .and_then(|v| v.split(',').find_map(|kv| kv.strip_prefix("count=")))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        // `db0:keys=250,expires=12,avg_ttl=0`: keys minus those with a TTL, per database.
        let keys_without_ttl = fields
            .iter()
            .filter(|(k, _)| k.starts_with("db") && k[2..].chars().all(|c| c.is_ascii_digit()))
            .map(|(_, v)| {
                let count = |name: &str| {
                    v.split(',')
                        .find_map(|kv| kv.strip_prefix(name))
                        .and_then(|n| n.parse::<f64>().ok())
                        .unwrap_or(0.0)
                };
                (count("keys=") - count("expires=")).max(0.0)
            })
            .sum();
        Info {
            keys_without_ttl,
            used_memory: number("used_memory"),
            used_memory_human: string("used_memory_human"),
            maxmemory: number("maxmemory"),
            maxmemory_human: string("maxmemory_human"),
            policy: string("maxmemory_policy"),
            evicted_keys: number("evicted_keys"),
            rejected_connections: number("rejected_connections"),
            blocked_clients: number("blocked_clients"),
            connected_clients: number("connected_clients"),
            oom_errors,
            loading: fields.get("loading") == Some(&"1"),
            version: string("redis_version"),
        }
    }

    /// `used_memory / maxmemory`, when a limit is set.
    fn ratio(&self) -> Option<f64> {
        (self.maxmemory > 0.0).then(|| self.used_memory / self.maxmemory)
    }

    fn memory(&self) -> String {
        match self.ratio() {
            Some(r) => format!(
                "memory {} of {} ({:.0}%, {})",
                self.used_memory_human,
                self.maxmemory_human,
                r * 100.0,
                self.policy
            ),
            None => format!("memory {} (no maxmemory set)", self.used_memory_human),
        }
    }
}

fn assess(info: &Info, at: &str, blocked_max: f64) -> Observation {
    let ratio = info.ratio();
    let full = ratio.is_some_and(|r| r >= FULL_RATIO);
    let mut problems: Vec<(Status, String)> = Vec::new();
    if info.loading {
        problems.push((
            Status::Down,
            "loading its dataset into memory: not serving yet".into(),
        ));
    }
    let no_eviction = info.policy == "noeviction";
    if info.oom_errors > 0.0 && full || no_eviction && ratio.is_some_and(|r| r >= 1.0) {
        // It answers, so it is reachable; what it refuses is writes.
        let pinned = if info.policy.starts_with("volatile-") && info.evicted_keys == 0.0 {
            format!(
                "; {} evicts only keys with a TTL and {} keys have none",
                info.policy, info.keys_without_ttl
            )
        } else {
            String::new()
        };
        problems.push((
            Status::Down,
            format!(
                "out of memory: answers, but writes refused with OOM ({} so far), {}{pinned}",
                info.oom_errors,
                info.memory()
            ),
        ));
    } else if info.oom_errors > 0.0 {
        problems.push((
            Status::Degraded,
            format!(
                "{} write(s) were refused with OOM earlier; {} now",
                info.oom_errors,
                info.memory()
            ),
        ));
    }
    if info.evicted_keys > 0.0 && full {
        problems.push((
            Status::Degraded,
            format!(
                "evicting keys: {} evicted, {}",
                info.evicted_keys,
                info.memory()
            ),
        ));
    }
    if info.rejected_connections > 0.0 {
        problems.push((
            Status::Degraded,
            format!(
                "{} connection(s) rejected at maxclients",
                info.rejected_connections
            ),
        ));
    }
    if info.blocked_clients > blocked_max {
        problems.push((
            Status::Degraded,
            format!(
                "{} clients blocked in commands (threshold {blocked_max})",
                info.blocked_clients
            ),
        ));
    }
    let status = problems
        .iter()
        .map(|(s, _)| *s)
        .min()
        .unwrap_or(Status::Healthy);
    let summary = if problems.is_empty() {
        format!(
            "{}, clients: {} connected, no evictions or refused writes",
            info.memory(),
            info.connected_clients
        )
    } else {
        problems
            .into_iter()
            .map(|(_, p)| p)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut observation = Observation::new(status, summary)
        .evidence(Evidence::new(
            format!("redis:{at} INFO"),
            format!(
                "redis {}; {}; evicted_keys {}, rejected_connections {}, OOM errors {} (since start or stats reset); clients {} connected, {} blocked",
                info.version,
                info.memory(),
                info.evicted_keys,
                info.rejected_connections,
                info.oom_errors,
                info.connected_clients,
                info.blocked_clients
            ),
        ))
        .metric("used_memory", info.used_memory)
        .metric("maxmemory", info.maxmemory)
        .metric("evicted_keys", info.evicted_keys)
        .metric("rejected_connections", info.rejected_connections)
        .metric("blocked_clients", info.blocked_clients)
        .metric("connected_clients", info.connected_clients)
        .metric("oom_errors", info.oom_errors)
        .metric("keys_without_ttl", info.keys_without_ttl)
        .metric(
            "volatile_policy",
            if info.policy.starts_with("volatile-") {
                1.0
            } else {
                0.0
            },
        );
    if let Some(ratio) = ratio {
        observation = observation.metric("memory_ratio", ratio);
    }
    observation
}
