//! The App's RSA key pair (made by the `openssl` CLI), App JWT verification with GitHub's rules,
//! and the classification of `Authorization` headers.

use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use octocrab::jsonwebtoken::{self, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::model::{AuthKind, JwtRecord};

/// PEM texts of an RSA key pair: the private one as GitHub hands it out (PKCS#1,
/// `BEGIN RSA PRIVATE KEY`), the public one as SubjectPublicKeyInfo.
#[derive(Clone, Debug)]
pub struct RsaKeyPair {
    pub private_pem: String,
    pub public_pem: String,
}

/// Makes a fresh 2048-bit RSA key pair with the `openssl` CLI.
pub fn generate_rsa_key_pair() -> RsaKeyPair {
    let pkcs8 = openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
        b"",
    );
    let private_pem = openssl(&["pkey", "-traditional"], pkcs8.as_bytes());
    let public_pem = openssl(&["pkey", "-pubout"], private_pem.as_bytes());
    RsaKeyPair {
        private_pem,
        public_pem,
    }
}

fn openssl(args: &[&str], stdin: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot run `openssl` ({error}): install it with `apt-get install openssl`")
        });
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("cannot write to openssl");
    let output = child.wait_with_output().expect("cannot wait for openssl");
    assert!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("openssl prints PEM text")
}

/// What the `Authorization` header says, before anything is verified.
pub(super) fn classify(header: Option<&str>) -> AuthKind {
    let Some(header) = header else {
        return AuthKind::None;
    };
    let (scheme, credential) = header.split_once(' ').unwrap_or((header, ""));
    let credential = credential.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" if credential.split('.').count() == 3 => AuthKind::Jwt,
        "bearer" | "token" if credential.starts_with("ghs_") => {
            AuthKind::InstallationToken(credential.to_string())
        }
        _ => AuthKind::Other(header.to_string()),
    }
}

/// The JWT in `Authorization: Bearer <jwt>`, if that is what the header holds.
pub(super) fn bearer_jwt(header: Option<&str>) -> Option<&str> {
    let (scheme, credential) = header?.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && credential.trim().split('.').count() == 3)
        .then(|| credential.trim())
}

/// Verifies an App JWT as GitHub does: RS256 with the App's public key, `iss` = the App id
/// (string or number), `iat` at most 60 s in the future, `exp` not passed and at most 10 minutes
/// after `iat`. Returns the record to keep, whose `rejection` is GitHub's 401 message.
pub(super) fn verify_app_jwt(
    jwt: &str,
    public_pem: &str,
    app_id: u64,
    now: DateTime<Utc>,
) -> JwtRecord {
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(jwt)
        .map(|data| data.claims)
        .unwrap_or(Value::Null);
    let rejection = check_jwt(jwt, &claims, public_pem, app_id, now.timestamp()).err();
    JwtRecord {
        claims,
        received_at: now,
        rejection,
    }
}

fn check_jwt(
    jwt: &str,
    claims: &Value,
    public_pem: &str,
    app_id: u64,
    now: i64,
) -> Result<(), String> {
    const UNDECODABLE: &str = "A JSON web token could not be decoded";
    let key =
        DecodingKey::from_rsa_pem(public_pem.as_bytes()).expect("the fake's public key is PEM");
    let mut validation = Validation::new(Algorithm::RS256);
    // The time claims are checked below, with GitHub's own limits and messages.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(jwt, &key, &validation).map_err(|_| UNDECODABLE.to_string())?;

    let issuer_matches = match &claims["iss"] {
        Value::Number(n) => n.as_u64() == Some(app_id),
        Value::String(s) => s.trim() == app_id.to_string(),
        _ => false,
    };
    if !issuer_matches {
        return Err(format!(
            "'Issuer' claim ('iss') must be the App id {app_id}"
        ));
    }
    let Some(iat) = claims["iat"].as_i64() else {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing the time that the \
                    assertion was issued"
                .into(),
        );
    };
    let Some(exp) = claims["exp"].as_i64() else {
        return Err(
            "'Expiration time' claim ('exp') must be a numeric value representing the future \
                    time at which the assertion expires"
                .into(),
        );
    };
    if iat > now + 60 {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing the time that the \
                    assertion was issued"
                .into(),
        );
    }
    if exp <= now {
        return Err(
            "'Expiration time' claim ('exp') must be a numeric value representing the future \
                    time at which the assertion expires"
                .into(),
        );
    }
    if exp - iat > 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future".into());
    }
    Ok(())
}

/// `len` random ASCII letters and digits (not cryptographic: unique tokens for a fake).
pub(super) fn random_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut bits = hasher.finish();
        for _ in 0..10 {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[(bits % ALPHABET.len() as u64) as usize] as char);
            bits /= ALPHABET.len() as u64;
        }
    }
    out
}
