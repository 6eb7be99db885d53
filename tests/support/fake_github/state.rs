//! Everything the fake knows and remembers, and GitHub's access rules over it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::auth::{self, RsaKeyPair};
use super::ci::WebhookTarget;
use super::model::{
    AuthKind, JwtRecord, ManifestConversion, RequestRecord, TokenMint, WorkflowRun,
};
use super::records::Delivery;
use super::repos::Repo;

/// The GitHub App the fake plays the server for.
pub(super) struct App {
    pub id: u64,
    /// The login of the organization that owns the App.
    pub owner: String,
    pub slug: String,
    pub name: String,
    pub keys: RsaKeyPair,
}

pub(super) struct Installation {
    pub account: String,
    /// Lower-cased repository names; `None` = all repositories of the account.
    pub repositories: Option<Vec<String>>,
    pub permissions: BTreeMap<String, String>,
}

pub(super) struct Grant {
    pub installation_id: u64,
    pub repositories: Option<Vec<String>>,
    pub permissions: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// An injected answer for the next `remaining` requests matching `method` and `path_prefix`.
pub(super) struct Fault {
    pub method: String,
    pub path_prefix: String,
    pub times: usize,
    pub remaining: usize,
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

/// A delay before the next `remaining` matching requests are answered: GitHub being slow,
/// or a worker caught mid-call when its process dies.
pub(super) struct Stall {
    pub method: String,
    pub path_prefix: String,
    pub times: usize,
    pub remaining: usize,
    pub delay: std::time::Duration,
}

/// Rewrites a JSON body in place.
pub(super) type Rewrite = Box<dyn FnOnce(&mut Value) + Send>;

/// A deliberate drift: rewrites the next matching JSON body before it is validated.
pub(super) struct Corruption {
    pub method: String,
    pub path_prefix: String,
    pub rewrite: Rewrite,
}

/// A refusal, as GitHub would answer it.
pub(super) struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
        }
    }
}

pub(super) struct State {
    pub base_url: String,
    pub app: App,
    pub installations: HashMap<u64, Installation>,
    pub token_lifetime: Duration,
    pub grants: HashMap<String, Grant>,
    /// Lower-cased `owner/repo` → the repository (made on first use).
    pub repos: HashMap<String, Repo>,
    /// The last id handed out for anything the fake creates (runs, jobs, comments, ...).
    pub last_id: u64,
    pub webhook_target: Option<WebhookTarget>,
    pub deliveries: Vec<Delivery>,
    /// (lower-cased `owner/repo`, run id) → run.
    pub runs: HashMap<(String, u64), WorkflowRun>,
    pub manifest_codes: HashSet<String>,
    pub faults: Vec<Fault>,
    pub stalls: Vec<Stall>,
    pub corruptions: Vec<Corruption>,
    pub requests: Vec<RequestRecord>,
    pub jwts: Vec<JwtRecord>,
    pub mints: Vec<TokenMint>,
    pub conversions: Vec<ManifestConversion>,
    pub violations: Vec<String>,
}

impl State {
    pub fn new(base_url: String, app: App) -> Self {
        State {
            base_url,
            app,
            installations: HashMap::new(),
            token_lifetime: Duration::hours(1),
            grants: HashMap::new(),
            repos: HashMap::new(),
            last_id: 4_100_000_000,
            webhook_target: None,
            deliveries: Vec::new(),
            runs: HashMap::new(),
            manifest_codes: HashSet::new(),
            faults: Vec::new(),
            stalls: Vec::new(),
            corruptions: Vec::new(),
            requests: Vec::new(),
            jwts: Vec::new(),
            mints: Vec::new(),
            conversions: Vec::new(),
            violations: Vec::new(),
        }
    }

    /// Verifies the App JWT in an `Authorization` header and records its claims.
    pub fn authenticate_app(&mut self, authorization: Option<&str>) -> Result<(), Refusal> {
        let Some(jwt) = auth::bearer_jwt(authorization) else {
            let message = if authorization.is_some() {
                "A JSON web token could not be decoded"
            } else {
                "Requires authentication"
            };
            return Err(Refusal::new(401, message));
        };
        let record = auth::verify_app_jwt(jwt, &self.app.keys.public_pem, self.app.id, Utc::now());
        let rejection = record.rejection.clone();
        self.jwts.push(record);
        match rejection {
            Some(message) => Err(Refusal::new(401, message)),
            None => Ok(()),
        }
    }

    /// Checks that an installation token may read `owner/repo`: live, not revoked, its
    /// installation on that account and repository, and the repository within its narrowing.
    /// Like GitHub, a repository the token cannot see is "Not Found", not "Forbidden".
    pub fn authorize_repo(
        &self,
        authorization: Option<&str>,
        owner: &str,
        repo: &str,
    ) -> Result<(), Refusal> {
        let token = match auth::classify(authorization) {
            AuthKind::InstallationToken(token) => token,
            AuthKind::None => return Err(Refusal::new(401, "Requires authentication")),
            AuthKind::Jwt => {
                return Err(Refusal::new(
                    401,
                    "A JSON web token cannot be used here: authenticate as the installation",
                ));
            }
            AuthKind::Other(_) => return Err(Refusal::new(401, "Bad credentials")),
        };
        let grant = self
            .grants
            .get(&token)
            .ok_or_else(|| Refusal::new(401, "Bad credentials"))?;
        if grant.revoked || grant.expires_at <= Utc::now() {
            return Err(Refusal::new(401, "Bad credentials"));
        }
        let not_found = || Refusal::new(404, "Not Found");
        let installation = self
            .installations
            .get(&grant.installation_id)
            .ok_or_else(not_found)?;
        let repo = repo.to_lowercase();
        let visible = installation.account.eq_ignore_ascii_case(owner)
            && installation
                .repositories
                .as_ref()
                .is_none_or(|names| names.contains(&repo))
            && grant
                .repositories
                .as_ref()
                .is_none_or(|names| names.contains(&repo));
        if visible { Ok(()) } else { Err(not_found()) }
    }

    /// Like `authorize_repo`, and the token must hold `permission: write` (e.g. `checks`):
    /// GitHub answers 403 "Resource not accessible by integration" otherwise.
    pub fn authorize_write(
        &self,
        authorization: Option<&str>,
        owner: &str,
        repo: &str,
        permission: &str,
    ) -> Result<(), Refusal> {
        self.authorize_repo(authorization, owner, repo)?;
        let token = match auth::classify(authorization) {
            AuthKind::InstallationToken(token) => token,
            _ => return Err(Refusal::new(401, "Bad credentials")),
        };
        let writes = self
            .grants
            .get(&token)
            .and_then(|grant| grant.permissions.get(permission))
            .is_some_and(|level| level == "write");
        if writes {
            Ok(())
        } else {
            Err(Refusal::new(
                403,
                format!(
                    "Resource not accessible by integration (the token lacks `{permission}: write`; \
                     tests grant it with `set_installation_permissions`)"
                ),
            ))
        }
    }

    /// Mints an installation token, enforcing GitHub's narrowing rules.
    pub fn mint_token(
        &mut self,
        installation_id: u64,
        repositories: Option<Vec<String>>,
        permissions: Option<BTreeMap<String, String>>,
    ) -> Result<TokenMint, Refusal> {
        let installation = self
            .installations
            .get(&installation_id)
            .ok_or_else(|| Refusal::new(404, "Not Found"))?;
        let repositories = repositories.map(|names| {
            names
                .iter()
                .map(|name| name.to_lowercase())
                .collect::<Vec<_>>()
        });
        if let (Some(requested), Some(allowed)) = (&repositories, &installation.repositories)
            && requested.iter().any(|name| !allowed.contains(name))
        {
            return Err(Refusal::new(
                422,
                "There is at least one repository that does not exist or is not accessible to the \
                 parent installation.",
            ));
        }
        let permissions = match permissions {
            None => installation.permissions.clone(),
            Some(requested) => {
                let granted = |name: &String, level: &String| {
                    installation
                        .permissions
                        .get(name)
                        .is_some_and(|have| have == "write" || have == level)
                };
                if !requested.iter().all(|(name, level)| granted(name, level)) {
                    return Err(Refusal::new(
                        422,
                        "The permissions requested are not granted to this installation.",
                    ));
                }
                requested
            }
        };
        let token = format!("ghs_{}", auth::random_alphanumeric(36));
        let expires_at = Utc::now() + self.token_lifetime;
        self.grants.insert(
            token.clone(),
            Grant {
                installation_id,
                repositories: repositories.clone(),
                permissions: permissions.clone(),
                expires_at,
                revoked: false,
            },
        );
        let mint = TokenMint {
            installation_id,
            token,
            repositories,
            permissions,
            expires_at,
        };
        self.mints.push(mint.clone());
        Ok(mint)
    }

    pub fn repository_selection(&self, mint: &TokenMint) -> &'static str {
        let whole_account = self
            .installations
            .get(&mint.installation_id)
            .is_some_and(|installation| installation.repositories.is_none());
        if mint.repositories.is_none() && whole_account {
            "all"
        } else {
            "selected"
        }
    }

    /// A file at `git_ref` (or arranged for any ref) in `owner/repo`: (blob SHA, content).
    pub fn file(
        &self,
        owner: &str,
        repo: &str,
        git_ref: Option<&str>,
        path: &str,
    ) -> Option<(String, Vec<u8>)> {
        self.repos
            .get(&format!("{owner}/{repo}").to_lowercase())?
            .file(git_ref, path)
    }

    /// The repository `owner/repo`, made (empty, a bare git repository) on first use.
    pub fn repo_mut(&mut self, owner: &str, repo: &str) -> &mut Repo {
        self.repos
            .entry(format!("{owner}/{repo}").to_lowercase())
            .or_insert_with(Repo::new)
    }

    /// A fresh id for something the fake creates.
    pub fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// The installation whose account and repository selection cover `owner/repo`.
    pub fn installation_for(&self, owner: &str, repo: &str) -> Option<u64> {
        let repo = repo.to_lowercase();
        self.installations
            .iter()
            .filter(|(_, i)| i.account.eq_ignore_ascii_case(owner))
            .find(|(_, i)| {
                i.repositories
                    .as_ref()
                    .is_none_or(|names| names.contains(&repo))
            })
            .map(|(id, _)| *id)
    }

    pub fn run(&self, owner: &str, repo: &str, run_id: u64) -> Option<&WorkflowRun> {
        self.runs
            .get(&(format!("{owner}/{repo}").to_lowercase(), run_id))
    }

    /// A job by id in `owner/repo`, with the run it belongs to.
    pub fn job(
        &self,
        owner: &str,
        repo: &str,
        job_id: u64,
    ) -> Option<(&WorkflowRun, &super::model::Job)> {
        let repo = format!("{owner}/{repo}").to_lowercase();
        self.runs
            .iter()
            .filter(|((run_repo, _), _)| *run_repo == repo)
            .find_map(|(_, run)| {
                run.jobs
                    .iter()
                    .find(|job| job.id == job_id)
                    .map(|job| (run, job))
            })
    }

    /// Takes one use of the first stall matching this request, if any.
    pub fn take_stall(&mut self, method: &str, path: &str) -> Option<std::time::Duration> {
        let stall = self.stalls.iter_mut().find(|stall| {
            stall.remaining > 0
                && (stall.method == "*" || stall.method.eq_ignore_ascii_case(method))
                && path.starts_with(&stall.path_prefix)
        })?;
        stall.remaining -= 1;
        let delay = stall.delay;
        self.stalls.retain(|stall| stall.remaining > 0);
        Some(delay)
    }

    /// Takes one use of the first fault matching this request, if any.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<(u16, Vec<(String, String)>)> {
        let fault = self.faults.iter_mut().find(|fault| {
            fault.remaining > 0
                && (fault.method == "*" || fault.method.eq_ignore_ascii_case(method))
                && path.starts_with(&fault.path_prefix)
        })?;
        fault.remaining -= 1;
        let answer = (fault.status, fault.headers.clone());
        self.faults.retain(|fault| fault.remaining > 0);
        Some(answer)
    }

    pub fn take_corruption(&mut self, method: &str, path: &str) -> Option<Rewrite> {
        let index = self.corruptions.iter().position(|c| {
            c.method.eq_ignore_ascii_case(method) && path.starts_with(&c.path_prefix)
        })?;
        Some(self.corruptions.remove(index).rewrite)
    }
}
