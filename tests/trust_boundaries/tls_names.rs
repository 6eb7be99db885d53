//! TLS after the outbound check: a PostgreSQL (`sslmode=verify-full`) or Redis (`rediss://`)
//! session goes to the address the policy judged, dials nothing else, and still checks the
//! server's certificate against the host name in the URL.
//!
//! The host names here (`*.fixpoint.test`) resolve nowhere: a driver that looked one up
//! again would fail to connect. The certificates name only the host (no IP), so a
//! verification against the judged IP would fail too. Certificates come from a throwaway CA
//! made with the openssl CLI.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use fixpoint::skills::postgres::read_only_session_at;
use fixpoint::skills::{Observation, SkillContext, Status, skill_for};
use fixpoint::topology::{CheckTarget, Endpoint, SkillKind};
use sqlx::Connection;
use sqlx::postgres::PgConnectOptions;

use crate::support::postgres::{PgCluster, free_port};
use crate::support::redis::RedisServer;

const NAME: &str = "db.fixpoint.test";
const OTHER: &str = "db.elsewhere.test";

/// A CA and a server certificate for [`NAME`] (and `localhost`), signed by it.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn make() -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("fixpoint-certs-")
            .tempdir()
            .unwrap();
        let ext = dir.path().join("server.ext");
        std::fs::write(
            &ext,
            format!(
                "subjectAltName=DNS:{NAME},DNS:localhost\nbasicConstraints=CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            dir.path(),
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.pem"],
            ],
            &[
                "-days",
                "2",
                "-subj",
                "/CN=Fixpoint test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        );
        openssl(
            dir.path(),
            &[
                &["req"],
                &ec[..],
                &["-keyout", "server.key", "-out", "server.csr"],
            ],
            &["-subj", "/CN=fixpoint test server"],
        );
        openssl(
            dir.path(),
            &[&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
            ]],
            &[
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                "server.pem",
                "-extfile",
                "server.ext",
            ],
        );
        Certs { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// The files readable by the `postgres` user, the key by it alone, as the server
    /// demands.
    fn hand_to_postgres(&self) {
        let dir = self.dir.path().display().to_string();
        let chown = Command::new("chown")
            .args(["-R", "postgres:", &dir])
            .status();
        assert!(chown.is_ok_and(|s| s.success()), "chown {dir} to postgres");
        let chmod = Command::new("chmod")
            .arg("600")
            .arg(self.path("server.key"))
            .status();
        assert!(chmod.is_ok_and(|s| s.success()));
    }
}

fn openssl(dir: &Path, parts: &[&[&str]], rest: &[&str]) {
    let args: Vec<&str> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let out = Command::new("openssl")
        .args(&args)
        .args(rest)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI runs: apt-get install openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} {rest:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The test cluster, switched to TLS with `certs` (ssl can be turned on by a reload).
async fn tls_cluster(certs: &Certs) -> PgCluster {
    let pg = PgCluster::start(20).await;
    certs.hand_to_postgres();
    let mut admin = pg.connect("postgres").await;
    for sql in [
        format!(
            "ALTER SYSTEM SET ssl_cert_file = '{}'",
            certs.path("server.pem").display()
        ),
        format!(
            "ALTER SYSTEM SET ssl_key_file = '{}'",
            certs.path("server.key").display()
        ),
        "ALTER SYSTEM SET ssl = on".to_string(),
        "SELECT pg_reload_conf()".to_string(),
    ] {
        sqlx::query(&sql).execute(&mut admin).await.expect(&sql);
    }
    let _ = admin.close().await;
    for _ in 0..100 {
        let mut conn = pg.connect("postgres").await;
        let ssl: String = sqlx::query_scalar("SHOW ssl")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        if ssl == "on" {
            return pg;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("PostgreSQL did not turn ssl on after a reload: see its server.log");
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Whether the server sees this session as TLS.
async fn encrypted(session: &mut sqlx::PgConnection) -> bool {
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(session)
        .await
        .expect("pg_stat_ssl answers")
}

/// The skill's check of `url`, as a sweep runs it with loopback allowed.
async fn sweep_check(kind: SkillKind, url: String) -> anyhow::Result<Observation> {
    let vars = HashMap::from([(
        "FIXPOINT_SWEEP_ALLOW".to_string(),
        "127.0.0.0/8".to_string(),
    )]);
    let ctx = SkillContext::new(Utc::now(), None, Arc::new(vars));
    let endpoint = Endpoint::Url(url);
    let target = match kind {
        SkillKind::Postgres => CheckTarget::Postgres { endpoint },
        _ => CheckTarget::Redis { endpoint },
    };
    skill_for(kind).check(&target, &ctx).await
}

#[tokio::test]
async fn verify_full_postgres_checks_the_name_and_dials_only_the_judged_address() {
    let certs = Certs::make();
    let pg = tls_cluster(&certs).await;
    let ca = certs.path("ca.pem");
    let options = |host: &str, mode: &str| {
        PgConnectOptions::from_str(&format!(
            "postgres://fixpoint@{host}:5432/postgres?sslmode={mode}&sslrootcert={}",
            ca.display()
        ))
        .unwrap()
    };
    let judged = loopback(pg.port);

    // The name resolves nowhere and the certificate names no IP: only a session that
    // dials the judged address and verifies the name gets through.
    let mut session = read_only_session_at(options(NAME, "verify-full"), judged)
        .await
        .expect("verify-full to the judged address, the certificate checked against the name");
    assert!(encrypted(&mut session).await, "the session is encrypted");
    let _ = session.close().await;

    // The certificate is still checked: a name it does not cover is refused.
    let wrong = read_only_session_at(options(OTHER, "verify-full"), judged).await;
    let wrong = wrong.expect_err("a certificate for another name is refused");
    assert!(
        format!("{wrong}").to_lowercase().contains("certificate"),
        "{wrong}"
    );

    // Modes that check no name dial the IP itself: `disable` works as before.
    let mut plain = read_only_session_at(options(NAME, "disable"), judged)
        .await
        .expect("sslmode=disable to the judged IP");
    assert!(
        !encrypted(&mut plain).await,
        "sslmode=disable stays in the clear"
    );
    let _ = plain.close().await;

    // The skill as a map names it: `localhost` judged, then the session through the relay.
    let url = format!(
        "postgres://fixpoint@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        pg.port,
        ca.display()
    );
    let seen = sweep_check(SkillKind::Postgres, url).await.unwrap();
    assert_eq!(seen.status, Status::Healthy, "{seen:?}");
}

#[tokio::test]
async fn rediss_checks_the_name_and_dials_only_the_judged_address() {
    let certs = Certs::make();
    let tls_port = free_port();
    let (cert, key, ca) = (
        certs.path("server.pem").display().to_string(),
        certs.path("server.key").display().to_string(),
        certs.path("ca.pem").display().to_string(),
    );
    let server = RedisServer::start_with(&[
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
    ])
    .await;
    // First the skill as a map names it (a URL cannot name the test CA): the certificate is
    // refused, and said so. Before, `rediss://` panicked: no rustls crypto provider.
    let seen = sweep_check(SkillKind::Redis, format!("rediss://localhost:{tls_port}")).await;
    let said = match &seen {
        Ok(o) => format!("{} {:?}", o.summary, o.evidence),
        Err(e) => format!("{e:#}"),
    };
    assert!(said.to_lowercase().contains("certificate"), "{said}");

    let ca_pem = std::fs::read(certs.path("ca.pem")).unwrap();
    // `rediss://` to the name, trusting the test CA (a URL cannot name a CA).
    let info = |host: &str| {
        let url = server.url().replacen("redis://", "rediss://", 1).replace(
            &format!("127.0.0.1:{}", server.port),
            &format!("{host}:6379"),
        );
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(ca_pem.clone()),
        };
        let client = redis::Client::build_with_tls(url, certificates).unwrap();
        client.get_connection_info().clone()
    };
    let judged = vec![loopback(tls_port)];

    let mut conn = fixpoint::skills::redis::connect_at(info(NAME), judged.clone())
        .await
        .expect("rediss to the judged address, the certificate checked against the name");
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");

    let wrong = fixpoint::skills::redis::connect_at(info(OTHER), judged).await;
    let wrong = wrong.expect_err("a certificate for another name is refused");
    assert!(
        format!("{wrong}").to_lowercase().contains("certificate"),
        "{wrong}"
    );
}
