//! Maps load only from the set fetched from the repository, and a graph stays bounded
//! however its links multiply.

use std::collections::BTreeMap;

use fixpoint::topology::graph::MAX_CHECKS;
use fixpoint::topology::{TopologyGraph, check};

fn fetched(maps: &[(&str, String)]) -> BTreeMap<String, String> {
    maps.iter()
        .map(|(p, t)| (p.to_string(), t.clone()))
        .collect()
}

fn root_linking(link: &str) -> String {
    format!(
        "service: payments-api\nenvironment: staging\ndownstream:\n  - {{name: internal-map, type: service, topology: \"{link}\"}}\n"
    )
}

#[test]
fn escaping_and_absolute_links_are_errors_that_name_the_link_and_nothing_is_opened() {
    // A real map on the server's disk, where an escaping link would lead from a temp dir.
    let outside = tempfile::tempdir().unwrap();
    let secret_map = outside.path().join("internal-map.yaml");
    std::fs::write(
        &secret_map,
        "service: internal-map\nenvironment: staging\ndownstream:\n  - {name: vault, type: http, skill: http-health, url: \"http://10.0.0.9/\"}\n",
    )
    .unwrap();
    let absolute = secret_map.display().to_string();
    for link in [
        "../../../../tmp/x/internal-map.yaml".to_string(),
        "../../internal-map.yaml".to_string(),
        absolute.clone(),
    ] {
        let maps = fetched(&[("topology/payments-api.yaml", root_linking(&link))]);
        let e = TopologyGraph::load_fetched(&maps, "topology/payments-api.yaml", 2, &[])
            .expect_err(&link);
        let problem = e.problem().to_string();
        assert!(
            problem.contains("internal-map"),
            "names the node: {problem}"
        );
        assert!(
            problem.contains("absolute") || problem.contains("leaves the repository"),
            "{link}: {problem}"
        );
        assert!(
            !problem.contains("vault"),
            "the outside map was read: {problem}"
        );
    }
    // A link inside the repository to a file that is not there says so, and no more.
    let maps = fetched(&[("topology/payments-api.yaml", root_linking("ledger.yaml"))]);
    let e = TopologyGraph::load_fetched(&maps, "topology/payments-api.yaml", 2, &[]).unwrap_err();
    assert!(
        e.problem().to_string().contains("no such map"),
        "{}",
        e.problem()
    );
}

/// A root of `n` nodes all linking one map of `n` nodes.
fn square(n: usize) -> BTreeMap<String, String> {
    let mut root = String::from("service: root\nenvironment: staging\ndownstream:\n");
    let mut leaf = String::from("service: shared\nenvironment: staging\ndownstream:\n");
    for i in 0..n {
        root.push_str(&format!(
            "  - {{name: s{i}, type: service, topology: shared.yaml}}\n"
        ));
        leaf.push_str(&format!(
            "  - {{name: h{i}, type: http, skill: http-health, url: \"http://10.0.{}.{}/\"}}\n",
            i / 250,
            i % 250
        ));
    }
    fetched(&[("maps/root.yaml", root), ("maps/shared.yaml", leaf)])
}

#[test]
fn a_map_linked_from_every_node_is_expanded_once_and_checks_are_capped() {
    let graph = TopologyGraph::load_fetched(&square(300), "maps/root.yaml", 2, &[]).unwrap();
    // Was 90,300: every link planned the shared map's 300 nodes again.
    assert!(
        graph.checks.len() <= MAX_CHECKS,
        "{} checks",
        graph.checks.len()
    );
    let shared_nodes = graph
        .checks
        .iter()
        .filter(|c| c.node.starts_with('h'))
        .count();
    assert_eq!(shared_nodes, 300, "the shared map's nodes are planned once");
}

#[test]
fn topology_check_on_a_repeating_link_graph_stays_bounded() {
    // 30 levels, each map linking the next one from 20 nodes: 20^30 paths if walked naively.
    let dir = tempfile::tempdir().unwrap();
    for level in 0..30 {
        let mut map = format!("service: l{level}\nenvironment: staging\ndownstream:\n");
        for i in 0..20 {
            if level < 29 {
                map.push_str(&format!(
                    "  - {{name: l{}-{i}, type: service, topology: l{}.yaml}}\n",
                    level + 1,
                    level + 1
                ));
            }
        }
        map.push_str(
            "  - {name: db, type: db, skill: postgres, url: \"postgres://10.0.0.1/app\"}\n",
        );
        std::fs::write(dir.path().join(format!("l{level}.yaml")), map).unwrap();
    }
    let started = std::time::Instant::now();
    let report = check(&dir.path().join("l0.yaml"), &[]);
    println!("topology check took {:?}", started.elapsed());
    assert!(report.is_ok(), "{:?}", report.errors().collect::<Vec<_>>());
    assert!(
        report.rendering.len() < 1_000_000,
        "{} bytes",
        report.rendering.len()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn nested_yaml_is_refused_before_parsing() {
    let bomb = format!("service: {}x{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let maps = fetched(&[("maps/root.yaml", bomb)]);
    let started = std::time::Instant::now();
    let e = TopologyGraph::load_fetched(&maps, "maps/root.yaml", 2, &[]).unwrap_err();
    assert!(e.problem().to_string().contains("nests"), "{}", e.problem());
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let config = format!("topology:\n{}x\n", "- ".repeat(20_000));
    let e = fixpoint::config::repo::RepoConfig::parse(&config).unwrap_err();
    assert!(e.to_string().contains("nests"), "{e}");
}
