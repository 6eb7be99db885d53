//! Unauthenticated memory: bodies are held before their signature is checked, so the bytes
//! held for unchecked bodies have one budget across all requests; and a connection that
//! never finishes its headers is closed after the header read timeout.

use std::time::{Duration, Instant};

use bytes::Bytes;
use fixpoint::server::listen::Limits;
use fixpoint::server::webhook::UNVERIFIED_BUDGET;

use crate::support::TestApp;
use crate::support::fake_github::FakeGitHub;

const BODY: usize = 24 * 1024 * 1024;

/// A `POST /webhooks` that announces 24 MB with a bad signature, sends 1 KiB and then
/// stalls, as a slow (or hostile) sender does.
fn stalled_upload(url: &str) -> reqwest::RequestBuilder {
    let first =
        futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 1024])) });
    let stalled = futures::StreamExt::chain(first, futures::stream::pending());
    reqwest::Client::new()
        .post(format!("{url}/webhooks"))
        .header("content-type", "application/json")
        .header("content-length", BODY.to_string())
        .header("x-github-event", "workflow_run")
        .header("x-github-delivery", "flood")
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .body(reqwest::Body::wrap_stream(stalled))
}

#[tokio::test]
async fn forty_24_mb_unsigned_bodies_get_503s_past_the_budget_not_memory() {
    let app = TestApp::start().await;
    let url = app.url.clone();
    let uploads: Vec<_> = (0..40)
        .map(|_| {
            let request = stalled_upload(&url);
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let fit = UNVERIFIED_BUDGET / BODY;
    let mut refused = 0;
    let mut waiting = Vec::new();
    for mut upload in uploads {
        // Refusals come back at once; the uploads the budget holds stay open.
        match tokio::time::timeout(Duration::from_secs(5), &mut upload).await {
            Ok(Ok(Ok(503))) => refused += 1,
            Ok(other) => panic!("expected 503 for an upload past the budget, got {other:?}"),
            Err(_) => waiting.push(upload),
        }
    }
    println!("{refused} uploads refused, {} held", waiting.len());
    assert_eq!(
        waiting.len(),
        fit,
        "the budget holds {fit} uploads of 24 MiB"
    );
    assert_eq!(refused, 40 - fit);

    // A 503 tells the sender when to come back.
    let res = stalled_upload(&url).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));

    // Signed deliveries of ordinary size still fit beside the held uploads.
    let body = crate::support::webhooks::bytes(&crate::support::webhooks::failed_deploy(
        "acme/payments-api",
        7001,
        1,
        77,
    ));
    assert_eq!(
        app.deliver("workflow_run", "fits", &body).await.status(),
        202
    );
    waiting.iter().for_each(|upload| upload.abort());
    app.stop().await;
}

/// The resident set of this process (the server runs in it), from `/proc/self/status`.
fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

#[tokio::test]
async fn forty_whole_24_mb_bodies_with_a_bad_signature_are_401_or_503_and_memory_stays_bounded() {
    let app = TestApp::start().await;
    // One buffer shared by every request: the client's own copies would hide the server's.
    let body = Bytes::from(vec![b'{'; BODY]);
    let before = rss_mib();
    let sends: Vec<_> = (0..40)
        .map(|i| {
            let request = reqwest::Client::new()
                .post(format!("{}/webhooks", app.url))
                .header("content-type", "application/json")
                .header("x-github-event", "workflow_run")
                .header("x-github-delivery", format!("flood-{i}"))
                .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
                .body(body.clone());
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let mut statuses = Vec::new();
    for send in sends {
        statuses.push(send.await.unwrap().unwrap());
    }
    let after = rss_mib();
    let refused = statuses.iter().filter(|s| **s == 503).count();
    println!(
        "40 x 24 MiB unsigned: {} x 401, {refused} x 503; RSS {before} MiB before, {after} MiB after",
        statuses.iter().filter(|s| **s == 401).count()
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 503)),
        "{statuses:?}"
    );
    app.stop().await;
}

/// Slow headers: 200 clients each send half a request line and stop, as a slowloris does.
/// Each is closed by the server once the header read timeout has passed, and `/healthz`
/// answers while they hold their sockets.
#[tokio::test]
async fn two_hundred_half_sent_request_lines_are_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let limits = Limits {
        header_read_timeout: Duration::from_millis(800),
    };
    let app = TestApp::start_limited(FakeGitHub::start().await, limits).await;
    let addr = app.url.trim_start_matches("http://").to_string();
    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        conn.write_all(b"POST /webho").await.unwrap();
        stalled.push(conn);
    }

    let healthz = reqwest::Client::new()
        .get(format!("{}/healthz", app.url))
        .send();
    let answer = tokio::time::timeout(Duration::from_secs(3), healthz)
        .await
        .expect("/healthz answers within 3 s while 200 connections stall")
        .unwrap();
    assert_eq!(answer.status(), 200);

    // The server hangs up on each: end of stream (or a reset), whatever it wrote first.
    let hung_up = stalled.into_iter().map(|mut conn| async move {
        let mut buf = [0u8; 256];
        while let Ok(1..) = conn.read(&mut buf).await {}
    });
    tokio::time::timeout(crate::support::WAIT, futures::future::join_all(hung_up))
        .await
        .expect("every stalled connection is closed by the server after the header timeout");
    let took = started.elapsed();
    println!("200 stalled connections closed after {took:?}");
    assert!(
        took >= limits.header_read_timeout,
        "closed after {took:?}, before the {:?} timeout",
        limits.header_read_timeout
    );
    app.stop().await;
}
