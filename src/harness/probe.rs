//! Test: a bounded HTTP load probe against `test.http` targets (each must belong to the
//! lower environment's topology, and goes through the same outbound policy as a sweep), then
//! the `test.workflows` (an e2e job) at the branch's head. Healthy → the PR.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::ci::{self, Runs};
use super::state::{IterationResult, LoopState};
use super::{Env, Next};
use crate::config::fixing::HttpProbe;
use crate::skills::SkillContext;
use crate::topology::{CheckTarget, TopologyGraph};

pub(super) async fn test(env: &Env<'_>, state: &mut LoopState) -> anyhow::Result<Next> {
    let n = state.current.number;
    if state.current.test_deadline.is_none() {
        let probes = state.config.test.http.clone();
        if !probes.is_empty() {
            let results = env
                .ctx
                .step_in(n, "http_probe", || run_probes(env, &probes))
                .await?;
            let failed: Vec<String> = results.iter().filter_map(|r| r.failure.clone()).collect();
            for r in &results {
                state.current.checks.push(r.line.clone());
            }
            if !failed.is_empty() {
                return Ok(Next::Judged(IterationResult::TestFailed {
                    summary: failed.join("; "),
                }));
            }
        }
        let minutes = state.config.deploy.ci_timeout_min;
        state.current.test_deadline = Some(env.after(super::act::minutes_of(minutes)));
    }
    let workflows = state.config.test.workflows.clone();
    if workflows.is_empty() {
        return Ok(Next::Judged(IterationResult::Healthy));
    }
    match ci::runs_at(env, &workflows, &state.head).await? {
        Runs::Passed(names) => {
            state
                .current
                .checks
                .push(format!("test workflows passed: {}", names.join(", ")));
            Ok(Next::Judged(IterationResult::Healthy))
        }
        Runs::Failed(run) => {
            let red = ci::read_red_run(env, state, &run).await;
            state.current.failed_run = Some((run.id.0, run.run_attempt.unwrap_or(1)));
            // The next iteration diagnoses this red run (a fresh sweep reads its logs): the
            // verification's sweep saw a healthy service and would explain nothing.
            state.current.sweep = None;
            Ok(Next::Judged(IterationResult::TestFailed {
                summary: format!(
                    "test workflow {} failed at {}: {}",
                    red.run, red.step, red.excerpt
                ),
            }))
        }
        Runs::Waiting { .. } => Ok(ci::wait_or_time_out(
            env,
            state.current.test_deadline,
            "the test workflows",
            state.config.deploy.ci_timeout_min,
        )),
    }
}

/// One probe's numbers, and why it failed when it did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ProbeResult {
    pub line: String,
    pub failure: Option<String>,
}

async fn run_probes(env: &Env<'_>, probes: &[HttpProbe]) -> anyhow::Result<Vec<ProbeResult>> {
    let skills = env.skills(env.now(), None);
    let mut out = Vec::new();
    for probe in probes {
        out.push(match target(&env.graph, &skills, probe) {
            Ok(url) => {
                let stats = load(&skills.http, &url, probe).await;
                stats.judge(&url, probe)
            }
            Err(why) => ProbeResult {
                line: format!("probe not run: {why}"),
                failure: Some(why),
            },
        });
    }
    Ok(out)
}

/// The probe's URL: a node's (from the map), or a URL whose host a node of the map has.
/// Anything else is not the lower environment, and is refused.
fn target(
    graph: &TopologyGraph,
    skills: &SkillContext,
    probe: &HttpProbe,
) -> Result<String, String> {
    let http_urls: Vec<(String, String)> = graph
        .checks
        .iter()
        .filter_map(|c| match &c.target {
            CheckTarget::Http { endpoint, .. } => {
                skills.resolve(endpoint).ok().map(|u| (c.node.clone(), u))
            }
            _ => None,
        })
        .collect();
    let url = match (&probe.node, &probe.url) {
        (Some(node), _) => http_urls
            .iter()
            .find(|(n, _)| n == node)
            .map(|(_, u)| u.clone())
            .ok_or_else(|| {
                format!("test.http node `{node}` is not an HTTP node of the topology map")
            })?,
        (None, Some(url)) => {
            let host = host_of(url).ok_or_else(|| format!("test.http url `{url}` has no host"))?;
            if !http_urls
                .iter()
                .any(|(_, u)| host_of(u).as_deref() == Some(host.as_str()))
            {
                return Err(format!(
                    "test.http url `{url}`: host {host} belongs to no node of the topology map, so it is not the lower environment"
                ));
            }
            url.clone()
        }
        (None, None) => return Err("test.http entry names neither node nor url".into()),
    };
    Ok(match &probe.path {
        Some(path) => format!(
            "{}/{}",
            url.trim_end_matches('/'),
            path.trim_start_matches('/')
        ),
        None => url,
    })
}

fn host_of(url: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .host_str()
        .map(str::to_ascii_lowercase)
}

#[derive(Debug, Default)]
pub(super) struct Stats {
    pub sent: u32,
    pub failed: u32,
    pub latencies_ms: Vec<u64>,
}

impl Stats {
    pub fn p95(&self) -> u64 {
        let mut l = self.latencies_ms.clone();
        l.sort_unstable();
        match l.len() {
            0 => 0,
            n => l[((n * 95).div_ceil(100)).saturating_sub(1).min(n - 1)],
        }
    }

    fn judge(&self, url: &str, probe: &HttpProbe) -> ProbeResult {
        let rate = if self.sent == 0 {
            1.0
        } else {
            f64::from(self.failed) / f64::from(self.sent)
        };
        let p95 = self.p95();
        let line = format!(
            "probe {}: {} request(s), {:.1}% failed, p95 {p95} ms",
            crate::redact::redact(url),
            self.sent,
            rate * 100.0
        );
        let mut why = Vec::new();
        if self.sent == 0 {
            why.push("no request completed".to_string());
        }
        if rate > probe.max_error_rate {
            why.push(format!(
                "error rate {:.1}% over max_error_rate {:.1}%",
                rate * 100.0,
                probe.max_error_rate * 100.0
            ));
        }
        if p95 > probe.max_p95_ms {
            why.push(format!("p95 {p95} ms over max_p95_ms {}", probe.max_p95_ms));
        }
        ProbeResult {
            failure: (!why.is_empty()).then(|| format!("{line}: {}", why.join(", "))),
            line,
        }
    }
}

/// Sends up to `requests` GETs, `concurrency` at a time, for at most `duration_s`.
async fn load(http: &reqwest::Client, url: &str, probe: &HttpProbe) -> Stats {
    let next = Arc::new(AtomicU32::new(0));
    let deadline = Instant::now() + Duration::from_secs(u64::from(probe.duration_s));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..probe.concurrency {
        let (http, url, next, total) =
            (http.clone(), url.to_string(), next.clone(), probe.requests);
        workers.spawn(async move {
            let mut stats = Stats::default();
            while next.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < deadline {
                let started = Instant::now();
                let left = deadline.saturating_duration_since(started);
                let ok = matches!(
                    tokio::time::timeout(left, http.get(&url).send()).await,
                    Ok(Ok(r)) if r.status().is_success() || r.status().is_redirection()
                );
                stats.sent += 1;
                stats.failed += u32::from(!ok);
                stats
                    .latencies_ms
                    .push(started.elapsed().as_millis() as u64);
            }
            stats
        });
    }
    let mut all = Stats::default();
    while let Some(done) = workers.join_next().await {
        if let Ok(s) = done {
            all.sent += s.sent;
            all.failed += s.failed;
            all.latencies_ms.extend(s.latencies_ms);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_is_the_value_under_which_95_percent_fall() {
        let s = Stats {
            sent: 100,
            failed: 0,
            latencies_ms: (1..=100).collect(),
        };
        assert_eq!(s.p95(), 95);
        assert_eq!(Stats::default().p95(), 0);
    }
}
