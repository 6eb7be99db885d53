//! The world's own calls to moto, straight at it (never through the stub, so they are not
//! mistaken for the App's): task definitions and log lines. Blocking HTTP, so the stub's
//! responders (which are not async) can make them too.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::rollout::LogLine;
use crate::support::moto::{REGION, http};

/// Fields DescribeTaskDefinition adds that RegisterTaskDefinition refuses: a file exported
/// with `aws ecs describe-task-definition` carries them, and the deploy action drops them.
const READ_ONLY: [&str; 9] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "tags",
];

/// One AWS JSON 1.1 call; an error names the operation and what moto said.
fn call(endpoint: &str, service: &str, target: &str, body: &Value) -> Result<Value, String> {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    let (status, text) = http(
        endpoint,
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", target),
            ("Authorization", &auth),
        ],
        &body.to_string(),
    );
    if !(200..300).contains(&status) {
        return Err(format!("moto {target}: HTTP {status}: {text}"));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn ecs(endpoint: &str, operation: &str, body: &Value) -> Result<Value, String> {
    let target = format!("AmazonEC2ContainerServiceV20141113.{operation}");
    call(endpoint, "ecs", &target, body)
}

/// Registers the task definition `file` (RegisterTaskDefinition's request shape) and returns
/// the registered revision as DescribeTaskDefinition shows it.
pub fn register_task_definition(endpoint: &str, file: &Value) -> Result<Value, String> {
    let mut request = file.clone();
    let object = request
        .as_object_mut()
        .ok_or("the task definition file is not a JSON object")?;
    for key in READ_ONLY {
        object.remove(key);
    }
    let answer = ecs(endpoint, "RegisterTaskDefinition", &request)?;
    Ok(answer["taskDefinition"].clone())
}

/// A registered revision by family, `family:revision` or ARN.
pub fn describe_task_definition(endpoint: &str, name: &str) -> Result<Value, String> {
    let answer = ecs(
        endpoint,
        "DescribeTaskDefinition",
        &json!({"taskDefinition": name}),
    )?;
    Ok(answer["taskDefinition"].clone())
}

/// Writes `lines` to `group` (creating the group and the streams as the awslogs driver does).
pub fn put_lines(endpoint: &str, group: &str, lines: &[LogLine]) -> Result<(), String> {
    if lines.is_empty() {
        return Ok(());
    }
    let logs = |operation: &str, body: Value| {
        call(
            endpoint,
            "logs",
            &format!("Logs_20140328.{operation}"),
            &body,
        )
    };
    let exists = |e: &String| e.contains("ResourceAlreadyExistsException");
    logs("CreateLogGroup", json!({"logGroupName": group}))
        .or_else(|e| if exists(&e) { Ok(Value::Null) } else { Err(e) })?;
    let mut streams: BTreeMap<&str, Vec<&LogLine>> = BTreeMap::new();
    for line in lines {
        streams.entry(&line.stream).or_default().push(line);
    }
    for (stream, mut lines) in streams {
        logs(
            "CreateLogStream",
            json!({"logGroupName": group, "logStreamName": stream}),
        )
        .or_else(|e| if exists(&e) { Ok(Value::Null) } else { Err(e) })?;
        lines.sort_by_key(|l| l.at);
        let events: Vec<Value> = lines
            .iter()
            .map(|l| json!({"timestamp": l.at.timestamp_millis(), "message": l.text}))
            .collect();
        let answer = logs(
            "PutLogEvents",
            json!({"logGroupName": group, "logStreamName": stream, "logEvents": events}),
        )?;
        if let Some(rejected) = answer.get("rejectedLogEventsInfo") {
            return Err(format!(
                "moto rejected log events in {group}/{stream}: {rejected}"
            ));
        }
    }
    Ok(())
}
