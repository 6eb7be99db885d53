//! Missing configuration: a setting named missing, in any library's dialect, read together
//! with what the service's tasks did. A variable missing at start-up stops every new task;
//! the same words from tasks that keep running are a request or a message failing, and
//! when the service drains a queue whose dead-letter queue fills, the message is the cause.

use super::view::{NodeId, SweepView};
use super::{Candidate, began, lines, metric, num, signals};
use crate::diagnose::RootCauseClass as Class;
use crate::skills::{Evidence, Finding, Status};

/// Whether `node`'s tasks fail to start, as its `ecs` finding says: `None` without one.
pub(super) fn failing_at_start(view: &SweepView<'_>, node: NodeId) -> Option<bool> {
    let ecs = view.node(node).findings.iter().find(|f| f.skill == "ecs")?;
    if ecs.status == Status::Unknown {
        return None;
    }
    let m = |k| metric(ecs, k).unwrap_or(0.0);
    let short = metric(ecs, "running")
        .zip(metric(ecs, "desired"))
        .is_some_and(|(r, d)| r < d);
    Some(ecs.status != Status::Healthy || short || m("stopped_with_errors") > 0.0)
}

/// A queue `node` drains whose dead-letter queue holds messages.
fn dead_lettering_input(view: &SweepView<'_>, node: NodeId) -> Option<NodeId> {
    view.consumed_queues(node)
        .into_iter()
        .find(|&q| view.node(q).metric("dlq_visible").is_some_and(|n| n > 0.0))
}

/// A variable named missing, checked against the task definition's names and against what
/// the tasks did (start-up or not).
pub(super) fn missing_variables(
    view: &SweepView<'_>,
    node: NodeId,
    f: &Finding,
    out: &mut Vec<Candidate>,
) {
    let info = view.node(node);
    let at_start = failing_at_start(view, node);
    for (lower, e) in lines(f) {
        let setting = match e {
            // The ecs skill already matched a stop reason's variable against the task definition.
            Some(e) if e.source.starts_with("ecs:missing-env") => {
                signals::stop_reason_variable(&e.text).map(|v| signals::MissingSetting {
                    variable: Some(v),
                    family: signals::ConfigFamily::Plain,
                })
            }
            _ => signals::missing_setting(e.map_or(&f.summary, |e| &e.text), &lower),
        };
        let Some(setting) = setting else {
            continue;
        };
        let var = setting.variable;
        if at_start == Some(false) {
            // Tasks keep running: not a start-up failure. A drained queue dead-lettering
            // is where such an error usually comes from: a message the handler cannot take.
            // (`failing_handler` names it once for all the lines.)
            if dead_lettering_input(view, node).is_some() {
                continue;
            }
        }
        let defined = var
            .as_ref()
            .zip(info.task_vars.as_ref())
            .map(|(v, vars)| vars.contains(v));
        let named = var.as_deref().unwrap_or("a required variable");
        let sure = setting.family.unambiguous();
        let (score, why) = match (at_start, defined) {
            (Some(false), _) => (
                0.3,
                format!(
                    "{}: {named} is reported missing while every task keeps running: a request \
                     or message fails on it, not the start-up",
                    info.name
                ),
            ),
            (_, Some(false)) => (
                if sure { 0.95 } else { 0.85 },
                format!(
                    "{}: {named} is missing at start-up, and the task definition does not set it",
                    info.name
                ),
            ),
            (_, Some(true)) => (
                0.6,
                format!(
                    "{}: {named} is reported missing, though the task definition sets it (empty or misnamed?)",
                    info.name
                ),
            ),
            (_, None) => (
                if sure { 0.85 } else { 0.55 },
                format!("{}: {named} is missing at start-up", info.name),
            ),
        };
        let task_def = info
            .findings
            .iter()
            .filter(|f| f.skill == "ecs")
            .flat_map(|f| f.evidence.iter())
            .filter(|e| e.source.starts_with("ecs:task-definition"));
        out.push(
            Candidate::new(view, node, Class::MissingConfig, score, why)
                .evidence(e.into_iter().chain(task_def))
                .began(e.and_then(|e| e.at).or(began(f)))
                .subject(var)
                .words_only(true),
        );
    }
}

/// The consumer's handler fails on messages from `queue`, whose dead-letter queue fills: the
/// failing line is the message's shape, and the cause is the queue's dead letters.
fn poison_message(
    view: &SweepView<'_>,
    node: NodeId,
    queue: NodeId,
    e: &Evidence,
    out: &mut Vec<Candidate>,
) {
    let q = view.node(queue);
    let dead = q.metric("dlq_visible").unwrap_or(0.0);
    let why = format!(
        "{}'s handler fails on messages from {} while its tasks keep running ({} dead-lettered): a message it cannot process, not its start-up",
        view.node(node).name,
        q.name,
        num(dead)
    );
    out.push(
        Candidate::new(view, queue, Class::DeadLetters, 0.5, why)
            .evidence([e])
            .began(e.at),
    );
}

/// Error lines of a consumer whose tasks are healthy while its input queue dead-letters:
/// the messages fail in its handler. Evidence for the queue's dead letters.
pub(super) fn failing_handler(
    view: &SweepView<'_>,
    node: NodeId,
    f: &Finding,
    out: &mut Vec<Candidate>,
) {
    let failing = matches!(f.status, Status::Down | Status::Degraded);
    if !failing || failing_at_start(view, node) != Some(false) {
        return;
    }
    if let Some(queue) = dead_lettering_input(view, node)
        && let Some(e) = f.evidence.first()
    {
        poison_message(view, node, queue, e, out);
    }
}
