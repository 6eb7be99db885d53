//! What changed between two commits of a fake repository, as git itself computes it: the merge
//! base, the commits one side has that the other lacks, and the files changed (renames detected),
//! for `GET compare/{base}...{head}`.

use std::collections::HashMap;

use super::git::GitRepo;

/// How a file changed, in the words of GitHub's `diff-entry.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FileStatus {
    Added,
    Removed,
    Modified,
    Renamed,
    Copied,
    /// The type changed (a file became a symlink, say): GitHub calls this `changed`.
    Changed,
}

impl FileStatus {
    /// git's status letter (`M`, `R100`, ...) → the status; `None` for letters GitHub never shows.
    fn from_git(letter: &str) -> Option<FileStatus> {
        Some(match letter.chars().next()? {
            'A' => FileStatus::Added,
            'D' => FileStatus::Removed,
            'M' => FileStatus::Modified,
            'R' => FileStatus::Renamed,
            'C' => FileStatus::Copied,
            'T' => FileStatus::Changed,
            _ => return None,
        })
    }

    pub fn as_github(self) -> &'static str {
        match self {
            FileStatus::Added => "added",
            FileStatus::Removed => "removed",
            FileStatus::Modified => "modified",
            FileStatus::Renamed => "renamed",
            FileStatus::Copied => "copied",
            FileStatus::Changed => "changed",
        }
    }
}

/// One file changed between two commits.
#[derive(Clone, Debug)]
pub(super) struct FileChange {
    pub status: FileStatus,
    pub path: String,
    /// The path before a rename or copy.
    pub previous_path: Option<String>,
    /// The blob on the head side (the base side's for a removed file).
    pub blob: String,
    pub additions: u64,
    pub deletions: u64,
}

impl GitRepo {
    /// The best common ancestor of two commits; `None` when their histories never meet.
    pub fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        self.text(&["merge-base", "--end-of-options", a, b])
            .filter(|sha| !sha.is_empty())
    }

    /// The commits reachable from `head` but not from `base`, oldest first.
    pub fn commits_between(&self, base: &str, head: &str) -> Vec<String> {
        let range = format!("{base}..{head}");
        self.text(&["rev-list", "--reverse", "--end-of-options", &range])
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// How many commits `head` has that `base` lacks.
    pub fn count_between(&self, base: &str, head: &str) -> u64 {
        let range = format!("{base}..{head}");
        self.text(&["rev-list", "--count", "--end-of-options", &range])
            .and_then(|count| count.parse().ok())
            .unwrap_or(0)
    }

    /// The files changed from `base` to `head` (`git diff -M`), with their line counts.
    pub fn diff_name_status(&self, base: &str, head: &str) -> Result<Vec<FileChange>, String> {
        let diff = |format: &str| {
            self.run(
                &["diff", "-z", "-M", "--no-abbrev", format, base, head],
                None,
                &[],
            )
            .map(|out| String::from_utf8_lossy(&out).into_owned())
        };
        let counts = numstat(&diff("--numstat")?);
        let raw = diff("--raw")?;
        let mut fields = raw.split('\0').filter(|field| !field.is_empty());
        let mut changes = Vec::new();
        // `:old_mode new_mode old_sha new_sha STATUS`, then one path (two for a rename or copy).
        while let Some(meta) = fields.next() {
            let meta: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
            let [_, _, old_blob, new_blob, letter] = meta[..] else {
                return Err(format!("git diff --raw printed {meta:?}"));
            };
            let status =
                FileStatus::from_git(letter).ok_or_else(|| format!("git status {letter}"))?;
            let first = fields.next().ok_or("git diff --raw: a path is missing")?;
            let (previous_path, path) = match status {
                FileStatus::Renamed | FileStatus::Copied => {
                    let second = fields
                        .next()
                        .ok_or("git diff --raw: a new path is missing")?;
                    (Some(first.to_string()), second.to_string())
                }
                _ => (None, first.to_string()),
            };
            let blob = if status == FileStatus::Removed {
                old_blob
            } else {
                new_blob
            };
            let (additions, deletions) = counts.get(&path).copied().unwrap_or((0, 0));
            changes.push(FileChange {
                status,
                path,
                previous_path,
                blob: blob.to_string(),
                additions,
                deletions,
            });
        }
        Ok(changes)
    }
}

/// `git diff --numstat -z` → new path → (added lines, deleted lines); binary files count 0.
fn numstat(out: &str) -> HashMap<String, (u64, u64)> {
    let mut counts = HashMap::new();
    let mut fields = out.split('\0');
    while let Some(record) = fields.next() {
        let mut parts = record.splitn(3, '\t');
        let (Some(added), Some(deleted), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        // A rename prints an empty path, then the old and the new path as fields of their own.
        let path = if path.is_empty() {
            fields.next();
            fields.next().unwrap_or_default()
        } else {
            path
        };
        let lines = |n: &str| n.parse().unwrap_or(0);
        counts.insert(path.to_string(), (lines(added), lines(deleted)));
    }
    counts
}
