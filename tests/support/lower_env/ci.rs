//! The deploy workflow the world's repository runs on every push: build, test, render the task
//! definition, deploy. Green unless a step has a reason to fail: the tree carries a marker a
//! test planted (a compile error, a failing test), or the task definition file cannot be
//! rendered. A green run deploys its tree (see `LowerEnv::follow`).

use crate::support::fake_github::{Job, PushedTree, Step, WorkflowRun};

use super::outcome::{Deployed, ServiceNeeds};

/// The workflow's name, as `deploy.workflows` in fixpoint.yml names it.
pub const WORKFLOW: &str = "Deploy to staging";

pub const CHECKOUT: &str = "Run actions/checkout@v4";
pub const BUILD: &str = "Build";
pub const TEST: &str = "Run tests";
pub const RENDER: &str = "Render Amazon ECS task definition";
pub const DEPLOY: &str = "Deploy to Amazon ECS";

const STEPS: [&str; 5] = [CHECKOUT, BUILD, TEST, RENDER, DEPLOY];

/// A step that fails while any file of the pushed tree contains `marker`.
#[derive(Debug, Clone)]
pub struct CiFailure {
    pub marker: String,
    pub step: &'static str,
    pub excerpt: String,
}

/// The run CI makes of `tree`.
pub fn run(tree: &PushedTree, needs: &ServiceNeeds, failures: &[CiFailure]) -> WorkflowRun {
    let planted = failures.iter().find(|f| {
        tree.files
            .values()
            .any(|bytes| String::from_utf8_lossy(bytes).contains(&f.marker))
    });
    let failed = match planted {
        Some(f) => Some((f.step, f.excerpt.clone())),
        None => render(tree, needs).err().map(|why| (RENDER, why)),
    };
    let mut job = Job::new(1, "deploy");
    let mut after_failure = false;
    for name in STEPS {
        let step = match &failed {
            _ if after_failure => Step::skipped(name),
            Some((at, log)) if *at == name => {
                after_failure = true;
                Step::failed(name).log(log)
            }
            _ => Step::succeeded(name),
        };
        job = job.step(step);
    }
    let conclusion = if failed.is_some() {
        "failure"
    } else {
        "success"
    };
    WorkflowRun::new(1, WORKFLOW)
        .conclusion(conclusion)
        .job(job.conclusion(conclusion))
}

/// What the render step does: the task definition file must exist and read as one.
pub fn render(tree: &PushedTree, needs: &ServiceNeeds) -> Result<serde_json::Value, String> {
    let path = &needs.task_definition_path;
    let text = tree.text(path).ok_or_else(|| {
        format!("Error: Task definition file {path} does not exist in the repository")
    })?;
    let file: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("Error: {path} is not valid JSON: {e}"))?;
    Deployed::read(&file).map_err(|e| format!("Error: {path}: {e}"))?;
    Ok(file)
}
