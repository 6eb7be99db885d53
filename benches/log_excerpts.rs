//! Log excerpts vs grep, in the same run on the same file.
//!
//! Writes a GitHub Actions-style log (timestamped lines, mostly INFO and build noise, a
//! failure block every ~20k lines: panics with backtraces, cargo test failures, compiler
//! errors, Python and Java traces, a deploy timeout, a burst of one repeated error) to a
//! temporary file, then times `ExcerptExtractor` streaming the file in 256 KiB reads
//! against `grep -E -n` with comparable patterns, and reports MB/s, the ratio, and the
//! process's peak RSS (VmHWM, reset before the extractor runs).
//!
//! `cargo bench --bench log_excerpts` (500 MB); `LOG_EXCERPTS_MB=100` for a smaller file.
//! grep's output goes to a pipe the bench drains: with stdout on /dev/null, GNU grep stops
//! at the first match, which would time nothing.

use std::fmt::Write as _;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixpoint::skills::excerpts::{ExcerptExtractor, ExcerptLimits};

/// What a person would type to find the same lines: the extractor's markers, in the same casings.
const GREP_PATTERN: &str = r"##\[|[Ee]rror|ERROR|[Ff]ail|FAIL|[Pp]anic|PANIC|[Ee]xception|EXCEPTION|[Ff]atal|FATAL|Traceback|OOMKilled|[Ss]egmentation fault|refused|denied|ERR!|● ";
const ROUNDS: usize = 3;

fn main() {
    let mb: u64 = std::env::var("LOG_EXCERPTS_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let path =
        std::env::temp_dir().join(format!("fixpoint-log-excerpts-{}.log", std::process::id()));
    let _cleanup = Cleanup(&path);

    let started = Instant::now();
    let lines = generate(&path, mb << 20).expect("cannot write the log");
    let bytes = std::fs::metadata(&path).expect("the log exists").len();
    println!(
        "log: {} ({:.0} MB, {lines} lines) written in {:.1} s",
        path.display(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    // Both readers start from a warm page cache.
    drain(&path);

    let mut ours = Vec::new();
    let mut grep = Vec::new();
    let mut peak_kb = 0;
    let mut found = String::new();
    for _ in 0..ROUNDS {
        reset_peak_rss();
        let (elapsed, summary) = extract(&path);
        peak_kb = peak_kb.max(peak_rss_kb());
        ours.push(elapsed);
        found = summary;
        grep.push(grep_once(&path));
    }
    let best = |times: &[Duration]| {
        times
            .iter()
            .min()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
    };
    let mbps = |secs: f64| bytes as f64 / 1e6 / secs;
    let (ours_mbps, grep_mbps) = (mbps(best(&ours)), mbps(best(&grep)));
    println!("extractor: {found}");
    println!(
        "extractor: {ours_mbps:>7.0} MB/s (best of {ROUNDS}: {:?})",
        ours.iter().map(|d| d.as_secs_f64()).collect::<Vec<_>>()
    );
    println!(
        "grep -E -n: {grep_mbps:>6.0} MB/s (best of {ROUNDS}: {:?})",
        grep.iter().map(|d| d.as_secs_f64()).collect::<Vec<_>>()
    );
    println!(
        "ratio (extractor / grep): {:.2} (target >= 1.0)",
        ours_mbps / grep_mbps
    );
    println!(
        "peak RSS while extracting (VmHWM): {:.1} MB (target < 64 MB)",
        peak_kb as f64 / 1024.0
    );
}

struct Cleanup<'a>(&'a Path);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

fn extract(path: &Path) -> (Duration, String) {
    let started = Instant::now();
    let mut file = std::fs::File::open(path).expect("the log opens");
    let mut buf = vec![0u8; 256 * 1024];
    let mut extractor = ExcerptExtractor::new(ExcerptLimits::default());
    loop {
        let n = file.read(&mut buf).expect("the log reads");
        if n == 0 {
            break;
        }
        extractor.push_bytes(&buf[..n]);
    }
    let (counts, excerpts) = extractor.finish_with_counts();
    let elapsed = started.elapsed();
    let summary = format!(
        "{} lines, {} error lines, {} compiler errors, {} test failures, {} panics, {} excerpts kept",
        counts.lines,
        counts.error_lines,
        counts.compile_errors,
        counts.test_failures,
        counts.panics,
        excerpts.len()
    );
    (elapsed, summary)
}

fn grep_once(path: &Path) -> Duration {
    let started = Instant::now();
    let mut child = Command::new("grep")
        .args(["-E", "-n", GREP_PATTERN])
        .arg(path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("grep runs (install GNU grep)");
    let mut out = child.stdout.take().expect("grep's stdout");
    let mut buf = vec![0u8; 256 * 1024];
    while out.read(&mut buf).expect("grep's output reads") > 0 {}
    let status = child.wait().expect("grep ends");
    assert!(status.success(), "grep failed: {status}");
    started.elapsed()
}

fn drain(path: &Path) {
    let mut file = std::fs::File::open(path).expect("the log opens");
    let mut buf = vec![0u8; 1 << 20];
    while file.read(&mut buf).expect("the log reads") > 0 {}
}

/// Linux: writing 5 to clear_refs resets VmHWM to the current RSS.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

// --- the log ---

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const CRATES: &[&str] = &[
    "tokio",
    "serde",
    "serde_json",
    "hyper",
    "axum",
    "tower",
    "thiserror",
    "anyhow",
    "regex",
    "memchr",
    "sqlx",
    "reqwest",
    "rustls",
    "ring",
    "tracing",
    "futures-util",
    "bytes",
    "chrono",
    "clap",
    "aws-sdk-ecs",
];
const ROUTES: &[&str] = &[
    "/v1/charges",
    "/v1/refunds",
    "/v1/customers",
    "/healthz",
    "/v1/payouts",
];
const TESTS: &[&str] = &[
    "charges::tests::creates_a_charge",
    "refunds::tests::refunds_part",
    "customers::tests::lists",
];

fn failure_block(kind: u64, n: u64) -> Vec<String> {
    let lines: &[&str] = match kind {
        0 => &[
            "thread 'worker-{n}' panicked at src/queue.rs:44:9:",
            "called `Result::unwrap()` on an `Err` value: Timeout",
            "stack backtrace:",
            "   0: rust_begin_unwind",
            "             at /rustc/abc/library/std/src/panicking.rs:652:5",
            "   1: payments_api::queue::drain",
            "             at ./src/queue.rs:44:9",
            "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
        ],
        1 => &[
            "test refunds::tests::refunds_part ... FAILED",
            "failures:",
            "",
            "---- refunds::tests::refunds_part stdout ----",
            "thread 'refunds::tests::refunds_part' panicked at src/refunds.rs:88:9:",
            "assertion `left == right` failed",
            "  left: 500",
            " right: 400",
            "",
            "failures:",
            "    refunds::tests::refunds_part",
            "",
            "test result: FAILED. 41 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.42s",
        ],
        2 => &[
            "error[E0425]: cannot find value `amount_cents` in this scope",
            "  --> src/charges.rs:112:17",
            "   |",
            "112 |         total + amount_cents",
            "   |                 ^^^^^^^^^^^^ not found in this scope",
            "",
            "error: could not compile `payments-api` (lib) due to 1 previous error",
        ],
        3 => &[
            "Traceback (most recent call last):",
            "  File \"/app/worker.py\", line 41, in <module>",
            "    main()",
            "KeyError: 'DATABASE_URL'",
        ],
        4 => &[
            "Exception in thread \"main\" java.lang.IllegalStateException: pool exhausted",
            "\tat com.acme.db.Pool.acquire(Pool.java:88)",
            "\tat com.acme.api.Main.main(Main.java:12)",
        ],
        5 => &[
            "Waiting for service payments-api to become stable...",
            "##[error]Timed out waiting for ECS service payments-api to become stable after 600 seconds",
            "##[error]Process completed with exit code 1.",
        ],
        _ => {
            &["2026-11-24T08:00:01Z ERROR payments_api::db: pool timed out after {n}ms (conn 7)";
                20]
        }
    };
    lines
        .iter()
        .map(|l| l.replace("{n}", &n.to_string()))
        .collect()
}

/// Writes about `bytes` of log; returns the number of lines.
fn generate(path: &Path, bytes: u64) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut written, mut lines, mut blocks) = (0u64, 0u64, 0u64);
    let mut line = String::with_capacity(256);
    while written < bytes {
        let secs = lines / 2000;
        let stamp = format!(
            "2026-11-24T{:02}:{:02}:{:02}.{:07}Z ",
            8 + secs / 3600 % 12,
            secs / 60 % 60,
            secs % 60,
            rng.below(10_000_000)
        );
        let body: Vec<String> = if rng.below(20_000) == 0 {
            blocks += 1;
            failure_block(blocks % 7, blocks)
        } else {
            line.clear();
            match rng.below(1000) {
                0..300 => {
                    let _ = write!(
                        line,
                        "   Compiling {} v{}.{}.{}",
                        rng.pick(CRATES),
                        rng.below(3),
                        rng.below(40),
                        rng.below(20)
                    );
                }
                300..340 => {
                    let _ = write!(line, "test {} ... ok", rng.pick(TESTS));
                }
                340..343 => {
                    let _ = write!(
                        line,
                        "test result: ok. {} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
                        rng.below(90)
                    );
                }
                343..345 => {
                    let _ = write!(
                        line,
                        "2026-11-24T08:00:01.{:06}Z  WARN payments_api::retry: retrying after error: connection reset",
                        rng.below(999_999)
                    );
                }
                345..700 => {
                    let _ = write!(
                        line,
                        "2026-11-24T08:00:01.{:06}Z  INFO request{{method=GET uri={}/ch_{:08x} version=HTTP/1.1}}: tower_http::trace::on_response: finished processing request latency={} ms status=200",
                        rng.below(999_999),
                        rng.pick(ROUTES),
                        rng.next() as u32,
                        rng.below(80)
                    );
                }
                700..850 => {
                    let _ = write!(
                        line,
                        "npm http fetch GET 200 https://registry.npmjs.org/@types%2fnode {}ms (cache hit)",
                        rng.below(300)
                    );
                }
                850..950 => {
                    let _ = write!(
                        line,
                        "[INFO] Downloading from central: https://repo.maven.apache.org/maven2/org/apache/commons/commons-lang3/3.{0}/commons-lang3-3.{0}.pom",
                        rng.below(15)
                    );
                }
                _ => {
                    let _ = write!(
                        line,
                        "#{} [builder {}/9] RUN cargo build --release --locked --bin payments-api",
                        rng.below(30),
                        rng.below(9)
                    );
                }
            }
            vec![line.clone()]
        };
        for text in body {
            out.write_all(stamp.as_bytes())?;
            out.write_all(text.as_bytes())?;
            out.write_all(b"\n")?;
            written += (stamp.len() + text.len() + 1) as u64;
            lines += 1;
        }
    }
    out.flush()?;
    Ok(lines)
}
