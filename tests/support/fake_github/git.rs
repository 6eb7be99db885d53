//! One fake repository's objects and refs: a real bare git repository in a temporary directory,
//! driven through the `git` CLI, so that SHAs, trees and ancestry are git's own and not the fake's.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeZone, Utc};

/// The SHA git uses for "no object" in `--index-info` lines.
const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

pub(super) struct GitRepo {
    dir: tempfile::TempDir,
}

/// Who wrote or committed a commit, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub email: String,
    pub date: DateTime<Utc>,
}

/// A commit as git stores it.
#[derive(Clone, Debug)]
pub(super) struct CommitInfo {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub author: Signature,
    pub committer: Signature,
    pub message: String,
}

/// One entry of `git ls-tree -l`.
#[derive(Clone, Debug)]
pub(super) struct TreeEntry {
    pub mode: String,
    pub kind: String,
    pub sha: String,
    pub size: Option<u64>,
    pub path: String,
}

/// One change to a tree, as `POST git/trees` asks for it.
#[derive(Clone, Debug)]
pub(super) enum TreeChange {
    /// A blob (or submodule commit) at `path` with `mode`.
    Put {
        path: String,
        mode: String,
        sha: String,
    },
    /// A whole subtree at `path`, replacing what was there.
    Subtree { path: String, sha: String },
    /// `sha: null`: whatever is at `path` (file or directory) goes.
    Delete { path: String },
}

fn git_missing(error: std::io::Error) -> String {
    format!("cannot run `git` ({error}): install it with `apt-get install git`")
}

impl GitRepo {
    /// `git init --bare` with `default_branch` as HEAD.
    pub fn init(default_branch: &str) -> GitRepo {
        let dir = tempfile::tempdir().expect("a temporary directory for a fake repository");
        let repo = GitRepo { dir };
        repo.run(
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch",
                default_branch,
            ],
            None,
            &[],
        )
        .unwrap_or_else(|error| panic!("{error}"));
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(super) fn run(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, String)],
    ) -> Result<Vec<u8>, String> {
        let mut command = Command::new("git");
        command
            .arg("--git-dir")
            .arg(self.dir.path())
            .args(args)
            // The machine's git configuration must not change what the fake does.
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().map_err(git_missing)?;
        if let Some(bytes) = stdin {
            child
                .stdin
                .take()
                .expect("stdin is piped")
                .write_all(bytes)
                .map_err(|error| format!("cannot write to git: {error}"))?;
        }
        let output = child.wait_with_output().map_err(git_missing)?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    pub(super) fn text(&self, args: &[&str]) -> Option<String> {
        let out = self.run(args, None, &[]).ok()?;
        Some(String::from_utf8_lossy(&out).trim().to_string())
    }

    pub fn write_blob(&self, bytes: &[u8]) -> String {
        let out = self
            .run(&["hash-object", "-w", "--stdin"], Some(bytes), &[])
            .unwrap_or_else(|error| panic!("{error}"));
        String::from_utf8_lossy(&out).trim().to_string()
    }

    /// `blob`, `tree`, `commit` or `tag`; `None` when git has no such object.
    pub fn object_type(&self, sha: &str) -> Option<String> {
        if !is_sha(sha) {
            return None;
        }
        self.text(&["cat-file", "-t", sha])
    }

    pub fn read_blob(&self, sha: &str) -> Option<Vec<u8>> {
        (self.object_type(sha)? == "blob")
            .then(|| self.run(&["cat-file", "blob", sha], None, &[]).ok())
            .flatten()
    }

    /// Builds a tree from `base` (or nothing) with `changes` applied, in a private index file.
    pub fn build_tree(&self, base: Option<&str>, changes: &[TreeChange]) -> Result<String, String> {
        static INDEX: AtomicU64 = AtomicU64::new(0);
        let index = self.dir.path().join(format!(
            "fake-index-{}",
            INDEX.fetch_add(1, Ordering::Relaxed)
        ));
        let env = [("GIT_INDEX_FILE", index.display().to_string())];
        let result = (|| {
            match base {
                Some(tree) => self.run(&["read-tree", tree], None, &env)?,
                None => self.run(&["read-tree", "--empty"], None, &env)?,
            };
            for change in changes {
                let path = match change {
                    TreeChange::Put { path, .. } => path,
                    TreeChange::Subtree { path, .. } | TreeChange::Delete { path } => path,
                };
                // Whatever was at the path goes first: a file, or every file under a directory.
                let listed = self.run(&["ls-files", "-z", "--", path], None, &env)?;
                let mut info = String::new();
                for old in listed.split(|b| *b == 0).filter(|p| !p.is_empty()) {
                    let old = String::from_utf8_lossy(old);
                    if old == *path || old.starts_with(&format!("{path}/")) {
                        info.push_str(&format!("0 {ZERO_SHA}\t{old}\n"));
                    }
                }
                if let TreeChange::Put { mode, sha, .. } = change {
                    info.push_str(&format!("{mode} {sha}\t{path}\n"));
                }
                self.run(
                    &["update-index", "--index-info"],
                    Some(info.as_bytes()),
                    &env,
                )?;
                if let TreeChange::Subtree { sha, .. } = change {
                    let prefix = format!("--prefix={path}/");
                    self.run(&["read-tree", &prefix, sha], None, &env)?;
                }
            }
            let out = self.run(&["write-tree"], None, &env)?;
            Ok(String::from_utf8_lossy(&out).trim().to_string())
        })();
        let _ = std::fs::remove_file(&index);
        result
    }

    /// The entries of a tree (`recursive`: every blob and subtree below it too).
    pub fn list_tree(&self, tree: &str, recursive: bool) -> Option<Vec<TreeEntry>> {
        if self.object_type(tree)? != "tree" {
            return None;
        }
        let mut args = vec!["ls-tree", "-l", "-z"];
        if recursive {
            args.extend(["-r", "-t"]);
        }
        args.push(tree);
        let out = self.run(&args, None, &[]).ok()?;
        let entries = out
            .split(|b| *b == 0)
            .filter(|line| !line.is_empty())
            .filter_map(|line| {
                let line = String::from_utf8_lossy(line);
                let (meta, path) = line.split_once('\t')?;
                let mut fields = meta.split_whitespace();
                let (mode, kind, sha, size) = (
                    fields.next()?,
                    fields.next()?,
                    fields.next()?,
                    fields.next()?,
                );
                Some(TreeEntry {
                    mode: mode.to_string(),
                    kind: kind.to_string(),
                    sha: sha.to_string(),
                    size: size.parse().ok(),
                    path: path.to_string(),
                })
            })
            .collect();
        Some(entries)
    }

    /// Every file of a commit's tree, path → content.
    pub fn files_at(&self, commit: &str) -> BTreeMap<String, Vec<u8>> {
        let Some(info) = self.read_commit(commit) else {
            return BTreeMap::new();
        };
        self.list_tree(&info.tree, true)
            .unwrap_or_default()
            .into_iter()
            .filter(|entry| entry.kind == "blob")
            .filter_map(|entry| Some((entry.path, self.read_blob(&entry.sha)?)))
            .collect()
    }

    /// The SHA of whatever is at `path` in `commit` (`""` = its root tree).
    fn object_at(&self, commit: &str, path: &str) -> Option<String> {
        let spec = format!("{commit}:{path}");
        self.text(&["rev-parse", "--verify", "--quiet", &spec])
    }

    /// The blob at `path` in `commit`: (blob SHA, content).
    pub fn file_at(&self, commit: &str, path: &str) -> Option<(String, Vec<u8>)> {
        let sha = self.object_at(commit, path)?;
        let bytes = self.read_blob(&sha)?;
        Some((sha, bytes))
    }

    /// The tree at `path` in `commit` (`""` = the root tree).
    pub fn tree_at(&self, commit: &str, path: &str) -> Option<String> {
        let sha = self.object_at(commit, path)?;
        (self.object_type(&sha)? == "tree").then_some(sha)
    }

    pub fn commit(
        &self,
        tree: &str,
        parents: &[String],
        message: &str,
        author: &Signature,
        committer: &Signature,
    ) -> Result<String, String> {
        let mut args = vec!["commit-tree".to_string(), tree.to_string()];
        for parent in parents {
            args.extend(["-p".to_string(), parent.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env = [
            ("GIT_AUTHOR_NAME", author.name.clone()),
            ("GIT_AUTHOR_EMAIL", author.email.clone()),
            (
                "GIT_AUTHOR_DATE",
                format!("{} +0000", author.date.timestamp()),
            ),
            ("GIT_COMMITTER_NAME", committer.name.clone()),
            ("GIT_COMMITTER_EMAIL", committer.email.clone()),
            (
                "GIT_COMMITTER_DATE",
                format!("{} +0000", committer.date.timestamp()),
            ),
        ];
        let out = self.run(&args, Some(message.as_bytes()), &env)?;
        Ok(String::from_utf8_lossy(&out).trim().to_string())
    }

    pub fn read_commit(&self, sha: &str) -> Option<CommitInfo> {
        if self.object_type(sha)? != "commit" {
            return None;
        }
        let raw = self.run(&["cat-file", "commit", sha], None, &[]).ok()?;
        let raw = String::from_utf8_lossy(&raw);
        let (headers, message) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let mut info = CommitInfo {
            sha: sha.to_string(),
            tree: String::new(),
            parents: Vec::new(),
            author: signature(""),
            committer: signature(""),
            message: message.to_string(),
        };
        for line in headers.lines() {
            match line.split_once(' ') {
                Some(("tree", sha)) => info.tree = sha.to_string(),
                Some(("parent", sha)) => info.parents.push(sha.to_string()),
                Some(("author", who)) => info.author = signature(who),
                Some(("committer", who)) => info.committer = signature(who),
                _ => {}
            }
        }
        Some(info)
    }

    /// The commit a branch, tag or SHA names; `None` when it names none.
    pub fn resolve(&self, rev: &str) -> Option<String> {
        self.text(&[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{rev}^{{commit}}"),
        ])
    }

    /// What a full ref (`refs/heads/main`) points at, without peeling.
    pub fn ref_target(&self, full_ref: &str) -> Option<String> {
        if !full_ref.starts_with("refs/") {
            return None;
        }
        self.text(&[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            full_ref,
        ])
    }

    /// Points `full_ref` at `sha` (git refuses a malformed ref name).
    pub fn set_ref(&self, full_ref: &str, sha: &str) -> Result<(), String> {
        self.run(&["update-ref", full_ref, sha], None, &[])
            .map(drop)
    }

    pub fn delete_ref(&self, full_ref: &str) -> Result<(), String> {
        self.run(&["update-ref", "-d", full_ref], None, &[])
            .map(drop)
    }

    pub fn valid_ref_name(&self, full_ref: &str) -> bool {
        self.run(&["check-ref-format", full_ref], None, &[]).is_ok()
    }

    /// (ref, SHA) of every ref under `prefix`, e.g. `refs/heads/`.
    pub fn refs(&self, prefix: &str) -> Vec<(String, String)> {
        let out = self
            .text(&["for-each-ref", "--format=%(refname) %(objectname)", prefix])
            .unwrap_or_default();
        out.lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(name, sha)| (name.to_string(), sha.to_string()))
            .collect()
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors: a fast-forward.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> bool {
        self.run(
            &["merge-base", "--is-ancestor", ancestor, descendant],
            None,
            &[],
        )
        .is_ok()
    }
}

pub(super) fn is_sha(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `Name <email> 1700000000 +0000` → a signature (the zone is dropped: the fake writes UTC).
fn signature(text: &str) -> Signature {
    let (name, rest) = text.split_once(" <").unwrap_or((text, ""));
    let (email, when) = rest.split_once("> ").unwrap_or((rest, ""));
    let seconds = when
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Signature {
        name: name.to_string(),
        email: email.to_string(),
        date: Utc.timestamp_opt(seconds, 0).single().unwrap_or_default(),
    }
}
