//! Missing configuration, in the forms the standard libraries print it. Each family is the
//! library's own wording (see tests/fixtures/messages.tsv for the sources); the name it
//! reports is turned into the environment variable it stands for, so the rules can check it
//! against the task definition's variables and secrets.

use std::sync::LazyLock;

use regex::Regex;

/// Who said a setting is missing: decides how sure a line alone can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigFamily {
    /// Python `KeyError: 'FOO'`: `os.environ['FOO']`, or any dict lookup (a currency code in
    /// a message handler reads the same). Only the context (start-up or not) decides.
    PythonKeyError,
    /// pydantic-settings: `validation error for Settings … Field required`.
    Pydantic,
    /// python-decouple, django-environ.
    PythonLibrary,
    /// Go kelseyhightower/envconfig (`required key FOO missing value`) and caarlos0/env.
    GoEnv,
    /// viper: a config file that is not there.
    GoViper,
    /// Spring: `Could not resolve placeholder 'FOO'`.
    Spring,
    /// Ruby `ENV.fetch`: `key not found: "FOO" (KeyError)`; Rails' missing credentials.
    Ruby,
    /// Node: envalid and dotenv-safe reports.
    Node,
    /// Rust `std::env::var`: `environment variable not found` (`VarError::NotPresent`).
    Rust,
    /// A service's own words: `missing required environment variable FOO`, `FOO must be set`.
    Plain,
}

impl ConfigFamily {
    /// Whether the wording can only mean configuration. A `KeyError` can be any dict.
    pub fn unambiguous(self) -> bool {
        self != Self::PythonKeyError
    }
}

/// A setting a line reports missing: its variable name when the line names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSetting {
    pub variable: Option<String>,
    pub family: ConfigFamily,
}

/// Lines that say a setting is absent but that nothing failed because of it.
const NOT_A_FAILURE: &[&str] = &[
    "optional",
    "using default",
    "using the default",
    "defaulting to",
    "falling back",
];

/// Words one of which every family's line contains: a cheap gate before the patterns.
const GATE: &[&str] = &[
    "missing",
    "keyerror",
    "not set",
    "must be set",
    "required",
    "undefined",
    "not defined",
    "is empty",
    "unset",
    "not found",
    "placeholder",
    "not present in the environment",
    "should not be empty",
    "set the ",
    "notpresent",
];

struct Pattern {
    family: ConfigFamily,
    re: Regex,
    /// How the captured name becomes a variable name.
    name: fn(&str) -> String,
}

fn same(s: &str) -> String {
    s.to_string()
}

/// `payments.fx.api-key` or `payments_fx_api_key` as the environment variable Spring's relaxed
/// binding and pydantic-settings read it from: `PAYMENTS_FX_APIKEY` / `PAYMENTS_FX_API_KEY`.
fn spring_env(s: &str) -> String {
    s.replace('.', "_").replace('-', "").to_ascii_uppercase()
}

fn upper(s: &str) -> String {
    s.to_ascii_uppercase()
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let p = |family, re: &str, name: fn(&str) -> String| Pattern {
        family,
        re: Regex::new(re).expect("static regex"),
        name,
    };
    use ConfigFamily::*;
    // `\W+` between parts: a multi-line report arrives with newlines, `\n` escapes (JSON
    // logs) or spaces, depending on the log shipper.
    vec![
        p(GoEnv, r"required key ([A-Z][A-Z0-9_]+) missing value", same),
        p(
            GoEnv,
            r#"(?i:required environment variable) "([A-Z][A-Z0-9_]+)" (?i:is not set)"#,
            same,
        ),
        p(
            GoEnv,
            r#"(?i:environment variable) "([A-Z][A-Z0-9_]+)" (?i:should not be empty)"#,
            same,
        ),
        p(GoViper, r#"Config File "([^"]+)" Not Found in"#, same),
        p(
            Spring,
            r"Could not resolve placeholder '([A-Za-z0-9_.\-]+)'",
            spring_env,
        ),
        p(
            Pydantic,
            r"validation errors? for \w*(?i:settings|config)\w*(?:\\n|\W)+([a-z_][a-z0-9_]*)(?:\\n|\W)+(?:Field required|field required)",
            upper,
        ),
        p(
            PythonLibrary,
            r"([A-Z][A-Z0-9_]+) not found\. Declare it as envvar",
            same,
        ),
        p(
            PythonLibrary,
            r"Set the ([A-Z][A-Z0-9_]+) environment variable",
            same,
        ),
        p(Ruby, r#"key not found: "([A-Z][A-Z0-9_]+)""#, same),
        p(Ruby, r"Missing `?([a-z_]+)`? for '\w+' environment", upper),
        p(
            Node,
            r"not present in the environment:(?:\\n|\W)+([A-Z][A-Z0-9_]+)",
            same,
        ),
        p(
            Node,
            r"Missing environment variables:(?:\\n|\W)+([A-Z][A-Z0-9_]+)",
            same,
        ),
        p(
            Rust,
            r"([A-Z][A-Z0-9_]{2,})\W+(?:Caused by:\W+)?environment variable not found",
            same,
        ),
        p(
            Plain,
            r#"(?i:missing\s+(?:required\s+)?(?:env(?:ironment)?\s*(?:variable|var)?|config(?:uration)?\s+(?:variable|value|key))s?)[\s:=]*['"`]?([A-Z][A-Z0-9_]+)"#,
            same,
        ),
        p(
            PythonKeyError,
            r#"KeyError:\s*['"]([A-Z][A-Z0-9_]+)['"]"#,
            same,
        ),
        p(
            Plain,
            r#"(?i:env(?:ironment)?\s*(?:variable|var))[\s:]*['"`]?([A-Z][A-Z0-9_]+)['"`]?(?i:\s+(?:is\s+)?(?:not\s+set|not\s+defined|missing|required|unset|undefined|empty))"#,
            same,
        ),
        p(
            Plain,
            r#"\b['"`]?([A-Z][A-Z0-9_]{2,})['"`]?(?i:\s+(?:must\s+be\s+set|is\s+not\s+set|is\s+required|is\s+missing|not\s+set|is\s+undefined|is\s+empty))"#,
            same,
        ),
    ]
});

/// Unnamed reports: the family is known, the variable is on a line of its own.
const UNNAMED: &[(&str, ConfigFamily)] = &[
    ("environment variable not found", ConfigFamily::Rust),
    ("notpresent", ConfigFamily::Rust),
    ("not present in the environment", ConfigFamily::Node),
    ("missing environment variables", ConfigFamily::Node),
    ("field required [type=missing", ConfigFamily::Pydantic),
];

/// The setting a line reports missing, if it reports one.
pub fn missing_setting(line: &str, lower: &str) -> Option<MissingSetting> {
    if !super::any(lower, GATE) || super::any(lower, NOT_A_FAILURE) {
        return None;
    }
    for p in PATTERNS.iter() {
        if let Some(name) = p.re.captures(line).and_then(|c| c.get(1)) {
            return Some(MissingSetting {
                variable: Some((p.name)(name.as_str()))
                    .filter(|_| p.family != ConfigFamily::GoViper),
                family: p.family,
            });
        }
    }
    UNNAMED
        .iter()
        // A pydantic report with its header names its model: when that is no settings
        // model, the missing field is a payload's, not configuration.
        .filter(|(_, family)| {
            *family != ConfigFamily::Pydantic || !lower.contains("validation error")
        })
        .find(|(marker, _)| lower.contains(marker))
        .map(|&(_, family)| MissingSetting {
            variable: None,
            family,
        })
}
