//! The accept loop of both routers, the App's and the setup page's.
//!
//! axum's own `serve` gives hyper no timer, so hyper's header read timeout never runs: a
//! client that sends half a request line and stops holds its connection (a socket, a task
//! and its buffer) for as long as it likes, and a few hundred of them exhaust the server
//! without ever reaching a handler. Here each HTTP/1 connection has hyper's header read
//! timeout on a tokio timer; the loop otherwise does what axum's does: a task per
//! connection, accept errors waited out, and a graceful shutdown that stops accepting and
//! lets requests in flight finish.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// How long a client may take to send a request's line and headers, counted from when the
/// server starts reading them (a new connection, or the end of the previous response on a
/// kept-alive one). GitHub sends a webhook's headers in one write; ten seconds is slack for
/// any honest client.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection may cost before it has asked for anything.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and
/// waits for the connections it has to finish their requests (an idle kept-alive
/// connection is closed at once; one still sending headers, by the header read timeout).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    wait_out(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are small and written whole; Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A client that went away, or timed out sending its headers: nothing to do.
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// An accept error: the client's own trouble (it reset before we took it) is skipped; out
/// of file descriptors or memory, the loop waits a second rather than spinning on it.
async fn wait_out(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "cannot accept a connection; trying again in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    #[tokio::test]
    async fn shutdown_lets_a_request_in_flight_finish_and_cuts_a_stalled_client() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        };
        let router = Router::new().route("/slow", get(slow));
        let limits = Limits {
            header_read_timeout: Duration::from_millis(500),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, limits, async {
            let _ = stopped.await;
        }));

        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled.write_all(b"GET /sl").await.unwrap();
        let mut in_flight = TcpStream::connect(addr).await.unwrap();
        in_flight
            .write_all(b"GET /slow HTTP/1.1\r\nhost: fixpoint\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();

        // The answer comes whole, then the connection closes (no keep-alive past shutdown).
        let mut answer = String::new();
        in_flight.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        // The stalled client does not hold the shutdown past the header read timeout.
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve returns once the stalled client is cut")
            .unwrap();
        let mut rest = Vec::new();
        let _ = stalled.read_to_end(&mut rest).await;
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "nothing listens after shutdown"
        );
    }
}
