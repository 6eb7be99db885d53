//! Talking to GitHub as the App: authentication (`auth`), one transport with one retry
//! policy (`transport`, `policy`), and one client per installation and repository whose
//! verbs are split by purpose: `actions` (runs, jobs, logs, dispatch), `contents`, `git`
//! (the Git Data API), `pulls`, `issues` (comments, labels, reactions, assignees) and
//! `checks`. Writes obey `guard` (only `fixpoint/` branches, never a force push, nothing
//! under `.github/workflows/`) and every text Fixpoint writes passes the redactor.
//! There is no merge and no approve call anywhere here, by design.

pub mod actions;
pub mod auth;
pub mod checks;
pub mod contents;
mod error;
pub mod git;
pub mod guard;
pub mod issues;
pub mod policy;
pub mod pulls;
mod transport;
pub mod url;

use std::sync::Arc;

use axum::http::{Method, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::config::AppCredentials;
use crate::ids::{AppId, InstallationId, RepoName};
use auth::{CachedToken, Permissions, TokenCache, TokenRequest, TokenResponse, TokenScope};
pub use error::GitHubError;
pub use guard::FixpointBranch;
use policy::RetryPolicy;
use transport::{Attempt, Authorization, Raw, Transport, decode, retry_loop};

struct Inner {
    app_id: AppId,
    key: octocrab::EncodingKey,
    transport: Transport,
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

/// Who a request is made as.
enum Auth<'a> {
    Jwt,
    Installation(&'a TokenScope),
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
                transport: Transport::new(api_url, policy)?,
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
        let op = "create an installation token";
        let body = serde_json::to_vec(&TokenRequest {
            repositories: [scope.repo.name()],
            permissions: &scope.permissions,
        })
        .map_err(|e| GitHubError::decode(op, e))?;
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
        let path = format!("/repos/{repo}/installation");
        let raw = self.send(op, Method::GET, &path, None, Auth::Jwt).await?;
        Ok(InstallationId(decode::<Installation>(op, &raw)?.id))
    }

    async fn forget_token(&self, scope: &TokenScope) {
        self.inner.tokens.lock().await.forget(scope);
    }

    async fn authorization(
        &self,
        op: &str,
        auth: &Auth<'_>,
        renew: bool,
    ) -> Result<Authorization, GitHubError> {
        match auth {
            Auth::Jwt => {
                let jwt = self
                    .app_jwt_at(chrono::Utc::now().timestamp())
                    .map_err(|e| GitHubError::Jwt {
                        operation: op.into(),
                        cause: format!("{e:#}"),
                    })?;
                Ok(Authorization {
                    header: Some(format!("Bearer {}", jwt.expose_secret())),
                    renewable: false,
                })
            }
            Auth::Installation(scope) => {
                if renew {
                    self.forget_token(scope).await;
                }
                let token = Box::pin(self.installation_token(scope))
                    .await
                    .map_err(|e| GitHubError::Token {
                        installation: scope.installation.0,
                        source: Box::new(e),
                    })?;
                Ok(Authorization {
                    header: Some(format!("token {}", token.expose_secret())),
                    renewable: true,
                })
            }
        }
    }

    async fn send(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        auth: Auth<'_>,
    ) -> Result<Raw, GitHubError> {
        let auth = &auth;
        self.inner
            .transport
            .send(op, method, path, body, |renew| {
                self.authorization(op, auth, renew)
            })
            .await
    }
}

/// Operations on one repository, with a token narrowed to it. The verbs live in the
/// modules named after their part of the API.
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

impl RepoClient {
    pub fn repo(&self) -> &RepoName {
        &self.scope.repo
    }

    /// `/repos/{owner}/{repo}` followed by `rest`.
    fn path(&self, rest: &str) -> String {
        format!(
            "/repos/{}/{}{rest}",
            url::segment(self.scope.repo.owner()),
            url::segment(self.scope.repo.name())
        )
    }

    async fn call(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Raw, GitHubError> {
        self.app
            .send(op, method, path, body, Auth::Installation(&self.scope))
            .await
    }

    async fn get<T: DeserializeOwned>(&self, op: &str, path: &str) -> Result<T, GitHubError> {
        decode(op, &self.call(op, Method::GET, path, None).await?)
    }

    /// A GET whose 404 means "there is none".
    async fn get_optional<T: DeserializeOwned>(
        &self,
        op: &str,
        path: &str,
    ) -> Result<Option<T>, GitHubError> {
        match self.call(op, Method::GET, path, None).await {
            Ok(raw) => decode(op, &raw).map(Some),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends `body` as JSON and decodes the answer.
    async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, GitHubError> {
        let body = serde_json::to_vec(body).map_err(|e| GitHubError::decode(op, e))?;
        decode(op, &self.call(op, method, path, Some(body)).await?)
    }

    /// Sends `body` as JSON where the answer says nothing Fixpoint needs (a 204, or a list
    /// of labels it just set).
    async fn send_no_content<B: Serialize>(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<(), GitHubError> {
        let body = serde_json::to_vec(body).map_err(|e| GitHubError::decode(op, e))?;
        self.call(op, method, path, Some(body)).await.map(|_| ())
    }

    /// Asks the API for a download under the retry policy, then fetches the URL it
    /// redirects to (302) without our token: the signed URL is its own credential, and
    /// blob storage must never see ours. The answer's body is left for the caller.
    async fn download(&self, op: &str, path: &str) -> Result<reqwest::Response, GitHubError> {
        let raw = self.call(op, Method::GET, path, None).await?;
        if !raw.status.is_redirection() {
            // The HTTP layer followed the redirect itself: the whole body is already in
            // memory, and was fetched with our token when the redirect stayed on GitHub.
            tracing::warn!(
                operation = op,
                "the GitHub client followed a download redirect itself: the body was read into memory"
            );
            let mut response = axum::http::Response::new(raw.body);
            *response.status_mut() = raw.status;
            *response.headers_mut() = raw.headers;
            return Ok(reqwest::Response::from(response));
        }
        let location = raw
            .headers
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| {
                GitHubError::decode(op, format!("a {} without a Location header", raw.status))
            })?
            .to_string();
        let policy = &self.app.inner.transport.policy;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .connect_timeout(policy.request_timeout)
            .read_timeout(policy.request_timeout)
            .user_agent(transport::USER_AGENT)
            .build()
            .map_err(|e| GitHubError::Request {
                operation: op.into(),
                cause: format!("cannot build the download client: {e}"),
            })?;
        retry_loop(policy, op, |_| {
            let fetch = client.get(&location).send();
            async move {
                // Causes never carry the URL: its query string is a credential.
                match tokio::time::timeout(policy.request_timeout, fetch).await {
                    Ok(Ok(response)) if response.status().is_success() => Attempt::Done(response),
                    Ok(Ok(response)) if !response.status().is_server_error() => {
                        let status = response.status();
                        let body = response.text().await.unwrap_or_default();
                        Attempt::Failed(GitHubError::Status {
                            operation: op.into(),
                            status,
                            message: crate::redact::redact(&body).chars().take(200).collect(),
                        })
                    }
                    Ok(Ok(response)) => Attempt::Retry {
                        cause: format!("the download answered {}", response.status()),
                        wait: None,
                    },
                    Ok(Err(e)) => Attempt::Retry {
                        cause: format!("the download failed: {}", e.without_url()),
                        wait: None,
                    },
                    Err(_) => Attempt::Retry {
                        cause: format!("no answer within {} s", policy.request_timeout.as_secs()),
                        wait: None,
                    },
                }
            }
        })
        .await
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
    let transport =
        Transport::new(api_url, RetryPolicy::default()).map_err(|e| GitHubError::Request {
            operation: op.into(),
            cause: format!("{e:#}"),
        })?;
    let path = format!("/app-manifests/{}/conversions", url::segment(code));
    let raw = transport
        .send(op, Method::POST, &path, Some(b"{}".to_vec()), |_| async {
            Ok(Authorization {
                header: None,
                renewable: false,
            })
        })
        .await?;
    decode(op, &raw)
}
