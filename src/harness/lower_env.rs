//! The one door to the lower environment's ECS service. A `LowerEnvService` can only be
//! built for a cluster, service and environment none of whose names means production, so
//! no call below the planner can reach production whatever a plan or a model says. Reads
//! (the service's deployments, a task definition) and the two writes the loop may make
//! (register a task definition revision, point the service at it) live here and nowhere else.

use aws_sdk_ecs::types::Deployment;
use serde::{Deserialize, Serialize};

use crate::topology::{CheckTarget, TopologyGraph, is_production};

/// The service a loop deploys to, as the root map names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LowerEnvService {
    cluster: String,
    service: String,
    region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused: {what} `{name}` means production; Fixpoint acts only in the lower environment")]
pub struct LowerEnvRefused {
    pub what: &'static str,
    pub name: String,
}

/// A deployment of the service, as much as the loop judges by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentView {
    pub id: String,
    /// `PRIMARY`, `ACTIVE`, `INACTIVE`.
    pub status: String,
    pub task_definition: String,
    /// `IN_PROGRESS`, `COMPLETED`, `FAILED` (absent for services without the rollout state).
    pub rollout_state: Option<String>,
    pub rollout_reason: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub failed_tasks: i32,
}

impl LowerEnvService {
    /// The service `cluster`/`service` in `environment`; refused when any of the three
    /// names means production (the built-in names or the operator's `extra`).
    pub fn new(
        cluster: &str,
        service: &str,
        region: Option<&str>,
        environment: Option<&str>,
        extra: &[String],
    ) -> Result<Self, LowerEnvRefused> {
        for (what, name) in [
            ("environment", environment.unwrap_or_default()),
            ("cluster", cluster),
            ("service", service),
        ] {
            if production_in(name, extra) {
                return Err(LowerEnvRefused {
                    what,
                    name: name.to_string(),
                });
            }
        }
        Ok(Self {
            cluster: cluster.to_string(),
            service: service.to_string(),
            region: region.map(str::to_string),
        })
    }

    /// The root service's own ECS service in `graph`, if its map names one.
    pub fn of(graph: &TopologyGraph, extra: &[String]) -> Option<Result<Self, LowerEnvRefused>> {
        graph.checks.iter().find_map(|c| match &c.target {
            CheckTarget::Ecs {
                cluster,
                service,
                region,
            } if c.hop == 0 && c.direction.is_none() => Some(Self::new(
                cluster,
                service,
                region.as_deref(),
                graph.root.environment.as_deref(),
                extra,
            )),
            _ => None,
        })
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    async fn client(&self) -> aws_sdk_ecs::Client {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        aws_sdk_ecs::Client::new(&loader.load().await)
    }

    /// The service's deployments, PRIMARY first.
    pub async fn deployments(&self) -> anyhow::Result<Vec<DeploymentView>> {
        let out = self
            .client()
            .await
            .describe_services()
            .cluster(&self.cluster)
            .services(&self.service)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("DescribeServices {}: {}", self.service, error_line(&e))
            })?;
        let Some(service) = out.services().first() else {
            anyhow::bail!(
                "ECS service {} not found in cluster {}",
                self.service,
                self.cluster
            );
        };
        let mut views: Vec<DeploymentView> = service.deployments().iter().map(view).collect();
        views.sort_by_key(|d| d.status != "PRIMARY");
        Ok(views)
    }

    /// A task definition as DescribeTaskDefinition returns it, as JSON in the API's shape.
    pub async fn task_definition(&self, arn: &str) -> anyhow::Result<serde_json::Value> {
        let out = self
            .client()
            .await
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("DescribeTaskDefinition {arn}: {}", error_line(&e)))?;
        let td = out
            .task_definition()
            .ok_or_else(|| anyhow::anyhow!("DescribeTaskDefinition {arn} returned none"))?;
        Ok(super::workspace::task_definition_json(td))
    }

    /// Registers `definition` (RegisterTaskDefinition's input as JSON) and points the service
    /// at the new revision; returns its ARN.
    pub async fn deploy_task_definition(
        &self,
        definition: &serde_json::Value,
    ) -> anyhow::Result<String> {
        let client = self.client().await;
        let input = super::workspace::register_input(definition)?;
        let registered = input
            .send_with(&client)
            .await
            .map_err(|e| anyhow::anyhow!("RegisterTaskDefinition: {}", error_line(&e)))?;
        let arn = registered
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .ok_or_else(|| anyhow::anyhow!("RegisterTaskDefinition returned no ARN"))?
            .to_string();
        client
            .update_service()
            .cluster(&self.cluster)
            .service(&self.service)
            .task_definition(&arn)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("UpdateService {}: {}", self.service, error_line(&e)))?;
        Ok(arn)
    }
}

/// A name means production when one of its `-`/`_`/`.`-separated words does (`prod-eu`,
/// `payments-production`), not when it merely contains the letters (`preprod`, `product`).
fn production_in(name: &str, extra: &[String]) -> bool {
    !name.is_empty()
        && (is_production(name, extra)
            || name
                .split(['-', '_', '.', '/'])
                .any(|word| !word.is_empty() && is_production(word, extra)))
}

fn view(d: &Deployment) -> DeploymentView {
    DeploymentView {
        id: d.id().unwrap_or_default().to_string(),
        status: d.status().unwrap_or_default().to_string(),
        task_definition: d.task_definition().unwrap_or_default().to_string(),
        rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
        rollout_reason: d.rollout_state_reason().map(str::to_string),
        desired: d.desired_count(),
        running: d.running_count(),
        failed_tasks: d.failed_tasks(),
    }
}

fn error_line<E: std::fmt::Debug + aws_sdk_ecs::error::ProvideErrorMetadata>(
    e: &aws_sdk_ecs::error::SdkError<E>,
) -> String {
    match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or_default()
        ),
        None => format!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_production_cluster_service_or_environment_is_refused_below_the_planner() {
        let ok = LowerEnvService::new("staging", "payments-api", None, Some("staging"), &[]);
        assert!(ok.is_ok());
        for (cluster, service, env, what) in [
            ("prod-eu", "payments-api", "staging", "cluster"),
            ("staging", "payments-api-production", "staging", "service"),
            ("staging", "payments-api", "live", "environment"),
            ("main_prod", "payments-api", "staging", "cluster"),
        ] {
            let e = LowerEnvService::new(cluster, service, None, Some(env), &[]).unwrap_err();
            assert_eq!(e.what, what, "{cluster}/{service}/{env}");
            assert!(e.to_string().contains("lower environment"), "{e}");
        }
        let extra = vec!["blue".to_string()];
        assert!(LowerEnvService::new("blue", "api", None, None, &extra).is_err());
        assert!(LowerEnvService::new("preprod", "product-api", None, None, &[]).is_ok());
    }
}
