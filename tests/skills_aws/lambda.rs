//! `lambda`: state, last update, reserved concurrency, errors and throttles.

use std::io::Write;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
use ciborium::Value as Cbor;
use fixpoint::skills::Status;
use fixpoint::topology::{CheckTarget, SkillKind};
use serde_json::json;

use crate::support::aws_stub::{Reply, cbor_map, field, metric_data};
use crate::support::moto::ACCOUNT;
use crate::{assert_never_shows, aws, check, evidence, metric, minutes_ago, moto_config};

fn target(function: &str) -> CheckTarget {
    CheckTarget::Lambda {
        function: function.into(),
        region: None,
    }
}

fn handler_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("index.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"def handler(event, context):\n    return {'ok': True}\n")
        .unwrap();
    zip.finish().unwrap().into_inner()
}

/// Creates `name` in moto (Docker off: stored, never run), with reserved concurrency if given.
async fn create_function(name: &str, reserved: Option<i32>) {
    let role = aws().moto.create_lambda_role("fixpoint-test-lambda");
    let lambda = aws_sdk_lambda::Client::new(&moto_config().await);
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
        .environment(
            Environment::builder()
                .variables("STRIPE_KEY", "sk_live_never_shown_4242")
                .variables("BUCKET", "uploads")
                .build(),
        )
        .memory_size(256)
        .timeout(30)
        .send()
        .await
        .unwrap();
    if let Some(reserved) = reserved {
        lambda
            .put_function_concurrency()
            .function_name(name)
            .reserved_concurrent_executions(reserved)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn an_active_function_is_healthy_and_unreadable_metrics_are_said_so() {
    create_function("thumbnailer", Some(5)).await;

    let obs = check(SkillKind::Lambda, target("thumbnailer"), minutes_ago(10))
        .await
        .unwrap();

    assert_eq!(obs.status, Status::Healthy, "{obs:#?}");
    assert_eq!(metric(&obs, "reserved_concurrency"), 5.0);
    assert_eq!(metric(&obs, "memory_mb"), 256.0);
    assert_eq!(metric(&obs, "timeout_s"), 30.0);
    assert_eq!(metric(&obs, "env_vars"), 2.0);
    assert!(
        !obs.metrics.contains_key("errors"),
        "no number is made up for what could not be read"
    );
    assert!(
        obs.summary.starts_with("state Active, last update Successful; reserved concurrency 5; errors/throttles: not readable: HTTP 404"),
        "{}",
        obs.summary
    );
    // moto does not speak CloudWatch's CBOR protocol.
    let metrics = evidence(&obs, "cloudwatch:AWS/Lambda");
    assert!(
        metrics[0]
            .text
            .starts_with("errors/throttles: not readable: HTTP 404"),
        "{}",
        metrics[0].text
    );
    let names = evidence(&obs, "lambda:thumbnailer");
    assert!(
        names
            .iter()
            .any(|e| e.text == "environment variable names: BUCKET, STRIPE_KEY"),
        "{names:#?}"
    );
    assert_never_shows(&obs, "sk_live_never_shown_4242");
}

#[tokio::test]
async fn reserved_concurrency_of_zero_is_down() {
    create_function("billing-sync", Some(0)).await;
    let obs = check(SkillKind::Lambda, target("billing-sync"), minutes_ago(10))
        .await
        .unwrap();
    assert_eq!(obs.status, Status::Down, "{obs:#?}");
    assert_eq!(metric(&obs, "reserved_concurrency"), 0.0);
    assert!(
        obs.summary
            .contains("reserved concurrency 0; every invocation is throttled"),
        "{}",
        obs.summary
    );
}

#[tokio::test]
async fn a_function_that_does_not_exist_is_an_error_naming_it() {
    let err = check(SkillKind::Lambda, target("ghost-fn"), minutes_ago(10))
        .await
        .expect_err("missing function");
    let text = err.to_string();
    assert!(
        text.starts_with("cannot read Lambda function ghost-fn: ResourceNotFoundException"),
        "{text}"
    );
}

// ---- CloudWatch metrics: served by the stub -------------------------------------------------
//
// aws-sdk-cloudwatch speaks Smithy RPC v2 CBOR (POST /service/GraniteServiceVersion20100801/
// operation/GetMetricData); moto 5.2.5 does not. The stub answers as the CloudWatch API
// reference documents GetMetricData's output, encoded in CBOR with tag-1 timestamps.

#[tokio::test]
async fn throttles_and_errors_from_cloudwatch_degrade_a_function() {
    create_function("checkout-worker", None).await;
    aws().stub.on_metric_data("checkout-worker", |call| {
        metric_data(
            call,
            &[
                ("invocations", vec![100.0, 80.0]),
                ("errors", vec![1.0, 2.0]),
                ("throttles", vec![0.0, 7.0]),
            ],
        )
    });

    let obs = check(
        SkillKind::Lambda,
        target("checkout-worker"),
        minutes_ago(10),
    )
    .await
    .unwrap();

    assert_eq!(obs.status, Status::Degraded, "{obs:#?}");
    assert_eq!(metric(&obs, "invocations"), 180.0);
    assert_eq!(metric(&obs, "errors"), 3.0);
    assert_eq!(metric(&obs, "throttles"), 7.0);
    assert!(!obs.metrics.contains_key("reserved_concurrency"));
    assert_eq!(
        obs.summary,
        "state Active, last update Successful; 180 invocations, 3 errors, 7 throttles"
    );

    // What the SDK sent: the protocol's headers and three one-minute sums of AWS/Lambda metrics.
    let calls = aws().stub.calls(|c| {
        c.is_cloudwatch("GetMetricData") && c.body.windows(15).any(|w| w == b"checkout-worker")
    });
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].header("smithy-protocol"), Some("rpc-v2-cbor"));
    assert_eq!(calls[0].header("content-type"), Some("application/cbor"));
    let request = calls[0].cbor();
    let queries = field(&request, "MetricDataQueries")
        .unwrap()
        .as_array()
        .unwrap();
    let mut seen = Vec::new();
    for q in queries {
        let stat = field(q, "MetricStat").unwrap();
        let m = field(stat, "Metric").unwrap();
        assert_eq!(field(m, "Namespace").unwrap().as_text(), Some("AWS/Lambda"));
        let dim = &field(m, "Dimensions").unwrap().as_array().unwrap()[0];
        assert_eq!(field(dim, "Name").unwrap().as_text(), Some("FunctionName"));
        assert_eq!(field(stat, "Stat").unwrap().as_text(), Some("Sum"));
        assert_eq!(
            field(stat, "Period").unwrap().as_integer().map(i128::from),
            Some(60)
        );
        seen.push(
            field(m, "MetricName")
                .unwrap()
                .as_text()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(seen, ["Invocations", "Errors", "Throttles"]);
    assert!(
        matches!(field(&request, "StartTime"), Some(Cbor::Tag(1, _))),
        "timestamps are tag 1"
    );
}

#[tokio::test]
async fn a_failed_update_is_down_and_denied_metrics_keep_the_rest_of_the_finding() {
    // moto's functions never fail to update, so GetFunction is answered here, shaped as the
    // Lambda API reference documents it (REST-JSON), and CloudWatch refuses access.
    let name = "image-resizer";
    let configuration = json!({
        "FunctionName": name,
        "FunctionArn": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"),
        "Runtime": "python3.12",
        "Role": format!("arn:aws:iam::{ACCOUNT}:role/image-resizer"),
        "Handler": "app.handler",
        "CodeSize": 5120,
        "Description": "",
        "Timeout": 60,
        "MemorySize": 1024,
        "LastModified": "2026-11-24T08:00:05.000+0000",
        "CodeSha256": "pZ9mT6b0VQmjrGmYX0nT6t6Iu0yTkGmA+3PDsm9Z7Rg=",
        "Version": "$LATEST",
        "VpcConfig": {"SubnetIds": ["subnet-0a1b2c3d"], "SecurityGroupIds": ["sg-0a1b2c3d"], "VpcId": "vpc-0a1b2c3d"},
        "Environment": {"Variables": {"OUTPUT_BUCKET": "resized-images-prod-value"}},
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": "b2c3d4e5-0000-4000-8000-000000000001",
        "State": "Active",
        "LastUpdateStatus": "Failed",
        "LastUpdateStatusReason": "Lambda was not able to create an ENI in the VPC of the Lambda function because the limit for Network Interfaces has been reached.",
        "LastUpdateStatusReasonCode": "EniLimitExceeded",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512}
    });
    let body = json!({
        "Configuration": configuration,
        "Code": {"RepositoryType": "S3", "Location": "https://awslambda-us-east-1-tasks.s3.us-east-1.amazonaws.com/snapshots/123456789012/image-resizer"}
    });
    let stub = &aws().stub;
    let path = format!("/2015-03-31/functions/{name}");
    stub.on(
        move |c| c.method == "GET" && c.path == path,
        move |_| Reply::RestJson {
            status: 200,
            error: None,
            body: body.clone(),
        },
    );
    let path = format!("/2019-09-30/functions/{name}/concurrency");
    stub.on(
        move |c| c.method == "GET" && c.path == path,
        |_| Reply::RestJson {
            status: 200,
            error: None,
            body: json!({}),
        },
    );
    stub.on_metric_data(name, |_| {
        Reply::Cbor(
            400,
            cbor_map(vec![
                ("__type", Cbor::Text("AccessDeniedException".into())),
                ("message", Cbor::Text("User: arn:aws:sts::123456789012:assumed-role/fixpoint/sweep is not authorized to perform: cloudwatch:GetMetricData".into())),
            ]),
        )
    });

    let obs = check(SkillKind::Lambda, target(name), minutes_ago(10))
        .await
        .unwrap();

    assert_eq!(obs.status, Status::Down, "{obs:#?}");
    assert!(
        obs.summary
            .starts_with("state Active, last update Failed: Lambda was not able to create an ENI"),
        "{}",
        obs.summary
    );
    assert!(
        obs.summary
            .contains("errors/throttles: not readable: AccessDeniedException: User: arn:aws:sts"),
        "{}",
        obs.summary
    );
    assert_eq!(metric(&obs, "memory_mb"), 1024.0);
    assert!(!obs.metrics.contains_key("reserved_concurrency"));
    let state = &evidence(&obs, "lambda:image-resizer")[0];
    assert!(
        state
            .text
            .starts_with("state Active; last update Failed (EniLimitExceeded: Lambda was not able"),
        "{}",
        state.text
    );
    assert_never_shows(&obs, "resized-images-prod-value");
}
