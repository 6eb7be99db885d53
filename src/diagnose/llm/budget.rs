//! Fitting the prompt to its token budget (estimated as characters / 4).
//!
//! In order, stopping as soon as the prompt fits:
//! 1. the largest evidence items are cut to their head and tail, the largest first and down
//!    to a common level (never below [`EVIDENCE_FLOOR`] characters);
//! 2. whole findings are left out, lowest ranked first: healthy, then unknown, degraded, down;
//!    the rules engine's root-cause node is never left out;
//! 3. the remaining evidence items are left out, the largest first.
//!
//! The topology, the rules engine's diagnosis and the debug history are never cut: without
//! them the model could name a node that does not exist or repeat a fix that failed.

use super::prompt::{Draft, TrimReport};

/// Evidence is not cut below this many characters: a shorter excerpt says too little.
pub const EVIDENCE_FLOOR: usize = 200;
/// Room for the `[… N characters cut …]` mark that replaces the middle of a cut text.
const MARK_ROOM: usize = 40;

pub(crate) fn fit(draft: &mut Draft, system_chars: usize, max_tokens: usize) -> TrimReport {
    let budget = max_tokens.saturating_mul(4);
    let over = |d: &Draft| (system_chars + d.render().chars().count()).saturating_sub(budget);
    let mut report = TrimReport::default();

    // 1. Cut the largest evidence first; a few rounds absorb the marks the cuts add.
    for _ in 0..8 {
        let excess = over(draft);
        if excess == 0 {
            return report;
        }
        let lens: Vec<usize> = draft
            .findings
            .iter()
            .flat_map(|f| &f.evidence)
            .map(|e| e.len())
            .collect();
        let Some(level) = level_for(&lens, excess) else {
            break;
        };
        for e in draft
            .findings
            .iter_mut()
            .flat_map(|f| f.evidence.iter_mut())
        {
            if e.len() > level {
                if e.limit.is_none() {
                    report.shortened += 1;
                }
                e.limit = Some(level);
            }
        }
    }

    // 2. Leave out whole findings, lowest ranked first (they are sorted worst first).
    while over(draft) > 0 {
        let Some(i) = draft.findings.iter().rposition(|f| !f.protected) else {
            break;
        };
        let f = draft.findings.remove(i);
        report.dropped_findings.push(f.node.clone());
        draft.dropped.push((f.node, f.status));
    }

    // 3. Leave out evidence, the largest first.
    while over(draft) > 0 {
        let largest = draft
            .findings
            .iter()
            .enumerate()
            .flat_map(|(fi, f)| {
                f.evidence
                    .iter()
                    .enumerate()
                    .map(move |(ei, e)| (e.len(), fi, ei))
            })
            .max_by_key(|&(len, fi, _)| (len, fi));
        let Some((_, fi, ei)) = largest else {
            break;
        };
        draft.findings[fi].evidence.remove(ei);
        draft.findings[fi].evidence_dropped += 1;
        report.dropped_evidence += 1;
    }
    report.over_budget = over(draft) > 0;
    report
}

/// The highest level such that cutting every item above it to it saves `excess` characters
/// (plus room for the marks); `None` when nothing is above the floor.
fn level_for(lens: &[usize], excess: usize) -> Option<usize> {
    let max = lens.iter().copied().max()?;
    if max <= EVIDENCE_FLOOR {
        return None;
    }
    let saved = |level: usize| -> usize {
        lens.iter()
            .filter(|&&l| l > level)
            .map(|&l| (l - level).saturating_sub(MARK_ROOM))
            .sum()
    };
    if saved(EVIDENCE_FLOOR) <= excess {
        return Some(EVIDENCE_FLOOR);
    }
    // saved() falls as the level rises: find the highest level that still saves enough.
    let (mut lo, mut hi) = (EVIDENCE_FLOOR, max);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if saved(mid) >= excess {
            lo = mid
        } else {
            hi = mid - 1
        }
    }
    Some(lo)
}

/// `text` if it has at most `max` characters; otherwise its first third and last two thirds
/// of `max` characters (a log's error is usually at its end), with a mark between them.
pub fn shorten(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let head = max / 3;
    let tail = max - head;
    let head_end = text.char_indices().nth(head).map_or(text.len(), |(i, _)| i);
    let tail_start = text
        .char_indices()
        .nth(count - tail)
        .map_or(text.len(), |(i, _)| i);
    format!(
        "{}\n[… {} characters cut …]\n{}",
        &text[..head_end],
        count - max,
        &text[tail_start..]
    )
}
