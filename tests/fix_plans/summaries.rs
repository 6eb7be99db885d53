//! What people read of each kind of plan: its summary and notes, as the PR and the debug
//! history will show them. One snapshot per kind.

use fixpoint::harness::plans::FixPlan;

use crate::world::*;
use crate::{ecs_api, health, image, memory, model_edit, revert, variable};

const TASK_DEF: &str = "task-definition.json";

fn render(p: &FixPlan) -> String {
    let mut out = format!(
        "kind: {:?}\nfingerprint: {}\nsummary: {}\n",
        p.kind, p.fingerprint, p.summary
    );
    for note in &p.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

#[tokio::test]
async fn raise_memory() {
    let w = World::new(&[(TASK_DEF, &memory::fargate("256", "2048"))]);
    let p = plan(decide(&w, &memory::oom(), &config(""), &[]).await);
    insta::assert_snapshot!("raise_memory", render(&p));
}

#[tokio::test]
async fn restore_variable() {
    let w = World::new(&[(TASK_DEF, &fixture("fargate-task-definition.json"))])
        .at_head(TASK_DEF, Some(&variable::without("DATABASE_URL")));
    let p = plan(decide(&w, &variable::missing("DATABASE_URL"), &config(""), &[]).await);
    insta::assert_snapshot!("restore_variable", render(&p));
}

#[tokio::test]
async fn revert_image() {
    let file = fixture("fargate-task-definition.json");
    let w = World::new(&[(TASK_DEF, &file)]).at_head(
        TASK_DEF,
        Some(&file.replace(image::GOOD_IMAGE, image::BAD_IMAGE)),
    );
    let p = plan(decide(&w, &image::pull_failed(), &config(""), &[]).await);
    insta::assert_snapshot!("revert_image", render(&p));
}

#[tokio::test]
async fn raise_start_period() {
    let d = health::health("Task failed container health checks; health check timed out after 5s");
    let p = plan(decide(&health::world(), &d, &config(""), &[]).await);
    insta::assert_snapshot!("raise_start_period", render(&p));
}

#[tokio::test]
async fn revert_since_last_good() {
    let p = plan(decide(&revert::world(), &revert::crash(), &config(""), &[]).await);
    insta::assert_snapshot!("revert_since_last_good", render(&p));
}

#[tokio::test]
async fn model_edit() {
    let (server, config) = model_edit::model().await;
    server.script([model_edit::edit(
        model_edit::PATH,
        model_edit::SEARCH,
        model_edit::REPLACE,
    )]);
    let p = plan(model_edit::decide_with(&model_edit::world(), &config).await);
    // The hash is stable for the same edits; keep it in the snapshot.
    insta::assert_snapshot!("model_edit", render(&p));
}

#[tokio::test]
async fn ecs_api() {
    let mut w = World::new(&[]);
    w.last_good_task_definition = Some(ecs_api::described());
    let p = plan(decide(&w, &memory::oom(), &config("allow: [ecs_api]\n"), &[]).await);
    insta::assert_snapshot!("ecs_api", render(&p));
}
