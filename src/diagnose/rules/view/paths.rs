//! Paths through a sweep: how a node stands to the service (dependency, caller, neither),
//! and the path a failure would travel from it to the service.

use std::collections::VecDeque;

use super::{NodeId, SweepView};

/// How a node stands to the service whose deploy failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Relation {
    /// The service itself.
    Service,
    /// The service depends on it; the path runs from the service to the node.
    Dependency(Vec<NodeId>),
    /// It depends on the service (an upstream caller), and the service not on it.
    Caller,
    /// Neither: elsewhere in the graph.
    Unrelated,
}

impl SweepView<'_> {
    /// How `id` stands to the service. A dependency's path prefers unhealthy links, so the
    /// chain it becomes explains the symptom step by step.
    pub fn relation(&self, id: NodeId) -> Relation {
        if id == 0 {
            return Relation::Service;
        }
        if let Some(path) = self
            .unhealthy_path(id)
            .or_else(|| self.shortest_path(0, id))
        {
            return Relation::Dependency(path);
        }
        if self.shortest_path(id, 0).is_some() {
            Relation::Caller
        } else {
            Relation::Unrelated
        }
    }

    /// The longest simple path from the service to `target` whose links in between are all
    /// unhealthy. The search is bounded: a sweep where everything is red falls back to BFS.
    fn unhealthy_path(&self, target: NodeId) -> Option<Vec<NodeId>> {
        let mut best: Option<Vec<NodeId>> = None;
        let mut stack = vec![0];
        let mut on_path = vec![false; self.nodes.len()];
        on_path[0] = true;
        let mut budget = 2_000u32;
        self.dfs(target, &mut stack, &mut on_path, &mut best, &mut budget);
        best
    }

    fn dfs(
        &self,
        target: NodeId,
        stack: &mut Vec<NodeId>,
        on_path: &mut [bool],
        best: &mut Option<Vec<NodeId>>,
        budget: &mut u32,
    ) {
        let Some(&at) = stack.last() else { return };
        for &next in &self.depends_on[at] {
            if *budget == 0 {
                return;
            }
            *budget -= 1;
            if next == target {
                if best.as_ref().is_none_or(|b| b.len() < stack.len() + 1) {
                    let mut path = stack.clone();
                    path.push(next);
                    *best = Some(path);
                }
            } else if !on_path[next] && self.nodes[next].unhealthy() {
                on_path[next] = true;
                stack.push(next);
                self.dfs(target, stack, on_path, best, budget);
                stack.pop();
                on_path[next] = false;
            }
        }
    }

    fn shortest_path(&self, from: NodeId, to: NodeId) -> Option<Vec<NodeId>> {
        let mut prev = vec![usize::MAX; self.nodes.len()];
        prev[from] = from;
        let mut queue = VecDeque::from([from]);
        while let Some(at) = queue.pop_front() {
            if at == to {
                let mut path = vec![to];
                let mut cur = to;
                while cur != from {
                    cur = prev[cur];
                    path.push(cur);
                }
                path.reverse();
                return Some(path);
            }
            for &next in &self.depends_on[at] {
                if prev[next] == usize::MAX {
                    prev[next] = at;
                    queue.push_back(next);
                }
            }
        }
        None
    }
}
