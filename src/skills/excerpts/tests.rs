use super::*;

#[test]
fn repeats_of_one_error_share_a_signature() {
    let a =
        signature("2026-11-24T08:00:01Z ERROR pool timed out after 30000ms (conn 17) user \"bob\"");
    let b =
        signature("2026-11-24T08:05:09Z ERROR pool timed out after 5000ms (conn 3) user \"alice\"");
    assert_eq!(a, b);
    assert_ne!(a, signature("ERROR connection refused"));
}

#[test]
fn error_lines_are_recognised() {
    assert!(is_error_line(
        "##[error]Process completed with exit code 1."
    ));
    assert!(is_error_line("thread 'main' panicked at src/main.rs:3:5"));
    assert!(!is_error_line("INFO listening on 0.0.0.0:8080"));
}

fn extract(log: &str) -> (LogCounts, Vec<Excerpt>) {
    let mut x = ExcerptExtractor::new(ExcerptLimits::default());
    for line in log.lines() {
        x.push_line(line);
    }
    x.finish_with_counts()
}

/// The same log fed as bytes in chunks of every size from 1 to 17 gives the same answer.
fn extract_chunked(log: &str) -> (LogCounts, Vec<Excerpt>) {
    let whole = extract(log);
    for size in 1..=17 {
        let mut x = ExcerptExtractor::new(ExcerptLimits::default());
        for chunk in log.as_bytes().chunks(size) {
            x.push_bytes(chunk);
        }
        let (mut counts, excerpts) = x.finish_with_counts();
        counts.bytes = whole.0.bytes;
        assert_eq!(
            (&counts, &excerpts),
            (&whole.0, &whole.1),
            "chunks of {size}"
        );
    }
    whole
}

fn stamped(lines: &[&str]) -> String {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("2026-11-24T08:00:{:02}.1234567Z {l}\n", i % 60))
        .collect()
}

#[test]
fn a_runner_error_comes_with_the_lines_around_it_and_its_time() {
    let log = stamped(&[
        "##[group]Run aws ecs wait services-stable --cluster prod --services api",
        "aws ecs wait services-stable --cluster prod --services api",
        "shell: /usr/bin/bash -e {0}",
        "##[endgroup]",
        "Waiting for service api to become stable",
        "still waiting: 1 of 3 tasks running",
        "still waiting: 1 of 3 tasks running (attempt 2)",
        "##[error]Timed out waiting for ECS service api to become stable after 600 seconds",
        "##[error]Process completed with exit code 255.",
        "Post job cleanup.",
    ]);
    let (counts, excerpts) = extract_chunked(&log);
    assert_eq!(excerpts.len(), 1, "{excerpts:#?}");
    let e = &excerpts[0];
    assert_eq!(e.kind, ExcerptKind::RunnerError);
    assert_eq!(e.line, 8);
    assert_eq!(
        e.section.as_deref(),
        Some("aws ecs wait services-stable --cluster prod --services api")
    );
    assert_eq!(
        e.at.unwrap().to_rfc3339(),
        "2026-11-24T08:00:07.123456700+00:00"
    );
    assert_eq!(
        e.lines,
        [
            "Waiting for service api to become stable",
            "still waiting: 1 of 3 tasks running",
            "still waiting: 1 of 3 tasks running (attempt 2)",
            "##[error]Timed out waiting for ECS service api to become stable after 600 seconds",
            "##[error]Process completed with exit code 255.",
            "Post job cleanup.",
        ]
    );
    assert_eq!(
        e.anchor_line(),
        "##[error]Timed out waiting for ECS service api to become stable after 600 seconds"
    );
    assert_eq!((counts.error_lines, counts.runner_errors), (2, 2));
    assert_eq!(counts.lines, 10);
}

#[test]
fn a_cargo_test_failure_names_the_tests_and_counts_them() {
    let log = stamped(&[
        "running 3 tests",
        "test tests::adds ... ok",
        "test tests::subtracts ... FAILED",
        "test tests::divides ... FAILED",
        "",
        "failures:",
        "",
        "---- tests::subtracts stdout ----",
        "thread 'tests::subtracts' panicked at src/lib.rs:20:9:",
        "assertion `left == right` failed",
        "  left: 1",
        " right: 2",
        "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        "",
        "---- tests::divides stdout ----",
        "thread 'tests::divides' panicked at src/lib.rs:25:9:",
        "attempt to divide by zero",
        "",
        "failures:",
        "    tests::subtracts",
        "    tests::divides",
        "",
        "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
        "",
        "error: test failed, to rerun pass `--lib`",
        "##[error]Process completed with exit code 101.",
    ]);
    let (counts, excerpts) = extract_chunked(&log);
    assert_eq!(counts.test_failures, 2);
    assert_eq!(counts.failed_tests, ["tests::subtracts", "tests::divides"]);
    assert_eq!(counts.panics, 2);
    assert_eq!(counts.compile_errors, 0);
    let kinds: Vec<ExcerptKind> = excerpts.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            ExcerptKind::Panic,
            ExcerptKind::Panic,
            ExcerptKind::TestFailure
        ]
    );
    assert!(
        excerpts[0]
            .text()
            .contains("assertion `left == right` failed"),
        "{}",
        excerpts[0].text()
    );
    assert!(
        excerpts[1].text().contains("attempt to divide by zero"),
        "{}",
        excerpts[1].text()
    );
    let summary = &excerpts[2];
    assert!(
        summary
            .anchor_line()
            .starts_with("test result: FAILED. 1 passed; 2 failed")
    );
    assert_eq!(
        summary.lines[..summary.anchor],
        ["    tests::subtracts", "    tests::divides", ""]
    );
    assert!(
        summary
            .text()
            .contains("error: test failed, to rerun pass `--lib`")
    );
}

#[test]
fn compiler_errors_are_counted_with_their_diagnostics() {
    let log = stamped(&[
        "   Compiling thiserror v2.0.3",
        "   Compiling payments v0.1.0 (/home/runner/work/payments)",
        "error[E0425]: cannot find value `amount_cents` in this scope",
        "  --> src/charges.rs:112:17",
        "   |",
        "112 |         total + amount_cents",
        "   |                 ^^^^^^^^^^^^ not found in this scope",
        "",
        "error[E0308]: mismatched types",
        "  --> src/refunds.rs:40:5",
        "   |",
        "40 |     amount",
        "   |     ^^^^^^ expected `u64`, found `i64`",
        "",
        "For more information about this error, try `rustc --explain E0308`.",
        "error: could not compile `payments` (lib) due to 2 previous errors",
        "##[error]Process completed with exit code 101.",
    ]);
    let (counts, excerpts) = extract_chunked(&log);
    assert_eq!(counts.compile_errors, 2);
    assert_eq!(excerpts.len(), 3, "{excerpts:#?}");
    assert!(excerpts.iter().all(|e| e.kind == ExcerptKind::Compile));
    assert_eq!(
        excerpts[0].lines[excerpts[0].anchor..],
        [
            "error[E0425]: cannot find value `amount_cents` in this scope",
            "  --> src/charges.rs:112:17",
            "   |",
            "112 |         total + amount_cents",
            "   |                 ^^^^^^^^^^^^ not found in this scope",
        ]
    );
    // `thiserror` is a crate, not an error.
    assert_eq!(counts.error_lines, 4);
    assert!(
        !excerpts
            .iter()
            .any(|e| e.anchor_line().contains("thiserror"))
    );
}

#[test]
fn repeated_errors_are_shown_once_and_counted() {
    let mut lines = vec!["INFO starting"];
    let repeated: Vec<String> = (0..50)
        .map(|i| {
            format!(
                "2026-11-24T08:00:{:02}Z ERROR pool timed out after {}ms (conn {i})",
                i % 60,
                30_000 + i
            )
        })
        .collect();
    lines.extend(repeated.iter().map(String::as_str));
    lines.push("ERROR connection refused: 10.0.0.5:5432");
    let (counts, excerpts) = extract_chunked(&stamped(&lines));
    assert_eq!(counts.error_lines, 51);
    assert_eq!(excerpts.len(), 2, "{excerpts:#?}");
    assert_eq!(excerpts[0].repeats, 49);
    assert!(
        excerpts[0]
            .text()
            .ends_with("(this error repeated 49 more times)"),
        "{}",
        excerpts[0].text()
    );
    assert_eq!(excerpts[1].repeats, 0);
    assert_eq!(
        excerpts[1].lines,
        ["ERROR connection refused: 10.0.0.5:5432"],
        "repeats are not context either"
    );
}

#[test]
fn traces_follow_the_error_that_starts_them() {
    let log = stamped(&[
        "Traceback (most recent call last):",
        "  File \"/app/worker.py\", line 41, in <module>",
        "    main()",
        "  File \"/app/worker.py\", line 37, in main",
        "    conn = connect(os.environ[\"DATABASE_URL\"])",
        "KeyError: 'DATABASE_URL'",
        "noise after",
        "Exception in thread \"main\" java.lang.IllegalStateException: pool exhausted",
        "\tat com.acme.db.Pool.acquire(Pool.java:88)",
        "\tat com.acme.api.Main.main(Main.java:12)",
        "Caused by: java.net.ConnectException: Connection refused",
        "\t... 2 more",
    ]);
    let (_, excerpts) = extract_chunked(&log);
    assert_eq!(excerpts.len(), 2, "{excerpts:#?}");
    assert_eq!(excerpts[0].kind, ExcerptKind::StackTrace);
    assert_eq!(excerpts[0].lines.len(), 7);
    assert_eq!(excerpts[0].lines[5], "KeyError: 'DATABASE_URL'");
    assert_eq!(excerpts[1].lines.len(), 5, "{:#?}", excerpts[1]);
}

#[test]
fn other_test_runners_are_read_too() {
    let go = stamped(&[
        "=== RUN   TestAdd",
        "--- FAIL: TestAdd (0.00s)",
        "    add_test.go:9: got 3, want 4",
        "FAIL",
    ]);
    let (counts, excerpts) = extract_chunked(&go);
    assert_eq!(
        (counts.test_failures, counts.failed_tests.clone()),
        (1, vec!["TestAdd".to_string()])
    );
    assert!(excerpts[0].text().contains("got 3, want 4"));

    let pytest = stamped(&[
        "=========================== short test summary info ============================",
        "FAILED tests/test_api.py::test_refund - AssertionError: assert 500 == 400",
        "FAILED tests/test_api.py::test_charge - KeyError: 'amount'",
        "========================= 2 failed, 10 passed in 1.20s =========================",
    ]);
    let (counts, _) = extract_chunked(&pytest);
    assert_eq!(counts.test_failures, 2);
    assert_eq!(
        counts.failed_tests,
        [
            "tests/test_api.py::test_refund",
            "tests/test_api.py::test_charge"
        ]
    );

    let jest = stamped(&[
        "  \u{25cf} refunds \u{203a} refunds part of a charge",
        "",
        "    expect(received).toBe(expected)",
        "",
        "Tests:       1 failed, 4 passed, 5 total",
    ]);
    let (counts, excerpts) = extract_chunked(&jest);
    assert_eq!(counts.test_failures, 1);
    assert!(
        excerpts[0]
            .text()
            .contains("expect(received).toBe(expected)")
    );

    let playwright = stamped(&[
        "Running 24 tests using 4 workers",
        "",
        "  1) [chromium] \u{203a} checkout.spec.ts:14:5 \u{203a} pays an invoice in EUR \u{2500}\u{2500}\u{2500}\u{2500}",
        "",
        "    Error: expect(received).toBe(expected) // Object.is equality",
        "",
        "    Expected: \"10.00\"",
        "    Received: \"9.99\"",
        "",
        "  1 failed",
        "    [chromium] \u{203a} checkout.spec.ts:14:5 \u{203a} pays an invoice in EUR",
        "  23 passed (41.2s)",
    ]);
    let (counts, excerpts) = extract_chunked(&playwright);
    assert_eq!(counts.test_failures, 1);
    assert_eq!(
        counts.failed_tests,
        ["[chromium] \u{203a} checkout.spec.ts:14:5 \u{203a} pays an invoice in EUR"]
    );
    assert!(
        excerpts[0].text().contains("Received: \"9.99\""),
        "{excerpts:?}"
    );

    let tsc = stamped(&[
        "src/app.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'.",
        "Found 1 error in src/app.ts:3",
    ]);
    assert_eq!(extract_chunked(&tsc).0.compile_errors, 1);
}

#[test]
fn noise_that_mentions_errors_is_not_an_error() {
    let log = stamped(&[
        "test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
        "   Compiling error-chain v0.12.4",
        "2026-11-24T08:00:01Z  INFO retry: retrying after error: connection reset",
        "[WARN] deprecated: onFailure will be removed",
        "errors: 0, warnings: 2",
        "no errors found",
        "restart policy: on-failure, continue-on-error: true",
        "let error_count = 0;",
    ]);
    let (counts, excerpts) = extract_chunked(&log);
    assert_eq!(counts.error_lines, 0, "{excerpts:#?}");
    assert!(excerpts.is_empty());
}

#[test]
fn the_script_a_step_runs_is_not_its_output() {
    let log = stamped(&[
        "##[group]Run if ! ./deploy.sh; then echo \"deploy failed\"; exit 1; fi",
        "if ! ./deploy.sh; then echo \"deploy failed\"; exit 1; fi",
        "shell: /usr/bin/bash -e {0}",
        "##[endgroup]",
        "deployed",
    ]);
    assert_eq!(extract_chunked(&log).0.error_lines, 0);
}

#[test]
fn limits_bound_what_is_kept_and_keep_the_most_telling() {
    let limits = ExcerptLimits {
        max_excerpts: 2,
        max_lines: 4,
        max_line_chars: 20,
        ..ExcerptLimits::default()
    };
    let mut x = ExcerptExtractor::new(limits);
    for i in 0..100 {
        x.push_line(&format!(
            "ERROR distinct failure number {i} {}",
            "x".repeat(i)
        ));
        x.push_line(&format!("ERRORcode{i}"));
    }
    x.push_line(
        "error[E0433]: failed to resolve: use of undeclared crate `tokio` and then a long tail",
    );
    for i in 0..10 {
        x.push_line(&format!("   {i}: frame"));
    }
    let (counts, excerpts) = x.finish_with_counts();
    assert_eq!(counts.error_lines, 101);
    assert_eq!(excerpts.len(), 2);
    assert_eq!(excerpts[1].kind, ExcerptKind::Compile);
    assert!(excerpts[1].truncated && excerpts[1].lines.len() == 4);
    assert!(
        excerpts
            .iter()
            .flat_map(|e| &e.lines)
            .all(|l| l.chars().count() <= 21)
    );
}

#[test]
fn a_huge_line_is_cut_and_memory_stays_bounded() {
    let limits = ExcerptLimits {
        max_line_bytes: 1024,
        ..ExcerptLimits::default()
    };
    let mut x = ExcerptExtractor::new(limits);
    x.push_bytes(b"2026-11-24T08:00:01.1234567Z ERROR start ");
    for _ in 0..1000 {
        x.push_bytes(&[b'a'; 1000]);
    }
    x.push_bytes(b"\nnext line\n");
    let (counts, excerpts) = x.finish_with_counts();
    assert_eq!(counts.lines, 2);
    assert_eq!(excerpts.len(), 1);
    assert!(excerpts[0].lines[0].chars().count() <= 301);
}
