//! What to do about a root cause: the usual fixes for its class, in the order to try them,
//! minus those the debug history shows already failed (by fingerprint and outcome, never by
//! reading the history's prose). When every usual fix has failed, a person is asked
//! (escalate) rather than the loop trying something twice.

use crate::diagnose::rules::Candidate;
use crate::diagnose::rules::view::SweepView;
use crate::diagnose::{
    ActionKind, DebugContext, HistoryEntry, ProposedAction, RootCauseClass as Class,
    fix_fingerprint, same_fix,
};
use crate::topology::SkillKind;

/// One usual fix of a class. The fixes of one class differ in kind, so the kind, the
/// class and the node name a fix stably (`fix_fingerprint`).
struct Step {
    kind: ActionKind,
    summary: String,
    /// A fix with a size (memory, a grace period): a larger one is worth a try after a
    /// smaller one failed, so only the same size counts as tried. The loop's plan names
    /// the size in its fingerprint (`…/memory=2048`) and never repeats one.
    sized: bool,
}

fn step(kind: ActionKind, summary: String) -> Step {
    Step {
        kind,
        summary,
        sized: false,
    }
}

fn sized(kind: ActionKind, summary: String) -> Step {
    Step {
        sized: true,
        ..step(kind, summary)
    }
}

impl Step {
    /// This fix is the one `entry` tried (`same_fix`; for a sized fix, the same size).
    fn was_tried(&self, entry: &HistoryEntry, fingerprint: &str) -> bool {
        entry.kind == Some(self.kind)
            && entry.fingerprint.as_deref().is_some_and(|tried| {
                if self.sized {
                    tried == fingerprint
                } else {
                    same_fix(tried, fingerprint)
                }
            })
    }
}

pub(super) fn propose(
    view: &SweepView<'_>,
    root: &Candidate,
    history: &DebugContext,
) -> ProposedAction {
    let failures: Vec<&HistoryEntry> = history.history.iter().filter(|e| e.failed()).collect();
    let mut skipped = Vec::new();
    for step in steps(view, root) {
        let fingerprint =
            fix_fingerprint(step.kind, root.class, &root.node, root.subject.as_deref());
        match failures.iter().find(|e| step.was_tried(e, &fingerprint)) {
            Some(entry) => {
                skipped.push(format!("iteration {}: “{}”", entry.iteration, entry.action))
            }
            None if skipped.is_empty() => {
                return ProposedAction {
                    kind: step.kind,
                    summary: step.summary,
                    fingerprint: Some(fingerprint),
                };
            }
            None => {
                let summary = format!(
                    "{} (already tried and failed: {})",
                    step.summary,
                    skipped.join("; ")
                );
                return ProposedAction {
                    kind: step.kind,
                    summary,
                    fingerprint: Some(fingerprint),
                };
            }
        }
    }
    let tried = if skipped.is_empty() {
        String::new()
    } else {
        format!(" (tried: {})", skipped.join("; "))
    };
    ProposedAction {
        kind: ActionKind::Escalate,
        summary: format!(
            "ask a person: the usual fixes for {} at {} did not hold{tried}",
            root.class.as_str(),
            root.node
        ),
        fingerprint: None,
    }
}

/// The usual fixes, first to last (docs/root-causes.md lists the same).
fn steps(view: &SweepView<'_>, root: &Candidate) -> Vec<Step> {
    use ActionKind::{Code, Escalate, Infra, Rollback};
    let node = root.node.as_str();
    let service = view.service;
    let info = view.id(node).map(|id| view.node(id));
    let metric = |name: &str| info.and_then(|n| n.metric(name));
    let first_line = root
        .evidence
        .first()
        .map(|e| format!(": {}", shorten(&e.text)))
        .unwrap_or_default();
    match root.class {
        Class::OomKilled => {
            let memory = match metric("memory_mb") {
                Some(mb) => format!(" (currently {mb:.0} MB; try {:.0} MB)", mb * 2.0),
                None => String::new(),
            };
            vec![
                sized(
                    Infra,
                    format!("raise {node}'s task memory{memory} or fix the leak"),
                ),
                step(
                    Code,
                    format!(
                        "find and fix what grows {node}'s memory (a leak, an unbounded batch or cache)"
                    ),
                ),
            ]
        }
        Class::CrashLoop => vec![
            step(Code, format!("fix {node}'s start-up crash{first_line}")),
            step(
                Rollback,
                format!("roll {node} back to its last task definition that ran"),
            ),
        ],
        Class::ImagePullFailed => vec![
            step(
                Infra,
                match root.subject.as_deref() {
                    Some(image) => format!(
                        "point {node}'s task definition at an image that exists ({image} could not be pulled), and let its execution role pull from that registry"
                    ),
                    None => format!(
                        "point {node}'s task definition at an image that exists, and let its execution role pull it from the registry{first_line}"
                    ),
                },
            ),
            step(
                Rollback,
                format!("roll {node} back to the last task definition whose image pulled"),
            ),
        ],
        Class::MissingConfig => match root.subject.as_deref() {
            Some(var) => {
                let set = info
                    .and_then(|n| n.task_vars.as_ref())
                    .is_some_and(|v| v.iter().any(|x| x == var));
                let infra = if set {
                    format!(
                        "fix the value of {var} in {node}'s task definition (it is set, yet the service reports it missing)"
                    )
                } else {
                    format!("add {var} to {node}'s task definition (environment or secrets)")
                };
                vec![
                    step(Infra, infra),
                    step(
                        Code,
                        format!(
                            "make {node} read {var} under the name its task definition sets, or start with a safe default"
                        ),
                    ),
                ]
            }
            None => vec![step(
                Infra,
                format!(
                    "create the variable, secret or parameter {node} needs at start-up, and let its execution role read it{first_line}"
                ),
            )],
        },
        Class::HealthCheckFailed => {
            let answer = metric("status_code")
                .map(|c| format!(" (it answers {c:.0})"))
                .unwrap_or_default();
            let code = step(
                Code,
                format!("make {node}'s health endpoint answer 200 once it is ready{answer}"),
            );
            let infra = sized(
                Infra,
                format!(
                    "lengthen {node}'s health check grace period, or point the target group at the right path and port"
                ),
            );
            let slow = root.evidence.iter().any(|e| {
                e.text.to_lowercase().contains("timed out")
                    || e.text.to_lowercase().contains("timeout")
            });
            let mut steps = if slow {
                vec![infra, code]
            } else {
                vec![code, infra]
            };
            steps.push(step(
                Rollback,
                format!("roll {node} back to its last task definition that passed health checks"),
            ));
            steps
        }
        Class::CiBuildFailed => vec![step(
            Code,
            format!("fix the compile errors in {node}{first_line}"),
        )],
        Class::CiTestFailed => vec![step(
            Code,
            format!("fix the failing tests, or the code they caught, in {node}{first_line}"),
        )],
        Class::DbConnectionsExhausted if node == service => vec![step(
            Code,
            format!(
                "fix {service}'s connection pool: release connections promptly, or size it for the load"
            ),
        )],
        Class::DbConnectionsExhausted => {
            let max = metric("max_connections")
                .map(|m| format!(" ({m:.0})"))
                .unwrap_or_default();
            vec![
                step(
                    Code,
                    format!(
                        "cap {service}'s connection pool so tasks × pool size stays under {node}'s max_connections{max}, and close idle-in-transaction sessions"
                    ),
                ),
                step(
                    Infra,
                    format!(
                        "raise max_connections on {node}, or put a pooler (PgBouncer, RDS Proxy) in front of it"
                    ),
                ),
            ]
        }
        // Cancelling someone's transaction or migration is a person's call, and schema changes
        // wait for a human gate anyway.
        Class::DbBlockingLocks => {
            let blocker = root
                .subject
                .as_deref()
                .map(|s| format!(" behind “{}”", shorten(s)))
                .unwrap_or_default();
            vec![step(
                Escalate,
                format!(
                    "sessions on {node} are blocked{blocker}: a person decides whether to cancel the blocker or let it finish, and schedules lock-taking migrations outside deploys"
                ),
            )]
        }
        Class::DbSlowQueries => vec![step(
            Code,
            format!("speed up the slow query on {node} (an index, or a narrower scan){first_line}"),
        )],
        Class::CacheMemoryPressure => vec![
            step(
                Infra,
                format!("raise {node}'s maxmemory (or its node size)"),
            ),
            step(
                Code,
                format!("give {service}'s cache entries a TTL, or cache less"),
            ),
        ],
        Class::CacheUnreachable => vec![step(
            Infra,
            format!(
                "restore {service}'s path to {node}: is it up, and do its endpoint and security group admit {service}?"
            ),
        )],
        Class::QueueBacklog => {
            let consumer = view
                .id(node)
                .and_then(|q| consumer_of(view, q))
                .unwrap_or_else(|| "its consumer (none is in the topology map)".into());
            vec![step(
                Infra,
                format!("restore or scale up the consumer of {node}: {consumer}"),
            )]
        }
        Class::DeadLetters => vec![step(
            Code,
            format!(
                "fix how the consumer of {node} handles the messages now in its dead-letter queue, then redrive them"
            ),
        )],
        Class::LambdaThrottled => {
            let reserved = metric("reserved_concurrency")
                .map(|r| format!(" (currently {r:.0})"))
                .unwrap_or_default();
            vec![
                step(
                    Infra,
                    format!(
                        "raise {node}'s reserved concurrency{reserved}, or the account's limit"
                    ),
                ),
                step(
                    Code,
                    format!(
                        "invoke {node} less often from {service} (batch), and retry throttles with backoff"
                    ),
                ),
            ]
        }
        Class::LambdaErrors => vec![
            step(Code, format!("fix the error {node} raises{first_line}")),
            step(
                Rollback,
                format!("roll {node} back to its previous version"),
            ),
        ],
        Class::DependencyUnhealthy => vec![step(
            Escalate,
            format!(
                "{node} is unhealthy and not {service}'s to fix: ask its owners, and retry the deploy once it is healthy"
            ),
        )],
        Class::Unknown => Vec::new(),
    }
}

/// A service that drains the queue, as the map says (it lists the queue upstream).
fn consumer_of(view: &SweepView<'_>, queue: usize) -> Option<String> {
    view.nodes()
        .filter(|(id, n)| *id != view.root() && n.service && !n.has_skill(SkillKind::Sqs))
        .find(|(id, _)| matches!(view.relation(*id), crate::diagnose::rules::view::Relation::Dependency(p) if p.contains(&queue)))
        .map(|(_, n)| n.name.to_string())
}

/// The line of an excerpt that says what went wrong (excerpts open with context, e.g. cargo's
/// `Compiling …` before its `error[E…]`), else its first line, cut to 120 characters.
fn shorten(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| crate::skills::excerpts::is_error_line(l))
        .or_else(|| text.lines().next())
        .unwrap_or("")
        .trim();
    match line.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}
