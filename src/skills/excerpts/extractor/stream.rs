//! Feeding the extractor bytes as they arrive: lines cut between chunks are joined, and
//! the noise between candidates is counted, not read line by line. Also the ring of recent
//! lines that gives an excerpt its context before.

use super::{ExcerptExtractor, PREFILTER, split_timestamp};

/// The last few lines, for the context before an error (buffers are reused).
pub(super) struct History {
    lines: Vec<(u64, Vec<u8>)>,
    next: usize,
}

impl History {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            lines: Vec::with_capacity(capacity),
            next: 0,
        }
    }

    pub(super) fn remember(
        &mut self,
        line_no: u64,
        text: &[u8],
        max_bytes: usize,
        capacity: usize,
    ) {
        if capacity == 0 {
            return;
        }
        let text = &text[..text.len().min(max_bytes)];
        if self.lines.len() < capacity {
            self.lines.push((line_no, text.to_vec()));
            return;
        }
        let slot = &mut self.lines[self.next];
        slot.0 = line_no;
        slot.1.clear();
        slot.1.extend_from_slice(text);
        self.next = (self.next + 1) % capacity;
    }

    /// Remembered lines after `after_line`, oldest first.
    pub(super) fn since(&self, after_line: u64) -> impl Iterator<Item = &[u8]> {
        let (newer, older) = self.lines.split_at(self.next.min(self.lines.len()));
        older
            .iter()
            .chain(newer)
            .filter(move |(n, _)| *n > after_line)
            .map(|(_, text)| text.as_slice())
    }
}

impl ExcerptExtractor {
    /// The next bytes of a stream, cut anywhere; a line cut between chunks is joined.
    pub fn push_bytes(&mut self, mut data: &[u8]) {
        self.bytes += data.len() as u64;
        if !self.partial.is_empty() {
            let Some(nl) = memchr::memchr(b'\n', data) else {
                self.extend_partial(data);
                return;
            };
            self.extend_partial(&data[..nl]);
            let line = std::mem::take(&mut self.partial);
            self.on_line(&line);
            self.partial = line;
            self.partial.clear();
            data = &data[nl + 1..];
        }
        match memchr::memrchr(b'\n', data) {
            Some(last) => {
                self.scan(&data[..=last]);
                self.extend_partial(&data[last + 1..]);
            }
            None => self.extend_partial(data),
        }
    }

    /// Keeps the start of a line cut by the end of a chunk (at most `max_line_bytes`).
    fn extend_partial(&mut self, data: &[u8]) {
        let room = self
            .limits
            .max_line_bytes
            .max(1)
            .saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&data[..data.len().min(room)]);
    }

    pub(super) fn end_partial_line(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.on_line(&line);
        }
    }

    /// Whole lines (`buf` ends with `\n`): noise is skipped a candidate at a time.
    fn scan(&mut self, buf: &[u8]) {
        let mut pos = 0;
        while pos < buf.len() {
            if self.line_by_line() {
                let end = pos + memchr::memchr(b'\n', &buf[pos..]).unwrap_or(buf.len() - pos - 1);
                self.on_line(&buf[pos..end.min(pos + self.limits.max_line_bytes)]);
                pos = end + 1;
                continue;
            }
            let Some(hit) = PREFILTER.find(&buf[pos..]) else {
                self.skip(&buf[pos..]);
                return;
            };
            let at = pos + hit.start();
            let start = memchr::memrchr(b'\n', &buf[pos..at]).map_or(pos, |i| pos + i + 1);
            self.skip(&buf[pos..start]);
            let end = at + memchr::memchr(b'\n', &buf[at..]).unwrap_or(buf.len() - at - 1);
            self.on_line(&buf[start..end.min(start + self.limits.max_line_bytes)]);
            pos = end + 1;
        }
    }

    fn line_by_line(&self) -> bool {
        self.open.is_some() || self.run_group.is_some() || self.failures_block
    }

    /// Whole lines without a candidate: counted, and the last few remembered as context.
    fn skip(&mut self, span: &[u8]) {
        let Some(last) = span.len().checked_sub(1) else {
            return;
        };
        let lines = memchr::memchr_iter(b'\n', span).count() as u64;
        // The newline before the last `before` lines, found from the end.
        let mut boundary = Some(last);
        for _ in 0..self.limits.before.min(lines as usize) {
            boundary = boundary.and_then(|b| memchr::memrchr(b'\n', &span[..b]));
        }
        let tail = &span[boundary.map_or(0, |b| b + 1)..];
        let tail_lines = memchr::memchr_iter(b'\n', tail).count() as u64;
        self.line_no += lines - tail_lines;
        for line in tail.split(|&b| b == b'\n').take(tail_lines as usize) {
            self.line_no += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let (_, text) = split_timestamp(line);
            self.history.remember(
                self.line_no,
                text,
                self.limits.max_line_bytes,
                self.limits.before,
            );
        }
    }
}
