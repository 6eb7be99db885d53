//! One retry and rate-limit policy for every call Fixpoint makes to GitHub.
//!
//! octocrab's own retries are off (its `retry` feature is not enabled) so that this is
//! the only place that decides: 5xx and timeouts are retried with capped exponential
//! backoff; 429 and 403 secondary limits wait for `retry-after`, else until
//! `x-ratelimit-reset`, else at least a minute; a 401 re-mints the token once.
//! Retries are capped and the final failure names the operation and the cause.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first try, for 5xx, timeouts and rate limits together.
    pub max_retries: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// GitHub's guidance when a secondary limit gives no time: wait at least a minute.
    pub min_rate_limit_wait: Duration,
    /// A longer wait than this is not slept through: the call fails and says until when.
    pub max_rate_limit_wait: Duration,
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            min_rate_limit_wait: Duration::from_secs(60),
            max_rate_limit_wait: Duration::from_secs(15 * 60),
            request_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done,
    /// The token was refused: mint a new one and try once more.
    Reauthenticate,
    /// Try again after this long.
    RetryAfter(Duration),
    /// Rate limited for longer than the policy will wait.
    RateLimitedTooLong(Duration),
    /// A final answer (404, 422, a non-rate-limit 403 …).
    Fail,
}

impl RetryPolicy {
    /// Backoff before retry number `retry` (1-based), with a little jitter so that
    /// workers that failed together do not retry together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let jitter_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_nanos()) % 100)
            .unwrap_or(0);
        exp.min(self.max_backoff) + Duration::from_millis(jitter_ms)
    }

    /// What to do with a response; `now_epoch` is the current Unix time in seconds.
    pub fn classify(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        retry: u32,
        now_epoch: i64,
    ) -> Verdict {
        if status.is_success() || status.is_redirection() {
            return Verdict::Done;
        }
        if status == StatusCode::UNAUTHORIZED {
            return Verdict::Reauthenticate;
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN
                && (header("retry-after").is_some()
                    || header("x-ratelimit-remaining") == Some("0")
                    || String::from_utf8_lossy(body)
                        .to_ascii_lowercase()
                        .contains("rate limit")));
        if rate_limited {
            let wait = if let Some(secs) =
                header("retry-after").and_then(|v| v.trim().parse::<u64>().ok())
            {
                Duration::from_secs(secs)
            } else if let Some(reset) =
                header("x-ratelimit-reset").and_then(|v| v.trim().parse::<i64>().ok())
            {
                Duration::from_secs((reset - now_epoch).max(1) as u64)
            } else {
                self.min_rate_limit_wait
            };
            if wait > self.max_rate_limit_wait {
                return Verdict::RateLimitedTooLong(wait);
            }
            if retry > self.max_retries {
                return Verdict::Fail;
            }
            return Verdict::RetryAfter(wait);
        }
        if status.is_server_error() && retry <= self.max_retries {
            return Verdict::RetryAfter(self.backoff(retry));
        }
        Verdict::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn secondary_limits_wait_as_github_says_or_a_minute() {
        let p = RetryPolicy::default();
        let v = p.classify(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "7")]),
            b"",
            1,
            0,
        );
        assert_eq!(v, Verdict::RetryAfter(Duration::from_secs(7)));
        let v = p.classify(
            StatusCode::FORBIDDEN,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1000"),
            ]),
            b"",
            1,
            970,
        );
        assert_eq!(v, Verdict::RetryAfter(Duration::from_secs(30)));
        let v = p.classify(
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            br#"{"message":"You have exceeded a secondary rate limit"}"#,
            1,
            0,
        );
        assert_eq!(v, Verdict::RetryAfter(Duration::from_secs(60)));
    }

    #[test]
    fn a_plain_403_is_final_and_a_long_limit_is_not_slept_through() {
        let p = RetryPolicy::default();
        let v = p.classify(
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            br#"{"message":"Resource not accessible by integration"}"#,
            1,
            0,
        );
        assert_eq!(v, Verdict::Fail);
        let v = p.classify(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "3600")]),
            b"",
            1,
            0,
        );
        assert_eq!(v, Verdict::RateLimitedTooLong(Duration::from_secs(3600)));
    }

    #[test]
    fn server_errors_back_off_exponentially_and_stop() {
        let p = RetryPolicy::default();
        let first = p.backoff(1);
        let third = p.backoff(3);
        assert!(first >= Duration::from_millis(500) && first < Duration::from_millis(600));
        assert!(third >= Duration::from_secs(2) && third < Duration::from_millis(2100));
        assert_eq!(
            p.classify(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"", 5, 0),
            Verdict::Fail
        );
        assert_eq!(
            p.classify(StatusCode::UNAUTHORIZED, &HeaderMap::new(), b"", 1, 0),
            Verdict::Reauthenticate
        );
    }
}
