//! Secret redaction: every text that leaves the process passes through here.
//!
//! Prompts, PR comments, PR bodies, commit messages and log lines may quote deploy logs,
//! task definitions and error messages, and those quote secrets. [`Redactor::redact`] replaces
//! each secret with a mark that says what was removed, such as `[REDACTED:github-token]`, and
//! returns the text borrowed when nothing matched. Clean text, the common case, costs one scan
//! by a [`RegexSet`]; only the rules that matched then run their replacements.
//!
//! # What is caught, and how each pattern is anchored
//!
//! Self-identifying tokens are caught by their prefix, at an ASCII word boundary, with a
//! minimum length, so prose and short identifiers (`sk-learn`, `ghp_short`) stay intact:
//!
//! | mark | what |
//! |---|---|
//! | `private-key` | PEM `-----BEGIN … PRIVATE KEY-----` through its `END` line, raw or with JSON-escaped `\n`; a key cut off before its `END` line is removed up to the first character that cannot belong to it |
//! | `uri-credentials` | the whole userinfo of `scheme://user:password@host`, any scheme, `://` raw or JSON-escaped |
//! | `slack-webhook` | the path after `hooks.slack.com/services/` (and `/workflows/`, `/triggers/`) |
//! | `jwt` | `eyJ….eyJ….signature`: a JSON header and a JSON payload, both base64url |
//! | `github-token` | `ghp_` `gho_` `ghu_` `ghs_` `ghr_` + ≥ 36 alphanumerics; `github_pat_` + ≥ 20 |
//! | `anthropic-key`, `openai-key` | `sk-ant-` / `sk-` + ≥ 20 of `[A-Za-z0-9_-]` (covers `sk-proj-`) |
//! | `slack-token` | `xoxa-` `xoxb-` `xoxe-` `xoxp-` `xoxr-` `xoxs-` `xapp-` + ≥ 10 |
//! | `aws-access-key-id` | `AKIA` `ASIA` `AGPA` `AIDA` `AROA` `ANPA` `ANVA` `AIPA` + exactly 16 of `[A-Z0-9]` |
//! | `stripe-key` | `sk_live_` / `rk_live_` + ≥ 16 alphanumerics |
//! | `google-api-key` | `AIza` + 35 of `[0-9A-Za-z_-]` |
//! | `npm-token`, `gitlab-token` | `npm_` + 36 alphanumerics; `glpat-` + ≥ 20 |
//! | `sendgrid-key` | `SG.` + 22 `.` + 43 |
//! | `vault-token` | `hvs.` `hvb.` `hvr.` + ≥ 24 |
//! | `azure-key` | the value of `AccountKey=` / `SharedAccessKey=` in a connection string |
//! | `cookie` | the rest of a `Cookie:` or `Set-Cookie:` header line |
//! | `api-key-header` | the value of `X-Api-Key:`, `api-key:`, `X-Auth-Token:` |
//! | `aws-secret-key` (bare) | 40 base64 characters right after an `AKIA`/`ASIA` access key id |
//! | `json-secret` | a JSON string under `"token"`, `"secret"`, `"pass"`, `"pwd"`, `"apikey"`, `"client_secret"` … (≥ 6 characters; IMDS's `"Token"`) |
//!
//! Secrets without a prefix of their own are caught only beside a key that names them, so
//! that look-alikes elsewhere (git SHAs, checksums, UUIDs) stay: the key is kept, the value is
//! replaced. A key is followed by `=`, `:`, `"key": "value"` (quotes raw or `\"`-escaped), or the
//! ECS/Kubernetes form `"name": "KEY", "value": "…"`.
//!
//! | mark | key | value |
//! |---|---|---|
//! | `aws-secret-key` | `secret_key`, `secret_access_key`, `SecretAccessKey`, any case, `_`/`-` optional | ≥ 16 base64 characters |
//! | `aws-session-token` | `session_token`, `security_token`, `SessionToken`, any case | ≥ 16 base64 characters |
//! | `authorization` | `Authorization:` then `Bearer`, `token`, `Basic` or `Bot` | ≥ 8 token68 characters |
//! | `bearer-token` | `Bearer ` anywhere | ≥ 16 token68 characters |
//! | `secret-env` | an UPPER_CASE name ending in `PASSWORD`, `PASSWD`, `SECRET`, `SECRET_KEY`, `TOKEN`, `API_KEY`, `PRIVATE_KEY`, `CREDENTIALS` | ≥ 6 characters up to a quote or space |
//! | `password` | a name ending in `password`/`passwd`, any case, then `=` (libpq DSNs, query strings, flags) or as a JSON key (`"db_password": "…"`) | up to `&`, a quote or space |
//!
//! The upper-case and `=`-only anchors of the last two keep code in diffs (`password: str`,
//! `token = get_token()`) intact. Values of variables that the config marks secret are removed
//! wherever they occur, as `[REDACTED:secret:NAME]`, raw or JSON-escaped, if at least 6
//! characters long (shorter values would redact ordinary words).
//!
//! For credentials in a URI the whole userinfo goes, user included
//! (`postgres://[REDACTED:uri-credentials]@db.internal:5432/app`): the user is sometimes the
//! secret itself (`https://<token>:x-oauth-basic@github.com`). A URI without a password
//! (`ssh://git@github.com`, `postgres://db.internal/app`) is left alone.
//!
//! A mark never matches again, so redacting twice changes nothing.
//!
//! # ANSI colours
//!
//! CI logs wrap tokens in colour codes, sometimes inside a token. When the text contains ESC,
//! CSI sequences are stripped first and the stripped text is redacted; if anything was removed,
//! the output is the stripped text, so it loses its colours. Clean coloured text is returned as
//! it came, colours included.
//!
//! # Not caught
//!
//! Secrets with no recognisable shape and no naming key (a bare random password in prose),
//! percent-encoded configured values, and JSON object keys (only values are redacted).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, OnceLock};

use regex::{Captures, Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde_json::Value;

/// Configured secret values shorter than this are not redacted: they would match ordinary words.
pub const MIN_SECRET_VALUE_LEN: usize = 6;

/// A `/` raw or JSON-escaped (`\/`, `\u002f`).
const SLASH: &str = r"(?:/|\\/|\\u002[fF])";
/// An optional quote, raw or JSON-escaped (`\"`).
const QUOTE: &str = r#"(?:\\?["'])?"#;

/// CSI escape sequences (colours, cursor movement) as CI runners print them.
static ANSI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\x1b\[[0-?]*[ -/]*[@-~]").expect("ANSI pattern compiles"));

/// The built-in rules, most specific first: a later rule never sees what an earlier one removed.
/// Each row is `(pattern, replacement)`; `${1}` keeps the context that anchored the match.
fn builtin_rules() -> Vec<(String, &'static str)> {
    // `key=`, `key: `, `"key": "`, `"name": "KEY", "value": "`
    let sep = format!(r"{QUOTE}\s*(?:[:=]|,\s*{QUOTE}value{QUOTE}\s*:)\s*{QUOTE}");
    let base64 = format!(r"(?:[A-Za-z0-9+=]|{SLASH}){{16,}}");
    let token68 = r"[A-Za-z0-9_.~+/=-]";
    vec![
        (
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:,-]*)"
                .to_string(),
            "[REDACTED:private-key]",
        ),
        (
            format!(r#"(?-u:\b)([A-Za-z][A-Za-z0-9+.-]*:{SLASH}{SLASH})[^\s/@:\[\]"'<>\\]*:[^\s/"'<>]+@"#),
            "${1}[REDACTED:uri-credentials]@",
        ),
        (
            format!(r"(hooks\.slack\.com{SLASH}(?:services|workflows|triggers){SLASH})(?:[A-Za-z0-9_-]|{SLASH})+"),
            "${1}[REDACTED:slack-webhook]",
        ),
        (
            r"(?-u:\b)eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*".to_string(),
            "[REDACTED:jwt]",
        ),
        (
            r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{20,})".to_string(),
            "[REDACTED:github-token]",
        ),
        (r"(?-u:\b)sk-ant-[A-Za-z0-9_-]{20,}".to_string(), "[REDACTED:anthropic-key]"),
        (r"(?-u:\b)sk-[A-Za-z0-9_-]{20,}".to_string(), "[REDACTED:openai-key]"),
        (r"(?-u:\b)(?:xox[abeprs]|xapp)-[A-Za-z0-9-]{10,}".to_string(), "[REDACTED:slack-token]"),
        (r"(?-u:\b)[sr]k_live_[A-Za-z0-9]{16,}".to_string(), "[REDACTED:stripe-key]"),
        (r"(?-u:\b)AIza[0-9A-Za-z_-]{35}".to_string(), "[REDACTED:google-api-key]"),
        (r"(?-u:\b)npm_[A-Za-z0-9]{36}".to_string(), "[REDACTED:npm-token]"),
        (r"(?-u:\b)glpat-[A-Za-z0-9_-]{20,}".to_string(), "[REDACTED:gitlab-token]"),
        (r"(?-u:\b)SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}".to_string(), "[REDACTED:sendgrid-key]"),
        (r"(?-u:\b)hv[sbr]\.[A-Za-z0-9_-]{24,}".to_string(), "[REDACTED:vault-token]"),
        (
            r"((?-u:\b)(?:Account|SharedAccess)Key=)[A-Za-z0-9+/]{20,}={0,2}".to_string(),
            "${1}[REDACTED:azure-key]",
        ),
        (
            r"((?i:set-cookie|cookie)[ \t]*:[ \t]*)[^\s\\\[][^\r\n\\]*".to_string(),
            "${1}[REDACTED:cookie]",
        ),
        (
            format!(r"((?i:x-api-key|api-key|x-auth-token){QUOTE}[ \t]*[:=][ \t]*{QUOTE}){token68}{{8,}}"),
            "${1}[REDACTED:api-key-header]",
        ),
        // A bare secret key right after its access key id (`AKIA… wJalr…`, CSV exports).
        (
            r#"((?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}[\s:,;|"'=]{1,5})[A-Za-z0-9/+]{40}"#.to_string(),
            "${1}[REDACTED:aws-secret-key]",
        ),
        (
            r"(?-u:\b)(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?-u:\b)".to_string(),
            "[REDACTED:aws-access-key-id]",
        ),
        (
            format!(r"((?i:secret[_-]?(?:access[_-]?)?key){sep}){base64}"),
            "${1}[REDACTED:aws-secret-key]",
        ),
        (
            format!(r"((?i:(?:session|security)[_-]?token){sep}){base64}"),
            "${1}[REDACTED:aws-session-token]",
        ),
        (
            format!(r"((?i:authorization){QUOTE}[ \t]*[:=][ \t]*{QUOTE}(?i:bearer|token|basic|bot)[ \t]+){token68}{{8,}}"),
            "${1}[REDACTED:authorization]",
        ),
        (format!(r"(?-u:\b)((?i:bearer)[ \t]+){token68}{{16,}}"), "${1}[REDACTED:bearer-token]"),
        (
            format!(
                r#"(?-u:\b)([A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|SECRET_KEY|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?){sep})[^\s"'\[$\\][^\s"'\\]{{5,}}"#
            ),
            "${1}[REDACTED:secret-env]",
        ),
        (
            r#"((?-u:\b)[A-Za-z0-9_.-]*(?i:password|passwd)=|\\?"[A-Za-z0-9_.-]*(?i:password|passwd)\\?"\s*:\s*\\?")[^\s&"'\[\\][^\s&"'\\]*"#
                .to_string(),
            "${1}[REDACTED:password]",
        ),
        (
            r#"(\\?"(?i:token|secret|pass|pwd|passwd|apikey|api_key|access_token|refresh_token|client_secret|private_key)\\?"\s*:\s*\\?")[^"\\\[][^"\\]{5,}"#
                .to_string(),
            "${1}[REDACTED:json-secret]",
        ),
    ]
}

/// Removes secrets from text. Build once (compiling the rules takes milliseconds) and share.
#[derive(Clone)]
pub struct Redactor {
    /// One scan over all rules tells which (if any) need to run.
    prefilter: RegexSet,
    /// In the prefilter's order.
    rules: Vec<Rule>,
}

#[derive(Clone)]
struct Rule {
    regex: Regex,
    replacement: Replacement,
}

#[derive(Clone)]
enum Replacement {
    Template(&'static str),
    /// Matched text (a configured value or its JSON-escaped form) to the variable's name.
    SecretValues(HashMap<String, String>),
}

impl Redactor {
    /// The built-in rules only.
    pub fn new() -> Self {
        Self::build(None).expect("built-in redaction patterns compile")
    }

    /// The built-in rules, plus the values of the variables that the config marks secret,
    /// given as `(name, value)`. Values shorter than [`MIN_SECRET_VALUE_LEN`] are skipped with a
    /// warning naming the variable. Fails only if the values are too large to compile together.
    pub fn with_secret_values<I, N, V>(values: I) -> Result<Self, regex::Error>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut names = HashMap::new();
        for (name, value) in values {
            let (name, value) = (name.as_ref(), value.as_ref());
            if value.chars().count() < MIN_SECRET_VALUE_LEN {
                tracing::warn!(
                    variable = name,
                    "secret value is shorter than {MIN_SECRET_VALUE_LEN} characters and will not be redacted"
                );
                continue;
            }
            for form in escaped_forms(value) {
                names.entry(form).or_insert_with(|| name.to_string());
            }
        }
        if names.is_empty() {
            return Ok(Self::new());
        }
        // Longest first: the alternation takes the first alternative that matches.
        let mut forms: Vec<&String> = names.keys().collect();
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        let pattern = forms
            .iter()
            .map(|f| regex::escape(f))
            .collect::<Vec<_>>()
            .join("|");
        Self::build(Some((pattern, Replacement::SecretValues(names))))
    }

    fn build(secret_values: Option<(String, Replacement)>) -> Result<Self, regex::Error> {
        // Configured values go right after private keys: a value may itself be a URI or token,
        // and its mark (with the variable name) says more than the generic one.
        let builtin = builtin_rules();
        let mut specs: Vec<(String, Replacement)> = Vec::with_capacity(builtin.len() + 1);
        let mut builtin = builtin
            .into_iter()
            .map(|(p, t)| (p, Replacement::Template(t)));
        specs.extend(builtin.next());
        specs.extend(secret_values);
        specs.extend(builtin);
        // The default limit (10 MiB) could refuse a few long configured values (PEM keys).
        let limit = (64 << 20usize).max(specs.iter().map(|(p, _)| p.len() * 256).sum());
        let prefilter = RegexSetBuilder::new(specs.iter().map(|(p, _)| p))
            .size_limit(limit)
            .dfa_size_limit(8 << 20)
            .build()?;
        let rules = specs
            .into_iter()
            .map(|(pattern, replacement)| {
                let regex = RegexBuilder::new(&pattern).size_limit(limit).build()?;
                Ok(Rule { regex, replacement })
            })
            .collect::<Result<_, regex::Error>>()?;
        Ok(Self { prefilter, rules })
    }

    /// `text` with every secret replaced by a mark; borrowed when nothing matched.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !text.contains('\x1b') {
            return self.redact_plain(text);
        }
        let plain = ANSI.replace_all(text, "");
        match self.redact_plain(&plain) {
            Cow::Owned(redacted) => Cow::Owned(redacted),
            Cow::Borrowed(_) => Cow::Borrowed(text),
        }
    }

    fn redact_plain<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let hits = self.prefilter.matches(text);
        let mut current = Cow::Borrowed(text);
        for index in hits.iter() {
            let rule = &self.rules[index];
            let replaced = match &rule.replacement {
                Replacement::Template(template) => rule.regex.replace_all(&current, *template),
                Replacement::SecretValues(names) => {
                    rule.regex.replace_all(&current, |c: &Captures| {
                        let name = names.get(&c[0]).map_or("configured", String::as_str);
                        format!("[REDACTED:secret:{name}]")
                    })
                }
            };
            if let Cow::Owned(replaced) = replaced {
                current = Cow::Owned(replaced);
            }
        }
        current
    }

    /// Redacts every string in `value`, in place, through nested arrays and objects.
    ///
    /// A string in an object is redacted together with its key (`{"DB_PASSWORD": "…"}` is
    /// redacted as `DB_PASSWORD=…`), and the `value` of a `{"name": …, "value": …}` pair (ECS
    /// and Kubernetes env) together with its `name`, so key-anchored rules see their key.
    /// Object keys themselves are not redacted.
    pub fn redact_json(&self, value: &mut Value) {
        match value {
            Value::String(s) => self.redact_string(None, s),
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_json(item)),
            Value::Object(map) => {
                let env_name = match (map.get("name"), map.get("value")) {
                    (Some(Value::String(name)), Some(Value::String(_))) => Some(name.clone()),
                    _ => None,
                };
                for (key, item) in map.iter_mut() {
                    match item {
                        Value::String(s) if key == "value" && env_name.is_some() => {
                            self.redact_string(env_name.as_deref(), s)
                        }
                        Value::String(s) => self.redact_string(Some(key), s),
                        other => self.redact_json(other),
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn redact_string(&self, key: Option<&str>, s: &mut String) {
        if let Some(key) = key {
            let probe = format!("{key}={s}");
            if let Cow::Owned(redacted) = self.redact(&probe) {
                // If the key itself was rewritten, fall back to the value on its own.
                if let Some(value) = redacted.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
                    *s = value.to_string();
                    return;
                }
            } else {
                return;
            }
        }
        if let Cow::Owned(redacted) = self.redact(s) {
            *s = redacted;
        }
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Redactor {
    // Never print the rules: they contain the configured secret values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

/// The forms in which a configured value may appear: raw, and escaped inside a JSON string.
fn escaped_forms(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_string()];
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json.trim_matches('"');
    for form in [json.to_string(), json.replace('/', r"\/")] {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

static BUILTIN: LazyLock<Redactor> = LazyLock::new(Redactor::new);
static INSTALLED: OnceLock<Redactor> = OnceLock::new();

/// Makes `redactor` (typically one with the configured secret values) the process-wide one
/// used by [`redact`]. Once only: a second call returns its argument back.
pub fn install(redactor: Redactor) -> Result<(), Redactor> {
    INSTALLED.set(redactor)
}

/// Redacts `text` with the process-wide redactor: the one given to [`install`], else the
/// built-in rules.
pub fn redact(text: &str) -> Cow<'_, str> {
    INSTALLED.get().unwrap_or_else(|| &BUILTIN).redact(text)
}
