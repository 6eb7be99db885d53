//! Verify: after the rollout, soak, then look again at everything. The fix holds when the
//! service's logs since the rollout stay under `verify.max_errors_per_min`, every node that
//! was unhealthy in the first sweep is healthy again (or explained as noise), and no
//! PostgreSQL node shows a blocking chain. The sweep reads only what happened after the
//! rollout: real ECS keeps the old stopped tasks listed for an hour.

use chrono::{DateTime, Utc};

use super::state::{IterationResult, LoopState};
use super::{Env, Next, plan};
use crate::diagnose::rank;
use crate::domain::Phase;
use crate::skills::{Finding, Status};
use crate::sweep::SweepReport;

pub(super) async fn verify(env: &Env<'_>, state: &mut LoopState) -> anyhow::Result<Next> {
    let rolled_out_at = *state.current.rolled_out_at.get_or_insert(env.now());
    let soak_until = soak_end(rolled_out_at, state.config.verify.soak_s);
    if env.now() < soak_until {
        return Ok(Next::Wait {
            until: soak_until,
            wake: false,
        });
    }
    let n = state.current.number;
    let report = env
        .ctx
        .step_in(n, "verify_sweep", || {
            plan::sweep_lower_env(env, rolled_out_at, None)
        })
        .await?;
    let rules = rank::diagnose(
        &state.service,
        &report.findings,
        Some(&env.graph),
        &state.history,
    );
    let noise: Vec<&str> = rules.noise.iter().map(|n| n.node.as_str()).collect();
    let soak_minutes = ((env.now() - rolled_out_at).num_seconds() as f64 / 60.0).max(1.0);
    let problems = judge(
        &report,
        &state.first_unhealthy,
        &noise,
        &state.service,
        soak_minutes,
        state.config.verify.max_errors_per_min,
    );
    state.current.checks.push(if problems.is_empty() {
        format!(
            "verified over {soak_minutes:.0} min: {} node check(s), the first sweep's unhealthy nodes healthy again",
            report.findings.len()
        )
    } else {
        format!("verification found: {}", problems.join("; "))
    });
    state.current.sweep = Some(report);
    if problems.is_empty() {
        Ok(Next::Go(Phase::Test))
    } else {
        Ok(Next::Judged(IterationResult::StillUnhealthy {
            summary: problems.join("; "),
        }))
    }
}

/// What still fails after the fix, one line each; empty when the fix holds.
pub(super) fn judge(
    report: &SweepReport,
    first_unhealthy: &[String],
    noise: &[&str],
    service: &str,
    soak_minutes: f64,
    max_errors_per_min: f64,
) -> Vec<String> {
    let mut problems = Vec::new();
    let by_node = |node: &str| -> Vec<&Finding> {
        report.findings.iter().filter(|f| f.node == node).collect()
    };
    for node in first_unhealthy {
        if noise.contains(&node.as_str()) {
            continue;
        }
        // The deploy run's verdict was CI's (`await_ci` saw it green at the fix commit);
        // a sweep without a failed run can only say `unknown` about it.
        for f in by_node(node).into_iter().filter(|f| f.skill != "gha") {
            if f.status != Status::Healthy {
                problems.push(format!(
                    "{} ({}) {}: {}",
                    f.node,
                    f.skill,
                    f.status.as_str(),
                    f.summary
                ));
            }
        }
    }
    for f in &report.findings {
        let errors = f.metrics.get("errors_total").copied().unwrap_or(0.0);
        if f.skill == "cloudwatch"
            && f.node == service
            && errors / soak_minutes > max_errors_per_min
        {
            let line = format!(
                "{errors:.0} error line(s) in {} over {soak_minutes:.0} min since the rollout (verify.max_errors_per_min: {max_errors_per_min})",
                f.node
            );
            if !problems
                .iter()
                .any(|p| p.starts_with(&f.node) && p.contains("(cloudwatch)"))
            {
                problems.push(line);
            }
        }
        if f.skill == "postgres" && f.metrics.get("blocked_sessions").copied().unwrap_or(0.0) > 0.0
        {
            problems.push(format!("{}: blocking chain: {}", f.node, f.summary));
        }
    }
    problems
}

/// When a verification that began at `rolled_out_at` may look.
pub(super) fn soak_end(rolled_out_at: DateTime<Utc>, soak_s: u32) -> DateTime<Utc> {
    rolled_out_at + chrono::Duration::seconds(i64::from(soak_s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn finding(node: &str, skill: &str, status: Status, metrics: &[(&str, f64)]) -> Finding {
        Finding {
            node: node.into(),
            hop: 0,
            skill: skill.into(),
            status,
            summary: format!("{node} is {}", status.as_str()),
            evidence: vec![],
            metrics: metrics
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<BTreeMap<_, _>>(),
            observed_at: Utc::now(),
        }
    }

    fn report(findings: Vec<Finding>) -> SweepReport {
        SweepReport {
            service: "payments-api".into(),
            environment: Some("staging".into()),
            elapsed_ms: 1,
            findings,
            notes: vec![],
        }
    }

    #[test]
    fn the_fix_holds_when_the_first_sweeps_unhealthy_nodes_are_healthy_and_logs_are_clean() {
        let r = report(vec![
            finding("payments-api", "ecs", Status::Healthy, &[]),
            finding(
                "payments-api",
                "cloudwatch",
                Status::Healthy,
                &[("errors_total", 0.0)],
            ),
        ]);
        assert!(judge(&r, &["payments-api".into()], &[], "payments-api", 2.0, 0.0).is_empty());
    }

    #[test]
    fn a_node_still_down_or_errors_in_the_logs_or_a_blocking_chain_fail_verification() {
        let r = report(vec![
            finding("payments-api", "ecs", Status::Down, &[]),
            finding(
                "payments-api",
                "cloudwatch",
                Status::Degraded,
                &[("errors_total", 6.0)],
            ),
            finding(
                "postgresql",
                "postgres",
                Status::Degraded,
                &[("blocked_sessions", 2.0)],
            ),
        ]);
        let p = judge(&r, &["payments-api".into()], &[], "payments-api", 2.0, 1.0);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[2].contains("blocking chain"), "{p:?}");
    }

    #[test]
    fn a_node_the_diagnosis_explains_as_noise_does_not_hold_the_fix_back() {
        let r = report(vec![finding(
            "legacy-cron",
            "http-health",
            Status::Down,
            &[],
        )]);
        assert!(
            judge(
                &r,
                &["legacy-cron".into()],
                &["legacy-cron"],
                "payments-api",
                2.0,
                0.0
            )
            .is_empty()
        );
    }

    #[test]
    fn the_soak_ends_soak_s_after_the_rollout() {
        let t = Utc::now();
        assert_eq!(soak_end(t, 120) - t, chrono::Duration::seconds(120));
    }
}
