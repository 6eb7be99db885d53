//! Talking to GitHub as the App: authentication, one client per installation and
//! repository, and typed operations whose names say what they do. Every call goes
//! through `policy::RetryPolicy`. There is no merge and no approve call here, by design.

pub mod auth;
pub mod policy;

use std::sync::Arc;

use anyhow::Context;
use axum::http::{HeaderMap, Method, StatusCode, header};
use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::config::AppCredentials;
use crate::ids::{AppId, InstallationId, RepoName, RunId};
use auth::{CachedToken, Permissions, TokenCache, TokenRequest, TokenResponse, TokenScope};
use policy::{RetryPolicy, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub {operation}: {status} {message}")]
    Status {
        operation: String,
        status: StatusCode,
        message: String,
    },
    #[error(
        "GitHub {operation}: rate limited for {wait_secs} s, longer than Fixpoint waits; try again later"
    )]
    RateLimited { operation: String, wait_secs: u64 },
    #[error("GitHub {operation}: gave up after {attempts} attempts: {cause}")]
    Exhausted {
        operation: String,
        attempts: u32,
        cause: String,
    },
    #[error("GitHub {operation}: unexpected response: {cause}")]
    Decode { operation: String, cause: String },
    /// No token for the installation: kept apart from the call's own answer, so a 404
    /// for the installation is never read as "this file does not exist".
    #[error("cannot act as installation {installation}: {source}")]
    Token {
        installation: u64,
        source: Box<GitHubError>,
    },
}

impl GitHubError {
    /// The status of the call's own answer (not of a failed token mint).
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// An answer retrying cannot change: a 4xx, for the call or for its token.
    pub fn is_permanent(&self) -> bool {
        match self {
            GitHubError::Status { status, .. } => status.is_client_error(),
            GitHubError::Token { source, .. } => source.is_permanent(),
            _ => false,
        }
    }
}

struct Inner {
    app_id: AppId,
    key: octocrab::EncodingKey,
    http: Octocrab,
    policy: RetryPolicy,
    /// One lock for the cache, held while minting, so concurrent jobs for one
    /// repository share a single mint instead of racing.
    tokens: Mutex<TokenCache>,
}

/// The App, as GitHub knows it. Cheap to clone.
#[derive(Clone)]
pub struct GitHubApp {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApp")
            .field("app_id", &self.inner.app_id)
            .finish_non_exhaustive()
    }
}

struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

enum Auth<'a> {
    Jwt,
    Installation(&'a TokenScope),
    None,
}

fn http_client(api_url: &str, policy: &RetryPolicy) -> anyhow::Result<Octocrab> {
    Octocrab::builder()
        .base_uri(api_url)
        .with_context(|| format!("GITHUB_API_URL `{api_url}` is not a valid URL"))?
        .set_connect_timeout(Some(policy.request_timeout))
        .set_read_timeout(Some(policy.request_timeout))
        .build()
        .context("cannot build the GitHub HTTP client")
}

impl GitHubApp {
    pub fn new(creds: &AppCredentials, api_url: &str) -> anyhow::Result<Self> {
        Self::with_policy(creds, api_url, RetryPolicy::default())
    }

    pub fn with_policy(
        creds: &AppCredentials,
        api_url: &str,
        policy: RetryPolicy,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                app_id: creds.app_id,
                key: creds.encoding_key(),
                http: http_client(api_url, &policy)?,
                policy,
                tokens: Mutex::default(),
            }),
        })
    }

    pub fn app_id(&self) -> AppId {
        self.inner.app_id
    }

    /// The App's JWT as of `now` (Unix seconds).
    pub fn app_jwt_at(&self, now: i64) -> anyhow::Result<SecretString> {
        auth::sign_jwt(&self.inner.key, &auth::jwt_claims(self.inner.app_id, now))
    }

    /// A client for one repository of one installation, with narrowed permissions.
    pub fn repo(
        &self,
        installation: InstallationId,
        repo: RepoName,
        permissions: Permissions,
    ) -> RepoClient {
        RepoClient {
            app: self.clone(),
            scope: TokenScope {
                installation,
                repo,
                permissions,
            },
        }
    }

    /// A cached installation token for `scope`, minted when missing or about to expire.
    pub async fn installation_token(
        &self,
        scope: &TokenScope,
    ) -> Result<SecretString, GitHubError> {
        let mut cache = self.inner.tokens.lock().await;
        let now = chrono::Utc::now();
        if let Some(token) = cache.get(scope, now) {
            return Ok(token);
        }
        let body = serde_json::to_vec(&TokenRequest {
            repositories: [scope.repo.name()],
            permissions: &scope.permissions,
        })
        .expect("a token request serialises");
        let op = "create an installation token";
        let path = format!("/app/installations/{}/access_tokens", scope.installation);
        let raw = self
            .send(op, Method::POST, &path, Some(body), Auth::Jwt)
            .await?;
        let minted: TokenResponse = decode(op, &raw)?;
        tracing::debug!(installation = %scope.installation, repo = %scope.repo, expires_at = %minted.expires_at, "minted installation token");
        cache.put(
            scope.clone(),
            CachedToken {
                token: minted.token.clone(),
                expires_at: minted.expires_at,
            },
        );
        Ok(minted.token)
    }

    /// The installation that covers `repo` (`GET /repos/{owner}/{repo}/installation`).
    pub async fn installation_of(&self, repo: &RepoName) -> Result<InstallationId, GitHubError> {
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        let op = "find the App's installation on the repository";
        let raw = self
            .send(
                op,
                Method::GET,
                &format!("/repos/{repo}/installation"),
                None,
                Auth::Jwt,
            )
            .await?;
        Ok(InstallationId(decode::<Installation>(op, &raw)?.id))
    }

    async fn forget_token(&self, scope: &TokenScope) {
        self.inner.tokens.lock().await.forget(scope);
    }

    /// Sends one request under the retry policy. A 401 with an installation token
    /// forgets the token and mints a new one, once.
    async fn send(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        auth: Auth<'_>,
    ) -> Result<Raw, GitHubError> {
        let policy = &self.inner.policy;
        let mut retry = 0u32;
        let mut reminted = false;
        loop {
            let authorization = match &auth {
                Auth::Jwt => Some(format!(
                    "Bearer {}",
                    self.app_jwt_at(chrono::Utc::now().timestamp())
                        .map_err(|e| GitHubError::Decode {
                            operation: op.into(),
                            cause: e.to_string()
                        })?
                        .expose_secret()
                )),
                Auth::Installation(scope) => {
                    let token = Box::pin(self.installation_token(scope))
                        .await
                        .map_err(|e| GitHubError::Token {
                            installation: scope.installation.0,
                            source: Box::new(e),
                        })?;
                    Some(format!("token {}", token.expose_secret()))
                }
                Auth::None => None,
            };
            let attempt = self.execute(method.clone(), path, body.clone(), authorization);
            let outcome = tokio::time::timeout(policy.request_timeout, attempt).await;
            let cause = match outcome {
                Ok(Ok(raw)) => {
                    let now = chrono::Utc::now().timestamp();
                    match policy.classify(raw.status, &raw.headers, &raw.body, retry + 1, now) {
                        Verdict::Done => return Ok(raw),
                        Verdict::Reauthenticate => match &auth {
                            Auth::Installation(scope) if !reminted => {
                                reminted = true;
                                tracing::info!(
                                    operation = op,
                                    "token refused (401): minting a new one"
                                );
                                self.forget_token(scope).await;
                                continue;
                            }
                            _ => return Err(status_error(op, &raw)),
                        },
                        Verdict::RetryAfter(wait) => {
                            retry += 1;
                            tracing::warn!(operation = op, status = %raw.status, wait_ms = wait.as_millis() as u64, retry, "GitHub call will be retried");
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        Verdict::RateLimitedTooLong(wait) => {
                            return Err(GitHubError::RateLimited {
                                operation: op.into(),
                                wait_secs: wait.as_secs(),
                            });
                        }
                        Verdict::Fail
                            if raw.status.is_server_error()
                                || raw.status == StatusCode::TOO_MANY_REQUESTS =>
                        {
                            return Err(GitHubError::Exhausted {
                                operation: op.into(),
                                attempts: retry + 1,
                                cause: status_error(op, &raw).to_string(),
                            });
                        }
                        Verdict::Fail => return Err(status_error(op, &raw)),
                    }
                }
                Ok(Err(e)) => format!("{e:#}"),
                Err(_) => format!("no answer within {} s", policy.request_timeout.as_secs()),
            };
            retry += 1;
            if retry > policy.max_retries {
                return Err(GitHubError::Exhausted {
                    operation: op.into(),
                    attempts: retry,
                    cause,
                });
            }
            tracing::warn!(operation = op, cause = %cause, retry, "GitHub call failed; retrying");
            tokio::time::sleep(policy.backoff(retry)).await;
        }
    }

    async fn execute(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        authorization: Option<String>,
    ) -> anyhow::Result<Raw> {
        let mut builder = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::ACCEPT, "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header(
                header::USER_AGENT,
                concat!("fixpoint/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(auth) = authorization {
            let mut value =
                header::HeaderValue::from_str(&auth).context("token is not a valid header")?;
            value.set_sensitive(true);
            builder = builder.header(header::AUTHORIZATION, value);
        }
        let has_body = body.is_some();
        if has_body {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let body =
            String::from_utf8(body.unwrap_or_default()).context("request body is not UTF-8")?;
        let request = builder.body(body).context("cannot build the request")?;
        let response = self
            .inner
            .http
            .execute(request)
            .await
            .context("request failed")?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .context("cannot read the response")?
            .to_bytes();
        Ok(Raw {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

fn status_error(op: &str, raw: &Raw) -> GitHubError {
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
    GitHubError::Status {
        operation: op.into(),
        status: raw.status,
        message,
    }
}

fn decode<T: DeserializeOwned>(op: &str, raw: &Raw) -> Result<T, GitHubError> {
    serde_json::from_slice(&raw.body).map_err(|e| GitHubError::Decode {
        operation: op.into(),
        cause: e.to_string(),
    })
}

/// Operations on one repository, with a token narrowed to it.
#[derive(Clone)]
pub struct RepoClient {
    app: GitHubApp,
    scope: TokenScope,
}

impl std::fmt::Debug for RepoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoClient")
            .field("repo", &self.scope.repo.to_string())
            .field("installation", &self.scope.installation)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowJob {
    pub id: u64,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    #[serde(default)]
    pub steps: Vec<JobStep>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobStep {
    pub name: String,
    pub number: u64,
    pub conclusion: Option<String>,
}

#[derive(Deserialize)]
struct JobsPage {
    total_count: u64,
    jobs: Vec<WorkflowJob>,
}

#[derive(Deserialize)]
struct ContentFile {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    encoding: String,
}

impl RepoClient {
    pub fn repo(&self) -> &RepoName {
        &self.scope.repo
    }

    async fn get(&self, op: &str, path: &str) -> Result<Raw, GitHubError> {
        self.app
            .send(op, Method::GET, path, None, Auth::Installation(&self.scope))
            .await
    }

    /// Every job of one attempt of a run (paginated).
    pub async fn list_run_jobs(
        &self,
        run: RunId,
        attempt: u64,
    ) -> Result<Vec<WorkflowJob>, GitHubError> {
        let op = "list the run's jobs";
        let mut jobs = Vec::new();
        for page in 1..=20 {
            let path = format!(
                "/repos/{}/actions/runs/{run}/attempts/{attempt}/jobs?per_page=100&page={page}",
                self.scope.repo
            );
            let batch: JobsPage = decode(op, &self.get(op, &path).await?)?;
            let done = batch.jobs.is_empty();
            jobs.extend(batch.jobs);
            if done || jobs.len() as u64 >= batch.total_count {
                break;
            }
        }
        Ok(jobs)
    }

    /// A file's text at a commit; `None` when the file does not exist there.
    pub async fn read_file(
        &self,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<String>, GitHubError> {
        let op = "read a file";
        let url = format!("/repos/{}/contents/{path}?ref={git_ref}", self.scope.repo);
        let raw = match self.get(op, &url).await {
            Ok(raw) => raw,
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => return Ok(None),
            Err(e) => return Err(e),
        };
        let file: ContentFile = decode(op, &raw)?;
        if file.kind != "file" || file.encoding != "base64" {
            return Err(GitHubError::Decode {
                operation: op.into(),
                cause: format!("{path} is a {} ({}), not a file", file.kind, file.encoding),
            });
        }
        let compact: String = file.content.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| GitHubError::Decode {
                operation: op.into(),
                cause: e.to_string(),
            })?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| GitHubError::Decode {
                operation: op.into(),
                cause: format!("{path} is not UTF-8 text"),
            })
    }

    /// One job's log (`GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs`): plain text,
    /// every line timestamped. The body is left unread, to be streamed (`chunk()`).
    pub async fn download_job_logs(
        &self,
        job: crate::ids::JobId,
    ) -> Result<reqwest::Response, GitHubError> {
        let path = format!("/repos/{}/actions/jobs/{job}/logs", self.scope.repo);
        self.download("download a job's log", &path).await
    }

    /// The zip archive of one attempt's logs
    /// (`GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/logs`):
    /// a file per job and, per job, a file per step. The body is left unread.
    pub async fn download_run_logs(
        &self,
        run: RunId,
        attempt: u64,
    ) -> Result<reqwest::Response, GitHubError> {
        let path = format!(
            "/repos/{}/actions/runs/{run}/attempts/{attempt}/logs",
            self.scope.repo
        );
        self.download("download a run's logs", &path).await
    }

    /// Asks the API for a download under the retry policy, then fetches the URL it
    /// redirects to (302) without our token: the signed URL is its own credential, and
    /// blob storage must never see ours. The answer's body is left for the caller.
    async fn download(&self, op: &str, path: &str) -> Result<reqwest::Response, GitHubError> {
        let raw = self.get(op, path).await?;
        if !raw.status.is_redirection() {
            // The HTTP layer followed the redirect itself (octocrab's `follow-redirect`
            // feature): the whole body is already in memory, and was fetched with our
            // token when the redirect stayed on GitHub's origin.
            tracing::warn!(
                operation = op,
                "the GitHub client followed a download redirect itself: the body was read into memory"
            );
            let mut response = axum::http::Response::new(raw.body);
            *response.status_mut() = raw.status;
            *response.headers_mut() = raw.headers;
            return Ok(reqwest::Response::from(response));
        }
        let decode_error = |cause: String| GitHubError::Decode {
            operation: op.into(),
            cause,
        };
        let location = raw
            .headers
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| decode_error(format!("a {} without a Location header", raw.status)))?
            .to_string();
        let policy = &self.app.inner.policy;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .connect_timeout(policy.request_timeout)
            .read_timeout(policy.request_timeout)
            .user_agent(concat!("fixpoint/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| decode_error(format!("cannot build the download client: {e}")))?;
        let mut retry = 0u32;
        loop {
            // Causes never carry the URL: its query string is a credential.
            let attempt =
                tokio::time::timeout(policy.request_timeout, client.get(&location).send());
            let cause = match attempt.await {
                Ok(Ok(response)) if response.status().is_success() => return Ok(response),
                Ok(Ok(response)) if !response.status().is_server_error() => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    return Err(GitHubError::Status {
                        operation: op.into(),
                        status,
                        message: body.chars().take(200).collect(),
                    });
                }
                Ok(Ok(response)) => format!("the download answered {}", response.status()),
                Ok(Err(e)) => format!("the download failed: {}", e.without_url()),
                Err(_) => format!("no answer within {} s", policy.request_timeout.as_secs()),
            };
            retry += 1;
            if retry > policy.max_retries {
                return Err(GitHubError::Exhausted {
                    operation: op.into(),
                    attempts: retry,
                    cause,
                });
            }
            tracing::warn!(operation = op, cause = %cause, retry, "log download failed; retrying");
            tokio::time::sleep(policy.backoff(retry)).await;
        }
    }
}

/// What GitHub returns for a completed manifest registration.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestConversion {
    pub id: u64,
    pub slug: Option<String>,
    pub name: String,
    pub html_url: String,
    pub pem: SecretString,
    pub webhook_secret: SecretString,
}

/// Exchanges the code GitHub hands the setup redirect for the new App's credentials.
/// The endpoint takes no authentication: the short-lived code is the credential.
pub async fn convert_manifest(
    api_url: &str,
    code: &str,
) -> Result<ManifestConversion, GitHubError> {
    let op = "convert the App manifest";
    let http = http_client(api_url, &RetryPolicy::default()).map_err(|e| GitHubError::Decode {
        operation: op.into(),
        cause: e.to_string(),
    })?;
    // A throwaway App value only to reuse `send`'s policy; it signs nothing.
    let app = GitHubApp {
        inner: Arc::new(Inner {
            app_id: AppId(0),
            key: octocrab::EncodingKey::from_secret(b"unused"),
            http,
            policy: RetryPolicy::default(),
            tokens: Mutex::default(),
        }),
    };
    let raw = app
        .send(
            op,
            Method::POST,
            &format!("/app-manifests/{code}/conversions"),
            Some(b"{}".to_vec()),
            Auth::None,
        )
        .await?;
    decode(op, &raw)
}
