//! `cloudwatch`: a log group's error lines since the deploy began.

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use chrono::{DateTime, DurationRound, Utc};
use fixpoint::skills::Status;
use fixpoint::skills::cloudwatch::{ScanBounds, check_logs};
use fixpoint::topology::{CheckTarget, SkillKind};
use serde_json::json;

use crate::support::aws_stub::Reply;
use crate::{check, context, evidence, metric, moto_config};

fn target(group: &str) -> CheckTarget {
    CheckTarget::Logs {
        group: group.into(),
        region: None,
    }
}

/// A minute boundary `n` minutes back, so per-minute counts are exact.
fn minute(n: i64) -> DateTime<Utc> {
    (Utc::now() - chrono::Duration::minutes(n))
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap()
}

fn at(t: DateTime<Utc>, seconds: i64) -> i64 {
    (t + chrono::Duration::seconds(seconds)).timestamp_millis()
}

/// Creates `group` in moto with one stream per entry, each holding `(epoch ms, message)` events.
async fn put_logs(group: &str, streams: Vec<(&str, Vec<(i64, String)>)>) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto_config().await);
    logs.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .unwrap();
    for (stream, mut events) in streams {
        logs.create_log_stream()
            .log_group_name(group)
            .log_stream_name(stream)
            .send()
            .await
            .unwrap();
        events.sort_by_key(|(t, _)| *t);
        let events: Vec<InputLogEvent> = events
            .into_iter()
            .map(|(t, m)| {
                InputLogEvent::builder()
                    .timestamp(t)
                    .message(m)
                    .build()
                    .unwrap()
            })
            .collect();
        logs.put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(events))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn error_bursts_are_counted_per_minute_with_the_first_error_and_top_signature() {
    let group = "/ecs/payments-api-burst";
    let since = minute(8);
    let mut web = vec![(
        at(since, -30),
        "ERROR pool timed out after 30000ms (conn 1) before the deploy".to_string(),
    )];
    web.extend((0..30).map(|i| (at(since, i), format!("INFO GET /health 200 {i}ms"))));
    web.extend((0..5).map(|i| {
        (
            at(since, 60 + 5 + i),
            format!("ERROR pool timed out after {}ms (conn {i})", 30000 + i),
        )
    }));
    web.extend((0..10).map(|i| {
        (
            at(since, 120 + i * 3),
            format!("ERROR pool timed out after 30000ms (conn {})", 10 + i),
        )
    }));
    web.push((
        at(since, 150),
        "FATAL could not connect to server: Connection refused (host 10.0.3.17 port 5432)".into(),
    ));
    web.push((
        at(since, 151),
        "FATAL could not connect to server: Connection refused (host 10.0.3.18 port 5432)".into(),
    ));
    let worker = vec![
        (at(since, 200), "thread 'main' panicked at src/queue.rs:88:14: called `Result::unwrap()` on an `Err` value".to_string()),
        (at(since, 201), "INFO worker restarting".into()),
    ];
    put_logs(
        group,
        vec![("ecs/web/0a1b2c", web), ("ecs/worker/3d4e5f", worker)],
    )
    .await;

    let obs = check(SkillKind::Cloudwatch, target(group), since)
        .await
        .unwrap();

    // 18 errors in 50 lines, at most 12 in a minute: degraded, not down.
    assert_eq!(obs.status, Status::Degraded, "{obs:#?}");
    assert_eq!(metric(&obs, "events_read"), 49.0);
    assert_eq!(metric(&obs, "errors_total"), 18.0);
    assert_eq!(metric(&obs, "errors_per_minute_max"), 12.0);
    assert_eq!(metric(&obs, "error_minutes"), 3.0);
    assert_eq!(metric(&obs, "error_signatures"), 3.0);
    assert_eq!(
        metric(&obs, "first_error_epoch_s"),
        (at(since, 65) / 1000) as f64
    );
    assert_eq!(
        metric(&obs, "last_error_epoch_s"),
        (at(since, 200) / 1000) as f64
    );
    assert_eq!(metric(&obs, "bound_hit"), 0.0);
    assert!(
        obs.summary
            .starts_with("18 error lines in 49 events since ")
            && obs
                .summary
                .ends_with("; top: ERROR pool timed out after # (conn #)"),
        "{}",
        obs.summary
    );

    let ev = evidence(&obs, "logs:/ecs/payments-api-burst");
    assert_eq!(
        ev[0].text,
        "first error [ecs/web/0a1b2c]: ERROR pool timed out after 30000ms (conn 0)"
    );
    assert_eq!(ev[0].at.map(|t| t.timestamp_millis()), Some(at(since, 65)));
    assert_eq!(
        ev[1].text,
        "15× ERROR pool timed out after # (conn #) | e.g. ERROR pool timed out after 30000ms (conn 0)"
    );
    assert!(
        ev[2].text.starts_with(
            "2× FATAL could not connect to server: Connection refused (host # port #)"
        ),
        "{}",
        ev[2].text
    );
    assert!(
        ev[3].text.starts_with("1× thread \"…\" panicked at"),
        "{}",
        ev[3].text
    );
    let per_minute = ev.last().unwrap();
    let hhmm = |m: i64| {
        (since + chrono::Duration::minutes(m))
            .format("%H:%M")
            .to_string()
    };
    assert_eq!(
        per_minute.text,
        format!(
            "errors per minute: {} 5, {} 12, {} 1",
            hhmm(1),
            hhmm(2),
            hhmm(3)
        )
    );
}

#[tokio::test]
async fn thirty_errors_in_a_minute_is_down() {
    let group = "/ecs/checkout-crashloop";
    let since = minute(5);
    let mut lines: Vec<(i64, String)> = (0..100)
        .map(|i| (at(since, i / 2), format!("INFO request {i} ok")))
        .collect();
    lines.extend((0..40).map(|i| {
        (
            at(since, 60 + i),
            format!("ERROR upstream inventory returned 503 (attempt {i})"),
        )
    }));
    put_logs(group, vec![("ecs/web/9f8e7d", lines)]).await;

    let obs = check(SkillKind::Cloudwatch, target(group), since)
        .await
        .unwrap();

    assert_eq!(obs.status, Status::Down, "{obs:#?}");
    assert_eq!(metric(&obs, "errors_total"), 40.0);
    assert_eq!(metric(&obs, "errors_per_minute_max"), 40.0);
}

#[tokio::test]
async fn a_group_without_errors_is_healthy() {
    let group = "/ecs/quiet-api";
    let since = minute(5);
    put_logs(
        group,
        vec![(
            "ecs/web/1",
            (0..20)
                .map(|i| (at(since, i), format!("INFO GET /orders/{i} 200")))
                .collect(),
        )],
    )
    .await;
    put_logs("/ecs/silent-api", vec![]).await;

    let quiet = check(SkillKind::Cloudwatch, target(group), since)
        .await
        .unwrap();
    let silent = check(SkillKind::Cloudwatch, target("/ecs/silent-api"), since)
        .await
        .unwrap();

    assert_eq!(quiet.status, Status::Healthy);
    assert_eq!(
        quiet.summary,
        format!(
            "no error lines in 20 events since {}",
            since.format("%H:%M:%SZ")
        )
    );
    assert_eq!(metric(&quiet, "errors_total"), 0.0);
    assert!(!quiet.metrics.contains_key("first_error_epoch_s"));
    assert_eq!(silent.status, Status::Healthy);
    assert_eq!(
        silent.summary,
        format!("no log events since {}", since.format("%H:%M:%SZ"))
    );
}

/// A service that logs its own credentials on failure: the secret is gone from everything
/// the check says, including the signature the errors are folded under (folding digits
/// first once left `wJalrXUtnFEMI/K#/bPx…` for the redactor to miss).
#[tokio::test]
async fn a_secret_in_an_error_line_is_redacted_before_it_is_folded_or_cut() {
    let group = "/ecs/leaky-api";
    let since = minute(5);
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let line = format!(
        "ERROR cannot sign request: SecretAccessKey={secret} AccessKeyId=AKIAIOSFODNN7EXAMPLE"
    );
    put_logs(
        group,
        vec![(
            "ecs/web/1",
            (0..3).map(|i| (at(since, i), line.clone())).collect(),
        )],
    )
    .await;
    let obs = check(SkillKind::Cloudwatch, target(group), since)
        .await
        .unwrap();
    assert_eq!(metric(&obs, "errors_total"), 3.0);
    let said = format!("{} {:?}", obs.summary, obs.evidence);
    for fragment in ["wJalr", "K7MDENG", "bPxRfiCY", "EXAMPLEKEY"] {
        assert!(!said.contains(fragment), "`{fragment}` in {said}");
    }
    assert!(obs.summary.contains("SecretAccessKey="), "{}", obs.summary);
}

#[tokio::test]
async fn a_missing_log_group_is_unknown_and_says_so() {
    let obs = check(
        SkillKind::Cloudwatch,
        target("/ecs/never-created"),
        minute(5),
    )
    .await
    .unwrap();
    assert_eq!(obs.status, Status::Unknown);
    assert_eq!(
        obs.summary,
        "log group /ecs/never-created does not exist in us-east-1: nothing to read"
    );
}

#[tokio::test]
async fn the_scan_is_bounded_and_says_when_the_bound_was_hit() {
    let group = "/ecs/chatty-api";
    let since = minute(5);
    put_logs(
        group,
        vec![(
            "ecs/web/1",
            (0..25)
                .map(|i| (at(since, i), format!("ERROR retry {i} failed")))
                .collect(),
        )],
    )
    .await;
    let bounds = ScanBounds {
        max_pages: 10,
        max_events: 15,
        page_size: Some(10),
    };

    let obs = check_logs(group, None, &context(since), bounds)
        .await
        .unwrap();

    assert_eq!(metric(&obs, "events_read"), 15.0);
    assert_eq!(metric(&obs, "errors_total"), 15.0);
    assert_eq!(metric(&obs, "pages_read"), 2.0);
    assert_eq!(metric(&obs, "bound_hit"), 1.0);
    assert!(
        obs.summary
            .ends_with(" (read the first 15 events only: bound reached)"),
        "{}",
        obs.summary
    );
}

// ---- empty pages: served by the stub -------------------------------------------------------
//
// CloudWatch Logs can answer a FilterLogEvents page with no events and a nextToken (it searched
// part of the time range and has more to search). moto always fills its pages, so the stub
// serves these pages, shaped as the API reference documents FilterLogEvents (awsJson1.1).

fn page(events: Vec<(i64, &str)>, next: Option<&str>) -> Reply {
    let events: Vec<serde_json::Value> = events
        .iter()
        .enumerate()
        .map(|(i, (t, m))| {
            json!({
                "logStreamName": "ecs/web/5a6b7c",
                "timestamp": t,
                "message": m,
                "ingestionTime": t + 250,
                "eventId": format!("3803496219486731234567890123456789012345678901234{i:05}")
            })
        })
        .collect();
    let mut body = json!({
        "events": events,
        "searchedLogStreams": [{"logStreamName": "ecs/web/5a6b7c", "searchedCompletely": next.is_none()}]
    });
    if let Some(next) = next {
        body["nextToken"] = json!(next);
    }
    Reply::AwsJson(200, body)
}

#[tokio::test]
async fn empty_pages_with_a_next_token_are_followed() {
    let group = "/stub/empty-pages";
    let since = minute(5);
    let (t1, t2) = (at(since, 10), at(since, 70));
    crate::aws().stub.on_json("Logs_20140328.FilterLogEvents", "logGroupName", group, move |call| {
        match call.json()["nextToken"].as_str() {
            None => page(vec![(t1, "INFO started"), (t1 + 1, "INFO listening on :8080")], Some("tok-1")),
            Some("tok-1") => page(vec![], Some("tok-2")),
            Some("tok-2") => page(vec![], Some("tok-3")),
            Some("tok-3") => page(vec![(t2, "ERROR payment provider timed out after 10s")], None),
            Some(other) => Reply::AwsJson(400, json!({"__type": "InvalidParameterException", "message": format!("unexpected token {other}")})),
        }
    });

    let obs = check(SkillKind::Cloudwatch, target(group), since)
        .await
        .unwrap();

    assert_eq!(metric(&obs, "pages_read"), 4.0, "{obs:#?}");
    assert_eq!(metric(&obs, "events_read"), 3.0);
    assert_eq!(metric(&obs, "errors_total"), 1.0);
    assert_eq!(metric(&obs, "first_error_epoch_s"), (t2 / 1000) as f64);
    assert_eq!(obs.status, Status::Degraded);
    let calls = crate::aws()
        .stub
        .calls(|c| c.json()["logGroupName"] == group);
    assert!(
        calls
            .iter()
            .all(|c| c.json()["startTime"] == since.timestamp_millis()),
        "reads from the deploy's start"
    );
}

#[tokio::test]
async fn endless_empty_pages_stop_at_the_page_bound() {
    let group = "/stub/endless-empty-pages";
    crate::aws().stub.on_json(
        "Logs_20140328.FilterLogEvents",
        "logGroupName",
        group,
        |call| {
            let n: u32 = call.json()["nextToken"]
                .as_str()
                .and_then(|t| t.strip_prefix("tok-")?.parse().ok())
                .unwrap_or(0);
            page(vec![], Some(&format!("tok-{}", n + 1)))
        },
    );
    let bounds = ScanBounds {
        max_pages: 7,
        ..ScanBounds::DEFAULT
    };

    let obs = check_logs(group, None, &context(minute(5)), bounds)
        .await
        .unwrap();

    assert_eq!(metric(&obs, "pages_read"), 7.0);
    assert_eq!(metric(&obs, "bound_hit"), 1.0);
    assert_eq!(obs.status, Status::Healthy);
    assert!(
        obs.summary
            .ends_with("(stopped after 7 pages: bound reached)"),
        "{}",
        obs.summary
    );
}
