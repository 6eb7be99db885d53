//! A throwaway `redis-server` on a free loopback port, no persistence, with a small
//! `maxmemory` so that evictions and OOM refusals are real, and a password, as managed
//! Redis has. Killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PASSWORD: &str = "hunter2-redis-secret";
const INSTALL: &str = "redis-server is missing: run ./scripts/test, which installs Debian's redis-server, or `apt-get install redis-server`";

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// 2 MB of memory, least-recently-used keys evicted when full.
    pub async fn start() -> RedisServer {
        Self::start_with(&[]).await
    }

    /// With more settings, which override the defaults: `["--maxmemory-policy", "noeviction"]`.
    pub async fn start_with(settings: &[&str]) -> RedisServer {
        for attempt in 0..5 {
            let port = super::postgres::free_port();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--requirepass",
                    PASSWORD,
                    "--save",
                    "",
                ])
                .args([
                    "--appendonly",
                    "no",
                    "--maxmemory",
                    "2mb",
                    "--maxmemory-policy",
                    "allkeys-lru",
                ])
                .args(settings)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start redis-server: {e}: {INSTALL}"));
            let mut server = RedisServer {
                port,
                child: Some(child),
            };
            if server.ready().await {
                return server;
            }
            server.stop();
            assert!(
                attempt < 4,
                "redis-server did not answer PING on port {port} within 5 s"
            );
        }
        unreachable!()
    }

    pub fn url(&self) -> String {
        format!("redis://:{PASSWORD}@127.0.0.1:{}/0", self.port)
    }

    pub async fn connect(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test redis-server")
    }

    /// The server goes away, as a crashed cache would; its port stays closed.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn ready(&mut self) -> bool {
        let client = redis::Client::open(self.url()).expect("redis URL");
        for _ in 0..100 {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false; // exited: the port was taken
            }
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
