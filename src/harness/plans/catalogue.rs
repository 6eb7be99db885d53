//! Which fixes apply to a root cause, in the order to try them, and `choose`: the first one
//! that applies and has not failed before. A fix that does not apply says why, and that
//! reason travels with the plan that is chosen instead (as a note) or with the `NoFix`.

use super::task_definition::{Located, Origin, TaskDef, locate};
use super::{
    Change, FixPlan, PlanDecision, PlanKind, PlanRequest, Workspace, ecs_api, evidence, health,
    image, memory, model_edit, revert, variable,
};
use crate::diagnose::{ActionKind, RootCauseClass as Class, fix_fingerprint};

/// What one fix of the catalogue found for a request.
pub(super) enum Attempt {
    Plan(FixPlan),
    /// It does not apply here: why, for people.
    Skip(String),
    /// Nothing may be changed at all (a secret would be written in plain text): the loop
    /// stops with this reason.
    Stop(String),
}

/// The fixes of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    RaiseMemory,
    RestoreVariable,
    RevertImage,
    RaiseStartPeriod,
    /// Asked only when a model is configured.
    ModelEdit,
    Revert,
}

/// The fixes for `req`'s cause, first to last (docs/root-causes.md gives the same order).
/// Once a model edit for the cause failed, the rules' fixes go before the model: each of its
/// edits has a new fingerprint, so it could otherwise be asked again and again.
fn steps(req: &PlanRequest<'_>) -> Vec<Step> {
    let mut steps = usual_steps(
        req.diagnosis.root_cause.class,
        evidence::slow_start(req.diagnosis),
    );
    let model_failed = fingerprint(ActionKind::Code, req, "edit=");
    if req.failed.iter().any(|f| f.starts_with(&model_failed)) {
        steps.retain(|s| *s != Step::ModelEdit);
        steps.push(Step::ModelEdit);
    }
    steps
}

fn usual_steps(class: Class, slow_start: bool) -> Vec<Step> {
    use Step::*;
    match class {
        Class::OomKilled => vec![RaiseMemory, ModelEdit],
        Class::MissingConfig => vec![RestoreVariable, ModelEdit, Revert],
        Class::ImagePullFailed => vec![RevertImage, Revert],
        Class::HealthCheckFailed if slow_start => vec![RaiseStartPeriod, ModelEdit, Revert],
        // Answering wrongly is not cured by waiting longer.
        Class::HealthCheckFailed => vec![ModelEdit, Revert],
        _ => vec![ModelEdit, Revert],
    }
}

/// The fix for `req`'s diagnosis: the first of the catalogue that applies and whose
/// fingerprint is not in `req.failed`. `Err` only when the workspace could not be read
/// (GitHub or ECS did not answer), which the loop retries.
#[tracing::instrument(skip_all, fields(service = req.service, class = req.diagnosis.root_cause.class.as_str()))]
pub async fn choose<W: Workspace>(w: &W, req: &PlanRequest<'_>) -> anyhow::Result<PlanDecision> {
    if let Some(why) = out_of_reach(req) {
        return Ok(PlanDecision::NoFix { why });
    }
    let d = req.diagnosis;
    let mut reasons: Vec<String> = Vec::new();
    // (summary, fingerprint) of the fixes made again this time that failed before.
    let mut tried: Vec<(String, String)> = Vec::new();
    for step in steps(req) {
        let attempt = match step {
            Step::ModelEdit => match req.model {
                None => continue,
                Some(config) => model_edit::plan(w, req, config).await?,
            },
            Step::Revert => revert::plan(w, req).await?,
            Step::RevertImage => image::plan(w, req).await?,
            Step::RaiseMemory => on_task_definition(w, req, |td| memory::plan(req, td)).await?,
            Step::RaiseStartPeriod => {
                on_task_definition(w, req, |td| health::plan(req, td)).await?
            }
            Step::RestoreVariable => variable::plan(w, req).await?,
        };
        match attempt {
            Attempt::Plan(plan) if req.failed.contains(&plan.fingerprint) => {
                tracing::info!(fingerprint = %plan.fingerprint, "plan failed before; next");
                tried.push((plan.summary, plan.fingerprint));
            }
            Attempt::Plan(mut plan) => {
                let mut notes: Vec<String> = tried
                    .iter()
                    .map(|(summary, f)| {
                        format!("already tried and did not hold: “{summary}” ({f})")
                    })
                    .collect();
                notes.append(&mut reasons);
                notes.append(&mut plan.notes);
                plan.notes = notes;
                return Ok(PlanDecision::Plan(plan));
            }
            Attempt::Skip(why) => reasons.push(why),
            Attempt::Stop(why) => return Ok(PlanDecision::NoFix { why }),
        }
    }
    let mut why = format!(
        "no fix left for {} at {}",
        d.root_cause.class.as_str(),
        d.root_cause.node
    );
    // Every fix that failed, those no step made again this time by fingerprint alone.
    let mut listed: Vec<String> = tried
        .iter()
        .map(|(summary, f)| format!("“{summary}” ({f})"))
        .collect();
    listed.extend(
        req.failed
            .iter()
            .filter(|f| !tried.iter().any(|(_, t)| t == *f))
            .cloned(),
    );
    if !listed.is_empty() {
        why.push_str(&format!("; tried and did not hold: {}", listed.join("; ")));
    }
    if !reasons.is_empty() {
        why.push_str(&format!("; {}", reasons.join("; ")));
    }
    Ok(PlanDecision::NoFix { why })
}

/// Why the root cause is not this repository's to fix, when it is not: it lies in another
/// node (a dependency, a database, a queue), or nothing could be said at all.
fn out_of_reach(req: &PlanRequest<'_>) -> Option<String> {
    let d = req.diagnosis;
    let root = &d.root_cause;
    let chain = d
        .chain
        .iter()
        .map(|l| format!("{} ({})", l.node, l.class.as_str()))
        .collect::<Vec<_>>()
        .join(" → ");
    let chain = if chain.is_empty() {
        String::new()
    } else {
        format!("; chain: {chain}")
    };
    if root.class == Class::Unknown {
        let missing = if d.missing.is_empty() {
            String::new()
        } else {
            format!("; to say more Fixpoint needs: {}", d.missing.join("; "))
        };
        return Some(format!(
            "the cause is unknown, so nothing is changed: {}{missing}",
            root.summary
        ));
    }
    let foreign = matches!(
        root.class,
        Class::DbConnectionsExhausted
            | Class::DbBlockingLocks
            | Class::DbSlowQueries
            | Class::CacheMemoryPressure
            | Class::CacheUnreachable
            | Class::QueueBacklog
            | Class::DeadLetters
            | Class::LambdaThrottled
            | Class::LambdaErrors
            | Class::DependencyUnhealthy
    );
    if root.node != req.service || foreign {
        return Some(format!(
            "{} at {} is outside {}'s repository: no fix is made here{chain}. {}",
            root.class.as_str(),
            root.node,
            req.service,
            root.summary
        ));
    }
    None
}

/// The service's task definition to fix: the file in the repository at the head, else
/// (with `allow: [ecs_api]`) the lower environment's; `Err` says why there is none.
pub(super) async fn task_definition<W: Workspace>(
    w: &W,
    req: &PlanRequest<'_>,
) -> anyhow::Result<Result<TaskDef, String>> {
    match locate(w, req.config.task_definition.as_deref(), req.head).await? {
        Located::Found(td) => Ok(Ok(td)),
        Located::Invalid(why) => Ok(Err(why)),
        Located::Absent => ecs_api::target(w, req).await,
    }
}

/// Runs an infra fix on the service's task definition.
async fn on_task_definition<W: Workspace>(
    w: &W,
    req: &PlanRequest<'_>,
    fix: impl FnOnce(TaskDef) -> Attempt,
) -> anyhow::Result<Attempt> {
    Ok(match task_definition(w, req).await? {
        Ok(td) => fix(td),
        Err(why) => Attempt::Skip(why),
    })
}

/// The fingerprint of a fix of `req`'s root cause that sets `param` (`memory=2048`):
/// `<kind>:<class>:<node>/<param>`, which `same_fix` reads as that fix with a parameter.
pub(super) fn fingerprint(kind: ActionKind, req: &PlanRequest<'_>, param: &str) -> String {
    let root = &req.diagnosis.root_cause;
    format!(
        "{}/{param}",
        fix_fingerprint(kind, root.class, &root.node, None)
    )
}

/// An infra plan that edits `td`, carried out as a commit of its file or through the ECS API.
pub(super) fn task_definition_plan(
    kind: PlanKind,
    fingerprint: String,
    summary: String,
    td: TaskDef,
) -> FixPlan {
    let through_api = matches!(td.origin, Origin::Ecs { .. });
    let change: Change = td.into_change();
    let (kind, notes) = if through_api {
        (PlanKind::EcsApi, vec![ecs_api::CARRY_INTO_CODE.to_string()])
    } else {
        (kind, Vec::new())
    };
    FixPlan {
        kind,
        action: ActionKind::Infra,
        fingerprint,
        summary,
        change,
        notes,
    }
}
