//! What one log line is: GitHub's timestamp split off, then a class (a runner error, a
//! compiler error, a test failure, a panic, a trace, a plain error) or nothing.
//!
//! Lines are bytes: logs are not always UTF-8, and nothing here allocates.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};

/// Every line that can be classified contains one of these, in the casings logs use
/// (`error`, `Error`, `ERROR`): one SIMD pass finds candidates and the rest of a log is
/// skipped. Mixed case (`eRRor`) is deliberately not looked for.
const LITERALS: &[&str] = &[
    "rror",
    "RROR",
    "fail",
    "Fail",
    "FAIL",
    "fatal",
    "Fatal",
    "FATAL",
    "anic",
    "ANIC",
    "xception",
    "XCEPTION",
    "ceback",
    "egfault",
    "egmentation",
    "OOMKilled",
    "oomkilled",
    "efused",
    "EFUSED",
    "enied",
    "ENIED",
    "core dumped",
    "ERR!",
    "##[",
    "\u{25cf} ",
    // Playwright's failure headers: `1) [chromium] › checkout.spec.ts:14:5 › title`.
    "\u{203a} ",
    // Missing configuration, in libraries that say so without an error word.
    "missing value",
    "Missing environment variable",
    "not present in the environment",
    "key not found",
    "type=missing",
];

/// Failures some libraries and servers report without an error word, which a reader of
/// logs must keep all the same: missing configuration (Go envconfig's `required key FOO
/// missing value`, caarlos0/env, viper, envalid, dotenv-safe, Ruby's `key not found`,
/// pydantic's `[type=missing`) and Redis's own replies when logged as they came. Lowercase.
pub const SAID_WITHOUT_ERROR_WORD: &[&str] = &[
    "missing value",
    "missing environment variable",
    "required environment variable",
    "should not be empty",
    "config file \"",
    "not present in the environment",
    "key not found",
    "type=missing",
    "oom command not allowed",
    "used memory > 'maxmemory'",
    "max number of clients reached",
];
/// Leftmost-first matching keeps aho-corasick on its SIMD (Teddy) prefilter.
pub(super) static PREFILTER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(LITERALS)
        .expect("the prefilter literals build")
});

/// Words that make a line an error line, matched case-insensitively as whole words
/// (`ValueError` counts, `thiserror` and `error_count` do not).
const WORDS: &[&[u8]] = &[
    b"error",
    b"errors",
    b"fatal",
    b"panic",
    b"panicked",
    b"exception",
    b"fail",
    b"failed",
    b"failure",
    b"failures",
    b"failing",
    b"traceback",
    b"segfault",
    b"segmentation fault",
    b"oomkilled",
    b"connection refused",
    b"permission denied",
    b"access denied",
    b"core dumped",
    b"err!",
    b"missing value",
    b"missing environment variable",
    b"missing environment variables",
    b"not present in the environment",
    b"key not found",
];

/// Log levels that say a line is not an error even when it mentions one.
const QUIET_LEVELS: &[&[u8]] = &[
    b"info",
    b"debug",
    b"trace",
    b"warn",
    b"warning",
    b"notice",
    b"verbose",
    b"level=info",
    b"level=debug",
    b"level=warn",
    b"level=warning",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class<'a> {
    /// `##[error]…` written by the runner or a workflow command.
    RunnerError,
    /// `##[error]Process completed with exit code N.`: the consequence, not the cause.
    ExitCode,
    /// One compiler diagnostic (`error[E0425]`, `error TS2322`, `file.c:3:5: error:`).
    Compile,
    /// A compiler's tally (`could not compile … due to N previous errors`, `Found N errors`).
    CompileSummary(u64),
    Panic,
    /// `Traceback (most recent call last):`: the trace that follows is Python's.
    PythonTrace,
    /// `Exception in thread …`: an indented trace follows.
    Trace,
    /// A test runner's tally of failures (cargo, pytest, jest).
    TestSummary(u64),
    /// A failed test named on one line (cargo `test x ... FAILED`, pytest `FAILED x`).
    TestName(&'a [u8]),
    /// A failed test whose details follow, indented (go `--- FAIL: X`, jest `● X`).
    TestCase(&'a [u8]),
    /// cargo's `failures:` header: the names of the failed tests follow, indented.
    FailuresHeader,
    Error,
}

/// `(timestamp, rest)`: GitHub's `2026-11-24T08:00:01.1234567Z ` prefix split off.
pub(super) fn split_timestamp(line: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let shaped = line.len() > 20
        && line[..4].iter().all(u8::is_ascii_digit)
        && line[4] == b'-'
        && line[7] == b'-'
        && line[10] == b'T'
        && line[13] == b':'
        && line[16] == b':';
    if !shaped {
        return (None, line);
    }
    let end = line.len().min(40);
    match line[19..end].iter().position(|&b| b == b'Z') {
        Some(z) if line.get(19 + z + 1).is_none_or(|&b| b == b' ') => {
            let stamp = &line[..19 + z + 1];
            let rest = line.get(19 + z + 2..).unwrap_or_default();
            (Some(stamp), rest)
        }
        _ => (None, line),
    }
}

pub(super) fn trim_start(text: &[u8]) -> &[u8] {
    let n = text.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &text[n..]
}

fn trim_end(text: &[u8]) -> &[u8] {
    let n = text
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    &text[..text.len() - n]
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// `rest` of `12) rest`: a numbered entry of a test runner's failure list.
fn strip_ordinal(t: &[u8]) -> Option<&[u8]> {
    let digits = t.iter().take_while(|b| b.is_ascii_digit()).count();
    (digits > 0).then_some(())?;
    t[digits..].strip_prefix(b") ")
}

/// The number written just before `marker`, e.g. `2` in `1 passed; 2 failed`.
fn number_before(text: &[u8], marker: &[u8]) -> Option<u64> {
    let at = find(text, marker)?;
    let digits = text[..at]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&text[at - digits..at])
        .ok()?
        .parse()
        .ok()
}

/// The class of a line (its timestamp already split off), or `None` for noise.
pub(super) fn classify(text: &[u8]) -> Option<Class<'_>> {
    let t = trim_end(trim_start(text));
    if t.is_empty() {
        return None;
    }
    if let Some(rest) = t.strip_prefix(b"##[") {
        return match rest.strip_prefix(b"error]") {
            Some(m) if m.starts_with(b"Process completed with exit code") => Some(Class::ExitCode),
            Some(_) => Some(Class::RunnerError),
            None => None,
        };
    }
    // Test runners.
    if t.starts_with(b"test result: FAILED") {
        return Some(Class::TestSummary(
            number_before(t, b" failed").unwrap_or(0),
        ));
    }
    if t.starts_with(b"test result: ") {
        return None;
    }
    if let Some(name) = t
        .strip_prefix(b"test ")
        .and_then(|r| r.strip_suffix(b" ... FAILED"))
    {
        return Some(Class::TestName(name));
    }
    if t == b"failures:" {
        return Some(Class::FailuresHeader);
    }
    if let Some(rest) = t.strip_prefix(b"--- FAIL: ") {
        let name = rest.split(|&b| b == b' ').next().unwrap_or(rest);
        return Some(Class::TestCase(name));
    }
    if let Some(rest) = t.strip_prefix("\u{25cf} ".as_bytes()) {
        return Some(Class::TestCase(rest));
    }
    if let Some(rest) = t.strip_prefix(b"FAILED ") {
        let name = rest.split(|&b| b == b' ').next().unwrap_or(rest);
        return Some(Class::TestName(name));
    }
    // Playwright: `  1) [chromium] › checkout.spec.ts:14:5 › pays an invoice ───`, and its
    // tally alone on a line (`  1 failed`), the failed tests listed under it.
    if let Some(rest) = strip_ordinal(t)
        && find(rest, "\u{203a} ".as_bytes()).is_some()
    {
        let title = match find(rest, " \u{2500}".as_bytes()) {
            Some(rule) => &rest[..rule],
            None => rest,
        };
        return Some(Class::TestCase(title));
    }
    if let Some(n) = t.strip_suffix(b" failed")
        && !n.is_empty()
        && n.iter().all(u8::is_ascii_digit)
    {
        return Some(Class::TestSummary(
            number_before(t, b" failed").unwrap_or(0),
        ));
    }
    if (t.starts_with(b"Tests:") || t.starts_with(b"=")) && find(t, b" failed").is_some() {
        return Some(Class::TestSummary(
            number_before(t, b" failed").unwrap_or(0),
        ));
    }
    // Compilers.
    if t.starts_with(b"error[E") {
        return Some(Class::Compile);
    }
    if t.starts_with(b"error: could not compile") || t.starts_with(b"error: aborting due to") {
        return Some(Class::CompileSummary(
            number_before(t, b" previous error").unwrap_or(1),
        ));
    }
    if t.starts_with(b"error TS") || find(t, b"): error TS").is_some() || located_error(t) {
        return Some(Class::Compile);
    }
    if t.starts_with(b"Found ") && find(t, b" error").is_some() {
        return number_before(t, b" error").map(Class::CompileSummary);
    }
    // Panics and traces.
    if find(t, b"panicked at").is_some() || t.starts_with(b"panic: ") {
        return Some(Class::Panic);
    }
    if t.starts_with(b"Traceback (most recent call last)") {
        return Some(Class::PythonTrace);
    }
    if t.starts_with(b"Exception in thread ") {
        return Some(Class::Trace);
    }
    // rustc's pointers to `--explain`, after the errors it counted already.
    if t.starts_with(b"For more information about")
        || t.starts_with(b"Some errors have detailed explanations")
    {
        return None;
    }
    (!quiet_level(t) && mentions_error(t)).then_some(Class::Error)
}

/// `path:12:5: error: …` or `path:12: error: …` (gcc, clang, and tools that copy them).
fn located_error(t: &[u8]) -> bool {
    let Some(at) = find(t, b": error:") else {
        return false;
    };
    let before = &t[..at];
    let digits = before
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    digits > 0 && before.len() > digits && before[before.len() - digits - 1] == b':'
}

/// Whether one of the first words is a level below error (`INFO`, `[WARN]`, `level=info`).
fn quiet_level(t: &[u8]) -> bool {
    t.split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .take(4)
        .map(|w| {
            let start = w
                .iter()
                .take_while(|b| matches!(b, b'[' | b'(' | b'<'))
                .count();
            let end = w.len()
                - w.iter()
                    .rev()
                    .take_while(|b| matches!(b, b']' | b')' | b'>' | b':' | b','))
                    .count();
            &w[start..end.max(start)]
        })
        .any(|w| {
            QUIET_LEVELS
                .iter()
                .any(|level| w.eq_ignore_ascii_case(level))
        })
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'/' | b'.')
}

/// Whether `t` mentions an error word as a whole word, not as a zero count (`0 failed`,
/// `errors: 0`, `no errors`). One pass over the line's word starts.
pub(super) fn mentions_error(t: &[u8]) -> bool {
    (0..t.len()).any(|at| {
        let first = t[at].to_ascii_lowercase();
        first.is_ascii_lowercase()
            && left_boundary(t, at)
            && WORDS.iter().any(|word| {
                let end = at + word.len();
                word[0] == first
                    && end <= t.len()
                    && t[at..end].eq_ignore_ascii_case(word)
                    && right_boundary(t, end)
                    && !zero_count(t, at, end)
            })
    })
}

fn left_boundary(t: &[u8], at: usize) -> bool {
    if at == 0 || !is_word(t[at - 1]) {
        return true;
    }
    // CamelCase: `ValueError`, `IOException`, `NullPointerException`.
    t[at].is_ascii_uppercase()
        && (t[at - 1].is_ascii_lowercase() || t.get(at + 1).is_some_and(u8::is_ascii_lowercase))
}

fn right_boundary(t: &[u8], end: usize) -> bool {
    match t.get(end) {
        None => true,
        Some(b'.') => !t.get(end + 1).is_some_and(u8::is_ascii_alphanumeric),
        Some(&b) => !is_word(b),
    }
}

fn zero_count(t: &[u8], at: usize, end: usize) -> bool {
    let before = trim_end(&t[..at]);
    let previous = before.rsplit(|&b| b == b' ').next().unwrap_or_default();
    if previous == b"0"
        || previous.eq_ignore_ascii_case(b"no")
        || previous.eq_ignore_ascii_case(b"without")
    {
        return true;
    }
    let after = &t[end..];
    let after = after
        .strip_prefix(b":")
        .or_else(|| after.strip_prefix(b"="))
        .unwrap_or(after);
    let after = trim_start(after);
    after.first() == Some(&b'0') && !after.get(1).is_some_and(u8::is_ascii_digit)
}

/// Whether a line continues a trace or a diagnostic: frames, `Caused by:`, rustc's
/// `-->`/`|` lines, Go's goroutine dumps.
pub(super) fn is_trace_line(raw: &[u8]) -> bool {
    let t = trim_start(raw);
    let indented = t.len() < raw.len();
    if raw.first() == Some(&b'\t') {
        return true;
    }
    let digits = t.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > 0 {
        let rest = trim_start(&t[digits..]);
        return (indented && t[digits..].starts_with(b": ")) || rest.starts_with(b"|");
    }
    const STARTS: &[&[u8]] = &[
        b"File \"",
        b"Caused by:",
        b"Suppressed:",
        b"-->",
        b"|",
        b"= ",
        b"stack backtrace:",
        b"note: ",
        b"help: ",
        b"goroutine ",
    ];
    if STARTS.iter().any(|s| t.starts_with(s)) || (indented && t.starts_with(b"at ")) {
        return true;
    }
    if t.starts_with(b"... ") && t.ends_with(b" more") {
        return true;
    }
    // Go's frames: `main.main()`, `github.com/acme/x.(*Server).handle(0xc000, {0x1})`.
    let call = t.iter().position(|&b| b == b'(');
    !indented && t.ends_with(b")") && call.is_some_and(|c| c > 0 && !t[..c].contains(&b' '))
}
