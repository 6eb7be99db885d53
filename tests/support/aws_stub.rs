//! A loopback stand-in for the AWS states moto cannot make. It is the front door the SDK is
//! pointed at: a request a test scripted is answered here, in the service's own wire format
//! (ECS and CloudWatch Logs: AWS JSON 1.1; Lambda: REST-JSON; CloudWatch: Smithy RPC v2 CBOR);
//! every other request is passed to moto unchanged. Every request is recorded, so tests can
//! assert what the SDK sent.
//!
//! Why it exists (moto 5.2.5): ECS containers always exit 0, service `events` are empty,
//! services never launch tasks and rollouts never fail; Lambda functions never fail to
//! update; CloudWatch metrics go over a CBOR protocol moto does not speak at all.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use ciborium::Value as Cbor;
use serde_json::Value;

/// One request the stub received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    /// `X-Amz-Target` of the JSON protocols, e.g. `AmazonEC2ContainerServiceV20141113.ListTasks`.
    pub fn target(&self) -> Option<&str> {
        self.headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body decoded as CBOR (`Null` when it is not).
    pub fn cbor(&self) -> ciborium::Value {
        ciborium::from_reader(&self.body[..]).unwrap_or(ciborium::Value::Null)
    }

    /// Whether this is a CloudWatch RPC v2 CBOR call of `operation` (`GetMetricData` …).
    pub fn is_cloudwatch(&self, operation: &str) -> bool {
        self.path == format!("/service/GraniteServiceVersion20100801/operation/{operation}")
    }
}

/// What the stub answers.
pub enum Reply {
    /// AWS JSON 1.0/1.1: `application/x-amz-json-1.1`; errors carry `__type` in the body.
    AwsJson(u16, Value),
    /// REST-JSON (Lambda): `application/json`; `error` sets `X-Amzn-ErrorType`.
    RestJson {
        status: u16,
        error: Option<&'static str>,
        body: Value,
    },
    /// Smithy RPC v2 CBOR: `application/cbor` with the `smithy-protocol: rpc-v2-cbor` header.
    Cbor(u16, ciborium::Value),
    /// Let moto answer.
    Forward,
}

type Matcher = Box<dyn Fn(&Call) -> bool + Send + Sync>;
type Responder = Box<dyn Fn(&Call) -> Reply + Send + Sync>;

struct Inner {
    routes: Mutex<Vec<(Matcher, Responder)>>,
    calls: Mutex<Vec<Call>>,
    forward_to: String,
    client: reqwest::Client,
}

pub struct AwsStub {
    url: String,
    inner: Arc<Inner>,
}

impl AwsStub {
    /// Starts the stub on a loopback port, on a thread and runtime of its own (so it outlives
    /// any one test's runtime), passing unscripted requests to `forward_to`.
    pub fn start(forward_to: &str) -> AwsStub {
        let inner = Arc::new(Inner {
            routes: Mutex::default(),
            calls: Mutex::default(),
            forward_to: forward_to.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let url = format!("http://{}", serve_on_own_thread("aws-stub", app));
        AwsStub { url, inner }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers requests that `matches` with `reply` (the first matching route wins).
    pub fn on(
        &self,
        matches: impl Fn(&Call) -> bool + Send + Sync + 'static,
        reply: impl Fn(&Call) -> Reply + Send + Sync + 'static,
    ) {
        self.inner
            .routes
            .lock()
            .unwrap()
            .push((Box::new(matches), Box::new(reply)));
    }

    /// Answers the JSON-protocol operation `target` when the request's `field` equals `value`.
    pub fn on_json(
        &self,
        target: &str,
        field: &'static str,
        value: &str,
        reply: impl Fn(&Call) -> Reply + Send + Sync + 'static,
    ) {
        let (target, value) = (target.to_string(), value.to_string());
        self.on(
            move |c| {
                c.target() == Some(target.as_str())
                    && c.json().get(field).and_then(Value::as_str) == Some(value.as_str())
            },
            reply,
        );
    }

    /// Answers CloudWatch `GetMetricData` when any query has a dimension with this value
    /// (`FunctionName` = `checkout-worker`, `QueueName` = `orders` …).
    pub fn on_metric_data(
        &self,
        dimension_value: &str,
        reply: impl Fn(&Call) -> Reply + Send + Sync + 'static,
    ) {
        let value = dimension_value.to_string();
        self.on(
            move |c| {
                c.is_cloudwatch("GetMetricData") && dimension_values(&c.cbor()).contains(&value)
            },
            reply,
        );
    }

    /// The calls recorded so far that `matches`.
    pub fn calls(&self, matches: impl Fn(&Call) -> bool) -> Vec<Call> {
        self.inner
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| matches(c))
            .cloned()
            .collect()
    }
}

/// Serves `app` on a loopback port from a thread and runtime of its own, so it outlives any
/// one test's runtime; returns the address.
pub fn serve_on_own_thread(name: &str, app: axum::Router) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let address = listener.local_addr().expect("bound address");
    let what = name.to_string();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                axum::serve(listener, app)
                    .await
                    .unwrap_or_else(|e| panic!("{what} stopped serving: {e}"));
            });
        })
        .unwrap_or_else(|e| panic!("cannot start the {name} thread: {e}"));
    address
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = Call {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_else(|| uri.path().to_string()),
        headers,
        body,
    };
    inner.calls.lock().unwrap().push(call.clone());
    let reply = {
        let routes = inner.routes.lock().unwrap();
        routes
            .iter()
            .find(|(m, _)| m(&call))
            .map(|(_, r)| r(&call))
            .unwrap_or(Reply::Forward)
    };
    let request_id = [(
        "x-amzn-requestid",
        HeaderValue::from_static("4d9e4a2b-0c1f-4f8e-9a53-1d2c3b4a5f60"),
    )];
    match reply {
        Reply::AwsJson(status, body) => {
            let headers = [(
                "content-type",
                HeaderValue::from_static("application/x-amz-json-1.1"),
            )];
            (code(status), request_id, headers, body.to_string()).into_response()
        }
        Reply::RestJson {
            status,
            error,
            body,
        } => {
            let mut response = (
                code(status),
                request_id,
                [("content-type", HeaderValue::from_static("application/json"))],
                body.to_string(),
            )
                .into_response();
            if let Some(error) = error {
                response
                    .headers_mut()
                    .insert("x-amzn-errortype", HeaderValue::from_static(error));
            }
            response
        }
        Reply::Cbor(status, body) => {
            let mut bytes = Vec::new();
            ciborium::into_writer(&body, &mut bytes).expect("CBOR encodes");
            let headers = [
                ("content-type", HeaderValue::from_static("application/cbor")),
                ("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor")),
            ];
            (code(status), request_id, headers, bytes).into_response()
        }
        Reply::Forward => forward(&inner, call).await,
    }
}

async fn forward(inner: &Inner, call: Call) -> Response {
    let url = format!("{}{}", inner.forward_to, call.path);
    let method = reqwest::Method::from_bytes(call.method.as_bytes()).expect("an HTTP method");
    let mut request = inner.client.request(method, url).body(call.body.clone());
    for (name, value) in &call.headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = code(answer.status().as_u16());
            let mut headers = HeaderMap::new();
            for (name, value) in answer.headers() {
                let hop = matches!(
                    name.as_str(),
                    "content-length" | "connection" | "transfer-encoding"
                );
                if !hop {
                    headers.append(name.clone(), value.clone());
                }
            }
            let body = answer.bytes().await.unwrap_or_default();
            (status, headers, body).into_response()
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("aws stub could not reach moto: {e}"),
        )
            .into_response(),
    }
}

fn code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).expect("a valid HTTP status")
}

/// Every `Value` of every dimension in a `GetMetricData` request.
fn dimension_values(request: &ciborium::Value) -> Vec<String> {
    let queries = field(request, "MetricDataQueries")
        .and_then(|q| q.as_array())
        .cloned()
        .unwrap_or_default();
    queries
        .iter()
        .filter_map(|q| {
            field(q, "MetricStat")
                .and_then(|s| field(s, "Metric"))
                .and_then(|m| field(m, "Dimensions"))
        })
        .filter_map(|d| d.as_array())
        .flatten()
        .filter_map(|d| {
            field(d, "Value")
                .and_then(|v| v.as_text())
                .map(str::to_string)
        })
        .collect()
}

/// A member of a CBOR map by name.
pub fn field<'a>(value: &'a ciborium::Value, name: &str) -> Option<&'a ciborium::Value> {
    value
        .as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .map(|(_, v)| v)
}

/// A CBOR map from `(name, value)` pairs.
pub fn cbor_map(pairs: Vec<(&str, ciborium::Value)>) -> ciborium::Value {
    ciborium::Value::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (ciborium::Value::Text(k.into()), v))
            .collect(),
    )
}

/// A CBOR timestamp as CloudWatch sends one: tag 1 (epoch seconds) over a double.
pub fn cbor_time(epoch_seconds: i64) -> ciborium::Value {
    ciborium::Value::Tag(1, Box::new(ciborium::Value::Float(epoch_seconds as f64)))
}

/// Answers every query of a GetMetricData call from `series`: query id → values, newest first.
pub fn metric_data(call: &Call, series: &[(&str, Vec<f64>)]) -> Reply {
    let newest = chrono::Utc::now().timestamp() / 60 * 60;
    let queries = field(&call.cbor(), "MetricDataQueries")
        .and_then(|q| q.as_array())
        .cloned()
        .unwrap_or_default();
    let results = queries
        .iter()
        .map(|q| {
            let id = field(q, "Id")
                .and_then(|i| i.as_text())
                .unwrap_or_default()
                .to_string();
            let values = series
                .iter()
                .find(|(s, _)| *s == id)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let times = (0..values.len() as i64)
                .map(|i| cbor_time(newest - 60 * i))
                .collect();
            cbor_map(vec![
                ("Id", Cbor::Text(id)),
                ("Label", Cbor::Text("label".into())),
                ("Timestamps", Cbor::Array(times)),
                (
                    "Values",
                    Cbor::Array(values.into_iter().map(Cbor::Float).collect()),
                ),
                ("StatusCode", Cbor::Text("Complete".into())),
            ])
        })
        .collect();
    Reply::Cbor(
        200,
        cbor_map(vec![
            ("MetricDataResults", Cbor::Array(results)),
            ("Messages", Cbor::Array(vec![])),
        ]),
    )
}
