//! Arranging repositories that change: git history and pushes, pull requests and comments that
//! people made, collaborators, draft refusal, and CI that follows pushes with its webhooks.

use super::ci::{CiFollower, PushedTree, WebhookTarget};
use super::gate::lock;
use super::model::WorkflowRun;
use super::records::{Comment, Issue, Pull};
use super::{FakeGitHub, split_repo};

impl FakeGitHub {
    /// Commits `files` (path → content; `None` deletes the path) on `branch` of `owner/repo`,
    /// creating the branch from the default branch if needed, as a person's `git push` would:
    /// CI follows it. Returns the new commit's SHA.
    pub fn push(&self, repo: &str, branch: &str, files: &[(&str, Option<&str>)]) -> String {
        let (owner, name) = split_repo(repo);
        let full_name = repo.to_lowercase();
        let mut state = lock(&self.shared);
        let target = format!("refs/heads/{branch}");
        let git_repo = state.repo_mut(owner, name);
        if git_repo.git.ref_target(&target).is_none() {
            let default = format!("refs/heads/{}", git_repo.default_branch);
            if let Some(tip) = git_repo.git.ref_target(&default) {
                git_repo
                    .git
                    .set_ref(&target, &tip)
                    .unwrap_or_else(|error| panic!("cannot create {branch}: {error}"));
            }
        }
        let files: Vec<(String, Option<Vec<u8>>)> = files
            .iter()
            .map(|(path, content)| (path.to_string(), content.map(|c| c.as_bytes().to_vec())))
            .collect();
        let sha = git_repo.commit_files(&target, &files, &format!("Push to {branch}"));
        super::ci::follow(&mut state, &self.shared, &full_name, branch, &sha, "push");
        sha
    }

    /// The commit `branch` of `owner/repo` points at, if the branch exists.
    pub fn branch_sha(&self, repo: &str, branch: &str) -> Option<String> {
        let state = lock(&self.shared);
        let repo = state.repos.get(&repo.to_lowercase())?;
        repo.git.ref_target(&format!("refs/heads/{branch}"))
    }

    /// The parents of the commit a branch, tag or SHA names, read from git.
    pub fn parents_of(&self, repo: &str, git_ref: &str) -> Vec<String> {
        let state = lock(&self.shared);
        let Some(repo) = state.repos.get(&repo.to_lowercase()) else {
            return Vec::new();
        };
        repo.git
            .resolve(git_ref)
            .and_then(|sha| repo.git.read_commit(&sha))
            .map(|c| c.parents)
            .unwrap_or_default()
    }

    /// A file's content at a branch, tag or SHA, read from git.
    pub fn file_at(&self, repo: &str, git_ref: &str, path: &str) -> Option<Vec<u8>> {
        let state = lock(&self.shared);
        let repo = state.repos.get(&repo.to_lowercase())?;
        let commit = repo.git.resolve(git_ref)?;
        repo.git.file_at(&commit, path).map(|(_, bytes)| bytes)
    }

    /// Makes `owner/repo` refuse draft pull requests with 422, as private repositories on
    /// GitHub Free do.
    pub fn refuse_draft_pull_requests(&self, repo: &str) {
        let (owner, name) = split_repo(repo);
        lock(&self.shared).repo_mut(owner, name).refuse_drafts = true;
    }

    /// What `GET collaborators/{user}/permission` answers for `user`: `permission` is
    /// admin/write/read/none, `role_name` the full role (`maintain` shows as `write`).
    /// Users never scripted get `none` with role `read`-less `none`.
    pub fn set_collaborator_permission(
        &self,
        repo: &str,
        user: &str,
        permission: &str,
        role_name: &str,
    ) {
        assert!(
            matches!(permission, "admin" | "write" | "read" | "none"),
            "GitHub's `permission` is admin, write, read or none, got {permission:?}"
        );
        let (owner, name) = split_repo(repo);
        lock(&self.shared)
            .repo_mut(owner, name)
            .collaborators
            .insert(
                user.to_lowercase(),
                (permission.to_string(), role_name.to_string()),
            );
    }

    /// Sends webhooks (CI's `workflow_run`s) to `url` (the App's webhook URL, e.g.
    /// `http://127.0.0.1:4000/webhooks`), signed with `secret`.
    pub fn deliver_webhooks_to(&self, url: &str, secret: &str) {
        lock(&self.shared).webhook_target = Some(WebhookTarget {
            url: url.to_string(),
            secret: secret.to_string(),
        });
    }

    /// Scripts the CI of `owner/repo`: every push to a branch (through the Git Data API or
    /// `push`) and every workflow dispatch runs `script` on the pushed tree; the run it returns
    /// is served and announced with `workflow_run` webhooks (requested, in_progress, completed).
    pub fn follow_pushes(
        &self,
        repo: &str,
        script: impl Fn(&PushedTree) -> WorkflowRun + Send + Sync + 'static,
    ) {
        let (owner, name) = split_repo(repo);
        lock(&self.shared).repo_mut(owner, name).ci = Some(CiFollower {
            script: std::sync::Arc::new(script),
            also: Vec::new(),
            on: None,
            hold: None,
            deploy: None,
        });
    }

    /// Makes every green CI run of `owner/repo` deploy its tree with `deploy` before the run
    /// completes (call `follow_pushes` first): the world the tree is deployed to has moved by
    /// the time the `completed` webhook arrives, as with a deploy job that waits for its rollout
    /// to start.
    pub fn deploy_on_green(
        &self,
        repo: &str,
        deploy: impl Fn(PushedTree) -> futures::future::BoxFuture<'static, ()> + Send + Sync + 'static,
    ) {
        self.with_ci(repo, |ci| ci.deploy = Some(std::sync::Arc::new(deploy)));
    }

    /// The workflows' `on:` (call `follow_pushes` first): from now on only the pushes and
    /// dispatches `on` accepts run anything, as a workflow with `on: push: branches: [main]`
    /// and `workflow_dispatch` runs only on those.
    pub fn ci_runs_only_when(
        &self,
        repo: &str,
        on: impl Fn(&PushedTree) -> bool + Send + Sync + 'static,
    ) {
        self.with_ci(repo, |ci| ci.on = Some(std::sync::Arc::new(on)));
    }

    /// Another workflow (an e2e job) that every push and dispatch CI follows also runs, with
    /// its run made by `script` (call `follow_pushes` first). It deploys nothing.
    pub fn also_run(
        &self,
        repo: &str,
        script: impl Fn(&PushedTree) -> WorkflowRun + Send + Sync + 'static,
    ) {
        self.with_ci(repo, |ci| ci.also.push(std::sync::Arc::new(script)));
    }

    /// Changes how `owner/repo`'s CI follows pushes; it must follow them already.
    fn with_ci(&self, repo: &str, change: impl FnOnce(&mut CiFollower)) {
        let mut state = lock(&self.shared);
        let ci = state
            .repos
            .get_mut(&repo.to_lowercase())
            .and_then(|repo| repo.ci.as_mut())
            .unwrap_or_else(|| panic!("{repo} has no CI: call `follow_pushes` first"));
        change(ci);
    }

    /// From now on, CI runs of `owner/repo` stop after `in_progress` until `finish_ci_run`.
    pub fn hold_ci(&self, repo: &str) {
        self.with_ci(repo, |ci| {
            ci.hold = Some(std::sync::Arc::new(tokio::sync::Semaphore::new(0)));
        });
    }

    /// Lets one held CI run of `owner/repo` complete (the oldest waiting one).
    pub fn finish_ci_run(&self, repo: &str) {
        let state = lock(&self.shared);
        let hold = state
            .repos
            .get(&repo.to_lowercase())
            .and_then(|repo| repo.ci.as_ref())
            .and_then(|ci| ci.hold.as_ref())
            .unwrap_or_else(|| panic!("{repo}'s CI is not held: call `hold_ci` first"));
        hold.add_permits(1);
    }

    /// A pull request a person opened from `head` into `base` (both branches must exist).
    /// Returns its number.
    pub fn open_pull_request(
        &self,
        repo: &str,
        head: &str,
        base: &str,
        title: &str,
        author: &str,
    ) -> u64 {
        let (owner, name) = split_repo(repo);
        let mut state = lock(&self.shared);
        let repository = state.repo_mut(owner, name);
        for branch in [head, base] {
            assert!(
                repository
                    .git
                    .ref_target(&format!("refs/heads/{branch}"))
                    .is_some(),
                "{repo} has no branch {branch}: `push` to it first"
            );
        }
        let now = chrono::Utc::now();
        let number = repository.next_number();
        repository.issues.push(Issue {
            number,
            title: title.to_string(),
            body: None,
            state: "open".into(),
            labels: Vec::new(),
            author: author.to_string(),
            created_at: now,
            updated_at: now,
            pull: Some(Pull {
                head: head.to_string(),
                base: base.to_string(),
                draft: false,
                requested_reviewers: Vec::new(),
                requested_teams: Vec::new(),
            }),
        });
        number
    }

    /// A comment a person wrote on issue or pull request `number` (e.g. `/fixpoint retry`);
    /// it needs no `expect_comment`. Returns its id.
    pub fn add_comment(&self, repo: &str, number: u64, author: &str, body: &str) -> u64 {
        let (owner, name) = split_repo(repo);
        let mut state = lock(&self.shared);
        let id = state.next_id();
        let repository = state.repo_mut(owner, name);
        assert!(
            repository.issues.iter().any(|issue| issue.number == number),
            "{repo} has no issue or pull request #{number}: open one first"
        );
        let now = chrono::Utc::now();
        repository.comments.push(Comment {
            id,
            issue_number: number,
            body: body.to_string(),
            author: author.to_string(),
            created_at: now,
            updated_at: now,
            reactions: Vec::new(),
            expected: true,
        });
        id
    }
}
