//! health_check_failed with a slow start: give the container's health check more time
//! before failures count (`healthCheck.startPeriod`, at most 300 s as ECS allows). Chosen
//! only when the evidence shows a slow start (the catalogue checks); otherwise, or when the
//! period is at its maximum, the fix is a revert.

use super::catalogue::{Attempt, fingerprint, task_definition_plan};
use super::json::Json;
use super::task_definition::TaskDef;
use super::{PlanKind, PlanRequest};
use crate::diagnose::ActionKind;

/// ECS's largest `startPeriod`, in seconds.
pub const MAX_START_PERIOD_S: u64 = 300;

/// The next start period: at least a minute, doubled, at least 30 s more, at most 300 s.
pub fn next_start_period(current: u64) -> u64 {
    current
        .saturating_mul(2)
        .max(current + 30)
        .clamp(60, MAX_START_PERIOD_S)
}

pub(super) fn plan(req: &PlanRequest<'_>, mut td: TaskDef) -> Attempt {
    let Some(index) = td.container_index(req.service) else {
        return Attempt::Skip(td.which_container_problem(req.service));
    };
    let name = td.container_name(index);
    let place = td.place();
    let Some(check) = td
        .container(index)
        .and_then(|c| c.get("healthCheck"))
        .cloned()
    else {
        return Attempt::Skip(format!(
            "the start period is not raised: {name} in {place} has no container `healthCheck`; a load balancer's grace period is the service's `healthCheckGracePeriodSeconds`, outside the task definition"
        ));
    };
    let current = check
        .get("startPeriod")
        .and_then(Json::as_u64_lenient)
        .unwrap_or(0);
    if current >= MAX_START_PERIOD_S {
        return Attempt::Skip(format!(
            "the start period is not raised: {name}'s `healthCheck.startPeriod` is {current} s already, ECS's maximum"
        ));
    }
    let new = next_start_period(current);
    if let Some(check) = td
        .container_mut(index)
        .and_then(|c| c.get_mut("healthCheck"))
    {
        check.set("startPeriod", Json::Number(new.into()));
    }
    let node = &req.diagnosis.root_cause.node;
    let summary = format!(
        "give {node} time to start: {name}'s `healthCheck.startPeriod` {current} → {new} s in {place}, as its health checks failed while it was still starting"
    );
    Attempt::Plan(task_definition_plan(
        PlanKind::RaiseStartPeriod,
        fingerprint(ActionKind::Infra, req, &format!("start_period={new}")),
        summary,
        td,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_start_period_grows_to_ecs_maximum() {
        let steps: Vec<u64> = [0, 60, 120, 240, 290]
            .into_iter()
            .map(super::next_start_period)
            .collect();
        assert_eq!(steps, [60, 120, 240, 300, 300]);
    }
}
