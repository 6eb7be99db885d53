//! What the model is shown to propose an edit: the diagnosis, the files its stack traces
//! name (at the head), and the diff since the last good deploy, each fenced as untrusted data
//! and bounded, so a log line or a file's text can never read as an instruction.

use super::evidence::{named_files, names_file};
use super::revert::since_good;
use super::{PlanRequest, Workspace, short_sha};
use crate::diagnose::llm::budget::shorten;
use crate::diagnose::llm::fence::{Fence, fence};

/// Files shown whole (or cut) to the model.
const MAX_FILES: usize = 6;
/// Characters of one file or one diff shown, at most.
const MAX_FILE_CHARS: usize = 12_000;
/// A file or diff is never cut below this: less says too little to edit by.
const MIN_SHARE_CHARS: usize = 1_500;
/// Context lines around a change in the diff.
const CONTEXT: usize = 3;

pub(super) const SYSTEM: &str = "You are Fixpoint's fix writer. A deploy failed; you are shown \
Fixpoint's diagnosis, the source files its stack traces name, and the diff since the last \
commit that deployed well. Propose the smallest code change that fixes the root cause. \
Answer with one JSON object and nothing \
else: {\"summary\": \"one line for people: what the edit changes and why\", \"edits\": \
[{\"path\": \"a file shown to you, relative to the repository root\", \"search\": \"text \
copied exactly from that file, occurring exactly once in it\", \"replace\": \"the text that \
replaces it\"}]}. Keep edits few and small. Never edit files under .github/workflows/, and \
never write a secret, key, token or password.";

/// The system message for one request: the instructions, and which marker fences the data
/// (drawn per request, so text in a log cannot guess it and close the fence).
pub(super) fn system(fence: &Fence) -> String {
    format!("{SYSTEM}\n\n{}", fence.rule())
}

/// The first user turn: the diagnosis, the named files, the diff since last good, within
/// `budget` characters (the model's prompt budget): files and diffs share what the
/// diagnosis leaves, each cut to its share.
pub(super) async fn prompt<W: Workspace>(
    w: &W,
    req: &PlanRequest<'_>,
    budget: usize,
    marker: &Fence,
) -> anyhow::Result<String> {
    let d = req.diagnosis;
    let mut out = format!(
        "Service: {}. Root cause class: {} at {} (confidence {:.2}).\n\nDiagnosis:\n{}\n",
        req.service,
        d.root_cause.class.as_str(),
        d.root_cause.node,
        d.confidence,
        fence(marker, "diagnosis", None, &d.root_cause.summary)
    );
    if !d.evidence.is_empty() {
        out.push_str("\nEvidence:\n");
        for e in &d.evidence {
            out.push_str(&fence(marker, &e.source, e.at, &e.text));
            out.push('\n');
        }
    }
    let since = since_good(w, req).await?.ok();
    let changed: Vec<String> = since
        .as_ref()
        .map(|s| s.changed.iter().map(|f| f.filename.clone()).collect())
        .unwrap_or_default();
    let files = named_repo_files(w, req, &changed).await?;
    let mut diffs: Vec<(String, String)> = Vec::new();
    if let Some(since) = &since {
        for file in since.targets().iter().take(MAX_FILES) {
            let old_path = file.previous_filename.as_deref().unwrap_or(&file.filename);
            let old = w.read(old_path, &since.good).await?.unwrap_or_default();
            let new = w.read(&file.filename, req.head).await?.unwrap_or_default();
            diffs.push((file.filename.clone(), diff(&old, &new)));
        }
    }
    let items = (files.len() + diffs.len()).max(1);
    let share = (budget.saturating_sub(system(marker).len() + out.len()) / items)
        .clamp(MIN_SHARE_CHARS, MAX_FILE_CHARS);
    if !files.is_empty() {
        out.push_str(&format!(
            "\nFiles the stack traces name, at {}:\n",
            short_sha(req.head)
        ));
        for (path, text) in &files {
            out.push_str(&fence(
                marker,
                &format!("file:{path}"),
                None,
                &shorten(text, share),
            ));
            out.push('\n');
        }
    }
    if let Some(since) = &since {
        out.push_str(&format!(
            "\nChanged since the last good commit {} ({} files):\n",
            short_sha(&since.good),
            since.changed.len()
        ));
        for (path, diff) in &diffs {
            out.push_str(&fence(
                marker,
                &format!("diff:{path}"),
                None,
                &shorten(diff, share),
            ));
            out.push('\n');
        }
    }
    out.push_str("\nAnswer with the JSON object described in the instructions.");
    Ok(out)
}

/// The repository files (path, text at the head) that the evidence names: a changed file
/// it names (frames carry the container's absolute paths), else a relative path as written.
async fn named_repo_files<W: Workspace>(
    w: &W,
    req: &PlanRequest<'_>,
    changed: &[String],
) -> anyhow::Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for named in named_files(req.diagnosis) {
        if out.len() >= MAX_FILES {
            break;
        }
        let path = match changed.iter().find(|c| names_file(&named, c)) {
            Some(c) => c.clone(),
            None if !named.starts_with('/') => named,
            None => continue,
        };
        if out.iter().any(|(p, _)| *p == path) {
            continue;
        }
        if let Some(text) = w.read(&path, req.head).await? {
            out.push((path, text));
        }
    }
    Ok(out)
}

/// A one-hunk line diff: what lies between the common first and last lines, with a little
/// context. Enough for a model to see what a bad commit changed.
pub(super) fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    if prefix == a.len() && prefix == b.len() {
        return "(no change in the text)".into();
    }
    let start = prefix.saturating_sub(CONTEXT);
    let mut out = format!("@@ line {} @@\n", start + 1);
    for line in &a[start..prefix] {
        out.push_str(&format!(" {line}\n"));
    }
    for line in &a[prefix..a.len() - suffix] {
        out.push_str(&format!("-{line}\n"));
    }
    for line in &b[prefix..b.len() - suffix] {
        out.push_str(&format!("+{line}\n"));
    }
    let end = (a.len() - suffix + CONTEXT).min(a.len());
    for line in &a[a.len() - suffix..end] {
        out.push_str(&format!(" {line}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_diff_shows_the_changed_lines_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE!\nf\ng\nh\n";
        assert_eq!(
            super::diff(old, new),
            "@@ line 2 @@\n b\n c\n d\n-e\n+E!\n f\n g\n h\n"
        );
        assert_eq!(super::diff("", "x\n"), "@@ line 1 @@\n+x\n");
    }
}
