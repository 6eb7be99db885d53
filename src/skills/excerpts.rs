//! Recognising error lines and folding them into signatures, shared by every skill that
//! reads logs (`gha`, `cloudwatch`), so "the same error" means the same thing everywhere.

/// Whether a log line reports an error (case-insensitive markers, GitHub's `##[error]`).
pub fn is_error_line(line: &str) -> bool {
    const MARKERS: &[&str] = &[
        "##[error]",
        "error",
        "panicked at",
        "exception",
        "fatal",
        "traceback (most recent call last)",
        "outofmemory",
        "oomkilled",
        "segmentation fault",
        "failed",
    ];
    let lower = line.to_ascii_lowercase();
    MARKERS.iter().any(|m| lower.contains(m))
}

/// A line with its variable parts folded (numbers, hex ids, UUIDs, quoted values,
/// timestamps), so repeats of one error group under one signature.
pub fn signature(line: &str) -> String {
    let mut out = String::with_capacity(line.len().min(160));
    let mut chars = line.trim().chars().peekable();
    let mut last_was_placeholder = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit()
            || (c.is_ascii_hexdigit() && chars.peek().is_some_and(|n| n.is_ascii_digit()))
        {
            while chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphanumeric() || matches!(n, '-' | ':' | '.' | '_'))
            {
                chars.next();
            }
            if !last_was_placeholder {
                out.push('#');
            }
            last_was_placeholder = true;
            continue;
        }
        if c == '"' || c == '\'' {
            for n in chars.by_ref() {
                if n == c {
                    break;
                }
            }
            out.push_str("\"…\"");
            last_was_placeholder = false;
            continue;
        }
        last_was_placeholder = false;
        out.push(c);
        if out.len() >= 160 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_of_one_error_share_a_signature() {
        let a = signature(
            "2026-11-24T08:00:01Z ERROR pool timed out after 30000ms (conn 17) user \"bob\"",
        );
        let b = signature(
            "2026-11-24T08:05:09Z ERROR pool timed out after 5000ms (conn 3) user \"alice\"",
        );
        assert_eq!(a, b);
        assert_ne!(a, signature("ERROR connection refused"));
    }

    #[test]
    fn error_lines_are_recognised() {
        assert!(is_error_line(
            "##[error]Process completed with exit code 1."
        ));
        assert!(is_error_line("thread 'main' panicked at src/main.rs:3:5"));
        assert!(!is_error_line("INFO listening on 0.0.0.0:8080"));
    }
}
