//! The streaming extractor: lines in (whole, or as arbitrary byte chunks), a bounded set of
//! excerpts and counts out. Memory depends on the limits, never on the log's size.
//!
//! Most of a log is noise, so chunks are searched with one SIMD prefilter and the lines
//! between candidates are only counted; lines are looked at one by one only around a
//! candidate, while an excerpt is open.

use std::cmp::Reverse;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::classify::{Class, PREFILTER, classify, is_trace_line, split_timestamp, trim_start};
use super::excerpt::{Excerpt, ExcerptKind, ExcerptLimits, LogCounts};
use super::signature;

mod stream;

use stream::History;

/// How lines after the anchor continue an excerpt regardless of the `after` budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follow {
    /// Frames, `Caused by:`, rustc's `-->`/`|` lines.
    Trace,
    /// Python: every indented line, up to and including the exception line.
    Python,
    /// go test / jest: every indented or blank line.
    Indented,
}

/// Excerpts whose first line does not tell them apart wait for the line that does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// A panic whose message is on the next line (`panicked at src/lib.rs:20:9:`).
    NextLine,
    /// A Python traceback, named by the exception on its last line.
    Exception,
}

struct Open {
    excerpt: Excerpt,
    chars: usize,
    after_left: usize,
    follow: Follow,
    pending: Option<Pending>,
    /// A repeat, known only once its signature settled: dropped when closed.
    duplicate: bool,
}

#[derive(Default)]
struct Tally {
    error_lines: u64,
    runner_errors: u64,
    compile_coded: u64,
    compile_summary: u64,
    test_summary: u64,
    panics: u64,
    failed_tests: Vec<String>,
    first_error_at: Option<DateTime<Utc>>,
}

/// A step's script echo (`##[group]Run …` up to `##[endgroup]`) is at most this long:
/// past it, a group that never ended stops hiding lines.
const MAX_RUN_GROUP_LINES: u32 = 500;

/// Streams a log into a bounded set of excerpts. Feed it with `push_bytes` (chunks cut
/// anywhere, e.g. an HTTP body) or `push_line`, then call `finish`.
pub struct ExcerptExtractor {
    limits: ExcerptLimits,
    line_no: u64,
    bytes: u64,
    partial: Vec<u8>,
    history: History,
    open: Option<Open>,
    kept: Vec<Excerpt>,
    seen: HashMap<String, u64>,
    /// The last line an excerpt covered: context before the next one starts after it.
    covered_to: u64,
    section: Option<String>,
    run_group: Option<u32>,
    failures_block: bool,
    tally: Tally,
}

impl ExcerptExtractor {
    pub fn new(limits: ExcerptLimits) -> Self {
        Self {
            history: History::new(limits.before),
            limits,
            line_no: 0,
            bytes: 0,
            partial: Vec::new(),
            open: None,
            kept: Vec::new(),
            seen: HashMap::new(),
            covered_to: 0,
            section: None,
            run_group: None,
            failures_block: false,
            tally: Tally::default(),
        }
    }

    /// One line (a `\n` inside splits it).
    pub fn push_line(&mut self, line: &str) {
        self.end_partial_line();
        for part in line.split('\n') {
            self.bytes += part.len() as u64 + 1;
            self.on_line(part.as_bytes());
        }
    }

    /// Counts so far.
    pub fn counts(&self) -> LogCounts {
        let t = &self.tally;
        LogCounts {
            lines: self.line_no,
            bytes: self.bytes,
            error_lines: t.error_lines,
            runner_errors: t.runner_errors,
            compile_errors: t.compile_coded.max(t.compile_summary),
            test_failures: t.test_summary.max(t.failed_tests.len() as u64),
            panics: t.panics,
            failed_tests: t.failed_tests.clone(),
            first_error_at: t.first_error_at,
        }
    }

    /// The excerpts kept, in log order. Call `counts` first if you need them.
    pub fn finish(mut self) -> Vec<Excerpt> {
        self.end_partial_line();
        self.close();
        for excerpt in &mut self.kept {
            excerpt.repeats = self
                .seen
                .get(&excerpt.signature)
                .map_or(0, |n| n.saturating_sub(1));
        }
        self.kept.sort_by_key(|e| e.line);
        self.kept
    }

    /// The counts and the excerpts, once the stream has ended.
    pub fn finish_with_counts(mut self) -> (LogCounts, Vec<Excerpt>) {
        self.end_partial_line();
        let counts = self.counts();
        (counts, self.finish())
    }

    fn on_line(&mut self, raw: &[u8]) {
        self.line_no += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let (stamp, text) = split_timestamp(raw);
        self.handle(stamp, text);
        self.history.remember(
            self.line_no,
            text,
            self.limits.max_line_bytes,
            self.limits.before,
        );
    }

    fn handle(&mut self, stamp: Option<&[u8]>, text: &[u8]) {
        if let Some(group) = text.strip_prefix(b"##[group]") {
            // A new step (or a group a step opened): what came before is finished, and is
            // not the context of what comes next.
            self.close();
            self.covered_to = self.line_no;
            if let Some(title) = group.strip_prefix(b"Run ") {
                self.section = Some(self.shown(title));
                self.run_group = Some(0);
            }
            return;
        }
        if let Some(lines) = &mut self.run_group {
            // The runner echoing the step's script and environment: never an error, nor context.
            *lines += 1;
            self.covered_to = self.line_no;
            if text.starts_with(b"##[endgroup]") || *lines > MAX_RUN_GROUP_LINES {
                self.run_group = None;
            }
            return;
        }
        if self.failures_block {
            if let Some(name) = listed_failure(text) {
                self.add_test_name(name);
                return self.context(text);
            }
            if !trim_start(text).is_empty() {
                self.failures_block = false;
            }
        }
        if self
            .open
            .as_ref()
            .is_some_and(|open| open.pending == Some(Pending::NextLine))
        {
            self.settle_signature(text);
        }
        if let Some(open) = &self.open
            && continues(open.follow, text)
        {
            return self.append(text, false);
        }
        let python = self
            .open
            .as_ref()
            .is_some_and(|open| open.follow == Follow::Python);
        if let Some(open) = &mut self.open {
            // The first line that is not trace or detail ends a Python or indented block.
            open.follow = Follow::Trace;
        }
        if python {
            // `KeyError: 'DATABASE_URL'`: the exception that ends a traceback.
            self.settle_signature(text);
            return self.append(text, false);
        }
        let class = if PREFILTER.is_match(text) {
            classify(text)
        } else {
            None
        };
        let Some(class) = class else {
            return self.context(text);
        };
        let (kind, follow) = match class {
            Class::TestName(name) => {
                self.add_test_name(name);
                return self.context(text);
            }
            Class::FailuresHeader => {
                self.failures_block = true;
                return self.context(text);
            }
            Class::TestSummary(n) => {
                self.tally.test_summary += n;
                (ExcerptKind::TestFailure, Follow::Trace)
            }
            Class::TestCase(name) => {
                self.add_test_name(name);
                (ExcerptKind::TestFailure, Follow::Indented)
            }
            Class::Compile => {
                self.tally.compile_coded += 1;
                (ExcerptKind::Compile, Follow::Trace)
            }
            Class::CompileSummary(n) => {
                self.tally.compile_summary += n;
                (ExcerptKind::Compile, Follow::Trace)
            }
            Class::Panic => {
                self.tally.panics += 1;
                (ExcerptKind::Panic, Follow::Trace)
            }
            Class::PythonTrace => (ExcerptKind::StackTrace, Follow::Python),
            Class::Trace => (ExcerptKind::StackTrace, Follow::Trace),
            Class::RunnerError => {
                self.tally.runner_errors += 1;
                (ExcerptKind::RunnerError, Follow::Trace)
            }
            Class::ExitCode => {
                self.tally.runner_errors += 1;
                (ExcerptKind::ExitCode, Follow::Trace)
            }
            Class::Error => (ExcerptKind::ErrorLine, Follow::Trace),
        };
        self.anchor(kind, follow, stamp, text);
    }

    /// A line that opens an excerpt, unless one like it was seen already.
    fn anchor(&mut self, kind: ExcerptKind, follow: Follow, stamp: Option<&[u8]>, text: &[u8]) {
        self.tally.error_lines += 1;
        let at = stamp.and_then(parse_timestamp);
        if self.tally.first_error_at.is_none() {
            self.tally.first_error_at = at;
        }
        let sig = signature(&String::from_utf8_lossy(text));
        let pending = if follow == Follow::Python {
            Some(Pending::Exception)
        } else if kind == ExcerptKind::Panic && text.trim_ascii_end().ends_with(b":") {
            Some(Pending::NextLine)
        } else {
            None
        };
        if pending.is_none() && self.see(&sig) > 1 {
            // Counted as a repeat of the first one's excerpt, and shown nowhere else.
            self.covered_to = self.line_no;
            return;
        }
        if let Some(open) = &self.open
            && open.after_left > 0
            && (kind == ExcerptKind::ExitCode
                || (kind == ExcerptKind::ErrorLine && open.excerpt.kind != ExcerptKind::ErrorLine))
        {
            // A panic's message, the exit code after an error: context of the open excerpt.
            return self.append(text, true);
        }
        self.close();
        let mut lines: Vec<String> = self
            .history
            .since(self.covered_to)
            .map(|t| self.shown(t))
            .collect();
        while lines.first().is_some_and(|l| l.trim().is_empty()) {
            lines.remove(0);
        }
        let anchor = lines.len();
        lines.push(self.shown(text));
        let chars = lines.iter().map(|l| l.chars().count() + 1).sum();
        self.open = Some(Open {
            excerpt: Excerpt {
                kind,
                line: self.line_no,
                at,
                section: self.section.clone(),
                lines,
                anchor,
                signature: sig,
                repeats: 0,
                truncated: false,
            },
            chars,
            after_left: self.limits.after,
            follow,
            pending,
            duplicate: false,
        });
        self.covered_to = self.line_no;
    }

    /// Settles a pending signature with the line that tells the excerpt apart.
    fn settle_signature(&mut self, text: &[u8]) {
        let Some(open) = &mut self.open else { return };
        let line = signature(&String::from_utf8_lossy(text));
        let sig = match open.pending.take() {
            Some(Pending::NextLine) => format!("{} {line}", open.excerpt.signature),
            Some(Pending::Exception) => line,
            None => return,
        };
        let duplicate = self.see(&sig) > 1;
        if let Some(open) = &mut self.open {
            open.duplicate = duplicate;
            open.excerpt.signature = sig;
        }
    }

    /// How many times `sig` has been seen, this time included.
    fn see(&mut self, sig: &str) -> u64 {
        if let Some(n) = self.seen.get_mut(sig) {
            *n += 1;
            return *n;
        }
        if self.seen.len() < self.limits.max_signatures {
            self.seen.insert(sig.to_string(), 1);
        }
        1
    }

    /// A line after an open excerpt's anchor: context while the `after` budget lasts.
    fn context(&mut self, text: &[u8]) {
        match &self.open {
            Some(open) if open.after_left > 0 => self.append(text, true),
            Some(_) => self.close(),
            None => {}
        }
    }

    fn append(&mut self, text: &[u8], spends_context: bool) {
        let line = self.shown(text);
        let max_lines = self.limits.max_lines;
        let max_chars = self.limits.max_chars;
        let Some(open) = &mut self.open else { return };
        if spends_context {
            open.after_left = open.after_left.saturating_sub(1);
        } else if open.excerpt.kind == ExcerptKind::ErrorLine
            && trim_start(text).starts_with(b"at ")
        {
            open.excerpt.kind = ExcerptKind::StackTrace;
        }
        self.covered_to = self.line_no;
        let chars = line.chars().count() + 1;
        if open.excerpt.lines.len() >= max_lines || open.chars + chars > max_chars {
            open.excerpt.truncated = true;
            return;
        }
        open.chars += chars;
        open.excerpt.lines.push(line);
    }

    fn close(&mut self) {
        let Some(open) = self.open.take() else { return };
        if open.duplicate || (open.pending.is_some() && self.see(&open.excerpt.signature) > 1) {
            return;
        }
        let mut excerpt = open.excerpt;
        while excerpt.lines.len() > excerpt.anchor + 1
            && excerpt.lines.last().is_some_and(|l| l.trim().is_empty())
        {
            excerpt.lines.pop();
        }
        if self.kept.len() < self.limits.max_excerpts {
            self.kept.push(excerpt);
            return;
        }
        let weakest = self
            .kept
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| (e.kind.priority(), Reverse(e.line)))
            .map(|(i, e)| (i, e.kind.priority()));
        if let Some((i, priority)) = weakest
            && excerpt.kind.priority() > priority
        {
            self.kept[i] = excerpt;
        }
    }

    fn add_test_name(&mut self, name: &[u8]) {
        let names = &self.tally.failed_tests;
        if names.len() >= self.limits.max_test_names {
            return;
        }
        let name = self.shown(trim_start(name));
        if !name.is_empty() && !names.contains(&name) {
            self.tally.failed_tests.push(name);
        }
    }

    /// A line as shown: lossy UTF-8, cut to `max_line_chars`.
    fn shown(&self, text: &[u8]) -> String {
        let text = String::from_utf8_lossy(text);
        let text = text.trim_end();
        match text.char_indices().nth(self.limits.max_line_chars) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_string(),
        }
    }
}

/// Whether `text` continues the open excerpt whatever the context budget.
fn continues(follow: Follow, text: &[u8]) -> bool {
    if is_trace_line(text) {
        return true;
    }
    let t = trim_start(text);
    let indented = t.len() < text.len();
    match follow {
        Follow::Trace => false,
        Follow::Python => {
            indented || t.is_empty() || t.starts_with(b"During handling of the above exception")
        }
        Follow::Indented => indented || t.is_empty(),
    }
}

/// A test named in cargo's `failures:` list (`    tests::adds`) or section header
/// (`---- tests::adds stdout ----`).
fn listed_failure(text: &[u8]) -> Option<&[u8]> {
    if let Some(name) = text
        .strip_prefix(b"---- ")
        .and_then(|r| r.strip_suffix(b" stdout ----"))
    {
        return Some(name);
    }
    let name = text.strip_prefix(b"    ")?;
    (!name.is_empty() && !name.iter().any(|b| b.is_ascii_whitespace())).then_some(name)
}

fn parse_timestamp(stamp: &[u8]) -> Option<DateTime<Utc>> {
    let stamp = std::str::from_utf8(stamp).ok()?;
    DateTime::parse_from_rfc3339(stamp)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
