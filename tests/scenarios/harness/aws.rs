//! AWS for an incident: moto_server (one per test process) holds the log groups, queues and
//! functions; a loopback stub in front of it answers what moto cannot make, in each service's
//! own wire format, and passes everything else through. The skills reach both the way they do
//! in production: the standard credential chain and `AWS_ENDPOINT_URL`, pointed at the stub.
//!
//! What the stub answers, and why (moto 5.2.5):
//! - ECS (see `ecs.rs`): moto's services never launch tasks, its containers always exit 0, its
//!   service `events` stay empty and its rollouts never fail.
//! - CloudWatch `GetMetricData` (Lambda throttles, SQS message age): moto does not speak the
//!   Smithy RPC v2 CBOR protocol aws-sdk-cloudwatch uses.

use std::collections::BTreeMap;
use std::io::Write;

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use chrono::{DateTime, Utc};

use crate::support::aws_stub::{AwsStub, metric_data};
use crate::support::moto::{self, ACCOUNT, Moto, REGION};

pub struct Aws {
    pub moto: &'static Moto,
    pub stub: AwsStub,
    /// Straight at moto, for setting the scene up.
    setup: aws_config::SdkConfig,
}

impl Aws {
    /// Resets moto, starts a new stub in front of it and points the SDK's environment at it.
    /// Called with the incident lock held (see `Incident::begin`).
    pub(super) async fn fresh() -> Aws {
        let moto = tokio::task::spawn_blocking(|| {
            let moto = Moto::shared();
            moto.reset();
            store_lambdas_without_running_them(moto);
            moto
        })
        .await
        .expect("moto starts");
        let stub = AwsStub::start(moto.endpoint());
        // SAFETY: the incident lock is held and no sweep has started: nothing else in this
        // process reads the environment while it changes (see `Incident::var`).
        unsafe { moto::point_aws_sdk_at(stub.url()) };
        let setup = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(moto.endpoint())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                "test", "test", None, None, "moto",
            ))
            .load()
            .await;
        Aws { moto, stub, setup }
    }

    // ---- CloudWatch Logs (moto) ----------------------------------------------------------

    /// A log group holding what the service printed: `(stream, time, line)`.
    pub async fn logs(&self, group: &str, lines: Vec<(&str, DateTime<Utc>, String)>) {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.setup);
        logs.create_log_group()
            .log_group_name(group)
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto: create log group {group}: {e:?}"));
        let mut streams: BTreeMap<&str, Vec<(i64, String)>> = BTreeMap::new();
        for (stream, at, line) in lines {
            streams
                .entry(stream)
                .or_default()
                .push((at.timestamp_millis(), line));
        }
        for (stream, mut events) in streams {
            logs.create_log_stream()
                .log_group_name(group)
                .log_stream_name(stream)
                .send()
                .await
                .unwrap_or_else(|e| panic!("moto: create log stream {stream}: {e:?}"));
            events.sort_by_key(|(t, _)| *t);
            let events: Vec<InputLogEvent> = events
                .into_iter()
                .map(|(t, m)| {
                    InputLogEvent::builder()
                        .timestamp(t)
                        .message(m)
                        .build()
                        .expect("a log event")
                })
                .collect();
            logs.put_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .set_log_events(Some(events))
                .send()
                .await
                .unwrap_or_else(|e| panic!("moto: put log events in {group}/{stream}: {e:?}"));
        }
    }

    // ---- SQS (moto) ----------------------------------------------------------------------

    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.setup)
    }

    /// A queue, with a dead-letter queue after `max_receives` when given; returns its URL.
    pub async fn queue(&self, name: &str, dead_letters: Option<(&str, u32)>) -> String {
        let sqs = self.sqs();
        let mut attributes = vec![(QueueAttributeName::VisibilityTimeout, "30".to_string())];
        if let Some((dlq, max_receives)) = dead_letters {
            sqs.create_queue()
                .queue_name(dlq)
                .send()
                .await
                .expect("moto creates the DLQ");
            let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{dlq}");
            attributes.push((
                QueueAttributeName::RedrivePolicy,
                format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"{max_receives}"}}"#),
            ));
        }
        sqs.create_queue()
            .queue_name(name)
            .set_attributes(Some(attributes.into_iter().collect()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto: create queue {name}: {e:?}"))
            .queue_url()
            .expect("a queue URL")
            .to_string()
    }

    /// The producer sends `count` messages (in batches of ten, as SDKs do).
    pub async fn send(&self, queue_url: &str, count: usize, body: impl Fn(usize) -> String) {
        let sqs = self.sqs();
        let ids: Vec<usize> = (0..count).collect();
        for chunk in ids.chunks(10) {
            let entries = chunk
                .iter()
                .map(|i| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(body(*i))
                        .build()
                        .expect("a batch entry")
                })
                .collect();
            let out = sqs
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("moto takes the batch");
            assert!(out.failed().is_empty(), "{:?}", out.failed());
        }
    }

    /// A consumer that receives every message and never deletes one: each comes back when
    /// its visibility lapses, until SQS moves it to the dead-letter queue. Stops once
    /// `dead` messages are there.
    pub async fn fail_every_message(&self, queue_url: &str, dlq: &str, dead: usize) {
        let sqs = self.sqs();
        let dlq_url = sqs
            .get_queue_url()
            .queue_name(dlq)
            .send()
            .await
            .expect("the DLQ exists")
            .queue_url()
            .expect("a URL")
            .to_string();
        for _ in 0..500 {
            let depth = sqs
                .get_queue_attributes()
                .queue_url(&dlq_url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .send()
                .await
                .expect("DLQ attributes");
            let n: usize = depth
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if n >= dead {
                return;
            }
            sqs.receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .send()
                .await
                .expect("receive");
        }
        panic!("SQS never dead-lettered {dead} messages");
    }

    /// What CloudWatch says of a queue's oldest message (`ApproximateAgeOfOldestMessage`).
    pub fn oldest_message_age(&self, queue: &str, age_s: f64) {
        self.stub.on_metric_data(queue, move |call| {
            metric_data(call, &[("oldest", vec![age_s])])
        });
    }

    // ---- Lambda (moto) and its CloudWatch metrics (stub) --------------------------------

    /// A function (stored by moto, never run), with reserved concurrency when given.
    pub async fn function(&self, name: &str, reserved: Option<i32>) {
        let role = self.moto.create_lambda_role("scenario-lambda-role");
        let lambda = aws_sdk_lambda::Client::new(&self.setup);
        lambda
            .create_function()
            .function_name(name)
            .runtime(Runtime::Python312)
            .role(role)
            .handler("index.handler")
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(handler_zip()))
                    .build(),
            )
            .memory_size(256)
            .timeout(30)
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto: create function {name}: {e:?}"));
        if let Some(reserved) = reserved {
            lambda
                .put_function_concurrency()
                .function_name(name)
                .reserved_concurrent_executions(reserved)
                .send()
                .await
                .expect("moto sets reserved concurrency");
        }
    }

    /// Another team's function at reserved concurrency 0: every invocation throttled, about
    /// 200 a minute. Loud, and a plausible rival to whatever an incident is about.
    pub async fn throttled_function(&self, name: &str) {
        self.function(name, Some(0)).await;
        self.function_metrics(name, vec![0.0, 0.0], vec![0.0, 0.0], vec![210.0, 190.0]);
    }

    /// What CloudWatch says of a function since the deploy: per-minute sums, newest first.
    pub fn function_metrics(
        &self,
        name: &str,
        invocations: Vec<f64>,
        errors: Vec<f64>,
        throttles: Vec<f64>,
    ) {
        self.stub.on_metric_data(name, move |call| {
            metric_data(
                call,
                &[
                    ("invocations", invocations.clone()),
                    ("errors", errors.clone()),
                    ("throttles", throttles.clone()),
                ],
            )
        });
    }
}

/// Moto's Lambda stores functions without running them (no Docker here). `Moto::start` says
/// so once; say it again after every reset, which may forget it.
fn store_lambdas_without_running_them(moto: &Moto) {
    let addr = moto.endpoint().trim_start_matches("http://").to_string();
    let body = r#"{"lambda":{"use_docker":false}}"#;
    let request = format!(
        "POST /moto-api/config HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(&addr).expect("moto answers");
    stream.write_all(request.as_bytes()).expect("moto config");
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).expect("moto config answer");
    assert!(
        answer.starts_with("HTTP/1.1 2"),
        "moto refused its lambda config: {answer}"
    );
}

fn handler_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("index.py", zip::write::SimpleFileOptions::default())
        .expect("zip entry");
    zip.write_all(b"def handler(event, context):\n    return {'ok': True}\n")
        .expect("zip write");
    zip.finish().expect("zip").into_inner()
}
