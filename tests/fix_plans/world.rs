//! The repository and the lower environment as the plans see them: commits as maps of
//! path → text, what the compare API would list between two of them, and the task
//! definitions DescribeTaskDefinition would return. Everything in memory: the plans are
//! pure over the `Workspace`, so no server is needed to show what they decide.

use std::collections::BTreeMap;
use std::sync::Mutex;

use fixpoint::config::repo::RepoConfig;
use fixpoint::diagnose::{
    ActionKind, ChainLink, Diagnosis, Engine, ProposedAction, RootCause, RootCauseClass,
    fix_fingerprint,
};
use fixpoint::domain::CommitSha;
use fixpoint::github::contents::ChangedFile;
use fixpoint::harness::plans::{
    Change, FileEdit, FixPlan, PlanDecision, PlanRequest, Workspace, choose,
};
use fixpoint::skills::Evidence;
use serde_json::Value;

pub const SERVICE: &str = "payments-api";
/// The commit of the last successful deploy run.
pub const GOOD: &str = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// The failing commit the fix builds on.
pub const HEAD: &str = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

pub fn sha(s: &str) -> CommitSha {
    CommitSha(s.to_string())
}

/// A fixture file under tests/fix_plans/.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fix_plans/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[derive(Default)]
pub struct World {
    commits: BTreeMap<String, BTreeMap<String, String>>,
    /// Renames between GOOD and HEAD, new path → old path, as the compare API reports them.
    renames: BTreeMap<String, String>,
    pub last_good: Option<String>,
    pub last_good_task_definition: Option<Value>,
    pub current_task_definition: Option<Value>,
    /// GitHub does not answer (a 502, a timeout): every read fails.
    pub unreachable: bool,
    /// Every (path, commit) read, to show what the plans looked at.
    pub reads: Mutex<Vec<(String, String)>>,
}

impl World {
    /// A repository whose last good commit and head both hold `files`.
    pub fn new(files: &[(&str, &str)]) -> World {
        let tree: BTreeMap<String, String> = files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        let mut w = World {
            last_good: Some(GOOD.into()),
            ..World::default()
        };
        w.commits.insert(GOOD.into(), tree.clone());
        w.commits.insert(HEAD.into(), tree);
        w
    }

    /// The failing commit changed (or, with `None`, deleted) `path`.
    pub fn at_head(mut self, path: &str, text: Option<&str>) -> World {
        let head = self.commits.entry(HEAD.into()).or_default();
        match text {
            Some(t) => head.insert(path.into(), t.into()),
            None => head.remove(path),
        };
        self
    }

    /// The failing commit renamed `old` to `new`, changing its text.
    pub fn renamed(mut self, old: &str, new: &str, text: &str) -> World {
        self.renames.insert(new.into(), old.into());
        self.at_head(old, None).at_head(new, Some(text))
    }
}

impl Workspace for World {
    async fn read(&self, path: &str, at: &CommitSha) -> anyhow::Result<Option<String>> {
        if self.unreachable {
            anyhow::bail!("cannot read {path}: GitHub answered 502 Bad Gateway");
        }
        self.reads
            .lock()
            .unwrap()
            .push((path.to_string(), at.0.clone()));
        let tree = self
            .commits
            .get(&at.0)
            .ok_or_else(|| anyhow::anyhow!("no commit {at} in this world"))?;
        Ok(tree.get(path).cloned())
    }

    async fn changed_since(
        &self,
        base: &CommitSha,
        head: &CommitSha,
    ) -> anyhow::Result<Vec<ChangedFile>> {
        let (a, b) = (&self.commits[&base.0], &self.commits[&head.0]);
        let renamed_from: Vec<&String> = self.renames.values().collect();
        let mut out = Vec::new();
        for (path, text) in b {
            let file = |status: &str, previous: Option<&String>| ChangedFile {
                filename: path.clone(),
                status: status.into(),
                previous_filename: previous.cloned(),
            };
            match (a.get(path), self.renames.get(path)) {
                (_, Some(old)) => out.push(file("renamed", Some(old))),
                (None, None) => out.push(file("added", None)),
                (Some(old), None) if old != text => out.push(file("modified", None)),
                _ => {}
            }
        }
        for path in a.keys() {
            if !b.contains_key(path) && !renamed_from.contains(&path) {
                out.push(ChangedFile {
                    filename: path.clone(),
                    status: "removed".into(),
                    previous_filename: None,
                });
            }
        }
        Ok(out)
    }

    async fn last_good_commit(&self) -> anyhow::Result<Option<CommitSha>> {
        Ok(self.last_good.as_deref().map(sha))
    }

    async fn last_good_task_definition(&self) -> anyhow::Result<Option<Value>> {
        Ok(self.last_good_task_definition.clone())
    }

    async fn current_task_definition(&self) -> anyhow::Result<Option<Value>> {
        Ok(self.current_task_definition.clone())
    }
}

pub fn config(extra: &str) -> RepoConfig {
    RepoConfig::parse(&format!(
        "deploy_workflows: [deploy.yml]\ntopology: topology/payments-api.yaml\n{extra}"
    ))
    .expect("the test config parses")
}

/// A diagnosis as the rules engine gives it: the root cause at `node`, the evidence lines
/// (source, text), and the proposed fix's fingerprint naming `subject` when there is one.
pub fn diagnosis(
    class: RootCauseClass,
    node: &str,
    subject: Option<&str>,
    evidence: &[(&str, &str)],
) -> Diagnosis {
    Diagnosis {
        root_cause: RootCause {
            node: node.into(),
            class,
            summary: format!("{node}: {}", evidence.first().map_or("", |e| e.1)),
        },
        chain: vec![ChainLink {
            node: node.into(),
            class,
        }],
        confidence: 0.9,
        evidence: evidence
            .iter()
            .map(|(s, t)| Evidence::new(*s, *t))
            .collect(),
        proposed_action: ProposedAction {
            kind: ActionKind::Infra,
            summary: String::new(),
            fingerprint: Some(fix_fingerprint(ActionKind::Infra, class, node, subject)),
        },
        engine: Engine::Rules,
        noise: Vec::new(),
        missing: Vec::new(),
        note: None,
    }
}

/// What `choose` decides for the failing commit, with no model, after `failed`.
pub async fn decide(
    w: &World,
    d: &Diagnosis,
    config: &RepoConfig,
    failed: &[&str],
) -> PlanDecision {
    let failed: Vec<String> = failed.iter().map(|f| f.to_string()).collect();
    let head = sha(HEAD);
    let req = PlanRequest {
        service: SERVICE,
        diagnosis: d,
        config,
        head: &head,
        failing: &head,
        failed: &failed,
        ecs: Some(("payments-staging", SERVICE)),
        model: None,
    };
    choose(w, &req)
        .await
        .expect("the in-memory workspace always answers")
}

pub fn plan(decision: PlanDecision) -> FixPlan {
    match decision {
        PlanDecision::Plan(p) => p,
        PlanDecision::NoFix { why } => panic!("expected a plan, got no fix: {why}"),
    }
}

pub fn no_fix(decision: PlanDecision) -> String {
    match decision {
        PlanDecision::NoFix { why } => why,
        PlanDecision::Plan(p) => panic!("expected no fix, got {p:#?}"),
    }
}

/// The files a plan commits.
pub fn edits(plan: &FixPlan) -> &[FileEdit] {
    match &plan.change {
        Change::Files { edits } => edits,
        Change::Ecs(c) => panic!("expected a commit, got an ECS change of {}", c.service),
    }
}

/// The one file a plan commits, with its new text.
pub fn only_file(plan: &FixPlan) -> (&str, &str) {
    match edits(plan) {
        [edit] => (
            edit.path.as_str(),
            edit.content
                .as_deref()
                .expect("the file is written, not deleted"),
        ),
        other => panic!("expected one file, got {other:#?}"),
    }
}

/// The lines that differ between two texts of the same length in lines, as (old, new).
pub fn changed_lines<'a>(old: &'a str, new: &'a str) -> Vec<(&'a str, &'a str)> {
    assert_eq!(
        old.lines().count(),
        new.lines().count(),
        "the edit added or removed lines:\n{new}"
    );
    old.lines()
        .zip(new.lines())
        .filter(|(a, b)| a != b)
        .collect()
}
