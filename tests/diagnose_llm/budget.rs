//! Fitting the prompt to FIXPOINT_LLM_MAX_PROMPT_TOKENS: the largest evidence is cut first,
//! then the lowest-ranked findings (healthy first) go; the rules diagnosis never does.

use fixpoint::diagnose::llm::budget::{EVIDENCE_FLOOR, shorten};
use fixpoint::diagnose::llm::{Prompt, PromptInput, TrimReport, prompt};
use fixpoint::skills::{Evidence, Finding, Status};

use crate::incident::{SERVICE, findings, graph, history, rules_diagnosis};

fn build(findings: &[Finding], budget: usize) -> Prompt {
    let (graph, history, rules) = (graph(), history(), rules_diagnosis());
    let input = PromptInput {
        service: SERVICE,
        findings,
        graph: Some(&graph),
        history: &history,
        rules: &rules,
        candidates: &[],
    };
    prompt::build(&input, budget)
}

fn tokens(p: &Prompt) -> usize {
    prompt::estimate_tokens(&p.system) + prompt::estimate_tokens(&p.user)
}

/// A 120 KB task log whose last line says what happened.
fn huge_log() -> String {
    let mut log = String::new();
    for i in 0..2000 {
        log.push_str(&format!(
            "2025-05-06T14:00:{:02}Z INFO GET /health 200 in 3 ms (request {i})\n",
            i % 60
        ));
    }
    log.push_str(
        "FATAL: remaining connection slots are reserved for non-replication superuser connections",
    );
    log
}

fn healthy(node: &str) -> Finding {
    let mut f = findings()[3].clone();
    f.node = node.into();
    f.status = Status::Healthy;
    f.summary = format!(
        "{node} answered 200 OK; {}",
        "all checks passed. ".repeat(20)
    );
    f.evidence = vec![Evidence::new(
        format!("http:{node}"),
        "HTTP/1.1 200 OK ".repeat(20),
    )];
    f
}

#[test]
fn the_incident_fits_the_default_budget_untouched() {
    let p = build(&findings(), 12_000);
    assert_eq!(p.trim, TrimReport::default());
    assert!(tokens(&p) < 12_000);
    assert_eq!(p.evidence.len(), 5, "every evidence item has an id");
}

#[test]
fn the_largest_evidence_is_cut_first_keeping_its_head_and_tail() {
    let mut findings = findings();
    findings[1]
        .evidence
        .push(Evidence::new("logs:/ecs/payments-api", huge_log()));
    let p = build(&findings, 6_000);

    assert!(tokens(&p) <= 6_000, "{} tokens", tokens(&p));
    assert_eq!(p.trim.shortened, 1, "{:?}", p.trim);
    assert!(
        p.trim.dropped_findings.is_empty() && p.trim.dropped_evidence == 0,
        "{:?}",
        p.trim
    );
    assert!(p.user.contains("(request 0)"), "the head stays");
    assert!(
        p.user
            .contains("FATAL: remaining connection slots are reserved"),
        "the tail, where the error is, stays"
    );
    assert!(p.user.contains("characters cut …]"));
    // The small items are untouched.
    assert!(
        p.user
            .contains("100 connections; 97 idle in transaction from application_name=payments-api")
    );
    // The id still maps to the whole evidence for the diagnosis.
    assert!(
        p.evidence
            .values()
            .any(|shown| shown.evidence.text.len() > 100_000)
    );
}

#[test]
fn cuts_level_the_largest_items_before_touching_smaller_ones() {
    let mut findings = findings();
    findings[1]
        .evidence
        .push(Evidence::new("logs:big", "x".repeat(30_000)));
    findings[2]
        .evidence
        .push(Evidence::new("postgres:medium", "y".repeat(3_000)));
    let p = build(&findings, 8_000);

    assert!(tokens(&p) <= 8_000);
    assert_eq!(
        p.trim.shortened, 1,
        "cutting the big one was enough: {:?}",
        p.trim
    );
    assert!(
        p.user.contains(&"y".repeat(3_000)),
        "the medium item is whole"
    );
}

#[test]
fn healthy_findings_go_before_anything_that_is_down() {
    let mut findings = findings();
    findings.extend(
        [
            "frontend-app",
            "notification-svc",
            "sqs-payments",
            "lambda-worker",
            "ledger-events",
        ]
        .map(healthy),
    );
    findings[1]
        .evidence
        .push(Evidence::new("logs:/ecs/payments-api", "z".repeat(30_000)));
    let p = build(&findings, 2_600);

    assert!(tokens(&p) <= 2_600, "{} tokens, {:?}", tokens(&p), p.trim);
    assert!(p.trim.shortened >= 1, "evidence is cut first: {:?}", p.trim);
    assert!(!p.trim.dropped_findings.is_empty(), "{:?}", p.trim);
    // Dropped in rank order from the bottom: every healthy finding before any other.
    let healthy_count = findings
        .iter()
        .filter(|f| f.status == Status::Healthy)
        .count();
    for (i, node) in p.trim.dropped_findings.iter().enumerate() {
        let f = findings.iter().find(|f| &f.node == node).unwrap();
        if i < healthy_count {
            assert_eq!(
                f.status,
                Status::Healthy,
                "{node} dropped before a healthy one: {:?}",
                p.trim
            );
        }
    }
    assert!(
        p.user.contains("### postgresql — down"),
        "the rules engine's root cause stays"
    );
    assert!(
        p.user
            .contains("Findings left out to fit the prompt budget: "),
        "the model is told"
    );
    assert!(p.user.contains("## The rules engine's diagnosis"));
    assert!(
        p.user
            .contains("raise max_connections on postgresql to 200"),
        "the history stays"
    );
}

#[test]
fn at_the_smallest_budget_the_rules_diagnosis_and_history_survive() {
    let mut findings = findings();
    findings.extend(["frontend-app", "notification-svc"].map(healthy));
    for f in &mut findings {
        f.evidence
            .push(Evidence::new("logs:bulk", "w".repeat(8_000)));
    }
    let p = build(&findings, 2_000);

    assert!(
        p.user
            .contains("Root cause: postgresql, class db_connections_exhausted")
    );
    assert!(
        p.user
            .contains(&format!("{} source=\"debug-history\">", p.fence.open_tag()))
    );
    assert!(p.user.contains("- ledger-db:"), "the topology stays whole");
    assert!(
        p.user.contains("### postgresql —"),
        "the rules' root-cause node is never left out"
    );
    assert!(p.trim.dropped_findings.len() >= 5, "{:?}", p.trim);
    if tokens(&p) > 2_000 {
        assert!(
            p.trim.over_budget,
            "an impossible budget is reported, not hidden"
        );
    }
}

#[test]
fn shorten_keeps_a_third_of_the_head_and_two_thirds_of_the_tail() {
    assert_eq!(shorten("short", 10), "short");
    let text: String = ('a'..='z').collect();
    assert_eq!(shorten(&text, 9), "abc\n[… 17 characters cut …]\nuvwxyz");
    // Multi-byte characters are counted and cut on their boundaries.
    let s = shorten(&"é".repeat(EVIDENCE_FLOOR * 2), EVIDENCE_FLOOR);
    assert!(s.starts_with(&"é".repeat(EVIDENCE_FLOOR / 3)));
}
