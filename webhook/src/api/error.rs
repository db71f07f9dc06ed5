//! HTTP errors of the API surface, turned into Kubernetes `Status` responses in one place.
//!
//! Only protocol errors are HTTP errors: a body that is not a `ChallengePayload`, an unknown
//! action, an unknown solver or group. Everything that goes wrong while solving (configuration,
//! credentials, delegation policy, the DNS provider) is a `success: false` response instead, so
//! that cert-manager shows the message on the Challenge.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::types::Status;

/// A protocol error, answered with a Kubernetes `Status` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is not JSON, or not shaped like a `ChallengePayload` (HTTP 400, `BadRequest`).
    #[error("{0}")]
    BadRequest(String),
    /// The body is a `ChallengePayload` whose content is invalid (HTTP 422, `Invalid`).
    #[error("{0}")]
    Invalid(String),
    /// No such path, group or solver (HTTP 404, `NotFound`).
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not for this method (HTTP 405, `MethodNotAllowed`).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The body is larger than the limit (HTTP 413, `RequestEntityTooLarge`).
    #[error("{0}")]
    PayloadTooLarge(String),
}

impl ApiError {
    /// The HTTP status code.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The Kubernetes `StatusReason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "BadRequest",
            Self::Invalid(_) => "Invalid",
            Self::NotFound(_) => "NotFound",
            Self::MethodNotAllowed(_) => "MethodNotAllowed",
            Self::PayloadTooLarge(_) => "RequestEntityTooLarge",
        }
    }

    /// The `Status` body.
    pub fn to_status(&self) -> Status {
        Status::failure(self.reason(), self.status_code().as_u16(), self.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status_code(), Json(self.to_status())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_a_matching_code_and_reason() {
        let e = ApiError::Invalid("unknown action".into());
        let s = e.to_status();
        assert_eq!(s.code, 422);
        assert_eq!(s.reason, "Invalid");
        assert_eq!(s.kind, "Status");
        assert_eq!(s.status, "Failure");
        assert_eq!(s.message, "unknown action");
        assert_eq!(ApiError::PayloadTooLarge(String::new()).status_code(), 413);
    }
}
