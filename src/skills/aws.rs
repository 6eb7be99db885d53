//! What the AWS skills share: reading CloudWatch metrics (Lambda, SQS), turning an SDK error
//! into a one-line cause, clipping evidence, and converting AWS timestamps.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_sdk_cloudwatchlogs::config::http::HttpResponse;
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::primitives::DateTime as SmithyTime;
use chrono::{DateTime, Utc};

/// Evidence lines are cut to this many characters.
pub(super) const MAX_EVIDENCE_CHARS: usize = 300;

/// One CloudWatch metric to read over one-minute periods.
pub(super) struct MetricQuery<'a> {
    /// Lower-case, unique in one request (CloudWatch's rule for query ids).
    pub id: &'static str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub dimension: (&'a str, &'a str),
    /// `Sum`, `Maximum` …
    pub stat: &'static str,
}

/// Datapoints `(time, value)` per query id, newest first, from `since` (at least the last five
/// minutes) until now. `Err` carries a one-line cause: no permission, or an endpoint that does
/// not speak the SDK's protocol (Smithy RPC v2 CBOR for CloudWatch).
pub(super) async fn read_metrics(
    config: &aws_config::SdkConfig,
    since: DateTime<Utc>,
    queries: &[MetricQuery<'_>],
) -> Result<BTreeMap<String, Vec<(DateTime<Utc>, f64)>>, String> {
    const MAX_PAGES: usize = 10;
    let client = aws_sdk_cloudwatch::Client::new(config);
    let now = Utc::now();
    let start = since.min(now - chrono::Duration::minutes(5));
    let mut out: BTreeMap<String, Vec<(DateTime<Utc>, f64)>> = BTreeMap::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut request = client
            .get_metric_data()
            .start_time(SmithyTime::from_millis(start.timestamp_millis()))
            .end_time(SmithyTime::from_millis(now.timestamp_millis()))
            .set_next_token(token.clone());
        for q in queries {
            let metric = Metric::builder()
                .namespace(q.namespace)
                .metric_name(q.name)
                .dimensions(
                    Dimension::builder()
                        .name(q.dimension.0)
                        .value(q.dimension.1)
                        .build(),
                )
                .build();
            let stat = MetricStat::builder()
                .metric(metric)
                .period(60)
                .stat(q.stat)
                .build();
            request = request.metric_data_queries(
                MetricDataQuery::builder()
                    .id(q.id)
                    .metric_stat(stat)
                    .return_data(true)
                    .build(),
            );
        }
        let page = request.send().await.map_err(|e| aws_cause(&e))?;
        for result in page.metric_data_results() {
            let points = out
                .entry(result.id().unwrap_or_default().to_string())
                .or_default();
            for (t, v) in result.timestamps().iter().zip(result.values()) {
                points.push((utc(t).unwrap_or(now), *v));
            }
        }
        match page.next_token() {
            Some(next) if token.as_deref() != Some(next) => token = Some(next.to_string()),
            _ => break,
        }
    }
    for points in out.values_mut() {
        points.sort_by_key(|p| std::cmp::Reverse(p.0));
    }
    Ok(out)
}

/// One line saying why an AWS call failed: `Code: message` for a service error, else the
/// error chain (connection refused, timeout, no credentials …).
pub(super) fn aws_cause<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let cause = match err {
        SdkError::ServiceError(e) => match (e.err().code(), e.err().message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            (None, _) => format!(
                "HTTP {} with no error code the SDK could read",
                e.raw().status().as_u16()
            ),
        },
        other => {
            let mut chain = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                let text = s.to_string();
                if !chain.contains(&text) {
                    chain.push_str(": ");
                    chain.push_str(&text);
                }
                source = s.source();
            }
            chain
        }
    };
    clip(&cause, MAX_EVIDENCE_CHARS)
}

/// `text` cut to `max` characters (on a char boundary), with `…` when cut.
pub(super) fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

pub(super) fn utc(t: &SmithyTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}
