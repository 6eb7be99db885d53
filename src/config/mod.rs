//! Process configuration, read once at start-up from the environment (and `.env`).
//!
//! A missing or malformed value stops start-up with a message that names the variable
//! and what it should hold. With no `APP_ID` at all the server runs in setup mode and
//! serves the registration page instead (see `server::setup`).

pub mod fixing;
pub mod model;
pub mod repo;
pub mod sweep;

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::ids::AppId;

/// Everything `fixpoint serve` needs, whether or not the App is registered yet.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub port: u16,
    pub database_url: String,
    pub github_api_url: String,
    /// Where GitHub's web UI lives (github.com, or a GHES host); the setup page posts there.
    pub github_web_url: String,
    pub public_url: Option<String>,
    /// The `.env` file the setup flow writes the App's credentials to.
    pub env_file: PathBuf,
    pub workers: usize,
    pub job_lease: Duration,
    pub max_attempts: u32,
    /// The WAL size at which the delivery writer starts it over under sustained load.
    pub wal_restart_mib: u64,
    /// What the workers need besides the store and GitHub.
    pub settings: Settings,
    /// `None` until the App is registered: the server then serves the setup page.
    pub app: Option<AppCredentials>,
}

/// How investigations run: shared by the workers and the one-shot commands.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Environment names refused as production besides `prod`, `production` and `live`.
    pub production_names: Vec<String>,
    /// The model that reasons beside the rules engine, when one is configured.
    pub model: Option<model::ModelConfig>,
    /// Where a sweep may connect and which variables its maps may read.
    pub sweep: sweep::SweepSettings,
    /// How often a waiting loop looks at CI and at the rollout when nothing woke it
    /// (`FIXPOINT_LOOP_POLL_SECS`); `None`: every minute for CI, every 30 s for rollouts.
    pub loop_poll: Option<Duration>,
}

impl Settings {
    pub fn from_vars(vars: &dyn Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            production_names: vars
                .get("FIXPOINT_PRODUCTION_NAMES")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            model: model::ModelConfig::from_vars(vars)?,
            sweep: sweep::SweepSettings::from_vars(vars)?,
            loop_poll: match vars.get("FIXPOINT_LOOP_POLL_SECS") {
                None => None,
                Some(_) => {
                    let secs = parse_num(
                        vars,
                        "FIXPOINT_LOOP_POLL_SECS",
                        30u64,
                        "seconds from 1 to 600, such as 30",
                    )?;
                    if !(1..=600).contains(&secs) {
                        return Err(err(
                            "FIXPOINT_LOOP_POLL_SECS",
                            format!("{secs} is out of range"),
                            "use seconds from 1 to 600",
                        ));
                    }
                    Some(Duration::from_secs(secs))
                }
            },
        })
    }
}

/// The App's identity and secrets. `Debug` never shows the secrets (`secrecy`).
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub app_id: AppId,
    pub private_key: SecretString,
    /// One or more secrets, so one can be rotated while the other still verifies.
    pub webhook_secrets: Vec<SecretString>,
}

#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}. {fix}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
    pub fix: String,
}

pub(crate) fn err(
    var: &'static str,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// A source of variables: the process environment in production, a map in tests.
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl<S: std::hash::BuildHasher> Vars for std::collections::HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name)
            .cloned()
            .filter(|v| !v.trim().is_empty())
    }
}

/// Loads `.env` (if present) into the process environment without overriding variables
/// that are already set, then reads the configuration.
pub fn load_from_env(env_file: &Path) -> Result<ServerConfig, ConfigError> {
    if env_file.exists() {
        dotenvy::from_path(env_file).map_err(|e| env_file_error(env_file, &e))?;
    }
    from_vars(&ProcessEnv, env_file.to_path_buf())
}

/// dotenvy's own message quotes the offending text, which may be a secret: name the
/// line by its number instead.
fn env_file_error(env_file: &Path, e: &dotenvy::Error) -> ConfigError {
    let problem = match e {
        dotenvy::Error::LineParse(text, _) => {
            let first = text.lines().next().unwrap_or("").trim();
            let line = std::fs::read_to_string(env_file).ok().and_then(|file| {
                file.lines()
                    .position(|l| !first.is_empty() && l.contains(first))
            });
            match line {
                Some(n) => format!("cannot parse line {} of {}", n + 1, env_file.display()),
                None => format!("cannot parse {}", env_file.display()),
            }
        }
        dotenvy::Error::Io(io) => format!("cannot read {}: {io}", env_file.display()),
        _ => format!("cannot load {}", env_file.display()),
    };
    err(
        "FIXPOINT_ENV_FILE",
        problem,
        "write each line as NAME=value, double-quote values with spaces or several lines, or remove the file",
    )
}

pub fn from_vars(vars: &dyn Vars, env_file: PathBuf) -> Result<ServerConfig, ConfigError> {
    let port = parse_num(vars, "PORT", 3000u16, "a TCP port such as 3000")?;
    let database_url = vars
        .get("DATABASE_URL")
        .unwrap_or_else(|| "sqlite://fixpoint.sqlite".to_string());
    if !database_url.starts_with("sqlite:") {
        return Err(err(
            "DATABASE_URL",
            format!("`{}` is not a SQLite URL", scheme_only(&database_url)),
            "use sqlite://PATH (for example sqlite:///data/fixpoint.sqlite); only SQLite ships today",
        ));
    }
    if crate::store::is_in_memory(&database_url) {
        return Err(err(
            "DATABASE_URL",
            "is an in-memory database, which a restart empties: a 202 promises GitHub the delivery is on disk".to_string(),
            "use sqlite://PATH (for example sqlite:///data/fixpoint.sqlite)",
        ));
    }
    let github_api_url = url_var(vars, "GITHUB_API_URL", "https://api.github.com")?;
    let default_web = if github_api_url == "https://api.github.com" {
        "https://github.com".to_string()
    } else {
        // GitHub Enterprise Server serves the API under /api/v3 on the web host.
        github_api_url.trim_end_matches("/api/v3").to_string()
    };
    let github_web_url = url_var(vars, "GITHUB_WEB_URL", &default_web)?;
    let public_url = match vars.get("PUBLIC_URL") {
        None => None,
        Some(u) => Some(check_url("PUBLIC_URL", &u)?),
    };
    let workers = parse_num(
        vars,
        "FIXPOINT_WORKERS",
        4usize,
        "a worker count from 1 to 64",
    )?;
    if !(1..=64).contains(&workers) {
        return Err(err(
            "FIXPOINT_WORKERS",
            format!("{workers} is out of range"),
            "use a worker count from 1 to 64",
        ));
    }
    let lease = parse_num(
        vars,
        "FIXPOINT_JOB_LEASE_SECS",
        60u64,
        "seconds, such as 60",
    )?;
    let max_attempts = parse_num(vars, "FIXPOINT_MAX_ATTEMPTS", 5u32, "a count such as 5")?;
    let wal_restart_mib = parse_num(
        vars,
        "FIXPOINT_WAL_RESTART_MIB",
        128u64,
        "mebibytes, such as 128",
    )?;
    Ok(ServerConfig {
        port,
        database_url,
        github_api_url,
        github_web_url,
        public_url,
        env_file,
        workers,
        job_lease: Duration::from_secs(lease.max(1)),
        max_attempts: max_attempts.max(1),
        wal_restart_mib: wal_restart_mib.max(1),
        settings: Settings::from_vars(vars)?,
        app: app_credentials(vars)?,
    })
}

/// `None` when `APP_ID` is unset (setup mode); an error when it is set but the rest is not.
fn app_credentials(vars: &dyn Vars) -> Result<Option<AppCredentials>, ConfigError> {
    let Some(raw_id) = vars.get("APP_ID") else {
        return Ok(None);
    };
    let app_id = raw_id.trim().parse::<u64>().map(AppId).map_err(|_| {
        err(
            "APP_ID",
            format!("`{}` is not a number", scheme_only(raw_id.trim())),
            "set it to the numeric App ID shown on the App's settings page",
        )
    })?;
    let pem = match (vars.get("PRIVATE_KEY"), vars.get("PRIVATE_KEY_PATH")) {
        (Some(pem), _) => unescape_newlines(&pem),
        (None, Some(path)) => std::fs::read_to_string(&path).map_err(|e| {
            err(
                "PRIVATE_KEY_PATH",
                format!("cannot read `{path}`: {e}"),
                "point it at the .pem file downloaded from the App's settings page",
            )
        })?,
        (None, None) => {
            return Err(err(
                "PRIVATE_KEY",
                "neither PRIVATE_KEY nor PRIVATE_KEY_PATH is set",
                "set PRIVATE_KEY to the App's PEM private key, or PRIVATE_KEY_PATH to its file",
            ));
        }
    };
    let var = if vars.get("PRIVATE_KEY").is_some() {
        "PRIVATE_KEY"
    } else {
        "PRIVATE_KEY_PATH"
    };
    if !signs_jwts(&pem) {
        return Err(err(
            var,
            "the value is not an RSA private key in PEM form",
            "use the .pem file GitHub generated for the App (-----BEGIN RSA PRIVATE KEY-----)",
        ));
    }
    let secrets = vars.get("WEBHOOK_SECRET").ok_or_else(|| {
        err(
            "WEBHOOK_SECRET",
            "it is not set",
            "set it to the App's webhook secret; several may be given, comma-separated, while rotating",
        )
    })?;
    let webhook_secrets: Vec<SecretString> = secrets
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| SecretString::from(s.to_string()))
        .collect();
    if webhook_secrets.is_empty() {
        return Err(err(
            "WEBHOOK_SECRET",
            "it holds no secret",
            "set it to the App's webhook secret",
        ));
    }
    Ok(Some(AppCredentials {
        app_id,
        private_key: SecretString::from(pem),
        webhook_secrets,
    }))
}

/// `EncodingKey::from_rsa_pem` also takes a *public* key; only signing proves a private one.
fn signs_jwts(pem: &str) -> bool {
    use octocrab::jsonwebtoken::{Algorithm, Header, encode};
    octocrab::EncodingKey::from_rsa_pem(pem.as_bytes()).is_ok_and(|key| {
        encode(&Header::new(Algorithm::RS256), &serde_json::json!({}), &key).is_ok()
    })
}

/// Platforms that store one-line secrets (Fly, many CI systems) keep PEM newlines as `\n`.
fn unescape_newlines(pem: &str) -> String {
    if pem.contains('\n') {
        pem.to_string()
    } else {
        pem.replace("\\n", "\n")
    }
}

/// A number from `var`, or `default` when unset; the error names the variable and `what`.
pub(crate) fn parse_num<T: std::str::FromStr>(
    vars: &dyn Vars,
    var: &'static str,
    default: T,
    what: &str,
) -> Result<T, ConfigError> {
    match vars.get(var) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            err(
                var,
                format!("`{}` is not a number", scheme_only(v.trim())),
                format!("set it to {what}"),
            )
        }),
    }
}

fn url_var(vars: &dyn Vars, var: &'static str, default: &str) -> Result<String, ConfigError> {
    match vars.get(var) {
        None => Ok(default.to_string()),
        Some(u) => check_url(var, &u),
    }
}

fn check_url(var: &'static str, u: &str) -> Result<String, ConfigError> {
    let u = u.trim().trim_end_matches('/');
    if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() < 10 {
        return Err(err(
            var,
            format!("`{}` is not an http(s) URL", scheme_only(u)),
            "give a full URL such as https://fixpoint.example.com",
        ));
    }
    if u.contains('@') {
        return Err(err(
            var,
            "the URL carries credentials",
            "remove the user:password@ part",
        ));
    }
    Ok(u.to_string())
}

/// Never echo a whole value back: it may be a secret pasted into the wrong variable.
pub(crate) fn scheme_only(v: &str) -> String {
    match v.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://…"),
        None if v.len() > 12 => format!("{}…", &v[..v.floor_char_boundary(12)]),
        None => v.to_string(),
    }
}

impl ServerConfig {
    /// Teaches the process-wide redactor this configuration's secret values, so they are
    /// removed from every log line, prompt and comment even where no pattern knows them.
    pub fn install_redactor(&self) {
        let mut values: Vec<(&str, String)> = Vec::new();
        if let Some(app) = &self.app {
            for s in &app.webhook_secrets {
                values.push(("WEBHOOK_SECRET", s.expose_secret().to_string()));
            }
        }
        if let Some(key) = self
            .settings
            .model
            .as_ref()
            .and_then(|m| m.api_key.as_ref())
        {
            values.push(("FIXPOINT_LLM_API_KEY", key.expose_secret().to_string()));
        }
        // What a map may read is a connection URL, often with a password in it.
        for name in self.settings.sweep.env.names() {
            if let Some(value) = ProcessEnv.get(name) {
                values.push((name, value));
            }
        }
        match crate::redact::Redactor::with_secret_values(values) {
            Ok(redactor) => {
                let _ = crate::redact::install(redactor);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot teach the redactor the configured secrets")
            }
        }
    }
}

impl AppCredentials {
    pub fn encoding_key(&self) -> octocrab::EncodingKey {
        // Checked in `app_credentials`, so this cannot fail for a loaded config.
        octocrab::EncodingKey::from_rsa_pem(self.private_key.expose_secret().as_bytes())
            .expect("private key was validated at start-up")
    }
}
