//! Report: the fix held, so open a pull request from the loop's branch to the branch that
//! failed, carrying the debug history. The PR is looked up by head first, so a run killed
//! after opening it never opens a second. Merging stays with people.

use super::plans::short_sha;
use super::state::LoopState;
use super::{Env, Next};
use crate::domain::LoopStatus;
use crate::github::pulls::NewPullRequest;
use crate::store::loops::LoopRow;

pub(super) async fn report(env: &Env<'_>, row: &mut LoopRow<LoopState>) -> anyhow::Result<Next> {
    let state = &row.state;
    if state.head == state.run.head_sha {
        // Every change went through the ECS API: the branch has no commit, so there is
        // nothing to open a PR from, and the next deploy from the repository undoes the fix.
        return Ok(Next::End(
            LoopStatus::Fixed,
            format!(
                "verified healthy after {} iteration(s), fixed through the ECS API only ({}); no PR, as nothing in the repository changed: carry the change into the code that defines the task definition, or the next deploy undoes it",
                state.current.number,
                state
                    .current
                    .plan
                    .as_ref()
                    .map_or("the last change", |p| p.summary.as_str())
            ),
        ));
    }
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
    inert(&match &state.current.plan {
        Some(plan) => format!("fixpoint: {}", plan.summary),
        None => format!("fixpoint: fix {}'s failed deploy", state.service),
    })
}

/// The PR body: what failed, what fixed it, and every iteration of the debug history.
pub(super) fn body(state: &LoopState, loop_id: i64) -> String {
    let mut out = Vec::new();
    out.push(format!(
        "The deploy of **{}** failed in run {} ({} at `{}`). Fixpoint found the cause, fixed it on this branch and verified the fix in the lower environment.",
        state.service,
        state.run.run_id,
        state.run.workflow,
        short_sha(&state.run.head_sha)
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
    inert(&out.join("\n\n"))
}

/// `text` with every @mention made inert (a zero-width space after the `@`). Summaries,
/// notes and results carry words from logs, files and a model's answer: as data, they must
/// not ping a person or a team. The body itself mentions nobody.
fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut before: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        let starts_word = before.is_none_or(|b| !b.is_alphanumeric());
        if c == '@' && starts_word && chars.peek().is_some_and(|n| n.is_ascii_alphanumeric()) {
            out.push('\u{200B}');
        }
        before = Some(c);
    }
    out
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::repo::RepoConfig;
    use crate::diagnose::{
        ActionKind, DebugContext, Diagnosis, Engine, IterationOutcome, ProposedAction, RootCause,
        RootCauseClass,
    };
    use crate::domain::{CommitSha, Conclusion, InstallationId, RepoName, RunId, RunRef};
    use crate::harness::plans::{Change, FileEdit, FixPlan, PlanKind};
    use crate::harness::state::{Iteration, history_entry};

    fn fixed_after_two_iterations() -> LoopState {
        let diagnosis = Diagnosis {
            root_cause: RootCause {
                node: "payments-api".into(),
                class: RootCauseClass::OomKilled,
                summary: "3 task(s) killed for memory (exit 137) at 512 MB".into(),
            },
            chain: vec![],
            confidence: 0.98,
            evidence: vec![],
            proposed_action: ProposedAction {
                kind: ActionKind::Infra,
                summary: "raise memory".into(),
                fingerprint: Some("infra:oom_killed:payments-api".into()),
            },
            engine: Engine::Rules,
            noise: vec![],
            missing: vec![],
            note: None,
        };
        let plan = |from: u32, to: u32| FixPlan {
            kind: PlanKind::RaiseMemory,
            action: ActionKind::Infra,
            fingerprint: format!("infra:oom_killed:payments-api/memory={to}"),
            summary: format!(
                "raise payments-api's task memory {from} → {to} MiB | in task-definition.json"
            ),
            change: Change::Files {
                edits: vec![FileEdit {
                    path: "task-definition.json".into(),
                    content: Some("{}".into()),
                }],
            },
            notes: vec!["cpu stays at 512 units".into()],
        };
        let mut first = Iteration::new(1);
        first.diagnosis = Some(diagnosis.clone());
        first.plan = Some(plan(512, 1024));
        first.commit = Some(CommitSha("1".repeat(40)));
        first.result = Some(super::super::state::IterationResult::RolloutFailed {
            why: "deployment ecs-svc/2 of payments-api:4 failed (3 task(s) failed)".into(),
        });
        let mut second = Iteration::new(2);
        second.diagnosis = Some(diagnosis);
        second.plan = Some(plan(1024, 2048));
        second.commit = Some(CommitSha("2".repeat(40)));
        second.checks = vec![
            "rollout completed: deployment ecs-svc/3 on payments-api:5".into(),
            "verified over 2 min: 4 node check(s), the first sweep's unhealthy nodes healthy again"
                .into(),
        ];
        second.result = Some(super::super::state::IterationResult::Healthy);
        let history = vec![history_entry(&first, None), history_entry(&second, None)];
        assert_eq!(history[1].outcome, IterationOutcome::Fixed);
        LoopState {
            run: RunRef {
                repo: RepoName::parse("acme/payments-api").unwrap(),
                installation_id: InstallationId(7),
                workflow: "Deploy to staging".into(),
                workflow_path: None,
                run_id: RunId(9001),
                run_attempt: 1,
                head_sha: CommitSha("f77c90e".repeat(5) + "12345"),
                branch: "main".into(),
                conclusion: Some(Conclusion::Failure),
                default_branch: Some("main".into()),
            },
            service: "payments-api".into(),
            config: RepoConfig::parse("deploy_workflows: [d.yml]\ntopology: t.yaml\n").unwrap(),
            maps: Default::default(),
            topology: "t.yaml".into(),
            first_unhealthy: vec!["payments-api".into()],
            head: CommitSha("2".repeat(40)),
            current: second,
            last: Some(first),
            history: DebugContext {
                service: "payments-api".into(),
                iteration: 2,
                history,
            },
        }
    }

    #[test]
    fn mentions_from_a_model_or_a_log_ping_nobody() {
        let mut state = fixed_after_two_iterations();
        if let Some(plan) = state.current.plan.as_mut() {
            plan.summary = "revert rates.rs, then @acme/security-team and @alice approve".into();
            plan.notes = vec!["mail ops@acme.example if it fails".into()];
        }
        let (title, body) = (title(&state), body(&state, 1));
        for text in [&title, &body] {
            assert!(!text.contains("@acme/security-team"), "{text}");
            assert!(!text.contains("@alice"), "{text}");
            assert!(text.contains("@\u{200B}alice"), "{text}");
        }
        assert!(
            body.contains("ops@acme.example"),
            "an address is not a mention: {body}"
        );
    }

    #[test]
    fn the_pr_tells_what_failed_what_fixed_it_and_every_iteration() {
        let state = fixed_after_two_iterations();
        insta::assert_snapshot!("pr_title", title(&state));
        insta::assert_snapshot!("pr_body", body(&state, 7));
    }
}
