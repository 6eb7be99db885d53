//! What the plans read from a diagnosis: the variable it names missing, the files its stack
//! traces and failed steps name, whether its health checks failed because the service was
//! slow to start. Read from the typed fields first (the proposed fix's fingerprint names the
//! subject), then from the evidence lines the skills wrote.

use std::sync::LazyLock;

use regex::Regex;

use crate::diagnose::rules::signals;
use crate::diagnose::{Diagnosis, RootCauseClass};

/// The variable a `missing_config` diagnosis names: the subject of its proposed fix
/// (`infra:missing_config:<node>:<VAR>`), else the first one its evidence reports missing.
pub fn missing_variable(d: &Diagnosis) -> Option<String> {
    let from_fingerprint = d.proposed_action.fingerprint.as_deref().and_then(|f| {
        let marker = format!(
            ":{}:{}:",
            RootCauseClass::MissingConfig.as_str(),
            d.root_cause.node
        );
        let (_, subject) = f.split_once(&marker)?;
        let subject = subject.split('/').next()?;
        is_variable_name(subject).then(|| subject.to_string())
    });
    if from_fingerprint.is_some() {
        return from_fingerprint;
    }
    let lines = d
        .evidence
        .iter()
        .map(|e| (e.source.as_str(), e.text.as_str()))
        .chain([("summary", d.root_cause.summary.as_str())]);
    for (source, text) in lines {
        let found = if source.starts_with("ecs:missing-env") {
            signals::stop_reason_variable(text)
        } else {
            signals::missing_setting(text, &text.to_lowercase()).and_then(|s| s.variable)
        };
        if let Some(var) = found.filter(|v| is_variable_name(v)) {
            return Some(var);
        }
    }
    None
}

/// An environment variable's name as ECS takes it: letters, digits and underscores.
fn is_variable_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Source files named in the evidence: stack trace frames (`at … (src/app.js:10:5)`,
/// `File "app/main.py", line 3`, `src/main.rs:10:5`), compiler locations (`--> src/lib.rs:4`)
/// and failed tests (`tests/test_api.py::test_pay FAILED`), as written there.
pub fn named_files(d: &Diagnosis) -> Vec<String> {
    static PATH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?:^|[\s(\[`'\x22=:])((?:[A-Za-z]:)?[\w@.\-/\\]*[\w\-]\.(?:rs|py|js|mjs|cjs|jsx|ts|tsx|go|java|kt|kts|scala|rb|php|cs|fs|ex|exs|erl|swift|c|cc|cpp|h|hpp|m|sql|sh|json|ya?ml|toml|tf))\b",
        )
        .expect("static regex")
    });
    let mut out: Vec<String> = Vec::new();
    let texts = d
        .evidence
        .iter()
        .map(|e| e.text.as_str())
        .chain([d.root_cause.summary.as_str()]);
    for text in texts {
        for c in PATH.captures_iter(text) {
            let path = c[1].replace('\\', "/");
            let path = path.trim_start_matches("./").to_string();
            // Dotted names that are not files (`java.lang.Object.method`) have no slash and
            // no known extension; version strings like `v1.2.3` do not end in one either.
            if !out.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

/// Whether a frame's path `named` (absolute in the container, or relative to a subfolder)
/// is the repository file `path`.
pub fn names_file(named: &str, path: &str) -> bool {
    let named = named.trim_start_matches('/');
    named == path || named.ends_with(&format!("/{path}")) || path.ends_with(&format!("/{named}"))
}

/// The health checks failed because the service was slow to become ready (the check timed
/// out, or it was still starting), not because it answers wrongly.
pub fn slow_start(d: &Diagnosis) -> bool {
    const SLOW: &[&str] = &[
        "timed out",
        "timeout",
        "still starting",
        "starting up",
        "not ready yet",
        "warming up",
        "startperiod",
        "start period",
        "grace period",
        "startup took",
        "slow start",
    ];
    d.evidence
        .iter()
        .map(|e| e.text.to_lowercase())
        .chain([d.root_cause.summary.to_lowercase()])
        .any(|t| signals::any(&t, SLOW))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_name_files_in_the_usual_dialects() {
        let d = crate::harness::plans::tests::diagnosis(
            RootCauseClass::CrashLoop,
            &[
                "TypeError: x is undefined\n    at charge (/app/src/billing/charge.js:42:7)\n    at node:internal/process",
                "File \"/srv/app/payments/views.py\", line 12, in pay",
                "error[E0308]: mismatched types\n --> src/main.rs:10:5",
                "FAILED tests/test_api.py::test_refund - AssertionError",
                "at com.acme.Pay.run(Pay.java:42)",
            ],
        );
        let files = named_files(&d);
        assert_eq!(
            files,
            [
                "/app/src/billing/charge.js",
                "/srv/app/payments/views.py",
                "src/main.rs",
                "tests/test_api.py",
                "Pay.java"
            ]
        );
        assert!(names_file(
            "/app/src/billing/charge.js",
            "src/billing/charge.js"
        ));
        assert!(names_file("Pay.java", "src/main/java/com/acme/Pay.java"));
        assert!(!names_file("/app/src/billing/charge.js", "src/charge.js"));
    }
}
