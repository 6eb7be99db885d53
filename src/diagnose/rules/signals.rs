//! The words and patterns the playbooks look for in summaries and evidence. Markers are
//! matched on lowercased text with `contains`; the few regexes compile once (`LazyLock`) and
//! run only on lines a cheap marker check let through.

mod config;

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
    "memoryerror",
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
/// What only Redis says when it turns a client away.
pub const CACHE_REFUSES_CLIENTS: &[&str] = &["max number of clients reached"];
/// A line about Redis: its name, or its port in a client's dial error.
pub fn about_redis(lower: &str) -> bool {
    lower.contains("redis") || lower.contains(":6379")
}
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

/// Names a missing variable in any of the standard dialects (see [`config`]).
pub use config::{ConfigFamily, MissingSetting, missing_setting};

/// The observer cannot resolve a name: on its own a dependency's problem (its record is
/// gone), but when every node fails this way, the problem is where Fixpoint runs.
pub const NAME_RESOLUTION: &[&str] = &[
    "dns lookup failed",
    "failed to lookup address",
    "name or service not known",
    "temporary failure in name resolution",
    "no such host",
    "nodename nor servname",
    "could not translate host name",
    "enotfound",
    "eai_again",
];

/// AWS refused to say anything: no credentials, or credentials it does not accept.
pub const NO_AWS_ACCESS: &[&str] = &[
    "no credentials",
    "credentials provider",
    "unable to load credentials",
    "could not load credentials",
    "unrecognizedclientexception",
    "invalidclienttokenid",
    "expiredtoken",
    "security token included in the request is invalid",
];

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
        missing_setting(line, &line.to_lowercase()).map(|m| m.variable)
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
            (
                "envconfig: required key PAYMENTS_FX_API_KEY missing value",
                "PAYMENTS_FX_API_KEY",
            ),
            (
                "Could not resolve placeholder 'payments.fx.api-key' in value \"${payments.fx.api-key}\"",
                "PAYMENTS_FX_APIKEY",
            ),
        ] {
            assert_eq!(var(line), Some(Some(name.to_string())), "{line}");
        }
        assert_eq!(
            var("thread 'main' panicked: environment variable not found"),
            Some(None)
        );
        assert_eq!(var("KeyError: 'amount'"), None);
        assert_eq!(var("GET /health 200"), None);
        assert_eq!(
            var("WARN optional env var SENTRY_DSN not set, error reporting disabled"),
            None
        );
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
