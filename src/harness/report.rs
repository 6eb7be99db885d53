//! Report: the fix held, so open a pull request from the loop's branch to the branch that
//! failed, carrying the debug history. The PR is looked up by head first, so a run killed
//! after opening it never opens a second. Merging stays with people.

use super::state::LoopState;
use super::{Env, Next, short};
use crate::domain::LoopStatus;
use crate::github::pulls::NewPullRequest;
use crate::store::loops::LoopRow;

pub(super) async fn report(env: &Env<'_>, row: &mut LoopRow<LoopState>) -> anyhow::Result<Next> {
    let state = &row.state;
    let title = title(state);
    let body = body(state, row.id);
    let opened = env
        .ctx
        .step_in(state.current.number, "open_pr", || async {
            if let Some(pr) = env.client.find_pr_by_head(&env.branch).await? {
                return Ok(pr.number);
            }
            let pr = env
                .client
                .open_pr(&NewPullRequest {
                    head: &env.branch,
                    base: &state.run.branch,
                    title: &title,
                    body: &body,
                })
                .await?;
            Ok(pr.number)
        })
        .await;
    let number = match opened {
        Ok(n) => n,
        Err(e) => return super::act::refused_or_retry(e),
    };
    row.pr_number = Some(number);
    Ok(Next::End(
        LoopStatus::Fixed,
        format!(
            "verified healthy after {} iteration(s); PR #{number} opened",
            state.current.number
        ),
    ))
}

pub(super) fn title(state: &LoopState) -> String {
    match &state.current.plan {
        Some(plan) => format!("fixpoint: {}", plan.summary),
        None => format!("fixpoint: fix {}'s failed deploy", state.service),
    }
}

/// The PR body: what failed, what fixed it, and every iteration of the debug history.
pub(super) fn body(state: &LoopState, loop_id: i64) -> String {
    let mut out = Vec::new();
    out.push(format!(
        "The deploy of **{}** failed in run {} ({} at `{}`). Fixpoint found the cause, fixed it on this branch and verified the fix in the lower environment.",
        state.service,
        state.run.run_id,
        state.run.workflow,
        short(&state.run.head_sha)
    ));
    if let Some(d) = &state.current.diagnosis {
        out.push(format!(
            "**Root cause:** `{}` at `{}` (confidence {:.2}): {}",
            d.root_cause.class.as_str(),
            d.root_cause.node,
            d.confidence,
            d.root_cause.summary
        ));
    }
    if let Some(plan) = &state.current.plan {
        out.push(format!("**Fix:** {}", plan.summary));
        for note in &plan.notes {
            out.push(format!("> {note}"));
        }
    }
    if !state.current.checks.is_empty() {
        out.push("**Verified:**".into());
        out.push(
            state
                .current
                .checks
                .iter()
                .map(|c| format!("- {c}"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    out.push("### Debug history".into());
    let mut table = vec![
        "| # | diagnosis | action | commit | result |".to_string(),
        "|---|---|---|---|---|".to_string(),
    ];
    for e in &state.history.history {
        table.push(format!(
            "| {} | {} | {} | {} | {} |",
            e.iteration,
            cell(&e.diagnosis),
            cell(&e.action),
            e.commit
                .as_deref()
                .map(|c| &c[..c.len().min(7)])
                .unwrap_or("—"),
            cell(&e.result)
        ));
    }
    out.push(table.join("\n"));
    out.push(format!(
        "Merging is yours: Fixpoint never merges, approves or deploys to production.\n\n<!-- fixpoint:loop:{loop_id} -->"
    ));
    out.join("\n\n")
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
