//! The crate's [`Error`] (configuration and token files) and [`Reply`], the one type every
//! answer the gateway produces itself goes through: an OCI error body with a precise code,
//! never a bare 500.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dns01_registry::{ErrorBody, ErrorCode};

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong loading the gateway's configuration or token file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is wrong; `key` is its path (`routes[0].upstream`).
    #[error("{key}: {message}")]
    Config {
        /// Where in the file (`routes[1].credentials.password_file`).
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A file (configuration, token file, key, password) cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Distribution's `UNAVAILABLE` code (503), which the spec's list lacks.
pub(crate) fn unavailable() -> ErrorCode {
    ErrorCode::from("UNAVAILABLE")
}

/// An answer the gateway produces itself: status, OCI error body, extra headers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
    /// Headers such as `WWW-Authenticate` or `Retry-After`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    /// A reply with `code`'s usual status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        Self::with_status(status, code, message)
    }

    /// A reply with an explicit status.
    pub fn with_status(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody::single(code, message),
            headers: Vec::new(),
        }
    }

    /// Adds a header (values that are not valid header text are dropped).
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    /// The first message of the body.
    pub fn message(&self) -> &str {
        self.body.errors.first().map_or("", |e| e.message.as_str())
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            "docker-distribution-api-version",
            HeaderValue::from_static("registry/2.0"),
        );
        // 5xx bodies are dropped by skopeo and podman; a `Warning` header is the spec's way
        // to show a message anyway.
        if self.status.is_server_error()
            && let Some(e) = self.body.errors.first()
        {
            let text = format!("299 - \"{}\"", e.message.replace(['"', '\\'], "'"));
            if let Ok(v) = HeaderValue::from_str(&text.chars().take(4000).collect::<String>()) {
                h.insert(header::WARNING, v);
            }
        }
        for (name, value) in self.headers {
            h.append(name, value);
        }
        resp
    }
}
