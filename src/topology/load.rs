//! Reading one map from disk: pick the format by extension, parse, check every key against the
//! format (did-you-mean, naming the node), then deserialise and check what serde cannot:
//! duplicate names, credentials inline, env var names.

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::error::TopologyError;
use super::keys::KeyCheck;
use super::model::{Node, Topology};

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
    if let Some(problem) = super::limits::refuse(text, super::limits::MAX_MAP_BYTES) {
        return Err(vec![malformed(None, None, problem)]);
    }
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

/// Names reach prompts, comments and branch names: a safe alphabet, as DNS and ECS use.
const NAME_RULE: &str = "{} must be 1 to 64 of letters, digits, `.`, `_` and `-`";
const NAME_FIX: &str = "rename it, e.g. `payments-api` or `ledger_db`";

fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
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
    } else if !is_name(&topology.service) {
        errors.push(invalid(
            None,
            NAME_RULE.replace("{}", "`service`"),
            NAME_FIX,
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
            if !is_name(&node.name) {
                errors.push(invalid(
                    Some(&format!("{list}[{i}]")),
                    NAME_RULE.replace("{}", "the node's `name`"),
                    NAME_FIX,
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

/// serde's messages carry " at line L column C"; we report the location separately.
fn strip_location(message: &str) -> String {
    static AT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\s+at line \d+ column \d+").expect("static regex"));
    AT.replace(message, "").into_owned()
}
