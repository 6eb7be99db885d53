//! A session to the address the outbound policy judged, whatever the TLS mode.
//!
//! sqlx dials and verifies against one `host`. Given the name, it looks the name up again
//! when it dials: a second DNS answer, which may point anywhere the first did not
//! (rebinding). Given the judged IP, `verify-full` checks the certificate against the IP,
//! which a server's certificate rarely names. libpq has `hostaddr` for this; sqlx has not.
//! So a session that verifies the host name gets the name as its host and a Unix socket of
//! ours as its way in: the socket's one connection is relayed to a TCP stream already
//! connected to the judged address. Every other mode verifies no name, and dials the IP.

use std::net::SocketAddr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use tokio::net::{TcpStream, UnixListener};

/// How `options` reach `addr`: the host replaced by the IP, or, when the certificate is
/// checked against the name, the name kept and a relay socket to `addr` given as the way in.
/// The relay waits `wait` for sqlx to dial it, and lives as long as the session.
pub(super) async fn pin(
    options: PgConnectOptions,
    addr: SocketAddr,
    wait: Duration,
) -> Result<PgConnectOptions, sqlx::Error> {
    if !matches!(options.get_ssl_mode(), PgSslMode::VerifyFull) {
        return Ok(options.host(&addr.ip().to_string()).port(addr.port()));
    }
    // Dialled here, so a refused or unreachable server fails as sqlx's own dial would.
    let remote = TcpStream::connect(addr).await?;
    remote.set_nodelay(true)?;
    let dir = tempfile::Builder::new().prefix("fixpoint-pg-").tempdir()?;
    // sqlx dials `<socket dir>/.s.PGSQL.<port>`, as libpq does.
    let listener = UnixListener::bind(dir.path().join(format!(".s.PGSQL.{}", addr.port())))?;
    let options = options.socket(dir.path()).port(addr.port());
    tokio::spawn(async move {
        let Ok(Ok((mut local, _))) = tokio::time::timeout(wait, listener.accept()).await else {
            return;
        };
        // Nothing else may come in: the socket file goes once its one client is in.
        drop(listener);
        drop(dir);
        let mut remote = remote;
        let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
    });
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[tokio::test]
    async fn only_verify_full_keeps_the_name_and_it_dials_through_a_relay() {
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let url = "postgres://fixpoint@db.fixpoint.invalid:6543/postgres";

        let plain = PgConnectOptions::from_str(&format!("{url}?sslmode=require")).unwrap();
        let plain = pin(plain, addr, Duration::from_secs(1)).await.unwrap();
        assert_eq!(plain.get_host(), "127.0.0.1");
        assert_eq!(plain.get_port(), addr.port());
        assert_eq!(plain.get_socket(), None);

        let verified = PgConnectOptions::from_str(&format!("{url}?sslmode=verify-full")).unwrap();
        let verified = pin(verified, addr, Duration::from_secs(1)).await.unwrap();
        assert_eq!(
            verified.get_host(),
            "db.fixpoint.invalid",
            "TLS checks the name"
        );
        let socket = verified
            .get_socket()
            .expect("dials the relay, not the name");
        assert!(
            socket.join(format!(".s.PGSQL.{}", addr.port())).exists(),
            "{socket:?}"
        );
        // The relay dialled the judged address before sqlx ever starts.
        tokio::time::timeout(Duration::from_secs(1), server.accept())
            .await
            .expect("the judged address was dialled")
            .unwrap();
    }
}
