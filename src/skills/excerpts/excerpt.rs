//! What the extractor hands back: excerpts, the counts over the whole log, and the limits
//! that bound both.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// How much the extractor keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcerptLimits {
    /// Excerpts kept; when more are found, the least telling ones give way.
    pub max_excerpts: usize,
    /// Lines in one excerpt, context included.
    pub max_lines: usize,
    /// Characters in one excerpt.
    pub max_chars: usize,
    /// Characters of one line shown; the rest is cut.
    pub max_line_chars: usize,
    /// Lines of context before the line that opens an excerpt.
    pub before: usize,
    /// Lines of context after it (trace and diagnostic lines come on top).
    pub after: usize,
    /// Distinct error signatures remembered for deduplication.
    pub max_signatures: usize,
    /// Names of failed tests kept.
    pub max_test_names: usize,
    /// Bytes of one line looked at; a longer line is cut (minified output, base64 dumps).
    pub max_line_bytes: usize,
}

impl Default for ExcerptLimits {
    fn default() -> Self {
        Self {
            max_excerpts: 10,
            max_lines: 20,
            max_chars: 3_000,
            max_line_chars: 300,
            before: 3,
            after: 3,
            max_signatures: 4_096,
            max_test_names: 50,
            max_line_bytes: 64 * 1024,
        }
    }
}

/// What an excerpt shows, most telling first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExcerptKind {
    /// A compiler diagnostic or tally.
    Compile,
    /// A failed test or a test runner's tally.
    TestFailure,
    Panic,
    /// An exception or error with its trace.
    StackTrace,
    /// `##[error]…` from the runner or a workflow command.
    RunnerError,
    ErrorLine,
    /// `##[error]Process completed with exit code N.`, shown with the lines before it.
    ExitCode,
}

impl ExcerptKind {
    pub(super) fn priority(self) -> u8 {
        match self {
            ExcerptKind::Compile | ExcerptKind::TestFailure => 5,
            ExcerptKind::Panic | ExcerptKind::StackTrace => 4,
            ExcerptKind::RunnerError => 3,
            ExcerptKind::ErrorLine => 2,
            ExcerptKind::ExitCode => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExcerptKind::Compile => "compile",
            ExcerptKind::TestFailure => "test_failure",
            ExcerptKind::Panic => "panic",
            ExcerptKind::StackTrace => "stack_trace",
            ExcerptKind::RunnerError => "runner_error",
            ExcerptKind::ErrorLine => "error_line",
            ExcerptKind::ExitCode => "exit_code",
        }
    }
}

/// A few lines around one error, with where and when it was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Excerpt {
    pub kind: ExcerptKind,
    /// 1-based line number, in the stream, of the line that opened the excerpt.
    pub line: u64,
    /// The timestamp GitHub wrote on that line, if any.
    pub at: Option<DateTime<Utc>>,
    /// The `##[group]Run …` header above it (GitHub: the step's first line or name).
    pub section: Option<String>,
    /// Context before, the line itself, then trace and context after; timestamps removed.
    pub lines: Vec<String>,
    /// Index in `lines` of the line that opened the excerpt.
    pub anchor: usize,
    /// `signature` of that line: the key duplicates are folded under.
    pub signature: String,
    /// Later lines with the same signature, counted and not shown.
    pub repeats: u64,
    /// Lines or characters were left out to stay within the limits.
    pub truncated: bool,
}

impl Excerpt {
    pub fn anchor_line(&self) -> &str {
        &self.lines[self.anchor]
    }

    /// The excerpt as people read it.
    pub fn text(&self) -> String {
        let mut out = self.lines.join("\n");
        if self.truncated {
            out.push_str("\n…");
        }
        if self.repeats > 0 {
            let s = if self.repeats == 1 { "" } else { "s" };
            out.push_str(&format!(
                "\n(this error repeated {} more time{s})",
                self.repeats
            ));
        }
        out
    }
}

/// What the whole log said, counted over every line (not only the excerpts kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LogCounts {
    pub lines: u64,
    pub bytes: u64,
    /// Lines that opened, or would have opened, an excerpt (duplicates included).
    pub error_lines: u64,
    pub runner_errors: u64,
    /// Compiler diagnostics, or the compiler's own tally when it is larger.
    pub compile_errors: u64,
    /// The test runners' tallies of failures, or the failed tests named, when more.
    pub test_failures: u64,
    pub panics: u64,
    /// Failed tests by name, in order (bounded by `max_test_names`).
    pub failed_tests: Vec<String>,
    pub first_error_at: Option<DateTime<Utc>>,
}

impl LogCounts {
    /// Adds another log's counts (several files of one job, several jobs of one run).
    pub fn add(&mut self, other: &LogCounts) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.error_lines += other.error_lines;
        self.runner_errors += other.runner_errors;
        self.compile_errors += other.compile_errors;
        self.test_failures += other.test_failures;
        self.panics += other.panics;
        for name in &other.failed_tests {
            if !self.failed_tests.contains(name) {
                self.failed_tests.push(name.clone());
            }
        }
        self.first_error_at = match (self.first_error_at, other.first_error_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}
