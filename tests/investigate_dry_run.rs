//! Before a team lets the loop commit, someone runs `fixpoint investigate` on the red deploy
//! and reads what it would do: the plan, the files and the diff, with nothing written. These
//! incidents run the real binary against the fake GitHub (the App's credentials in its
//! environment) and the lower environment of payments-api (moto behind the AWS stub), and
//! hold it to writing nothing: no GitHub write but the installation token, no token with a
//! write permission, no ECS call that registers or deploys.
//!
//! Run with `cargo nextest run --test investigate_dry_run` (moto_server in `.venv`).

mod support;

#[allow(dead_code, unused_imports)]
#[path = "loop_incidents/story.rs"]
mod story;

use std::path::Path;

use story::{
    Arranged, BUG_FILE, CLUSTER, FAILED_RUN, INSTALLATION, REPO, SERVICE, arrange,
    arrange_without_a_task_definition_file, at, config, oom_needs, rates, task_definition, tree,
};
use support::fake_github::{FakeGitHub, WorkflowRun};
use support::lower_env::WORKFLOW;

/// payments-api's map when only its health endpoint is named, on a closed port: a quick
/// sweep with no AWS in it.
const CLOSED_PORT_MAP: &str = "service: payments-api\nenvironment: staging\nupstream:\n  - {name: payments-api-health, type: http, skill: http-health, url: \"http://127.0.0.1:9/health\"}\n";

/// What `fixpoint investigate` printed, and how it exited.
struct Said {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Said {
    /// The dry run's part of the text, from its first line on, with the failing commit's
    /// SHA named (its value changes with every push's time).
    fn fix_plan(&self, failing_sha: &str) -> String {
        let at = self
            .stdout
            .find("Fix plan")
            .unwrap_or_else(|| panic!("no fix plan in\n{}\n{}", self.stdout, self.stderr));
        self.stdout[at..].replace(&failing_sha[..7], "<failing>")
    }
}

/// Runs `fixpoint investigate --llm none` on `map` with `extra` arguments, with the App's
/// credentials for `github` and this process's AWS environment (the world's stub).
async fn investigate(github: &FakeGitHub, map: &str, extra: &[&str]) -> Said {
    let dir = tempfile::tempdir().expect("a temp dir");
    let topology = dir.path().join("payments-api.yaml");
    std::fs::write(&topology, map).expect("the map is written");
    let mut args: Vec<String> = vec!["investigate".into(), "--llm".into(), "none".into()];
    args.extend(["--topology".into(), topology.display().to_string()]);
    args.extend(extra.iter().map(|a| a.to_string()));
    let env = [
        ("APP_ID", github.app_id().to_string()),
        ("PRIVATE_KEY", github.private_key_pem().to_string()),
        ("WEBHOOK_SECRET", "dry-run-webhook-secret".to_string()),
        ("GITHUB_API_URL", github.url().to_string()),
        ("FIXPOINT_SWEEP_ALLOW", "127.0.0.0/8".to_string()),
        ("FIXPOINT_ENV_FILE", env_file(dir.path())),
        ("FIXPOINT_LOG", "warn".to_string()),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_fixpoint"))
            .args(&args)
            .envs(env)
            .env_remove("FIXPOINT_LLM_PROVIDER")
            .output()
            .expect("the fixpoint binary runs")
    })
    .await
    .expect("the binary's thread");
    drop(dir);
    Said {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn env_file(dir: &Path) -> String {
    dir.join(".env").display().to_string()
}

/// `fixpoint investigate` on the red deploy of `arranged` (`--repo`, `--run-id` and
/// `--installation`: the fake GitHub does not serve the installation look-up), plus
/// `extra`. It exits 1: payments-api is not healthy.
async fn investigate_the_red_deploy(arranged: &Arranged, extra: &[&str]) -> Said {
    let (run_id, installation) = (FAILED_RUN.to_string(), INSTALLATION.to_string());
    let mut args = vec!["--repo", REPO, "--run-id", &run_id];
    args.extend(["--installation", &installation]);
    args.extend(extra);
    let map = story::map_of(REPO, SERVICE, arranged.env.health_url(), CLUSTER);
    let said = investigate(&arranged.github, &map, &args).await;
    assert_eq!(
        said.code,
        Some(1),
        "payments-api is not healthy\n{}\n{}",
        said.stdout,
        said.stderr
    );
    said
}

/// payments-api's OOM incident (it needs 900 MiB and has 512) with `extra` keys in its
/// fixpoint.yml, and what `fixpoint investigate` says of the red deploy.
async fn the_oom_incident(extra: &str) -> (Arranged, Said) {
    let arranged = arrange(oom_needs(900), at(512), at(512), config(extra)).await;
    let said = investigate_the_red_deploy(&arranged, &[]).await;
    (arranged, said)
}

/// Holds the run to having written nothing: on GitHub only the installation token was
/// asked for, with read permissions only; in the lower environment nothing was registered,
/// updated or deployed.
fn assert_wrote_nothing(arranged: &Arranged) {
    assert_no_github_write(&arranged.github);
    let ecs_writes = arranged.env.ecs_writes();
    let named: Vec<Option<&str>> = ecs_writes.iter().map(|c| c.target()).collect();
    assert!(named.is_empty(), "the dry run changed ECS: {named:?}");
}

/// No GitHub request but reads and the installation token, which asked for read only.
fn assert_no_github_write(github: &FakeGitHub) {
    let writes: Vec<String> = github
        .requests()
        .iter()
        .filter(|r| r.method != "GET" && r.method != "HEAD")
        .filter(|r| !r.path.ends_with("/access_tokens"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "the dry run wrote to GitHub: {writes:?}");
    let mints = github.token_mints();
    assert!(
        !mints.is_empty(),
        "the run was read with an installation token"
    );
    for mint in &mints {
        assert!(
            mint.permissions.values().all(|p| p == "read"),
            "a token with more than read: {:?}",
            mint.permissions
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oom_killed_deploy_shows_the_memory_raise_and_its_diff_and_writes_nothing() {
    let (arranged, said) = the_oom_incident("").await;

    let plan = said.fix_plan(&arranged.failing_sha);
    assert!(plan.contains(": raise_memory\n"), "{plan}");
    assert!(
        plan.contains("Would change task-definition.json:"),
        "{plan}"
    );
    assert!(plan.contains("\n-  \"memory\": \"512\",\n"), "{plan}");
    assert!(plan.contains("\n+  \"memory\": \"1024\",\n"), "{plan}");
    assert!(
        plan.contains("infra:oom_killed:payments-api/memory=1024"),
        "{plan}"
    );
    insta::assert_snapshot!("oom_fix_plan", plan);

    // Scripts read the same plan from `--json`.
    let said = investigate_the_red_deploy(&arranged, &["--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&said.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}):\n{}\n{}", said.stdout, said.stderr));
    let fix = &json["fix"];
    assert_eq!(fix["decision"], "plan", "{fix:#}");
    assert_eq!(fix["plan"]["kind"], "raise_memory", "{fix:#}");
    assert_eq!(fix["at"], arranged.failing_sha.as_str(), "{fix:#}");
    assert_eq!(fix["changes"][0]["path"], "task-definition.json", "{fix:#}");
    let edit = &fix["plan"]["change"]["edits"][0]["content"];
    assert!(
        edit.as_str()
            .is_some_and(|c| c.contains("\"memory\": \"1024\"")),
        "{fix:#}"
    );
    assert_wrote_nothing(&arranged);
    arranged.github.assert_honest();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_that_wants_certainty_gets_the_unsure_reason_and_no_plan() {
    // min_confidence 1.0: no diagnosis is ever that sure, so the loop would change nothing.
    let (arranged, said) = the_oom_incident("min_confidence: 1.0\n").await;

    let plan = said.fix_plan(&arranged.failing_sha);
    assert!(plan.contains("too unsure to act"), "{plan}");
    assert!(plan.contains("under min_confidence 1.00"), "{plan}");
    assert!(!plan.contains("Would change"), "{plan}");
    assert!(!said.stdout.contains("raise_memory"), "{}", said.stdout);
    insta::assert_snapshot!("unsure_fix_plan", plan);
    assert_wrote_nothing(&arranged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_ceiling_the_raise_would_pass_is_named_as_why_nothing_would_change() {
    // The team caps memory at what the service has: the loop would stop with no fix.
    let (arranged, said) = the_oom_incident("max_memory_mib: 512\n").await;

    let plan = said.fix_plan(&arranged.failing_sha);
    assert!(
        plan.starts_with("Fix plan: none: no fix left for oom_killed at payments-api"),
        "{plan}"
    );
    assert!(plan.contains("`max_memory_mib: 512`"), "{plan}");
    assert!(!plan.contains("Would change"), "{plan}");
    insta::assert_snapshot!("no_fix_under_the_memory_ceiling", plan);
    assert_wrote_nothing(&arranged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_failed_run_it_says_in_one_line_what_the_plan_needs() {
    let github = FakeGitHub::start().await;
    let said = investigate(&github, CLOSED_PORT_MAP, &[]).await;

    assert_eq!(said.code, Some(1), "{}", said.stderr);
    let plan = said.fix_plan("0000000");
    assert_eq!(plan.lines().count(), 1, "{plan}");
    insta::assert_snapshot!("needs_the_failed_run", plan);
    assert!(github.requests().is_empty(), "{:?}", github.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_task_definition_only_in_ecs_it_shows_the_revision_it_would_register() {
    let arranged = arrange_without_a_task_definition_file("allow: [ecs_api]\n").await;
    let said = investigate_the_red_deploy(&arranged, &[]).await;

    let plan = said.fix_plan(&arranged.failing_sha);
    assert!(plan.contains(": ecs_api\n"), "{plan}");
    assert!(
        plan.contains(
            "point staging/payments-api at it:\n--- staging/payments-api (running now)\n+++ staging/payments-api (would register)\n"
        ),
        "{plan}"
    );
    assert!(plan.contains("\n-  \"memory\": \"512\",\n"), "{plan}");
    assert!(plan.contains("\n+  \"memory\": \"1024\",\n"), "{plan}");
    assert!(plan.contains("Note: changed through the ECS API"), "{plan}");
    insta::assert_snapshot!("ecs_api_fix_plan", plan);
    assert_wrote_nothing(&arranged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_task_definition_is_never_printed_and_the_commit_is_said_to_be_refused() {
    // The team keeps DATABASE_URL, password and all, in the task definition's environment.
    let leaky = task_definition(512, &["DATABASE_URL"], &["PAYMENTS_API_KEY"]).replace(
        "value-of-DATABASE_URL",
        "postgres://payments:hunter2-in-plain-text@db.staging.internal:5432/payments",
    );
    let repo = tree(leaky, rates(false));
    let arranged = arrange(oom_needs(900), repo.clone(), repo, config("")).await;
    let text = investigate_the_red_deploy(&arranged, &[]).await;
    let json = investigate_the_red_deploy(&arranged, &["--json"]).await;

    for said in [&text.stdout, &json.stdout] {
        assert!(
            !said.contains("hunter2"),
            "the password was printed:\n{said}"
        );
    }
    let plan = text.fix_plan(&arranged.failing_sha);
    assert!(
        plan.contains("Would change task-definition.json, but the loop would refuse to commit it (`task-definition.json` would carry text that looks like a secret"),
        "{plan}"
    );
    assert!(plan.contains("\n+  \"memory\": \"1024\",\n"), "{plan}");
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let fix = &json["fix"];
    assert!(
        fix["changes"][0]["refused"]
            .as_str()
            .is_some_and(|r| r.contains("looks like a secret")),
        "{fix:#}"
    );
    let content = fix["plan"]["change"]["edits"][0]["content"].as_str();
    assert!(
        content.is_some_and(|c| c.contains("postgres://[REDACTED:uri-credentials]@db.staging")),
        "{fix:#}"
    );
    assert_wrote_nothing(&arranged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_without_fixpoint_yml_hears_the_loop_would_not_start_and_how_to_fix_that() {
    let github = FakeGitHub::start().await;
    github.add_installation_with_repos(INSTALLATION, "acme", &["payments-api"]);
    let sha = github.push(REPO, "main", &[(BUG_FILE, Some(rates(false).as_str()))]);
    github.add_workflow_run(
        REPO,
        WorkflowRun::new(FAILED_RUN, WORKFLOW)
            .head_sha(&sha)
            .conclusion("failure"),
    );
    let (run_id, installation) = (FAILED_RUN.to_string(), INSTALLATION.to_string());
    let args = [
        "--repo",
        REPO,
        "--run-id",
        &run_id,
        "--installation",
        &installation,
    ];
    let said = investigate(&github, CLOSED_PORT_MAP, &args).await;

    assert_eq!(said.code, Some(1), "{}", said.stderr);
    let plan = said.fix_plan(&sha);
    assert_eq!(plan.lines().count(), 1, "{plan}");
    insta::assert_snapshot!("no_fixpoint_yml", plan);
    assert_no_github_write(&github);
}
