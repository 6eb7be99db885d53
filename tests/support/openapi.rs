//! GitHub's own OpenAPI description (npm `@octokit/openapi`, installed in tests/node) as a
//! response validator, so that the fake GitHub can only say what the real one is documented to say.
//!
//! OpenAPI 3.0 schemas are not quite JSON Schema: `nullable: true` is turned into a `null` type
//! (or an `anyOf` with `{type: null}` around a `$ref`/`allOf`/`anyOf`/`oneOf`), OpenAPI-only
//! annotations are dropped, and every `#/components/...` reference that a response schema reaches
//! is copied, converted, to the same pointer under the root of the schema that gets compiled.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value, json};

/// Where `npm install` in tests/node puts the description (pinned in tests/node/package.json).
const DESCRIPTION: &str = "tests/node/node_modules/@octokit/openapi/generated/api.github.com.json";

/// How many schema violations one error message lists before it stops.
const MAX_REPORTED: usize = 8;

pub struct OpenApi {
    document: Value,
    /// Compiled validators by (method, normalised path template, status), or by component name.
    compiled: Mutex<HashMap<String, Arc<Compiled>>>,
}

struct Compiled {
    /// `None` when the documented response has no JSON body (204, 302, ...).
    validator: Option<jsonschema::Validator>,
}

/// An operation found in the description: its id and the path template as GitHub spells it.
struct Operation<'a> {
    id: String,
    template: &'a str,
    node: &'a Value,
}

static LOADED: OnceLock<OpenApi> = OnceLock::new();

impl OpenApi {
    /// Loads the description once per test binary. Panics, saying how to install it, if missing.
    pub fn load() -> &'static OpenApi {
        LOADED.get_or_init(|| {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DESCRIPTION);
            let text = std::fs::read(&path).unwrap_or_else(|error| {
                panic!(
                    "GitHub's OpenAPI description is missing at {} ({error}). Run the README's test \
                     command (`./scripts/test`), which runs `npm install` in tests/node and installs \
                     @octokit/openapi.",
                    path.display()
                )
            });
            let document: Value = serde_json::from_slice(&text).unwrap_or_else(|error| {
                panic!("cannot parse GitHub's OpenAPI description at {}: {error}", path.display())
            });
            OpenApi { document, compiled: Mutex::new(HashMap::new()) }
        })
    }

    /// Checks that GitHub documents `status` for the operation `method path_template` and that
    /// `body` fits that response's `application/json` schema (`None` = no body was served).
    ///
    /// Path parameters are compared by position, so `{*path}` (axum) matches `{path}`.
    pub fn validate(
        &self,
        method: &str,
        path_template: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), String> {
        let operation = self.operation(method, path_template)?;
        let what = format!(
            "{} ({} {}) {status}",
            operation.id,
            method.to_uppercase(),
            operation.template
        );
        let response = self.documented_response(&operation, status)?;
        let key = format!("{} {} {status}", method.to_lowercase(), operation.template);
        let compiled = self.compile(&key, || json_body_schema(response).cloned())?;
        check(&what, compiled.validator.as_ref(), body)
    }

    /// Validates `body` against one schema of `#/components/schemas`, e.g. `basic-error`.
    pub fn validate_component(&self, schema_name: &str, body: &Value) -> Result<(), String> {
        let pointer = format!("/components/schemas/{schema_name}");
        if self.document.pointer(&pointer).is_none() {
            return Err(format!(
                "GitHub's OpenAPI description has no schema `{schema_name}`"
            ));
        }
        let reference = json!({ "$ref": format!("#{pointer}") });
        let compiled = self.compile(&format!("component {schema_name}"), || Some(reference))?;
        check(
            &format!("schema {schema_name}"),
            compiled.validator.as_ref(),
            Some(body),
        )
    }

    /// The statuses GitHub documents for an operation, e.g. `[201, 401, 403, 404, 422]`.
    pub fn documented_statuses(
        &self,
        method: &str,
        path_template: &str,
    ) -> Result<Vec<u16>, String> {
        let operation = self.operation(method, path_template)?;
        Ok(statuses(operation.node))
    }

    /// The value of `#/components/examples/{name}`, e.g. `workflow-run` (GitHub's own example).
    pub fn example(&self, name: &str) -> Option<&Value> {
        self.document["components"]["examples"]
            .get(name)
            .map(|example| &example["value"])
    }

    /// The `operationId` of an operation, e.g. `actions/get-workflow-run`.
    pub fn operation_id(&self, method: &str, path_template: &str) -> Result<String, String> {
        Ok(self.operation(method, path_template)?.id)
    }

    fn operation(&self, method: &str, path_template: &str) -> Result<Operation<'_>, String> {
        let method = method.to_lowercase();
        let wanted = normalise_template(path_template);
        let paths = self.document["paths"]
            .as_object()
            .ok_or("GitHub's OpenAPI description has no `paths`")?;
        let (template, item) = paths
            .iter()
            .find(|(template, _)| normalise_template(template) == wanted)
            .ok_or_else(|| format!("GitHub's OpenAPI description has no path {path_template}"))?;
        let node = item.get(&method).ok_or_else(|| {
            format!(
                "GitHub's OpenAPI description has no operation {} {template}",
                method.to_uppercase()
            )
        })?;
        let id = node["operationId"]
            .as_str()
            .unwrap_or("(no operationId)")
            .to_string();
        Ok(Operation { id, template, node })
    }

    fn documented_response<'a>(
        &'a self,
        operation: &Operation<'a>,
        status: u16,
    ) -> Result<&'a Value, String> {
        let response = operation.node["responses"]
            .get(status.to_string())
            .ok_or_else(|| {
                let documented: Vec<String> = statuses(operation.node)
                    .iter()
                    .map(u16::to_string)
                    .collect();
                format!(
                    "{} ({}) does not document status {status}; documented: {}",
                    operation.id,
                    operation.template,
                    documented.join(", ")
                )
            })?;
        self.resolve(response)
    }

    /// Follows a `$ref` to `#/components/responses/...`.
    fn resolve<'a>(&'a self, node: &'a Value) -> Result<&'a Value, String> {
        match node.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                self.document.pointer(pointer).ok_or_else(|| {
                    format!("dangling reference {reference} in GitHub's description")
                })
            }
            None => Ok(node),
        }
    }

    /// Compiles (once) the schema `make` returns, with every component it reaches.
    fn compile(
        &self,
        key: &str,
        make: impl FnOnce() -> Option<Value>,
    ) -> Result<Arc<Compiled>, String> {
        let mut compiled = self
            .compiled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = compiled.get(key) {
            return Ok(found.clone());
        }
        let validator = match make() {
            None => None,
            Some(schema) => {
                let root = self.standalone_schema(&schema)?;
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&root)
                    .map_err(|error| format!("cannot compile the schema for {key}: {error}"))?;
                Some(validator)
            }
        };
        let entry = Arc::new(Compiled { validator });
        compiled.insert(key.to_string(), entry.clone());
        Ok(entry)
    }

    /// `schema` converted to JSON Schema, wrapped as `{allOf: [schema], components: {...}}` with
    /// every component it reaches (transitively) at its original pointer, so refs resolve.
    fn standalone_schema(&self, schema: &Value) -> Result<Value, String> {
        let mut pending: Vec<String> = Vec::new();
        collect_refs(schema, &mut pending);
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut root = Map::new();
        root.insert("allOf".into(), json!([to_json_schema(schema)]));
        while let Some(reference) = pending.pop() {
            if !seen.insert(reference.clone()) {
                continue;
            }
            let pointer = reference.strip_prefix("#/components/").ok_or_else(|| {
                format!("unsupported reference {reference}: only #/components/...")
            })?;
            let target = self
                .document
                .pointer(&format!("/components/{pointer}"))
                .ok_or_else(|| format!("dangling reference {reference} in GitHub's description"))?;
            collect_refs(target, &mut pending);
            insert_at(&mut root, &reference[2..], to_json_schema(target));
        }
        Ok(Value::Object(root))
    }
}

fn check(
    what: &str,
    validator: Option<&jsonschema::Validator>,
    body: Option<&Value>,
) -> Result<(), String> {
    match (validator, body) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(format!(
            "{what}: GitHub documents no JSON body, but one was served"
        )),
        (Some(_), None) => Err(format!(
            "{what}: GitHub documents a JSON body, but none was served"
        )),
        (Some(validator), Some(body)) => {
            let problems: Vec<String> = validator
                .iter_errors(body)
                .take(MAX_REPORTED)
                .map(|error| {
                    let pointer = error.instance_path().as_str().to_string();
                    let at = if pointer.is_empty() {
                        "(root)".to_string()
                    } else {
                        pointer
                    };
                    format!("at {at}: {error}")
                })
                .collect();
            if problems.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{what} does not match GitHub's schema: {}",
                    problems.join("; ")
                ))
            }
        }
    }
}

fn statuses(operation: &Value) -> Vec<u16> {
    let mut statuses: Vec<u16> = operation["responses"]
        .as_object()
        .map(|responses| {
            responses
                .keys()
                .filter_map(|status| status.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    statuses.sort_unstable();
    statuses
}

/// The `application/json` schema of a response (or of a `+json` media type), if it has one.
fn json_body_schema(response: &Value) -> Option<&Value> {
    let content = response.get("content")?.as_object()?;
    content
        .get("application/json")
        .or_else(|| {
            content
                .iter()
                .find(|(kind, _)| kind.ends_with("+json"))
                .map(|(_, media)| media)
        })
        .and_then(|media| media.get("schema"))
}

/// `/repos/{owner}/{repo}/contents/{*path}` → `/repos/{}/{}/contents/{}`.
fn normalise_template(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn collect_refs(node: &Value, into: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                into.push(reference.clone());
            }
            map.values().for_each(|child| collect_refs(child, into));
        }
        Value::Array(items) => items.iter().for_each(|child| collect_refs(child, into)),
        _ => {}
    }
}

/// Puts `value` at the JSON pointer `pointer` (without its leading `/`) under `root`.
fn insert_at(root: &mut Map<String, Value>, pointer: &str, value: Value) {
    let segments: Vec<String> = pointer
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let (last, parents) = segments
        .split_last()
        .expect("a pointer has at least one segment");
    let mut node = root;
    for segment in parents {
        node = node
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("components are objects");
    }
    node.insert(last.clone(), value);
}

/// One OpenAPI 3.0 schema object → JSON Schema 2020-12.
fn to_json_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (keyword, value) in map {
        let converted = match keyword.as_str() {
            // OpenAPI-only: `nullable` is handled below, the rest are annotations.
            "nullable" | "example" | "discriminator" | "xml" | "externalDocs" => continue,
            "properties" | "patternProperties" => match value {
                Value::Object(properties) => Value::Object(
                    properties
                        .iter()
                        .map(|(name, s)| (name.clone(), to_json_schema(s)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" | "additionalProperties" | "not" => to_json_schema(value),
            "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(schemas) => Value::Array(schemas.iter().map(to_json_schema).collect()),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(keyword.clone(), converted);
    }
    if map.get("nullable") == Some(&Value::Bool(true)) {
        make_nullable(out)
    } else {
        Value::Object(out)
    }
}

fn make_nullable(mut schema: Map<String, Value>) -> Value {
    let composite = ["$ref", "allOf", "anyOf", "oneOf"]
        .iter()
        .any(|k| schema.contains_key(*k));
    if composite {
        return json!({ "anyOf": [Value::Object(schema), { "type": "null" }] });
    }
    match schema.get_mut("type") {
        Some(Value::String(kind)) => {
            let kind = kind.clone();
            schema.insert("type".into(), json!([kind, "null"]));
        }
        Some(Value::Array(kinds)) if !kinds.contains(&json!("null")) => kinds.push(json!("null")),
        // No `type`: the schema already admits null.
        _ => {}
    }
    if let Some(Value::Array(variants)) = schema.get_mut("enum")
        && !variants.contains(&Value::Null)
    {
        variants.push(Value::Null);
    }
    Value::Object(schema)
}
