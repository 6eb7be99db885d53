//! One outbound policy for every address a map names. The stand-ins listen on loopback,
//! which the default policy refuses: each test proves the refusal by the stand-in never
//! seeing a connection, and the allowed case by setting `FIXPOINT_SWEEP_ALLOW` as an
//! operator would.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;
use fixpoint::skills::{Observation, SkillContext, Status, skill_for};
use fixpoint::topology::{CheckTarget, Endpoint, SkillKind};

fn secret_key() -> String {
    format!("wJalr{}", "XUtnFEMI/K7MDENG/bPx".repeat(2))[..40].to_string()
}

/// The EC2 instance metadata service as a stand-in: credentials for whoever asks.
fn imds_body() -> String {
    format!(
        r#"{{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"{}{}","SecretAccessKey":"{}","Token":"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH"}}"#,
        "ASIA",
        "IOSFODNN7EXAMPLE",
        secret_key()
    )
}

/// A loopback server counting the connections it gets; `/creds` is the metadata
/// stand-in, `/broken` a 500 whose page quotes a secret across the 200th character,
/// `/to/{port}` a redirect to another loopback port.
struct StandIn {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl StandIn {
    async fn start() -> StandIn {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = Router::new()
            .route("/creds", get(|| async { imds_body() }))
            .route(
                "/broken",
                get(|| async {
                    // The key starts at the 190th character: cut first, 10 of its characters
                    // were left, too few for any pattern to know them.
                    let page = format!("{} secret_key={}", "x".repeat(177), secret_key());
                    (StatusCode::INTERNAL_SERVER_ERROR, page)
                }),
            )
            .route(
                "/to/{port}",
                get(
                    |axum::extract::Path(port): axum::extract::Path<u16>| async move {
                        let to = format!("http://127.0.0.1:{port}/creds");
                        (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
                    },
                ),
            )
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let counted = counted.clone();
                    async move {
                        counted.fetch_add(1, Ordering::SeqCst);
                        next.run(req).await
                    }
                },
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StandIn { port, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn context(vars: &[(&str, &str)]) -> SkillContext {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    SkillContext::new(Utc::now(), None, Arc::new(vars))
}

fn http_target(url: &str, expect_body: Option<&str>) -> CheckTarget {
    CheckTarget::Http {
        endpoint: Endpoint::Url(url.to_string()),
        expect_status: None,
        expect_body: expect_body.map(str::to_string),
        timeout_s: None,
    }
}

async fn check(
    ctx: &SkillContext,
    kind: SkillKind,
    target: CheckTarget,
) -> anyhow::Result<Observation> {
    skill_for(kind).check(&target, ctx).await
}

#[tokio::test]
async fn the_metadata_stand_in_is_refused_in_every_spelling_of_loopback() {
    let imds = StandIn::start().await;
    let ctx = context(&[]);
    let port = imds.port;
    for url in [
        format!("http://127.0.0.1:{port}/creds"),
        format!("http://2130706433:{port}/creds"),
        format!("http://0177.0.0.1:{port}/creds"),
        format!("http://0x7f.1:{port}/creds"),
        format!("http://[::ffff:127.0.0.1]:{port}/creds"),
        format!("http://localhost:{port}/creds"),
    ] {
        let refused = check(&ctx, SkillKind::HttpHealth, http_target(&url, None))
            .await
            .expect_err(&url);
        let said = format!("{refused:#}");
        assert!(said.contains("loopback"), "{url}: {said}");
        assert!(said.contains("FIXPOINT_SWEEP_ALLOW"), "{said}");
    }
    assert_eq!(imds.hits(), 0, "the stand-in was contacted");
}

#[tokio::test]
async fn metadata_addresses_are_refused_even_when_everything_is_allowed() {
    let ctx = context(&[("FIXPOINT_SWEEP_ALLOW", "0.0.0.0/0,::/0")]);
    for url in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/api/token",
        "http://169.254.170.2/v2/credentials/x",
    ] {
        let refused = check(&ctx, SkillKind::HttpHealth, http_target(url, None))
            .await
            .expect_err(url);
        assert!(format!("{refused:#}").contains("metadata"), "{refused:#}");
    }
}

#[tokio::test]
async fn allowed_bodies_are_quoted_only_when_unhealthy_and_redacted_before_the_cut() {
    let svc = StandIn::start().await;
    let ctx = context(&[("FIXPOINT_SWEEP_ALLOW", "127.0.0.0/8")]);
    let get = |path: &str, expect_body: Option<&str>| {
        let target = http_target(&format!("http://127.0.0.1:{}{path}", svc.port), expect_body);
        let ctx = &ctx;
        async move { check(ctx, SkillKind::HttpHealth, target).await.unwrap() }
    };
    let healthy = get("/creds", Some("Success")).await;
    assert_eq!(healthy.status, Status::Healthy);
    let quoted = format!("{:?}", healthy.evidence);
    assert!(
        !quoted.contains("IQoJb3JpZ2lu") && !quoted.contains("Success"),
        "{quoted}"
    );

    // `expect_body` says only that it did not match, never what the page holds, and the
    // page quoted for the unhealthy node is redacted.
    let probed = get("/creds", Some("Ready")).await;
    assert_eq!(probed.status, Status::Degraded);
    assert!(
        probed.summary.contains("did not match"),
        "{}",
        probed.summary
    );
    let quoted = format!("{:?}", probed.evidence);
    assert!(quoted.contains("expect_body did not match"), "{quoted}");
    assert!(
        !quoted.contains("IQoJb3JpZ2lu") && !quoted.contains("wJalr"),
        "{quoted}"
    );

    let broken = get("/broken", None).await;
    assert_eq!(broken.status, Status::Down);
    let quoted = format!("{:?}", broken.evidence);
    assert!(quoted.contains("secret_key=[REDACTED:"), "{quoted}");
    assert!(!quoted.contains(&secret_key()[..5]), "{quoted}");
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_is_reported_not_followed() {
    let front = StandIn::start().await;
    let imds = StandIn::start().await;
    // The operator allows the front door only.
    let ctx = context(&[("FIXPOINT_SWEEP_ALLOW", "127.0.0.1/32")]);
    let url = format!("http://127.0.0.1:{}/to/{}", front.port, imds.port);
    let seen = check(&ctx, SkillKind::HttpHealth, http_target(&url, None))
        .await
        .unwrap();
    assert_eq!(seen.status, Status::Degraded);
    assert!(seen.summary.contains("redirected"), "{}", seen.summary);
    assert_eq!(imds.hits(), 0);
}

/// A listener that counts accepted connections: PostgreSQL and Redis URLs must never get one.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn database_and_cache_urls_on_refused_addresses_never_connect() {
    let (port, accepted) = counting_listener().await;
    let ctx = context(&[]);
    for url in [
        format!("postgres://app:pw@127.0.0.1:{port}/app"),
        format!("postgres://app:pw@2130706433:{port}/app"),
        format!("postgres://app:pw@localhost:{port}/app"),
        "postgres://app:pw@169.254.169.254:5432/app".to_string(),
    ] {
        let target = CheckTarget::Postgres {
            endpoint: Endpoint::Url(url.clone()),
        };
        let refused = check(&ctx, SkillKind::Postgres, target)
            .await
            .expect_err(&url);
        assert!(
            format!("{refused:#}").contains("resolves to"),
            "{refused:#}"
        );
    }
    for url in [
        format!("redis://127.0.0.1:{port}"),
        format!("redis://[::ffff:127.0.0.1]:{port}"),
        format!("redis://localhost:{port}/0"),
    ] {
        let target = CheckTarget::Redis {
            endpoint: Endpoint::Url(url.clone()),
        };
        let refused = check(&ctx, SkillKind::Redis, target).await.expect_err(&url);
        assert!(
            format!("{refused:#}").contains("resolves to"),
            "{refused:#}"
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
}
