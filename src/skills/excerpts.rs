//! Reading logs for the reason they failed, shared by every skill that reads logs (`gha`,
//! `cloudwatch`), so "the same error" means the same thing everywhere:
//! `is_error_line` and `signature` for single lines, and `ExcerptExtractor`, which streams a
//! log of any size through bounded state and keeps the few excerpts that say why it failed
//! (runner errors, compiler errors, test failures, panics and traces, with context).

mod classify;
mod excerpt;
mod extractor;
#[cfg(test)]
mod tests;

pub use excerpt::{Excerpt, ExcerptKind, ExcerptLimits, LogCounts};
pub use extractor::ExcerptExtractor;

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
        || classify::SAID_WITHOUT_ERROR_WORD
            .iter()
            .any(|m| lower.contains(m))
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
