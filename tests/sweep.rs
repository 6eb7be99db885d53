//! The sweep as people and scripts meet it: every node checked at once, a hung
//! dependency cut off at its own timeout, and `fixpoint sweep` printing what it saw.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::http_servers::{HttpServers, refused_url};

/// A service with a healthy upstream, a dead downstream, one that hangs, and one whose
/// map forgot its connection detail.
fn map(servers: &HttpServers, dir: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        "service: checkout\nenvironment: staging\nupstream:\n  - {{name: gateway, type: http, skill: http-health, url: \"{}\"}}\ndownstream:\n  - {{name: payments, type: http, skill: http-health, url: \"{}\"}}\n  - {{name: fraud-check, type: http, skill: http-health, url: \"{}\", timeout_s: 2}}\n  - {{name: inventory, type: http, skill: http-health}}\n",
        servers.healthy(),
        refused_url(),
        servers.hanging(),
    );
    let path = dir.join("checkout.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .args(args)
        .env("FIXPOINT_ENV_FILE", "/nonexistent/.env")
        .env("FIXPOINT_SWEEP_ALLOW", "127.0.0.0/8")
        .output()
        .expect("fixpoint runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_dependency_is_cut_off_at_its_own_timeout_and_the_rest_still_report() {
    let servers = HttpServers::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = map(&servers, dir.path()).display().to_string();
    let started = Instant::now();
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || run(&["sweep", "--topology", &path, "--json"]))
            .await
            .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(code, 1, "something is unhealthy: exit 1\n{stderr}");
    assert!(
        elapsed < Duration::from_secs(6),
        "the sweep waited {elapsed:?} for a 2 s node"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["service"], "checkout");
    assert_eq!(report["environment"], "staging");
    assert!(report["elapsed_ms"].as_u64().unwrap() < 6000);
    let findings = report["findings"].as_array().unwrap();
    let get = |node: &str| {
        findings
            .iter()
            .find(|f| f["node"] == node)
            .unwrap_or_else(|| panic!("no {node} in {report}"))
    };
    assert_eq!(get("gateway")["status"], "healthy");
    assert_eq!(get("gateway")["hop"], 1);
    assert_eq!(get("payments")["status"], "down");
    assert!(
        get("payments")["summary"]
            .as_str()
            .unwrap()
            .contains("refused")
    );
    let hung = get("fraud-check");
    assert!(
        matches!(hung["status"].as_str(), Some("down" | "unknown")),
        "{hung}"
    );
    assert!(
        hung["summary"].as_str().unwrap().contains("within")
            || hung["summary"].as_str().unwrap().contains("timed out"),
        "{hung}"
    );
    assert_eq!(get("inventory")["status"], "unknown");
    // Unhealthy first: the healthy gateway is last.
    assert_eq!(findings.last().unwrap()["node"], "gateway");
    for f in findings {
        for key in [
            "node", "hop", "skill", "status", "summary", "evidence", "metrics",
        ] {
            assert!(f.get(key).is_some(), "finding without `{key}`: {f}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_table_puts_what_is_broken_first_and_all_healthy_exits_zero() {
    let servers = HttpServers::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = map(&servers, dir.path()).display().to_string();
    let (code, stdout, _) =
        tokio::task::spawn_blocking(move || run(&["sweep", "--topology", &path]))
            .await
            .unwrap();
    assert_eq!(code, 1);
    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("NODE"))
        .expect("a table header");
    assert!(
        lines[header + 1].starts_with("payments") || lines[header + 1].starts_with("fraud-check"),
        "{stdout}"
    );
    assert!(lines.last().unwrap().starts_with("gateway"), "{stdout}");

    let healthy = dir.path().join("healthy.yaml");
    std::fs::write(&healthy, format!("service: quiet\nenvironment: staging\ndownstream:\n  - {{name: api, type: http, skill: http-health, url: \"{}\"}}\n", servers.healthy())).unwrap();
    let healthy = healthy.display().to_string();
    let (code, stdout, _) =
        tokio::task::spawn_blocking(move || run(&["sweep", "--topology", &healthy]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn usage_and_config_errors_exit_two_and_say_what_to_fix() {
    let (code, _, stderr) = run(&["sweep", "--topology", "/nonexistent/map.yaml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("map.yaml"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let prod = dir.path().join("prod.yaml");
    std::fs::write(&prod, "service: api\nenvironment: production\n").unwrap();
    let (code, _, stderr) = run(&["sweep", "--topology", prod.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("production"), "{stderr}");
    let (code, _, stderr) = run(&[
        "sweep",
        "--topology",
        prod.to_str().unwrap(),
        "--run-id",
        "5",
    ]);
    assert_eq!(code, 2, "--run-id needs --repo: {stderr}");
}

#[test]
fn topology_check_validates_the_shipped_examples() {
    let (code, stdout, _) = run(&[
        "topology",
        "check",
        concat!(env!("CARGO_MANIFEST_DIR"), "/topology"),
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("ok: 2 maps checked, 0 errors"), "{stdout}");
}
