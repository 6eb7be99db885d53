//! Reading one map from disk: pick the format by extension, parse, check every key against the
//! format (did-you-mean, naming the node), then deserialise and check what serde cannot:
//! duplicate names, credentials inline, env var names.

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::error::TopologyError;
use super::model::{
    ECS_FIELDS, LOG_FIELDS, NODE_FIELDS, Node, SkillKind, TOPOLOGY_FIELDS, Topology,
};

/// The two formats a map may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// `.yaml`, `.yml` or `.json`; anything else is not a map.
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
        }
    }
}

/// Load one map, stopping at the first problem. Connection details missing for a skill are
/// not an error here: the sweep reports such a node `unknown` (see [`Node::missing_connection`]).
pub fn load(path: &Path) -> Result<Topology, TopologyError> {
    load_reporting_all(path).map_err(|mut errors| errors.remove(0))
}

/// Like [`load`], but every problem found in the file (never empty on `Err`).
pub(crate) fn load_reporting_all(path: &Path) -> Result<Topology, Vec<TopologyError>> {
    let format =
        Format::of(path).ok_or_else(|| vec![TopologyError::Extension { file: path.into() }])?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![TopologyError::Read {
            file: path.into(),
            linked_from: None,
            reason: e.to_string(),
        }]
    })?;
    parse_str(&text, format, path)
}

/// Parse a map's text; `file` is only used in messages.
pub fn parse_str(text: &str, format: Format, file: &Path) -> Result<Topology, Vec<TopologyError>> {
    let malformed = |line, column, message: String| TopologyError::Malformed {
        file: file.into(),
        format: format.name(),
        line,
        column,
        message: strip_location(&message),
    };
    let value: Value = match format {
        Format::Yaml => serde_yaml_ng::from_str(text).map_err(|e| {
            let loc = e.location();
            vec![malformed(
                loc.as_ref().map(|l| l.line()),
                loc.map(|l| l.column()),
                e.to_string(),
            )]
        })?,
        Format::Json => serde_json::from_str(text)
            .map_err(|e| vec![malformed(Some(e.line()), Some(e.column()), e.to_string())])?,
    };

    let mut errors = Vec::new();
    KeyCheck {
        file,
        text,
        errors: &mut errors,
    }
    .topology(&value);
    if !errors.is_empty() {
        return Err(errors);
    }
    let topology: Topology = match format {
        Format::Yaml => serde_yaml_ng::from_str(text).map_err(|e| {
            let loc = e.location();
            vec![malformed(
                loc.as_ref().map(|l| l.line()),
                loc.map(|l| l.column()),
                e.to_string(),
            )]
        })?,
        Format::Json => serde_json::from_str(text)
            .map_err(|e| vec![malformed(Some(e.line()), Some(e.column()), e.to_string())])?,
    };
    check_nodes(&topology, file, &mut errors);
    if errors.is_empty() {
        Ok(topology)
    } else {
        Err(errors)
    }
}

/// What serde cannot see: empty and duplicate names, both `url` and `url_env`, bad env names.
fn check_nodes(topology: &Topology, file: &Path, errors: &mut Vec<TopologyError>) {
    let invalid = |node: Option<&str>, message: String, fix: &str| TopologyError::Invalid {
        file: file.into(),
        node: node.map(str::to_string),
        message,
        fix: fix.to_string(),
    };
    if topology.service.trim().is_empty() {
        errors.push(invalid(
            None,
            "`service` is empty".into(),
            "name the service this map describes",
        ));
    }
    let mut seen = HashSet::new();
    let mut reported = HashSet::new();
    let lists = [
        ("upstream", &topology.upstream),
        ("downstream", &topology.downstream),
    ];
    for (list, nodes) in lists {
        for (i, node) in nodes.iter().enumerate() {
            let name = node.name.trim();
            if name.is_empty() {
                let at = format!("{list}[{i}]");
                errors.push(invalid(
                    Some(&at),
                    "`name` is empty".into(),
                    "give the node a name",
                ));
                continue;
            }
            if !seen.insert(name) && reported.insert(name) {
                errors.push(TopologyError::DuplicateNode {
                    file: file.into(),
                    node: name.into(),
                });
            }
            check_connection_fields(node, file, errors);
        }
    }
}

fn check_connection_fields(node: &Node, file: &Path, errors: &mut Vec<TopologyError>) {
    static ENV_NAME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").expect("static regex"));
    let invalid = |message: String, fix: &str| TopologyError::Invalid {
        file: file.into(),
        node: Some(node.name.clone()),
        message,
        fix: fix.into(),
    };
    if node.url.is_some() && node.url_env.is_some() {
        errors.push(invalid(
            "both `url` and `url_env` are set".into(),
            "keep one: `url_env` when the URL carries a secret, `url` otherwise",
        ));
    }
    if let Some(var) = &node.url_env
        && !ENV_NAME.is_match(var)
    {
        // Never echo the value: someone may have pasted the secret URL itself here.
        errors.push(invalid(
            "`url_env` must be the NAME of an environment variable (letters, digits, `_`), not a value".into(),
            "write e.g. `url_env: PAYMENTS_DB_URL` and set PAYMENTS_DB_URL where Fixpoint runs",
        ));
    }
}

/// Walks the parsed value before deserialising, so unknown keys get a did-you-mean that names
/// the node, and secrets are caught wherever they sit.
struct KeyCheck<'a> {
    file: &'a Path,
    text: &'a str,
    errors: &'a mut Vec<TopologyError>,
}

impl KeyCheck<'_> {
    fn topology(&mut self, value: &Value) {
        let Some(map) = value.as_object() else {
            self.errors.push(TopologyError::Invalid {
                file: self.file.into(),
                node: None,
                message: "the file is not a mapping".into(),
                fix: "start with `service: <name>`, then `upstream:` and `downstream:` lists"
                    .into(),
            });
            return;
        };
        if !map.contains_key("service") {
            self.errors.push(TopologyError::Invalid {
                file: self.file.into(),
                node: None,
                message: "missing `service`".into(),
                fix: "add `service: <name>` naming the service this map describes".into(),
            });
        }
        self.fields(map, TOPOLOGY_FIELDS, "top level", None);
        for key in ["ecs", "logs"] {
            if let Some(Value::Object(inner)) = map.get(key) {
                let known = if key == "ecs" { ECS_FIELDS } else { LOG_FIELDS };
                self.fields(inner, known, key, None);
            }
        }
        for list in ["upstream", "downstream"] {
            let Some(Value::Array(nodes)) = map.get(list) else {
                continue;
            };
            for (i, node) in nodes.iter().enumerate() {
                if let Value::Object(node) = node {
                    self.node(node, &format!("{list}[{i}]"));
                }
            }
        }
    }

    fn node(&mut self, node: &serde_json::Map<String, Value>, at: &str) {
        let label = match node.get("name").and_then(Value::as_str) {
            Some(name) if !name.trim().is_empty() => name.to_string(),
            _ => at.to_string(),
        };
        if !node.contains_key("name") {
            self.errors.push(TopologyError::Invalid {
                file: self.file.into(),
                node: Some(label.clone()),
                message: "a node without `name`".into(),
                fix: "add `name:`; findings and diagnoses refer to nodes by name".into(),
            });
        }
        self.fields(node, NODE_FIELDS, at, Some(&label));
        for key in ["ecs", "logs"] {
            if let Some(Value::Object(inner)) = node.get(key) {
                let known = if key == "ecs" { ECS_FIELDS } else { LOG_FIELDS };
                self.fields(inner, known, &format!("{at}.{key}"), Some(&label));
            }
        }
        if let Some(Value::String(skill)) = node.get("skill")
            && skill.parse::<SkillKind>().is_err()
        {
            let names = SkillKind::NAMES.iter().map(|(n, _)| *n);
            self.errors.push(TopologyError::UnknownSkill {
                file: self.file.into(),
                node: label,
                skill: skill.clone(),
                suggestion: did_you_mean(skill, names).map(str::to_string),
            });
        }
    }

    /// Unknown keys, and credentials in any string value at this level.
    fn fields(
        &mut self,
        map: &serde_json::Map<String, Value>,
        known: &[&str],
        at: &str,
        node: Option<&str>,
    ) {
        for (key, value) in map {
            if let Value::String(s) = value
                && carries_credentials(s)
            {
                self.errors.push(TopologyError::InlineCredentials {
                    file: self.file.into(),
                    node: node.map(str::to_string),
                    field: key.clone(),
                });
            }
            if known.contains(&key.as_str()) {
                continue;
            }
            let fix = match (hint(key), did_you_mean(key, known.iter().copied())) {
                (Some(hint), _) => hint.to_string(),
                (None, Some(s)) => format!("did you mean `{s}`?"),
                (None, None) => format!("remove it; known fields here: {}", known.join(", ")),
            };
            self.errors.push(TopologyError::UnknownField {
                file: self.file.into(),
                node: node.map(str::to_string),
                at: at.to_string(),
                field: key.clone(),
                line: line_of_key(self.text, key),
                fix,
            });
        }
    }
}

/// Mistakes that are not typos, with the field meant.
fn hint(key: &str) -> Option<&'static str> {
    Some(match key.to_ascii_lowercase().as_str() {
        "kind" => "did you mean `type`?",
        "host" | "endpoint" | "address" | "uri" | "dsn" | "connection" | "connection_string" => {
            "use `url` (or `url_env`, naming an environment variable, when it carries a secret)"
        }
        "password" | "passwd" | "secret" | "token" | "user" | "username" | "credentials" => {
            "credentials never sit in a map: put the URL with its secret in an environment \
             variable and name it with `url_env`"
        }
        "queue_name" => "did you mean `queue`? (a queue name or URL)",
        "function_name" | "lambda" => "did you mean `function`?",
        "cluster" => "put ECS coordinates under `ecs: {cluster, service}`",
        "group" | "log_group" => "put the log group under `logs: {group}`",
        "timeout" => "did you mean `timeout_s`? (seconds)",
        "env" => {
            "did you mean `environment` (the map's environment) or `url_env` (a node's URL variable)?"
        }
        "dependencies" | "deps" => "did you mean `downstream`?",
        _ => return None,
    })
}

/// The closest known name, if it is close enough to be the one meant.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (strsim::damerau_levenshtein(&word, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `user:password@` in a URL, or a query parameter that carries a secret.
pub(crate) fn carries_credentials(s: &str) -> bool {
    static USERINFO: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^[a-z][a-z0-9+.\-]*://[^/@\s]*:[^/@\s]*@").expect("static regex")
    });
    static SECRET_PARAM: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)[?&](password|passwd|pwd|secret|token|access_token|api_key|apikey|sig|x-amz-signature|x-amz-security-token)=",
        )
        .expect("static regex")
    });
    let s = s.trim();
    USERINFO.is_match(s) || (s.contains("://") && SECRET_PARAM.is_match(s))
}

/// Best effort: the first line where `key:` appears, for a message a person can jump to.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let pattern = format!(r#"(?m)(^|[\s{{,\-])"?{}"?\s*:"#, regex::escape(key));
    let found = Regex::new(&pattern).ok()?.find(text)?;
    Some(
        text[..found.start()].matches('\n').count()
            + 1
            + usize::from(text[found.start()..].starts_with('\n')),
    )
}

/// serde's messages carry " at line L column C"; we report the location separately.
fn strip_location(message: &str) -> String {
    static AT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\s+at line \d+ column \d+").expect("static regex"));
    AT.replace(message, "").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_typos_not_strangers() {
        let skills = SkillKind::NAMES.iter().map(|(n, _)| *n);
        assert_eq!(did_you_mean("postgress", skills.clone()), Some("postgres"));
        assert_eq!(
            did_you_mean("aws-lamda", skills.clone()),
            Some("aws-lambda")
        );
        assert_eq!(did_you_mean("mongodb", skills), None);
        assert_eq!(
            did_you_mean("exepct_body", NODE_FIELDS.iter().copied()),
            Some("expect_body")
        );
    }

    #[test]
    fn credentials_are_spotted_in_userinfo_and_query() {
        assert!(carries_credentials(
            "postgres://app:hunter2@db.internal:5432/payments"
        ));
        assert!(carries_credentials("redis://:s3cret@cache:6379"));
        assert!(carries_credentials(
            "https://gw.example.com/health?token=abc"
        ));
        assert!(!carries_credentials(
            "postgres://app@db.internal:5432/payments"
        ));
        assert!(!carries_credentials("https://gw.example.com/health"));
        assert!(!carries_credentials("PAYMENTS_DB_URL"));
    }

    #[test]
    fn the_line_of_an_unknown_key_is_found() {
        let text = "service: a\ndownstream:\n  - {name: db, skil: postgres}\n";
        assert_eq!(line_of_key(text, "skil"), Some(3));
        assert_eq!(line_of_key(text, "service"), Some(1));
    }
}
