//! Incidents of a newcomer's first run: `fixpoint serve` with no App yet. The real binary
//! runs as a child process against the fake GitHub; the test plays the browser and GitHub's
//! manifest flow (the form posts to GitHub, GitHub redirects back with a one-time code).

mod support;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fixpoint::github::ManifestConversion;
use secrecy::SecretString;
use serde_json::{Value, json};
use support::fake_github::FakeGitHub;
use support::webhooks::{self, bytes, failed_deploy};

const PUBLIC_URL: &str = "https://fixpoint.example.com";
const UNRELATED: &str = "RUST_LOG_STYLE=never";

/// `fixpoint serve` as a child process, killed when dropped.
struct Fixpoint {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Fixpoint {
    /// Starts the binary with nothing from the test's environment but `vars`.
    fn start(dir: &Path, fake: &FakeGitHub, vars: &[(&str, &str)]) -> Fixpoint {
        let port = free_port();
        let log = dir.join(format!("fixpoint-{port}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_fixpoint"))
            .arg("serve")
            .env_clear()
            .env("PORT", port.to_string())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.join("fixpoint.sqlite").display()),
            )
            .env("GITHUB_API_URL", fake.url())
            .env("GITHUB_WEB_URL", "https://github.com")
            .env("FIXPOINT_ENV_FILE", dir.join(".env"))
            .env("FIXPOINT_LOG", "info")
            .envs(vars.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("the log file can be created"))
            .spawn()
            .expect("the fixpoint binary starts");
        Fixpoint {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `GET path` until `done` accepts the answer; fails with the server's log.
    async fn wait_for(
        &mut self,
        path: &str,
        what: &str,
        done: impl Fn(u16, &str) -> bool,
    ) -> String {
        let http = client();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "fixpoint exited ({status}) while waiting for {what}; its log:\n{}",
                    self.log()
                );
            }
            if let Ok(res) = http.get(format!("{}{path}", self.url)).send().await {
                let status = res.status().as_u16();
                let body = res.text().await.unwrap_or_default();
                if done(status, &body) {
                    return body;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within 20 s; fixpoint's log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The setup page, opened with the one-time URL the server printed to its log.
    async fn setup_page(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let token = loop {
            let log = self.log();
            if let Some(at) = log.find("setup_token=") {
                let token: String = log[at + "setup_token=".len()..]
                    .chars()
                    .take_while(char::is_ascii_hexdigit)
                    .collect();
                break token;
            }
            assert!(
                Instant::now() < deadline,
                "no setup URL in the log within 20 s:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let path = format!("/?setup_token={token}");
        self.wait_for(&path, "the setup page", |s, _| s == 200)
            .await
    }

    async fn wait_healthy(&mut self) {
        self.wait_for("/healthz", "answer on /healthz", |status, body| {
            status == 200 && body == "ok"
        })
        .await;
    }
}

impl Drop for Fixpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now (bound and released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("can bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// No connection reuse: the server restarts its listener under us.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// One `<form>` of the setup page: its action, method and the hidden manifest (unescaped).
#[derive(Debug)]
struct Form {
    action: String,
    method: String,
    manifest: Option<String>,
}

fn attributes(tag: &str) -> HashMap<String, String> {
    let attr = regex::Regex::new(r#"([a-z-]+)="([^"]*)""#).unwrap();
    attr.captures_iter(tag)
        .map(|c| (c[1].to_string(), unescape(&c[2])))
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn parse_forms(page: &str) -> Vec<Form> {
    let tag = regex::Regex::new(r"(?s)<(form|input)\b[^>]*>").unwrap();
    let mut forms: Vec<Form> = Vec::new();
    for m in tag.find_iter(page) {
        let attrs = attributes(m.as_str());
        if m.as_str().starts_with("<form") {
            forms.push(Form {
                action: attrs.get("action").cloned().unwrap_or_default(),
                method: attrs.get("method").cloned().unwrap_or_default(),
                manifest: None,
            });
        } else if attrs.get("type").map(String::as_str) == Some("hidden")
            && attrs.get("name").map(String::as_str) == Some("manifest")
        {
            let form = forms.last_mut().expect("a manifest input outside any form");
            assert!(form.manifest.is_none(), "two manifests in one form");
            form.manifest = attrs.get("value").cloned();
        }
    }
    forms
}

fn env_file_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".env")).expect(".env is readable")
}

async fn get(url: String) -> (u16, String) {
    let res = client().get(url).send().await.expect("fixpoint answers");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

fn app_manifest_requests(fake: &FakeGitHub) -> Vec<(String, u16)> {
    fake.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/app-manifests/"))
        .map(|r| (format!("{} {}", r.method, r.path), r.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_registers_the_app_and_the_same_server_starts_serving_it() {
    let fake = FakeGitHub::start().await;
    fake.add_manifest_code("c0de1");
    fake.add_installation(77, "acme");
    let dir = tempfile::tempdir().unwrap();
    let before =
        format!("# kept by hand\n{UNRELATED}\nPRIVATE_KEY_PATH=/etc/fixpoint/deleted-app.pem\n");
    std::fs::write(dir.path().join(".env"), &before).unwrap();
    let mut server = Fixpoint::start(dir.path(), &fake, &[("PUBLIC_URL", PUBLIC_URL)]);
    server.wait_healthy().await;

    // The page: one form for a personal account, one for an organization.
    let page = server.setup_page().await;
    let forms = &parse_forms(&page);
    assert_eq!(
        forms.len(),
        2,
        "expected a personal and an organization form: {forms:#?}\n{page}"
    );
    let state = forms[0]
        .action
        .strip_prefix("https://github.com/settings/apps/new?state=")
        .unwrap_or_else(|| panic!("personal form posts elsewhere: {}", forms[0].action))
        .to_string();
    assert!(
        state.len() >= 32 && state.chars().all(|c| c.is_ascii_hexdigit()),
        "weak state `{state}`"
    );
    assert_eq!(
        forms[1].action,
        format!("https://github.com/organizations/ORG/settings/apps/new?state={state}")
    );
    for form in forms {
        assert_eq!(
            form.method, "post",
            "GitHub's manifest flow takes a POST: {form:?}"
        );
    }
    let manifest_text = forms[0]
        .manifest
        .clone()
        .expect("the personal form carries the manifest");
    assert_eq!(
        forms[1].manifest.as_ref(),
        Some(&manifest_text),
        "both forms register the same App"
    );
    let manifest: Value = serde_json::from_str(&manifest_text).unwrap_or_else(|e| {
        panic!("the manifest is not JSON after unescaping ({e}): {manifest_text}")
    });
    assert_eq!(manifest["url"], PUBLIC_URL);
    assert_eq!(
        manifest["hook_attributes"]["url"],
        format!("{PUBLIC_URL}/webhooks")
    );
    assert_eq!(manifest["hook_attributes"]["active"], true);
    assert_eq!(
        manifest["redirect_url"],
        format!("{PUBLIC_URL}/setup/callback")
    );
    assert_eq!(
        manifest["default_permissions"],
        json!({
            "actions": "read", "checks": "read", "contents": "write",
            "pull_requests": "write", "issues": "write", "metadata": "read",
        }),
        "least privilege, and no `workflows`"
    );
    assert!(manifest["default_permissions"].get("workflows").is_none());
    let events: Vec<&str> = manifest["default_events"]
        .as_array()
        .expect("default_events is a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for event in ["workflow_run", "issue_comment"] {
        assert!(
            events.contains(&event),
            "{event} missing from default_events {events:?}"
        );
    }
    assert!(
        !page.contains("example.invalid"),
        "a placeholder URL leaked into the page"
    );

    // GitHub (or anyone) posting before registration is told to come back later.
    let body = bytes(&failed_deploy("acme/payments-api", 9001, 1, 77));
    let early = webhooks::post(
        &server.url,
        "workflow_run",
        "d-early",
        &body,
        &webhooks::sign("any", &body),
    )
    .await;
    assert_eq!(early.status(), 503);
    assert!(early.text().await.unwrap().contains("not registered"));

    // A callback this server did not start (CSRF): refused before any code is spent.
    let forged = "f".repeat(32);
    for query in [
        format!("code=c0de1&state={forged}"),
        "code=c0de1".to_string(),
    ] {
        let (status, text) = get(format!("{}/setup/callback?{query}", server.url)).await;
        assert_eq!(status, 400, "{query}: {text}");
        assert!(
            text.contains("start again"),
            "{query}: the page does not say what to do: {text}"
        );
    }
    assert!(fake.manifest_conversions().is_empty());
    assert_eq!(
        app_manifest_requests(&fake),
        Vec::<(String, u16)>::new(),
        "the code was sent to GitHub"
    );
    assert_eq!(env_file_text(dir.path()), before);

    // The user came back after the code expired: GitHub answers 404, nothing is written.
    let (status, text) = get(format!(
        "{}/setup/callback?code=expired0&state={state}",
        server.url
    ))
    .await;
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("start again"), "{text}");
    assert_eq!(
        app_manifest_requests(&fake),
        [("POST /app-manifests/expired0/conversions".to_string(), 404)]
    );
    assert_eq!(env_file_text(dir.path()), before);
    // The state was spent: replaying it with a good code is refused.
    let (status, _) = get(format!(
        "{}/setup/callback?code=c0de1&state={state}",
        server.url
    ))
    .await;
    assert_eq!(status, 400, "a state must be single-use");
    assert!(fake.manifest_conversions().is_empty());

    // Start again from the page, and this time GitHub's redirect brings a live code.
    let page = server.setup_page().await;
    let state = parse_forms(&page)[0]
        .action
        .rsplit_once("state=")
        .expect("the form has a state")
        .1
        .to_string();
    let (status, text) = get(format!(
        "{}/setup/callback?code=c0de1&state={state}",
        server.url
    ))
    .await;
    assert_eq!(status, 200, "{text}\nfixpoint's log:\n{}", server.log());
    assert!(
        text.contains(r#"href="https://github.com/apps/fixpoint-test/installations/new""#),
        "no install link: {text}"
    );
    assert!(text.contains("now runs with the new credentials"), "{text}");
    let conversions = fake.manifest_conversions();
    assert_eq!(conversions.len(), 1);
    let new_secret = conversions[0].webhook_secret.clone();
    assert!(
        !text.contains(&new_secret),
        "the webhook secret is shown on the page"
    );

    // The credentials are saved for the next start, readable by this user only.
    let env_path = dir.path().join(".env");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o600,
            ".env holds the private key but has mode {mode:o}"
        );
    }
    let saved = env_file_text(dir.path());
    assert!(
        saved.contains("# kept by hand\n") && saved.contains(&format!("{UNRELATED}\n")),
        "{saved}"
    );
    assert!(
        !saved.contains("PRIVATE_KEY_PATH"),
        "the old App's key path survived: {saved}"
    );
    let key_line = saved
        .lines()
        .find(|l| l.starts_with("PRIVATE_KEY="))
        .expect("PRIVATE_KEY saved");
    assert!(
        key_line.starts_with("PRIVATE_KEY=\"-----BEGIN ") && key_line.ends_with('"'),
        "{key_line}"
    );
    let vars: HashMap<String, String> = dotenvy::from_path_iter(&env_path)
        .expect(".env opens")
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("the saved .env does not parse: {e}"));
    assert_eq!(vars.get("APP_ID").map(String::as_str), Some("1234567"));
    assert_eq!(vars.get("WEBHOOK_SECRET"), Some(&new_secret));
    assert_eq!(
        vars.get("RUST_LOG_STYLE").map(String::as_str),
        Some("never")
    );
    let pem = vars.get("PRIVATE_KEY").expect("PRIVATE_KEY parses");
    assert_eq!(
        pem,
        fake.private_key_pem(),
        "the key changed on its way to .env"
    );
    assert!(octocrab::EncodingKey::from_rsa_pem(pem.as_bytes()).is_ok());

    // The same port now serves the registered App, without a restart by hand.
    server
        .wait_for("/", "the switch to the registered App", |s, body| {
            s == 200 && body.contains("running as GitHub App 1234567")
        })
        .await;
    let good = webhooks::post(
        &server.url,
        "workflow_run",
        "d-1",
        &body,
        &webhooks::sign(&new_secret, &body),
    )
    .await;
    assert_eq!(
        good.status(),
        202,
        "signed with the new secret: {}",
        good.text().await.unwrap()
    );
    let forged = webhooks::post(
        &server.url,
        "workflow_run",
        "d-2",
        &body,
        &webhooks::sign("any", &body),
    )
    .await;
    assert_eq!(forged.status(), 401);

    // Its workers sign App JWTs with the key GitHub just issued.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fake.token_mints().iter().any(|m| m.installation_id == 77) {
        assert!(
            Instant::now() < deadline,
            "no installation token within 20 s; jwts: {:?}\nlog:\n{}",
            fake.jwts(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        fake.jwts().iter().all(|j| j.rejection.is_none()),
        "GitHub refused the new App's JWT: {:?}",
        fake.jwts()
    );

    // After a restart it reads the saved .env and is still the registered App.
    drop(server);
    let mut restarted = Fixpoint::start(dir.path(), &fake, &[("PUBLIC_URL", PUBLIC_URL)]);
    restarted.wait_healthy().await;
    let index = restarted.wait_for("/", "the index", |s, _| s == 200).await;
    assert!(
        index.contains("running as GitHub App 1234567"),
        "{index}\n{}",
        restarted.log()
    );
    let again = bytes(&failed_deploy("acme/payments-api", 9002, 1, 77));
    let res = webhooks::post(
        &restarted.url,
        "workflow_run",
        "d-3",
        &again,
        &webhooks::sign(&new_secret, &again),
    )
    .await;
    assert_eq!(res.status(), 202);
    drop(restarted);
    fake.assert_honest();
}

#[tokio::test]
async fn without_public_url_the_page_says_to_set_it() {
    let fake = FakeGitHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = Fixpoint::start(dir.path(), &fake, &[]);
    server.wait_healthy().await;
    let page = server.setup_page().await;
    assert!(page.contains("Set <code>PUBLIC_URL</code>"), "{page}");
    assert!(
        parse_forms(&page).is_empty(),
        "a form without PUBLIC_URL would register a webhook URL GitHub cannot reach: {page}"
    );
    assert!(!page.contains("manifest"), "{page}");
    // Webhooks still wait for registration.
    let body = bytes(&failed_deploy("acme/payments-api", 1, 1, 77));
    let res = webhooks::post(
        &server.url,
        "workflow_run",
        "d-1",
        &body,
        &webhooks::sign("any", &body),
    )
    .await;
    assert_eq!(res.status(), 503);
}

/// Re-registering after deleting APP_ID from a hand-written .env whose old key is a
/// multi-line quoted value (dotenv's documented form): every line of the old key must go,
/// or the next start cannot parse the file.
#[test]
fn re_registering_replaces_an_old_multi_line_key_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(
        &path,
        format!(
            "{UNRELATED}\nPRIVATE_KEY=\"-----BEGIN RSA PRIVATE KEY-----\nOLDKEYBODYOLDKEYBODY\n-----END RSA PRIVATE KEY-----\"\nWEBHOOK_SECRET=old\nPORT=8080\n"
        ),
    )
    .unwrap();
    let new_pem = "-----BEGIN RSA PRIVATE KEY-----\nNEWKEYBODY\n-----END RSA PRIVATE KEY-----\n";
    let conversion = ManifestConversion {
        id: 2_000_001,
        slug: Some("fixpoint".into()),
        name: "Fixpoint".into(),
        html_url: "https://github.com/apps/fixpoint".into(),
        pem: SecretString::from(new_pem.to_string()),
        webhook_secret: SecretString::from("new-secret".to_string()),
    };
    fixpoint::server::setup::write_env_file(&path, &conversion).expect(".env written");
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(
        !saved.contains("OLDKEYBODY"),
        "the old key's lines survived:\n{saved}"
    );
    let vars: HashMap<String, String> = dotenvy::from_path_iter(&path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("the next start cannot parse .env ({e}):\n{saved}"));
    assert_eq!(vars.get("APP_ID").map(String::as_str), Some("2000001"));
    assert_eq!(vars.get("PRIVATE_KEY").map(String::as_str), Some(new_pem));
    assert_eq!(
        vars.get("WEBHOOK_SECRET").map(String::as_str),
        Some("new-secret")
    );
    assert_eq!(vars.get("PORT").map(String::as_str), Some("8080"));
    assert_eq!(
        vars.get("RUST_LOG_STYLE").map(String::as_str),
        Some("never")
    );
}

#[tokio::test]
async fn whoever_loads_the_page_without_the_setup_token_gets_no_form_and_no_state() {
    let fake = FakeGitHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = Fixpoint::start(dir.path(), &fake, &[("PUBLIC_URL", PUBLIC_URL)]);
    server.wait_healthy().await;
    for path in [
        "/",
        "/?setup_token=",
        "/?setup_token=0123456789abcdef0123456789abcdef",
    ] {
        let (status, page) = get(format!("{}{path}", server.url)).await;
        assert_eq!(status, 403, "{path}: {page}");
        assert!(
            page.contains("setup URL"),
            "says where the token is: {page}"
        );
        assert!(
            parse_forms(&page).is_empty() && !page.contains("state="),
            "{page}"
        );
    }
    // A callback racing the operator with a state of its own making is refused.
    let (status, _) = get(format!(
        "{}/setup/callback?code=c0de1&state=0123456789abcdef",
        server.url
    ))
    .await;
    assert_eq!(status, 400);
    assert!(fake.manifest_conversions().is_empty());
    // The operator, with the URL from the log, gets the form.
    let page = server.setup_page().await;
    assert_eq!(parse_forms(&page).len(), 2, "{page}");
}
