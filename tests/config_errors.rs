//! Incidents at start-up: the operator set something wrong. Every one must stop Fixpoint
//! with a message that names the variable and the fix, and must never print the secret
//! that was pasted into the wrong place (start-up errors end up in deploy logs).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use fixpoint::config::{ConfigError, ServerConfig, from_vars};
use secrecy::ExposeSecret;

/// A PKCS#1 key, as GitHub hands out, and its public half; generated once per test binary.
static KEYS: LazyLock<(String, String)> = LazyLock::new(|| {
    let private = openssl(&["genrsa", "-traditional", "2048"], b"");
    let public = openssl(&["rsa", "-pubout"], private.as_bytes());
    (private, public)
});

fn private_pem() -> &'static str {
    &KEYS.0
}

fn public_pem() -> &'static str {
    &KEYS.1
}

fn openssl(args: &[&str], stdin: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}): install it (Debian: `apt-get install openssl`)")
        });
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "`openssl {}` failed: {}. Install OpenSSL 3 (Debian: `apt-get install openssl`)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("openssl prints PEM text")
}

/// A registered App's variables, all valid.
fn registered() -> HashMap<String, String> {
    [
        ("APP_ID", "1234567"),
        ("PRIVATE_KEY", private_pem()),
        ("WEBHOOK_SECRET", "a-webhook-secret"),
        ("DATABASE_URL", "sqlite:///data/fixpoint.sqlite"),
        ("PUBLIC_URL", "https://fixpoint.example.com"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn load(vars: &HashMap<String, String>) -> Result<ServerConfig, ConfigError> {
    from_vars(vars, PathBuf::from("/nonexistent/.env"))
}

/// A body line of the key: the part that must never reach a log.
fn key_body_line(pem: &str) -> &str {
    pem.lines().nth(1).expect("a PEM has a body")
}

struct Case {
    incident: &'static str,
    set: Vec<(&'static str, String)>,
    unset: &'static [&'static str],
    var: &'static str,
    /// Words of the fix the operator needs to read.
    fix: &'static str,
    /// Values that must not appear in the message.
    secret: Vec<String>,
}

#[test]
fn each_misconfiguration_names_the_variable_and_the_fix_without_echoing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("fixpoint.2026-01-01.private-key.pem");
    let not_a_key = dir.path().join("notes.pem");
    std::fs::write(&not_a_key, "client secret: 9f8e7d6c5b4a-keep-out\n").unwrap();
    let cases = vec![
        Case {
            incident: "APP_ID holds the Client ID shown beside it on the settings page",
            set: vec![("APP_ID", "Iv1.8a61f9b3a7aba766".into())],
            unset: &[],
            var: "APP_ID",
            fix: "numeric App ID",
            secret: vec![],
        },
        Case {
            incident: "the private key was pasted into APP_ID",
            set: vec![("APP_ID", private_pem().into())],
            unset: &[],
            var: "APP_ID",
            fix: "numeric App ID",
            secret: vec![key_body_line(private_pem()).into()],
        },
        Case {
            incident: "APP_ID is set but the key was never configured",
            set: vec![],
            unset: &["PRIVATE_KEY", "PRIVATE_KEY_PATH"],
            var: "PRIVATE_KEY",
            fix: "PRIVATE_KEY_PATH",
            secret: vec![],
        },
        Case {
            incident: "the webhook secret was pasted into PRIVATE_KEY",
            set: vec![("PRIVATE_KEY", "whsec-0f9e8d7c6b5a-do-not-print".into())],
            unset: &[],
            var: "PRIVATE_KEY",
            fix: "PRIVATE KEY",
            secret: vec!["0f9e8d7c6b5a".into()],
        },
        Case {
            incident: "the App's public key was pasted into PRIVATE_KEY",
            set: vec![("PRIVATE_KEY", public_pem().into())],
            unset: &[],
            var: "PRIVATE_KEY",
            fix: "PRIVATE KEY",
            secret: vec![key_body_line(public_pem()).into()],
        },
        Case {
            incident: "PRIVATE_KEY_PATH names a file that was never copied to the host",
            set: vec![("PRIVATE_KEY_PATH", missing.display().to_string())],
            unset: &["PRIVATE_KEY"],
            var: "PRIVATE_KEY_PATH",
            fix: ".pem file",
            secret: vec![],
        },
        Case {
            incident: "PRIVATE_KEY_PATH names a file that is not a key",
            set: vec![("PRIVATE_KEY_PATH", not_a_key.display().to_string())],
            unset: &["PRIVATE_KEY"],
            var: "PRIVATE_KEY_PATH",
            fix: "PRIVATE KEY",
            secret: vec!["9f8e7d6c5b4a".into()],
        },
        Case {
            incident: "WEBHOOK_SECRET was forgotten",
            set: vec![],
            unset: &["WEBHOOK_SECRET"],
            var: "WEBHOOK_SECRET",
            fix: "webhook secret",
            secret: vec![],
        },
        Case {
            incident: "WEBHOOK_SECRET holds only separators after a botched rotation",
            set: vec![("WEBHOOK_SECRET", " , ,".into())],
            unset: &[],
            var: "WEBHOOK_SECRET",
            fix: "webhook secret",
            secret: vec![],
        },
        Case {
            incident: "PORT holds a word",
            set: vec![("PORT", "http".into())],
            unset: &[],
            var: "PORT",
            fix: "TCP port",
            secret: vec![],
        },
        Case {
            incident: "DATABASE_URL points at Postgres, with its password",
            set: vec![(
                "DATABASE_URL",
                "postgres://fixpoint:hunter2@db.internal:5432/fixpoint".into(),
            )],
            unset: &[],
            var: "DATABASE_URL",
            fix: "sqlite://",
            secret: vec!["hunter2".into(), "db.internal".into()],
        },
        Case {
            incident: "DATABASE_URL is an in-memory database, which would lose acknowledged deliveries",
            set: vec![("DATABASE_URL", "sqlite::memory:".into())],
            unset: &[],
            var: "DATABASE_URL",
            fix: "sqlite:///data/fixpoint.sqlite",
            secret: vec![],
        },
        Case {
            incident: "PUBLIC_URL carries basic-auth credentials",
            set: vec![(
                "PUBLIC_URL",
                "https://admin:hunter2@fixpoint.example.com".into(),
            )],
            unset: &[],
            var: "PUBLIC_URL",
            fix: "user:password@",
            secret: vec!["hunter2".into()],
        },
        Case {
            incident: "GITHUB_API_URL without a scheme",
            set: vec![("GITHUB_API_URL", "ghe.example.com/api/v3".into())],
            unset: &[],
            var: "GITHUB_API_URL",
            fix: "full URL",
            secret: vec![],
        },
        Case {
            incident: "FIXPOINT_WORKERS is zero",
            set: vec![("FIXPOINT_WORKERS", "0".into())],
            unset: &[],
            var: "FIXPOINT_WORKERS",
            fix: "from 1 to 64",
            secret: vec![],
        },
    ];
    let mut failures = Vec::new();
    for case in cases {
        let mut vars = registered();
        for name in case.unset {
            vars.remove(*name);
        }
        for (name, value) in &case.set {
            vars.insert(name.to_string(), value.clone());
        }
        let err = match load(&vars) {
            Ok(_) => {
                failures.push(format!("{}: start-up accepted it", case.incident));
                continue;
            }
            Err(err) => err,
        };
        let message = err.to_string();
        if err.var != case.var || !message.starts_with(&format!("{}: ", case.var)) {
            failures.push(format!(
                "{}: blames {} (`{message}`), expected {}",
                case.incident, err.var, case.var
            ));
        }
        if !message.contains(case.fix) {
            failures.push(format!(
                "{}: `{message}` does not say `{}`",
                case.incident, case.fix
            ));
        }
        if err.fix.trim().is_empty() {
            failures.push(format!("{}: no fix given", case.incident));
        }
        for secret in &case.secret {
            if message.contains(secret.as_str()) {
                failures.push(format!(
                    "{}: the message echoes `{}…`",
                    case.incident,
                    &secret[..secret.len().min(12)]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "start-up errors that fail the operator:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn a_key_stored_on_one_line_with_literal_backslash_n_loads() {
    // Fly secrets, GitHub Actions secrets and many CI systems store one line.
    let one_line = private_pem().replace('\n', "\\n");
    assert!(!one_line.contains('\n'));
    let mut vars = registered();
    vars.insert("PRIVATE_KEY".into(), one_line);
    let config = load(&vars).unwrap_or_else(|e| panic!("one-line key refused: {e}"));
    let app = config.app.expect("APP_ID is set, so the App is registered");
    assert_eq!(app.private_key.expose_secret(), private_pem());
    // And it signs: this is what the JWT path will use.
    let _ = app.encoding_key();
}

#[test]
fn a_key_read_from_private_key_path_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fixpoint.private-key.pem");
    std::fs::write(&path, private_pem()).unwrap();
    let mut vars = registered();
    vars.remove("PRIVATE_KEY");
    vars.insert("PRIVATE_KEY_PATH".into(), path.display().to_string());
    let app = load(&vars)
        .unwrap_or_else(|e| panic!("key file refused: {e}"))
        .app
        .unwrap();
    assert_eq!(app.private_key.expose_secret(), private_pem());
}

#[test]
fn comma_separated_webhook_secrets_load_as_several_for_rotation() {
    let mut vars = registered();
    vars.insert(
        "WEBHOOK_SECRET".into(),
        "new-secret-2026 , old-secret-2025,".into(),
    );
    let app = load(&vars)
        .unwrap_or_else(|e| panic!("two secrets refused: {e}"))
        .app
        .unwrap();
    let secrets: Vec<&str> = app
        .webhook_secrets
        .iter()
        .map(|s| s.expose_secret())
        .collect();
    assert_eq!(secrets, ["new-secret-2026", "old-secret-2025"]);
}

#[test]
fn without_app_id_the_server_starts_in_setup_mode_with_defaults() {
    let vars = HashMap::new();
    let config =
        load(&vars).unwrap_or_else(|e| panic!("an empty environment is setup mode, got {e}"));
    assert!(config.app.is_none());
    assert_eq!(config.port, 3000);
    assert_eq!(config.database_url, "sqlite://fixpoint.sqlite");
    assert_eq!(config.github_api_url, "https://api.github.com");
    assert_eq!(config.github_web_url, "https://github.com");
    assert_eq!(config.public_url, None);
}

/// Runs `fixpoint serve` in `dir` with only `vars` set; it must exit on its own.
fn serve_expecting_exit(dir: &Path, vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .arg("serve")
        .env_clear()
        .env("FIXPOINT_ENV_FILE", dir.join(".env"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("fixpoint.sqlite").display()),
        )
        .env("PORT", "0")
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the fixpoint binary starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fixpoint serve kept running for 20 s instead of refusing its configuration");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

#[test]
fn the_binary_refuses_a_non_numeric_app_id_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = serve_expecting_exit(
        dir.path(),
        &[
            ("APP_ID", "abc"),
            ("PRIVATE_KEY", private_pem()),
            ("WEBHOOK_SECRET", "s"),
        ],
    );
    assert_eq!(code, Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("error: APP_ID: "),
        "stderr does not name APP_ID: {stderr}"
    );
    assert!(
        stderr.contains("numeric App ID"),
        "stderr gives no fix: {stderr}"
    );
    assert!(
        !dir.path().join("fixpoint.sqlite").exists(),
        "a refused start-up must not create the database"
    );
}

#[test]
fn a_malformed_env_file_is_refused_by_line_number_without_printing_its_secrets() {
    let cases = [
        (
            "a webhook secret with spaces, unquoted",
            "APP_ID=1234567\nWEBHOOK_SECRET=correct horse battery staple\n".to_string(),
            2,
            vec![
                "correct horse battery staple".to_string(),
                "battery".to_string(),
            ],
        ),
        (
            // The most common hand edit: the .pem pasted after `PRIVATE_KEY=` without quotes.
            "a multi-line key pasted without quotes",
            format!(
                "APP_ID=1234567\nWEBHOOK_SECRET=s\nPRIVATE_KEY={}",
                private_pem()
            ),
            3,
            private_pem()
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::to_string)
                .collect(),
        ),
    ];
    let mut failures = Vec::new();
    for (incident, text, line, secrets) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), text).unwrap();
        let (code, stderr) = serve_expecting_exit(dir.path(), &[]);
        if code != Some(2) {
            failures.push(format!(
                "{incident}: exit code {code:?}, expected 2: {stderr}"
            ));
        }
        if !stderr.contains("error: FIXPOINT_ENV_FILE: ") {
            failures.push(format!(
                "{incident}: stderr does not name FIXPOINT_ENV_FILE: {stderr}"
            ));
        }
        if !stderr.contains(&format!("line {line}")) {
            failures.push(format!(
                "{incident}: stderr does not say `line {line}`: {stderr}"
            ));
        }
        if secrets.iter().any(|s| stderr.contains(s.as_str())) {
            failures.push(format!("{incident}: stderr prints the secret: {stderr}"));
        }
    }
    assert!(
        failures.is_empty(),
        "a broken .env that fails the operator:\n  {}",
        failures.join("\n  ")
    );
}
