//! The one error type of `dns01-core`, shared by every provider.
//!
//! Each variant is a kind a caller can act on: fix the credentials ([`Error::Authentication`]),
//! grant a permission ([`Error::Permission`]), wait and retry ([`Error::RateLimited`],
//! [`Error::Transient`]), or fix the input ([`Error::InvalidInput`]). Providers fill `message`
//! with everything a user needs to act (what failed, on which zone and record, the upstream's
//! status, message and trace id, and what to try next); the cause, if any, stays in `source`.

use std::fmt;
use std::time::Duration;

use crate::name::NameError;

/// A boxed error cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from a provider, a store, or the core itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The upstream rejected the credentials (wrong, expired or missing).
    #[error("authentication failed: {message}")]
    Authentication {
        /// What failed and what to do.
        message: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// The credentials are valid but lack a permission for this zone or operation.
    #[error("permission denied: {message}")]
    Permission {
        /// What failed and what to do.
        message: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// The zone does not exist, or is not visible to these credentials.
    #[error("zone not found: {message}")]
    ZoneNotFound {
        /// What failed and what to do.
        message: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// The upstream state conflicts with the operation (for example, the rrset already exists).
    #[error("conflict: {message}")]
    Conflict {
        /// What failed.
        message: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// The upstream asked us to slow down.
    #[error("rate limited: {message}")]
    RateLimited {
        /// What failed.
        message: String,
        /// How long the upstream asked us to wait, if it said.
        retry_after: Option<Duration>,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// The input (a name, a value, a TTL, a configuration field) is invalid.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// Which field, what is wrong with it, and how to fix it.
        message: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// A failure that may go away by itself: a timeout, a dropped connection, a 5xx answer.
    #[error("transient failure: {message}")]
    Transient {
        /// What failed.
        message: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// Anything else.
    #[error("{message}")]
    Other {
        /// What failed.
        message: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
}

/// The kind of an [`Error`], for matching without the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::Authentication`].
    Authentication,
    /// See [`Error::Permission`].
    Permission,
    /// See [`Error::ZoneNotFound`].
    ZoneNotFound,
    /// See [`Error::Conflict`].
    Conflict,
    /// See [`Error::RateLimited`].
    RateLimited,
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::Transient`].
    Transient,
    /// See [`Error::Other`].
    Other,
}

impl ErrorKind {
    /// A short lowercase label, suitable as a metrics label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authentication => "authentication",
            Self::Permission => "permission",
            Self::ZoneNotFound => "zone_not_found",
            Self::Conflict => "conflict",
            Self::RateLimited => "rate_limited",
            Self::InvalidInput => "invalid_input",
            Self::Transient => "transient",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// An [`Error::Authentication`] with this message and no source.
    pub fn authentication(message: impl Into<String>) -> Self {
        Self::Authentication {
            message: message.into(),
            source: None,
        }
    }
    /// An [`Error::Permission`] with this message and no source.
    pub fn permission(message: impl Into<String>) -> Self {
        Self::Permission {
            message: message.into(),
            source: None,
        }
    }
    /// An [`Error::ZoneNotFound`] with this message and no source.
    pub fn zone_not_found(message: impl Into<String>) -> Self {
        Self::ZoneNotFound {
            message: message.into(),
            source: None,
        }
    }
    /// An [`Error::Conflict`] with this message and no source.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
            source: None,
        }
    }
    /// An [`Error::RateLimited`] with this message and retry hint, and no source.
    pub fn rate_limited(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self::RateLimited {
            message: message.into(),
            retry_after,
            source: None,
        }
    }
    /// An [`Error::InvalidInput`] with this message and no source.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput {
            message: message.into(),
            source: None,
        }
    }
    /// An [`Error::Transient`] with this message and no source.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            source: None,
        }
    }
    /// An [`Error::Other`] with this message and no source.
    pub fn other(message: impl Into<String>) -> Self {
        Self::Other {
            message: message.into(),
            source: None,
        }
    }

    /// The same error with `source` as its cause.
    #[must_use]
    pub fn with_source(mut self, cause: impl Into<BoxError>) -> Self {
        let slot = match &mut self {
            Self::Authentication { source, .. }
            | Self::Permission { source, .. }
            | Self::ZoneNotFound { source, .. }
            | Self::Conflict { source, .. }
            | Self::RateLimited { source, .. }
            | Self::InvalidInput { source, .. }
            | Self::Transient { source, .. }
            | Self::Other { source, .. } => source,
        };
        *slot = Some(cause.into());
        self
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Authentication { .. } => ErrorKind::Authentication,
            Self::Permission { .. } => ErrorKind::Permission,
            Self::ZoneNotFound { .. } => ErrorKind::ZoneNotFound,
            Self::Conflict { .. } => ErrorKind::Conflict,
            Self::RateLimited { .. } => ErrorKind::RateLimited,
            Self::InvalidInput { .. } => ErrorKind::InvalidInput,
            Self::Transient { .. } => ErrorKind::Transient,
            Self::Other { .. } => ErrorKind::Other,
        }
    }

    /// The message, without the kind prefix and without the causes.
    pub fn message(&self) -> &str {
        match self {
            Self::Authentication { message, .. }
            | Self::Permission { message, .. }
            | Self::ZoneNotFound { message, .. }
            | Self::Conflict { message, .. }
            | Self::RateLimited { message, .. }
            | Self::InvalidInput { message, .. }
            | Self::Transient { message, .. }
            | Self::Other { message, .. } => message,
        }
    }

    /// Whether retrying the same operation may succeed: rate limits and transient failures.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::RateLimited | ErrorKind::Transient)
    }

    /// How long the upstream asked us to wait, for [`Error::RateLimited`].
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error and all its causes, joined by `": "`: the form to show a user.
    pub fn report(&self) -> String {
        report(self)
    }
}

/// Any error and its chain of causes, joined by `": "`.
pub fn report(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(cause) = cur {
        let text = cause.to_string();
        // Skip a cause whose text the message already carries.
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = cause.source();
    }
    out
}

impl From<NameError> for Error {
    fn from(err: NameError) -> Self {
        Self::InvalidInput {
            message: err.to_string(),
            source: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rate_limits_and_transient_failures_are_retryable() {
        assert!(Error::transient("x").is_retryable());
        assert!(Error::rate_limited("x", None).is_retryable());
        for e in [
            Error::authentication("x"),
            Error::permission("x"),
            Error::zone_not_found("x"),
            Error::conflict("x"),
            Error::invalid_input("x"),
            Error::other("x"),
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
    }

    #[test]
    fn sources_are_kept_and_reported_once() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline passed");
        let e = Error::transient("PUT example.com/_acme-challenge/TXT").with_source(io);
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(
            e.report(),
            "transient failure: PUT example.com/_acme-challenge/TXT: deadline passed"
        );
        assert_eq!(e.kind(), ErrorKind::Transient);
    }

    #[test]
    fn retry_after_is_carried_by_rate_limits_only() {
        let d = Duration::from_secs(7);
        assert_eq!(Error::rate_limited("slow", Some(d)).retry_after(), Some(d));
        assert_eq!(Error::transient("x").retry_after(), None);
    }

    #[test]
    fn name_errors_become_invalid_input_naming_the_input() {
        let e: Error = crate::name::Fqdn::parse("a/b").unwrap_err().into();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("\"a/b\""), "{e}");
    }
}
