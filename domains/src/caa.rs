//! CAA evaluation (RFC 8659): may the issuer's CA issue for a name?
//!
//! The **relevant RRset** is the first non-empty CAA RRset found walking from the name up
//! through its parents. Within it:
//! - a record with the issuer-critical flag and a tag this code does not know forbids issuance;
//! - for a wildcard certificate the `issuewild` records decide if there are any, else `issue`;
//!   for a plain name the `issue` records decide;
//! - with no deciding record, any CA may issue; otherwise the CA must be named by one of them
//!   (`issue "letsencrypt.org"`, parameters after `;` ignored); an empty value (`issue ";"`)
//!   names no CA.
//!
//! [`evaluate`] is pure: the checker gives it the RRsets it found.

use std::fmt;

use dns01_core::Fqdn;

/// One CAA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaaRecord {
    /// The issuer-critical flag (bit 128 of the flags).
    pub critical: bool,
    /// The property tag (`issue`, `issuewild`, `iodef`, ...), case-insensitive.
    pub tag: String,
    /// The property value, as text.
    pub value: String,
}

impl CaaRecord {
    /// A record from its parts.
    pub fn new(critical: bool, tag: &str, value: &str) -> Self {
        Self {
            critical,
            tag: tag.to_owned(),
            value: value.to_owned(),
        }
    }

    /// The CA domain an `issue`/`issuewild` value names, lowercase; `None` for `;` or empty.
    pub fn issuer_domain(&self) -> Option<String> {
        let domain = self.value.split(';').next().unwrap_or("").trim();
        (!domain.is_empty()).then(|| domain.trim_end_matches('.').to_ascii_lowercase())
    }

    fn tag_is(&self, tag: &str) -> bool {
        self.tag.eq_ignore_ascii_case(tag)
    }
}

impl fmt::Display for CaaRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = if self.critical { 128 } else { 0 };
        write!(f, "CAA {flags} {} \"{}\"", self.tag, self.value)
    }
}

/// The CAA records at one name (possibly none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaaRrset {
    /// The owner name.
    pub name: Fqdn,
    /// Its CAA records.
    pub records: Vec<CaaRecord>,
}

/// Property tags defined by RFC 8659 and its registry; any other tag with the critical flag
/// forbids issuance.
const KNOWN_TAGS: &[&str] = &[
    "issue",
    "issuewild",
    "iodef",
    "issuemail",
    "issuevmc",
    "contactemail",
    "contactphone",
];

/// What CAA says about one CA and one name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaaVerdict {
    /// No CAA record at the name or any parent checked: any CA may issue.
    NoPolicy,
    /// The relevant RRset (at `at`) allows the CA.
    Allowed {
        /// Where the relevant RRset is.
        at: Fqdn,
    },
    /// The relevant RRset forbids the CA.
    Forbidden(CaaBlock),
}

impl CaaVerdict {
    /// Whether the CA may issue.
    pub fn allows(&self) -> bool {
        !matches!(self, Self::Forbidden(_))
    }
}

/// Which record blocks which CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaaBlock {
    /// The owner of the relevant RRset.
    pub at: Fqdn,
    /// The CA domain that is refused (`letsencrypt.org`).
    pub ca: String,
    /// Whether the refused certificate name is a wildcard.
    pub wildcard: bool,
    /// Why.
    pub reason: BlockReason,
}

/// Why a CAA RRset forbids a CA.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockReason {
    /// The deciding records name other CAs only.
    NotListed {
        /// The CAs they allow.
        allowed: Vec<String>,
        /// The deciding records, as text.
        records: Vec<String>,
    },
    /// The deciding records name no CA at all (`issue ";"`).
    NoneAllowed {
        /// The deciding records, as text.
        records: Vec<String>,
    },
    /// A critical record with a tag the CA must understand but this checker does not know.
    UnknownCritical {
        /// The record, as text.
        record: String,
    },
}

impl fmt::Display for CaaBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at.as_str();
        let ca = &self.ca;
        let what = if self.wildcard {
            "wildcard certificates"
        } else {
            "certificates"
        };
        match &self.reason {
            BlockReason::NotListed { allowed, records } => write!(
                f,
                "CAA record at {at} allows only {} for {what}, not {ca} ({}); add `{at}. CAA 0 {} \"{ca}\"` or use an issuer of an allowed CA",
                allowed.join(", "),
                records.join("; "),
                if self.wildcard { "issuewild" } else { "issue" },
            ),
            BlockReason::NoneAllowed { records } => write!(
                f,
                "CAA record at {at} forbids every CA for {what} ({}); add `{at}. CAA 0 {} \"{ca}\"`",
                records.join("; "),
                if self.wildcard { "issuewild" } else { "issue" },
            ),
            BlockReason::UnknownCritical { record } => write!(
                f,
                "CAA record at {at} `{record}` is critical with a tag no CA is required to know, so {ca} must refuse; remove the critical flag or the record"
            ),
        }
    }
}

/// Evaluates CAA for `ca` (the CA's issuer domain, e.g. `letsencrypt.org`) and a certificate
/// name that is a wildcard or not. `rrsets` go from the name upwards (`app.customer.com`,
/// `customer.com`, ...); the first non-empty one is the relevant RRset.
pub fn evaluate(rrsets: &[CaaRrset], ca: &str, wildcard: bool) -> CaaVerdict {
    let ca = ca.trim_end_matches('.').to_ascii_lowercase();
    let Some(relevant) = rrsets.iter().find(|r| !r.records.is_empty()) else {
        return CaaVerdict::NoPolicy;
    };
    let block = |reason| {
        CaaVerdict::Forbidden(CaaBlock {
            at: relevant.name.clone(),
            ca: ca.clone(),
            wildcard,
            reason,
        })
    };
    if let Some(r) = relevant
        .records
        .iter()
        .find(|r| r.critical && !KNOWN_TAGS.iter().any(|t| r.tag_is(t)))
    {
        return block(BlockReason::UnknownCritical {
            record: r.to_string(),
        });
    }
    let issue: Vec<&CaaRecord> = relevant
        .records
        .iter()
        .filter(|r| r.tag_is("issue"))
        .collect();
    let issuewild: Vec<&CaaRecord> = relevant
        .records
        .iter()
        .filter(|r| r.tag_is("issuewild"))
        .collect();
    let deciding = if wildcard && !issuewild.is_empty() {
        issuewild
    } else {
        issue
    };
    if deciding.is_empty() {
        return CaaVerdict::Allowed {
            at: relevant.name.clone(),
        };
    }
    let allowed: Vec<String> = deciding.iter().filter_map(|r| r.issuer_domain()).collect();
    if allowed.contains(&ca) {
        return CaaVerdict::Allowed {
            at: relevant.name.clone(),
        };
    }
    let records = deciding.iter().map(|r| r.to_string()).collect();
    if allowed.is_empty() {
        block(BlockReason::NoneAllowed { records })
    } else {
        block(BlockReason::NotListed { allowed, records })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrset(name: &str, records: &[(bool, &str, &str)]) -> CaaRrset {
        CaaRrset {
            name: Fqdn::parse(name).unwrap(),
            records: records
                .iter()
                .map(|(c, t, v)| CaaRecord::new(*c, t, v))
                .collect(),
        }
    }

    /// (rrsets from the name up, wildcard, expected: None = allowed, Some(text in message)).
    #[test]
    fn caa_decides_per_rfc_8659_and_names_the_blocking_record() {
        let le = "letsencrypt.org";
        let cases: Vec<(&str, Vec<CaaRrset>, bool, Option<&str>)> = vec![
            (
                "no caa anywhere",
                vec![rrset("app.customer.com", &[]), rrset("customer.com", &[])],
                false,
                None,
            ),
            (
                "parent allows the ca",
                vec![
                    rrset("app.customer.com", &[]),
                    rrset("customer.com", &[(false, "issue", "letsencrypt.org")]),
                ],
                false,
                None,
            ),
            (
                "parent allows another ca only",
                vec![
                    rrset("app.customer.com", &[]),
                    rrset("customer.com", &[(false, "issue", "digicert.com")]),
                ],
                false,
                Some(
                    "CAA record at customer.com allows only digicert.com for certificates, not letsencrypt.org",
                ),
            ),
            (
                "the name's own rrset is relevant, the parent's is not consulted",
                vec![
                    rrset("app.customer.com", &[(false, "issue", "letsencrypt.org")]),
                    rrset("customer.com", &[(false, "issue", "digicert.com")]),
                ],
                false,
                None,
            ),
            (
                "the name's own rrset forbids even if the parent allows",
                vec![
                    rrset(
                        "app.customer.com",
                        &[(false, "issue", "digicert.com; account=1")],
                    ),
                    rrset("customer.com", &[(false, "issue", "letsencrypt.org")]),
                ],
                false,
                Some("CAA record at app.customer.com allows only digicert.com"),
            ),
            (
                "an empty issue value forbids all",
                vec![rrset("customer.com", &[(false, "issue", ";")])],
                false,
                Some("forbids every CA"),
            ),
            (
                "parameters and case do not matter",
                vec![rrset(
                    "customer.com",
                    &[(false, "ISSUE", "LetsEncrypt.org; validationmethods=dns-01")],
                )],
                false,
                None,
            ),
            (
                "only iodef means any ca",
                vec![rrset(
                    "customer.com",
                    &[(false, "iodef", "mailto:sec@customer.com")],
                )],
                false,
                None,
            ),
            (
                "critical unknown tag forbids",
                vec![rrset(
                    "customer.com",
                    &[(false, "issue", "letsencrypt.org"), (true, "tbs", "x")],
                )],
                false,
                Some("`CAA 128 tbs \"x\"` is critical"),
            ),
            (
                "non-critical unknown tag is ignored",
                vec![rrset(
                    "customer.com",
                    &[(false, "issue", "letsencrypt.org"), (false, "tbs", "x")],
                )],
                false,
                None,
            ),
            (
                "issuewild decides for a wildcard",
                vec![rrset(
                    "customer.com",
                    &[
                        (false, "issue", "letsencrypt.org"),
                        (false, "issuewild", ";"),
                    ],
                )],
                true,
                Some("forbids every CA for wildcard certificates"),
            ),
            (
                "issuewild does not apply to a plain name",
                vec![rrset(
                    "customer.com",
                    &[
                        (false, "issue", "letsencrypt.org"),
                        (false, "issuewild", ";"),
                    ],
                )],
                false,
                None,
            ),
            (
                "without issuewild a wildcard follows issue",
                vec![rrset("customer.com", &[(false, "issue", "digicert.com")])],
                true,
                Some("allows only digicert.com for wildcard certificates"),
            ),
            (
                "issuewild allows a wildcard that issue would not",
                vec![rrset(
                    "customer.com",
                    &[
                        (false, "issue", "digicert.com"),
                        (false, "issuewild", "letsencrypt.org"),
                    ],
                )],
                true,
                None,
            ),
        ];
        for (what, rrsets, wildcard, want) in cases {
            let verdict = evaluate(&rrsets, le, wildcard);
            match (&verdict, want) {
                (CaaVerdict::Forbidden(block), Some(text)) => {
                    let message = block.to_string();
                    assert!(message.contains(text), "{what}: {message}");
                }
                (v, None) => assert!(v.allows(), "{what}: {v:?}"),
                (v, Some(text)) => panic!("{what}: expected a block with {text:?}, got {v:?}"),
            }
        }
    }

    #[test]
    fn no_records_at_all_is_no_policy_and_an_allow_names_the_relevant_rrset() {
        assert_eq!(
            evaluate(&[], "letsencrypt.org", false),
            CaaVerdict::NoPolicy
        );
        let v = evaluate(
            &[
                rrset("app.customer.com", &[]),
                rrset("customer.com", &[(false, "issue", "letsencrypt.org.")]),
            ],
            "LetsEncrypt.org",
            false,
        );
        assert_eq!(
            v,
            CaaVerdict::Allowed {
                at: Fqdn::parse("customer.com").unwrap()
            }
        );
    }
}
