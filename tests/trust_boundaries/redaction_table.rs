//! Secrets that leaked in full on an earlier build, each a format-valid fake (built by
//! concatenation, so this file trips no secret scanner), and near-misses that must stay.

use std::borrow::Cow;

use fixpoint::redact::redact;

fn aws_secret() -> String {
    format!("wJalr{}", "XUtnFEMI/K7MDENG/bPx".repeat(2))[..40].to_string()
}

/// (secret, text quoting it, the mark that must replace it)
fn table() -> Vec<(String, String, &'static str)> {
    let stripe = format!("{}_live_{}", "sk", "4eC39HqLyjWDarjtT1zdp7dc");
    let restricted = format!("{}_live_{}", "rk", "4eC39HqLyjWDarjtT1zdp7dc");
    let google = format!("{}{}", "AIza", "SyA-1234567890abcdefghijklmnopqrstu");
    let npm = format!("{}_{}", "npm", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8");
    let gitlab = format!("{}-{}", "glpat", "xYz123AbC456dEf789gH");
    let sendgrid = format!(
        "{}.{}.{}",
        "SG", "ngeVfQFYQlKU0ufo8x5d1A", "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr"
    );
    let vault = format!("{}.{}", "hvs", "CAESIJlU9JMYEhOPYv4igdhm9PnJaLOtyEPHAVS");
    let azure_key = format!(
        "{}==",
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq"
    );
    let token = format!("IQoJb3JpZ2luX2Vj{}", "EJr//////////wEa".repeat(3));
    let cookie = "session=8f14e45fceea167a5a36dedd4bea2543; Path=/; HttpOnly".to_string();
    let api_key = "f3a9c2b71e6d4a08b5c7".to_string();
    let pass = "hunter2-correct-horse".to_string();
    let id = format!("{}{}", "AKIA", "IOSFODNN7EXAMPLE");
    vec![
        (
            aws_secret(),
            format!("aws_access_key_id={id}\n{id} {}", aws_secret()),
            "[REDACTED:aws-secret-key]",
        ),
        (
            aws_secret(),
            format!("{id},{}", aws_secret()),
            "[REDACTED:aws-secret-key]",
        ),
        (
            token.clone(),
            format!(r#"{{"Code":"Success","Type":"AWS-HMAC","Token":"{token}"}}"#),
            "[REDACTED:json-secret]",
        ),
        (
            pass.clone(),
            format!(r#"{{"Secret": "{pass}"}}"#),
            "[REDACTED:json-secret]",
        ),
        (
            pass.clone(),
            format!(r#"{{"pass":"{pass}"}}"#),
            "[REDACTED:json-secret]",
        ),
        (
            pass.clone(),
            format!(r#"{{"pwd": "{pass}"}}"#),
            "[REDACTED:json-secret]",
        ),
        (
            stripe.clone(),
            format!("Stripe key {stripe} rejected"),
            "[REDACTED:stripe-key]",
        ),
        (
            restricted.clone(),
            format!("STRIPE={restricted}"),
            "[REDACTED:",
        ),
        (
            google.clone(),
            format!("maps?key={google}&q=x"),
            "[REDACTED:google-api-key]",
        ),
        (
            npm.clone(),
            format!("//registry.npmjs.org/:_authToken={npm}"),
            "[REDACTED:",
        ),
        (
            gitlab.clone(),
            format!("PRIVATE-TOKEN: {gitlab}"),
            "[REDACTED:gitlab-token]",
        ),
        (
            sendgrid.clone(),
            format!("sendgrid {sendgrid} bad"),
            "[REDACTED:sendgrid-key]",
        ),
        (
            azure_key.clone(),
            format!(
                "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={azure_key};EndpointSuffix=core.windows.net"
            ),
            "AccountKey=[REDACTED:azure-key]",
        ),
        (
            vault.clone(),
            format!("VAULT said {vault}"),
            "[REDACTED:vault-token]",
        ),
        (
            cookie.clone(),
            format!("HTTP/1.1 200 OK\r\nSet-Cookie: {cookie}\r\n"),
            "Set-Cookie: [REDACTED:cookie]",
        ),
        (
            api_key.clone(),
            format!("X-Api-Key: {api_key}"),
            "X-Api-Key: [REDACTED:api-key-header]",
        ),
    ]
}

#[test]
fn secrets_that_leaked_before_are_replaced_by_their_mark() {
    for (secret, text, mark) in table() {
        let out = redact(&text);
        assert!(!out.contains(&secret), "{secret:?} survived in {out:?}");
        assert!(out.contains(mark), "{mark:?} missing in {out:?}");
        assert!(
            matches!(redact(&out), Cow::Borrowed(_)),
            "redacting twice changed {out:?}"
        );
    }
}

#[test]
fn near_misses_stay_byte_identical() {
    let near = [
        "sk_live_ prefix alone",
        "rk_test_short",
        "AIza is how the keys start",
        "npm_config_cache=/tmp/npm",
        "glpat- followed by nothing",
        "SG.short.too",
        "hvs.short",
        "AccountKey= (set it in the portal)",
        "the token endpoint answered 200",
        r#"{"token_type": "bearer", "expires_in": 3600}"#,
        r#"{"pass": true}"#,
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 by AKIAlowercase",
    ];
    for text in near {
        let out = redact(text);
        assert!(
            matches!(out, Cow::Borrowed(_)),
            "changed {text:?} into {out:?}"
        );
    }
}
