//! payments-api's new tasks are OOM-killed: its memory is raised in the task definition
//! file, as a valid Fargate size, under the configured ceiling, never to a size that failed.

use fixpoint::diagnose::RootCauseClass;
use fixpoint::harness::plans::{FARGATE_PAIRS, PlanKind, fargate_target};

use crate::world::*;

const TASK_DEF: &str = "task-definition.json";

pub fn oom() -> fixpoint::diagnose::Diagnosis {
    diagnosis(
        RootCauseClass::OomKilled,
        SERVICE,
        None,
        &[(
            "ecs:stopped-task/4f1c2a",
            "stopped (TaskFailedToStart; cause: OutOfMemory): OutOfMemoryError: Container killed due to memory usage; container payments-api exit 137",
        )],
    )
}

pub fn fargate(cpu: &str, memory: &str) -> String {
    fixture("fargate-task-definition.json")
        .replace("\"cpu\": \"256\"", &format!("\"cpu\": \"{cpu}\""))
        .replace("\"memory\": \"512\"", &format!("\"memory\": \"{memory}\""))
        .replace("\"memory\": 512", &format!("\"memory\": {memory}"))
}

#[tokio::test]
async fn oom_on_fargate_doubles_task_and_container_memory_and_changes_nothing_else() {
    let file = fixture("fargate-task-definition.json");
    let w = World::new(&[(TASK_DEF, &file)]);
    let p = plan(decide(&w, &oom(), &config(""), &[]).await);
    assert_eq!(p.kind, PlanKind::RaiseMemory);
    assert_eq!(p.fingerprint, "infra:oom_killed:payments-api/memory=1024");
    let (path, text) = only_file(&p);
    assert_eq!(path, TASK_DEF);
    // Key order, 2-space indentation, strings staying strings, the trailing newline: the
    // diff people review is the two memory lines.
    assert_eq!(
        changed_lines(&file, text),
        [
            ("  \"memory\": \"512\",", "  \"memory\": \"1024\","),
            ("      \"memory\": 512,", "      \"memory\": 1024,")
        ]
    );
    assert!(text.ends_with("}\n"));
}

#[tokio::test]
async fn a_file_written_on_windows_keeps_its_line_endings() {
    let file = fixture("fargate-task-definition.json").replace('\n', "\r\n");
    let w = World::new(&[(TASK_DEF, &file)]);
    let p = plan(decide(&w, &oom(), &config(""), &[]).await);
    let (_, text) = only_file(&p);
    assert_eq!(text.matches("\r\n").count(), file.matches("\r\n").count());
    assert_eq!(changed_lines(&file, text).len(), 2);
}

#[tokio::test]
async fn a_raise_that_did_not_hold_is_followed_by_a_bigger_one_never_the_same() {
    // Iteration 1 raised 512 → 1024 and the tasks were still OOM-killed at 1024.
    let w = World::new(&[(TASK_DEF, &fargate("256", "512"))])
        .at_head(TASK_DEF, Some(&fargate("256", "1024")));
    let failed = ["infra:oom_killed:payments-api/memory=1024"];
    let p = plan(decide(&w, &oom(), &config(""), &failed).await);
    assert_eq!(p.fingerprint, "infra:oom_killed:payments-api/memory=2048");
    assert!(only_file(&p).1.contains("\"memory\": \"2048\""));

    // Had the branch not moved, the only raise would be the one that failed: nothing left.
    let w = World::new(&[(TASK_DEF, &fargate("256", "512"))]);
    let why = no_fix(decide(&w, &oom(), &config(""), &failed).await);
    assert!(why.contains("tried and did not hold"), "{why}");
    assert!(why.contains("memory=1024"), "{why}");
}

#[tokio::test]
async fn cpu_is_raised_only_when_the_memory_needs_it() {
    let w = World::new(&[(TASK_DEF, &fargate("256", "2048"))]);
    let p = plan(decide(&w, &oom(), &config(""), &[]).await);
    let (_, text) = only_file(&p);
    // 256 CPU units take at most 2 GB; 4 GB needs 512.
    assert!(text.contains("\"cpu\": \"512\""), "{text}");
    assert!(text.contains("\"memory\": \"4096\""), "{text}");
    assert!(p.summary.contains("cpu 256 → 512"), "{}", p.summary);

    let w = World::new(&[(TASK_DEF, &fargate("1024", "3072"))]);
    let p = plan(decide(&w, &oom(), &config(""), &[]).await);
    let (_, text) = only_file(&p);
    assert!(
        text.contains("\"cpu\": \"1024\"") && text.contains("\"memory\": \"6144\""),
        "{text}"
    );
}

#[tokio::test]
async fn at_the_ceiling_nothing_is_raised_and_the_key_is_named() {
    // Two raises did not hold; the third would pass the ceiling.
    let w = World::new(&[(TASK_DEF, &fargate("1024", "4096"))]);
    let failed = [
        "infra:oom_killed:payments-api/memory=2048",
        "infra:oom_killed:payments-api/memory=4096",
    ];
    let why = no_fix(decide(&w, &oom(), &config("max_memory_mib: 4096\n"), &failed).await);
    assert!(why.contains("`max_memory_mib: 4096`"), "{why}");
    assert!(why.contains(".github/fixpoint.yml"), "{why}");
    assert!(
        why.contains("tried and did not hold: infra:oom_killed:payments-api/memory=2048; infra:oom_killed:payments-api/memory=4096"),
        "{why}"
    );

    // Under a ceiling that twice does not fit, half again does.
    let w = World::new(&[(TASK_DEF, &fargate("1024", "4096"))]);
    let p = plan(decide(&w, &oom(), &config("max_memory_mib: 6144\n"), &[]).await);
    assert_eq!(p.fingerprint, "infra:oom_killed:payments-api/memory=6144");
}

#[tokio::test]
async fn on_ec2_only_the_containers_hard_limit_is_raised() {
    let file = fixture("ec2-task-definition.json");
    let w = World::new(&[(TASK_DEF, &file)]);
    let p = plan(decide(&w, &oom(), &config(""), &[]).await);
    assert_eq!(p.fingerprint, "infra:oom_killed:payments-api/memory=1536");
    let (_, text) = only_file(&p);
    // The file's own 4-space indentation; the sidecar and the soft reservation untouched.
    assert_eq!(
        changed_lines(&file, text),
        [(
            "            \"memory\": 768,",
            "            \"memory\": 1536,"
        )]
    );
}

#[tokio::test]
async fn the_configured_path_is_read_before_the_usual_places() {
    let w = World::new(&[
        ("infra/ecs/payments.json", &fargate("256", "1024")),
        (TASK_DEF, &fargate("256", "512")),
    ]);
    let p = plan(
        decide(
            &w,
            &oom(),
            &config("task_definition: infra/ecs/payments.json\n"),
            &[],
        )
        .await,
    );
    assert_eq!(only_file(&p).0, "infra/ecs/payments.json");
    assert_eq!(p.fingerprint, "infra:oom_killed:payments-api/memory=2048");

    // A configured path that does not exist is a config mistake, said as one.
    let why = no_fix(
        decide(
            &w,
            &oom(),
            &config("task_definition: ecs/missing.json\n"),
            &[],
        )
        .await,
    );
    assert!(why.contains("`task_definition: ecs/missing.json`"), "{why}");
}

/// AWS's table of Fargate task sizes ("Task CPU and memory", Amazon ECS Developer Guide).
#[test]
fn fargate_sizes_are_the_documented_table() {
    let gb = |g: u64| g * 1024;
    let expected: Vec<(u64, Vec<u64>)> = vec![
        (256, vec![512, 1024, 2048]),
        (512, (1..=4).map(gb).collect()),
        (1024, (2..=8).map(gb).collect()),
        (2048, (4..=16).map(gb).collect()),
        (4096, (8..=30).map(gb).collect()),
        (8192, (16..=60).step_by(4).map(gb).collect()),
        (16384, (32..=120).step_by(8).map(gb).collect()),
    ];
    for (cpu, memories) in expected {
        let ours: Vec<u64> = FARGATE_PAIRS
            .iter()
            .filter(|p| p.0 == cpu)
            .flat_map(|&(_, first, last, step)| (first..=last).step_by(step as usize))
            .collect();
        assert_eq!(ours, memories, "cpu {cpu}");
    }
    // Every answer is a pair of the table.
    for (cpu, memory) in [(256, 512), (512, 3072), (2048, 9216), (4096, 20480)] {
        let (c, m) = fargate_target(cpu, memory, 122_880).unwrap();
        assert!(
            FARGATE_PAIRS.iter().any(|&(pc, first, last, step)| pc == c
                && (first..=last).step_by(step as usize).any(|x| x == m)),
            "({c}, {m}) from ({cpu}, {memory})"
        );
        assert!(
            m >= memory * 3 / 2,
            "at least half again: {m} from {memory}"
        );
    }
}

#[tokio::test]
async fn a_task_definition_that_is_not_json_is_named_with_the_fix() {
    let w = World::new(&[(TASK_DEF, "{\n  \"family\": \"payments-api\",\n")]);
    let why = no_fix(decide(&w, &oom(), &config(""), &[]).await);
    assert!(
        why.contains("task-definition.json is not valid JSON"),
        "{why}"
    );
    assert!(
        why.contains("register-task-definition --cli-input-json"),
        "{why}"
    );

    // A configured path Fixpoint may never write is refused before it is read.
    let w = World::new(&[(TASK_DEF, &fixture("fargate-task-definition.json"))]);
    let config = config("task_definition: .github/workflows/taskdef.json\n");
    let why = no_fix(decide(&w, &oom(), &config, &[]).await);
    assert!(why.contains("names a file Fixpoint may not write"), "{why}");
}

#[tokio::test]
async fn github_not_answering_is_an_error_to_retry_not_a_decision() {
    let mut w = World::new(&[(TASK_DEF, &fixture("fargate-task-definition.json"))]);
    w.unreachable = true;
    let head = sha(HEAD);
    let (d, config) = (oom(), config(""));
    let req = fixpoint::harness::plans::PlanRequest {
        service: SERVICE,
        diagnosis: &d,
        config: &config,
        head: &head,
        failing: &head,
        failed: &[],
        ecs: None,
        model: None,
    };
    let e = fixpoint::harness::plans::choose(&w, &req)
        .await
        .expect_err("no decision is made from a repository that could not be read");
    assert!(format!("{e:#}").contains("502 Bad Gateway"), "{e:#}");
}
