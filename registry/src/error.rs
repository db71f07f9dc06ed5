//! The crate's error ([`Error`]) and the OCI distribution wire error body ([`ErrorBody`]).
//!
//! [`Error`] sorts what a registry answered into kinds a caller can act on (authenticate,
//! ask for more rights, wait and retry, wait for maintenance to end, fix a name); the
//! registry's own code and message travel along so that a person reading the error sees
//! them. [`ErrorBody`] is `{"errors":[{"code","message","detail"}]}` as registries send it
//! and as a gateway answers it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of name a [`Error::InvalidName`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameKind {
    /// A repository name (`project/app`).
    Repository,
    /// A tag (`v1.2`).
    Tag,
    /// A digest (`sha256:<64 hex>`).
    Digest,
    /// A tag or a digest.
    Reference,
    /// A full image reference (`host[:port]/name[:tag][@digest]`).
    ImageRef,
    /// A registry host (`host[:port]`).
    Host,
    /// A platform (`os/arch[/variant]`).
    Platform,
    /// A token scope (`repository:name:pull,push`).
    Scope,
    /// A `WWW-Authenticate` header value.
    Challenge,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Repository => "repository name",
            Self::Tag => "tag",
            Self::Digest => "digest",
            Self::Reference => "reference",
            Self::ImageRef => "image reference",
            Self::Host => "registry host",
            Self::Platform => "platform",
            Self::Scope => "token scope",
            Self::Challenge => "WWW-Authenticate challenge",
        })
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name, tag, digest, reference, scope or header did not parse. `reason` says what is
    /// wrong and how to write it instead.
    #[error("invalid {kind} `{value}`: {reason}")]
    InvalidName {
        /// What was being parsed.
        kind: NameKind,
        /// The input, cut to 256 characters.
        value: String,
        /// What is wrong, and the fix.
        reason: String,
    },

    /// The caller asked for something the client refuses before sending it (for example a
    /// manifest delete by tag, which registries answer with 400 `DIGEST_INVALID`).
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong, and the fix.
        message: String,
    },

    /// 401: the registry wants (other) credentials, or the token endpoint refused them.
    #[error("unauthorized at {url}: {message}")]
    Unauthorized {
        /// The URL that answered 401 (no credentials in it).
        url: String,
        /// The registry's code and message.
        message: String,
    },

    /// 403: authenticated, but not allowed to do this.
    #[error("denied at {url}: {message}")]
    Denied {
        /// The URL that answered 403.
        url: String,
        /// The registry's code and message.
        message: String,
    },

    /// 404: the repository, manifest or blob does not exist (or is hidden from this caller).
    #[error("not found at {url}: {message}")]
    NotFound {
        /// The URL that answered 404.
        url: String,
        /// The OCI code (`MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`, `NAME_UNKNOWN`), when the body had one.
        code: Option<ErrorCode>,
        /// The registry's message.
        message: String,
    },

    /// 429: too many requests; retry after `retry_after` when the registry said.
    #[error("rate limited at {url}{}: {message}", retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// The URL that answered 429.
        url: String,
        /// From the `Retry-After` header (seconds or an HTTP date).
        retry_after: Option<Duration>,
        /// The registry's code and message.
        message: String,
    },

    /// The registry is read-only (CNCF Distribution's `maintenance.readonly`, which answers
    /// every write with 405 `text/plain` `Method not allowed`): wait for maintenance to end.
    #[error(
        "the registry is read-only (maintenance) at {url}: writes are refused until it is switched back to read-write"
    )]
    ReadOnly {
        /// The URL that answered 405.
        url: String,
    },

    /// 405 `UNSUPPORTED` (or another 405 with an OCI body): this registry does not do this
    /// operation at all (a pull-through cache refuses pushes and deletes).
    #[error("unsupported at {url}: {message}")]
    Unsupported {
        /// The URL that answered.
        url: String,
        /// The registry's code and message.
        message: String,
    },

    /// No answer: connection refused, DNS, TLS, or a timeout.
    #[error("registry unreachable at {url}")]
    Unreachable {
        /// The URL that was requested.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },

    /// An answer that broke off while its body was being read.
    #[error("the answer from {url} broke off")]
    Interrupted {
        /// The URL that was being read.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },

    /// Any other answer that is not a success.
    #[error("registry answered {status} at {url}{}: {message}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
    Upstream {
        /// The URL that answered.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The first OCI code of the body, if it had one.
        code: Option<ErrorCode>,
        /// The registry's message (or the start of a non-OCI body).
        message: String,
    },

    /// A success answer whose content is not what the protocol says (bad JSON, a missing
    /// header, a `Location` that is not a URL).
    #[error("unexpected answer from {url}: {message}")]
    InvalidResponse {
        /// The URL that answered.
        url: String,
        /// What was wrong.
        message: String,
    },

    /// Content whose digest is not the one asked for (a manifest fetched by digest, a blob).
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },

    /// A signing key that cannot be used (not PKCS#8, not ECDSA P-256 or RSA).
    #[error("unusable signing key: {message}")]
    Key {
        /// What is wrong, and the fix.
        message: String,
    },

    /// The HTTP client could not be built (a bad CA certificate, a bad base URL).
    #[error("cannot build the registry client: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn invalid(kind: NameKind, value: &str, reason: impl Into<String>) -> Self {
        let value: String = value.chars().take(256).collect();
        Self::InvalidName {
            kind,
            value,
            reason: reason.into(),
        }
    }

    /// Whether retrying the same request later may succeed (rate limits, an unreachable
    /// registry, 5xx answers, a read-only window).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. }
            | Self::Unreachable { .. }
            | Self::Interrupted { .. }
            | Self::ReadOnly { .. } => true,
            Self::Upstream { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// An OCI distribution error body: `{"errors":[{"code","message","detail"}]}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The errors, most important first.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub errors: Vec<ErrorInfo>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ErrorInfo>, D::Error> {
    Ok(Option::<Vec<ErrorInfo>>::deserialize(d)?.unwrap_or_default())
}

impl ErrorBody {
    /// A body with one error.
    pub fn single(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            errors: vec![ErrorInfo {
                code,
                message: message.into(),
                detail: None,
            }],
        }
    }

    /// `CODE: message; CODE: message` for people to read (details left out).
    pub fn summary(&self) -> String {
        self.errors
            .iter()
            .map(|e| {
                if e.message.is_empty() {
                    e.code.to_string()
                } else {
                    format!("{}: {}", e.code, e.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One entry of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The error code.
    pub code: ErrorCode,
    /// A message for people.
    #[serde(default)]
    pub message: String,
    /// Anything the registry adds (Distribution puts the missing scopes of a 401 here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// The OCI distribution spec's error codes; any other code is kept as [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN`: blob unknown to registry.
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`: blob upload invalid.
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`: blob upload unknown to registry.
    BlobUploadUnknown,
    /// `DIGEST_INVALID`: provided digest did not match uploaded content.
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`: manifest references a manifest or blob unknown to registry.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`: manifest invalid.
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`: manifest unknown to registry.
    ManifestUnknown,
    /// `NAME_INVALID`: invalid repository name.
    NameInvalid,
    /// `NAME_UNKNOWN`: repository name not known to registry.
    NameUnknown,
    /// `SIZE_INVALID`: provided length did not match content length.
    SizeInvalid,
    /// `UNAUTHORIZED`: authentication required.
    Unauthorized,
    /// `DENIED`: requested access to the resource is denied.
    Denied,
    /// `UNSUPPORTED`: the operation is unsupported.
    Unsupported,
    /// `TOOMANYREQUESTS`: too many requests.
    TooManyRequests,
    /// Any other code, as sent (Distribution's `UNKNOWN`, `PAGINATION_NUMBER_INVALID`, ...).
    Other(String),
}

impl ErrorCode {
    const KNOWN: [(&'static str, Self); 14] = [
        ("BLOB_UNKNOWN", Self::BlobUnknown),
        ("BLOB_UPLOAD_INVALID", Self::BlobUploadInvalid),
        ("BLOB_UPLOAD_UNKNOWN", Self::BlobUploadUnknown),
        ("DIGEST_INVALID", Self::DigestInvalid),
        ("MANIFEST_BLOB_UNKNOWN", Self::ManifestBlobUnknown),
        ("MANIFEST_INVALID", Self::ManifestInvalid),
        ("MANIFEST_UNKNOWN", Self::ManifestUnknown),
        ("NAME_INVALID", Self::NameInvalid),
        ("NAME_UNKNOWN", Self::NameUnknown),
        ("SIZE_INVALID", Self::SizeInvalid),
        ("UNAUTHORIZED", Self::Unauthorized),
        ("DENIED", Self::Denied),
        ("UNSUPPORTED", Self::Unsupported),
        ("TOOMANYREQUESTS", Self::TooManyRequests),
    ];

    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        if let Self::Other(s) = self {
            return s;
        }
        Self::KNOWN
            .iter()
            .find(|(_, c)| c == self)
            .map_or("UNKNOWN", |(s, _)| s)
    }

    /// The HTTP status the spec pairs with this code (400 for codes it does not list).
    pub fn status(&self) -> u16 {
        match self {
            Self::BlobUnknown
            | Self::BlobUploadUnknown
            | Self::ManifestUnknown
            | Self::NameUnknown => 404,
            Self::Unauthorized => 401,
            Self::Denied => 403,
            Self::Unsupported => 405,
            Self::TooManyRequests => 429,
            Self::BlobUploadInvalid
            | Self::DigestInvalid
            | Self::ManifestBlobUnknown
            | Self::ManifestInvalid
            | Self::NameInvalid
            | Self::SizeInvalid
            | Self::Other(_) => 400,
        }
    }
}

impl From<&str> for ErrorCode {
    fn from(s: &str) -> Self {
        Self::KNOWN
            .iter()
            .find(|(name, _)| *name == s)
            .map_or_else(|| Self::Other(s.to_owned()), |(_, c)| c.clone())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::from(s.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> String {
        let path = format!("{}/../testdata/registry/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn distribution_unauthorized_body_parses_with_its_detail_list() {
        let body: ErrorBody = serde_json::from_str(&golden("error-unauthorized.json")).unwrap();
        assert_eq!(body.errors.len(), 1);
        assert_eq!(body.errors[0].code, ErrorCode::Unauthorized);
        assert_eq!(body.errors[0].message, "authentication required");
        let detail = body.errors[0].detail.as_ref().unwrap();
        assert_eq!(detail[0]["Name"], "proj-a/app");
        assert_eq!(detail[0]["Action"], "pull");
        assert_eq!(body.summary(), "UNAUTHORIZED: authentication required");
    }

    #[test]
    fn unknown_codes_are_kept_as_sent_and_serialised_back_unchanged() {
        let text = golden("error-unknown-code.json");
        let body: ErrorBody = serde_json::from_str(&text).unwrap();
        assert_eq!(
            body.errors[0].code,
            ErrorCode::Other("PAGINATION_NUMBER_INVALID".into())
        );
        assert_eq!(body.errors[1].code, ErrorCode::TooManyRequests);
        assert_eq!(body.errors[1].message, "");
        let again: serde_json::Value = serde_json::to_value(&body).unwrap();
        let original: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(again["errors"][0], original["errors"][0]);
        assert_eq!(again["errors"][1]["code"], "TOOMANYREQUESTS");
    }

    #[test]
    fn every_spec_code_round_trips_through_its_wire_name() {
        for (name, code) in ErrorCode::KNOWN {
            assert_eq!(ErrorCode::from(name), code);
            assert_eq!(code.as_str(), name);
            assert_ne!(code.status(), 0);
        }
        assert_eq!(ErrorCode::TooManyRequests.status(), 429);
        assert_eq!(ErrorCode::ManifestUnknown.status(), 404);
    }

    #[test]
    fn a_null_error_list_reads_as_empty() {
        let body: ErrorBody = serde_json::from_str(r#"{"errors":null}"#).unwrap();
        assert!(body.errors.is_empty());
    }

    #[test]
    fn rate_limit_message_says_when_to_retry() {
        let e = Error::RateLimited {
            url: "http://r/v2/".into(),
            retry_after: Some(Duration::from_secs(7)),
            message: "TOOMANYREQUESTS: slow down".into(),
        };
        assert_eq!(
            e.to_string(),
            "rate limited at http://r/v2/ (retry after 7 s): TOOMANYREQUESTS: slow down"
        );
        assert!(e.is_retryable());
    }
}
