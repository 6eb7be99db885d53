//! Reading back what the App wrote (issues, pull requests, comments, check runs, dispatches,
//! webhook deliveries), and the end-of-test checks that fail a test for the test's own mistakes
//! (a scripted fault that never fired, a comment nobody expected).

use std::time::{Duration, Instant};

use super::ci::{CiFollower, PushedTree, WebhookTarget};
use super::gate::lock;
use super::model::WorkflowRun;
use super::records::{CheckRun, Comment, Delivery, Dispatch, Issue, Pull};
use super::{FakeGitHub, split_repo};

/// How long the `wait_for_*` helpers wait before they fail the test.
const WAIT: Duration = Duration::from_secs(10);

impl FakeGitHub {
    // --- inspecting ---

    /// Issues and pull requests of `owner/repo`, by number.
    pub fn issues(&self, repo: &str) -> Vec<Issue> {
        let state = lock(&self.shared);
        let mut issues = state
            .repos
            .get(&repo.to_lowercase())
            .map(|repo| repo.issues.clone())
            .unwrap_or_default();
        issues.sort_by_key(|issue| issue.number);
        issues
    }

    pub fn pull_requests(&self, repo: &str) -> Vec<Issue> {
        let mut issues = self.issues(repo);
        issues.retain(|issue| issue.pull.is_some());
        issues
    }

    /// Every comment on `owner/repo`, expected or not, in creation order.
    pub fn comments(&self, repo: &str) -> Vec<Comment> {
        let state = lock(&self.shared);
        state
            .repos
            .get(&repo.to_lowercase())
            .map(|repo| repo.comments.clone())
            .unwrap_or_default()
    }

    /// Takes the oldest comment on issue or pull request `number` that no test took yet, as it
    /// reads now. Panics if there is none. A comment never taken fails the test at the end.
    pub fn expect_comment(&self, repo: &str, number: u64) -> Comment {
        self.try_expect_comment(repo, number).unwrap_or_else(|| {
            panic!(
                "expected a comment on {repo}#{number}, but there is none not yet taken; all \
                 comments: {:?}",
                self.comments(repo)
            )
        })
    }

    /// `expect_comment`, waiting up to 10 s for the App to post it.
    pub async fn wait_for_comment(&self, repo: &str, number: u64) -> Comment {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(comment) = self.try_expect_comment(repo, number) {
                return comment;
            }
            if Instant::now() >= deadline {
                return self.expect_comment(repo, number);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn try_expect_comment(&self, repo: &str, number: u64) -> Option<Comment> {
        let mut state = lock(&self.shared);
        let comment = state
            .repos
            .get_mut(&repo.to_lowercase())?
            .comments
            .iter_mut()
            .find(|comment| comment.issue_number == number && !comment.expected)?;
        comment.expected = true;
        Some(comment.clone())
    }

    pub fn check_runs(&self, repo: &str) -> Vec<CheckRun> {
        let state = lock(&self.shared);
        state
            .repos
            .get(&repo.to_lowercase())
            .map(|repo| repo.check_runs.clone())
            .unwrap_or_default()
    }

    pub fn dispatches(&self, repo: &str) -> Vec<Dispatch> {
        let state = lock(&self.shared);
        state
            .repos
            .get(&repo.to_lowercase())
            .map(|repo| repo.dispatches.clone())
            .unwrap_or_default()
    }

    /// Every webhook the fake posted, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.shared).deliveries.clone()
    }

    /// Waits up to 10 s until at least `count` webhooks went out, and returns them all.
    pub async fn wait_for_deliveries(&self, count: usize) -> Vec<Delivery> {
        let deadline = Instant::now() + WAIT;
        loop {
            let deliveries = self.deliveries();
            if deliveries.len() >= count {
                return deliveries;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} webhook deliveries within {WAIT:?}, got {}: {deliveries:?}",
                deliveries.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // --- the test's own mistakes ---

    /// Scripted faults, stalls and corruptions that never fired, described; the fake forgets
    /// every script. (A fault scripted for more uses than the code made is fine: "at most".)
    pub fn take_unused_scripts(&self) -> Vec<String> {
        let mut state = lock(&self.shared);
        let mut unused: Vec<String> = Vec::new();
        let faults = std::mem::take(&mut state.faults);
        for fault in faults.into_iter().filter(|f| f.remaining == f.times) {
            unused.push(format!(
                "fail_next({} {}, {} → {}) fired {} of {} times",
                fault.method,
                fault.path_prefix,
                fault.times,
                fault.status,
                fault.times - fault.remaining,
                fault.times
            ));
        }
        let stalls = std::mem::take(&mut state.stalls);
        for stall in stalls.into_iter().filter(|s| s.remaining == s.times) {
            unused.push(format!(
                "stall_next({} {}, {:?}) fired {} of {} times",
                stall.method,
                stall.path_prefix,
                stall.delay,
                stall.times - stall.remaining,
                stall.times
            ));
        }
        for corruption in std::mem::take(&mut state.corruptions) {
            unused.push(format!(
                "corrupt_next({} {}) never fired",
                corruption.method, corruption.path_prefix
            ));
        }
        unused
    }

    /// Comments the App posted that no test took with `expect_comment`; the fake forgets them.
    pub fn take_unexpected_comments(&self) -> Vec<Comment> {
        let mut state = lock(&self.shared);
        let mut unexpected = Vec::new();
        for repo in state.repos.values_mut() {
            for comment in repo.comments.iter_mut().filter(|c| !c.expected) {
                comment.expected = true;
                unexpected.push(comment.clone());
            }
        }
        unexpected
    }

    /// Everything that fails a test when the fake is dropped: lies it refused to tell, scripts
    /// that never fired, comments nobody expected.
    pub(super) fn end_of_test_problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .take_violations()
            .into_iter()
            .map(|v| {
                format!(
                    "the fake GitHub was asked for something GitHub would not answer that way: {v}"
                )
            })
            .collect();
        for unused in self.take_unused_scripts() {
            problems.push(format!(
                "a scripted fault never fired, so the test did not test it: {unused}"
            ));
        }
        for comment in self.take_unexpected_comments() {
            problems.push(format!(
                "unexpected comment {} on #{} (take it with `expect_comment`): {:?}",
                comment.id, comment.issue_number, comment.body
            ));
        }
        problems
    }
}
