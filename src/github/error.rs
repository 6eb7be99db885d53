//! What went wrong talking to GitHub, in variants a caller can match on.

use axum::http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// GitHub answered, and the answer was a refusal (404, 422, a 403 that is not a limit…).
    #[error("GitHub {operation}: {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
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
    /// GitHub answered 2xx with a body that is not what its documentation says.
    #[error("GitHub {operation}: unexpected response: {cause}")]
    Decode { operation: String, cause: String },
    /// The App's JWT could not be made (a key that cannot sign RS256).
    #[error("cannot sign the App's JWT for {operation}: {cause}; check PRIVATE_KEY")]
    Jwt { operation: String, cause: String },
    /// The request could not be built (a client that cannot be configured, a header that
    /// cannot be sent).
    #[error("GitHub {operation}: cannot make the request: {cause}")]
    Request { operation: String, cause: String },
    /// Fixpoint's own rules refused the call before it left (a branch outside
    /// `fixpoint/`, a path under `.github/workflows/`).
    #[error("refused before calling GitHub ({operation}): {reason}")]
    Refused { operation: String, reason: String },
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

    /// An answer retrying cannot change: a 4xx, for the call or for its token, a key
    /// that cannot sign, or a call Fixpoint's rules refuse.
    pub fn is_permanent(&self) -> bool {
        match self {
            GitHubError::Status { status, .. } => status.is_client_error(),
            GitHubError::Token { source, .. } => source.is_permanent(),
            GitHubError::Jwt { .. } | GitHubError::Refused { .. } => true,
            _ => false,
        }
    }

    pub(super) fn decode(operation: &str, cause: impl std::fmt::Display) -> Self {
        GitHubError::Decode {
            operation: operation.into(),
            cause: cause.to_string(),
        }
    }

    pub(super) fn refused(operation: &str, reason: impl Into<String>) -> Self {
        GitHubError::Refused {
            operation: operation.into(),
            reason: reason.into(),
        }
    }
}
