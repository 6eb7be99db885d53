//! Messages read by what they mean: a stop reason by ECS's taxonomy (also when a finding
//! carries only the text), a cache by whether it answered.

use super::sweep::*;

fn failed_to_start(reason: &str) -> Finding {
    // No per-cause counts: the rules read the stop reason's text by the same taxonomy.
    finding(SERVICE, 0, "ecs", Status::Down, "0/3 running")
        .m("desired", 3.0)
        .m("running", 0.0)
        .e(
            "ecs:stopped-task/7c7c",
            &format!("stopped (TaskFailedToStart): {reason}"),
        )
}

#[test]
fn registry_auth_in_a_stop_reason_is_an_image_pull_not_a_secret() {
    let d = run(&sweep(vec![failed_to_start(
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: send request failed caused by: Post \"https://api.ecr.us-east-1.amazonaws.com/\": dial tcp 52.46.141.1:443: i/o timeout",
    )]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        (SERVICE, Class::ImagePullFailed),
        "{d:#?}"
    );
    assert!(
        d.root_cause.summary.contains("cannot reach ECR"),
        "{}",
        d.root_cause.summary
    );
}

#[test]
fn a_secret_that_cannot_be_fetched_is_missing_config() {
    let d = run(&sweep(vec![failed_to_start(
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 5 time(s): failed to fetch secret arn:aws:secretsmanager:us-east-1:123456789012:secret:payments/STRIPE_KEY from secrets manager: ResourceNotFoundException",
    )]));
    assert_eq!(d.root_cause.class, Class::MissingConfig, "{d:#?}");
}

#[test]
fn a_cache_that_answered_info_is_never_unreachable() {
    let d = run(&sweep(vec![
        finding(
            "redis",
            1,
            "redis",
            Status::Down,
            "out of memory: answers, but writes refused with OOM (412 so far)",
        )
        .m("used_memory", 2_150_000.0)
        .m("maxmemory", 2_097_152.0)
        .m("memory_ratio", 1.03)
        .m("evicted_keys", 0.0)
        .m("oom_errors", 412.0)
        .m("volatile_policy", 1.0)
        .m("keys_without_ttl", 61.0),
        finding(SERVICE, 0, "cloudwatch", Status::Down, "40 error lines").e(
            "logs:/ecs/payments-api",
            "ERROR cache write: OOM command not allowed when used memory > 'maxmemory'.",
        ),
    ]));
    assert_eq!(
        (d.root_cause.node.as_str(), d.root_cause.class),
        ("redis", Class::CacheMemoryPressure),
        "{d:#?}"
    );
    assert!(
        d.root_cause.summary.contains("61 keys have none"),
        "{}",
        d.root_cause.summary
    );
}
