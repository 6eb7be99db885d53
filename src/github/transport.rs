//! The wire: one HTTP client (octocrab's, with its own retries and redirects off), one
//! retry loop for every call and every download, and decoding that names the operation.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::http::{HeaderMap, Method, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::GitHubError;
use super::policy::{RetryPolicy, Verdict};

pub(super) const USER_AGENT: &str = concat!("fixpoint/", env!("CARGO_PKG_VERSION"));

pub(super) struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What one try came to, for `retry_loop`.
pub(super) enum Attempt<T> {
    Done(T),
    Failed(GitHubError),
    /// Try again after `wait`, or after the policy's backoff when `None`; counted.
    Retry {
        cause: String,
        wait: Option<Duration>,
    },
    /// Try again at once without counting it (a refused token was minted again).
    Again,
}

/// The one retry loop: tries until an attempt is done or failed, or the policy's retries
/// are spent, and then names the operation and the last cause.
pub(super) async fn retry_loop<T, F, Fut>(
    policy: &RetryPolicy,
    op: &str,
    mut attempt: F,
) -> Result<T, GitHubError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let mut retry = 0u32;
    loop {
        match attempt(retry).await {
            Attempt::Done(value) => return Ok(value),
            Attempt::Failed(e) => return Err(e),
            Attempt::Again => continue,
            Attempt::Retry { cause, wait } => {
                retry += 1;
                if retry > policy.max_retries {
                    return Err(GitHubError::Exhausted {
                        operation: op.into(),
                        attempts: retry,
                        cause,
                    });
                }
                let wait = wait.unwrap_or_else(|| policy.backoff(retry));
                tracing::warn!(operation = op, cause = %cause, retry, wait_ms = wait.as_millis() as u64, "GitHub call will be retried");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// How a request is authorised: the header to send, and whether a 401 may be answered
/// by minting a new credential once (installation tokens; a JWT is made fresh anyway).
pub(super) struct Authorization {
    pub header: Option<String>,
    pub renewable: bool,
}

/// The path GraphQL calls name, under GraphQL's own root (see `graphql_root`).
pub(super) const GRAPHQL: &str = "/graphql";

pub(super) struct Transport {
    http: Octocrab,
    /// GraphQL's client. GitHub serves GraphQL beside the REST API, not under it: on
    /// GitHub.com both are at `https://api.github.com`, but on GitHub Enterprise Server REST is
    /// `https://HOST/api/v3` and GraphQL `https://HOST/api/graphql`.
    graphql: Octocrab,
    pub policy: RetryPolicy,
}

/// Where GraphQL's `/graphql` hangs for the REST API at `api_url`: the REST root, except for
/// an Enterprise Server's `…/api/v3`, whose GraphQL is `…/api/graphql`.
pub(super) fn graphql_root(api_url: &str) -> &str {
    let root = api_url.trim_end_matches('/');
    match root.strip_suffix("/v3") {
        Some(api) if api.ends_with("/api") => api,
        _ => root,
    }
}

fn client(base: &str, policy: &RetryPolicy) -> anyhow::Result<Octocrab> {
    Octocrab::builder()
        .base_uri(base)
        .with_context(|| format!("GITHUB_API_URL `{base}` is not a valid URL"))?
        .set_connect_timeout(Some(policy.request_timeout))
        .set_read_timeout(Some(policy.request_timeout))
        .build()
        .context("cannot build the GitHub HTTP client")
}

impl Transport {
    pub fn new(api_url: &str, policy: RetryPolicy) -> anyhow::Result<Self> {
        let http = client(api_url, &policy)?;
        let graphql = client(graphql_root(api_url), &policy)?;
        Ok(Self {
            http,
            graphql,
            policy,
        })
    }

    /// Sends one request under the retry policy. `authorize(renew)` gives the credential;
    /// after a 401 on a renewable one it is called once with `renew = true`.
    pub async fn send<A, AF>(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        authorize: A,
    ) -> Result<Raw, GitHubError>
    where
        A: Fn(bool) -> AF,
        AF: Future<Output = Result<Authorization, GitHubError>>,
    {
        let policy = &self.policy;
        // A 401 is answered by one renewal per call: `renew` asks for it, `renewed` says
        // it was spent.
        let (renew, renewed) = (AtomicBool::new(false), AtomicBool::new(false));
        let (renew, renewed) = (&renew, &renewed);
        retry_loop(policy, op, |retry| {
            let (method, body) = (method.clone(), body.clone());
            let renew_now = renew.swap(false, Ordering::Relaxed);
            if renew_now {
                renewed.store(true, Ordering::Relaxed);
            }
            let may_renew = !renewed.load(Ordering::Relaxed);
            let authorization = authorize(renew_now);
            async move {
                let auth = match authorization.await {
                    Ok(auth) => auth,
                    Err(e) => return Attempt::Failed(e),
                };
                let attempt = self.execute(op, method, path, body, auth.header);
                let raw = match tokio::time::timeout(policy.request_timeout, attempt).await {
                    Ok(Ok(raw)) => raw,
                    Ok(Err(GitHubError::Request { cause, .. })) => {
                        return Attempt::Retry { cause, wait: None };
                    }
                    Ok(Err(e)) => return Attempt::Failed(e),
                    Err(_) => {
                        return Attempt::Retry {
                            cause: format!(
                                "no answer within {} s",
                                policy.request_timeout.as_secs()
                            ),
                            wait: None,
                        };
                    }
                };
                let now = chrono::Utc::now().timestamp();
                match policy.classify(raw.status, &raw.headers, &raw.body, retry + 1, now) {
                    Verdict::Done => Attempt::Done(raw),
                    Verdict::Reauthenticate if auth.renewable && may_renew => {
                        tracing::info!(operation = op, "token refused (401): minting a new one");
                        renew.store(true, Ordering::Relaxed);
                        Attempt::Again
                    }
                    Verdict::Reauthenticate => Attempt::Failed(status_error(op, &raw)),
                    Verdict::RetryAfter(wait) => Attempt::Retry {
                        cause: format!("{}", raw.status),
                        wait: Some(wait),
                    },
                    Verdict::RateLimitedTooLong(wait) => {
                        Attempt::Failed(GitHubError::RateLimited {
                            operation: op.into(),
                            wait_secs: wait.as_secs(),
                        })
                    }
                    Verdict::Fail
                        if raw.status.is_server_error()
                            || raw.status == StatusCode::TOO_MANY_REQUESTS =>
                    {
                        Attempt::Failed(GitHubError::Exhausted {
                            operation: op.into(),
                            attempts: retry + 1,
                            cause: status_error(op, &raw).to_string(),
                        })
                    }
                    Verdict::Fail => Attempt::Failed(status_error(op, &raw)),
                }
            }
        })
        .await
    }

    /// One try. A failure to connect or to read is a `Request` error (retried); a request
    /// that cannot be built is too, but never succeeds, so the retries run out quickly.
    async fn execute(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        authorization: Option<String>,
    ) -> Result<Raw, GitHubError> {
        let request_error = |cause: String| GitHubError::Request {
            operation: op.into(),
            cause,
        };
        let mut builder = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::ACCEPT, "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header(header::USER_AGENT, USER_AGENT);
        if let Some(auth) = authorization {
            let mut value = header::HeaderValue::from_str(&auth).map_err(|_| GitHubError::Jwt {
                operation: op.into(),
                cause: "the credential is not a valid header value".into(),
            })?;
            value.set_sensitive(true);
            builder = builder.header(header::AUTHORIZATION, value);
        }
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let body = String::from_utf8(body.unwrap_or_default())
            .map_err(|_| GitHubError::decode(op, "request body is not UTF-8"))?;
        let request = builder
            .body(body)
            .map_err(|e| GitHubError::decode(op, format!("cannot build the request: {e}")))?;
        let http = if path == GRAPHQL {
            &self.graphql
        } else {
            &self.http
        };
        let response = http
            .execute(request)
            .await
            .map_err(|e| request_error(format!("request failed: {e}")))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| request_error(format!("cannot read the response: {e}")))?
            .to_bytes();
        Ok(Raw {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

pub(super) fn status_error(op: &str, raw: &Raw) -> GitHubError {
    #[derive(Deserialize)]
    struct Message {
        message: String,
    }
    let message = serde_json::from_slice::<Message>(&raw.body)
        .map(|m| m.message)
        .unwrap_or_else(|_| {
            String::from_utf8_lossy(&raw.body)
                .chars()
                .take(200)
                .collect()
        });
    // GitHub's message for a 404 is often just "Not Found": said once, by the status.
    let message = match raw.status.canonical_reason() {
        Some(reason) if reason.eq_ignore_ascii_case(message.trim()) => String::new(),
        _ => crate::redact::redact(&message).into_owned(),
    };
    GitHubError::Status {
        operation: op.into(),
        status: raw.status,
        message,
    }
}

pub(super) fn decode<T: DeserializeOwned>(op: &str, raw: &Raw) -> Result<T, GitHubError> {
    serde_json::from_slice(&raw.body).map_err(|e| GitHubError::decode(op, e))
}

#[cfg(test)]
mod tests {
    use super::graphql_root;

    #[test]
    fn graphql_sits_beside_rest_on_github_com_and_at_api_graphql_on_enterprise_server() {
        assert_eq!(
            graphql_root("https://api.github.com"),
            "https://api.github.com"
        );
        assert_eq!(
            graphql_root("https://api.github.com/"),
            "https://api.github.com"
        );
        assert_eq!(
            graphql_root("https://ghe.example.com/api/v3"),
            "https://ghe.example.com/api"
        );
        assert_eq!(
            graphql_root("https://ghe.example.com/api/v3/"),
            "https://ghe.example.com/api"
        );
        assert_eq!(
            graphql_root("http://127.0.0.1:4000"),
            "http://127.0.0.1:4000"
        );
        assert_eq!(
            graphql_root("https://proxy.example.com/v3"),
            "https://proxy.example.com/v3",
            "only an Enterprise Server's /api/v3 moves"
        );
    }
}
