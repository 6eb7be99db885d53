//! One fake repository: its git history (a real bare repository) and what GitHub keeps beside it
//! (pull requests and issues, comments, check runs, collaborators, workflow dispatches, CI).

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;

use super::ci::CiFollower;
use super::git::{GitRepo, Signature, TreeChange, TreeEntry};
use super::records::{CheckRun, Comment, Dispatch, Issue};

/// The ref namespace that holds files arranged at a ref git cannot name (e.g. a made-up SHA).
const ARRANGED: &str = "refs/fake-arranged/";

pub(super) struct Repo {
    pub git: GitRepo,
    pub default_branch: String,
    /// Paths arranged for any ref (`add_file(.., None, ..)`): also served at refs that only
    /// arrangement knows, as before the fake was backed by git.
    pub any_ref_paths: HashSet<String>,
    /// Commits an App made under its own identity, which GitHub signs (Verified).
    pub signed: HashSet<String>,
    /// Private repositories on GitHub Free refuse draft pull requests with 422.
    pub refuse_drafts: bool,
    /// Issues and pull requests, numbered together like GitHub's.
    pub issues: Vec<Issue>,
    pub comments: Vec<Comment>,
    pub check_runs: Vec<CheckRun>,
    /// login (lower-cased) → (permission, role_name).
    pub collaborators: BTreeMap<String, (String, String)>,
    pub dispatches: Vec<Dispatch>,
    pub ci: Option<CiFollower>,
}

/// Who arranged files are committed as.
pub(super) fn arranger() -> Signature {
    Signature {
        name: "Monalisa Octocat".into(),
        email: "monalisa.octocat@example.com".into(),
        date: Utc::now(),
    }
}

impl Repo {
    pub fn new() -> Repo {
        Repo {
            git: GitRepo::init("main"),
            default_branch: "main".into(),
            any_ref_paths: HashSet::new(),
            signed: HashSet::new(),
            refuse_drafts: false,
            issues: Vec::new(),
            comments: Vec::new(),
            check_runs: Vec::new(),
            collaborators: BTreeMap::new(),
            dispatches: Vec::new(),
            ci: None,
        }
    }

    /// The full ref an arranged `git_ref` lives at: the default branch for `None`, a branch that
    /// exists by that name, or else a ref in the fake's own namespace.
    pub fn arranged_ref(&self, git_ref: Option<&str>) -> String {
        match git_ref {
            None => format!("refs/heads/{}", self.default_branch),
            Some(name) if self.git.ref_target(&format!("refs/heads/{name}")).is_some() => {
                format!("refs/heads/{name}")
            }
            Some(name) => format!("{ARRANGED}{name}"),
        }
    }

    /// Commits `files` (path → content; `None` deletes) on top of `full_ref` and moves it there.
    /// Returns the new commit's SHA.
    pub fn commit_files(
        &self,
        full_ref: &str,
        files: &[(String, Option<Vec<u8>>)],
        message: &str,
    ) -> String {
        let tip = self.git.ref_target(full_ref);
        let base = tip
            .as_deref()
            .and_then(|sha| self.git.read_commit(sha))
            .map(|commit| commit.tree);
        let changes: Vec<TreeChange> = files
            .iter()
            .map(|(path, content)| match content {
                Some(bytes) => TreeChange::Put {
                    path: path.clone(),
                    mode: "100644".into(),
                    sha: self.git.write_blob(bytes),
                },
                None => TreeChange::Delete { path: path.clone() },
            })
            .collect();
        let tree = self
            .git
            .build_tree(base.as_deref(), &changes)
            .unwrap_or_else(|error| panic!("cannot arrange files in {full_ref}: {error}"));
        let parents: Vec<String> = tip.into_iter().collect();
        let who = arranger();
        let sha = self
            .git
            .commit(&tree, &parents, message, &who, &who)
            .unwrap_or_else(|error| panic!("cannot commit arranged files: {error}"));
        self.git
            .set_ref(full_ref, &sha)
            .unwrap_or_else(|error| panic!("cannot point {full_ref} at {sha}: {error}"));
        sha
    }

    /// The blob at `path` as `GET contents` at `git_ref` sees it: (blob SHA, content).
    ///
    /// A ref only arrangement knows reads from its arranged commits, then falls back to files
    /// arranged for any ref; a ref git can name (branch, tag, SHA) reads strictly from git.
    pub fn file(&self, git_ref: Option<&str>, path: &str) -> Option<(String, Vec<u8>)> {
        let path = path.trim_start_matches('/');
        let default = format!("refs/heads/{}", self.default_branch);
        let strict = match git_ref {
            None => Some(default.clone()),
            Some(name) => match self.git.ref_target(&format!("{ARRANGED}{name}")) {
                Some(arranged) => {
                    if let Some(found) = self.git.file_at(&arranged, path) {
                        return Some(found);
                    }
                    None
                }
                None => self.git.resolve(name),
            },
        };
        if let Some(commit) = strict {
            return self.git.file_at(&commit, path);
        }
        if self.any_ref_paths.contains(path) {
            return self.git.file_at(&default, path);
        }
        None
    }

    /// The commit `rev` names: a made-up SHA (or other name) that only arrangement knows stands
    /// for its arranged commit, as a red deploy's head SHA in a test does; else git resolves it.
    pub fn commit_for(&self, rev: &str) -> Option<String> {
        self.git
            .ref_target(&format!("{ARRANGED}{rev}"))
            .or_else(|| self.git.resolve(rev))
    }

    /// The entries of the directory at `path` as `GET contents` at `git_ref` sees it. A ref git
    /// cannot name reads the arranged commits, or else the default branch.
    pub fn dir(&self, git_ref: Option<&str>, path: &str) -> Option<Vec<TreeEntry>> {
        let default = format!("refs/heads/{}", self.default_branch);
        let commit = match git_ref {
            None => default,
            Some(name) => self.commit_for(name).unwrap_or(default),
        };
        let tree = self.git.tree_at(&commit, path.trim_matches('/'))?;
        self.git.list_tree(&tree, false)
    }

    pub fn next_number(&self) -> u64 {
        self.issues
            .iter()
            .map(|issue| issue.number)
            .max()
            .unwrap_or(0)
            + 1
    }
}
