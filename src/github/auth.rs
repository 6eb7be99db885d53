//! App authentication: the App's JWT, and installation tokens narrowed to one
//! repository and the permissions a job needs, cached until 5 minutes before expiry.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use octocrab::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::ids::{AppId, InstallationId, RepoName};

/// Refresh this long before GitHub says a token expires, so a token never dies mid-job.
pub const REFRESH_MARGIN: ChronoDuration = ChronoDuration::minutes(5);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtClaims {
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// Claims for a JWT made at `now` (Unix seconds): issued 60 s in the past to allow for
/// clock drift, expiring 9 minutes later (GitHub refuses more than 10).
pub fn jwt_claims(app_id: AppId, now: i64) -> JwtClaims {
    JwtClaims {
        iat: now - 60,
        exp: now + 9 * 60,
        iss: app_id.to_string(),
    }
}

pub fn sign_jwt(key: &EncodingKey, claims: &JwtClaims) -> anyhow::Result<SecretString> {
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, key)
        .map_err(|e| anyhow::anyhow!("cannot sign the App JWT: {e}"))?;
    Ok(SecretString::from(token))
}

/// Permissions an installation token is narrowed to, e.g. `actions: read`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Permissions(pub BTreeMap<&'static str, &'static str>);

impl Permissions {
    pub fn new(pairs: &[(&'static str, &'static str)]) -> Self {
        Self(pairs.iter().copied().collect())
    }

    /// What an investigation needs: read the run, its jobs and logs, and the repo config.
    pub fn investigate() -> Self {
        Self::new(&[
            ("actions", "read"),
            ("contents", "read"),
            ("metadata", "read"),
        ])
    }
}

/// One cached token per (installation, repository, permissions).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenScope {
    pub installation: InstallationId,
    pub repo: RepoName,
    pub permissions: Permissions,
}

#[derive(Debug, Clone)]
pub struct CachedToken {
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
}

impl CachedToken {
    pub fn fresh_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at - now > REFRESH_MARGIN
    }
}

#[derive(Default)]
pub struct TokenCache {
    tokens: HashMap<TokenScope, CachedToken>,
}

impl TokenCache {
    pub fn get(&self, scope: &TokenScope, now: DateTime<Utc>) -> Option<SecretString> {
        self.tokens
            .get(scope)
            .filter(|t| t.fresh_at(now))
            .map(|t| t.token.clone())
    }

    pub fn put(&mut self, scope: TokenScope, token: CachedToken) {
        self.tokens.insert(scope, token);
    }

    pub fn forget(&mut self, scope: &TokenScope) {
        self.tokens.remove(scope);
    }
}

/// The body of `POST /app/installations/{id}/access_tokens`.
#[derive(Debug, Serialize)]
pub struct TokenRequest<'a> {
    pub repositories: [&'a str; 1],
    pub permissions: &'a Permissions,
}

#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_follow_githubs_rules() {
        let c = jwt_claims(AppId(42), 1_700_000_000);
        assert_eq!(c.iat, 1_700_000_000 - 60);
        assert!(c.exp - 1_700_000_000 <= 600);
        assert!(c.exp > 1_700_000_000);
        assert_eq!(c.iss, "42");
    }

    #[test]
    fn tokens_are_refreshed_five_minutes_early() {
        let now = Utc::now();
        let t = |mins| CachedToken {
            token: SecretString::from("ghs_x".to_string()),
            expires_at: now + ChronoDuration::minutes(mins),
        };
        assert!(t(60).fresh_at(now));
        assert!(!t(4).fresh_at(now));
    }
}
