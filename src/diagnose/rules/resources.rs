//! Playbooks for what a service uses: PostgreSQL, Redis, SQS, Lambda, and HTTP health
//! endpoints (the service's own, or a dependency's). Each reads the metrics its skill emits and
//! says nothing when they are absent: a missing metric is not a healthy one, but not a cause.

use super::view::{NodeId, SweepView};
use super::{Candidate, began, matching, metric, num, signals};
use crate::diagnose::RootCauseClass as Class;
use crate::skills::{Finding, Status};

fn text(f: &Finding) -> String {
    let mut t = f.summary.to_lowercase();
    for e in &f.evidence {
        t.push('\n');
        t.push_str(&e.text.to_lowercase());
    }
    t
}

/// `a / b` when both are known and `b` is positive.
fn ratio(f: &Finding, given: &str, used: &str, max: &str) -> Option<f64> {
    metric(f, given).or_else(|| {
        let (u, m) = (metric(f, used)?, metric(f, max)?);
        (m > 0.0).then(|| u / m)
    })
}

pub(super) fn postgres(view: &SweepView<'_>, node: NodeId, f: &Finding, out: &mut Vec<Candidate>) {
    let name = view.node(node).name;
    let lower = text(f);
    let when = began(f);
    let mut said = false;

    let ratio = ratio(f, "connections_ratio", "connections", "max_connections");
    let refusing = signals::any(&lower, signals::SERVER_REFUSES);
    if refusing || ratio.is_some_and(|r| r >= 0.9) {
        let score = if refusing {
            0.95
        } else {
            0.7 + (ratio.unwrap_or(0.9) - 0.9) * 2.5
        };
        let used = match (metric(f, "connections"), metric(f, "max_connections")) {
            (Some(c), Some(m)) => format!("{}/{} connections in use", num(c), num(m)),
            _ => format!(
                "{:.0}% of max_connections in use",
                ratio.unwrap_or(1.0) * 100.0
            ),
        };
        let idle = metric(f, "idle_in_transaction")
            .filter(|&n| n > 0.0)
            .map(|n| format!(", {} idle in transaction", num(n)))
            .unwrap_or_default();
        let refuses = if refusing {
            "; it refuses new clients (53300)"
        } else {
            ""
        };
        let why = format!("{name}: {used}{idle}{refuses}");
        out.push(
            Candidate::new(view, node, Class::DbConnectionsExhausted, score, why)
                .evidence(matching(f, &["connection", "clients", "53300"]))
                .began(when),
        );
        said = true;
    }

    let blocked = metric(f, "blocked_sessions")
        .unwrap_or(0.0)
        .max(metric(f, "waiting_on_locks").unwrap_or(0.0));
    if blocked > 0.0 {
        // The statement that blocks: a migration's first, then a blocking chain, then any line
        // about locks. (The skill's first line counts sessions "waiting on locks": it names
        // no blocker, so it must not win just by coming first.)
        let naming = |words: &[&str]| {
            f.evidence.iter().find(|e| {
                let t = e.text.to_lowercase();
                words.iter().any(|w| t.contains(w))
            })
        };
        let blocker = naming(&["alter table", "create index", "migration"])
            .or_else(|| naming(&["blocking"]))
            .or_else(|| naming(&["lock", "pid"]));
        let migration = blocker.is_some_and(|e| {
            let t = e.text.to_lowercase();
            t.contains("alter table") || t.contains("migration") || t.contains("create index")
        });
        let score = 0.7 + 0.05 * blocked.min(5.0) + if migration { 0.05 } else { 0.0 };
        let behind = if migration {
            " behind a schema migration"
        } else {
            ""
        };
        let why = format!(
            "{name}: {} session(s) blocked on locks{behind}",
            num(blocked)
        );
        out.push(
            Candidate::new(view, node, Class::DbBlockingLocks, score, why)
                .evidence(
                    blocker
                        .into_iter()
                        .chain(matching(f, &["lock", "blocked", "waiting"])),
                )
                .began(when)
                .subject(blocker.map(|e| e.text.clone())),
        );
        said = true;
    }

    // A long query with nothing blocked is slow on its own; with blocking, it is the blocker.
    let longest = metric(f, "longest_query_s").unwrap_or(0.0);
    if longest >= 30.0 && blocked == 0.0 {
        let score = if longest >= 300.0 { 0.7 } else { 0.5 };
        let why = format!(
            "{name}: the longest running query has run {} s",
            num(longest)
        );
        out.push(
            Candidate::new(view, node, Class::DbSlowQueries, score, why)
                .evidence(matching(f, &["query", "select", "update", "duration"]))
                .began(when),
        );
        said = true;
    }

    if !said && f.status == Status::Down {
        let why = format!("{name} is unreachable: {}", f.summary);
        out.push(
            Candidate::new(view, node, Class::DependencyUnhealthy, 0.85, why)
                .evidence(f.evidence.iter().take(2))
                .began(when),
        );
    }
}

pub(super) fn redis(view: &SweepView<'_>, node: NodeId, f: &Finding, out: &mut Vec<Candidate>) {
    let name = view.node(node).name;
    let when = began(f);
    // Unreachable means it does not answer. A cache that answered INFO is reachable, down
    // or not: a full one that refuses writes is memory pressure, read below.
    let answered = metric(f, "used_memory").is_some();
    if f.status == Status::Down && !answered {
        let why = format!("{name} is unreachable: {}", f.summary);
        out.push(
            Candidate::new(view, node, Class::CacheUnreachable, 0.9, why)
                .evidence(f.evidence.iter().take(3))
                .began(when),
        );
        return;
    }
    let ratio = ratio(f, "memory_ratio", "used_memory", "maxmemory");
    let evicted = metric(f, "evicted_keys").unwrap_or(0.0);
    // Writes refused with OOM: what a `noeviction` cache does instead of evicting.
    let refused = metric(f, "oom_errors").unwrap_or(0.0);
    let full = ratio.is_some_and(|r| r >= 0.9);
    let shedding = evicted > 0.0 || refused > 0.0;
    if shedding || ratio.is_some_and(|r| r >= 0.95) {
        let score = match (full, shedding) {
            (true, true) => 0.9,
            (false, true) => 0.6,
            _ => 0.55,
        };
        let used = ratio
            .map(|r| format!("{:.0}% of maxmemory used", r * 100.0))
            .unwrap_or_else(|| "memory near maxmemory".into());
        let writes = if refused > 0.0 {
            format!(", {} writes refused (OOM)", num(refused))
        } else {
            String::new()
        };
        // Under a `volatile-*` policy only keys with a TTL may go: with none, nothing is
        // evicted and writes are refused, as under `noeviction`.
        let pinned = match (metric(f, "volatile_policy"), metric(f, "keys_without_ttl")) {
            (Some(v), Some(k)) if v > 0.0 && k > 0.0 && evicted == 0.0 => format!(
                "; its policy evicts only keys with a TTL and {} keys have none",
                num(k)
            ),
            _ => String::new(),
        };
        let why = format!(
            "{name}: {used}, {} keys evicted{writes}{pinned}",
            num(evicted)
        );
        out.push(
            Candidate::new(view, node, Class::CacheMemoryPressure, score, why)
                .evidence(matching(f, &["memory", "evict"]))
                .began(when),
        );
    }
    let rejected = metric(f, "rejected_connections").unwrap_or(0.0);
    if rejected > 0.0 {
        let why = format!(
            "{name}: {} connections rejected (maxclients)",
            num(rejected)
        );
        out.push(
            Candidate::new(view, node, Class::CacheUnreachable, 0.5, why)
                .evidence(matching(f, &["reject", "maxclients"]))
                .began(when),
        );
    }
}

pub(super) fn sqs(view: &SweepView<'_>, node: NodeId, f: &Finding, out: &mut Vec<Candidate>) {
    let name = view.node(node).name;
    let when = began(f);
    let visible = metric(f, "visible").unwrap_or(0.0);
    let in_flight = metric(f, "in_flight");
    let idle = in_flight == Some(0.0);
    let unhealthy = f.status != Status::Healthy;
    if visible >= 1000.0 || (unhealthy && (visible >= 100.0 || (visible > 0.0 && idle))) {
        let score = 0.55
            + if visible >= 100.0 { 0.1 } else { 0.0 }
            + if visible >= 1000.0 { 0.1 } else { 0.0 }
            + if idle { 0.1 } else { 0.0 };
        let receiving = if idle {
            ", none in flight: nothing is receiving"
        } else {
            ""
        };
        let why = format!("{name}: {} messages waiting{receiving}", num(visible));
        out.push(
            Candidate::new(view, node, Class::QueueBacklog, score, why)
                .evidence(matching(f, &["visible", "oldest", "depth", "messages"]))
                .began(when),
        );
    }
    let dead = metric(f, "dlq_visible").unwrap_or(0.0);
    if dead > 0.0 {
        let score =
            0.6 + if dead >= 10.0 { 0.15 } else { 0.0 } + if dead >= 100.0 { 0.1 } else { 0.0 };
        let tries = metric(f, "max_receive_count")
            .map(|n| format!(" after {} receives each", num(n)))
            .unwrap_or_default();
        let why = format!(
            "{name}: {} messages in the dead-letter queue{tries}",
            num(dead)
        );
        out.push(
            Candidate::new(view, node, Class::DeadLetters, score, why)
                .evidence(matching(f, &["dlq", "dead"]))
                .began(when),
        );
    }
}

pub(super) fn lambda(view: &SweepView<'_>, node: NodeId, f: &Finding, out: &mut Vec<Candidate>) {
    let name = view.node(node).name;
    let when = began(f);
    let throttles = metric(f, "throttles").unwrap_or(0.0);
    let reserved = metric(f, "reserved_concurrency");
    if throttles > 0.0 || reserved == Some(0.0) {
        let score = if reserved == Some(0.0) {
            0.95
        } else if throttles >= 10.0 {
            0.85
        } else {
            0.65
        };
        let limit = reserved
            .map(|r| format!(" (reserved concurrency {})", num(r)))
            .unwrap_or_default();
        let why = format!("{name}: {} throttled invocations{limit}", num(throttles));
        out.push(
            Candidate::new(view, node, Class::LambdaThrottled, score, why)
                .evidence(matching(f, &["throttl", "concurrency", "rate exceeded"]))
                .began(when),
        );
    }
    let errors = metric(f, "errors").unwrap_or(0.0);
    if errors > 0.0 {
        let score = if errors >= 10.0 { 0.75 } else { 0.55 };
        let why = format!("{name}: {} failed invocations", num(errors));
        out.push(
            Candidate::new(view, node, Class::LambdaErrors, score, why)
                .evidence(matching(f, &["error", "exception", "timed out"]))
                .began(when),
        );
    }
}

pub(super) fn http(view: &SweepView<'_>, node: NodeId, f: &Finding, out: &mut Vec<Candidate>) {
    if !matches!(f.status, Status::Down | Status::Degraded) {
        return;
    }
    let name = view.node(node).name;
    let answer = metric(f, "status_code")
        .map(|c| format!("HTTP {}", num(c)))
        .unwrap_or_else(|| f.summary.clone());
    let (class, score, why) = if node == view.root() {
        (
            Class::HealthCheckFailed,
            0.7,
            format!("{name}'s health endpoint answers {answer}"),
        )
    } else if f.status == Status::Down {
        (
            Class::DependencyUnhealthy,
            0.8,
            format!("{name} is down: {answer}"),
        )
    } else {
        (
            Class::DependencyUnhealthy,
            0.55,
            format!("{name} is degraded: {answer}"),
        )
    };
    out.push(
        Candidate::new(view, node, class, score, why)
            .evidence(f.evidence.iter().take(3))
            .began(began(f)),
    );
}
