//! What a deployment of a task definition (and the code beside it) does to the service: a pure
//! function of what was deployed against what the service needs. Nothing here knows whether
//! anything was pushed, who pushed it, or what the loop hoped for.

use serde_json::Value;

/// A line of code that crashes start-up while it is in the file.
#[derive(Debug, Clone)]
pub struct Bug {
    pub path: String,
    pub line: String,
}

/// What the service needs to start and stay up.
#[derive(Debug, Clone)]
pub struct ServiceNeeds {
    pub cluster: String,
    pub service: String,
    pub log_group: String,
    /// The task definition file in the repository (the `task_definition:` of fixpoint.yml).
    pub task_definition_path: String,
    /// The container's memory must be at least this (MiB), or the kernel kills it.
    pub memory_mib: u32,
    /// Every one of these must be set (environment or secrets), or start-up exits 1.
    pub variables: Vec<String>,
    /// The secrets (`valueFrom` ARNs) that exist in Secrets Manager, when the test says:
    /// a task whose task definition references another one fails to start.
    pub secrets_in_store: Option<Vec<String>>,
    pub bug: Option<Bug>,
    /// The only image the registry has: any other fails to pull.
    pub image: String,
    /// Seconds the service takes to start: a health check `startPeriod` (or the service's
    /// grace period) shorter than this fails the health checks.
    pub startup_s: u32,
    /// Tasks the service wants.
    pub desired: u32,
    /// Why its readiness check fails whatever is deployed, when something outside the
    /// service decides it (a queue's backlog another team's consumer should drain).
    pub not_ready: Option<String>,
}

impl ServiceNeeds {
    /// A service with modest needs: 256 MiB, no variables, no bug, starts at once, two tasks,
    /// logs in `/ecs/<service>`, task definition at `task-definition.json`.
    pub fn new(cluster: &str, service: &str) -> Self {
        ServiceNeeds {
            cluster: cluster.into(),
            service: service.into(),
            log_group: format!("/ecs/{service}"),
            task_definition_path: "task-definition.json".into(),
            memory_mib: 256,
            variables: Vec::new(),
            secrets_in_store: None,
            bug: None,
            image: format!(
                "{}.dkr.ecr.{}.amazonaws.com/{service}:sha-4b1d2c3",
                super::ACCOUNT,
                super::REGION
            ),
            startup_s: 0,
            desired: 2,
            not_ready: None,
        }
    }

    pub fn memory(mut self, mib: u32) -> Self {
        self.memory_mib = mib;
        self
    }

    pub fn variables(mut self, names: &[&str]) -> Self {
        self.variables = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Only these secret ARNs exist; any other `valueFrom` cannot be fetched.
    pub fn secrets_in_store(mut self, arns: &[&str]) -> Self {
        self.secrets_in_store = Some(arns.iter().map(|a| a.to_string()).collect());
        self
    }

    pub fn bug(mut self, path: &str, line: &str) -> Self {
        self.bug = Some(Bug {
            path: path.into(),
            line: line.into(),
        });
        self
    }

    pub fn image(mut self, image: &str) -> Self {
        self.image = image.into();
        self
    }

    pub fn startup(mut self, seconds: u32) -> Self {
        self.startup_s = seconds;
        self
    }

    pub fn desired(mut self, tasks: u32) -> Self {
        self.desired = tasks;
        self
    }

    /// Its readiness check says `reason` ("payments-jobs backlog …") for every deploy from
    /// now on: the cause is outside what the service's repository deploys.
    pub fn not_ready_while(mut self, reason: &str) -> Self {
        self.not_ready = Some(reason.into());
        self
    }

    pub fn task_definition_at(mut self, path: &str) -> Self {
        self.task_definition_path = path.into();
        self
    }

    pub fn log_group(mut self, group: &str) -> Self {
        self.log_group = group.into();
        self
    }
}

/// Why the new tasks do not stay up, in the order a starting task meets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    ImagePull {
        image: String,
    },
    /// A `secrets` entry's `valueFrom` names a secret that does not exist.
    SecretFetch {
        value_from: String,
    },
    MissingVariable {
        name: String,
    },
    /// The bug line is at `line_no` (1-based) of `path`.
    Crash {
        path: String,
        line_no: usize,
    },
    OutOfMemory {
        given_mib: u32,
        needed_mib: u32,
    },
    HealthChecks {
        grace_s: u32,
        startup_s: u32,
    },
    /// The service starts, but its readiness check reports something outside it.
    NotReady {
        reason: String,
    },
}

/// What a deployment comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Fails(Failure),
}

/// The parts of a task definition (the repo's file, or ECS's description) that decide the
/// outcome, read from its essential container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub family: String,
    /// The essential container's name: its log streams are `ecs/<container>/<task id>`.
    pub container: String,
    pub image: String,
    /// The container's hard limit when it has one, else the task's memory.
    pub memory_mib: Option<u32>,
    pub variables: Vec<String>,
    /// Each `secrets` entry's `valueFrom` (a reference, never a value).
    pub secret_refs: Vec<String>,
    pub start_period_s: u32,
}

impl Deployed {
    /// Reads a task definition in the RegisterTaskDefinition / DescribeTaskDefinition shape.
    pub fn read(td: &Value) -> Result<Deployed, String> {
        let containers = td["containerDefinitions"].as_array().ok_or(
            "the task definition has no `containerDefinitions` array: add the service's container",
        )?;
        let container = containers
            .iter()
            .find(|c| c["essential"].as_bool().unwrap_or(true))
            .ok_or("the task definition has no essential container")?;
        let image = container["image"]
            .as_str()
            .ok_or("the essential container has no `image`")?
            .to_string();
        let task_memory = mib(&td["memory"])?;
        let container_memory = mib(&container["memory"])?;
        let memory_mib = match (task_memory, container_memory) {
            (Some(t), Some(c)) => Some(t.min(c)),
            (t, c) => t.or(c),
        };
        let names = |key: &str| -> Vec<String> {
            container[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v["name"].as_str().map(str::to_string))
                .collect()
        };
        let mut variables = names("environment");
        variables.extend(names("secrets"));
        let secret_refs = container["secrets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["valueFrom"].as_str().map(str::to_string))
            .collect();
        let start_period_s = container["healthCheck"]["startPeriod"]
            .as_u64()
            .unwrap_or(0)
            .try_into()
            .map_err(|_| "healthCheck.startPeriod is out of range (0-300 s)")?;
        Ok(Deployed {
            family: td["family"]
                .as_str()
                .ok_or("the task definition has no `family`")?
                .to_string(),
            container: container["name"].as_str().unwrap_or("app").to_string(),
            image,
            memory_mib,
            variables,
            secret_refs,
            start_period_s,
        })
    }
}

/// Memory as ECS accepts it: a number of MiB, a string of one, or `"2 GB"`.
fn mib(value: &Value) -> Result<Option<u32>, String> {
    let bad = || format!("memory {value} is neither MiB (\"1024\") nor GB (\"1 GB\")");
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(bad),
        Value::String(s) => {
            let s = s.trim();
            if let Some(gb) = s.strip_suffix("GB").or_else(|| s.strip_suffix("gb")) {
                let gb: f64 = gb.trim().parse().map_err(|_| bad())?;
                Ok(Some((gb * 1024.0) as u32))
            } else {
                s.parse().map(Some).map_err(|_| bad())
            }
        }
        _ => Err(bad()),
    }
}

/// The outcome of running `deployed` with `code` (the bug file's content, when the service
/// has a bug) under the service's grace period.
pub fn judge(
    needs: &ServiceNeeds,
    deployed: &Deployed,
    code: Option<&str>,
    service_grace_s: u32,
) -> Verdict {
    if deployed.image != needs.image {
        return Verdict::Fails(Failure::ImagePull {
            image: deployed.image.clone(),
        });
    }
    if let Some(store) = &needs.secrets_in_store
        && let Some(missing) = deployed.secret_refs.iter().find(|r| !store.contains(r))
    {
        return Verdict::Fails(Failure::SecretFetch {
            value_from: missing.clone(),
        });
    }
    if let Some(name) = needs
        .variables
        .iter()
        .find(|v| !deployed.variables.contains(v))
    {
        return Verdict::Fails(Failure::MissingVariable { name: name.clone() });
    }
    if let (Some(bug), Some(code)) = (&needs.bug, code)
        && let Some(at) = code.lines().position(|l| l.contains(bug.line.trim()))
    {
        return Verdict::Fails(Failure::Crash {
            path: bug.path.clone(),
            line_no: at + 1,
        });
    }
    let given = deployed.memory_mib.unwrap_or(0);
    if given < needs.memory_mib {
        return Verdict::Fails(Failure::OutOfMemory {
            given_mib: given,
            needed_mib: needs.memory_mib,
        });
    }
    let grace_s = deployed.start_period_s.max(service_grace_s);
    if grace_s < needs.startup_s {
        return Verdict::Fails(Failure::HealthChecks {
            grace_s,
            startup_s: needs.startup_s,
        });
    }
    if let Some(reason) = &needs.not_ready {
        return Verdict::Fails(Failure::NotReady {
            reason: reason.clone(),
        });
    }
    Verdict::Healthy
}
