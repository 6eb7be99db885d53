//! Redaction: every kind of secret goes, look-alikes stay byte-identical.
//!
//! All secrets here are fake but format-valid, and built by concatenation so this file does
//! not itself trip a secret scanner.

use std::borrow::Cow;

use fixpoint::redact::{Redactor, redact};
use serde_json::json;

/// 40 characters of AWS-secret-key shape, with the `/` and `+` that real ones contain.
fn aws_secret() -> String {
    format!("wJalr{}", "Xu/n+FEMI7".repeat(3)) + "K7MDE"
}

fn aws_session_token() -> String {
    format!(
        "IQoJb3JpZ2luX2Vj{}",
        "EJr//////////wEa+CXVzLWVhc3QtMSJH".repeat(8)
    )
}

fn github_token(prefix: &str) -> String {
    format!("{prefix}_{}", "a1B2".repeat(9))
}

fn private_key(kind: &str, newline: &str) -> String {
    let label = format!("{kind}PRIVATE {}", "KEY");
    let body = [
        "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn",
        "/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB",
        "aFDrBz9vFqU4yQ==",
    ];
    format!(
        "-----BEGIN {label}-----{newline}{}{newline}-----END {label}-----",
        body.join(newline)
    )
}

fn jwt() -> String {
    let ey = "ey";
    format!(
        "{ey}JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{ey}JzdWIiOiIxMjM0NTY3ODkwIiwicm9sZSI6ImFkbWluIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    )
}

fn slack_token(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}-{}",
        "2012345678", "5101234567890", "AbCdEfGhIjKlMnOpQrStUvWx"
    )
}

/// (secret, text containing it, mark that must replace it)
fn cases() -> Vec<(String, String, &'static str)> {
    let mut cases = Vec::new();
    for prefix in ["ghp", "gho", "ghu", "ghs", "ghr"] {
        let t = github_token(prefix);
        cases.push((
            t.clone(),
            format!("git push https://github.com/o/r using {t}"),
            "[REDACTED:github-token]",
        ));
    }
    let pat = format!(
        "github_{}_{}_{}",
        "pat",
        "11ABCDEFG0".repeat(2) + "12",
        "x9Y8z7W6".repeat(7) + "abc"
    );
    cases.push((
        pat.clone(),
        format!("GH_PAT is {pat}."),
        "[REDACTED:github-token]",
    ));
    for prefix in [
        "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA",
    ] {
        let id = format!("{prefix}{}", "Z7Q2".repeat(4));
        cases.push((
            id.clone(),
            format!("aws_access_key_id = {id}"),
            "[REDACTED:aws-access-key-id]",
        ));
    }
    let s = aws_secret();
    for context in [
        format!("aws_secret_access_key = {s}"),
        format!("export AWS_SECRET_ACCESS_KEY=\"{s}\""),
        format!(r#"{{"Credentials": {{"SecretAccessKey": "{s}", "Expiration": "2025-01-01"}}}}"#),
        format!("secret_key: {s}"),
        format!(r#"{{"name": "AWS_SECRET_ACCESS_KEY", "value": "{s}"}}"#),
        format!(
            r#"log: "{{\"SecretAccessKey\": \"{}\"}}""#,
            s.replace('/', r"\/")
        ),
    ] {
        cases.push((s.clone(), context, "[REDACTED:aws-secret-key]"));
    }
    let t = aws_session_token();
    for context in [
        format!("aws_session_token={t}"),
        format!("AWS_SESSION_TOKEN: {t}"),
        format!(r#""SessionToken": "{t}""#),
    ] {
        cases.push((t[..40].to_string(), context, "[REDACTED:aws-session-token]"));
    }
    for (kind, newline) in [
        ("RSA ", "\n"),
        ("", "\n"),
        ("OPENSSH ", "\r\n"),
        ("EC ", r"\n"),
    ] {
        let key = private_key(kind, newline);
        let body = "0Z3VS5JJcds3xfn".to_string();
        cases.push((
            body.clone(),
            format!("key loaded:\n{key}\nok"),
            "[REDACTED:private-key]",
        ));
        cases.push((
            body,
            format!(r#"{{"github_app_key": "{key}"}}"#),
            "[REDACTED:private-key]",
        ));
    }
    let truncated = private_key("RSA ", "\n");
    let truncated = truncated[..truncated.find("-----END").unwrap_or(0)].to_string();
    cases.push((
        "aFDrBz9vFqU4yQ".into(),
        format!("{truncated}... [truncated]"),
        "[REDACTED:private-key]",
    ));
    let j = jwt();
    cases.push((j.clone(), format!("session={j}; Path=/"), "[REDACTED:jwt]"));
    let password = format!("S3cr3t{}", "Passw0rd");
    for uri in [
        format!("postgres://app:{password}@db.internal:5432/app"),
        format!("postgresql://app:{password}@db.internal/app?sslmode=require"),
        format!("mysql://root:{password}@10.0.0.5:3306/shop"),
        format!("redis://:{password}@cache.internal:6379/0"),
        format!("rediss://default:{password}@cache.internal:6380"),
        format!("amqp://guest:{password}@mq.internal:5672/vhost"),
        format!("mongodb+srv://svc:{password}@cluster0.abcde.mongodb.net/db"),
        format!("https://deploy:{password}@registry.example.com/v2/"),
        format!("http://admin:{password}@localhost:8080/"),
        format!("postgres://app:p@{password}@db.internal:5432/app"),
    ] {
        cases.push((
            password.clone(),
            format!("connecting to {uri}"),
            "[REDACTED:uri-credentials]@",
        ));
    }
    cases.push((
        password.clone(),
        format!(r#"{{"url": "postgres:\/\/app:{password}@db.internal:5432\/app"}}"#),
        r"postgres:\/\/[REDACTED:uri-credentials]@db.internal",
    ));
    cases.push((
        password.clone(),
        format!(r#"{{"url": "https:\u002f\u002fci:{password}@example.com\u002fx"}}"#),
        r"https:\u002f\u002f[REDACTED:uri-credentials]@example.com",
    ));
    let tok = github_token("ghp");
    cases.push((
        tok.clone(),
        format!("remote: https://{tok}:x-oauth-basic@github.com/o/r"),
        "[REDACTED:uri-credentials]@github.com",
    ));
    for prefix in ["xoxb", "xoxp", "xoxa", "xoxr", "xoxs", "xapp"] {
        let t = slack_token(prefix);
        cases.push((
            t.clone(),
            format!("SLACK_BOT={t}"),
            "[REDACTED:slack-token]",
        ));
    }
    let hook = format!("T{}/B{}/{}", "0123ABCD", "4567EFGH", "aBcD1234".repeat(3));
    cases.push((
        hook.clone(),
        format!("posting to https://hooks.slack.com/services/{hook}"),
        "https://hooks.slack.com/services/[REDACTED:slack-webhook]",
    ));
    let escaped = hook.replace('/', r"\/");
    cases.push((
        escaped.clone(),
        format!(r#"{{"webhook": "https:\/\/hooks.slack.com\/services\/{escaped}"}}"#),
        "[REDACTED:slack-webhook]",
    ));
    let openai = format!("sk-proj-{}", "Ab1_Cd2-Ef3G".repeat(4));
    cases.push((
        openai.clone(),
        format!("OpenAI key {openai} rejected"),
        "[REDACTED:openai-key]",
    ));
    let openai = format!("sk-{}", "T3BlbkFJ".repeat(6));
    cases.push((
        openai.clone(),
        format!("key={openai}"),
        "[REDACTED:openai-key]",
    ));
    let anthropic = format!("sk-ant-api03-{}", "Xy9_Zw8-".repeat(10));
    cases.push((
        anthropic.clone(),
        format!("x-api-key: {anthropic}"),
        "[REDACTED:anthropic-key]",
    ));
    let opaque = format!("opaque{}", "Tok3n.Value~".repeat(3));
    cases.push((
        opaque.clone(),
        format!("curl -H 'Authorization: Bearer {opaque}' https://api"),
        "[REDACTED:authorization]",
    ));
    let hex40 = "0123456789abcdef0123456789abcdef01234567".to_string();
    cases.push((
        hex40.clone(),
        format!("Authorization: token {hex40}"),
        "Authorization: token [REDACTED:authorization]",
    ));
    let basic = format!("dXNlcjpw{}", "YXNzd29yZA==");
    cases.push((
        basic.clone(),
        format!("authorization: Basic {basic}"),
        "[REDACTED:authorization]",
    ));
    cases.push((
        opaque.clone(),
        format!("retrying with bearer {opaque}"),
        "bearer [REDACTED:bearer-token]",
    ));
    let value = format!("hunter{}", "2hunter2");
    cases.push((
        value.clone(),
        format!("DB_PASSWORD={value}"),
        "DB_PASSWORD=[REDACTED:secret-env]",
    ));
    cases.push((
        value.clone(),
        format!("  STRIPE_API_KEY: {value}"),
        "STRIPE_API_KEY: [REDACTED:secret-env]",
    ));
    cases.push((
        value.clone(),
        format!(r#"{{"name": "SESSION_SECRET", "value": "{value}"}}"#),
        "[REDACTED:secret-env]",
    ));
    cases.push((
        value.clone(),
        format!("host=db user=app password={value} dbname=app"),
        "password=[REDACTED:password]",
    ));
    cases.push((
        value.clone(),
        format!(r#"{{"user": "app", "password": "{value}"}}"#),
        r#""password": "[REDACTED:password]""#,
    ));
    cases.push((
        value.clone(),
        format!(r#"{{"db_password": "{value}"}}"#),
        r#""db_password": "[REDACTED:password]""#,
    ));
    cases.push((
        value.clone(),
        format!("psql --password={value} -h db"),
        "--password=[REDACTED:password] -h",
    ));
    cases
}

#[test]
fn every_kind_of_secret_is_replaced_by_its_mark() {
    let redactor = Redactor::new();
    for (secret, text, mark) in cases() {
        let out = redactor.redact(&text);
        assert!(
            !out.contains(&secret),
            "secret survived in {out:?} (from {text:?})"
        );
        assert!(
            out.contains(mark),
            "mark {mark:?} missing in {out:?} (from {text:?})"
        );
        assert!(matches!(out, Cow::Owned(_)));
        // A mark never matches again.
        assert!(
            matches!(redactor.redact(&out), Cow::Borrowed(_)),
            "redacting twice changed {out:?}"
        );
        // And the process-wide function agrees.
        assert_eq!(redact(&text), out);
    }
}

#[test]
fn the_context_around_a_secret_is_kept() {
    let text = format!(
        "FATAL: connecting to postgres://app:{}@db.internal:5432/app: timeout",
        "pw123456"
    );
    let out = redact(&text);
    assert_eq!(
        out,
        "FATAL: connecting to postgres://[REDACTED:uri-credentials]@db.internal:5432/app: timeout"
    );
    let text = format!(
        "aws_secret_access_key = {}\nregion = us-east-1",
        aws_secret()
    );
    let out = redact(&text);
    assert_eq!(
        out,
        "aws_secret_access_key = [REDACTED:aws-secret-key]\nregion = us-east-1"
    );
}

#[test]
fn an_ecs_task_env_dump_keeps_names_and_plain_values() {
    let key_id = format!("AKIA{}", "Z7Q2".repeat(4));
    let dump = format!(
        r#"{{"containerDefinitions": [{{"name": "api", "environment": [
  {{"name": "AWS_ACCESS_KEY_ID", "value": "{key_id}"}},
  {{"name": "AWS_SECRET_ACCESS_KEY", "value": "{}"}},
  {{"name": "DATABASE_URL", "value": "postgres://api:{}@db.internal:5432/api"}},
  {{"name": "LOG_LEVEL", "value": "info"}}
]}}]}}"#,
        aws_secret(),
        "Sup3rS3cret"
    );
    let out = redact(&dump);
    for gone in ["Z7Q2Z7Q2", &aws_secret(), "Sup3rS3cret"] {
        assert!(!out.contains(gone), "{gone} survived in {out}");
    }
    for kept in [
        r#""name": "AWS_SECRET_ACCESS_KEY""#,
        r#"{"name": "LOG_LEVEL", "value": "info"}"#,
        "@db.internal:5432/api",
    ] {
        assert!(out.contains(kept), "{kept} lost in {out}");
    }
}

#[test]
fn a_panic_message_with_a_database_url() {
    let text = format!(
        "thread 'main' panicked at src/db.rs:42:10:\ncalled `Result::unwrap()` on an `Err` value: \
         Configuration(\"mysql://shop:{}@mysql.internal:3306/shop: connection refused\")",
        "Tr0ub4dor&3"
    );
    let out = redact(&text);
    assert!(out.contains(
        "mysql://[REDACTED:uri-credentials]@mysql.internal:3306/shop: connection refused"
    ));
    assert!(!out.contains("Tr0ub4dor"));
}

#[test]
fn ansi_colours_around_and_inside_a_token() {
    let token = github_token("ghs");
    let (head, tail) = token.split_at(12);
    for line in [
        format!("2024-05-01T10:00:00.000Z \x1b[31mError: bad credentials {token}\x1b[0m"),
        format!("2024-05-01T10:00:00.000Z \x1b[36;1m{head}\x1b[0m\x1b[K{tail} rejected"),
    ] {
        let out = redact(&line);
        assert!(!out.contains(&token) && !out.contains(tail), "{out:?}");
        assert!(out.contains("[REDACTED:github-token]"), "{out:?}");
    }
    // Clean coloured text keeps its colours and is not copied.
    let clean = "\x1b[32m✓ deploy finished\x1b[0m in 3m";
    assert!(matches!(redact(clean), Cow::Borrowed(s) if s == clean));
}

#[test]
fn configured_secret_values_are_removed_wherever_they_occur() {
    let value = format!("correct-horse/{}", "battery");
    let redactor =
        Redactor::with_secret_values([("WEBHOOK_SECRET", value.as_str()), ("SHORT", "abc")])
            .expect("secret values compile");
    let text = format!("signature check with {value} failed; abc unchanged");
    let out = redactor.redact(&text);
    assert_eq!(
        out,
        "signature check with [REDACTED:secret:WEBHOOK_SECRET] failed; abc unchanged"
    );
    let json = format!(r#"{{"secret": "{}"}}"#, value.replace('/', r"\/"));
    assert!(!redactor.redact(&json).contains("battery"));
    // The built-in rules still apply.
    assert!(
        redactor
            .redact(&github_token("ghp"))
            .contains("[REDACTED:github-token]")
    );
    assert!(!format!("{redactor:?}").contains("battery"));
}

#[test]
fn look_alikes_stay_byte_identical() {
    let near_misses = [
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 deployed".to_string(),
        "request_id=123e4567-e89b-12d3-a456-426614174000".into(),
        "ghp_short is not a token".into(),
        "pip install scikit-learn; import sklearn  # sk-learn".into(),
        "go get https://example.com/path@v2".into(),
        "DATABASE_URL=postgres://db.internal:5432/app".into(),
        "ssh://git@github.com/o/r.git".into(),
        "contact user@example.com".into(),
        "AKIAlowercaseletters1234".into(),
        "role arn:aws:iam::123456789012:role/x".into(),
        "TOKEN_TTL=3600 PWD=/home/runner/work/app".into(),
        "def connect(password: str, token = get_token()):".into(),
        "Bearer tokens expire after 1h".into(),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----".into(),
        String::new(),
    ];
    for text in &near_misses {
        let out = redact(text);
        assert!(
            matches!(out, Cow::Borrowed(_)),
            "changed {text:?} into {out:?}"
        );
        assert_eq!(out, text.as_str());
    }
}

#[test]
fn redact_json_walks_nested_objects_and_arrays() {
    let redactor = Redactor::new();
    let mut doc = json!({
        "service": "api",
        "count": 3,
        "ok": true,
        "history": [
            {"log": format!("push failed for {}", github_token("ghp")), "iteration": 1},
            [format!("Bearer {}", "x".repeat(20) + "Y"), null],
        ],
        "env": [
            {"name": "AWS_SECRET_ACCESS_KEY", "value": aws_secret()},
            {"name": "LOG_LEVEL", "value": "info"},
        ],
        "credentials": {"SecretAccessKey": aws_secret(), "password": "hunter2hunter2"},
    });
    redactor.redact_json(&mut doc);
    let text = doc.to_string();
    for gone in [
        &github_token("ghp"),
        &aws_secret(),
        "hunter2",
        "xxxxxxxxxxY",
    ] {
        assert!(!text.contains(gone), "{gone} survived in {text}");
    }
    assert_eq!(
        doc["history"][0]["log"],
        "push failed for [REDACTED:github-token]"
    );
    assert_eq!(doc["history"][1][0], "Bearer [REDACTED:bearer-token]");
    assert_eq!(doc["env"][0]["value"], "[REDACTED:aws-secret-key]");
    assert_eq!(doc["env"][1]["value"], "info");
    assert_eq!(
        doc["credentials"]["SecretAccessKey"],
        "[REDACTED:aws-secret-key]"
    );
    assert_eq!(doc["credentials"]["password"], "[REDACTED:password]");
    assert_eq!(doc["count"], 3);
}
