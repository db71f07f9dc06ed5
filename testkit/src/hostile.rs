//! A hostile OCI upstream for gateway tests: an axum server on an ephemeral port of
//! 127.0.0.1 whose answer depends on the first component of the repository name:
//!
//! | name | answer |
//! |---|---|
//! | `ratelimit/…` | 429 `TOOMANYREQUESTS` "slow down", `Retry-After: 0` |
//! | `broken/…` | 500 with an OCI body `UNKNOWN` "database is on fire" |
//! | `unavailable/…` | 503 `text/plain` "upstream maintenance" |
//! | `readonly/…` | writes: 405 `text/plain` "Method not allowed" (Distribution's read-only mode) |
//! | `redirect/…` blobs | 307 to a relative `/artifacts-downloads/<hex>?sig=1`, which serves [`BLOB`] |
//! | `drop/…` blobs | 200 with `Content-Length: 1000`, then the connection drops after 10 bytes |
//! | `slow/…` | nothing for 3 s, then 404 |
//! | anything else | 404 `MANIFEST_UNKNOWN` / `BLOB_UNKNOWN` naming the repository |
//!
//! With `basic` credentials set, every `/v2/` request without them answers 401 with a Basic
//! challenge. Every `Authorization` value received is recorded ([`Hostile::authorizations`]).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

/// The content `/artifacts-downloads/…` serves.
pub const BLOB: &[u8] = b"hostile-blob-content";

#[derive(Debug, Default)]
struct Shared {
    basic: Option<String>,
    seen: Mutex<Vec<String>>,
}

/// A running hostile upstream; it stops with the test process.
#[derive(Debug)]
pub struct Hostile {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Hostile {
    /// Starts the server; `basic` (`user`, `password`) makes it require those credentials.
    pub fn start(basic: Option<(&str, &str)>) -> Self {
        let shared = Arc::new(Shared {
            basic: basic.map(|(u, p)| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                )
            }),
            seen: Mutex::default(),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        Self { addr, shared }
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Every `Authorization` value received, in order.
    pub fn authorizations(&self) -> Vec<String> {
        self.shared.seen.lock().unwrap().clone()
    }
}

fn oci(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string(),
    )
        .into_response()
}

async fn answer(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(a) = &auth {
        shared.seen.lock().unwrap().push(a.clone());
    }
    if path.starts_with("/artifacts-downloads/") {
        return (StatusCode::OK, BLOB).into_response();
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(want) = &shared.basic
        && auth.as_deref() != Some(want.as_str())
    {
        let mut r = oci(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"hostile\"".parse().unwrap(),
        );
        return r;
    }
    if rest.is_empty() {
        return (StatusCode::OK, "{}").into_response();
    }
    let first = rest.split('/').next().unwrap_or_default();
    let is_blob = rest.contains("/blobs/sha256:");
    let write = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if first == "slow" {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    match first {
        "ratelimit" => {
            let mut r = oci(
                StatusCode::TOO_MANY_REQUESTS,
                "TOOMANYREQUESTS",
                "slow down",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, "0".parse().unwrap());
            r
        }
        "broken" => oci(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            "database is on fire",
        ),
        "unavailable" => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "upstream maintenance",
        )
            .into_response(),
        "readonly" if write => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Method not allowed",
        )
            .into_response(),
        "redirect" if is_blob => {
            let hex = rest.rsplit(':').next().unwrap_or_default();
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(
                    header::LOCATION,
                    format!("/artifacts-downloads/{hex}?sig=1"),
                )],
            )
                .into_response()
        }
        "drop" if is_blob => {
            // The error comes after a pause, so the status line and the first bytes are
            // flushed before the connection drops.
            let chunks = futures::stream::unfold(0, |i| async move {
                match i {
                    0 => Some((Ok(vec![b'x'; 10]), 1)),
                    1 => {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        Some((
                            Err(std::io::Error::other("connection dropped on purpose")),
                            2,
                        ))
                    }
                    _ => None,
                }
            });
            let mut r = Response::new(Body::from_stream(chunks));
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, "1000".parse().unwrap());
            r
        }
        _ => {
            let name = rest.split("/manifests/").next().unwrap_or(rest);
            let name = name.split("/blobs/").next().unwrap_or(name);
            if is_blob {
                oci(
                    StatusCode::NOT_FOUND,
                    "BLOB_UNKNOWN",
                    &format!("blob unknown in {name}"),
                )
            } else {
                oci(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    &format!("manifest unknown in {name}"),
                )
            }
        }
    }
}
