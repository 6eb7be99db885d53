//! The `http-health` skill: one GET against a node's health URL. It reports the status and
//! latency, a redirect and where it leads, or why no answer came (connection refused, DNS,
//! TLS, timeout), each named plainly. Redirects are reported, never followed.
//!
//! The address is judged by the outbound policy first (`outbound`): a refused one is not
//! contacted, and the node is `unknown` with the reason. A body is quoted only when the
//! check is unhealthy, redacted before it is cut; of `expect_body` the evidence says only
//! whether it matched, so a node's health cannot be made to spell out a hidden page.
//!
//! Thresholds, read per check from the context's variables (seconds, decimals allowed):
//! `FIXPOINT_HTTP_SLOW_S` (default 2) and `FIXPOINT_HTTP_TIMEOUT_S` (default 10, under the
//! sweep's default node timeout so the skill names a hang before the sweep cuts it off).

use std::io;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use reqwest::header::LOCATION;
use reqwest::{StatusCode, Url};

use super::{Evidence, Observation, Skill, SkillContext, Status};
use crate::outbound::{self, OutboundPolicy, ResolveError};
use crate::redact::redact;
use crate::topology::{CheckTarget, SkillKind};

pub const SLOW_VAR: &str = "FIXPOINT_HTTP_SLOW_S";
pub const TIMEOUT_VAR: &str = "FIXPOINT_HTTP_TIMEOUT_S";
const SLOW_S: f64 = 2.0;
const TIMEOUT_S: f64 = 10.0;
/// Enough of the body to find an expected marker and quote the start of an error page.
const BODY_LIMIT: usize = 64 * 1024;
const EXCERPT_CHARS: usize = 200;

pub struct HttpHealth;

impl Skill for HttpHealth {
    fn kind(&self) -> SkillKind {
        SkillKind::HttpHealth
    }

    fn check<'a>(
        &'a self,
        target: &'a CheckTarget,
        ctx: &'a SkillContext,
    ) -> BoxFuture<'a, anyhow::Result<Observation>> {
        Box::pin(async move {
            let CheckTarget::Http {
                endpoint,
                expect_status,
                expect_body,
                timeout_s,
            } = target
            else {
                return Err(super::wrong_target(self.kind(), target));
            };
            let url = ctx.resolve(endpoint)?;
            let expect = Expect {
                status: *expect_status,
                body: expect_body.as_deref(),
                slow: Duration::from_secs_f64(ctx.threshold(SLOW_VAR, SLOW_S)?),
                timeout: probe_timeout(ctx.threshold(TIMEOUT_VAR, TIMEOUT_S)?, *timeout_s),
            };
            probe(&ctx.http, &ctx.outbound, &url, &expect).await
        })
    }
}

/// The probe's own timeout: the setting, but inside the node's timeout (90% of it), so
/// a hang is reported as the dependency being down rather than the sweep cutting in.
fn probe_timeout(setting_s: f64, node_timeout_s: Option<u64>) -> Duration {
    let setting = Duration::from_secs_f64(setting_s);
    match node_timeout_s {
        Some(node) => setting.min(Duration::from_secs(node).mul_f64(0.9)),
        None => setting,
    }
}

struct Expect<'a> {
    status: Option<u16>,
    body: Option<&'a str>,
    slow: Duration,
    timeout: Duration,
}

async fn probe(
    http: &reqwest::Client,
    policy: &OutboundPolicy,
    url: &str,
    expect: &Expect<'_>,
) -> anyhow::Result<Observation> {
    // Never echo the value: `url_env` may name a variable that holds a secret.
    let parsed = Url::parse(url).map_err(|e| {
        anyhow::anyhow!(
            "the endpoint is not a URL ({e}); its value is not shown, as it may be a secret"
        )
    })?;
    judge_address(policy, &parsed).await?;
    let shown = redact(url).into_owned();
    let source = format!("http:GET {shown}");
    let started = Instant::now();
    let response = match http
        .get(parsed.clone())
        .timeout(expect.timeout)
        .send()
        .await
    {
        Ok(response) => response,
        Err(e) => {
            if let Some(refused) = outbound::refusal(&e) {
                // The name answered differently when connecting (DNS rebinding).
                return Err(refused.clone().into());
            }
            let why = unreachable(&e, &parsed, expect.timeout);
            return Ok(Observation::new(Status::Down, why)
                .evidence(Evidence::new(source, redact(&error_chain(&e)).into_owned()))
                .metric("latency_ms", ms(started.elapsed())));
        }
    };
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(|l| {
            response
                .url()
                .join(l)
                .map_or_else(|_| l.to_string(), String::from)
        });
    let body = read_body(response).await;
    let latency = started.elapsed();
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            let why = if e.is_timeout() {
                format!(
                    "{} but the body did not finish within {} s",
                    status_line(status),
                    secs(expect.timeout)
                )
            } else {
                format!(
                    "{} but the body was cut off: {}",
                    status_line(status),
                    root_cause(&e)
                )
            };
            return Ok(Observation::new(Status::Down, redact(&why).into_owned())
                .metric("status_code", f64::from(status.as_u16()))
                .metric("latency_ms", ms(latency)));
        }
    };

    let (mut verdict, head) = match judge_status(status, expect.status, location.as_deref()) {
        Some((verdict, text)) => (verdict, text),
        None => (Status::Healthy, status_line(status)),
    };
    let mut summary = format!("{head} in {} ms", latency.as_millis());
    if latency > expect.slow {
        verdict = verdict.min(Status::Degraded);
        summary.push_str(&format!(
            " (slow: over the {} ms threshold)",
            expect.slow.as_millis()
        ));
    }
    let mut matched = None;
    if let Some(wanted) = expect.body {
        // A mismatch only says something when the status was the expected one.
        if verdict != Status::Down {
            let found = body.contains(wanted);
            if !found {
                verdict = verdict.min(Status::Degraded);
                summary.push_str("; the body did not match `expect_body`");
            }
            matched = Some(found);
        }
    }
    let mut text = format!("HTTP {} in {} ms", status.as_u16(), latency.as_millis());
    if let Some(location) = &location {
        text.push_str(&format!(", Location: {location}"));
    }
    // A healthy node's page is nobody's evidence; an unhealthy one's may explain it.
    if verdict != Status::Healthy {
        match matched {
            Some(true) => text.push_str("; expect_body matched"),
            Some(false) => text.push_str("; expect_body did not match"),
            None => {}
        }
        let excerpt = excerpt(&redact(&body));
        if !excerpt.is_empty() {
            text.push_str(&format!(": {excerpt}"));
        }
    }
    Ok(Observation::new(verdict, redact(&summary).into_owned())
        .evidence(Evidence::new(source, redact(&text).into_owned()))
        .metric("status_code", f64::from(status.as_u16()))
        .metric("latency_ms", ms(latency)))
}

/// Refuses a URL whose host the policy refuses, before any connection. IP literals (every
/// spelling: the URL parser turns `2130706433` and `0x7f.1` into `127.0.0.1`) are judged
/// here; names are judged again by the client's resolver, on the answer it connects to.
async fn judge_address(policy: &OutboundPolicy, url: &Url) -> anyhow::Result<()> {
    let port = url.port_or_known_default().unwrap_or(0);
    let Some(host) = url.host_str() else {
        anyhow::bail!("the endpoint names no host: write e.g. https://service.internal/health");
    };
    match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(ip) => Ok(policy.check(host, ip)?),
        Err(_) => match policy.resolve(host, port).await {
            Ok(_) => Ok(()),
            Err(ResolveError::Refused(refused)) => Err(refused.into()),
            // The request reports it the usual way (its resolver judges again).
            Err(ResolveError::Lookup { .. }) => Ok(()),
        },
    }
}

/// What is wrong with the status, if anything. `None`: it is the one expected.
fn judge_status(
    status: StatusCode,
    expected: Option<u16>,
    location: Option<&str>,
) -> Option<(Status, String)> {
    let code = status.as_u16();
    let fine = match expected {
        Some(expected) => code == expected,
        None => status.is_success(),
    };
    if fine {
        return None;
    }
    let wanted = expected.map_or_else(|| "2xx".to_string(), |e| e.to_string());
    Some(if status.is_server_error() {
        (Status::Down, status_line(status))
    } else if status.is_redirection() {
        let to = location.unwrap_or("nowhere (no Location header)");
        (
            Status::Degraded,
            format!("redirected {code} to {to} (expected {wanted})"),
        )
    } else {
        (
            Status::Degraded,
            format!("unexpected {} (expected {wanted})", status_line(status)),
        )
    })
}

/// Why no response came, in the words an on-call engineer would use.
fn unreachable(e: &reqwest::Error, url: &Url, timeout: Duration) -> String {
    let host = url.host_str().unwrap_or("?");
    let at = format!("{host}:{}", url.port_or_known_default().unwrap_or(0));
    let chain = error_chain(e).to_lowercase();
    let root = root_cause(e);
    if e.is_timeout() {
        if e.is_connect() {
            return format!("connect to {at} timed out after {} s", secs(timeout));
        }
        return format!(
            "no response from {at} within {} s (timed out)",
            secs(timeout)
        );
    }
    if has_io_kind(e, io::ErrorKind::ConnectionRefused) {
        return format!("connection refused at {at}");
    }
    if chain.contains("dns error") || chain.contains("failed to lookup address") {
        return format!("DNS lookup failed for {host}: {root}");
    }
    // rustls reports handshake failures as `InvalidData` I/O errors once TCP is up.
    let tls = url.scheme() == "https"
        && (has_io_kind(e, io::ErrorKind::InvalidData)
            || ["certificate", "tls", "handshake"]
                .iter()
                .any(|w| chain.contains(w)));
    if tls {
        return format!("TLS handshake failed with {at}: {root}");
    }
    if e.is_connect() {
        return format!("cannot connect to {at}: {root}");
    }
    if has_io_kind(e, io::ErrorKind::ConnectionReset) || chain.contains("connection closed") {
        return format!("{at} closed the connection before answering: {root}");
    }
    format!("request to {at} failed: {root}")
}

/// Whether an I/O error of `kind` is anywhere in the chain, where the OS's (or rustls's)
/// own answer is. `io::Error` hides the error it wraps from `source()`: look inside too.
fn has_io_kind(e: &(dyn std::error::Error + 'static), kind: io::ErrorKind) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<io::Error>()
            && (io.kind() == kind || io.get_ref().is_some_and(|inner| has_io_kind(inner, kind)))
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// The innermost error's text: the cause, without the wrappers' "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(err) = next {
        text.push_str(": ");
        text.push_str(&err.to_string());
        next = err.source();
    }
    text
}

/// Up to [`BODY_LIMIT`] bytes of the body, lossily decoded.
async fn read_body(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() >= BODY_LIMIT {
            body.truncate(BODY_LIMIT);
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn excerpt(body: &str) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// `503 Service Unavailable`, or just `599` for a code without a standard reason.
fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}
