//! Playbooks for a service's own checks: ECS (tasks, stop reasons, events, task definition),
//! CloudWatch logs (start-up errors, and errors that name a resource the service uses), and
//! the GHA run (compiler and test output).

use super::view::{NodeId, SweepView};
use super::{Candidate, began, lines, matching, metric, num, signals};
use crate::diagnose::RootCauseClass as Class;
use crate::skills::{Evidence, Finding, Status};
use crate::topology::SkillKind;

pub(super) fn ecs(view: &SweepView<'_>, node: NodeId, f: &Finding, out: &mut Vec<Candidate>) {
    let name = view.node(node).name;
    let m = |k| metric(f, k).unwrap_or(0.0);
    let (mut oom_text, mut pull_text, mut secret_text, mut health_text, mut essential) =
        (false, false, false, false, false);
    let mut exit_code = None;
    for (lower, _) in lines(f) {
        oom_text |= signals::any(&lower, signals::OOM) || signals::exit_137(&lower);
        pull_text |= signals::any(&lower, signals::IMAGE_PULL);
        secret_text |= signals::any(&lower, signals::SECRET_FETCH)
            && (lower.contains("secret") || lower.contains("parameter"));
        health_text |= signals::any(&lower, signals::HEALTH_CHECK);
        essential |= lower.contains(signals::ESSENTIAL_EXITED);
        exit_code = exit_code.or_else(|| signals::nonzero_exit(&lower).filter(|&c| c != 137));
    }
    let when = began(f);
    let memory = metric(f, "memory_mb")
        .map(|mb| format!(" at {} MB", num(mb)))
        .unwrap_or_default();

    let kills = m("oom_kills").max(m("exit_137"));
    let oom = kills > 0.0 || oom_text;
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
                .began(when),
        );
    }

    let pulls = m("image_pull_failures");
    if pulls > 0.0 || pull_text {
        let why = format!("{name}: ECS cannot pull the task's image (CannotPullContainerError)");
        let hits = matching(f, signals::IMAGE_PULL);
        let subject = hits.iter().find_map(|e| signals::image_ref(&e.text));
        out.push(
            Candidate::new(
                view,
                node,
                Class::ImagePullFailed,
                if pulls > 0.0 { 0.97 } else { 0.9 },
                why,
            )
            .evidence(hits)
            .began(when)
            .subject(subject),
        );
    }

    if secret_text {
        let why =
            format!("{name}: ECS cannot fetch a secret or parameter the task definition names");
        out.push(
            Candidate::new(view, node, Class::MissingConfig, 0.75, why)
                .evidence(matching(f, signals::SECRET_FETCH))
                .began(when),
        );
    }

    if health_text {
        let why = format!("{name}: tasks fail their health checks");
        out.push(
            Candidate::new(view, node, Class::HealthCheckFailed, 0.85, why)
                .evidence(matching(f, signals::HEALTH_CHECK))
                .began(when),
        );
    }

    // Tasks that keep stopping with a non-zero exit, for a reason other than memory or pulls.
    // Tasks a deploy replaces stop too (exit 0): count the failed ones when the skill does.
    let stopped = metric(f, "stopped_with_errors").unwrap_or_else(|| m("stopped_tasks"));
    let short = metric(f, "running")
        .zip(metric(f, "desired"))
        .is_some_and(|(r, d)| r < d);
    // Tasks stopped by failing health checks are not crashing: that is the health check's story.
    let crashing =
        (stopped >= 2.0 && !health_text) || (essential && (short || exit_code.is_some()));
    if !oom && pulls == 0.0 && !pull_text && crashing {
        let score = 0.65 + 0.08 * stopped.min(3.0);
        let exit = exit_code
            .map(|c| format!(", exit code {c}"))
            .unwrap_or_default();
        let why = format!(
            "{name}: {} task(s) stopped (essential container exited{exit})",
            num(stopped.max(1.0))
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

    missing_variables(view, node, f, out);
}

pub(super) fn logs(view: &SweepView<'_>, node: NodeId, f: &Finding, out: &mut Vec<Candidate>) {
    let name = view.node(node).name;
    missing_variables(view, node, f, out);
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
    for (lower, e) in lines(f) {
        let Some(e) = e else { continue };
        if signals::any(&lower, signals::OOM) {
            oom.push(e);
        }
        if signals::any(&lower, signals::POOL_EXHAUSTED) {
            server_refuses |= signals::any(&lower, signals::SERVER_REFUSES);
            pool.push(e);
        }
        if signals::any(&lower, signals::LOCK_WAIT) {
            locks.push(e);
        }
        if signals::any(&lower, signals::STATEMENT_TIMEOUT) {
            slow.push(e);
        }
        if signals::any(&lower, signals::CACHE_FULL) {
            cache_full.push(e);
        }
        if lower.contains("redis") && signals::any(&lower, signals::CONNECT_FAILED) {
            cache_down.push(e);
        }
        if signals::any(&lower, signals::THROTTLED) {
            throttled.push(e);
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

/// A variable named missing at start-up, checked against the task definition's names.
fn missing_variables(view: &SweepView<'_>, node: NodeId, f: &Finding, out: &mut Vec<Candidate>) {
    let info = view.node(node);
    for (lower, e) in lines(f) {
        let var = match e {
            // The ecs skill already matched a stop reason's variable against the task definition.
            Some(e) if e.source.starts_with("ecs:missing-env") => {
                signals::stop_reason_variable(&e.text).map(Some)
            }
            _ => signals::missing_variable(e.map_or(&f.summary, |e| &e.text), &lower),
        };
        let Some(var) = var else {
            continue;
        };
        let defined = var
            .as_ref()
            .zip(info.task_vars.as_ref())
            .map(|(v, vars)| vars.contains(v));
        let named = var.as_deref().unwrap_or("a required variable");
        let (score, why) = match defined {
            Some(false) => (
                0.95,
                format!(
                    "{}: {named} is missing at start-up, and the task definition does not set it",
                    info.name
                ),
            ),
            Some(true) => (
                0.6,
                format!(
                    "{}: {named} is reported missing, though the task definition sets it (empty or misnamed?)",
                    info.name
                ),
            ),
            None => (
                0.85,
                format!("{}: {named} is missing at start-up", info.name),
            ),
        };
        let task_def = f
            .evidence
            .iter()
            .filter(|e| e.source.starts_with("ecs:task-definition"));
        out.push(
            Candidate::new(view, node, Class::MissingConfig, score, why)
                .evidence(e.into_iter().chain(task_def))
                .began(e.and_then(|e| e.at).or(began(f)))
                .subject(var),
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
