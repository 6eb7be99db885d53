//! The key check that runs before deserialising: every key is compared with the format, so a
//! typo gets a did-you-mean naming the node and its line, and a credential is caught in any
//! string value, wherever it sits.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::error::TopologyError;
use super::model::{ECS_FIELDS, LOG_FIELDS, NODE_FIELDS, TOPOLOGY_FIELDS};
use super::skill::SkillKind;
use crate::ids::RepoName;

/// A key the format does not know, where it sits (`at`, e.g. `downstream[1]`) and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    pub file: PathBuf,
    /// The node it sits in, if any.
    pub node: Option<String>,
    pub at: String,
    pub field: String,
    /// Best effort: the first line where the key appears.
    pub line: Option<u32>,
    pub fix: FieldFix,
}

/// What to tell someone who wrote a key the format does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldFix {
    /// A typo of a known field.
    DidYouMean(&'static str),
    /// A common mistake that is not a typo (`kind` for `type`, `password`…), with its fix.
    Hint(&'static str),
    /// Nothing close: the fields accepted where it sits.
    Known(&'static [&'static str]),
}

impl fmt::Display for FieldFix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldFix::DidYouMean(field) => write!(f, "did you mean `{field}`?"),
            FieldFix::Hint(hint) => f.write_str(hint),
            FieldFix::Known(known) => {
                write!(f, "remove it; known fields here: {}", known.join(", "))
            }
        }
    }
}

/// Walks the parsed value before deserialising, so unknown keys get a did-you-mean that names
/// the node, and secrets are caught wherever they sit.
pub(crate) struct KeyCheck<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    pub errors: &'a mut Vec<TopologyError>,
}

impl KeyCheck<'_> {
    pub fn topology(&mut self, value: &Value) {
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
        self.repo(map, None);
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
        self.repo(node, Some(&label));
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

    /// serde would place a bad `repo` at the start of the document; say where it is instead.
    fn repo(&mut self, map: &serde_json::Map<String, Value>, node: Option<&str>) {
        if let Some(Value::String(repo)) = map.get("repo")
            && let Err(message) = RepoName::parse(repo)
        {
            self.errors.push(TopologyError::Invalid {
                file: self.file.into(),
                node: node.map(str::to_string),
                message,
                fix: "write `repo: owner/name`, e.g. `repo: acme/payments-api`".into(),
            });
        }
    }

    /// Unknown keys, and credentials in any string value at this level.
    fn fields(
        &mut self,
        map: &serde_json::Map<String, Value>,
        known: &'static [&'static str],
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
                (Some(hint), _) => FieldFix::Hint(hint),
                (None, Some(field)) => FieldFix::DidYouMean(field),
                (None, None) => FieldFix::Known(known),
            };
            self.errors
                .push(TopologyError::UnknownField(Box::new(UnknownField {
                    file: self.file.into(),
                    node: node.map(str::to_string),
                    at: at.to_string(),
                    field: key.clone(),
                    line: line_of_key(self.text, key),
                    fix,
                })));
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
fn line_of_key(text: &str, key: &str) -> Option<u32> {
    let pattern = format!(r#"(?m)(^|[\s{{,\-])"?{}"?\s*:"#, regex::escape(key));
    let found = Regex::new(&pattern).ok()?.find(text)?;
    let line = text[..found.start()].matches('\n').count()
        + 1
        + usize::from(text[found.start()..].starts_with('\n'));
    u32::try_from(line).ok()
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
