//! `fixpoint serve` as its own process, for the tests that kill it (SIGKILL) and start it
//! again on the same database: the fake GitHub as its GitHub, short leases, and whatever else
//! the test's `extra` variables say. Dropping the `Server` kills it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::fake_github::FakeGitHub;

pub struct Server(Child);

impl Server {
    /// The server's process id (a benchmark reads its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `fixpoint serve` with its database in `dir`, its log in `dir/log`, and returns once
/// `/readyz` answers 200.
pub async fn serve(
    github: &FakeGitHub,
    dir: &Path,
    port: u16,
    log: &str,
    extra: &[(String, String)],
) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .arg("serve")
        .env_clear()
        .envs(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("APP_ID", github.app_id().to_string())
        .env("PRIVATE_KEY", github.private_key_pem())
        .env("WEBHOOK_SECRET", super::SECRET)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("fixpoint.sqlite").display()),
        )
        .env("PORT", port.to_string())
        .env("GITHUB_API_URL", github.url())
        .env("FIXPOINT_JOB_LEASE_SECS", "2")
        .env("FIXPOINT_ENV_FILE", dir.join("no.env"))
        .env("FIXPOINT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).unwrap())
        .spawn()
        .expect("fixpoint starts");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await
            && r.status() == 200
        {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "fixpoint did not become ready: {}",
            std::fs::read_to_string(dir.join(log)).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
