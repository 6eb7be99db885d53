//! The multi-hop graph: a root map and the maps its `topology:` links name, flattened into the
//! list of checks the sweep runs.
//!
//! Hop rules: the root service's own checks (gha when `repo` is set, ecs, cloudwatch) are hop 0;
//! its nodes hop 1. A node with `topology:` is a service: its map's own ecs/logs run as that node
//! at the node's hop, and that map's nodes one hop further. `max_depth` is the furthest hop
//! planned: a map is read only if the hop where it appears is within it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{Problem, TopologyError};
use super::judge::judge;
use super::model::{Direction, Node, Topology};
use super::plan::{CheckTarget, PlannedCheck, target_of};
use super::skill::SkillKind;
use super::source::{MapSource, link_problem, normalize};

/// How many hops a sweep follows when nobody says otherwise.
pub const DEFAULT_DEPTH: u32 = 2;
/// At most this many checks are planned: each is an outbound connection.
pub const MAX_CHECKS: usize = 500;

/// Every check a sweep runs, with the tree it came from (for people).
#[derive(Debug, Clone, Serialize)]
pub struct TopologyGraph {
    pub root: ServiceVisit,
    /// Flat, in tree order: what the sweep fans out over.
    pub checks: Vec<PlannedCheck>,
    pub max_depth: u32,
    /// Problems that do not stop a sweep: missing connection details (the sweep reports those
    /// nodes `unknown`; `topology check` counts them as errors) and warnings.
    pub notes: Vec<Problem>,
}

/// One service in the tree: the root, or a node whose `topology:` map was followed.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceVisit {
    /// The root's `service`, or the name of the node that links to this map.
    pub name: String,
    pub file: PathBuf,
    pub environment: Option<String>,
    pub hop: u32,
    /// Indexes into [`TopologyGraph::checks`].
    pub own_checks: Vec<usize>,
    pub nodes: Vec<NodeVisit>,
    /// Nodes of this map not planned because they lie beyond `max_depth`.
    pub beyond_depth: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeVisit {
    pub name: String,
    pub direction: Direction,
    pub hop: u32,
    /// The node's own skill check; `None` for a service node, whose checks are its map's.
    pub check: Option<usize>,
    /// Where `topology:` points, resolved against the file that names it.
    pub linked_file: Option<PathBuf>,
    /// The node's map, when it has `topology:` and the map loaded (not on a cycle).
    pub map: Option<Box<ServiceVisit>>,
}

impl TopologyGraph {
    /// Load `root` and follow `topology:` links up to `max_depth` hops. Fails on the first
    /// load error, a cycle, or a map whose environment means production (the built-in names
    /// or `production_names`). Missing connection details do not fail: see [`Self::notes`].
    pub fn load(
        root: &Path,
        max_depth: u32,
        production_names: &[String],
    ) -> Result<Self, TopologyError> {
        let (graph, errors) = walk(root, max_depth, production_names);
        first_error(graph, errors)
    }

    /// Like [`Self::load`], from maps fetched from a repository (repository path → text):
    /// nothing outside `maps` is ever opened.
    pub fn load_fetched(
        maps: &BTreeMap<String, String>,
        root: &str,
        max_depth: u32,
        production_names: &[String],
    ) -> Result<Self, TopologyError> {
        let source = MapSource::Fetched(maps);
        let (graph, errors) = walk_from(source, Path::new(root), max_depth, production_names);
        first_error(graph, errors)
    }
}

fn first_error(
    graph: Option<TopologyGraph>,
    mut errors: Vec<TopologyError>,
) -> Result<TopologyGraph, TopologyError> {
    match graph {
        Some(graph) if errors.is_empty() => Ok(graph),
        _ => Err(errors.remove(0)),
    }
}

/// Walk the maps, collecting every error instead of stopping; `topology check` uses this.
/// The graph is `None` only when the root map itself did not load.
pub(crate) fn walk(
    root: &Path,
    max_depth: u32,
    production_names: &[String],
) -> (Option<TopologyGraph>, Vec<TopologyError>) {
    walk_from(MapSource::Disk, root, max_depth, production_names)
}

fn walk_from(
    source: MapSource,
    root: &Path,
    max_depth: u32,
    production_names: &[String],
) -> (Option<TopologyGraph>, Vec<TopologyError>) {
    let root = normalize(root);
    let mut walker = Walker {
        source,
        expanded: HashSet::new(),
        capped: false,
        max_depth,
        production_names,
        root_dir: root.parent().map(Path::to_path_buf).unwrap_or_default(),
        maps: HashMap::new(),
        stack: Vec::new(),
        errors: Vec::new(),
        notes: Vec::new(),
        checks: Vec::new(),
    };
    let visit = walker.service(&root, None, 0, &[]);
    let graph = visit.map(|root| TopologyGraph {
        root,
        checks: walker.checks,
        max_depth,
        notes: walker.notes,
    });
    (graph, walker.errors)
}

struct Walker<'a> {
    source: MapSource<'a>,
    /// Maps whose nodes were planned: a map linked from many nodes is expanded once, so
    /// N nodes linking one map of N nodes plan 2N checks, not N².
    expanded: HashSet<PathBuf>,
    /// Whether [`MAX_CHECKS`] was reached (said once).
    capped: bool,
    max_depth: u32,
    production_names: &'a [String],
    root_dir: PathBuf,
    /// Each file is loaded and judged once, however many links name it.
    maps: HashMap<PathBuf, Option<Topology>>,
    /// Canonical path and display name of the maps on the current path, to name a cycle.
    stack: Vec<(PathBuf, String)>,
    errors: Vec<TopologyError>,
    notes: Vec<Problem>,
    checks: Vec<PlannedCheck>,
}

/// The link being followed: the file that names it, the node and its direction there.
struct Link<'a> {
    from: &'a Path,
    node: &'a str,
    direction: Direction,
}

impl Walker<'_> {
    fn service(
        &mut self,
        file: &Path,
        link: Option<&Link>,
        hop: u32,
        via: &[String],
    ) -> Option<ServiceVisit> {
        let linked_from = link.map(|l| (l.from.to_path_buf(), l.node.to_string()));
        let canonical = match self.source.locate(file) {
            Ok(c) => c,
            Err(reason) => {
                self.errors.push(TopologyError::Read {
                    file: file.into(),
                    linked_from,
                    reason,
                });
                return None;
            }
        };
        if let Some(at) = self.stack.iter().position(|(c, _)| *c == canonical) {
            let mut files: Vec<String> = self.stack[at..].iter().map(|(_, d)| d.clone()).collect();
            files.push(self.stack[at].1.clone());
            let (from, node) = linked_from.unwrap_or_default();
            self.errors.push(TopologyError::Cycle {
                file: from,
                node,
                files,
            });
            return None;
        }
        let topology = self.load_once(file, &canonical, link)?;

        let name = link.map_or(topology.service.clone(), |l| l.node.to_string());
        let direction = link.map(|l| l.direction);
        let mut visit = ServiceVisit {
            name: name.clone(),
            file: file.into(),
            environment: topology.environment.clone(),
            hop,
            own_checks: Vec::new(),
            nodes: Vec::new(),
            beyond_depth: 0,
        };
        let own = |target| PlannedCheck {
            node: name.clone(),
            hop,
            skill: None,
            direction,
            via: via.to_vec(),
            source_file: file.into(),
            target,
            timeout_s: None,
        };
        let mut own_checks = Vec::new();
        if link.is_none()
            && let Some(repo) = &topology.repo
        {
            own_checks.push((
                Some(SkillKind::Gha),
                CheckTarget::Gha { repo: repo.clone() },
            ));
        }
        if let Some(ecs) = &topology.ecs {
            let (cluster, service, region) =
                (ecs.cluster.clone(), ecs.service.clone(), ecs.region.clone());
            own_checks.push((
                Some(SkillKind::Ecs),
                CheckTarget::Ecs {
                    cluster,
                    service,
                    region,
                },
            ));
        }
        if let Some(logs) = &topology.logs {
            let (group, region) = (logs.group.clone(), logs.region.clone());
            own_checks.push((
                Some(SkillKind::Cloudwatch),
                CheckTarget::Logs { group, region },
            ));
        }
        if topology.ecs.is_none() && topology.logs.is_none() && link.is_some() {
            let what = format!("{} sets neither `ecs` nor `logs`", file.display());
            own_checks.push((None, CheckTarget::Missing { what }));
        }
        for (skill, target) in own_checks {
            let planned = self.plan(PlannedCheck {
                skill,
                ..own(target)
            });
            visit.own_checks.extend(planned);
        }

        let node_hop = hop.saturating_add(1);
        let nodes = topology.upstream.iter().map(|n| (n, Direction::Upstream));
        let nodes = nodes.chain(
            topology
                .downstream
                .iter()
                .map(|n| (n, Direction::Downstream)),
        );
        if node_hop > self.max_depth {
            visit.beyond_depth = topology.upstream.len() + topology.downstream.len();
            return Some(visit);
        }
        if !self.expanded.insert(canonical.clone()) {
            // Its nodes are planned where it was first reached.
            return Some(visit);
        }
        self.stack.push((canonical, self.display(file)));
        let mut node_via = via.to_vec();
        node_via.push(name.clone());
        for (node, direction) in nodes {
            visit
                .nodes
                .push(self.node(node, direction, file, node_hop, &node_via));
        }
        self.stack.pop();
        Some(visit)
    }

    fn node(
        &mut self,
        node: &Node,
        direction: Direction,
        file: &Path,
        hop: u32,
        via: &[String],
    ) -> NodeVisit {
        let mut visit = NodeVisit {
            name: node.name.clone(),
            direction,
            hop,
            check: None,
            linked_file: None,
            map: None,
        };
        if node.skill.is_some() || node.topology.is_none() {
            let target = match node.missing_connection() {
                Some(what) => {
                    let field = node.missing_field().unwrap_or("its connection detail");
                    let fix = format!(
                        "add {field} to `{}`; until then the sweep reports it `unknown`",
                        node.name
                    );
                    self.note(Problem::error(file, Some(&node.name), what.clone(), fix));
                    CheckTarget::Missing { what }
                }
                None => target_of(node),
            };
            visit.check = self.plan(PlannedCheck {
                node: node.name.clone(),
                hop,
                skill: node.skill,
                direction: Some(direction),
                via: via.to_vec(),
                source_file: file.into(),
                target,
                timeout_s: node.timeout_s,
            });
        }
        if let Some(next) = &node.topology {
            if let Some(reason) = link_problem(next) {
                self.errors.push(TopologyError::Read {
                    file: next.clone(),
                    linked_from: Some((file.into(), node.name.clone())),
                    reason: reason.into(),
                });
                return visit;
            }
            let next = normalize(&file.parent().unwrap_or(Path::new("")).join(next));
            let link = Link {
                from: file,
                node: &node.name,
                direction,
            };
            visit.map = self.service(&next, Some(&link), hop, via).map(Box::new);
            visit.linked_file = Some(next);
        }
        visit
    }

    /// Load a map the first time it is reached, and judge what belongs to the file itself.
    fn load_once(
        &mut self,
        file: &Path,
        canonical: &Path,
        link: Option<&Link>,
    ) -> Option<Topology> {
        if let Some(loaded) = self.maps.get(canonical) {
            return loaded.clone();
        }
        let loaded = match self.source.load(file) {
            Ok(topology) => Some(topology),
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        };
        if let Some(t) = &loaded {
            let link = link.map(|l| (l.from, l.node));
            let (error, notes) = judge(file, t, link, self.production_names);
            self.errors.extend(error);
            notes.into_iter().for_each(|n| self.note(n));
        }
        self.maps.insert(canonical.to_path_buf(), loaded.clone());
        loaded
    }

    /// Adds a check, unless [`MAX_CHECKS`] are planned already: then the first check left
    /// out says so (once), and the rest are left out silently.
    fn plan(&mut self, check: PlannedCheck) -> Option<usize> {
        if self.checks.len() >= MAX_CHECKS {
            if std::mem::replace(&mut self.capped, true) {
                return None;
            }
            self.note(Problem::warning(
                &check.source_file,
                Some(&check.node),
                format!("more than {MAX_CHECKS} checks: this node and the rest are not swept"),
                "split the maps, or link fewer of them from one service".into(),
            ));
            return None;
        }
        self.checks.push(check);
        Some(self.checks.len() - 1)
    }

    fn note(&mut self, problem: Problem) {
        if !self.notes.contains(&problem) {
            self.notes.push(problem);
        }
    }

    /// A map's name in a cycle message: relative to the root map's folder when it can be.
    fn display(&self, file: &Path) -> String {
        file.strip_prefix(&self.root_dir)
            .unwrap_or(file)
            .display()
            .to_string()
    }
}
