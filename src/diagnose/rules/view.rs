//! A read-only view of one sweep, shared by the rules and the ranking: the findings of each
//! node, what the node is (skills, hop, service or resource, names it goes by in logs), and
//! who depends on whom.
//!
//! Edges read "X depends on Y": a failure at Y can show up at X. From a map, the service
//! depends on each downstream node, and each upstream node depends on the service (a caller
//! needs it; a queue listed upstream of its consumer needs the consumer to drain it). So the
//! seed's story is a path: payments-api → sqs-payments → ledger-consumer.
//! Without a graph the hops are all there is: the service depends on every node, and a queue
//! on every other service node (any of them may be its consumer).

mod paths;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::skills::{Finding, Status};
use crate::topology::{CheckTarget, Endpoint, ServiceVisit, SkillKind, TopologyGraph};

pub use paths::Relation;

/// Node index in a [`SweepView`].
pub type NodeId = usize;

/// What the sweep says about one node.
#[derive(Debug)]
pub struct NodeInfo<'a> {
    pub name: &'a str,
    pub hop: u32,
    /// Skills that checked it, from the graph and the findings.
    pub skills: Vec<SkillKind>,
    /// A service (ECS, logs, CI) rather than a resource (database, cache, queue, function).
    pub service: bool,
    pub findings: Vec<&'a Finding>,
    /// The worst status among its findings; `Unknown` when it has none.
    pub status: Status,
    /// Lowercase names it goes by in other services' log lines: its name, queue, function, host.
    pub aliases: Vec<String>,
    /// Variable names of its ECS task definition, when the `ecs` skill could read them.
    pub task_vars: Option<Vec<String>>,
    /// When its trouble began: the earliest first error or evidence time of its unhealthy
    /// findings (CI excluded: a run's times say when it ran, not when the node broke).
    pub began: Option<DateTime<Utc>>,
}

impl NodeInfo<'_> {
    pub fn has_skill(&self, kind: SkillKind) -> bool {
        self.skills.contains(&kind)
    }

    pub fn unhealthy(&self) -> bool {
        matches!(self.status, Status::Down | Status::Degraded)
    }

    /// A metric from the first finding that reports it.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.findings
            .iter()
            .find_map(|f| f.metrics.get(name).copied())
    }
}

pub struct SweepView<'a> {
    pub service: &'a str,
    pub graph: Option<&'a TopologyGraph>,
    pub findings: &'a [Finding],
    nodes: Vec<NodeInfo<'a>>,
    index: HashMap<&'a str, NodeId>,
    depends_on: Vec<Vec<NodeId>>,
    /// Per node, the lowercase text of its unhealthy findings: what it says when it fails.
    texts: Vec<String>,
}

/// Words in a service's errors that point at a kind of resource.
fn skill_words(kind: SkillKind) -> &'static [&'static str] {
    match kind {
        SkillKind::Postgres => &[
            "postgres",
            "psycopg",
            "sqlx",
            "database",
            "too many clients",
            "connection slots",
            "waiting for connection",
            "connection pool",
            "pool timed out",
            "lock timeout",
            "statement timeout",
            "deadlock",
            "53300",
            "hikaripool",
        ],
        SkillKind::Redis => &["redis", "maxmemory", "oom command not allowed", ":6379"],
        SkillKind::Sqs => &["sqs", "sendmessage", "receivemessage"],
        SkillKind::Lambda => &["lambda", "toomanyrequestsexception", "rate exceeded"],
        _ => &[],
    }
}

impl<'a> SweepView<'a> {
    pub fn new(
        service: &'a str,
        findings: &'a [Finding],
        graph: Option<&'a TopologyGraph>,
    ) -> Self {
        let mut view = SweepView {
            service,
            graph,
            findings,
            nodes: Vec::new(),
            index: HashMap::new(),
            depends_on: Vec::new(),
            texts: Vec::new(),
        };
        view.intern(service, 0);
        if let Some(graph) = graph {
            // The map may name the service differently from the caller: it is still node 0.
            view.index.insert(graph.root.name.as_str(), 0);
            for check in &graph.checks {
                let id = view.intern(&check.node, check.hop);
                let node = &mut view.nodes[id];
                node.service |= matches!(
                    check.skill,
                    Some(SkillKind::Ecs | SkillKind::Cloudwatch | SkillKind::Gha)
                );
                if let Some(kind) = check.skill
                    && !node.skills.contains(&kind)
                {
                    node.skills.push(kind);
                }
                add_aliases(node, &check.target);
            }
            view.walk(&graph.root);
        }
        let placed = if graph.is_some() { view.nodes.len() } else { 1 };
        for finding in findings {
            let id = view.intern(&finding.node, finding.hop);
            let node = &mut view.nodes[id];
            if let Ok(kind) = finding.skill.parse::<SkillKind>() {
                if !node.skills.contains(&kind) {
                    node.skills.push(kind);
                }
                node.service |= matches!(
                    kind,
                    SkillKind::Ecs | SkillKind::Cloudwatch | SkillKind::Gha
                );
            }
            if finding.skill != "gha" && matches!(finding.status, Status::Down | Status::Degraded) {
                node.began = super::earliest(node.began, super::began(finding));
            }
            node.status = if node.findings.is_empty() {
                finding.status
            } else {
                node.status.min(finding.status)
            };
            node.findings.push(finding);
            if finding.skill == "ecs" {
                for e in finding
                    .evidence
                    .iter()
                    .filter(|e| e.source.starts_with("ecs:task-definition"))
                {
                    node.task_vars
                        .get_or_insert_with(Vec::new)
                        .extend(var_names(&e.text));
                }
            }
        }
        view.link_unplaced(placed);
        view.texts = view.nodes.iter().map(error_text).collect();
        view
    }

    fn intern(&mut self, name: &'a str, hop: u32) -> NodeId {
        if let Some(&id) = self.index.get(name) {
            let node = &mut self.nodes[id];
            node.hop = node.hop.min(hop);
            return id;
        }
        let id = self.nodes.len();
        self.nodes.push(NodeInfo {
            name,
            hop,
            skills: Vec::new(),
            service: false,
            findings: Vec::new(),
            status: Status::Unknown,
            aliases: if name.len() >= 3 {
                vec![name.to_lowercase()]
            } else {
                Vec::new()
            },
            task_vars: None,
            began: None,
        });
        self.index.insert(name, id);
        self.depends_on.push(Vec::new());
        id
    }

    fn edge(&mut self, from: NodeId, to: NodeId) {
        if from != to && !self.depends_on[from].contains(&to) {
            self.depends_on[from].push(to);
        }
    }

    fn walk(&mut self, visit: &'a ServiceVisit) {
        let s = self.intern(&visit.name, visit.hop);
        for n in &visit.nodes {
            let m = self.intern(&n.name, n.hop);
            match n.direction {
                crate::topology::Direction::Downstream => self.edge(s, m),
                crate::topology::Direction::Upstream => self.edge(m, s),
            }
            if let Some(map) = &n.map {
                self.nodes[m].service = true;
                self.walk(map);
            }
        }
    }

    /// Nodes the graph does not place (ids from `placed` on) hang off the service; without a
    /// graph, queues hang off every service node too (see the module doc).
    fn link_unplaced(&mut self, placed: NodeId) {
        for id in placed..self.nodes.len() {
            self.edge(0, id);
        }
        if self.graph.is_none() {
            let services: Vec<NodeId> = (1..self.nodes.len())
                .filter(|&id| self.nodes[id].service)
                .collect();
            for q in 1..self.nodes.len() {
                if self.nodes[q].has_skill(SkillKind::Sqs) {
                    for &s in &services {
                        self.edge(q, s);
                    }
                }
            }
        }
    }

    pub fn root(&self) -> NodeId {
        0
    }

    pub fn id(&self, name: &str) -> Option<NodeId> {
        self.index.get(name).copied()
    }

    pub fn node(&self, id: NodeId) -> &NodeInfo<'a> {
        &self.nodes[id]
    }

    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &NodeInfo<'a>)> {
        self.nodes.iter().enumerate()
    }

    /// The service's own checks (ECS, logs, health) show a failure. CI is not counted: a red
    /// run is the trigger, not a symptom of the running service.
    pub fn service_failing(&self) -> bool {
        self.nodes[0]
            .findings
            .iter()
            .any(|f| f.skill != "gha" && matches!(f.status, Status::Down | Status::Degraded))
    }

    /// `from`'s errors name `to`, or the kind of resource `to` is.
    pub fn mentions(&self, from: NodeId, to: NodeId) -> bool {
        let text = &self.texts[from];
        let node = &self.nodes[to];
        !text.is_empty()
            && (node.aliases.iter().any(|a| text.contains(a.as_str()))
                || node
                    .skills
                    .iter()
                    .any(|&k| skill_words(k).iter().any(|w| text.contains(w))))
    }

    /// Whether a failure at `to` plausibly shows up at `from`, which depends on it: `from`'s
    /// errors point at `to`, or `to` broke first, or `from` is a queue and `to` a service that
    /// drains it (a consumer down is how a queue backs up).
    pub fn link_supported(&self, from: NodeId, to: NodeId) -> bool {
        let (a, b) = (&self.nodes[from], &self.nodes[to]);
        (a.has_skill(SkillKind::Sqs) && b.service)
            || self.mentions(from, to)
            || b.began.zip(a.began).is_some_and(|(b, a)| b < a)
    }

    /// Queues `service` drains: queues that depend on it (listed upstream of it).
    pub fn consumed_queues(&self, service: NodeId) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&q| {
                self.nodes[q].has_skill(SkillKind::Sqs) && self.depends_on[q].contains(&service)
            })
            .collect()
    }

    /// The resource of `kind` that `owner` uses: among what it depends on directly (the
    /// unhealthy one first), else the nearest such node in the sweep.
    pub fn resource_of(&self, owner: NodeId, kind: SkillKind) -> Option<NodeId> {
        let is_kind = |n: &NodeId| self.nodes[*n].has_skill(kind);
        let key = |n: &NodeId| (!self.nodes[*n].unhealthy(), self.nodes[*n].hop, *n);
        let direct = self.depends_on[owner].iter().copied().filter(is_kind);
        direct.min_by_key(key).or_else(|| {
            (0..self.nodes.len())
                .filter(|n| *n != owner && is_kind(n))
                .min_by_key(key)
        })
    }
}

/// What a node says when it fails: its unhealthy findings, not its CI run (a red run is the
/// trigger, not the node's own error) nor its task definition's variable names (config).
fn error_text(node: &NodeInfo<'_>) -> String {
    let mut text = String::new();
    for f in &node.findings {
        if f.skill == "gha" || !matches!(f.status, Status::Down | Status::Degraded) {
            continue;
        }
        let evidence = f
            .evidence
            .iter()
            .filter(|e| !e.source.starts_with("ecs:task-definition"));
        for line in std::iter::once(&f.summary).chain(evidence.map(|e| &e.text)) {
            text.push_str(&line.to_lowercase());
            text.push('\n');
        }
    }
    text
}

/// Names in other services' logs that mean this node: its queue, function or host.
fn add_aliases(node: &mut NodeInfo<'_>, target: &CheckTarget) {
    let mut add = |s: &str| {
        let s = s.rsplit('/').next().unwrap_or(s).to_lowercase();
        if s.len() >= 3 && !node.aliases.contains(&s) {
            node.aliases.push(s);
        }
    };
    match target {
        CheckTarget::Sqs { queue, dlq, .. } => {
            add(queue);
            if let Some(dlq) = dlq {
                add(dlq);
            }
        }
        CheckTarget::Lambda { function, .. } => add(function),
        CheckTarget::Http {
            endpoint: Endpoint::Url(url),
            ..
        }
        | CheckTarget::Postgres {
            endpoint: Endpoint::Url(url),
        }
        | CheckTarget::Redis {
            endpoint: Endpoint::Url(url),
        } => {
            let host = url.split("://").nth(1).unwrap_or(url);
            let host = host.rsplit('@').next().unwrap_or(host);
            add(host.split(['/', ':', '?']).next().unwrap_or(host));
        }
        _ => {}
    }
}

/// `UPPER_CASE` words of a task definition excerpt: its variable and secret names.
fn var_names(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.len() >= 2 && w.starts_with(|c: char| c.is_ascii_uppercase() || c == '_'))
        .filter(|w| {
            w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
}
