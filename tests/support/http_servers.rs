//! Services as a health check meets them: an axum server on 127.0.0.1:0 whose paths answer
//! 200 with a body, 503, slowly, never, or with a redirect to a login page.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

pub struct HttpServers {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServers {
    pub async fn start() -> HttpServers {
        let app = Router::new()
            .route("/health", get(|| async { "ok: payments-api ready" }))
            .route(
                "/unavailable",
                get(|| async {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "upstream connect error or disconnect/reset before headers",
                    )
                }),
            )
            .route(
                "/slow/{ms}",
                get(|Path(ms): Path<u64>| async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    "ok: payments-api ready"
                }),
            )
            // Accepts the connection and reads the request, then never answers.
            .route("/hang", get(std::future::pending::<&'static str>))
            .route(
                "/redirect",
                get(|| async {
                    (
                        StatusCode::FOUND,
                        [(
                            header::LOCATION,
                            "https://sso.example.com/login?next=%2Fhealth",
                        )],
                    )
                        .into_response()
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HttpServers { base, task }
    }

    pub fn healthy(&self) -> String {
        format!("{}/health", self.base)
    }

    pub fn unavailable(&self) -> String {
        format!("{}/unavailable", self.base)
    }

    pub fn slow(&self, delay: Duration) -> String {
        format!("{}/slow/{}", self.base, delay.as_millis())
    }

    pub fn hanging(&self) -> String {
        format!("{}/hang", self.base)
    }

    pub fn redirecting(&self) -> String {
        format!("{}/redirect", self.base)
    }

    /// The healthy path over `https://` to this plain-HTTP server: a real TLS handshake failure.
    pub fn tls_to_plain_http(&self) -> String {
        format!("{}/health", self.base.replacen("http://", "https://", 1))
    }
}

impl Drop for HttpServers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback URL nothing listens on.
pub fn refused_url() -> String {
    format!("http://127.0.0.1:{}/health", super::postgres::free_port())
}
