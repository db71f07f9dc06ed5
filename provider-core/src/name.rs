//! Validated DNS names: absolute names ([`Fqdn`]), zones ([`ZoneName`]) and names relative to a
//! zone ([`RelativeName`]).
//!
//! Every name is parsed once, at the edge, and is then known to be safe to use anywhere: it is
//! lowercase ASCII (IDN labels converted to punycode), every label is 1 to 63 bytes, the whole
//! name is at most 253 bytes, and it contains nothing that could escape a URL path segment or a
//! log line (`/`, `%`, `?`, `#`, `\`, whitespace, control characters, empty labels).
//!
//! ```
//! use dns01_core::name::{Fqdn, ZoneName};
//!
//! let zone: ZoneName = "acme.example.com".parse()?;
//! let name: Fqdn = "_acme-challenge.App.Bücher.example.COM.".parse()?;
//! assert_eq!(name.as_str(), "_acme-challenge.app.xn--bcher-kva.example.com");
//! assert!(!name.is_in_zone(&zone));
//! let rel = "x.acme.example.com".parse::<Fqdn>()?.relative_to(&zone)?;
//! assert_eq!(rel.as_str(), "x");
//! assert_eq!(zone.join(&rel).as_str(), "x.acme.example.com");
//! # Ok::<(), dns01_core::name::NameError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// Longest label, in bytes, that DNS allows.
pub const MAX_LABEL_LEN: usize = 63;
/// Longest name, in bytes of its presentation form without the trailing dot.
pub const MAX_NAME_LEN: usize = 253;

/// A name that failed validation: the input as given and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid DNS name {input:?}: {rule}")]
pub struct NameError {
    /// The input exactly as it was given (truncated to 300 characters).
    pub input: String,
    /// The rule the input broke.
    pub rule: NameRule,
}

impl NameError {
    fn new(input: &str, rule: NameRule) -> Self {
        let input = if input.chars().count() > 300 {
            let mut s: String = input.chars().take(300).collect();
            s.push('…');
            s
        } else {
            input.to_owned()
        };
        Self { input, rule }
    }
}

/// The rule a rejected name broke. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameRule {
    /// The input was empty (or only a dot).
    Empty,
    /// Two dots in a row, or a leading dot.
    EmptyLabel,
    /// A character that must never appear in a name we put in a URL path or a log line.
    ForbiddenChar(char),
    /// A label longer than 63 bytes (after IDN conversion).
    LabelTooLong {
        /// The offending label.
        label: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A name longer than 253 bytes (after IDN conversion).
    NameTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A label with a character outside letters, digits, `-` and `_`.
    InvalidLabelChar {
        /// The offending label.
        label: String,
        /// The character.
        ch: char,
    },
    /// A label that starts or ends with a hyphen.
    HyphenAtLabelEdge {
        /// The offending label.
        label: String,
    },
    /// `*` anywhere but as the whole leftmost label, or in a name that cannot be a wildcard.
    MisplacedWildcard,
    /// The IDN conversion to punycode failed.
    Idna {
        /// The offending label.
        label: String,
    },
    /// The name is not inside the zone it was made relative to.
    NotInZone {
        /// The zone.
        zone: String,
    },
    /// `@` (the apex) where a name with labels is required.
    ApexNotAllowed,
}

impl fmt::Display for NameRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the name is empty; give a domain name such as example.com"),
            Self::EmptyLabel => f.write_str(
                "it has an empty label (two dots in a row, or a leading dot); remove the extra dot",
            ),
            Self::ForbiddenChar(c) => write!(
                f,
                "character {} is not allowed in a DNS name; remove it",
                describe_char(*c)
            ),
            Self::LabelTooLong { label, len } => write!(
                f,
                "label {label:?} is {len} bytes long, more than the {MAX_LABEL_LEN} DNS allows; shorten it"
            ),
            Self::NameTooLong { len } => write!(
                f,
                "the name is {len} bytes long, more than the {MAX_NAME_LEN} DNS allows; use a shorter name"
            ),
            Self::InvalidLabelChar { label, ch } => write!(
                f,
                "label {label:?} contains {}; labels may contain only letters, digits, '-' and '_'",
                describe_char(*ch)
            ),
            Self::HyphenAtLabelEdge { label } => write!(
                f,
                "label {label:?} starts or ends with '-', which DNS host names do not allow"
            ),
            Self::MisplacedWildcard => f.write_str(
                "'*' is only allowed as the whole leftmost label of a name (as in *.example.com), never in a zone",
            ),
            Self::Idna { label } => write!(
                f,
                "label {label:?} is not a valid internationalised label and cannot be converted to punycode"
            ),
            Self::NotInZone { zone } => write!(f, "the name is not inside zone {zone}"),
            Self::ApexNotAllowed => {
                f.write_str("'@' (the zone apex) is not allowed here; give a name with labels")
            }
        }
    }
}

fn describe_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("U+{:04X} (whitespace or control character)", c as u32)
    } else {
        format!("{c:?}")
    }
}

/// Parses and normalises a name into lowercase ASCII labels, without a trailing dot.
fn normalise(input: &str) -> Result<String, NameError> {
    // Names are parsed on every request, and nearly all of them are already normal.
    let trimmed = input.strip_suffix('.').unwrap_or(input);
    if is_normal(trimmed) {
        return Ok(trimmed.to_owned());
    }
    normalise_general(input)
}

/// Whether `name` (without its trailing dot) is already what [`normalise`] returns: non-empty
/// labels of lowercase ASCII letters, digits, `-` and `_`, no label starting or ending with
/// `-`, and within the length limits. Anything else goes through [`normalise_general`], which
/// also words the errors.
fn is_normal(name: &str) -> bool {
    // One pass over the bytes; each label is checked when its end is reached.
    let label_ok = |label: &[u8]| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && label.first() != Some(&b'-')
            && label.last() != Some(&b'-')
    };
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME_LEN {
        return false;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'.' {
            if !label_ok(&bytes[start..i]) {
                return false;
            }
            start = i + 1;
        } else if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return false;
        }
    }
    label_ok(&bytes[start..])
}

/// [`normalise`] for any input: IDN mapping, lowercasing, wildcards, and the errors.
fn normalise_general(input: &str) -> Result<String, NameError> {
    let err = |rule| NameError::new(input, rule);
    // Forbidden characters are checked on the raw input, before IDN mapping can hide them.
    if let Some(c) = input.chars().find(|c| {
        matches!(
            c,
            '/' | '%' | '?' | '#' | '\\' | '"' | '\'' | '<' | '>' | '@' | ':' | '&'
        ) || c.is_whitespace()
            || c.is_control()
    }) {
        return Err(err(NameRule::ForbiddenChar(c)));
    }
    let trimmed = input.strip_suffix('.').unwrap_or(input);
    if trimmed.is_empty() {
        return Err(err(NameRule::Empty));
    }
    // One output string, written label by label: names are parsed on every request.
    let mut name = String::with_capacity(trimmed.len());
    for (i, raw) in trimmed.split('.').enumerate() {
        if raw.is_empty() {
            return Err(err(NameRule::EmptyLabel));
        }
        let label: Cow<'_, str> = if !raw.is_ascii() {
            let ascii = idna::domain_to_ascii(raw).map_err(|_| {
                err(NameRule::Idna {
                    label: raw.to_owned(),
                })
            })?;
            // UTS 46 mapping may turn one label into several (e.g. full-width dots): refuse.
            if ascii.is_empty() || ascii.contains('.') {
                return Err(err(NameRule::Idna {
                    label: raw.to_owned(),
                }));
            }
            Cow::Owned(ascii)
        } else if raw.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(raw.to_ascii_lowercase())
        } else {
            Cow::Borrowed(raw)
        };
        if label == "*" {
            if i != 0 {
                return Err(err(NameRule::MisplacedWildcard));
            }
        } else {
            if let Some(ch) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            {
                return Err(err(if ch == '*' {
                    NameRule::MisplacedWildcard
                } else {
                    NameRule::InvalidLabelChar {
                        label: label.into_owned(),
                        ch,
                    }
                }));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(err(NameRule::HyphenAtLabelEdge {
                    label: label.into_owned(),
                }));
            }
        }
        if label.len() > MAX_LABEL_LEN {
            let len = label.len();
            return Err(err(NameRule::LabelTooLong {
                label: label.into_owned(),
                len,
            }));
        }
        if i > 0 {
            name.push('.');
        }
        name.push_str(&label);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(err(NameRule::NameTooLong { len: name.len() }));
    }
    Ok(name)
}

/// An absolute domain name, validated and normalised.
///
/// Held without the trailing dot: [`Fqdn::as_str`] gives `app.example.com`; [`fmt::Display`]
/// gives the absolute form `app.example.com.`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fqdn(String);

impl Fqdn {
    /// Parses a name given with or without its trailing dot; IDN labels become punycode.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        normalise(input).map(Self)
    }

    /// The name without its trailing dot, e.g. `app.example.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name with its trailing dot, e.g. `app.example.com.`.
    pub fn to_absolute_string(&self) -> String {
        format!("{}.", self.0)
    }

    /// The labels, leftmost first.
    pub fn labels(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('.')
    }

    /// The number of labels.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// Whether the leftmost label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.0 == "*" || self.0.starts_with("*.")
    }

    /// The name with its leftmost label removed, or `None` for a single-label name.
    pub fn parent(&self) -> Option<Self> {
        self.0
            .split_once('.')
            .map(|(_, rest)| Self(rest.to_owned()))
    }

    /// This name and then each of its ancestors, down to the single-label top-level name.
    pub fn ancestors(&self) -> impl Iterator<Item = Self> {
        std::iter::successors(Some(self.clone()), Self::parent)
    }

    /// Whether this name is the zone's apex or a name below it.
    pub fn is_in_zone(&self, zone: &ZoneName) -> bool {
        let z = zone.as_str();
        self.0 == z
            || (self.0.len() > z.len()
                && self.0.ends_with(z)
                && self.0.as_bytes()[self.0.len() - z.len() - 1] == b'.')
    }

    /// [`Self::is_in_zone`] as a result: the error names the zone.
    pub fn check_in_zone(&self, zone: &ZoneName) -> Result<(), NameError> {
        if self.is_in_zone(zone) {
            return Ok(());
        }
        Err(NameError::new(
            &self.0,
            NameRule::NotInZone {
                zone: zone.as_str().to_owned(),
            },
        ))
    }

    /// This name relative to `zone` (`@` for the apex), or an error if it is outside the zone.
    pub fn relative_to(&self, zone: &ZoneName) -> Result<RelativeName, NameError> {
        self.check_in_zone(zone)?;
        if self.0 == zone.as_str() {
            return Ok(RelativeName(None));
        }
        let rel = &self.0[..self.0.len() - zone.as_str().len() - 1];
        Ok(RelativeName(Some(rel.to_owned())))
    }

    /// A new name made of `label` prepended to this one (e.g. `_acme-challenge`).
    pub fn child(&self, label: &str) -> Result<Self, NameError> {
        Self::parse(&format!("{label}.{}", self.0))
    }
}

impl FromStr for Fqdn {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Fqdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.", self.0)
    }
}

impl fmt::Debug for Fqdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fqdn({:?})", self.0)
    }
}

impl AsRef<str> for Fqdn {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A DNS zone (for Gandi: a registered domain), validated and normalised. Never a wildcard.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZoneName(Fqdn);

impl ZoneName {
    /// Parses a zone name given with or without its trailing dot.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let fqdn = Fqdn::parse(input)?;
        Self::try_from(fqdn).map_err(|_| NameError::new(input, NameRule::MisplacedWildcard))
    }

    /// The zone without its trailing dot, e.g. `example.com`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The zone's apex as an absolute name.
    pub fn as_fqdn(&self) -> &Fqdn {
        &self.0
    }

    /// The absolute name `relative` + this zone.
    pub fn join(&self, relative: &RelativeName) -> Fqdn {
        match &relative.0 {
            None => self.0.clone(),
            Some(rel) => Fqdn(format!("{rel}.{}", self.0.as_str())),
        }
    }
}

impl TryFrom<Fqdn> for ZoneName {
    type Error = NameError;
    fn try_from(fqdn: Fqdn) -> Result<Self, Self::Error> {
        if fqdn.labels().any(|l| l == "*") {
            return Err(NameError::new(fqdn.as_str(), NameRule::MisplacedWildcard));
        }
        Ok(Self(fqdn))
    }
}

impl FromStr for ZoneName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZoneName({:?})", self.0.as_str())
    }
}

/// A name relative to some zone: `@` for the apex, otherwise one or more labels without a
/// trailing dot (`_acme-challenge.app`). Made by [`Fqdn::relative_to`] or [`RelativeName::parse`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelativeName(Option<String>);

impl RelativeName {
    /// The zone apex, written `@`.
    pub const APEX: Self = Self(None);

    /// Parses `@` or a relative name of one or more labels (no trailing dot).
    pub fn parse(input: &str) -> Result<Self, NameError> {
        if input == "@" {
            return Ok(Self::APEX);
        }
        if input.ends_with('.') {
            return Err(NameError::new(
                input,
                NameRule::NotInZone {
                    zone: "(a relative name has no trailing dot)".to_owned(),
                },
            ));
        }
        normalise(input).map(|n| Self(Some(n)))
    }

    /// `@` for the apex, otherwise the labels (`_acme-challenge.app`).
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("@")
    }

    /// Whether this is the zone apex.
    pub fn is_apex(&self) -> bool {
        self.0.is_none()
    }
}

impl FromStr for RelativeName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RelativeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RelativeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelativeName({:?})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The fast path for already-normal names answers exactly as the general one, for
        /// names near the edges: case, wildcards, hyphens, empty labels, trailing dots, IDN,
        /// forbidden characters and over-long labels.
        #[test]
        fn the_fast_path_agrees_with_the_general_one(
            input in "([a-zA-Z0-9_*-]{0,5}|x{62,64}|é|%| )(\\.([a-zA-Z0-9_*-]{0,5}|x{62,64}|é|%| )){0,5}\\.?"
        ) {
            prop_assert_eq!(normalise(&input), normalise_general(&input));
        }
    }

    #[test]
    fn long_normal_names_are_refused_by_the_fast_path_too() {
        let label = "a".repeat(MAX_LABEL_LEN);
        let long = [label.as_str(); 4].join(".") + ".b";
        assert!(long.len() > MAX_NAME_LEN);
        assert!(!is_normal(&long));
        assert_eq!(normalise(&long), normalise_general(&long));
        assert!(normalise(&long).is_err());
        assert_eq!(normalise("a.b.").as_deref(), Ok("a.b"));
    }

    fn rule(input: &str) -> NameRule {
        Fqdn::parse(input).unwrap_err().rule
    }

    #[test]
    fn names_are_lowercased_and_lose_the_trailing_dot() {
        let n = Fqdn::parse("App.Example.COM.").unwrap();
        assert_eq!(n.as_str(), "app.example.com");
        assert_eq!(n.to_string(), "app.example.com.");
        assert_eq!(n, Fqdn::parse("app.example.com").unwrap());
    }

    #[test]
    fn idn_labels_become_punycode() {
        let n = Fqdn::parse("_acme-challenge.bücher.example").unwrap();
        assert_eq!(n.as_str(), "_acme-challenge.xn--bcher-kva.example");
        assert_eq!(
            Fqdn::parse("ÉCOLE.fr").unwrap().as_str(),
            "xn--cole-9oa.fr",
            "uppercase non-ASCII is lowercased by IDNA mapping"
        );
    }

    #[test]
    fn wildcard_and_underscore_labels_are_allowed_where_dns_allows_them() {
        assert!(Fqdn::parse("*.example.com").unwrap().is_wildcard());
        assert!(Fqdn::parse("_acme-challenge.example.com").is_ok());
        assert_eq!(rule("a.*.example.com"), NameRule::MisplacedWildcard);
        assert_eq!(rule("a*.example.com"), NameRule::MisplacedWildcard);
        assert!(ZoneName::parse("*.example.com").is_err());
    }

    #[test]
    fn characters_that_could_escape_a_url_path_are_rejected() {
        for (input, ch) in [
            ("a/b.example.com", '/'),
            ("a%2Fb.example.com", '%'),
            ("a?.example.com", '?'),
            ("a#.example.com", '#'),
            ("a b.example.com", ' '),
            ("a\tb.example.com", '\t'),
            ("a\u{0}b.example.com", '\u{0}'),
            ("a\\b.example.com", '\\'),
        ] {
            assert_eq!(rule(input), NameRule::ForbiddenChar(ch), "{input:?}");
        }
        assert_eq!(rule("a..example.com"), NameRule::EmptyLabel);
        assert_eq!(rule(".example.com"), NameRule::EmptyLabel);
        assert_eq!(rule(".."), NameRule::EmptyLabel);
        assert_eq!(rule(""), NameRule::Empty);
        assert_eq!(rule("."), NameRule::Empty);
    }

    #[test]
    fn label_and_name_lengths_are_bounded() {
        let ok63 = "a".repeat(63);
        assert!(Fqdn::parse(&format!("{ok63}.com")).is_ok());
        let bad = "a".repeat(64);
        assert!(matches!(
            rule(&format!("{bad}.com")),
            NameRule::LabelTooLong { len: 64, .. }
        ));
        // 4 labels of 63 = 255 bytes with dots: too long; 253 exactly is fine.
        let long = [ok63.as_str(); 4].join(".");
        assert!(matches!(rule(&long), NameRule::NameTooLong { len: 255 }));
        let exact = format!("{}.{}", [ok63.as_str(); 3].join("."), "a".repeat(61));
        assert_eq!(exact.len(), 253);
        assert!(Fqdn::parse(&exact).is_ok());
        // The limit applies after punycode conversion.
        let idn = "ü".repeat(60);
        assert!(matches!(
            rule(&format!("{idn}.com")),
            NameRule::LabelTooLong { .. }
        ));
    }

    #[test]
    fn errors_name_the_input_and_the_rule() {
        let e = Fqdn::parse("bad/name.example.com").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("\"bad/name.example.com\""), "{msg}");
        assert!(msg.contains("'/'"), "{msg}");
        assert!(msg.contains("not allowed"), "{msg}");
        let e = Fqdn::parse("-bad.example.com").unwrap_err();
        assert!(e.to_string().contains("starts or ends with '-'"), "{e}");
        let e = Fqdn::parse("a_b!.example.com").unwrap_err();
        assert!(e.to_string().contains("'!'"), "{e}");
    }

    #[test]
    fn relative_and_absolute_conversions_round_trip() {
        let zone = ZoneName::parse("example.com").unwrap();
        let n = Fqdn::parse("x.acme.example.com").unwrap();
        let rel = n.relative_to(&zone).unwrap();
        assert_eq!(rel.as_str(), "x.acme");
        assert_eq!(zone.join(&rel), n);
        let apex = Fqdn::parse("example.com.")
            .unwrap()
            .relative_to(&zone)
            .unwrap();
        assert!(apex.is_apex());
        assert_eq!(apex.as_str(), "@");
        assert_eq!(zone.join(&apex).as_str(), "example.com");
        assert_eq!(RelativeName::parse("@").unwrap(), RelativeName::APEX);
    }

    #[test]
    fn names_outside_the_zone_are_refused_even_with_a_shared_suffix() {
        let zone = ZoneName::parse("example.com").unwrap();
        let outside = Fqdn::parse("badexample.com").unwrap();
        assert!(!outside.is_in_zone(&zone));
        let e = outside.relative_to(&zone).unwrap_err();
        assert_eq!(
            e.rule,
            NameRule::NotInZone {
                zone: "example.com".into()
            }
        );
        assert!(!Fqdn::parse("com").unwrap().is_in_zone(&zone));
    }

    #[test]
    fn ancestors_walk_up_to_the_top_level_label() {
        let n = Fqdn::parse("a.b.example.co.uk").unwrap();
        let all: Vec<String> = n.ancestors().map(|a| a.as_str().to_owned()).collect();
        assert_eq!(
            all,
            [
                "a.b.example.co.uk",
                "b.example.co.uk",
                "example.co.uk",
                "co.uk",
                "uk"
            ]
        );
    }

    #[test]
    fn relative_names_reject_absolute_input() {
        assert!(RelativeName::parse("x.example.com.").is_err());
        assert!(RelativeName::parse("x/y").is_err());
        assert_eq!(
            RelativeName::parse("_ACME-challenge.App").unwrap().as_str(),
            "_acme-challenge.app"
        );
    }
}
