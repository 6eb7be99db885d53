//! GitHub's own webhook examples (npm `@octokit/webhooks-examples`), edited where the
//! examples lack what a failed deploy has, signed in process (and, to check that signer, by
//! `@octokit/webhooks-methods` under node).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::LazyLock;

use serde_json::Value;

use super::manifest_dir;

fn node_dir() -> std::path::PathBuf {
    manifest_dir().join("tests/node")
}

static EXAMPLES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let path = node_dir().join("node_modules/@octokit/webhooks-examples/api.github.com/index.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}. Run the README's test command (./scripts/test), which installs the npm packages",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("webhook examples are JSON")
});

/// The first example of `event` with this `action` (`None` for events without one).
pub fn example(event: &str, action: Option<&str>) -> Value {
    EXAMPLES
        .iter()
        .find(|e| e["name"] == event)
        .and_then(|e| e["examples"].as_array())
        .and_then(|list| {
            list.iter()
                .find(|x| x.get("action").and_then(Value::as_str) == action)
        })
        .cloned()
        .unwrap_or_else(|| panic!("no {event}.{action:?} example in @octokit/webhooks-examples"))
}

/// A `workflow_run.completed` that failed, as the App receives it. GitHub's examples
/// have no failed run and no `installation` block, so those are edited in.
pub fn failed_deploy(repo: &str, run_id: u64, attempt: u64, installation: u64) -> Value {
    let mut v = example("workflow_run", Some("completed"));
    let (owner, name) = repo.split_once('/').unwrap();
    v["workflow_run"]["conclusion"] = "failure".into();
    v["workflow_run"]["id"] = run_id.into();
    v["workflow_run"]["run_attempt"] = attempt.into();
    v["workflow_run"]["name"] = "Deploy to staging".into();
    v["workflow_run"]["path"] = ".github/workflows/deploy.yml".into();
    v["workflow_run"]["head_branch"] = "main".into();
    v["workflow_run"]["head_sha"] = "4a1b2c3d4e5f60718293a4b5c6d7e8f901234567".into();
    v["repository"]["full_name"] = repo.into();
    v["repository"]["name"] = name.into();
    v["repository"]["owner"]["login"] = owner.into();
    v["repository"]["default_branch"] = "main".into();
    // The example's run is of another repository's commit (a fork): a deploy is not.
    v["workflow_run"]["head_repository"]["full_name"] = repo.into();
    v["workflow_run"]["event"] = "push".into();
    v["installation"] = serde_json::json!({"id": installation, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="});
    v
}

pub fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// `sha256=…` over `body` with `secret`, computed in process (HMAC-SHA256, as GitHub signs).
/// `sign_with_node` is the same through GitHub's own library; a test keeps the two equal.
pub fn sign(secret: &str, body: &[u8]) -> String {
    super::fake_github::signature_256(secret, body)
}

/// `sha256=…` over `body` with `secret`, computed by `@octokit/webhooks-methods` under node.
pub fn sign_with_node(secret: &str, body: &[u8]) -> String {
    let mut child = Command::new("node")
        .arg("sign.mjs")
        .arg(secret)
        .current_dir(node_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (install Node.js and run ./scripts/test)");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sign.mjs failed: run ./scripts/test to install @octokit/webhooks-methods"
    );
    String::from_utf8(out.stdout).unwrap()
}

pub async fn post(
    url: &str,
    event: &str,
    delivery: &str,
    body: &[u8],
    signature: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/webhooks"))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", signature)
        .header("user-agent", "GitHub-Hookshot/test")
        .body(body.to_vec())
        .send()
        .await
        .expect("server answers")
}
