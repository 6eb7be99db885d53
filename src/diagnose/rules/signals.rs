//! The words and patterns the playbooks look for in summaries and evidence. Markers are
//! matched on lowercased text with `contains`; the few regexes compile once (`LazyLock`) and
//! run only on lines a cheap marker check let through.

use std::sync::LazyLock;

use regex::Regex;

/// Whether `lower` (already lowercased) contains any of `markers`.
pub fn any(lower: &str, markers: &[&str]) -> bool {
    markers.iter().any(|m| lower.contains(m))
}

pub const OOM: &[&str] = &[
    "outofmemory",
    "oomkilled",
    "out of memory",
    "memory allocation of",
    "cannot allocate memory",
    "heap out of memory",
];

pub const IMAGE_PULL: &[&str] = &[
    "cannotpullcontainererror",
    "cannotpullimagemanifesterror",
    "pull access denied",
    "manifest unknown",
    "failed to resolve ref",
    "imagepullbackoff",
];

/// ECS could not fetch a secret or parameter the task definition names.
pub const SECRET_FETCH: &[&str] = &[
    "resourceinitializationerror",
    "unable to retrieve secret",
    "unable to pull secrets",
];

pub const HEALTH_CHECK: &[&str] = &[
    "health checks failed",
    "health check failed",
    "failed elb health checks",
    "failed container health checks",
    "unhealthy in target-group",
    // ECS service events: `(port 8080) is unhealthy in (target-group arn:…) due to (reason …)`.
    "unhealthy in (target-group",
    "healthcheck failed",
    "health check timed out",
];

pub const ESSENTIAL_EXITED: &str = "essential container in task exited";

/// The database refuses new connections, or the app's pool gives up waiting.
pub const POOL_EXHAUSTED: &[&str] = &[
    "timed out waiting for connection",
    "too many clients",
    "remaining connection slots are reserved",
    "pool timed out",
    "connection pool timed out",
    "pool exhausted",
    "unable to acquire connection",
    "could not obtain connection",
    "connection is not available, request timed out",
    "53300",
];
/// Of [`POOL_EXHAUSTED`], what only the server says (the app's own pool cannot be the cause).
pub const SERVER_REFUSES: &[&str] = &[
    "too many clients",
    "remaining connection slots are reserved",
    "53300",
];

pub const LOCK_WAIT: &[&str] = &[
    "lock timeout",
    "canceling statement due to lock timeout",
    "could not obtain lock",
    "deadlock detected",
    "lock wait timeout",
];

pub const STATEMENT_TIMEOUT: &[&str] = &[
    "canceling statement due to statement timeout",
    "query timeout",
    "slow query",
];

pub const CACHE_FULL: &[&str] = &["oom command not allowed", "used memory > 'maxmemory'"];
pub const CONNECT_FAILED: &[&str] = &[
    "connection refused",
    "connectionerror",
    "could not connect",
    "econnrefused",
    "connection reset",
    "timed out connecting",
];

pub const THROTTLED: &[&str] = &[
    "toomanyrequestsexception",
    "rate exceeded",
    "throttlingexception",
];

pub const COMPILE_ERROR: &[&str] = &[
    "error[e",
    "could not compile",
    "compilation failed",
    "cannot find symbol",
    "syntaxerror",
    "error ts",
    "undefined reference",
];

pub const TEST_FAILED: &[&str] = &[
    "test result: failed",
    "tests failed",
    "failed tests",
    "test failed",
    "assertionerror",
    "assertion failed",
    "--- fail:",
    "failures:",
];

/// The name of a variable that a start-up line says is missing; `Some(None)` when the line
/// says one is missing without naming it (Rust's `environment variable not found`).
pub fn missing_variable(line: &str, lower: &str) -> Option<Option<String>> {
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
    ];
    static PATTERNS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            // missing required environment variable FOO / missing env var: FOO / missing config key FOO
            r#"(?i:missing\s+(?:required\s+)?(?:env(?:ironment)?\s*(?:variable|var)?|config(?:uration)?\s+(?:variable|value|key))s?)[\s:=]*['"`]?([A-Z][A-Z0-9_]+)"#,
            // KeyError: 'FOO' (os.environ['FOO'])
            r#"|KeyError:\s*['"]([A-Z][A-Z0-9_]+)['"]"#,
            // env var FOO not set / environment variable "FOO" is not defined
            r#"|(?i:env(?:ironment)?\s*(?:variable|var))[\s:]*['"`]?([A-Z][A-Z0-9_]+)['"`]?(?i:\s+(?:is\s+)?(?:not\s+set|not\s+defined|missing|required|unset|undefined|empty))"#,
            // FOO must be set / FOO is not set / FOO is required
            r#"|\b['"`]?([A-Z][A-Z0-9_]{2,})['"`]?(?i:\s+(?:must\s+be\s+set|is\s+not\s+set|is\s+required|is\s+missing|not\s+set|is\s+undefined|is\s+empty))"#,
        ))
        .expect("static regex")
    });
    if !any(lower, GATE) {
        return None;
    }
    if let Some(caps) = PATTERNS.captures(line) {
        let name = (1..=4)
            .find_map(|i| caps.get(i))
            .map(|m| m.as_str().to_string());
        return Some(name);
    }
    lower
        .contains("environment variable not found")
        .then_some(None)
}

/// The image reference in a pull error: the first `registry/repository:tag` (or `@sha256:`) word.
pub fn image_ref(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '(' | ')'))
        .map(|w| w.trim_end_matches([':', '.', ';']))
        .find(|w| {
            let last = w.rsplit('/').next().unwrap_or("");
            w.contains('/') && !w.contains("://") && (last.contains(':') || last.contains('@'))
        })
        .map(str::to_string)
}

/// The variable in the ecs skill's `ecs:missing-env` evidence: "a stop reason mentions FOO,
/// which is NOT among the task definition's variables".
pub fn stop_reason_variable(text: &str) -> Option<String> {
    let rest = text.split_once("mentions ")?.1;
    let name = rest
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// Whether a line reports exit code 137 (SIGKILL, what the OOM killer sends).
pub fn exit_137(lower: &str) -> bool {
    static EXIT_137: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"exit(?:\s*code)?[\s:=]*137\b").expect("static regex"));
    lower.contains("137") && EXIT_137.is_match(lower)
}

/// A non-zero exit code in a stopped task's reason, e.g. `Exit code: 1`.
pub fn nonzero_exit(lower: &str) -> Option<u32> {
    static EXIT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"exit(?:\s*code)?[\s:=]*(\d+)").expect("static regex"));
    if !lower.contains("exit") {
        return None;
    }
    EXIT.captures_iter(lower)
        .filter_map(|c| c[1].parse::<u32>().ok())
        .find(|&code| code != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(line: &str) -> Option<Option<String>> {
        missing_variable(line, &line.to_lowercase())
    }

    #[test]
    fn missing_variables_are_named_in_the_forms_services_print() {
        for (line, name) in [
            (
                "Error: missing required environment variable PAYMENTS_API_KEY",
                "PAYMENTS_API_KEY",
            ),
            ("KeyError: 'STRIPE_KEY'", "STRIPE_KEY"),
            ("env var LEDGER_URL not set", "LEDGER_URL"),
            (
                "panic: environment variable \"DB_URL\" is not defined",
                "DB_URL",
            ),
            ("config error: JWT_SECRET must be set", "JWT_SECRET"),
            ("missing env var: REDIS_URL", "REDIS_URL"),
        ] {
            assert_eq!(var(line), Some(Some(name.to_string())), "{line}");
        }
        assert_eq!(
            var("thread 'main' panicked: environment variable not found"),
            Some(None)
        );
        assert_eq!(var("KeyError: 'amount'"), None);
        assert_eq!(var("GET /health 200"), None);
    }

    #[test]
    fn image_references_are_found_in_pull_errors() {
        let line = "CannotPullContainerError: failed to resolve ref 1234.dkr.ecr.us-east-1.amazonaws.com/payments-api:3f9c12a: not found";
        assert_eq!(
            image_ref(line).as_deref(),
            Some("1234.dkr.ecr.us-east-1.amazonaws.com/payments-api:3f9c12a")
        );
        assert_eq!(
            image_ref("pull access denied for acme/api, repository does not exist"),
            None
        );
    }

    #[test]
    fn the_ecs_skills_missing_env_evidence_names_the_variable() {
        let text = "a stop reason mentions PAYMENTS_API_KEY, which is NOT among the task definition's variables";
        assert_eq!(
            stop_reason_variable(text).as_deref(),
            Some("PAYMENTS_API_KEY")
        );
        assert_eq!(stop_reason_variable("no variable here"), None);
    }

    #[test]
    fn exit_codes_are_read_from_stop_reasons() {
        assert!(exit_137(
            "essential container in task exited (exit code: 137)"
        ));
        assert!(!exit_137("exit code 1370"));
        assert_eq!(nonzero_exit("exit code: 0; exit code: 1"), Some(1));
        assert_eq!(nonzero_exit("exit code: 0"), None);
    }
}
