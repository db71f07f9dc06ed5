//! [`Secret`]: the one type the workspace holds credentials in (Gandi tokens and API keys,
//! TSIG keys, values read from Kubernetes Secrets).

use std::fmt;

/// A secret string (a token, an API key, a TSIG key). `Debug` and `Display` print
/// `<redacted>`; read it with [`Secret::expose`], and never log or format what it returns.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Never log or format the result.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (or only whitespace).
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_itself_and_can_be_read_on_purpose() {
        let s = Secret::from("s3cr3t");
        assert_eq!(
            format!("{s} {s:?} {:?}", Some(&s)),
            "<redacted> <redacted> Some(<redacted>)"
        );
        assert_eq!(s.expose(), "s3cr3t");
        assert!(Secret::new(" \n").is_empty());
        assert!(!s.is_empty());
    }
}
