//! One message, read the way the playbooks read it: a log line becomes the signals it
//! carries (`read_line`), a stopped task's reason the cause ECS's taxonomy names
//! (`StopCause`, in the ecs skill) and the class that cause stands for (`stop_class`). The
//! logs playbook reads every line through `read_line`; tests read the message corpus
//! (tests/fixtures/messages.tsv) through the same two doors.

use super::metric;
use super::signals::{self, MissingSetting};
use crate::diagnose::RootCauseClass as Class;
use crate::skills::ecs::StopCause;
use crate::skills::{Evidence, Finding};

/// What a line says, by family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineSignal {
    /// A setting named missing (see [`MissingSetting`]).
    MissingConfig(MissingSetting),
    OutOfMemory,
    /// Waiting for database connections; `server_refuses` when PostgreSQL itself said no.
    PoolExhausted {
        server_refuses: bool,
    },
    LockWait,
    StatementTimeout,
    /// Redis refuses writes over maxmemory.
    CacheFull,
    /// Redis does not answer, or turns clients away.
    CacheUnreachable,
    Throttled,
    HealthCheck,
    /// A host name that does not resolve: whose problem it is depends on the whole sweep.
    NameResolution,
}

impl LineSignal {
    /// The class the signal points at, on its own.
    pub fn class(&self) -> Option<Class> {
        Some(match self {
            Self::MissingConfig(_) => Class::MissingConfig,
            Self::OutOfMemory => Class::OomKilled,
            Self::PoolExhausted { .. } => Class::DbConnectionsExhausted,
            Self::LockWait => Class::DbBlockingLocks,
            Self::StatementTimeout => Class::DbSlowQueries,
            Self::CacheFull => Class::CacheMemoryPressure,
            Self::CacheUnreachable => Class::CacheUnreachable,
            Self::Throttled => Class::LambdaThrottled,
            Self::HealthCheck => Class::HealthCheckFailed,
            Self::NameResolution => return None,
        })
    }
}

/// Every signal in one line (`line` as logged; the markers are matched lowercased).
pub fn read_line(line: &str) -> Vec<LineSignal> {
    let lower = line.to_lowercase();
    let mut out = Vec::new();
    if let Some(setting) = signals::missing_setting(line, &lower) {
        out.push(LineSignal::MissingConfig(setting));
    }
    let has = |markers: &[&str]| signals::any(&lower, markers);
    if has(signals::OOM) {
        out.push(LineSignal::OutOfMemory);
    }
    if has(signals::POOL_EXHAUSTED) {
        out.push(LineSignal::PoolExhausted {
            server_refuses: has(signals::SERVER_REFUSES),
        });
    }
    if has(signals::LOCK_WAIT) {
        out.push(LineSignal::LockWait);
    }
    if has(signals::STATEMENT_TIMEOUT) {
        out.push(LineSignal::StatementTimeout);
    }
    if has(signals::CACHE_FULL) {
        out.push(LineSignal::CacheFull);
    }
    if signals::about_redis(&lower) && has(signals::CONNECT_FAILED)
        || has(signals::CACHE_REFUSES_CLIENTS)
    {
        out.push(LineSignal::CacheUnreachable);
    }
    if has(signals::THROTTLED) {
        out.push(LineSignal::Throttled);
    }
    if has(signals::HEALTH_CHECK) {
        out.push(LineSignal::HealthCheck);
    }
    if has(signals::NAME_RESOLUTION) {
        out.push(LineSignal::NameResolution);
    }
    out
}

/// The class a stopped task's cause stands for, when it names one. Network set-up and
/// start failures (capacity, placement) name no class of their own.
pub fn stop_class(cause: StopCause) -> Option<Class> {
    Some(match cause {
        StopCause::ImagePull | StopCause::RegistryAuth => Class::ImagePullFailed,
        StopCause::SecretFetch | StopCause::LogDriver => Class::MissingConfig,
        StopCause::OutOfMemory => Class::OomKilled,
        StopCause::HealthCheck => Class::HealthCheckFailed,
        StopCause::Crashed(_) => Class::CrashLoop,
        StopCause::Network
        | StopCause::FailedToStart
        | StopCause::Deliberate
        | StopCause::Other => {
            return None;
        }
    })
}

/// A finding's stopped tasks by cause: the skill's counts, else its evidence lines read by
/// the same taxonomy (findings recorded before the skill counted every cause).
pub(super) struct Stops<'f> {
    f: &'f Finding,
}

impl<'f> Stops<'f> {
    pub(super) fn read(f: &'f Finding) -> Self {
        Stops { f }
    }

    fn metric_name(cause: StopCause) -> Option<&'static str> {
        Some(match cause {
            StopCause::ImagePull => "image_pull_failures",
            StopCause::RegistryAuth => "registry_auth_failures",
            StopCause::SecretFetch => "secret_fetch_failures",
            StopCause::LogDriver => "log_driver_failures",
            StopCause::Network => "network_failures",
            StopCause::HealthCheck => "health_check_stops",
            _ => return None,
        })
    }

    pub(super) fn count(&self, cause: StopCause) -> f64 {
        let counted = Self::metric_name(cause).and_then(|m| metric(self.f, m));
        match counted {
            Some(n) if n > 0.0 => n,
            _ => self
                .evidence(cause)
                .iter()
                .filter(|e| self.says(e, cause))
                .count() as f64,
        }
    }

    fn says(&self, e: &Evidence, cause: StopCause) -> bool {
        StopCause::from_reason(&e.text) == Some(cause)
    }

    /// The lines that show `cause`: stopped tasks, events and the summary's own words.
    pub(super) fn evidence(&self, cause: StopCause) -> Vec<&'f Evidence> {
        self.f
            .evidence
            .iter()
            .filter(|e| self.says(e, cause))
            .collect()
    }
}
