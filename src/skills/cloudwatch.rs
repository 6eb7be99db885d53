//! The `cloudwatch` skill: what a log group said since the deploy began. It reads events with
//! `FilterLogEvents` (paginated and bounded), counts error lines per minute, folds them into
//! signatures, and judges by volume.
//!
//! Thresholds (error lines are those `excerpts::is_error_line` recognises):
//! - healthy: no error line since the deploy began (also when nothing was logged; the summary says so);
//! - down: some minute had at least [`DOWN_ERRORS_PER_MINUTE`] error lines, or at least
//!   [`DOWN_MIN_ERRORS`] error lines made up [`DOWN_ERROR_SHARE`] or more of everything logged;
//! - degraded: any other error line;
//! - unknown: the log group does not exist.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use super::aws::{MAX_EVIDENCE_CHARS, aws_cause, clip};
use super::excerpts::{is_error_line, signature};
use super::{Evidence, Observation, Skill, SkillContext, Status};
use crate::topology::{CheckTarget, SkillKind};

/// A minute with this many error lines means the service is down, not merely noisy.
pub const DOWN_ERRORS_PER_MINUTE: u64 = 30;
/// At least this share of all lines being errors (with [`DOWN_MIN_ERRORS`]) means down.
pub const DOWN_ERROR_SHARE: f64 = 0.5;
pub const DOWN_MIN_ERRORS: u64 = 10;
/// Evidence lines are cut to this many characters.
const TOP_SIGNATURES: usize = 5;

pub struct Cloudwatch;

/// How much of a log group one check reads: a sweep must finish even on a very noisy group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanBounds {
    /// `FilterLogEvents` calls, empty pages included.
    pub max_pages: usize,
    pub max_events: usize,
    /// Events per page asked for; `None` lets CloudWatch choose (up to 10 000, 1 MB).
    pub page_size: Option<i32>,
}

impl ScanBounds {
    pub const DEFAULT: ScanBounds = ScanBounds {
        max_pages: 100,
        max_events: 10_000,
        page_size: None,
    };
}

impl Skill for Cloudwatch {
    fn kind(&self) -> SkillKind {
        SkillKind::Cloudwatch
    }

    fn check<'a>(
        &'a self,
        target: &'a CheckTarget,
        ctx: &'a SkillContext,
    ) -> BoxFuture<'a, anyhow::Result<Observation>> {
        Box::pin(async move {
            match target {
                CheckTarget::Logs { group, region } => {
                    check_logs(group, region.as_deref(), ctx, ScanBounds::DEFAULT).await
                }
                other => Err(super::wrong_target(self.kind(), other)),
            }
        })
    }
}

/// One error line worth showing.
struct Line {
    at_ms: i64,
    stream: String,
    text: String,
}

/// Reads `group` since `ctx.since` within `bounds` and judges it by its error lines.
pub async fn check_logs(
    group: &str,
    region: Option<&str>,
    ctx: &SkillContext,
    bounds: ScanBounds,
) -> anyhow::Result<Observation> {
    let config = ctx.aws(region).await;
    let client = aws_sdk_cloudwatchlogs::Client::new(&config);
    let since_ms = ctx.since.timestamp_millis();

    let mut events_read = 0u64;
    let mut pages = 0usize;
    let mut bound_hit = None;
    let mut per_minute: BTreeMap<i64, u64> = BTreeMap::new();
    let mut signatures: HashMap<String, (u64, Line)> = HashMap::new();
    let mut first_error: Option<Line> = None;
    let mut last_error_ms = None;
    let mut token: Option<String> = None;
    'pages: loop {
        if pages == bounds.max_pages {
            bound_hit = Some(format!("stopped after {pages} pages"));
            break;
        }
        pages += 1;
        let page = client
            .filter_log_events()
            .log_group_name(group)
            .start_time(since_ms)
            .set_limit(bounds.page_size)
            .set_next_token(token.clone())
            .send()
            .await;
        let page = match page {
            Ok(page) => page,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                let region = config
                    .region()
                    .map(|r| format!(" in {r}"))
                    .unwrap_or_default();
                return Ok(Observation::new(
                    Status::Unknown,
                    format!("log group {group} does not exist{region}: nothing to read"),
                ));
            }
            Err(err) => anyhow::bail!("cannot read log group {group}: {}", aws_cause(&err)),
        };
        for event in page.events() {
            if events_read as usize == bounds.max_events {
                bound_hit = Some(format!("read the first {} events only", bounds.max_events));
                break 'pages;
            }
            events_read += 1;
            let message = event.message().unwrap_or_default();
            if !is_error_line(message) {
                continue;
            }
            let at_ms = event.timestamp().unwrap_or(since_ms);
            // Redacted before it is folded into a signature or cut: folding digits or
            // cutting first could leave a secret the redactor no longer recognises.
            let redacted = crate::redact::redact(
                message
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or_default()
                    .trim(),
            );
            let text = redacted.as_ref();
            let line = || Line {
                at_ms,
                stream: event.log_stream_name().unwrap_or_default().to_string(),
                text: clip(text, MAX_EVIDENCE_CHARS),
            };
            *per_minute.entry(at_ms.div_euclid(60_000)).or_default() += 1;
            let entry = signatures
                .entry(signature(text))
                .or_insert_with(|| (0, line()));
            entry.0 += 1;
            if at_ms < entry.1.at_ms {
                entry.1 = line();
            }
            if first_error.as_ref().is_none_or(|f| at_ms < f.at_ms) {
                first_error = Some(line());
            }
            last_error_ms = last_error_ms.max(Some(at_ms));
        }
        // A page can be empty while `nextToken` says more exist: keep going (bounded above).
        match page.next_token() {
            Some(next) if token.as_deref() == Some(next) => {
                bound_hit = Some("CloudWatch returned the same nextToken twice".into());
                break;
            }
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }

    let errors: u64 = per_minute.values().sum();
    let max_per_minute = per_minute.values().copied().max().unwrap_or(0);
    let since = ctx.since.format("%H:%M:%SZ");
    let source = format!("logs:{group}");
    let mut obs = Observation::new(Status::Healthy, String::new())
        .metric("events_read", events_read as f64)
        .metric("errors_total", errors as f64)
        .metric("errors_per_minute_max", max_per_minute as f64)
        .metric("error_minutes", per_minute.len() as f64)
        .metric("error_signatures", signatures.len() as f64)
        .metric("pages_read", pages as f64)
        .metric("bound_hit", if bound_hit.is_some() { 1.0 } else { 0.0 });

    let mut ranked: Vec<(String, (u64, Line))> = signatures.into_iter().collect();
    ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.at_ms.cmp(&b.1.1.at_ms)));
    obs.summary = match (&first_error, ranked.first()) {
        (Some(first), Some((top, _))) => {
            obs = obs.metric("first_error_epoch_s", (first.at_ms / 1000) as f64);
            if let Some(last) = last_error_ms {
                obs = obs.metric("last_error_epoch_s", (last / 1000) as f64);
            }
            obs.status = if max_per_minute >= DOWN_ERRORS_PER_MINUTE
                || (errors >= DOWN_MIN_ERRORS
                    && errors as f64 >= DOWN_ERROR_SHARE * events_read as f64)
            {
                Status::Down
            } else {
                Status::Degraded
            };
            format!(
                "{errors} error lines in {events_read} events since {since} (max {max_per_minute}/min), first at {}; top: {}",
                utc_ms(first.at_ms).format("%H:%M:%SZ"),
                clip(top, 120)
            )
        }
        _ if events_read == 0 => format!("no log events since {since}"),
        _ => format!("no error lines in {events_read} events since {since}"),
    };
    if let Some(bound) = &bound_hit {
        obs.summary.push_str(&format!(" ({bound}: bound reached)"));
    }

    if let Some(first) = &first_error {
        obs = obs.evidence(
            Evidence::new(
                &source,
                clip(
                    &format!("first error [{}]: {}", first.stream, first.text),
                    MAX_EVIDENCE_CHARS,
                ),
            )
            .at(utc_ms(first.at_ms)),
        );
    }
    for (sig, (count, example)) in ranked.iter().take(TOP_SIGNATURES) {
        let text = format!("{count}× {} | e.g. {}", clip(sig, 120), example.text);
        obs = obs.evidence(
            Evidence::new(&source, clip(&text, MAX_EVIDENCE_CHARS)).at(utc_ms(example.at_ms)),
        );
    }
    if !per_minute.is_empty() {
        let minutes: Vec<String> = per_minute
            .iter()
            .take(15)
            .map(|(m, n)| format!("{} {n}", utc_ms(m * 60_000).format("%H:%M")))
            .collect();
        let more = per_minute.len().saturating_sub(15);
        let more = if more > 0 {
            format!(" … {more} more minutes")
        } else {
            String::new()
        };
        obs = obs.evidence(Evidence::new(
            &source,
            format!("errors per minute: {}{more}", minutes.join(", ")),
        ));
    }
    Ok(obs)
}

fn utc_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
