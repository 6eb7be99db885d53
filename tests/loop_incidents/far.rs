//! The seed's incident, as the loop meets it. ledger-consumer, the ledger team's service that
//! drains payments-jobs, has crashed at start-up for two hours (its code expects a schema its
//! database does not have yet). The queue backs up; payments-api's readiness check reports the
//! backlog, so the new tasks of its latest deploy (an innocent change to its rates module)
//! fail their health checks and the deploy goes red. payments-api's code and task definition
//! are fine: nothing in its repository can fix this, and any commit there (a revert, more
//! memory) would only move the red to another run. The loop must stop with the diagnosis and
//! the chain, and change nothing.
//!
//! The consumer's queue edge is three hops from payments-api: the repository asks for
//! `topology_depth: 3`. At the default depth of two the same incident still changes nothing,
//! and the stop says how far to look.

use chrono::{DateTime, Duration, Utc};
use fixpoint::domain::LoopStatus;

use crate::story::*;
use crate::support::aws_stub::{AwsStub, metric_data};
use crate::support::http_servers::HttpServers;
use crate::support::lower_env::ServiceNeeds;

// The scenarios' ECS stand-in for a service the world does not play: the ledger team's two
// services are a snapshot, not rollouts (see its module doc for why moto cannot serve them).
#[allow(dead_code)]
#[path = "../scenarios/harness/ecs.rs"]
mod ecs;
use ecs::{Deployment, EcsService, Stopped};

/// The ledger team's cluster: another team's services, beside payments-api's `staging` (whose
/// DescribeTasks the world answers for every task ARN in it).
const LEDGER_CLUSTER: &str = "ledger-staging";
const QUEUE: &str = "payments-jobs";
/// Payments waiting since the consumer went down, and the oldest one's age.
const BACKLOG: usize = 300;
const OLDEST_S: f64 = 7140.0;

/// What payments-api's readiness check says while the backlog is over its limit.
fn readiness() -> String {
    format!("{QUEUE} backlog {BACKLOG} messages, oldest {OLDEST_S} s (limit 250)")
}

/// Used by the ecs stand-in (`super::minutes_ago`).
pub fn minutes_ago(n: i64) -> DateTime<Utc> {
    Utc::now() - Duration::minutes(n)
}

/// A staging service's map: its ECS service and logs in `cluster`, then `nodes` (YAML lines).
fn service_map(service: &str, cluster: &str, nodes: &str) -> String {
    format!(
        "service: {service}\nenvironment: staging\necs: {{cluster: {cluster}, service: {service}}}\nlogs: {{group: /ecs/{service}}}\n{nodes}"
    )
}

/// payments-api's repository keeps its map and, linked from it, copies of the ledger team's
/// maps (links are followed inside the repository only). No single map tells the story:
/// payments-api maps its queue and ledger-api; ledger-api's map links its consumer; the
/// consumer's map says it drains payments-jobs. The consumer is two links from payments-api
/// and its queue edge a third: fixpoint.yml asks for `topology_depth: 3`.
fn maps(ledger_api_health: &str) -> Vec<(String, String)> {
    let queue = format!(
        "{{name: sqs-payments, type: queue, skill: sqs, queue: {QUEUE}, dlq: {QUEUE}-dlq}}"
    );
    let payments = service_map(
        SERVICE,
        CLUSTER,
        &format!(
            "repo: {REPO}\ndownstream:\n  - {queue}\n  - {{name: ledger-api, type: service, skill: http-health, url: \"{ledger_api_health}\", topology: ledger-api.yaml}}\n"
        ),
    );
    let ledger_api = service_map(
        "ledger-api",
        LEDGER_CLUSTER,
        "downstream:\n  - {name: ledger-consumer, type: service, topology: ledger-consumer.yaml}\n",
    );
    let consumer = service_map(
        "ledger-consumer",
        LEDGER_CLUSTER,
        &format!("upstream:\n  - {queue}\n"),
    );
    [
        ("payments-api.yaml", payments),
        ("ledger-api.yaml", ledger_api),
        ("ledger-consumer.yaml", consumer),
    ]
    .into_iter()
    .map(|(file, text)| (format!("{MAPS}/{file}"), text))
    .collect()
}

/// Where the repository keeps the maps the loop reads (fixpoint.yml's `topology:`).
const MAPS: &str = "topology/staging";

/// The repository's fixpoint.yml, with `topology_depth: depth` when given.
fn fixpoint_yml(depth: Option<u32>) -> String {
    let depth = depth
        .map(|d| format!("topology_depth: {d}\n"))
        .unwrap_or_default();
    format!(
        "deploy_workflows: [{WORKFLOW_FILE}]\ntopology: {MAPS}/payments-api.yaml\n{depth}task_definition: task-definition.json\nverify:\n  soak_s: 60\n"
    )
}

/// The SDK, straight at moto, to set the ledger side's queue and logs up.
async fn moto_sdk() -> aws_config::SdkConfig {
    let endpoint = crate::support::moto::Moto::shared().endpoint().to_string();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(crate::support::moto::REGION))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await
}

/// payments-jobs in moto SQS, holding the payments nobody drained (with its dead-letter
/// queue, empty: nothing failed in a handler, nothing ran at all).
async fn backlog(sdk: &aws_config::SdkConfig, stub: &AwsStub) {
    use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dlq = format!("{QUEUE}-dlq");
    sqs.create_queue()
        .queue_name(&dlq)
        .send()
        .await
        .expect("moto creates the DLQ");
    let redrive = format!(
        r#"{{"deadLetterTargetArn":"arn:aws:sqs:{}:{}:{dlq}","maxReceiveCount":"5"}}"#,
        crate::support::moto::REGION,
        crate::support::moto::ACCOUNT
    );
    let url = sqs
        .create_queue()
        .queue_name(QUEUE)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .expect("moto creates payments-jobs")
        .queue_url()
        .expect("a queue URL")
        .to_string();
    for batch in 0..BACKLOG / 10 {
        let entries = (0..10)
            .map(|i| {
                let payment = 8000 + batch * 10 + i;
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(format!("{{\"payment\": {payment}, \"settle\": true}}"))
                    .build()
                    .expect("a batch entry")
            })
            .collect();
        let sent = sqs
            .send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("moto takes the batch");
        assert!(sent.failed().is_empty(), "{:?}", sent.failed());
    }
    // ApproximateAgeOfOldestMessage comes from CloudWatch, whose CBOR protocol moto does not
    // speak: the stub answers it.
    stub.on_metric_data(QUEUE, |call| {
        metric_data(call, &[("oldest", vec![OLDEST_S])])
    });
}

/// What a service printed, into moto's CloudWatch Logs: `(minutes ago, line)` in one stream.
async fn logs(sdk: &aws_config::SdkConfig, group: &str, stream: &str, lines: &[(i64, String)]) {
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    let cw = aws_sdk_cloudwatchlogs::Client::new(sdk);
    cw.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto: create log group {group}: {e:?}"));
    cw.create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto: create log stream {stream}: {e:?}"));
    let events = lines
        .iter()
        .map(|(ago, line)| {
            InputLogEvent::builder()
                .timestamp(minutes_ago(*ago).timestamp_millis())
                .message(line)
                .build()
                .expect("a log event")
        })
        .collect();
    cw.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto: put log events in {group}: {e:?}"));
}

/// The ledger team's side: the consumer restarted and crashed every twelve minutes for two
/// hours (ECS lists the last hour's stops), ledger-api serving steadily.
async fn ledger_consumer_down(stub: &AwsStub) {
    let sdk = moto_sdk().await;
    backlog(&sdk, stub).await;
    let crashed = minutes_ago(125);
    let mut consumer = EcsService::new(LEDGER_CLUSTER, "ledger-consumer")
        .counts(2, 0, 1)
        .task_definition(512, &["LEDGER_DB_URL", "QUEUE_URL"], &[])
        .deployment(
            Deployment::primary(18, "IN_PROGRESS", "ECS deployment in progress.", crashed)
                .counts(2, 0, 1)
                .failed_tasks(10),
        );
    let mut lines = Vec::new();
    for ago in (12..=120).rev().step_by(12) {
        // ECS lists a stopped task for about an hour.
        if ago <= 60 {
            consumer = consumer.stopped(Stopped::exited(minutes_ago(ago), 101, None));
        }
        lines.push((
            ago,
            format!("INFO ledger-consumer 18 starting, queue {QUEUE}"),
        ));
        lines.push((ago, "thread 'main' panicked at src/schema.rs:31:9: ledger schema version 41 != 42 (run the ledger migrations first)".to_string()));
    }
    consumer.serve(stub);
    logs(&sdk, "/ecs/ledger-consumer", "ecs/consumer/c0", &lines).await;

    EcsService::steady(LEDGER_CLUSTER, "ledger-api", 7, 2, minutes_ago(3000)).serve(stub);
    let served = vec![(30, "INFO GET /balances/42 200 12ms".to_string())];
    logs(&sdk, "/ecs/ledger-api", "ecs/api/a0", &served).await;
}

/// payments-api's red deploy while the ledger side is down, Fixpoint running on it with the
/// sweep's depth from `depth` (fixpoint.yml's default when `None`). The ledger team's
/// ledger-api serves from the returned servers.
async fn red_deploy_while_the_consumer_is_down(depth: Option<u32>) -> (Story, HttpServers) {
    let ledger_api = HttpServers::start().await;
    let needs = ServiceNeeds::new(CLUSTER, SERVICE)
        .memory(900)
        .variables(&["DATABASE_URL", "PAYMENTS_API_KEY"])
        .not_ready_while(&readiness());
    let mut last_good = at(1024);
    last_good.extend(maps(&ledger_api.healthy()));
    // The deploy that went red changed a comment in the rates module: innocent.
    let innocent = rates(false).replace(
        "// Rates are loaded at start-up.",
        "// Rates are loaded once, at start-up.",
    );
    let failing = tree(
        task_definition(1024, &["DATABASE_URL"], &["PAYMENTS_API_KEY"]),
        innocent,
    );
    let arranged = arrange(needs, last_good, failing, fixpoint_yml(depth)).await;
    ledger_consumer_down(&arranged.env.stub).await;
    (Story::start(arranged).await, ledger_api)
}

/// Nothing was changed: no commit, no fixpoint/ branch, no PR, no ECS write.
fn assert_nothing_changed(story: &Story) {
    assert_eq!(story.commits_made(), 0, "nothing is committed");
    assert!(
        story.app.github.branch_sha(REPO, BRANCH).is_none(),
        "no fixpoint/ branch"
    );
    assert!(story.app.github.pull_requests(REPO).is_empty(), "no PR");
    let writes: Vec<_> = story
        .env
        .ecs_writes()
        .iter()
        .filter_map(|c| c.target().map(str::to_string))
        .collect();
    assert!(writes.is_empty(), "no ECS write: {writes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_down_three_hops_away_stops_the_loop_with_the_chain_and_no_commit() {
    let (story, _ledger_api) = red_deploy_while_the_consumer_is_down(Some(3)).await;
    let ended = story.run_loop().await;

    let why = ended.status_reason.clone().unwrap_or_default();
    assert_eq!(ended.status, LoopStatus::StoppedNoFix, "{why}");
    assert!(why.contains("ledger-consumer"), "{why}");
    assert!(why.contains("outside payments-api's repository"), "{why}");
    assert!(
        why.contains("chain: ledger-consumer (crash_loop) → sqs-payments (queue_backlog) → payments-api (health_check_failed)"),
        "{why}"
    );
    assert_nothing_changed(&story);
    // The history says why, for the people the next issue escalates to.
    let history = story.history().await;
    assert_eq!(history.len(), 1, "{history:#?}");
    assert_eq!(history[0]["outcome"], "aborted", "{history:#?}");
    assert!(history[0]["commit"].is_null(), "{history:#?}");
    let result = history[0]["result"].as_str().unwrap_or_default();
    assert!(result.contains("crash_loop at ledger-consumer"), "{result}");
    assert!(result.contains("no fix is made here"), "{result}");
    story.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_default_depth_the_consumer_is_out_of_sight_and_the_stop_says_how_far_to_look() {
    // Two hops: the consumer's own checks run, but its map's edge to payments-jobs lies
    // beyond the sweep, so nothing links the crash to the backlog.
    let (story, _ledger_api) = red_deploy_while_the_consumer_is_down(None).await;
    let ended = story.run_loop().await;

    let why = ended.status_reason.clone().unwrap_or_default();
    // A backlog whose consumer is not known is a weak story: the loop is unsure, and says
    // where the rest of it is.
    assert_eq!(ended.status, LoopStatus::StoppedUnsure, "{why}");
    assert!(!why.contains("every check of payments-api"), "{why}");
    assert!(why.contains("sqs-payments"), "{why}");
    assert!(
        why.contains("ledger-consumer: 1 node(s) of its map topology/staging/ledger-consumer.yaml lie beyond the sweep's depth of 2 hops"),
        "{why}"
    );
    assert!(why.contains("raise `topology_depth`"), "{why}");
    assert_nothing_changed(&story);
    story.app.stop().await;
}
