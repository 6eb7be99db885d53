//! missing_config: restore the variable the service reports missing, as it was when the
//! service last deployed well: from the last good task definition revision (ECS), else from
//! the task definition file at the last good commit. A plain `environment` value is copied;
//! a `secrets` entry is copied as its `valueFrom` reference (an ARN), never resolved. When
//! the only copy of the value is a secret in plain text, nothing is written: committing it
//! would publish it.

use super::catalogue::{Attempt, task_definition, task_definition_plan};
use super::json::Json;
use super::task_definition::{Located, TaskDef, locate, named_entry};
use super::{PlanKind, PlanRequest, Workspace, evidence, short_sha};
use crate::diagnose::{ActionKind, RootCauseClass, fix_fingerprint};

/// The variable's entry where the service last ran well.
enum Entry {
    Plain(String),
    /// `valueFrom`: a Secrets Manager or SSM Parameter Store ARN.
    Secret(String),
}

pub(super) async fn plan<W: Workspace>(w: &W, req: &PlanRequest<'_>) -> anyhow::Result<Attempt> {
    let Some(var) = evidence::missing_variable(req.diagnosis) else {
        return Ok(Attempt::Skip(
            "no variable is restored: the diagnosis names none".into(),
        ));
    };
    let mut td = match task_definition(w, req).await? {
        Ok(td) => td,
        Err(why) => return Ok(Attempt::Skip(why)),
    };
    let Some(index) = td.container_index(req.service) else {
        return Ok(Attempt::Skip(td.which_container_problem(req.service)));
    };
    let name = td.container_name(index);
    let place = td.place();
    if let Some(c) = td.container(index)
        && (named_entry(c, "environment", &var).is_some()
            || named_entry(c, "secrets", &var).is_some())
    {
        return Ok(Attempt::Skip(format!(
            "{var} is set for {name} in {place} already: restoring it changes nothing (is it read under another name, or is its value wrong?)"
        )));
    }
    let mut plain_secret = None;
    let mut found = None;
    for (source, entry) in last_good_entries(w, req, &var).await? {
        match entry {
            Entry::Plain(value) if is_secret(&var, &value) => {
                plain_secret.get_or_insert(source);
            }
            entry => {
                found = Some((source, entry));
                break;
            }
        }
    }
    let (source, entry) = match (found, plain_secret) {
        (Some(found), _) => found,
        (None, Some(source)) => {
            return Ok(Attempt::Stop(format!(
                "{var} is missing, and its only last good value ({source}) is a secret in plain text: Fixpoint never writes a secret value. Store it in Secrets Manager or SSM Parameter Store and add a `secrets` entry with `valueFrom` for {var} to {place}"
            )));
        }
        (None, None) => {
            return Ok(Attempt::Skip(format!(
                "{var} is not restored: neither the last good task definition nor the file at the last good commit sets it"
            )));
        }
    };
    let (list, added, what) = match entry {
        Entry::Plain(value) => (
            "environment",
            Json::object([("name", Json::string(&var)), ("value", Json::String(value))]),
            "its plain value".to_string(),
        ),
        Entry::Secret(arn) => (
            "secrets",
            Json::object([
                ("name", Json::string(&var)),
                ("valueFrom", Json::string(&arn)),
            ]),
            format!("a reference to the secret {arn}"),
        ),
    };
    if let Some(c) = td.container_mut(index) {
        match c.get_mut(list).and_then(Json::as_array_mut) {
            Some(items) => items.push(added),
            None => c.set(list, Json::Array(vec![added])),
        }
    }
    let node = &req.diagnosis.root_cause.node;
    let summary = format!(
        "restore {var} for {name} in {place} as {what}, as in {source}: {node} reports it missing"
    );
    let fingerprint = fix_fingerprint(
        ActionKind::Infra,
        RootCauseClass::MissingConfig,
        node,
        Some(&var),
    );
    Ok(Attempt::Plan(task_definition_plan(
        PlanKind::RestoreVariable,
        fingerprint,
        summary,
        td,
    )))
}

/// The variable's entries where the service last ran well, each with where it was found:
/// the last good task definition revision first, then the file at the last good commit.
async fn last_good_entries<W: Workspace>(
    w: &W,
    req: &PlanRequest<'_>,
    var: &str,
) -> anyhow::Result<Vec<(String, Entry)>> {
    let mut out = Vec::new();
    if let Some(value) = w.last_good_task_definition().await?
        && let Some(td) = TaskDef::from_api(&value, "", req.service)
    {
        out.extend(
            entry_in(&td, req.service, var)
                .map(|e| ("the last good task definition revision".to_string(), e)),
        );
    }
    if let Some(good) = w.last_good_commit().await?
        && let Located::Found(td) = locate(w, req.config.task_definition.as_deref(), &good).await?
    {
        out.extend(entry_in(&td, req.service, var).map(|e| {
            (
                format!(
                    "{} at the last good commit {}",
                    td.place(),
                    short_sha(&good)
                ),
                e,
            )
        }));
    }
    Ok(out)
}

/// The entry for `var` in the service's container: a `secrets` reference before a plain value.
fn entry_in(td: &TaskDef, service: &str, var: &str) -> Option<Entry> {
    let container = td.container(td.container_index(service)?)?;
    if let Some(arn) = named_entry(container, "secrets", var)
        .and_then(|e| e.get("valueFrom"))
        .and_then(Json::as_str)
    {
        return Some(Entry::Secret(arn.to_string()));
    }
    named_entry(container, "environment", var)
        .and_then(|e| e.get("value"))
        .and_then(Json::as_str)
        .map(|v| Entry::Plain(v.to_string()))
}

/// The value is a secret: the redactor would hide it (a secret-like name, a credential in a
/// URL, a known key format).
fn is_secret(var: &str, value: &str) -> bool {
    let line = format!("{var}={value}");
    crate::redact::redact(&line) != line
}
