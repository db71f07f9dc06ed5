//! Gandi's error answers, turned into [`dns01_core::Error`] kinds with messages a user can act on.
//!
//! Gandi answers errors in two JSON shapes:
//!
//! - shape A, `{"code": 403, "message": "...", "object": "HTTPForbidden", "cause": "Forbidden"}`
//!   (the 401 for a missing credential has no `code`);
//! - shape B, for validation failures,
//!   `{"status": "error", "errors": [{"location": "body", "name": "rrset_ttl", "description": "..."}]}`;
//!
//! and proxies in front of it may answer with anything else. Every message built here names
//! the operation and its route (`PUT example.com/_acme-challenge.app/TXT`), the HTTP status,
//! Gandi's own message, the `Trace-Id` header when present, and the likely fix.

use std::fmt;
use std::time::{Duration, SystemTime};

use dns01_core::Error;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::config::Secret;

/// Longest part of a non-JSON body quoted in a message, in characters.
const SNIPPET_CHARS: usize = 200;

/// Fix for a rejected credential.
pub(crate) const HINT_401: &str = "check the token; personal access tokens expire";
/// Fix for a credential without the right permission.
pub(crate) const HINT_403: &str =
    "the token lacks the 'Manage domain name technical configurations' permission on this domain";
/// Fix for a domain this credential cannot see.
pub(crate) const HINT_UNKNOWN_DOMAIN: &str = "the domain is not in this token's organisation or not on LiveDNS; set sharing_id if it belongs to another organisation";
const HINT_400: &str = "Gandi refused the request as invalid; its message names the field to fix";
const HINT_409: &str =
    "the rrset was changed by someone else or already exists; retry the operation";
const HINT_429: &str = "Gandi allows about 1000 requests per minute per source IP, shared by every client behind it; wait, or lower rate_limit_per_minute";
const HINT_5XX: &str = "a failure on Gandi's side that usually passes; if it persists, give the Trace-Id to Gandi support";
const HINT_NOT_GANDI: &str =
    "the answer does not come from LiveDNS; check base_url (it should end in /v5/livedns)";

/// One upstream call, as messages name it: `PUT example.com/_acme-challenge.app/TXT`.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The operation label given to observers (`replace_txt`).
    pub(crate) operation: &'static str,
    /// The HTTP method.
    pub(crate) method: &'static str,
    /// The target below `/domains`: `example.com/_acme-challenge.app/TXT`, `example.com`.
    pub(crate) target: String,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.target)
    }
}

/// Gandi's error answer, kept as the source of the [`dns01_core::Error`] built from it so
/// callers can read the status and trace id without parsing the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UpstreamError {
    /// The HTTP status.
    pub status: u16,
    /// The `Trace-Id` response header, which Gandi support asks for.
    pub trace_id: Option<String>,
    /// Gandi's message, or a snippet of the body when it was not Gandi's JSON.
    pub message: String,
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        write!(
            f,
            "Gandi answered HTTP {} {reason}: {}",
            self.status, self.message
        )?;
        if let Some(id) = &self.trace_id {
            write!(f, " (Trace-Id: {id})")?;
        }
        Ok(())
    }
}

/// Shape A.
#[derive(Debug, Deserialize)]
struct ShapeA {
    message: String,
}

/// Shape B.
#[derive(Debug, Deserialize)]
struct ShapeB {
    errors: Vec<FieldError>,
}

#[derive(Debug, Deserialize)]
struct FieldError {
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// A body, read as well as it can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedBody {
    /// Gandi's message, or a description of the body.
    pub(crate) message: String,
    /// Whether the body was one of Gandi's JSON error shapes.
    pub(crate) from_gandi: bool,
}

/// Reads an error body in shape A, shape B, other JSON, or anything else.
pub(crate) fn parse_body(body: &[u8], secret: &Secret) -> ParsedBody {
    if let Ok(b) = serde_json::from_slice::<ShapeB>(body) {
        if !b.errors.is_empty() {
            let parts: Vec<String> = b
                .errors
                .iter()
                .map(|e| {
                    let field = e.name.as_deref().or(e.location.as_deref());
                    let text = e.description.as_deref().unwrap_or("invalid");
                    match field {
                        Some(field) => format!("{field}: {text}"),
                        None => text.to_owned(),
                    }
                })
                .collect();
            return ParsedBody {
                message: scrub(&parts.join("; "), secret),
                from_gandi: true,
            };
        }
    }
    if let Ok(a) = serde_json::from_slice::<ShapeA>(body) {
        return ParsedBody {
            message: scrub(&a.message, secret),
            from_gandi: true,
        };
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return ParsedBody {
            message: "(empty body)".to_owned(),
            from_gandi: false,
        };
    }
    let mut snippet: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().count() > SNIPPET_CHARS {
        snippet.push('…');
    }
    ParsedBody {
        message: format!("body {:?}", scrub(&snippet, secret)),
        from_gandi: false,
    }
}

/// Replaces the secret, should a body ever echo it, by `<redacted>`.
fn scrub(text: &str, secret: &Secret) -> String {
    let s = secret.expose().trim();
    if s.len() >= 4 && text.contains(s) {
        text.replace(s, "<redacted>")
    } else {
        text.to_owned()
    }
}

/// Whether a 404 body says the domain itself is unknown (as opposed to a missing record).
pub(crate) fn is_unknown_domain(body: &[u8]) -> bool {
    serde_json::from_slice::<ShapeA>(body)
        .map(|a| a.message.to_ascii_lowercase().contains("unknown domain"))
        .unwrap_or(false)
}

/// The `Trace-Id` header, if present and printable.
pub(crate) fn trace_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("trace-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(128).collect())
}

/// The `Retry-After` header: delay seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The error for an HTTP answer with an error status.
pub(crate) fn from_status(
    route: &Route,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secret: &Secret,
) -> Error {
    let parsed = parse_body(body, secret);
    let upstream = UpstreamError {
        status: status.as_u16(),
        trace_id: trace_id(headers),
        message: parsed.message,
    };
    let with_hint = |hint: &str| format!("{route}: {upstream}; {hint}");
    let err = match status.as_u16() {
        401 => Error::authentication(with_hint(HINT_401)),
        403 => Error::permission(with_hint(HINT_403)),
        404 if parsed.from_gandi => Error::zone_not_found(with_hint(HINT_UNKNOWN_DOMAIN)),
        404 => Error::other(with_hint(HINT_NOT_GANDI)),
        409 => Error::conflict(with_hint(HINT_409)),
        400 | 422 => Error::invalid_input(with_hint(HINT_400)),
        429 => Error::rate_limited(with_hint(HINT_429), retry_after(headers, SystemTime::now())),
        500..=599 => Error::transient(with_hint(HINT_5XX)),
        _ if parsed.from_gandi => Error::other(format!("{route}: {upstream}")),
        _ => Error::other(with_hint(HINT_NOT_GANDI)),
    };
    err.with_source(upstream)
}

/// The error for a request that got no HTTP answer (timeout, connection failure).
pub(crate) fn from_transport(route: &Route, timeout: Duration, err: reqwest::Error) -> Error {
    let what = if err.is_timeout() {
        format!(
            "no answer from Gandi within {timeout:?}; check network access to the API, or raise the timeout"
        )
    } else if err.is_connect() {
        "could not connect to Gandi; check network access to the API and base_url".to_owned()
    } else {
        "the request to Gandi failed before an answer came back".to_owned()
    };
    Error::transient(format!("{route}: {what}")).with_source(err.without_url())
}

/// The error for a success answer whose body cannot be read.
pub(crate) fn unreadable(route: &Route, status: StatusCode, problem: impl fmt::Display) -> Error {
    Error::other(format!(
        "{route}: Gandi answered HTTP {} with a body this client cannot read: {problem}",
        status.as_u16()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dns01_core::ErrorKind;
    use http::HeaderValue;

    fn route() -> Route {
        Route {
            operation: "replace_txt",
            method: "PUT",
            target: "example.com/_acme-challenge.app/TXT".to_owned(),
        }
    }

    fn secret() -> Secret {
        Secret::from("tok3n-tok3n-tok3n")
    }

    fn headers(trace: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("Trace-Id", HeaderValue::from_str(trace).unwrap());
        h
    }

    #[test]
    fn shape_b_lists_each_field_with_its_description() {
        let body = br#"{"status": "error", "errors": [{"location": "body", "name": "rrset_ttl", "description": "60 is less than minimum value 300"}, {"location": "body", "description": "bad"}]}"#;
        let p = parse_body(body, &secret());
        assert_eq!(
            p.message,
            "rrset_ttl: 60 is less than minimum value 300; body: bad"
        );
        assert!(p.from_gandi);
    }

    #[test]
    fn shape_a_with_or_without_a_code_gives_gandis_message() {
        let with_code = br#"{"code": 403, "message": "Access was denied to this resource.", "object": "HTTPForbidden", "cause": "Forbidden"}"#;
        assert_eq!(
            parse_body(with_code, &secret()).message,
            "Access was denied to this resource."
        );
        let no_code = br#"{"message": "You must provide an access token or an API Key."}"#;
        assert_eq!(
            parse_body(no_code, &secret()).message,
            "You must provide an access token or an API Key."
        );
    }

    #[test]
    fn non_json_bodies_are_quoted_truncated_and_scrubbed() {
        let long = format!("<html>{}tok3n-tok3n-tok3n</html>", "x".repeat(10));
        let p = parse_body(long.as_bytes(), &secret());
        assert!(!p.from_gandi);
        assert!(p.message.contains("<redacted>"), "{}", p.message);
        assert!(!p.message.contains("tok3n"), "{}", p.message);
        let huge = "y".repeat(5000);
        let p = parse_body(huge.as_bytes(), &secret());
        assert!(p.message.len() < 220, "{}", p.message.len());
        assert!(p.message.ends_with("…\""));
        assert_eq!(parse_body(b"", &secret()).message, "(empty body)");
    }

    #[test]
    fn only_the_unknown_domain_404_means_the_zone_is_missing() {
        assert!(is_unknown_domain(
            br#"{"code": 404, "message": "Unknown domain", "object": "LocalizedHTTPNotFound", "cause": "Not Found"}"#
        ));
        assert!(!is_unknown_domain(
            br#"{"code": 404, "message": "The resource could not be found.", "object": "HTTPNotFound", "cause": "Not Found"}"#
        ));
        assert!(!is_unknown_domain(b"Unknown domain"));
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let mut h = HeaderMap::new();
        h.insert("Retry-After", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        h.insert(
            "Retry-After",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:50:07 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(
            "Retry-After",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:00:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert("Retry-After", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn statuses_map_to_the_kinds_callers_act_on() {
        let gandi = br#"{"code": 0, "message": "m"}"#;
        for (status, kind) in [
            (400, ErrorKind::InvalidInput),
            (401, ErrorKind::Authentication),
            (403, ErrorKind::Permission),
            (404, ErrorKind::ZoneNotFound),
            (409, ErrorKind::Conflict),
            (422, ErrorKind::InvalidInput),
            (429, ErrorKind::RateLimited),
            (500, ErrorKind::Transient),
            (503, ErrorKind::Transient),
            (418, ErrorKind::Other),
        ] {
            let e = from_status(
                &route(),
                StatusCode::from_u16(status).unwrap(),
                &HeaderMap::new(),
                gandi,
                &secret(),
            );
            assert_eq!(e.kind(), kind, "{status}");
        }
    }

    #[test]
    fn an_error_message_names_route_status_gandis_message_trace_id_and_fix() {
        let body = br#"{"code": 403, "message": "Access was denied to this resource.", "object": "HTTPForbidden", "cause": "Forbidden"}"#;
        let e = from_status(
            &route(),
            StatusCode::FORBIDDEN,
            &headers("trace-123"),
            body,
            &secret(),
        );
        assert_eq!(
            e.to_string(),
            "permission denied: PUT example.com/_acme-challenge.app/TXT: Gandi answered HTTP 403 Forbidden: \
             Access was denied to this resource. (Trace-Id: trace-123); the token lacks the \
             'Manage domain name technical configurations' permission on this domain"
        );
        // The upstream details are the source, reported once.
        assert_eq!(e.report(), e.to_string());
        let up = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<UpstreamError>())
            .unwrap();
        assert_eq!(up.trace_id.as_deref(), Some("trace-123"));
        assert_eq!(up.status, 403);
    }

    #[test]
    fn a_404_that_is_not_json_points_at_the_base_url() {
        let e = from_status(
            &route(),
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            b"404 page not found",
            &secret(),
        );
        assert_eq!(e.kind(), ErrorKind::Other);
        assert!(e.to_string().contains("check base_url"), "{e}");
    }
}
