//! Revert since last good: the files changed between the last commit that deployed well
//! (the deploy workflow's last successful run on the branch) and the failing commit are set
//! back to their content there (on top of the loop's branch, whose own fixes stay): deleted when they were added, restored when removed, renamed back.
//! When the stack traces or failed steps name some of them, only those. Workflow files are
//! never written (Fixpoint has no `workflows` permission): a person must revert them.

use super::catalogue::{Attempt, fingerprint};
use super::evidence::{named_files, names_file};
use super::{Change, FileEdit, FixPlan, PlanKind, PlanRequest, Workspace, short_sha};
use crate::diagnose::ActionKind;
use crate::domain::CommitSha;
use crate::github::contents::ChangedFile;

/// The changes since the last good deploy, and the subset the evidence implicates.
pub(super) struct SinceGood {
    pub good: CommitSha,
    pub changed: Vec<ChangedFile>,
    /// The changed files the evidence names; empty when it names none of them.
    pub implicated: Vec<ChangedFile>,
}

impl SinceGood {
    /// The files to act on: the implicated ones when any, else every changed file.
    pub fn targets(&self) -> &[ChangedFile] {
        if self.implicated.is_empty() {
            &self.changed
        } else {
            &self.implicated
        }
    }
}

/// What changed since the last good commit; `Err` says why there is nothing to go back to.
pub(super) async fn since_good<W: Workspace>(
    w: &W,
    req: &PlanRequest<'_>,
) -> anyhow::Result<Result<SinceGood, String>> {
    let Some(good) = w.last_good_commit().await? else {
        return Ok(Err(
            "nothing is reverted: the deploy workflow has no successful run on this branch to go back to".into(),
        ));
    };
    // People's change is last good → failing; the loop's own fixes after it are not theirs
    // to revert (a red e2e after a memory raise must not take the raise back).
    if good == *req.failing {
        return Ok(Err(format!(
            "nothing is reverted: the failing commit is the last good commit {}",
            short_sha(&good)
        )));
    }
    let changed = w.changed_since(&good, req.failing).await?;
    if changed.is_empty() {
        return Ok(Err(format!(
            "nothing is reverted: no file changed since the last good commit {}",
            short_sha(&good)
        )));
    }
    let named = named_files(req.diagnosis);
    let implicated = changed
        .iter()
        .filter(|f| {
            named.iter().any(|n| {
                names_file(n, &f.filename)
                    || f.previous_filename
                        .as_deref()
                        .is_some_and(|p| names_file(n, p))
            })
        })
        .cloned()
        .collect();
    Ok(Ok(SinceGood {
        good,
        changed,
        implicated,
    }))
}

pub(super) async fn plan<W: Workspace>(w: &W, req: &PlanRequest<'_>) -> anyhow::Result<Attempt> {
    let since = match since_good(w, req).await? {
        Ok(since) => since,
        Err(why) => return Ok(Attempt::Skip(why)),
    };
    let good = &since.good;
    let mut edits: Vec<FileEdit> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut listed: Vec<String> = Vec::new();
    let mut workflows: Vec<String> = Vec::new();
    for file in since.targets() {
        let paths = [
            Some(file.filename.as_str()),
            file.previous_filename.as_deref(),
        ];
        if paths
            .iter()
            .flatten()
            .any(|p| crate::github::guard::check_writable_path("revert", p).is_err())
        {
            workflows.push(file.filename.clone());
            continue;
        }
        match (file.status.as_str(), &file.previous_filename) {
            ("added" | "copied", _) => {
                edits.push(delete(&file.filename));
                listed.push(format!("{} (added since: deleted)", file.filename));
            }
            ("renamed", Some(old)) => {
                edits.push(delete(&file.filename));
                edits.push(restore(w, old, good).await?);
                listed.push(format!("{} (renamed back to {old})", file.filename));
            }
            _ => {
                let edit = restore(w, &file.filename, good).await?;
                let what = if edit.content.is_some() {
                    "restored"
                } else {
                    "deleted: absent at the last good commit"
                };
                listed.push(format!("{} ({what})", file.filename));
                edits.push(edit);
            }
        }
    }
    if !workflows.is_empty() {
        notes.push(format!(
            "not reverted, a person must: {} (Fixpoint never writes workflow files; set them back to {} by hand)",
            workflows.join(", "),
            short_sha(good)
        ));
    }
    if edits.is_empty() {
        return Ok(Attempt::Skip(format!(
            "nothing is reverted: what changed since {} is in workflow files, which a person must revert: {}",
            short_sha(good),
            workflows.join(", ")
        )));
    }
    let left = since.changed.len() - since.targets().len();
    if left > 0 {
        notes.push(format!(
            "limited to the files the stack traces or failed steps name; {left} other file(s) changed since {} are left as they are",
            short_sha(good)
        ));
    }
    let summary = format!(
        "revert {} since the last good deploy ({}): {}",
        count(listed.len()),
        short_sha(good),
        listed.join(", ")
    );
    let fingerprint = fingerprint(
        ActionKind::Code,
        req,
        &format!("revert={}", short_sha(good)),
    );
    Ok(Attempt::Plan(FixPlan {
        kind: PlanKind::RevertSinceLastGood,
        action: ActionKind::Code,
        fingerprint,
        summary,
        change: Change::Files { edits },
        notes,
    }))
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 file".into()
    } else {
        format!("{n} files")
    }
}

fn delete(path: &str) -> FileEdit {
    FileEdit {
        path: path.to_string(),
        content: None,
    }
}

/// `path` as it was at `good` (deleted when it did not exist there).
async fn restore<W: Workspace>(w: &W, path: &str, good: &CommitSha) -> anyhow::Result<FileEdit> {
    Ok(FileEdit {
        path: path.to_string(),
        content: w.read(path, good).await?,
    })
}
