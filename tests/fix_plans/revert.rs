//! A bad commit broke payments-api: its tasks crash at start-up with a stack trace, or CI
//! went red. The files changed since the last good deploy go back, only those the traces or
//! failed steps name when they name any, and never a workflow file.

use fixpoint::diagnose::RootCauseClass;
use fixpoint::harness::plans::{FileEdit, PlanKind};

use crate::world::*;

pub const CHARGE_GOOD: &str =
    "export function charge(card, amount) {\n  return gateway.charge(card, amount);\n}\n";
pub const CHARGE_BAD: &str =
    "export function charge(card, amount) {\n  return gateway.charge(card.token.id, amount);\n}\n";

/// Three files changed since the last good deploy; one is in the stack trace.
pub fn world() -> World {
    World::new(&[
        ("src/billing/charge.js", CHARGE_GOOD),
        ("src/routes/refunds.js", "module.exports = refunds;\n"),
        ("README.md", "# payments-api\n"),
        (".github/workflows/deploy.yml", "on: push\n"),
    ])
    .at_head("src/billing/charge.js", Some(CHARGE_BAD))
    .at_head(
        "src/routes/refunds.js",
        Some("module.exports = refundsV2;\n"),
    )
    .at_head(
        "README.md",
        Some("# payments-api\n\nNow with refunds v2.\n"),
    )
}

pub fn crash() -> fixpoint::diagnose::Diagnosis {
    diagnosis(
        RootCauseClass::CrashLoop,
        SERVICE,
        None,
        &[(
            "logs:/ecs/payments-api",
            "TypeError: Cannot read properties of undefined (reading 'id')\n    at charge (/app/src/billing/charge.js:2:37)\n    at processTicksAndRejections (node:internal/process/task_queues:95:5)",
        )],
    )
}

#[tokio::test]
async fn a_crash_loop_reverts_only_the_file_in_the_stack_trace() {
    let w = world();
    let p = plan(decide(&w, &crash(), &config(""), &[]).await);
    assert_eq!(p.kind, PlanKind::RevertSinceLastGood);
    assert_eq!(p.fingerprint, "code:crash_loop:payments-api/revert=1111111");
    assert_eq!(only_file(&p), ("src/billing/charge.js", CHARGE_GOOD));
    assert!(
        p.summary.contains("src/billing/charge.js (restored)"),
        "{}",
        p.summary
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("2 other file(s) changed since 1111111 are left as they are")),
        "{:#?}",
        p.notes
    );
}

#[tokio::test]
async fn without_a_trace_every_change_goes_back_added_files_deleted_renames_undone() {
    let w = world()
        .at_head("src/billing/retry.js", Some("export const retries = 3;\n"))
        .renamed(
            "src/routes/refunds.js",
            "src/routes/refunds-v2.js",
            "module.exports = refundsV2;\n",
        );
    let d = diagnosis(
        RootCauseClass::CiTestFailed,
        SERVICE,
        None,
        &[("gha:job/test", "Tests: 2 failed, 48 passed, 50 total")],
    );
    let p = plan(decide(&w, &d, &config(""), &[]).await);
    assert_eq!(
        p.fingerprint,
        "code:ci_test_failed:payments-api/revert=1111111"
    );
    let mut got = edits(&p).to_vec();
    got.sort_by(|a, b| a.path.cmp(&b.path));
    let file = |path: &str, content: Option<&str>| FileEdit {
        path: path.into(),
        content: content.map(String::from),
    };
    assert_eq!(
        got,
        [
            file("README.md", Some("# payments-api\n")),
            file("src/billing/charge.js", Some(CHARGE_GOOD)),
            file("src/billing/retry.js", None),
            file("src/routes/refunds-v2.js", None),
            file("src/routes/refunds.js", Some("module.exports = refunds;\n")),
        ]
    );
}

#[tokio::test]
async fn a_failed_step_naming_a_file_limits_the_revert_to_it() {
    let w = world();
    let d = diagnosis(
        RootCauseClass::CiBuildFailed,
        SERVICE,
        None,
        &[(
            "gha:job/build/step/3",
            "src/routes/refunds.js(1,18): error TS2304: Cannot find name 'refundsV2'.",
        )],
    );
    let p = plan(decide(&w, &d, &config(""), &[]).await);
    assert_eq!(
        only_file(&p),
        ("src/routes/refunds.js", "module.exports = refunds;\n")
    );
}

#[tokio::test]
async fn workflow_files_are_left_for_a_person() {
    let w = world().at_head(
        ".github/workflows/deploy.yml",
        Some("on: workflow_dispatch\n"),
    );
    let d = diagnosis(
        RootCauseClass::CiBuildFailed,
        SERVICE,
        None,
        &[("gha:job/build", "Process completed with exit code 1.")],
    );
    let p = plan(decide(&w, &d, &config(""), &[]).await);
    assert!(
        edits(&p)
            .iter()
            .all(|e| !e.path.starts_with(".github/workflows/")),
        "{:#?}",
        edits(&p)
    );
    assert_eq!(edits(&p).len(), 3);
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains(".github/workflows/deploy.yml") && n.contains("a person must")),
        "{:#?}",
        p.notes
    );

    // When the workflow is all that changed, nothing is committed.
    let w = World::new(&[(".github/workflows/deploy.yml", "on: push\n")]).at_head(
        ".github/workflows/deploy.yml",
        Some("on: workflow_dispatch\n"),
    );
    let why = no_fix(decide(&w, &d, &config(""), &[]).await);
    assert!(
        why.contains("workflow files, which a person must revert"),
        "{why}"
    );
}

#[tokio::test]
async fn nothing_is_reverted_without_a_good_deploy_to_go_back_to() {
    let mut w = world();
    w.last_good = None;
    let why = no_fix(decide(&w, &crash(), &config(""), &[]).await);
    assert!(why.contains("no successful run"), "{why}");

    // The revert failed before: nothing else is left, and the reason lists what was tried.
    let w = world();
    let why = no_fix(
        decide(
            &w,
            &crash(),
            &config(""),
            &["code:crash_loop:payments-api/revert=1111111"],
        )
        .await,
    );
    assert!(
        why.contains("tried and did not hold") && why.contains("revert=1111111"),
        "{why}"
    );
}
