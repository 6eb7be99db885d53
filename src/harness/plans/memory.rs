//! oom_killed: raise the memory. The task and its container get twice the memory (at least
//! half again), as one of Fargate's valid CPU/memory pairs, raising the CPU only when the
//! memory needs it, and never above `max_memory_mib`. The fingerprint names the new size,
//! so a second raise (1024 → 2048) is a different fix while the same size is never tried
//! twice. On EC2 only the container's limit is raised (the task may have no size).

use super::catalogue::{Attempt, fingerprint, task_definition_plan};
use super::json::Json;
use super::task_definition::TaskDef;
use super::{PlanKind, PlanRequest};
use crate::diagnose::ActionKind;

/// Fargate's valid task sizes (AWS: "Task CPU and memory"): for each CPU value, the first
/// and last memory (MiB) and the step between.
pub const FARGATE_PAIRS: &[(u64, u64, u64, u64)] = &[
    // (cpu, first, last, step)
    (256, 512, 512, 1),
    (256, 1024, 2048, 1024),
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
    (8192, 16384, 61440, 4096),
    (16384, 32768, 122880, 8192),
];

fn fargate_pairs() -> impl Iterator<Item = (u64, u64)> {
    FARGATE_PAIRS.iter().flat_map(|&(cpu, first, last, step)| {
        (first..=last).step_by(step as usize).map(move |m| (cpu, m))
    })
}

/// The pair to move a Fargate task at `(cpu, memory)` to: the least memory of at least twice
/// `memory`, with the least CPU of at least `cpu` that allows it; when that passes `ceiling`,
/// the most memory under it of at least one and a half times `memory`. `Err` says why none.
pub fn fargate_target(cpu: u64, memory: u64, ceiling: u64) -> Result<(u64, u64), String> {
    let want = memory.saturating_mul(2);
    let least = memory.saturating_mul(3).div_ceil(2);
    let pairs: Vec<(u64, u64)> = fargate_pairs()
        .filter(|&(c, m)| c >= cpu && m >= least && m <= ceiling)
        .collect();
    if let Some(&best) = pairs
        .iter()
        .filter(|(_, m)| *m >= want)
        .min_by_key(|&&(c, m)| (m, c))
    {
        return Ok(best);
    }
    pairs
        .iter()
        .max_by_key(|&&(c, m)| (m, std::cmp::Reverse(c)))
        .copied()
        .ok_or_else(|| ceiling_reason(memory, least, ceiling))
}

fn ceiling_reason(memory: u64, least: u64, ceiling: u64) -> String {
    format!(
        "memory is not raised: from {memory} MiB a raise of at least half ({least} MiB) would pass the ceiling `max_memory_mib: {ceiling}` in .github/fixpoint.yml; raise the ceiling there, or find what grows the memory"
    )
}

pub(super) fn plan(req: &PlanRequest<'_>, mut td: TaskDef) -> Attempt {
    let Some(index) = td.container_index(req.service) else {
        return Attempt::Skip(td.which_container_problem(req.service));
    };
    let container = td.container(index).cloned().unwrap_or(Json::Null);
    let name = td.container_name(index);
    // The hard limit is what the OOM killer enforces; a soft reservation only places tasks.
    let limit_key = if container.get("memory").is_some() {
        "memory"
    } else {
        "memoryReservation"
    };
    let container_memory = container.get(limit_key).and_then(Json::as_u64_lenient);
    let ceiling = u64::from(req.config.max_memory_mib);
    let node = &req.diagnosis.root_cause.node;
    let place = td.place();

    let (summary, new) = if td.fargate() {
        let Some(memory) = td.task_number("memory").or(container_memory) else {
            return Attempt::Skip(format!(
                "memory is not raised: {place} sets no memory for the task or for {name}"
            ));
        };
        let cpu = td.task_number("cpu").unwrap_or(256);
        let (new_cpu, new_memory) = match fargate_target(cpu, memory, ceiling) {
            Ok(pair) => pair,
            Err(why) => return Attempt::Skip(why),
        };
        td.set_task_number("memory", new_memory);
        let cpu_text = if new_cpu != cpu {
            td.set_task_number("cpu", new_cpu);
            format!(", cpu {cpu} → {new_cpu} (Fargate's pairs)")
        } else {
            String::new()
        };
        if let Some(old) = container_memory.filter(|_| limit_key == "memory") {
            // Every MiB the task gains goes to the service's container (sidecars keep theirs).
            set_container_memory(&mut td, index, "memory", old + (new_memory - memory));
        }
        let summary = format!(
            "raise {node}'s task memory {memory} → {new_memory} MiB{cpu_text} in {place}: its tasks were OOM-killed"
        );
        (summary, new_memory)
    } else {
        let Some(old) = container_memory else {
            return Attempt::Skip(format!(
                "memory is not raised: {name} in {place} sets no `memory` or `memoryReservation`"
            ));
        };
        let least = old.saturating_mul(3).div_ceil(2);
        let new = old.saturating_mul(2).min(ceiling);
        if new < least {
            return Attempt::Skip(ceiling_reason(old, least, ceiling));
        }
        set_container_memory(&mut td, index, limit_key, new);
        // A task-level size must hold its containers, or registration fails.
        if let Some(task) = td.task_number("memory") {
            td.set_task_number("memory", task + (new - old));
        }
        let summary = format!(
            "raise {node}'s container {name} memory {old} → {new} MiB in {place}: its tasks were OOM-killed"
        );
        (summary, new)
    };
    Attempt::Plan(task_definition_plan(
        PlanKind::RaiseMemory,
        fingerprint(ActionKind::Infra, req, &format!("memory={new}")),
        summary,
        td,
    ))
}

fn set_container_memory(td: &mut TaskDef, index: usize, key: &str, value: u64) {
    if let Some(c) = td.container_mut(index) {
        let json = c.get(key).map_or(Json::Number(value.into()), |old| {
            old.same_kind_number(value)
        });
        c.set(key, json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubling_snaps_to_fargate_pairs_and_raises_cpu_only_when_needed() {
        assert_eq!(fargate_target(256, 512, 8192), Ok((256, 1024)));
        assert_eq!(fargate_target(256, 1024, 8192), Ok((256, 2048)));
        assert_eq!(fargate_target(256, 2048, 8192), Ok((512, 4096)));
        assert_eq!(fargate_target(1024, 3072, 8192), Ok((1024, 6144)));
        // Twice would pass the ceiling; one and a half fits under it.
        assert_eq!(fargate_target(1024, 5120, 8192), Ok((1024, 8192)));
        assert!(
            fargate_target(1024, 8192, 8192)
                .unwrap_err()
                .contains("max_memory_mib: 8192")
        );
        assert_eq!(fargate_target(4096, 30720, 122880), Ok((8192, 61440)));
        assert_eq!(fargate_target(8192, 61440, 122880), Ok((16384, 122880)));
    }
}
