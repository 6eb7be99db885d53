//! The message corpus (tests/fixtures/messages.tsv): real messages in their original
//! wording, each read through the extraction the skills and the rules use, must carry the
//! signal it is labelled with; the near-misses must carry none.

use fixpoint::diagnose::RootCauseClass as Class;
use fixpoint::diagnose::rules::reading::{LineSignal, read_line, stop_class};
use fixpoint::skills::ecs::StopCause;
use fixpoint::skills::excerpts::is_error_line;

struct Entry<'a> {
    line_no: usize,
    kind: &'a str,
    expect: &'a str,
    subject: Option<&'a str>,
    source: &'a str,
    text: String,
}

fn corpus() -> Vec<Entry<'static>> {
    let text: &'static str = Box::leak(
        std::fs::read_to_string("tests/fixtures/messages.tsv")
            .expect("tests/fixtures/messages.tsv is readable")
            .into_boxed_str(),
    );
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(i, l)| {
            let cols: Vec<&str> = l.splitn(5, '\t').collect();
            assert_eq!(
                cols.len(),
                5,
                "messages.tsv line {}: want 5 tab-separated columns (kind, expect, subject, source, text): {l}",
                i + 1
            );
            Entry {
                line_no: i + 1,
                kind: cols[0],
                expect: cols[1],
                subject: (cols[2] != "-").then_some(cols[2]),
                source: cols[3],
                // A `\n` in the file is a newline in the message (a multi-line report).
                text: cols[4].replace("\\n", "\n"),
            }
        })
        .collect()
}

/// What a log line carries: (label, variable named).
fn read_log(text: &str) -> (Vec<String>, Option<String>) {
    let mut labels = Vec::new();
    let mut subject = None;
    for signal in read_line(text) {
        let label = match &signal {
            LineSignal::MissingConfig(m) => {
                subject = m.variable.clone();
                if m.family.unambiguous() {
                    "missing_config".to_string()
                } else {
                    "missing_config?".to_string()
                }
            }
            LineSignal::NameResolution => "dns".to_string(),
            other => other
                .class()
                .map(|c| c.as_str().to_string())
                .unwrap_or_default(),
        };
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    (labels, subject)
}

/// What a stopped task carries: its class by the taxonomy.
fn read_stop(kind: &str, reason: &str) -> Option<Class> {
    let mut parts = kind.split('/').skip(1);
    let code = parts.next().unwrap_or_default();
    let exit = parts.next().and_then(|e| e.parse::<i32>().ok());
    // A memory kill's container carries the reason too, as ECS reports it.
    let container_reason = reason.contains("OutOfMemoryError").then_some(reason);
    let cause = StopCause::read(code, reason, &[(exit, container_reason)]);
    stop_class(cause)
}

#[test]
fn every_message_in_the_corpus_carries_its_labelled_signal_and_near_misses_carry_none() {
    let corpus = corpus();
    assert!(
        corpus.len() >= 80,
        "the corpus holds {} messages; the issue asks for at least 80",
        corpus.len()
    );
    let mut wrong = Vec::new();
    for e in &corpus {
        let said = if e.kind.starts_with("stop/") {
            let class = read_stop(e.kind, &e.text);
            let label = class.map_or("none", |c| c.as_str()).to_string();
            (label == e.expect).then_some(()).ok_or(label)
        } else {
            assert_eq!(
                e.kind, "log",
                "messages.tsv line {}: unknown kind",
                e.line_no
            );
            let (labels, subject) = read_log(&e.text);
            let kept = is_error_line(&e.text);
            if e.expect == "none" {
                labels
                    .iter()
                    .all(|l| l == "dns")
                    .then_some(())
                    .ok_or(labels.join(","))
            } else if !kept && !["dns", "health_check_failed"].contains(&e.expect) {
                // Names that do not resolve reach the rules in skills' summaries, and health
                // checks in ECS events: not through the logs skill.
                Err("dropped by the logs skill (is_error_line)".to_string())
            } else if !labels.iter().any(|l| l == e.expect) {
                Err(format!("read as [{}]", labels.join(",")))
            } else if e.subject.is_some() && subject.as_deref() != e.subject {
                Err(format!("named {subject:?}"))
            } else {
                Ok(())
            }
        };
        if let Err(got) = said {
            wrong.push(format!(
                "line {} ({}): want {} {:?}, got {got}: {}",
                e.line_no, e.source, e.expect, e.subject, e.text
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} messages misread:\n{}",
        wrong.len(),
        corpus.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_corpus_covers_every_family_the_issue_names() {
    let corpus = corpus();
    for family in [
        "envconfig",
        "viper",
        "pydantic",
        "Spring",
        "Ruby",
        "envalid",
        "dotenv-safe",
        "Rust std",
        "os.environ",
        "ResourceInitializationError (ECR registry auth",
        "ResourceInitializationError (Secrets Manager",
        "ResourceInitializationError (log driver",
        "CannotPullContainer",
        "OutOfMemoryError",
        "health checks",
        "PostgreSQL",
        "Redis",
    ] {
        assert!(
            corpus.iter().any(|e| e.source.contains(family)),
            "no message from {family} in the corpus"
        );
    }
    let near_misses = corpus.iter().filter(|e| e.expect == "none").count();
    assert!(near_misses >= 15, "only {near_misses} near-misses");
}
