//! Infra fixes when the repository has no task definition file: with `allow: [ecs_api]` the
//! fix registers a revision of the service's task definition in the lower environment (built
//! from the one it runs now, else the last good one, without the fields only
//! DescribeTaskDefinition returns) and points the service at it. The repository still says
//! the old thing, so the plan says the change must be carried into code.

use super::PlanRequest;
use super::Workspace;
use super::task_definition::{TaskDef, USUAL_PATHS};
use crate::config::fixing::Allowance;

pub(super) const CARRY_INTO_CODE: &str = "changed through the ECS API in the lower environment only: carry this change into the service's task definition in code, or its next deploy undoes it";

/// The task definition to edit through the API, or why there is none.
pub(super) async fn target<W: Workspace>(
    w: &W,
    req: &PlanRequest<'_>,
) -> anyhow::Result<Result<TaskDef, String>> {
    if !req.config.allows(Allowance::EcsApi) {
        return Ok(Err(format!(
            "{} has no task definition file in the repository (looked at {}): add it (with `task_definition:` in .github/fixpoint.yml when it lives elsewhere), or let Fixpoint change the lower environment through the ECS API with `allow: [ecs_api]`",
            req.service,
            USUAL_PATHS.join(", ")
        )));
    }
    let Some((cluster, service)) = req.ecs else {
        return Ok(Err(format!(
            "`allow: [ecs_api]` is set, but the topology map gives no ECS cluster and service for {}: add them to its map",
            req.service
        )));
    };
    let base = match w.current_task_definition().await? {
        Some(current) => Some(current),
        None => w.last_good_task_definition().await?,
    };
    Ok(base
        .as_ref()
        .and_then(|v| TaskDef::from_api(v, cluster, service))
        .ok_or_else(|| {
            format!("ECS returned no task definition for {service} in {cluster} to build a revision from")
        }))
}
