//! `url_env` in a map names a variable of the server's process: in `serve`, only what the
//! operator granted that repository, never Fixpoint's own settings, and never echoed.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use fixpoint::config::sweep::SweepSettings;
use fixpoint::skills::{SkillContext, skill_for};
use fixpoint::topology::{CheckTarget, Endpoint, SkillKind};

fn secret_key() -> String {
    format!("wJalr{}", "XUtnFEMI/K7MDENG/bPx".repeat(2))[..40].to_string()
}

/// The server's environment: its own credentials, another team's database, and the one
/// URL granted to acme/payments-api.
fn server_env() -> HashMap<String, String> {
    [
        ("AWS_SECRET_ACCESS_KEY", secret_key()),
        (
            "OTHER_TEAM_DB_URL",
            "postgres://ledger:ledger-pw-771@10.9.8.7:5432/ledger".to_string(),
        ),
        (
            "PAYMENTS_DB_URL",
            "not a url: s3cr3t-value-9931".to_string(),
        ),
        (
            "FIXPOINT_SWEEP_ENV",
            "acme/payments-api:PAYMENTS_DB_URL".to_string(),
        ),
        ("FIXPOINT_SWEEP_ALLOW", "127.0.0.0/8".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn for_repo(repo: &str) -> SkillContext {
    let env = server_env();
    let settings = SweepSettings::from_vars(&env).expect("the operator's settings parse");
    SkillContext::for_repository(Utc::now(), None, Arc::new(env), &settings, repo)
}

async fn via_env(ctx: &SkillContext, kind: SkillKind, var: &str) -> String {
    let endpoint = Endpoint::Env(var.to_string());
    let target = match kind {
        SkillKind::Postgres => CheckTarget::Postgres { endpoint },
        _ => CheckTarget::Http {
            endpoint,
            expect_status: None,
            expect_body: None,
            timeout_s: None,
        },
    };
    let refused = skill_for(kind)
        .check(&target, ctx)
        .await
        .expect_err("the check must not run");
    format!("{refused:#}")
}

#[tokio::test]
async fn a_map_naming_the_servers_aws_secret_gets_a_refusal_not_the_value() {
    let ctx = for_repo("acme/payments-api");
    let said = via_env(&ctx, SkillKind::HttpHealth, "AWS_SECRET_ACCESS_KEY").await;
    assert!(said.contains("Fixpoint's own settings"), "{said}");
    assert!(!said.contains("wJalr"), "{said}");
}

#[tokio::test]
async fn another_teams_database_is_not_granted_to_this_repository() {
    let ctx = for_repo("acme/payments-api");
    let said = via_env(&ctx, SkillKind::Postgres, "OTHER_TEAM_DB_URL").await;
    assert!(
        said.contains("FIXPOINT_SWEEP_ENV=acme/payments-api:OTHER_TEAM_DB_URL"),
        "{said}"
    );
    assert!(!said.contains("ledger-pw"), "{said}");
    // The grant is for one repository: another one cannot read it either.
    let other = for_repo("evil/fork");
    let said = via_env(&other, SkillKind::Postgres, "PAYMENTS_DB_URL").await;
    assert!(said.contains("not granted to evil/fork"), "{said}");
}

#[tokio::test]
async fn a_granted_value_that_is_not_a_url_is_never_echoed() {
    let ctx = for_repo("acme/payments-api");
    for kind in [SkillKind::HttpHealth, SkillKind::Postgres] {
        let said = via_env(&ctx, kind, "PAYMENTS_DB_URL").await;
        assert!(!said.contains("s3cr3t-value"), "{said}");
        assert!(said.contains("not shown"), "{said}");
    }
}

#[test]
fn the_operator_cannot_grant_fixpoints_own_settings() {
    for grant in [
        "PRIVATE_KEY",
        "acme/*:WEBHOOK_SECRET",
        "AWS_SECRET_ACCESS_KEY",
        "DATABASE_URL",
    ] {
        let env: HashMap<String, String> =
            [("FIXPOINT_SWEEP_ENV".to_string(), grant.to_string())].into();
        let e = SweepSettings::from_vars(&env).expect_err(grant);
        assert_eq!(e.var, "FIXPOINT_SWEEP_ENV");
    }
}
