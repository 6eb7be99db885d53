//! The service's ECS task definition, as the infra fixes edit it: found in the repository
//! (`task_definition:` in the config, else the usual places), parsed as the JSON that
//! `aws ecs register-task-definition --cli-input-json` and amazon-ecs-deploy-task-definition
//! take, edited in place and written back with its key order, indentation and trailing
//! newline; or taken from the lower environment (DescribeTaskDefinition) when the
//! repository has no file and `allow: [ecs_api]` lets Fixpoint register a revision itself.

use super::json::{Json, indentation};
use super::{Change, EcsChange, FileEdit, Workspace};
use crate::domain::CommitSha;

/// Where task definition files usually live, in the order they are looked for.
pub const USUAL_PATHS: &[&str] = &[
    "task-definition.json",
    ".aws/task-definition.json",
    "ecs/task-definition.json",
    "deploy/task-definition.json",
    "taskdef.json",
];

/// Fields DescribeTaskDefinition returns that RegisterTaskDefinition refuses.
const READ_ONLY: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

/// Where an edited task definition goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A file in the repository, written back in its own layout.
    File {
        path: String,
        indent: String,
        trailing_newline: bool,
        /// Lines end in `\r\n` (a file written on Windows): written back the same way.
        crlf: bool,
    },
    /// Registered through the ECS API in the lower environment.
    Ecs { cluster: String, service: String },
}

/// A task definition being edited.
#[derive(Debug, Clone)]
pub struct TaskDef {
    pub doc: Json,
    pub origin: Origin,
}

/// What looking for the file found.
pub enum Located {
    Found(TaskDef),
    /// No file at the configured path nor at any usual place.
    Absent,
    /// A file is there but cannot be edited safely: why, naming the file and the fix.
    Invalid(String),
}

/// The task definition file at `at`: the configured path, else the first usual place.
pub async fn locate<W: Workspace>(
    w: &W,
    configured: Option<&str>,
    at: &CommitSha,
) -> anyhow::Result<Located> {
    let paths: Vec<&str> = match configured {
        Some(path) => vec![path],
        None => USUAL_PATHS.to_vec(),
    };
    if let Some(path) = configured
        && let Err(e) = crate::github::guard::check_writable_path("edit the task definition", path)
    {
        return Ok(Located::Invalid(format!(
            "`task_definition: {path}` in .github/fixpoint.yml names a file Fixpoint may not write ({e}); point it at the task definition file"
        )));
    }
    for path in paths {
        let Some(text) = w.read(path, at).await? else {
            continue;
        };
        return Ok(match TaskDef::from_file(path, &text) {
            Ok(td) => Located::Found(td),
            Err(why) => Located::Invalid(why),
        });
    }
    Ok(match configured {
        Some(path) => Located::Invalid(format!(
            "`task_definition: {path}` in .github/fixpoint.yml names a file that does not exist at {}; fix the path",
            super::short_sha(at)
        )),
        None => Located::Absent,
    })
}

impl TaskDef {
    pub fn from_file(path: &str, text: &str) -> Result<TaskDef, String> {
        let doc = Json::parse(text).map_err(|e| {
            format!("{path} is not valid JSON ({e}); fix the file so `aws ecs register-task-definition --cli-input-json` accepts it")
        })?;
        if doc
            .get("containerDefinitions")
            .and_then(Json::as_array)
            .is_none()
        {
            return Err(format!(
                "{path} has no `containerDefinitions` list: it is not a task definition (register-task-definition's JSON)"
            ));
        }
        Ok(TaskDef {
            doc,
            origin: Origin::File {
                path: path.to_string(),
                indent: indentation(text).to_string(),
                trailing_newline: text.ends_with('\n'),
                crlf: text.contains("\r\n"),
            },
        })
    }

    /// A task definition as DescribeTaskDefinition returns it (the `taskDefinition` object,
    /// or the whole answer around it), to register again through the API.
    pub fn from_api(value: &serde_json::Value, cluster: &str, service: &str) -> Option<TaskDef> {
        let inner = value.get("taskDefinition").unwrap_or(value);
        inner.get("containerDefinitions")?.as_array()?;
        let mut doc = Json::from_value(inner);
        for key in READ_ONLY {
            doc.remove(key);
        }
        Some(TaskDef {
            doc,
            origin: Origin::Ecs {
                cluster: cluster.to_string(),
                service: service.to_string(),
            },
        })
    }

    /// The file's path, or "the lower environment's task definition".
    pub fn place(&self) -> String {
        match &self.origin {
            Origin::File { path, .. } => path.clone(),
            Origin::Ecs { service, .. } => format!("{service}'s task definition (ECS API)"),
        }
    }

    /// Runs on Fargate: task-level cpu and memory must be one of Fargate's pairs.
    pub fn fargate(&self) -> bool {
        self.doc
            .get("requiresCompatibilities")
            .and_then(Json::as_array)
            .is_some_and(|c| c.iter().any(|x| x.as_str() == Some("FARGATE")))
    }

    pub fn task_number(&self, key: &str) -> Option<u64> {
        self.doc.get(key).and_then(Json::as_u64_lenient)
    }

    /// Sets a task-level number, written as the file writes it (string or number; the API's
    /// own shape is a string).
    pub fn set_task_number(&mut self, key: &str, value: u64) {
        let json = match self.doc.get(key) {
            Some(old) => old.same_kind_number(value),
            None => Json::String(value.to_string()),
        };
        self.doc.set(key, json);
    }

    fn containers(&self) -> &[Json] {
        self.doc
            .get("containerDefinitions")
            .and_then(Json::as_array)
            .unwrap_or(&[])
    }

    /// The service's container: the one named like the service, else the only one, else
    /// the only essential one (`essential` is true unless it says false).
    pub fn container_index(&self, service: &str) -> Option<usize> {
        let containers = self.containers();
        fn name(c: &Json) -> &str {
            c.get("name").and_then(Json::as_str).unwrap_or("")
        }
        let lower = service.to_ascii_lowercase();
        if let Some(i) = containers
            .iter()
            .position(|c| name(c).eq_ignore_ascii_case(service))
        {
            return Some(i);
        }
        let like: Vec<usize> = (0..containers.len())
            .filter(|&i| {
                let n = name(&containers[i]).to_ascii_lowercase();
                !n.is_empty() && (n.contains(&lower) || lower.contains(&n))
            })
            .collect();
        if let [only] = like[..] {
            return Some(only);
        }
        if containers.len() == 1 {
            return Some(0);
        }
        let essential: Vec<usize> = (0..containers.len())
            .filter(|&i| !matches!(containers[i].get("essential"), Some(Json::Bool(false))))
            .collect();
        match essential[..] {
            [only] => Some(only),
            _ => None,
        }
    }

    pub fn container(&self, index: usize) -> Option<&Json> {
        self.containers().get(index)
    }

    pub fn container_mut(&mut self, index: usize) -> Option<&mut Json> {
        self.doc
            .get_mut("containerDefinitions")
            .and_then(Json::as_array_mut)
            .and_then(|c| c.get_mut(index))
    }

    /// The container's name, for summaries.
    pub fn container_name(&self, index: usize) -> String {
        self.container(index)
            .and_then(|c| c.get("name"))
            .and_then(Json::as_str)
            .unwrap_or("the container")
            .to_string()
    }

    /// Why no container could be chosen, naming them.
    pub fn which_container_problem(&self, service: &str) -> String {
        let names: Vec<&str> = self
            .containers()
            .iter()
            .filter_map(|c| c.get("name").and_then(Json::as_str))
            .collect();
        format!(
            "{} has {} containers ({}) and none is named like {service} or is the only essential one; name the service's container `{service}`",
            self.place(),
            names.len(),
            names.join(", ")
        )
    }

    /// The edited task definition as the change the loop carries out.
    pub fn into_change(self) -> Change {
        match self.origin {
            Origin::File {
                path,
                indent,
                trailing_newline,
                crlf,
            } => {
                let mut content = self.doc.render(&indent);
                if trailing_newline {
                    content.push('\n');
                }
                if crlf {
                    content = content.replace('\n', "\r\n");
                }
                Change::Files {
                    edits: vec![FileEdit {
                        path,
                        content: Some(content),
                    }],
                }
            }
            Origin::Ecs { cluster, service } => Change::Ecs(EcsChange {
                cluster,
                service,
                task_definition: self.doc.to_value(),
            }),
        }
    }
}

/// A `{name, value}` or `{name, valueFrom}` entry of a container's `environment` or
/// `secrets` list, by name.
pub fn named_entry<'a>(container: &'a Json, list: &str, name: &str) -> Option<&'a Json> {
    container
        .get(list)?
        .as_array()?
        .iter()
        .find(|e| e.get("name").and_then(Json::as_str) == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"{
  "family": "payments-api",
  "containerDefinitions": [
    {"name": "log-router", "image": "fluent-bit", "essential": false},
    {"name": "app", "image": "repo/payments:1"}
  ]
}
"#;

    #[test]
    fn the_only_essential_container_is_the_services() {
        let td = TaskDef::from_file("task-definition.json", TWO).unwrap();
        assert_eq!(td.container_index("payments-api"), Some(1));
        let named = TWO
            .replace("\"app\"", "\"payments-api\"")
            .replace("\"essential\": false", "\"essential\": true");
        let td = TaskDef::from_file("task-definition.json", &named).unwrap();
        assert_eq!(td.container_index("payments-api"), Some(1));
        let both = TWO.replace("\"essential\": false", "\"essential\": true");
        let td = TaskDef::from_file("task-definition.json", &both).unwrap();
        assert_eq!(td.container_index("payments-api"), None);
        assert!(
            td.which_container_problem("payments-api")
                .contains("log-router, app")
        );
    }

    #[test]
    fn the_api_shape_loses_its_read_only_fields() {
        let api = serde_json::json!({"taskDefinition": {
            "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7",
            "family": "web", "revision": 7, "status": "ACTIVE",
            "containerDefinitions": [{"name": "web"}],
            "compatibilities": ["EC2", "FARGATE"], "registeredAt": "2026-01-01T00:00:00Z"
        }});
        let td = TaskDef::from_api(&api, "staging", "web").unwrap();
        let Change::Ecs(change) = td.into_change() else {
            panic!("an ECS change")
        };
        let keys: Vec<&String> = change.task_definition.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["containerDefinitions", "family"]);
    }
}
