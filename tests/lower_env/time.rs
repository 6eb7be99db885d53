//! The world keeps the test's time: the App under test runs on a `ManualClock`, and what it
//! reads back (deployments, tasks, log lines) must be on that clock, not on the wall's.

use std::time::Duration;

use fixpoint::clock::{Clock, ManualClock};

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_tasks_and_log_lines_are_on_the_clock_the_world_is_handed() {
    let env = world(needs(), &oom_tree(512)).await;
    // The App's clock, forty minutes ahead of the wall (CloudWatch takes lines up to 2 h ahead).
    let clock = ManualClock::at(chrono::Utc::now() + chrono::Duration::minutes(40));
    env.keep_time_with(clock.clone());
    let deployed_at = clock.now();
    env.deploy(&pushed(&oom_tree(768)))
        .await
        .expect("the tree deploys");
    let ecs = ecs().await;
    clock.advance(Duration::from_secs(30));
    let d = primary(&roll_out(&ecs).await);
    assert_eq!(
        d.created_at().map(|t| t.as_secs_f64()),
        Some(deployed_at.timestamp_millis() as f64 / 1000.0)
    );
    assert_eq!(
        d.updated_at().map(|t| t.as_secs_f64()),
        Some(clock.now().timestamp_millis() as f64 / 1000.0)
    );

    let newest = stopped_tasks(&ecs).await;
    let tasks = ecs
        .describe_tasks()
        .cluster(CLUSTER)
        .set_tasks(Some(newest[..1].to_vec()))
        .send()
        .await
        .expect("DescribeTasks");
    let task = tasks.tasks().first().expect("the newest stopped task");
    assert_eq!(
        task.stopped_at().map(|t| t.secs()),
        Some(clock.now().timestamp())
    );

    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config)
        .filter_log_events()
        .log_group_name("/ecs/payments-api")
        .start_time(deployed_at.timestamp_millis())
        .send()
        .await
        .expect("FilterLogEvents");
    let times: Vec<i64> = logs.events().iter().filter_map(|e| e.timestamp()).collect();
    assert_eq!(
        times.len(),
        3 * 3,
        "three lines for each of three OOM-killed tasks"
    );
    let (from, to) = (
        deployed_at.timestamp_millis(),
        clock.now().timestamp_millis(),
    );
    assert!(
        times.iter().all(|t| (from..=to + 10).contains(t)),
        "log lines off the clock ({from}..{to}): {times:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_tasks_stay_listed_for_an_hour_as_in_ecs() {
    let env = world(needs(), &oom_tree(512)).await;
    let clock = ManualClock::new();
    env.keep_time_with(clock.clone());
    let ecs = ecs().await;
    // The good revision's two tasks, replaced 15 min ago, and the three OOM kills after them.
    clock.advance(Duration::from_secs(44 * 60));
    assert_eq!(stopped_tasks(&ecs).await.len(), 5);
    clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(stopped_tasks(&ecs).await.len(), 0);
    assert_eq!(
        env.stops_mentioning("OutOfMemoryError"),
        3,
        "the world remembers"
    );
}
