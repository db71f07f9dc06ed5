//! The emulator's data: zones, rrsets and tokens, shared by the HTTP API and the DNS server.

use std::collections::{BTreeMap, BTreeSet};

use super::txt;

/// Organisation id given to zones and tokens that do not name one.
pub const DEFAULT_ORG: &str = "11111111-1111-4111-8111-111111111111";

/// What a token may do on a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Read zones and records; writing answers 403.
    Read,
    /// Read and write records.
    Write,
}

/// Which authentication scheme a credential is presented with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer <pat>`: a personal access token.
    Bearer,
    /// `Authorization: Apikey <key>`: a legacy API key.
    Apikey,
}

/// A credential the emulator accepts.
///
/// By default a token belongs to [`DEFAULT_ORG`], has [`Access::Write`] on every domain of its
/// organisation and is not expired.
#[derive(Debug, Clone)]
pub struct Token {
    pub(crate) scheme: Scheme,
    pub(crate) secret: String,
    pub(crate) org: String,
    pub(crate) access: Access,
    pub(crate) domains: Option<BTreeMap<String, Access>>,
    pub(crate) shared_orgs: BTreeSet<String>,
    pub(crate) expired: bool,
}

impl Token {
    /// A personal access token, presented as `Authorization: Bearer <secret>`.
    pub fn pat(secret: impl Into<String>) -> Self {
        Self::new(Scheme::Bearer, secret.into())
    }

    /// A legacy API key, presented as `Authorization: Apikey <key>`.
    pub fn api_key(key: impl Into<String>) -> Self {
        Self::new(Scheme::Apikey, key.into())
    }

    fn new(scheme: Scheme, secret: String) -> Self {
        Self {
            scheme,
            secret,
            org: DEFAULT_ORG.to_string(),
            access: Access::Write,
            domains: None,
            shared_orgs: BTreeSet::new(),
            expired: false,
        }
    }

    /// The organisation the token belongs to.
    #[must_use]
    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.org = org.into();
        self
    }

    /// The access the token has on all domains of its organisation (when no per-domain list
    /// is given) and on the domains of shared organisations.
    #[must_use]
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Shorthand for `.access(Access::Read)`.
    #[must_use]
    pub fn read_only(self) -> Self {
        self.access(Access::Read)
    }

    /// Restricts the token to the listed domains (call once per domain); a token with such a
    /// list sees no other domain, whatever its organisation.
    #[must_use]
    pub fn domain(mut self, fqdn: &str, access: Access) -> Self {
        self.domains
            .get_or_insert_with(BTreeMap::new)
            .insert(normalize_zone(fqdn), access);
        self
    }

    /// Grants the token the domains of another organisation, visible only when a request
    /// passes `sharing_id=<org>`.
    #[must_use]
    pub fn shared_org(mut self, org: impl Into<String>) -> Self {
        self.shared_orgs.insert(org.into());
        self
    }

    /// Marks the token expired: it is recognised but answered with the 401 shape A body.
    #[must_use]
    pub fn expired(mut self) -> Self {
        self.expired = true;
        self
    }

    /// The access this token has on a domain owned by `zone_org`, given the request's
    /// `sharing_id`; `None` when the domain is not visible.
    pub(crate) fn access_to(
        &self,
        zone: &str,
        zone_org: &str,
        sharing_id: Option<&str>,
    ) -> Option<Access> {
        let org_ok = match sharing_id {
            None => zone_org == self.org,
            Some(sid) => sid == zone_org && (sid == self.org || self.shared_orgs.contains(sid)),
        };
        if !org_ok {
            return None;
        }
        match &self.domains {
            None => Some(self.access),
            Some(list) => list.get(zone).copied(),
        }
    }
}

/// One rrset as stored: values in Gandi's presentation form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rrset {
    pub(crate) ttl: u32,
    pub(crate) values: Vec<String>,
}

/// A snapshot of one stored rrset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrsetSnapshot {
    /// Name relative to the zone, `@` for the apex.
    pub name: String,
    /// Record type, upper case (`TXT`, `CNAME`, …).
    pub rtype: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Values exactly as stored and returned by the API (TXT values quoted).
    pub values: Vec<String>,
}

/// One hosted domain.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub(crate) org: String,
    /// Keyed by (relative name, type).
    pub(crate) rrsets: BTreeMap<(String, String), Rrset>,
}

/// Everything the API and the DNS server read and write.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) zones: BTreeMap<String, Zone>,
    pub(crate) tokens: Vec<Token>,
    /// Incremented on every write; served as the SOA serial.
    pub(crate) serial: u32,
}

impl State {
    pub(crate) fn add_zone(&mut self, name: &str, org: &str) {
        self.zones
            .entry(normalize_zone(name))
            .or_insert_with(|| Zone {
                org: org.to_string(),
                rrsets: BTreeMap::new(),
            });
    }

    pub(crate) fn touch(&mut self) {
        self.serial = self.serial.wrapping_add(1);
    }

    /// The zone that holds `fqdn` (longest suffix match) and the name relative to it.
    pub(crate) fn find_zone(&self, fqdn: &str) -> Option<(String, String)> {
        let name = normalize_zone(fqdn);
        let mut candidate = name.as_str();
        loop {
            if self.zones.contains_key(candidate) {
                let rel = if candidate.len() == name.len() {
                    "@".to_string()
                } else {
                    name[..name.len() - candidate.len() - 1].to_string()
                };
                return Some((candidate.to_string(), rel));
            }
            let (_, rest) = candidate.split_once('.')?;
            candidate = rest;
        }
    }

    pub(crate) fn snapshot(&self, zone: &str) -> Vec<RrsetSnapshot> {
        self.zones
            .get(zone)
            .map(|z| {
                z.rrsets
                    .iter()
                    .map(|((name, rtype), r)| RrsetSnapshot {
                        name: name.clone(),
                        rtype: rtype.clone(),
                        ttl: r.ttl,
                        values: r.values.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Lower-cases a domain, converts IDN labels to punycode and strips one trailing dot.
pub fn normalize_zone(name: &str) -> String {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    to_ascii_lower(trimmed)
}

fn to_ascii_lower(name: &str) -> String {
    if name.is_ascii() {
        name.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(name).unwrap_or_else(|_| name.to_lowercase())
    }
}

/// Why an rrset name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NameError {
    /// Empty name.
    Empty,
    /// Absolute name outside the zone.
    OutsideZone,
}

/// Normalises an `rrset_name` for `zone`: lower case, punycode, absolute names inside the zone
/// made relative, the apex as `@`.
pub(crate) fn normalize_rrset_name(zone: &str, name: &str) -> Result<String, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name == "@" {
        return Ok("@".to_string());
    }
    if let Some(abs) = name.strip_suffix('.') {
        let abs = to_ascii_lower(abs);
        if abs == zone {
            return Ok("@".to_string());
        }
        return match abs.strip_suffix(zone).and_then(|p| p.strip_suffix('.')) {
            Some(rel) if !rel.is_empty() => Ok(rel.to_string()),
            _ => Err(NameError::OutsideZone),
        };
    }
    Ok(to_ascii_lower(name))
}

/// Resolves a name given to the test helpers: `@`, a relative name, an absolute name with a
/// trailing dot, or a name ending with the zone (taken as absolute).
pub(crate) fn helper_name(zone: &str, name: &str) -> String {
    let lower = normalize_zone(name);
    if name.ends_with('.') || lower == zone || lower.ends_with(&format!(".{zone}")) {
        if lower == zone {
            return "@".to_string();
        }
        return lower[..lower.len() - zone.len() - 1].to_string();
    }
    if lower.is_empty() {
        "@".to_string()
    } else {
        lower
    }
}

/// Stored form of a value of type `rtype`: TXT values in quoted presentation form, others
/// trimmed.
pub(crate) fn store_value(rtype: &str, value: &str) -> String {
    if rtype == "TXT" {
        txt::to_presentation(value)
    } else {
        value.trim().to_string()
    }
}

/// Record types LiveDNS accepts.
pub(crate) const KNOWN_TYPES: &[&str] = &[
    "A",
    "AAAA",
    "ALIAS",
    "CAA",
    "CDS",
    "CNAME",
    "DNAME",
    "DS",
    "KEY",
    "LOC",
    "MX",
    "NAPTR",
    "NS",
    "OPENPGPKEY",
    "PTR",
    "RP",
    "SPF",
    "SRV",
    "SSHFP",
    "TLSA",
    "TXT",
    "WKS",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_names_inside_the_zone_become_relative() {
        assert_eq!(
            normalize_rrset_name("example.com", "X.Acme.Example.COM."),
            Ok("x.acme".to_string())
        );
        assert_eq!(
            normalize_rrset_name("example.com", "example.com."),
            Ok("@".to_string())
        );
    }

    #[test]
    fn absolute_names_outside_the_zone_are_refused() {
        assert_eq!(
            normalize_rrset_name("example.com", "x.example.org."),
            Err(NameError::OutsideZone)
        );
        assert_eq!(
            normalize_rrset_name("example.com", "xexample.com."),
            Err(NameError::OutsideZone)
        );
    }

    #[test]
    fn the_longest_zone_suffix_wins() {
        let mut s = State::default();
        s.add_zone("example.com", DEFAULT_ORG);
        s.add_zone("sub.example.com", DEFAULT_ORG);
        assert_eq!(
            s.find_zone("a.sub.example.com."),
            Some(("sub.example.com".to_string(), "a".to_string()))
        );
        assert_eq!(
            s.find_zone("EXAMPLE.com"),
            Some(("example.com".to_string(), "@".to_string()))
        );
        assert_eq!(s.find_zone("example.org"), None);
    }

    #[test]
    fn shared_domains_need_the_matching_sharing_id() {
        let t = Token::pat("t").org("a").shared_org("b");
        assert_eq!(t.access_to("x.com", "a", None), Some(Access::Write));
        assert_eq!(t.access_to("y.com", "b", None), None);
        assert_eq!(t.access_to("y.com", "b", Some("b")), Some(Access::Write));
        assert_eq!(t.access_to("x.com", "a", Some("b")), None);
        assert_eq!(t.access_to("z.com", "c", Some("c")), None);
    }

    #[test]
    fn idn_names_are_stored_as_punycode() {
        assert_eq!(normalize_zone("Bücher.example."), "xn--bcher-kva.example");
    }
}
