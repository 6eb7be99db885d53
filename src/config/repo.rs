//! Per-repository configuration: `.github/fixpoint.yml`, read through the contents API
//! at the failing commit so a run is judged by the config it was built from.
//!
//! The documented example lives at `docs/fixpoint.example.yml`. Unknown keys are an
//! error that names the key and the nearest known one: a typo must not silently turn
//! Fixpoint off for a repository.

use serde::{Deserialize, Serialize};

use super::fixing::{self, Allowance, DeployConfig, TestConfig, VerifyConfig};

pub const PATH: &str = ".github/fixpoint.yml";

/// The keys `RepoConfig` accepts, for did-you-mean suggestions.
const KEYS: &[&str] = &[
    "deploy_workflows",
    "branches",
    "topology",
    "topology_depth",
    "max_iterations",
    "min_confidence",
    "task_definition",
    "max_memory_mib",
    "allow",
    "deploy",
    "verify",
    "test",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Workflows that deploy: names, file names (`deploy.yml`) or paths
    /// (`.github/workflows/deploy.yml`). Failures of other workflows are not incidents.
    pub deploy_workflows: Vec<String>,
    /// Branches whose failed deploys start an investigation. Empty means the default branch.
    #[serde(default)]
    pub branches: Vec<String>,
    /// The service's topology map, relative to the repository root.
    pub topology: String,
    /// How many hops of linked maps the sweep follows: a queue's consumer in another team's
    /// map, whose own map says what it drains, is two links and one edge away (3).
    #[serde(default = "default_depth")]
    pub topology_depth: u32,
    /// Iterations without progress before Fixpoint escalates to people.
    #[serde(default = "default_iterations")]
    pub max_iterations: u32,
    /// Under this confidence the loop changes nothing and stops with the diagnosis.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f64,
    /// The ECS task definition file the loop edits; unset, the usual places are looked at
    /// (`task-definition.json`, `.aws/task-definition.json`, …).
    #[serde(default)]
    pub task_definition: Option<String>,
    /// The most memory (MiB) a fix may give a task.
    #[serde(default = "default_max_memory")]
    pub max_memory_mib: u32,
    /// Changes beyond the repository's files that the loop may make (`ecs_api`).
    #[serde(default)]
    pub allow: Vec<Allowance>,
    #[serde(default)]
    pub deploy: DeployConfig,
    #[serde(default)]
    pub verify: VerifyConfig,
    #[serde(default)]
    pub test: TestConfig,
}

fn default_iterations() -> u32 {
    5
}

fn default_depth() -> u32 {
    crate::topology::DEFAULT_DEPTH
}

/// The deepest sweep a repository may ask for; `MAX_CHECKS` bounds its size too.
const MAX_DEPTH: u32 = 6;

fn default_min_confidence() -> f64 {
    0.6
}

fn default_max_memory() -> u32 {
    8192
}

/// `fixpoint.yml` is a few lines; anything near this is not a config.
pub const MAX_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RepoConfigError {
    #[error("{PATH}: unknown key `{key}`{hint}; known keys are {known}")]
    UnknownKey {
        key: String,
        hint: String,
        known: String,
    },
    #[error("{PATH}: {0}")]
    Invalid(String),
}

impl RepoConfig {
    pub fn parse(text: &str) -> Result<Self, RepoConfigError> {
        // Refused unparsed: YAML parse time grows with the square of the nesting depth.
        if let Some(problem) = crate::topology::limits::refuse(text, MAX_BYTES) {
            return Err(RepoConfigError::Invalid(format!(
                "{problem}; a config is a few lines of keys"
            )));
        }
        // Look at the keys first so a typo gets a did-you-mean instead of serde's list.
        let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| RepoConfigError::Invalid(format!("not valid YAML: {e}")))?;
        let map = raw.as_mapping().ok_or_else(|| {
            RepoConfigError::Invalid(
                "the file must be a mapping of keys such as `deploy_workflows:` and `topology:`"
                    .into(),
            )
        })?;
        for key in map.keys() {
            let key = key.as_str().unwrap_or("<non-string key>");
            if !KEYS.contains(&key) {
                return Err(RepoConfigError::UnknownKey {
                    key: key.to_string(),
                    hint: did_you_mean(key, KEYS)
                        .map(|k| format!(" (did you mean `{k}`?)"))
                        .unwrap_or_default(),
                    known: KEYS.join(", "),
                });
            }
        }
        let config: RepoConfig =
            serde_yaml_ng::from_value(raw).map_err(|e| RepoConfigError::Invalid(e.to_string()))?;
        if config.deploy_workflows.is_empty() {
            return Err(RepoConfigError::Invalid(
                "`deploy_workflows` is empty: list the workflows that deploy, e.g. [deploy.yml]"
                    .into(),
            ));
        }
        if config.max_iterations == 0 || config.max_iterations > 50 {
            return Err(RepoConfigError::Invalid(format!(
                "`max_iterations: {}` is out of range: use 1 to 50",
                config.max_iterations
            )));
        }
        if config.topology_depth == 0 || config.topology_depth > MAX_DEPTH {
            return Err(RepoConfigError::Invalid(format!(
                "`topology_depth: {}` is out of range: use 1 to {MAX_DEPTH} (hops of linked maps the sweep follows)",
                config.topology_depth
            )));
        }
        fixing::validate(
            config.min_confidence,
            config.max_memory_mib,
            &config.deploy,
            &config.verify,
            &config.test,
        )
        .map_err(RepoConfigError::Invalid)?;
        Ok(config)
    }

    /// The workflows that must succeed on the fix commit before the rollout is watched.
    pub fn fix_workflows(&self) -> &[String] {
        if self.deploy.workflows.is_empty() {
            &self.deploy_workflows
        } else {
            &self.deploy.workflows
        }
    }

    pub fn allows(&self, what: Allowance) -> bool {
        self.allow.contains(&what)
    }

    /// Whether a run of `workflow` (its name and file path) is a deploy this config covers.
    pub fn is_deploy(&self, name: &str, path: Option<&str>) -> bool {
        self.deploy_workflows.iter().any(|w| {
            w == name
                || path.is_some_and(|p| {
                    p == w
                        || p.rsplit('/').next() == Some(w.as_str())
                        || p.ends_with(&format!("/{w}"))
                })
        })
    }

    pub fn covers_branch(&self, branch: &str, default_branch: Option<&str>) -> bool {
        if self.branches.is_empty() {
            return default_branch.is_none_or(|d| d == branch);
        }
        self.branches.iter().any(|b| b == branch)
    }

    /// Why a failed run of `workflow` (name and file path) on `branch` is not one this config
    /// covers, if it is not: the investigation and the dry run refuse it in the same words.
    pub fn not_covered(
        &self,
        workflow: &str,
        path: Option<&str>,
        branch: &str,
        default_branch: Option<&str>,
    ) -> Option<String> {
        if !self.is_deploy(workflow, path) {
            return Some(format!(
                "workflow `{workflow}` is not a deploy per {PATH} (deploy_workflows: {})",
                self.deploy_workflows.join(", ")
            ));
        }
        if !self.covers_branch(branch, default_branch) {
            return Some(format!(
                "branch `{branch}` is not covered by {PATH} `branches`"
            ));
        }
        None
    }
}

/// The closest candidate within a small edit distance, for error messages.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../docs/fixpoint.example.yml");
        let c = RepoConfig::parse(text).unwrap();
        assert!(c.is_deploy("Deploy to staging", Some(".github/workflows/deploy.yml")));
        assert!(c.is_deploy("anything", Some(".github/workflows/deploy.yml")));
        assert!(!c.is_deploy("CI", Some(".github/workflows/ci.yml")));
    }

    #[test]
    fn a_typo_names_the_key_and_the_fix() {
        let e = RepoConfig::parse("deploy_workflow: [deploy.yml]\ntopology: t.yaml\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("unknown key `deploy_workflow`"), "{msg}");
        assert!(msg.contains("did you mean `deploy_workflows`?"), "{msg}");
    }

    #[test]
    fn topology_depth_defaults_to_two_hops_and_is_bounded() {
        let base = "deploy_workflows: [d.yml]\ntopology: t.yaml\n";
        assert_eq!(RepoConfig::parse(base).unwrap().topology_depth, 2);
        let deep = RepoConfig::parse(&format!("{base}topology_depth: 3\n")).unwrap();
        assert_eq!(deep.topology_depth, 3);
        let msg = RepoConfig::parse(&format!("{base}topology_depth: 40\n"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("`topology_depth: 40` is out of range: use 1 to 6"),
            "{msg}"
        );
    }

    #[test]
    fn branches_default_to_the_default_branch() {
        let c = RepoConfig::parse("deploy_workflows: [d.yml]\ntopology: t.yaml\n").unwrap();
        assert!(c.covers_branch("main", Some("main")));
        assert!(!c.covers_branch("feature/x", Some("main")));
    }
}
