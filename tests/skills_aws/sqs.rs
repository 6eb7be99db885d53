//! `sqs`: depths, redrive policy, dead-letter queue, age of the oldest message.

use std::collections::HashMap;

use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use ciborium::Value as Cbor;
use fixpoint::skills::Status;
use fixpoint::topology::{CheckTarget, SkillKind};

use crate::support::aws_stub::{Reply, cbor_map, cbor_time, field};
use crate::support::moto::{ACCOUNT, REGION};
use crate::{aws, check, evidence, metric, minutes_ago, moto_config};

async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&moto_config().await)
}

async fn create_queue(name: &str, attributes: HashMap<QueueAttributeName, String>) -> String {
    let out = sqs()
        .await
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .unwrap();
    out.queue_url().unwrap().to_string()
}

async fn send(url: &str, count: usize, prefix: &str) {
    let client = sqs().await;
    for chunk in (0..count).collect::<Vec<_>>().chunks(10) {
        let entries = chunk
            .iter()
            .map(|i| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(format!("{{\"{prefix}\": {i}}}"))
                    .build()
                    .unwrap()
            })
            .collect();
        let out = client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    }
}

fn target(queue: &str, dlq: Option<&str>) -> CheckTarget {
    CheckTarget::Sqs {
        queue: queue.into(),
        dlq: dlq.map(str::to_string),
        region: None,
    }
}

#[tokio::test]
async fn a_backlog_and_a_dead_letter_queue_holding_messages_degrade_a_queue() {
    create_queue("orders-dlq", HashMap::new()).await;
    let dlq_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:orders-dlq");
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"3"}}"#);
    let url = create_queue(
        "orders",
        HashMap::from([(QueueAttributeName::RedrivePolicy, policy)]),
    )
    .await;
    send(&url, 120, "order").await;
    let client = sqs().await;
    for i in 0..3 {
        client
            .send_message()
            .queue_url(&url)
            .message_body(format!("later {i}"))
            .delay_seconds(600)
            .send()
            .await
            .unwrap();
    }
    let received = client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(5)
        .visibility_timeout(600)
        .send()
        .await
        .unwrap();
    assert_eq!(received.messages().len(), 5);
    let dlq_url = client
        .get_queue_url()
        .queue_name("orders-dlq")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    send(&dlq_url, 4, "poison").await;

    let obs = check(SkillKind::Sqs, target("orders", None), minutes_ago(10))
        .await
        .unwrap();

    assert_eq!(obs.status, Status::Degraded, "{obs:#?}");
    assert_eq!(metric(&obs, "visible"), 115.0);
    assert_eq!(metric(&obs, "in_flight"), 5.0);
    assert_eq!(metric(&obs, "delayed"), 3.0);
    assert_eq!(metric(&obs, "dlq_visible"), 4.0);
    assert_eq!(metric(&obs, "max_receive_count"), 3.0);
    assert_eq!(
        obs.summary,
        "115 visible, 5 in flight, 3 delayed (backlog: 100 or more visible); dead-letter queue orders-dlq holds 4 messages"
    );
    let ev = evidence(&obs, "sqs:orders");
    assert!(ev.iter().any(
        |e| e.text == format!("redrive policy: dead-letter queue {dlq_arn}, maxReceiveCount 3")
    ));
    // moto does not speak CloudWatch's CBOR protocol: the age of the oldest message is not
    // readable there, and the finding says so instead of failing.
    let age = ev
        .iter()
        .find(|e| e.text.starts_with("age of oldest message: not readable: "))
        .expect("says the age is unreadable");
    assert!(age.text.contains("HTTP 404"), "{}", age.text);
    assert!(!obs.metrics.contains_key("age_of_oldest_s"));
}

#[tokio::test]
async fn a_quiet_queue_is_healthy_and_a_dlq_named_by_the_map_is_read() {
    create_queue("invoices-dlq", HashMap::new()).await;
    let url = create_queue("invoices", HashMap::new()).await;
    send(&url, 3, "invoice").await;

    let quiet = check(
        SkillKind::Sqs,
        target(&url, Some("invoices-dlq")),
        minutes_ago(10),
    )
    .await
    .unwrap();

    assert_eq!(quiet.status, Status::Healthy, "{quiet:#?}");
    assert_eq!(metric(&quiet, "visible"), 3.0);
    assert_eq!(metric(&quiet, "dlq_visible"), 0.0);
    assert!(!quiet.metrics.contains_key("max_receive_count"));
    assert!(
        evidence(&quiet, "sqs:invoices")
            .iter()
            .any(|e| e.text == "no redrive policy: failed messages are not dead-lettered")
    );

    let dlq_url = sqs()
        .await
        .get_queue_url()
        .queue_name("invoices-dlq")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    send(&dlq_url, 2, "bad-invoice").await;
    let dead = check(
        SkillKind::Sqs,
        target(&url, Some("invoices-dlq")),
        minutes_ago(10),
    )
    .await
    .unwrap();
    assert_eq!(dead.status, Status::Degraded);
    assert_eq!(metric(&dead, "dlq_visible"), 2.0);
}

#[tokio::test]
async fn a_queue_that_does_not_exist_is_an_error_naming_it() {
    let err = check(
        SkillKind::Sqs,
        target("no-such-queue", None),
        minutes_ago(10),
    )
    .await
    .expect_err("missing queue");
    let text = err.to_string();
    assert!(
        text.starts_with("SQS queue no-such-queue does not exist"),
        "{text}"
    );
}

#[tokio::test]
async fn an_old_oldest_message_degrades_a_short_queue() {
    // The age of the oldest message is a CloudWatch metric (AWS/SQS ApproximateAgeOfOldestMessage),
    // which moto cannot serve: CloudWatch speaks Smithy RPC v2 CBOR to this SDK. The stub answers
    // GetMetricData as the CloudWatch API reference documents it.
    let url = create_queue("emails-stuck", HashMap::new()).await;
    send(&url, 2, "email").await;
    let newest = chrono::Utc::now().timestamp() / 60 * 60;
    aws().stub.on_metric_data("emails-stuck", move |call| {
        let queries = field(&call.cbor(), "MetricDataQueries")
            .and_then(|q| q.as_array())
            .cloned()
            .unwrap_or_default();
        let results = queries
            .iter()
            .map(|q| {
                let id = field(q, "Id")
                    .and_then(|i| i.as_text())
                    .unwrap_or_default()
                    .to_string();
                cbor_map(vec![
                    ("Id", Cbor::Text(id)),
                    ("Label", Cbor::Text("ApproximateAgeOfOldestMessage".into())),
                    (
                        "Timestamps",
                        Cbor::Array(vec![cbor_time(newest), cbor_time(newest - 60)]),
                    ),
                    (
                        "Values",
                        Cbor::Array(vec![Cbor::Float(1800.0), Cbor::Float(1740.0)]),
                    ),
                    ("StatusCode", Cbor::Text("Complete".into())),
                ])
            })
            .collect();
        Reply::Cbor(
            200,
            cbor_map(vec![
                ("MetricDataResults", Cbor::Array(results)),
                ("Messages", Cbor::Array(vec![])),
            ]),
        )
    });

    let obs = check(
        SkillKind::Sqs,
        target("emails-stuck", None),
        minutes_ago(10),
    )
    .await
    .unwrap();

    assert_eq!(obs.status, Status::Degraded, "{obs:#?}");
    assert_eq!(metric(&obs, "visible"), 2.0);
    assert_eq!(metric(&obs, "age_of_oldest_s"), 1800.0);
    assert_eq!(
        obs.summary,
        "2 visible, 0 in flight, 0 delayed; oldest message 1800 s old"
    );
    let asked = aws().stub.calls(|c| {
        c.is_cloudwatch("GetMetricData") && c.body.windows(12).any(|w| w == b"emails-stuck")
    });
    let request = asked[0].cbor();
    let query = &field(&request, "MetricDataQueries")
        .unwrap()
        .as_array()
        .unwrap()[0];
    let stat = field(query, "MetricStat").unwrap();
    let metric_name = field(field(stat, "Metric").unwrap(), "MetricName")
        .unwrap()
        .as_text();
    assert_eq!(metric_name, Some("ApproximateAgeOfOldestMessage"));
    assert_eq!(field(stat, "Stat").unwrap().as_text(), Some("Maximum"));
}
