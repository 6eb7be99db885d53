//! Playbooks for a service's own checks: ECS (tasks, stop reasons, events, task definition),
//! CloudWatch logs (start-up errors, and errors that name a resource the service uses), and
//! the GHA run (compiler and test output).

use super::reading::{LineSignal, Stops, read_line};
use super::view::{NodeId, SweepView};
use super::{Basis, Candidate, began, lines, matching, metric, num, signals};
use crate::diagnose::RootCauseClass as Class;
use crate::skills::ecs::StopCause;
use crate::skills::{Evidence, Finding, Status};
use crate::topology::SkillKind;

pub(super) fn ecs(view: &SweepView<'_>, node: NodeId, f: &Finding, out: &mut Vec<Candidate>) {
    let name = view.node(node).name;
    let m = |k| metric(f, k).unwrap_or(0.0);
    let stops = Stops::read(f);
    let (mut oom_text, mut health_text, mut essential) = (false, false, false);
    let mut exit_code = metric(f, "crash_exit_code").map(|c| c as u32);
    for (lower, _) in lines(f) {
        oom_text |= signals::any(&lower, signals::OOM) || signals::exit_137(&lower);
        health_text |= signals::any(&lower, signals::HEALTH_CHECK);
        essential |= lower.contains(signals::ESSENTIAL_EXITED);
        exit_code = exit_code.or_else(|| signals::nonzero_exit(&lower).filter(|&c| c != 137));
    }
    let when = began(f);
    let memory = metric(f, "memory_mb")
        .map(|mb| format!(" at {} MB", num(mb)))
        .unwrap_or_default();

    let kills = m("oom_kills").max(m("exit_137"));
    let oom = kills > 0.0 || oom_text || stops.count(StopCause::OutOfMemory) > 0.0;
    if oom {
        let (score, seen) = if kills > 0.0 {
            (
                0.95,
                format!("{} task(s) killed for memory (exit 137)", num(kills)),
            )
        } else {
            (
                0.85,
                "tasks stopped with OutOfMemory / exit 137".to_string(),
            )
        };
        let why = format!("{name}: {seen}{memory}");
        out.push(
            Candidate::new(view, node, Class::OomKilled, score, why)
                .evidence(matching(f, &["outofmemory", "oomkilled", "137", "memory"]))
                .began(when)
                .words_only(kills == 0.0),
        );
    }

    let pulls = stops.count(StopCause::ImagePull);
    if pulls > 0.0 {
        let why = format!("{name}: ECS cannot pull the task's image (CannotPullContainerError)");
        let hits = stops.evidence(StopCause::ImagePull);
        let subject = hits.iter().find_map(|e| signals::image_ref(&e.text));
        out.push(
            Candidate::new(view, node, Class::ImagePullFailed, 0.97, why)
                .evidence(hits)
                .began(when)
                .subject(subject),
        );
    }

    // Registry auth comes before the pull: the image is fine, the right to fetch it is not.
    let auth = stops.count(StopCause::RegistryAuth);
    if auth > 0.0 {
        let hits = stops.evidence(StopCause::RegistryAuth);
        let text = hits
            .iter()
            .map(|e| e.text.to_lowercase())
            .collect::<String>();
        let because = if text.contains("not authorized") || text.contains("accessdenied") {
            "the task execution role may not call ecr:GetAuthorizationToken"
        } else if signals::any(
            &text,
            &["i/o timeout", "dial tcp", "context deadline", "no route"],
        ) {
            "the task's subnet cannot reach ECR (no NAT gateway or VPC endpoint)"
        } else {
            "the execution role or the path to ECR fails"
        };
        let why = format!(
            "{name}: ECS cannot get the registry's credentials to pull the image \
             (ResourceInitializationError, registry auth): {because}"
        );
        out.push(
            Candidate::new(view, node, Class::ImagePullFailed, 0.92, why)
                .evidence(hits)
                .began(when),
        );
    }

    let secrets = stops.count(StopCause::SecretFetch);
    if secrets > 0.0 {
        // ECS fetches only what the task definition names: with none named, the reason is
        // not what it seems, and says less.
        let named = metric(f, "secret_vars");
        let (score, detail) = match named {
            Some(n) if n > 0.0 => (0.85, format!("one of the {} it names", num(n))),
            Some(_) => (0.45, "though the task definition names none".to_string()),
            None => (0.7, "a secret or parameter it names".to_string()),
        };
        let why = format!("{name}: ECS cannot fetch the task definition's secrets ({detail})");
        out.push(
            Candidate::new(view, node, Class::MissingConfig, score, why)
                .evidence(stops.evidence(StopCause::SecretFetch))
                .began(when),
        );
    }

    let logger = stops.count(StopCause::LogDriver);
    if logger > 0.0 {
        let why = format!(
            "{name}: ECS cannot set up the task's log driver (a log group that does not exist, \
             or an execution role that may not write to it)"
        );
        out.push(
            Candidate::new(view, node, Class::MissingConfig, 0.7, why)
                .evidence(stops.evidence(StopCause::LogDriver))
                .began(when),
        );
    }

    let health_stops = stops.count(StopCause::HealthCheck);
    let health = health_stops > 0.0 || health_text;
    if health {
        let why = format!("{name}: tasks fail their health checks");
        out.push(
            Candidate::new(view, node, Class::HealthCheckFailed, 0.85, why)
                .evidence(matching(f, signals::HEALTH_CHECK))
                .began(when)
                .words_only(health_stops == 0.0),
        );
    }

    // Tasks that keep exiting by themselves, for a reason other than memory, the image, its
    // credentials or secrets, or health checks (the scheduler stops those: not a crash).
    let crashes = metric(f, "crashes")
        .unwrap_or_else(|| metric(f, "stopped_with_errors").unwrap_or_else(|| m("stopped_tasks")));
    let short = metric(f, "running")
        .zip(metric(f, "desired"))
        .is_some_and(|(r, d)| r < d);
    let explained = oom || pulls > 0.0 || auth > 0.0 || secrets > 0.0 || logger > 0.0;
    let crashing =
        (crashes >= 2.0 && !health) || (essential && (short || exit_code.is_some()) && !health);
    if !explained && crashing {
        let score = 0.65 + 0.08 * crashes.min(3.0);
        let exit = exit_code
            .map(|c| format!(", exit code {c}"))
            .unwrap_or_default();
        let why = format!(
            "{name}: {} task(s) stopped (essential container exited{exit})",
            num(crashes.max(1.0))
        );
        // What the container printed before it exited says more than the exit itself.
        let printed = view.node(node).findings.iter().filter(|l| {
            l.skill == "cloudwatch" && matches!(l.status, Status::Down | Status::Degraded)
        });
        out.push(
            Candidate::new(view, node, Class::CrashLoop, score, why)
                .evidence(printed.flat_map(|l| l.evidence.iter().take(2)))
                .evidence(matching(f, &[signals::ESSENTIAL_EXITED, "exit", "stopped"]))
                .began(when),
        );
    }

    super::config::missing_variables(view, node, f, out);
}

pub(super) fn logs(view: &SweepView<'_>, node: NodeId, f: &Finding, out: &mut Vec<Candidate>) {
    let name = view.node(node).name;
    // Everything read from logs is words matched in text.
    let first = out.len();
    logs_of(view, node, name, f, out);
    for c in &mut out[first..] {
        c.basis = Basis::Words;
    }
}

fn logs_of(view: &SweepView<'_>, node: NodeId, name: &str, f: &Finding, out: &mut Vec<Candidate>) {
    super::config::missing_variables(view, node, f, out);
    super::config::failing_handler(view, node, f, out);
    let when = began(f);
    let (
        mut oom,
        mut pool,
        mut server_refuses,
        mut locks,
        mut slow,
        mut cache_full,
        mut cache_down,
        mut throttled,
    ) = (
        Vec::new(),
        Vec::new(),
        false,
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (_, e) in lines(f) {
        let Some(e) = e else { continue };
        for signal in read_line(&e.text) {
            match signal {
                LineSignal::OutOfMemory => oom.push(e),
                LineSignal::PoolExhausted { server_refuses: s } => {
                    server_refuses |= s;
                    pool.push(e);
                }
                LineSignal::LockWait => locks.push(e),
                LineSignal::StatementTimeout => slow.push(e),
                LineSignal::CacheFull => cache_full.push(e),
                LineSignal::CacheUnreachable => cache_down.push(e),
                LineSignal::Throttled => throttled.push(e),
                // Read elsewhere: missing settings with the tasks' state (`config`), health
                // checks from ECS, name resolution with the whole sweep (`rank::blind`).
                LineSignal::MissingConfig(_)
                | LineSignal::HealthCheck
                | LineSignal::NameResolution => {}
            }
        }
    }
    let first_at = |ev: &[&Evidence]| ev.iter().filter_map(|e| e.at).min().or(when);
    if !oom.is_empty() {
        let why = format!("{name}: its logs report running out of memory");
        out.push(
            Candidate::new(view, node, Class::OomKilled, 0.6, why)
                .evidence(oom.iter().copied())
                .began(first_at(&oom)),
        );
    }
    if !pool.is_empty() {
        // Pool timeouts while the database has room mean the service's own pool is the limit.
        let db = view.resource_of(node, SkillKind::Postgres);
        let db_has_room = db.is_some_and(|db| {
            let info = view.node(db);
            info.status == Status::Healthy
                && info.metric("connections_ratio").is_some_and(|r| r < 0.8)
        });
        let (at, why, score) = match db {
            Some(db) if !db_has_room || server_refuses => {
                let why = format!(
                    "{name}'s logs: waiting for database connections ({})",
                    view.node(db).name
                );
                (db, why, if server_refuses { 0.7 } else { 0.6 })
            }
            Some(db) => {
                let ratio = view.node(db).metric("connections_ratio").unwrap_or(0.0);
                let why = format!(
                    "{name}'s logs: its connection pool times out while {} has room ({:.0}% of max_connections in use)",
                    view.node(db).name,
                    ratio * 100.0
                );
                (node, why, 0.6)
            }
            None => (
                node,
                format!("{name}'s logs: waiting for database connections"),
                0.55,
            ),
        };
        out.push(
            Candidate::new(view, at, Class::DbConnectionsExhausted, score, why)
                .evidence(pool.iter().copied())
                .began(first_at(&pool)),
        );
    }
    let db = view.resource_of(node, SkillKind::Postgres).unwrap_or(node);
    if !locks.is_empty() {
        let why = format!("{name}'s logs: statements wait on locks");
        out.push(
            Candidate::new(view, db, Class::DbBlockingLocks, 0.5, why)
                .evidence(locks.iter().copied())
                .began(first_at(&locks)),
        );
    }
    if !slow.is_empty() {
        let why = format!("{name}'s logs: statements time out");
        out.push(
            Candidate::new(view, db, Class::DbSlowQueries, 0.45, why)
                .evidence(slow.iter().copied())
                .began(first_at(&slow)),
        );
    }
    let cache = view.resource_of(node, SkillKind::Redis).unwrap_or(node);
    if !cache_full.is_empty() {
        let why = format!("{name}'s logs: Redis refuses writes over maxmemory");
        out.push(
            Candidate::new(view, cache, Class::CacheMemoryPressure, 0.7, why)
                .evidence(cache_full.iter().copied())
                .began(first_at(&cache_full)),
        );
    }
    if !cache_down.is_empty() {
        let why = format!("{name}'s logs: cannot connect to Redis");
        out.push(
            Candidate::new(view, cache, Class::CacheUnreachable, 0.55, why)
                .evidence(cache_down.iter().copied())
                .began(first_at(&cache_down)),
        );
    }
    if !throttled.is_empty()
        && let Some(function) = view.resource_of(node, SkillKind::Lambda)
    {
        let why = format!(
            "{name}'s logs: invocations of {} are throttled",
            view.node(function).name
        );
        out.push(
            Candidate::new(view, function, Class::LambdaThrottled, 0.5, why)
                .evidence(throttled.iter().copied())
                .began(first_at(&throttled)),
        );
    }
}

pub(super) fn gha(view: &SweepView<'_>, node: NodeId, f: &Finding, out: &mut Vec<Candidate>) {
    let failed = metric(f, "failed_jobs").unwrap_or(0.0) > 0.0
        || matches!(f.status, Status::Down | Status::Degraded);
    if !failed {
        return;
    }
    let name = view.node(node).name;
    let (mut compile_text, mut test_text) = (false, false);
    for (lower, _) in lines(f) {
        compile_text |= signals::any(&lower, signals::COMPILE_ERROR);
        test_text |= signals::any(&lower, signals::TEST_FAILED);
    }
    let compile = metric(f, "compile_errors").unwrap_or(0.0);
    let tests = metric(f, "test_failures").unwrap_or(0.0);
    if compile > 0.0 || compile_text {
        let n = if compile > 0.0 {
            format!("{} compiler error(s)", num(compile))
        } else {
            "compiler errors".into()
        };
        let why = format!("{name}: the CI build failed with {n}");
        out.push(
            Candidate::new(
                view,
                node,
                Class::CiBuildFailed,
                if compile > 0.0 { 0.95 } else { 0.8 },
                why,
            )
            .evidence(matching(f, signals::COMPILE_ERROR))
            .began(began(f)),
        );
    }
    if tests > 0.0 || test_text {
        let n = if tests > 0.0 {
            format!("{} failing test(s)", num(tests))
        } else {
            "failing tests".into()
        };
        let why = format!("{name}: CI failed with {n}");
        // A build that did not compile never ran its tests: the build is the cause.
        let score = if compile > 0.0 || compile_text {
            0.5
        } else if tests > 0.0 {
            0.9
        } else {
            0.75
        };
        out.push(
            Candidate::new(view, node, Class::CiTestFailed, score, why)
                .evidence(matching(f, signals::TEST_FAILED))
                .began(began(f)),
        );
    }
}
