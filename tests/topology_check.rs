//! Topology maps as incidents: the seed's map, the multi-hop example, and one broken map per
//! mistake `fixpoint topology check` must catch, each with its file, node and fix.

use std::path::{Path, PathBuf};

use fixpoint::topology::{
    self, CheckTarget, DEFAULT_DEPTH, Direction, Endpoint, FieldFix, PlannedCheck, SkillKind,
    TopologyError, TopologyGraph, run_check_command,
};

fn fixture(name: &str) -> PathBuf {
    Path::new("tests/fixtures/topology").join(name)
}

/// What `topology check` prints for one file, and its exit code.
fn check_output(path: &Path) -> (String, i32) {
    run_check_command(path, &[])
}

/// (node, hop, skill) for every planned check, in tree order.
fn plan(graph: &TopologyGraph) -> Vec<(&str, u32, Option<SkillKind>)> {
    graph
        .checks
        .iter()
        .map(|c| (c.node.as_str(), c.hop, c.skill))
        .collect()
}

fn find<'a>(graph: &'a TopologyGraph, node: &str, skill: SkillKind) -> &'a PlannedCheck {
    graph
        .checks
        .iter()
        .find(|c| c.node == node && c.skill == Some(skill))
        .unwrap_or_else(|| panic!("no {skill} check for {node} in {:#?}", plan(graph)))
}

fn write_map(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a temporary map");
    path
}

#[test]
fn the_seed_service_topology_map_loads_as_it_is() {
    let seed = fixture("seed-payments-api.json");
    let map = topology::load(&seed).expect("the seed's JSON loads");
    assert_eq!(map.service, "payments-api");
    assert_eq!(
        map.environment, None,
        "no environment is allowed-but-unknown"
    );
    let skills: Vec<_> = map.downstream.iter().map(|n| n.skill).collect();
    assert_eq!(
        skills,
        [
            SkillKind::Postgres,
            SkillKind::Redis,
            SkillKind::Sqs,
            SkillKind::Lambda,
            SkillKind::HttpHealth
        ]
        .map(Some)
    );

    // It names no connection details: every node is planned, and the sweep will say why it
    // cannot check it rather than skip it.
    let graph = TopologyGraph::load(&seed, DEFAULT_DEPTH, &[]).expect("the seed's map sweeps");
    assert_eq!(graph.checks.len(), 7);
    assert!(graph.checks.iter().all(|c| c.hop == 1));
    let db = find(&graph, "postgresql", SkillKind::Postgres);
    assert_eq!(
        db.target,
        CheckTarget::Missing {
            what: map.downstream[0].missing_connection().unwrap()
        }
    );
    assert!(
        matches!(&db.target, CheckTarget::Missing { what } if what.starts_with("postgres needs `url_env`"))
    );
}

#[test]
fn payments_api_sweeps_its_own_checks_then_its_nodes_then_ledger_consumers() {
    let root = fixture("hops/payments-api.yaml");
    let graph = TopologyGraph::load(&root, DEFAULT_DEPTH, &[]).expect("the issue's example loads");

    assert_eq!(
        plan(&graph),
        vec![
            // hop 0: the service's own checks (gha because `repo` is set)
            ("payments-api", 0, Some(SkillKind::Gha)),
            ("payments-api", 0, Some(SkillKind::Ecs)),
            ("payments-api", 0, Some(SkillKind::Cloudwatch)),
            // hop 1: its direct nodes …
            ("api-gateway", 1, Some(SkillKind::HttpHealth)),
            ("postgresql", 1, Some(SkillKind::Postgres)),
            ("redis", 1, Some(SkillKind::Redis)),
            ("sqs-payments", 1, Some(SkillKind::Sqs)),
            ("lambda-worker", 1, Some(SkillKind::Lambda)),
            // … including ledger-consumer, checked by its own map's ecs/logs
            ("ledger-consumer", 1, Some(SkillKind::Ecs)),
            ("ledger-consumer", 1, Some(SkillKind::Cloudwatch)),
            // hop 2: ledger-consumer's nodes, and ledger-archive's own checks
            ("sqs-payments", 2, Some(SkillKind::Sqs)),
            ("ledger-db", 2, Some(SkillKind::Postgres)),
            ("ledger-archive", 2, Some(SkillKind::Ecs)),
            // ledger-archive's node would be hop 3: beyond the default depth
        ]
    );

    let gateway = find(&graph, "api-gateway", SkillKind::HttpHealth);
    assert_eq!(gateway.direction, Some(Direction::Upstream));
    assert_eq!(gateway.via, ["payments-api"]);

    // The secret stays a name: nothing is resolved at load time.
    let db = find(&graph, "postgresql", SkillKind::Postgres);
    assert_eq!(
        db.target,
        CheckTarget::Postgres {
            endpoint: Endpoint::Env("PAYMENTS_DB_URL".into())
        }
    );

    let ledger_ecs = find(&graph, "ledger-consumer", SkillKind::Ecs);
    assert_eq!(ledger_ecs.direction, Some(Direction::Downstream));
    assert_eq!(ledger_ecs.via, ["payments-api"]);
    assert!(
        ledger_ecs
            .source_file
            .ends_with("hops/ledger-consumer.yaml")
    );
    assert!(
        matches!(&ledger_ecs.target, CheckTarget::Ecs { service, .. } if service == "ledger-consumer")
    );

    let ledger_db = find(&graph, "ledger-db", SkillKind::Postgres);
    assert_eq!(ledger_db.via, ["payments-api", "ledger-consumer"]);
    assert!(ledger_db.source_file.ends_with("hops/ledger-consumer.yaml"));
    assert_eq!(
        graph
            .root
            .nodes
            .last()
            .and_then(|n| n.map.as_ref())
            .map(|m| m.hop),
        Some(1)
    );
}

#[test]
fn the_depth_limit_decides_how_far_the_sweep_reaches() {
    let root = fixture("hops/payments-api.yaml");
    let hops = |depth| {
        let graph = TopologyGraph::load(&root, depth, &[]).expect("loads");
        graph.checks.iter().map(|c| c.hop).max()
    };
    assert_eq!(hops(0), Some(0), "depth 0: the service's own checks only");
    assert_eq!(
        hops(1),
        Some(1),
        "depth 1: ledger-consumer's own checks, not its nodes"
    );
    assert_eq!(hops(3), Some(3), "depth 3: ledger-archive's node too");

    let one = TopologyGraph::load(&root, 1, &[]).expect("loads");
    assert!(
        one.checks
            .iter()
            .any(|c| c.node == "ledger-consumer" && c.hop == 1)
    );
    assert!(!one.checks.iter().any(|c| c.node == "ledger-db"));

    // A broken map beyond the depth is never read; within it, it is refused.
    let checkout = fixture("deep/checkout.yaml");
    TopologyGraph::load(&checkout, 1, &[]).expect("pricing.yaml lies beyond depth 1");
    let err = TopologyGraph::load(&checkout, 2, &[]).expect_err("pricing.yaml is read at depth 2");
    assert!(
        matches!(&err, TopologyError::Malformed { file, .. } if file.ends_with("deep/pricing.yaml")),
        "{err}"
    );
}

#[test]
fn the_example_maps_in_the_repository_pass_check() {
    let (out, code) = check_output(Path::new("topology"));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ok: 2 maps checked, 0 errors, 0 warnings"),
        "{out}"
    );
    insta::with_settings!({snapshot_path => "fixtures/topology/snapshots"}, {
        insta::assert_snapshot!("payments_api_check", check_output(Path::new("topology/payments-api.yaml")).0);
    });
}

/// Each broken fixture: load fails or succeeds as the rule says, and `check` names the file,
/// the node and the fix.
fn assert_check_says(file: &str, wanted: &[&str]) -> String {
    let (out, code) = check_output(&fixture(file));
    assert_eq!(code, 1, "{file} must fail check:\n{out}");
    for w in wanted {
        assert!(out.contains(w), "{file}: expected {w:?} in:\n{out}");
    }
    out
}

#[test]
fn a_misspelt_skill_is_refused_with_the_one_meant() {
    let err =
        topology::load(&fixture("broken/unknown-skill.yaml")).expect_err("postgress is no skill");
    assert!(
        matches!(&err, TopologyError::UnknownSkill { suggestion: Some(s), .. } if s == "postgres")
    );
    assert_check_says(
        "broken/unknown-skill.yaml",
        &[
            "broken/unknown-skill.yaml",
            "node `billing-db`",
            "unknown skill `postgress`",
            "did you mean `skill: postgres`?",
        ],
    );
}

#[test]
fn a_node_without_its_connection_loads_but_fails_check() {
    let map = topology::load(&fixture("broken/missing-connection.yaml"))
        .expect("loads: the sweep says unknown");
    let graph = TopologyGraph::load(
        &fixture("broken/missing-connection.yaml"),
        DEFAULT_DEPTH,
        &[],
    )
    .expect("sweeps");
    let db = find(&graph, "billing-db", SkillKind::Postgres);
    assert_eq!(
        db.target,
        CheckTarget::Missing {
            what: map.downstream[0].missing_connection().unwrap()
        }
    );
    assert_check_says(
        "broken/missing-connection.yaml",
        &[
            "missing-connection.yaml",
            "node `billing-db`",
            "postgres needs `url_env`",
            "fix: add `url_env`",
        ],
    );
}

#[test]
fn maps_that_link_to_each_other_are_refused_and_the_cycle_named() {
    let err = TopologyGraph::load(&fixture("broken/cycle-a.yaml"), 10, &[]).expect_err("a cycle");
    assert!(
        matches!(&err, TopologyError::Cycle { files, .. } if files.len() == 3),
        "{err}"
    );
    assert_check_says(
        "broken/cycle-a.yaml",
        &[
            "cycle-b.yaml",
            "node `orders`",
            "cycle-a.yaml → cycle-b.yaml → cycle-a.yaml",
            "drop `topology:` from node `orders`",
        ],
    );
}

#[test]
fn a_production_environment_is_refused_however_it_is_spelt() {
    topology::load(&fixture("broken/production.yaml")).expect("parsing alone does not judge");
    let err = TopologyGraph::load(&fixture("broken/production.yaml"), DEFAULT_DEPTH, &[])
        .expect_err("production");
    assert!(matches!(err, TopologyError::Production { .. }));
    assert_check_says(
        "broken/production.yaml",
        &[
            "production.yaml",
            "environment `Production` means production",
            "environment: staging",
        ],
    );

    // Names the operator configures count too.
    let dir = tempfile::tempdir().expect("tempdir");
    let blue = write_map(
        dir.path(),
        "blue.yaml",
        "service: shop\nenvironment: blue\necs: {cluster: c, service: shop}\n",
    );
    TopologyGraph::load(&blue, DEFAULT_DEPTH, &[]).expect("`blue` is not production by default");
    let (out, code) = run_check_command(&blue, &["BLUE".to_string()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("environment `blue` means production"), "{out}");
}

#[test]
fn a_password_in_a_url_is_refused_without_repeating_it() {
    let err =
        topology::load(&fixture("broken/inline-credentials.yaml")).expect_err("credentials inline");
    assert!(matches!(err, TopologyError::InlineCredentials { .. }));
    let out = assert_check_says(
        "broken/inline-credentials.yaml",
        &[
            "inline-credentials.yaml",
            "node `billing-db`",
            "`url` carries a credential inline",
            "url_env",
        ],
    );
    assert!(
        !out.contains("hunter2"),
        "the secret must not be echoed:\n{out}"
    );
}

#[test]
fn a_url_pasted_into_url_env_is_refused_without_repeating_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let map = write_map(
        dir.path(),
        "shop.yaml",
        "service: shop\nenvironment: dev\ndownstream:\n  - {name: db, skill: postgres, url_env: \"postgres://shop@db.dev:5432/shop\"}\n",
    );
    let (out, code) = run_check_command(&map, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("node `db`: `url_env` must be the NAME of an environment variable"),
        "{out}"
    );
    assert!(!out.contains("db.dev"), "the value is not repeated:\n{out}");
}

#[test]
fn two_nodes_with_one_name_are_refused() {
    let err = topology::load(&fixture("broken/duplicate-node.yaml")).expect_err("duplicate");
    assert!(matches!(&err, TopologyError::DuplicateNode { node, .. } if node == "cache"));
    assert_check_says(
        "broken/duplicate-node.yaml",
        &[
            "duplicate-node.yaml",
            "node `cache`",
            "more than one node is named `cache`",
            "unique name",
        ],
    );
}

#[test]
fn a_misspelt_field_is_refused_with_the_one_meant() {
    let err = topology::load(&fixture("broken/unknown-field.yaml")).expect_err("exepct_body");
    let TopologyError::UnknownField(unknown) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (unknown.field.as_str(), unknown.line),
        ("exepct_body", Some(10))
    );
    assert_eq!(unknown.fix, FieldFix::DidYouMean("expect_body"));
    assert_check_says(
        "broken/unknown-field.yaml",
        &[
            "unknown-field.yaml",
            "node `billing-gateway`",
            "unknown field `exepct_body`",
            "(line 10)",
            "did you mean `expect_body`?",
        ],
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let map = write_map(dir.path(), "shop.yaml", "service: shop\nenviroment: dev\n");
    let (out, _) = run_check_command(&map, &[]);
    assert!(
        out.contains("unknown field `enviroment` in `top level`"),
        "{out}"
    );
    assert!(out.contains("did you mean `environment`?"), "{out}");
}

#[test]
fn malformed_yaml_and_json_say_where() {
    let err = topology::load(&fixture("broken/malformed.yaml")).expect_err("malformed");
    assert!(
        matches!(
            err,
            TopologyError::Malformed {
                line: Some(6),
                column: Some(5),
                ..
            }
        ),
        "{err}"
    );
    assert_check_says(
        "broken/malformed.yaml",
        &["malformed.yaml", "malformed YAML at line 6 column 5"],
    );
    assert_check_says(
        "broken/malformed.json",
        &[
            "malformed.json",
            "malformed JSON at line 4 column 47",
            "trailing comma",
        ],
    );
}

#[test]
fn a_link_to_a_missing_map_names_the_node_that_links() {
    assert_check_says(
        "broken/missing-map.yaml",
        &[
            "missing-map.yaml",
            "node `invoicing`",
            "invoicing.yaml, which cannot be read",
            "relative to the file that names it",
        ],
    );
}

#[test]
fn the_command_checks_a_folder_and_refuses_what_it_cannot_read() {
    let (out, code) = check_output(&fixture("broken"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED: 11 maps checked"), "{out}");

    let (out, code) = check_output(Path::new("tests/fixtures/topology/no-such-map.yaml"));
    assert_eq!((code, out.contains("cannot read")), (2, true), "{out}");

    let empty = tempfile::tempdir().expect("tempdir");
    let (out, code) = check_output(empty.path());
    assert_eq!((code, out.contains("no topology maps")), (2, true), "{out}");

    // Warnings alone pass.
    let dir = tempfile::tempdir().expect("tempdir");
    let map = write_map(
        dir.path(),
        "shop.yaml",
        "service: shop\ndownstream:\n  - {name: web, skill: http, url: \"https://shop.dev/health\"}\n",
    );
    let (out, code) = check_output(&map);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning:") && out.contains("no `environment`"),
        "{out}"
    );
}

/// A map that names the server's own loopback (in a spelling meant to slip past a string
/// match) or the cloud metadata endpoint loads, but `topology check` warns before a sweep
/// started by a webhook refuses them.
#[test]
fn urls_a_webhook_sweep_would_refuse_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let map = write_map(
        dir.path(),
        "internal.yaml",
        "service: payments-api\nenvironment: staging\nlogs: {group: /ecs/payments-api}\ndownstream:\n  - {name: sidecar, type: http, skill: http-health, url: \"http://2130706433:8080/health\"}\n  - {name: metadata, type: http, skill: http-health, url: \"http://169.254.169.254/latest/meta-data/\"}\n  - {name: local, type: http, skill: http-health, url: \"http://localhost:9000/\"}\n  - {name: ledger, type: http, skill: http-health, url: \"https://ledger.staging.example.com/health\"}\n",
    );
    let (out, code) = check_output(&map);
    assert_eq!(code, 0, "warnings only\n{out}");
    for node in ["sidecar", "metadata", "local"] {
        assert!(
            out.lines()
                .any(|l| l.contains(node) && l.contains("Fixpoint does not connect there")),
            "{node}\n{out}"
        );
    }
    assert!(
        out.contains("127.0.0.1"),
        "the decimal spelling is named as loopback\n{out}"
    );
    assert!(
        !out.lines()
            .any(|l| l.contains("ledger") && l.contains("does not connect")),
        "a name is judged when the sweep resolves it\n{out}"
    );
    assert!(out.contains("FIXPOINT_SWEEP_ALLOW"), "{out}");
}
