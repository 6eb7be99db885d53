//! What a fix plan reads, over GitHub (files at a commit, the compare API, the deploy
//! workflow's last good run) and the lower environment's ECS service (the task definition it
//! ran before the failing deploy). Also the task definition's JSON shape, both ways, for the
//! fields a fix may read or change.

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, HealthCheck, KeyValuePair, NetworkMode, PortMapping,
    Secret, TaskDefinition, TransportProtocol,
};
use serde_json::{Map, Value, json};

use super::Env;
use super::lower_env::LowerEnvService;
use super::plans::Workspace;
use super::state::LoopState;
use crate::domain::CommitSha;
use crate::github::RepoClient;
use crate::github::contents::ChangedFile;

pub(super) struct GitHubWorkspace {
    client: RepoClient,
    workflows: Vec<String>,
    branch: String,
    ecs: Option<LowerEnvService>,
}

impl GitHubWorkspace {
    pub fn new(env: &Env<'_>, state: &LoopState, ecs: Option<LowerEnvService>) -> Self {
        Self::over(
            env.client.clone(),
            &state.config.deploy_workflows,
            &state.run.branch,
            ecs,
        )
    }

    /// Over any client: the dry run builds one outside a running loop, with a read-only
    /// client.
    pub fn over(
        client: RepoClient,
        deploy_workflows: &[String],
        branch: &str,
        ecs: Option<LowerEnvService>,
    ) -> Self {
        Self {
            client,
            workflows: deploy_workflows.to_vec(),
            branch: branch.to_string(),
            ecs,
        }
    }
}

impl Workspace for GitHubWorkspace {
    async fn read(&self, path: &str, at: &CommitSha) -> anyhow::Result<Option<String>> {
        Ok(self.client.read_file(path, &at.0).await?)
    }

    async fn changed_since(
        &self,
        base: &CommitSha,
        head: &CommitSha,
    ) -> anyhow::Result<Vec<ChangedFile>> {
        Ok(self.client.compare(base, head).await?)
    }

    async fn last_good_commit(&self) -> anyhow::Result<Option<CommitSha>> {
        for workflow in &self.workflows {
            // The runs API takes a workflow's file name; a name (`Deploy to staging`) is not
            // one, and GitHub answers 404 for it: try the next.
            let file = workflow.rsplit('/').next().unwrap_or(workflow);
            if !(file.ends_with(".yml") || file.ends_with(".yaml")) {
                continue;
            }
            if let Some(run) = self.client.last_successful_run(file, &self.branch).await? {
                return Ok(Some(run.head_sha));
            }
        }
        Ok(None)
    }

    async fn last_good_task_definition(&self) -> anyhow::Result<Option<Value>> {
        let Some(ecs) = &self.ecs else {
            return Ok(None);
        };
        let deployments = ecs.deployments().await?;
        let Some(primary) = deployments.first() else {
            return Ok(None);
        };
        // A deployment that completed on another revision ran before the failing one; else
        // the revision before the failing one.
        let good = deployments
            .iter()
            .find(|d| {
                d.task_definition != primary.task_definition
                    && d.rollout_state.as_deref() == Some("COMPLETED")
            })
            .map(|d| d.task_definition.clone())
            .or_else(|| previous_revision(&primary.task_definition));
        match good {
            Some(arn) => Ok(Some(ecs.task_definition(&arn).await?)),
            None => Ok(None),
        }
    }

    async fn current_task_definition(&self) -> anyhow::Result<Option<Value>> {
        let Some(ecs) = &self.ecs else {
            return Ok(None);
        };
        match ecs.deployments().await?.first() {
            Some(primary) => Ok(Some(ecs.task_definition(&primary.task_definition).await?)),
            None => Ok(None),
        }
    }
}

/// `arn:…:task-definition/family:43` → `arn:…:task-definition/family:42`.
fn previous_revision(arn: &str) -> Option<String> {
    let (family, revision) = arn.rsplit_once(':')?;
    let revision: u32 = revision.parse().ok()?;
    (revision > 1).then(|| format!("{family}:{}", revision - 1))
}

fn pairs(items: &[KeyValuePair]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|p| json!({"name": p.name(), "value": p.value()}))
            .collect(),
    )
}

/// A task definition as the API's JSON, with the fields a fix reads or changes.
pub(super) fn task_definition_json(td: &TaskDefinition) -> Value {
    let containers: Vec<Value> = td
        .container_definitions()
        .iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("name".into(), json!(c.name()));
            m.insert("image".into(), json!(c.image()));
            if c.cpu() != 0 {
                m.insert("cpu".into(), json!(c.cpu()));
            }
            if let Some(memory) = c.memory() {
                m.insert("memory".into(), json!(memory));
            }
            if let Some(r) = c.memory_reservation() {
                m.insert("memoryReservation".into(), json!(r));
            }
            if let Some(e) = c.essential() {
                m.insert("essential".into(), json!(e));
            }
            m.insert("environment".into(), pairs(c.environment()));
            m.insert(
                "secrets".into(),
                Value::Array(
                    c.secrets()
                        .iter()
                        .map(|s| json!({"name": s.name(), "valueFrom": s.value_from()}))
                        .collect(),
                ),
            );
            let ports: Vec<Value> = c
                .port_mappings()
                .iter()
                .map(|p| json!({"containerPort": p.container_port(), "protocol": p.protocol().map(|x| x.as_str())}))
                .collect();
            if !ports.is_empty() {
                m.insert("portMappings".into(), Value::Array(ports));
            }
            if let Some(h) = c.health_check() {
                m.insert(
                    "healthCheck".into(),
                    json!({"command": h.command(), "interval": h.interval(), "timeout": h.timeout(),
                           "retries": h.retries(), "startPeriod": h.start_period()}),
                );
            }
            Value::Object(m)
        })
        .collect();
    json!({
        "family": td.family(),
        "taskRoleArn": td.task_role_arn(),
        "executionRoleArn": td.execution_role_arn(),
        "networkMode": td.network_mode().map(|n| n.as_str()),
        "requiresCompatibilities": td.requires_compatibilities().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "cpu": td.cpu(),
        "memory": td.memory(),
        "containerDefinitions": containers,
    })
}

/// Keys of a task definition the ECS path carries over; anything else would be dropped on
/// the way to RegisterTaskDefinition, so such a definition is refused instead.
const TASK_KEYS: &[&str] = &[
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "containerDefinitions",
];
const CONTAINER_KEYS: &[&str] = &[
    "name",
    "image",
    "cpu",
    "memory",
    "memoryReservation",
    "essential",
    "environment",
    "secrets",
    "portMappings",
    "healthCheck",
];

fn unsupported(value: &Value, known: &[&str], at: &str) -> anyhow::Result<()> {
    if let Some(map) = value.as_object() {
        let extra: Vec<&String> = map
            .iter()
            .filter(|(k, v)| !known.contains(&k.as_str()) && !v.is_null())
            .map(|(k, _)| k)
            .collect();
        if !extra.is_empty() {
            anyhow::bail!(
                "the task definition's {at} has {extra:?}, which the ECS API path does not carry: keep the task definition in the repository instead"
            );
        }
    }
    Ok(())
}

fn text(v: &Value, key: &str) -> Option<String> {
    match &v[key] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value, key: &str) -> Option<i32> {
    match &v[key] {
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// RegisterTaskDefinition's input from the JSON a fix produced.
pub(super) fn register_input(
    td: &Value,
) -> anyhow::Result<
    aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionInputBuilder,
> {
    unsupported(td, TASK_KEYS, "top level")?;
    let family =
        text(td, "family").ok_or_else(|| anyhow::anyhow!("the task definition has no `family`"))?;
    let mut input =
        aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput::builder()
            .family(family)
            .set_task_role_arn(text(td, "taskRoleArn"))
            .set_execution_role_arn(text(td, "executionRoleArn"))
            .set_network_mode(text(td, "networkMode").map(|n| NetworkMode::from(n.as_str())))
            .set_cpu(text(td, "cpu"))
            .set_memory(text(td, "memory"));
    for c in td["requiresCompatibilities"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(c) = c.as_str() {
            input = input.requires_compatibilities(Compatibility::from(c));
        }
    }
    for c in td["containerDefinitions"].as_array().into_iter().flatten() {
        unsupported(c, CONTAINER_KEYS, "container")?;
        input = input.container_definitions(container(c)?);
    }
    Ok(input)
}

fn container(c: &Value) -> anyhow::Result<ContainerDefinition> {
    let mut b = ContainerDefinition::builder()
        .set_name(text(c, "name"))
        .set_image(text(c, "image"))
        .set_cpu(int(c, "cpu"))
        .set_memory(int(c, "memory"))
        .set_memory_reservation(int(c, "memoryReservation"))
        .set_essential(c["essential"].as_bool());
    for e in c["environment"].as_array().into_iter().flatten() {
        b = b.environment(
            KeyValuePair::builder()
                .set_name(text(e, "name"))
                .set_value(text(e, "value"))
                .build(),
        );
    }
    for s in c["secrets"].as_array().into_iter().flatten() {
        b = b.secrets(
            Secret::builder()
                .set_name(text(s, "name"))
                .set_value_from(text(s, "valueFrom"))
                .build()?,
        );
    }
    for p in c["portMappings"].as_array().into_iter().flatten() {
        b = b.port_mappings(
            PortMapping::builder()
                .set_container_port(int(p, "containerPort"))
                .set_protocol(text(p, "protocol").map(|x| TransportProtocol::from(x.as_str())))
                .build(),
        );
    }
    let h = &c["healthCheck"];
    if h.is_object() {
        let command: Vec<String> = h["command"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
        b = b.health_check(
            HealthCheck::builder()
                .set_command(Some(command))
                .set_interval(int(h, "interval"))
                .set_timeout(int(h, "timeout"))
                .set_retries(int(h, "retries"))
                .set_start_period(int(h, "startPeriod"))
                .build()?,
        );
    }
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revision_before_the_failing_one_is_named_from_its_arn() {
        assert_eq!(
            previous_revision("arn:aws:ecs:eu-west-1:1:task-definition/payments-api:43").as_deref(),
            Some("arn:aws:ecs:eu-west-1:1:task-definition/payments-api:42")
        );
        assert_eq!(previous_revision("payments-api:1"), None);
    }

    #[test]
    fn a_definition_with_fields_the_ecs_path_cannot_carry_is_refused_by_name() {
        let td =
            json!({"family": "api", "volumes": [{"name": "data"}], "containerDefinitions": []});
        let e = register_input(&td).unwrap_err().to_string();
        assert!(e.contains("volumes"), "{e}");
        let ok = json!({"family": "api", "cpu": "256", "memory": 1024,
            "containerDefinitions": [{"name": "web", "image": "x:1", "memory": 1024,
              "environment": [{"name": "A", "value": "1"}],
              "secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:::parameter/db"}]}]});
        let input = register_input(&ok).unwrap().build().unwrap();
        assert_eq!(input.memory(), Some("1024"));
        let c = &input.container_definitions()[0];
        assert_eq!(c.secrets()[0].value_from(), "arn:aws:ssm:::parameter/db");
        assert_eq!(c.environment()[0].value(), Some("1"));
    }
}
