//! TXT challenge records and rrsets.
//!
//! A [`TxtValue`] is the decoded value (an ACME key authorisation digest, for DNS-01): providers
//! own how it is encoded on the wire (quoting, escaping, 255-byte chunks) and always hand the
//! core decoded values, so values compare equal however an upstream returns them.

use std::fmt;

use crate::error::{Error, Result};
use crate::name::{Fqdn, ZoneName};

/// Longest TXT value accepted, in bytes. DNS-01 values are 43 bytes; longer values are allowed
/// for other uses of the library and are chunked by providers that need it.
pub const MAX_TXT_VALUE_LEN: usize = 4096;

/// TTL used when the caller gives none, in seconds (Gandi's minimum).
pub const DEFAULT_TTL: u32 = 300;

/// A decoded TXT value: non-empty, at most [`MAX_TXT_VALUE_LEN`] bytes, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxtValue(String);

impl TxtValue {
    /// Validates a decoded value.
    pub fn new(value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        if value.is_empty() {
            return Err(Error::invalid_input(
                "TXT value is empty; give the challenge key (cert-manager's request.key)",
            ));
        }
        if value.len() > MAX_TXT_VALUE_LEN {
            return Err(Error::invalid_input(format!(
                "TXT value is {} bytes long, more than the {MAX_TXT_VALUE_LEN} accepted; shorten it",
                value.len()
            )));
        }
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(Error::invalid_input(format!(
                "TXT value contains control character U+{:04X}; only printable characters are allowed",
                c as u32
            )));
        }
        Ok(Self(value))
    }

    /// The decoded value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TxtValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TxtValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxtValue({:?})", self.0)
    }
}

impl TryFrom<&str> for TxtValue {
    type Error = Error;
    fn try_from(value: &str) -> Result<Self> {
        Self::new(value)
    }
}

impl TryFrom<String> for TxtValue {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::new(value)
    }
}

/// One TXT value to present or clean up at a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtRecord {
    /// The absolute name of the record, e.g. `_acme-challenge.example.com`.
    pub name: Fqdn,
    /// The zone holding the name, if the caller knows it; otherwise the provider finds it.
    pub zone: Option<ZoneName>,
    /// The decoded value.
    pub value: TxtValue,
    /// Time to live in seconds; providers clamp it into their bounds.
    pub ttl: u32,
}

impl TxtRecord {
    /// A record with no known zone and the [`DEFAULT_TTL`].
    pub fn new(name: Fqdn, value: TxtValue) -> Self {
        Self {
            name,
            zone: None,
            value,
            ttl: DEFAULT_TTL,
        }
    }

    /// The same record in a known zone. Fails if the name is outside it.
    pub fn in_zone(mut self, zone: ZoneName) -> Result<Self> {
        self.name.check_in_zone(&zone)?;
        self.zone = Some(zone);
        Ok(self)
    }

    /// The same record with another TTL.
    #[must_use]
    pub fn with_ttl(mut self, ttl: u32) -> Self {
        self.ttl = ttl;
        self
    }
}

/// A whole TXT rrset as a store holds it: decoded values (order preserved, no duplicates) and
/// one TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtRrset {
    /// Time to live in seconds.
    pub ttl: u32,
    /// The decoded values.
    pub values: Vec<TxtValue>,
}

impl TxtRrset {
    /// Whether `value` is in the set.
    pub fn contains(&self, value: &TxtValue) -> bool {
        self.values.contains(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_up_to_the_limit_are_accepted_and_printable_text_is_kept_verbatim() {
        let v = TxtValue::new("a \"quoted\" \\ value é").unwrap();
        assert_eq!(v.as_str(), "a \"quoted\" \\ value é");
        assert!(TxtValue::new("x".repeat(1024)).is_ok());
        assert!(TxtValue::new("x".repeat(MAX_TXT_VALUE_LEN)).is_ok());
        let e = TxtValue::new("x".repeat(MAX_TXT_VALUE_LEN + 1)).unwrap_err();
        assert!(e.to_string().contains("4097 bytes"), "{e}");
    }

    #[test]
    fn empty_and_control_values_are_refused_with_the_reason() {
        assert!(TxtValue::new("").unwrap_err().to_string().contains("empty"));
        let e = TxtValue::new("a\nb").unwrap_err();
        assert!(e.to_string().contains("U+000A"), "{e}");
    }

    #[test]
    fn a_record_cannot_be_placed_in_a_zone_that_does_not_hold_it() {
        let r = TxtRecord::new(
            Fqdn::parse("_acme-challenge.a.example.com").unwrap(),
            TxtValue::new("k").unwrap(),
        );
        assert!(
            r.clone()
                .in_zone(ZoneName::parse("example.com").unwrap())
                .is_ok()
        );
        let e = r
            .in_zone(ZoneName::parse("example.org").unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("not inside zone example.org"), "{e}");
    }
}
