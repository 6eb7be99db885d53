//! A throwaway PostgreSQL cluster on a free loopback port, from Debian's server binaries
//! (`initdb` + `pg_ctl`), stopped on drop. As root, the cluster runs as the `postgres`
//! user (initdb refuses root). It has three roles, as a real service's database would:
//! `postgres` (superuser), `app` (the service) and `fixpoint` (the skill, `pg_monitor`),
//! all with trust auth on 127.0.0.1, and a table `orders` the app uses.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

const INSTALL: &str = "PostgreSQL server binaries are missing (/usr/lib/postgresql/<version>/bin/initdb): \
run ./scripts/test, which installs Debian's postgresql, or `apt-get install postgresql`";

pub struct PgCluster {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl PgCluster {
    /// A cluster with room for `max_connections` (3 of them reserved for superusers).
    pub async fn start(max_connections: u32) -> PgCluster {
        let bin = server_bin();
        let as_postgres = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("fixpoint-pg-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        if as_postgres {
            run(
                Command::new("chown").args(["postgres:", &dir.path().display().to_string()]),
                "chown",
            );
        }
        let cluster = |args: &[&str]| {
            let mut cmd = if as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(bin.join(args[0]));
                c
            } else {
                Command::new(bin.join(args[0]))
            };
            cmd.args(&args[1..]);
            cmd
        };
        let data_s = data.display().to_string();
        run(
            &mut cluster(&[
                "initdb",
                "-D",
                &data_s,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ]),
            "initdb",
        );
        // A port picked free can be taken before the server binds it: try a few.
        for attempt in 0..5 {
            let port = free_port();
            let server_options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections={max_connections} -c fsync=off -c full_page_writes=off",
                dir.path().display()
            );
            let log = dir.path().join("server.log").display().to_string();
            let out = cluster(&[
                "pg_ctl",
                "-D",
                &data_s,
                "-l",
                &log,
                "-w",
                "-t",
                "30",
                "-o",
                &server_options,
                "start",
            ])
            .output()
            .expect("pg_ctl runs");
            if out.status.success() {
                let pg = PgCluster {
                    port,
                    bin,
                    data,
                    as_postgres,
                    _dir: dir,
                };
                pg.seed().await;
                return pg;
            }
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                attempt < 4,
                "pg_ctl start failed: {}\n{server_log}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        unreachable!()
    }

    /// A URL for a role. The password is ignored (trust auth) but shows that it is never
    /// printed.
    pub fn url(&self, role: &str) -> String {
        format!(
            "postgres://{role}:hunter2-{role}-secret@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// A new session for a role, held until dropped.
    pub async fn connect(&self, role: &str) -> PgConnection {
        PgConnection::connect(&self.url(role))
            .await
            .unwrap_or_else(|e| panic!("cannot connect as {role} on port {}: {e}", self.port))
    }

    /// Waits until `sql` (a count) returns at least `n`, as seen by the superuser.
    pub async fn wait_for(&self, sql: &str, n: i64) {
        let mut conn = self.connect("postgres").await;
        for _ in 0..200 {
            let got: i64 = sqlx::query_scalar(sql)
                .fetch_one(&mut conn)
                .await
                .expect(sql);
            if got >= n {
                let _ = conn.close().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{sql} did not reach {n} within 5 s");
    }

    async fn seed(&self) {
        let mut conn = self.connect("postgres").await;
        for sql in [
            "CREATE ROLE app LOGIN",
            "CREATE ROLE fixpoint LOGIN IN ROLE pg_monitor",
            "CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL)",
            "INSERT INTO orders SELECT g, 'paid' FROM generate_series(1, 100) g",
            "ALTER TABLE orders OWNER TO app",
        ] {
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        // Closed, not dropped: the tests count connections.
        let _ = conn.close().await;
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data.display().to_string();
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(pg_ctl);
            c
        } else {
            Command::new(pg_ctl)
        };
        let _ = cmd.args(["-D", &data, "-m", "immediate", "stop"]).output();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with an `initdb`.
fn server_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect(INSTALL)
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).expect(INSTALL)
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} cannot start: {e}: {INSTALL}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
