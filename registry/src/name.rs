//! Validated names: [`Repository`], [`Tag`], [`Digest`], [`Reference`] and [`ImageRef`].
//!
//! Each parses once, at the edge, with the OCI distribution spec's grammar; the rest of the
//! code then cannot hold an invalid name, and every one of them is safe to put in a URL path
//! (no `?`, `#`, `%`, `..` or spaces).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

use crate::error::{Error, NameKind, Result};

/// The longest repository name the spec's registries accept.
pub const MAX_REPOSITORY_LEN: usize = 255;

macro_rules! string_type {
    ($t:ident) => {
        impl $t {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $t {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A repository name (`proj-a/app`): path components of `[a-z0-9]+` joined by `.`, `_`,
/// `__` or runs of `-`, separated by `/`, at most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository(String);
string_type!(Repository);

impl Repository {
    /// Parses and validates a repository name.
    ///
    /// # Errors
    /// [`Error::InvalidName`] saying which component is wrong and how to write it.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: String| Error::invalid(NameKind::Repository, s, reason);
        if s.is_empty() {
            return Err(bad("it is empty; give a name such as `project/app`".into()));
        }
        if s.len() > MAX_REPOSITORY_LEN {
            return Err(bad(format!(
                "it is {} characters long; the limit is {MAX_REPOSITORY_LEN}",
                s.len()
            )));
        }
        for component in s.split('/') {
            check_component(component).map_err(|why| {
                bad(format!(
                    "path component `{component}` {why}; components are lowercase letters and \
                     digits, joined by `.`, `_`, `__` or dashes, and separated by single `/`"
                ))
            })?;
        }
        Ok(Self(s.to_owned()))
    }

    /// The name with `prefix/` in front (`proj-a` + `app` → `proj-a/app`).
    ///
    /// # Errors
    /// When the result is longer than 255 characters.
    pub fn prefixed(&self, prefix: &Self) -> Result<Self> {
        Self::parse(&format!("{prefix}/{self}"))
    }

    /// The name without a leading `prefix/`, if it starts with it.
    pub fn strip_prefix(&self, prefix: &Self) -> Option<Self> {
        let rest = self.0.strip_prefix(prefix.as_str())?.strip_prefix('/')?;
        Some(Self(rest.to_owned()))
    }

    /// The path components.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

/// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn check_component(c: &str) -> std::result::Result<(), &'static str> {
    if c.is_empty() {
        return Err("is empty (a leading, trailing or double `/`)");
    }
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let mut first = true;
    while i < bytes.len() {
        if !first {
            // A separator: `.`, `_`, `__` or one or more `-`.
            match bytes[i] {
                b'.' => i += 1,
                b'_' => {
                    i += 1;
                    if bytes.get(i) == Some(&b'_') {
                        i += 1;
                    }
                }
                b'-' => {
                    while bytes.get(i) == Some(&b'-') {
                        i += 1;
                    }
                }
                b if b.is_ascii_uppercase() => return Err("has an uppercase letter"),
                _ => return Err("has a character other than a-z, 0-9, `.`, `_` and `-`"),
            }
        }
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return match bytes.get(i) {
                None => Err("ends with a separator"),
                Some(b) if b.is_ascii_uppercase() => Err("has an uppercase letter"),
                Some(b'.' | b'_' | b'-') if first => Err("starts with a separator"),
                Some(b'.' | b'_' | b'-') => Err("has two separators in a row"),
                Some(_) => Err("has a character other than a-z, 0-9, `.`, `_` and `-`"),
            };
        }
        first = false;
    }
    Ok(())
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);
string_type!(Tag);

impl Tag {
    /// Parses and validates a tag.
    ///
    /// # Errors
    /// [`Error::InvalidName`] saying what is wrong and how to write it.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid(NameKind::Tag, s, reason);
        let Some(first) = s.bytes().next() else {
            return Err(bad("it is empty; give a tag such as `v1`"));
        };
        if s.len() > 128 {
            return Err(bad("it is longer than 128 characters"));
        }
        if !(first.is_ascii_alphanumeric() || first == b'_') {
            return Err(bad("it must start with a letter, a digit or `_`"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(bad(
                "it may only hold letters, digits, `_`, `.` and `-` (a digest goes after `@`)",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A content digest, `algorithm:encoded`. `sha256` needs 64 and `sha512` 128 lowercase hex
/// digits; other algorithms follow the spec's general grammar
/// (`[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);
string_type!(Digest);

impl Digest {
    /// Parses and validates a digest.
    ///
    /// # Errors
    /// [`Error::InvalidName`] saying what is wrong and how to write it.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid(NameKind::Digest, s, reason);
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return Err(bad(
                "it has no `:`; write `sha256:` and 64 lowercase hex digits",
            ));
        };
        let hex = |n: usize| {
            encoded.len() == n
                && encoded
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        match algorithm {
            "sha256" if !hex(64) => {
                return Err(bad("a sha256 digest is exactly 64 lowercase hex digits"));
            }
            "sha512" if !hex(128) => {
                return Err(bad("a sha512 digest is exactly 128 lowercase hex digits"));
            }
            "sha256" | "sha512" => {}
            _ => {
                let component_ok = algorithm.split(['+', '.', '_', '-']).all(|c| {
                    !c.is_empty()
                        && c.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                });
                if !component_ok {
                    return Err(bad(
                        "the algorithm is lowercase letters and digits (e.g. `sha256`)",
                    ));
                }
                if encoded.is_empty()
                    || !encoded
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
                {
                    return Err(bad(
                        "the encoded part is letters, digits, `=`, `_` and `-`, and not empty",
                    ));
                }
            }
        }
        Ok(Self(s.to_owned()))
    }

    /// The sha256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Self {
        Self(format!("sha256:{}", hex(&sha2::Sha256::digest(data))))
    }

    /// The algorithm (`sha256`).
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The encoded part (the hex digits).
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, e)| e)
    }

    /// Whether `data` has this digest. `None` when the algorithm is not sha256 or sha512.
    pub fn verify(&self, data: &[u8]) -> Option<bool> {
        match self.algorithm() {
            "sha256" => Some(hex(&sha2::Sha256::digest(data)) == self.encoded()),
            "sha512" => Some(hex(&sha2::Sha512::digest(data)) == self.encoded()),
            _ => None,
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A manifest reference: a [`Tag`] or a [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// By tag.
    Tag(Tag),
    /// By digest.
    Digest(Digest),
}

impl Reference {
    /// A digest when the text has a `:`, a tag otherwise.
    ///
    /// # Errors
    /// [`Error::InvalidName`] from the tag or digest grammar.
    pub fn parse(s: &str) -> Result<Self> {
        if s.contains(':') {
            Digest::parse(s).map(Self::Digest)
        } else {
            Tag::parse(s).map(Self::Tag)
        }
    }

    /// The reference as text, as it goes into `/v2/<name>/manifests/<reference>`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Tag(t) => t.as_str(),
            Self::Digest(d) => d.as_str(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl From<Tag> for Reference {
    fn from(t: Tag) -> Self {
        Self::Tag(t)
    }
}

impl From<Digest> for Reference {
    fn from(d: Digest) -> Self {
        Self::Digest(d)
    }
}

/// A full image reference, `host[:port]/name[:tag][@digest]`. The host is always explicit
/// (no Docker Hub defaults are applied).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// `host[:port]`.
    pub registry: String,
    /// The repository name.
    pub repository: Repository,
    /// The tag, if given.
    pub tag: Option<Tag>,
    /// The digest, if given.
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Parses `host[:port]/name[:tag][@digest]`.
    ///
    /// # Errors
    /// [`Error::InvalidName`] naming the part that is wrong.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid(NameKind::ImageRef, s, reason);
        let Some((host, rest)) = s.split_once('/') else {
            return Err(bad(
                "it has no registry host; write `host[:port]/name[:tag][@digest]`",
            ));
        };
        check_host(host)?;
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d)?)),
            None => (rest, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(Tag::parse(&rest[last_slash + i + 1..])?),
            ),
            None => (rest, None),
        };
        Ok(Self {
            registry: host.to_owned(),
            repository: Repository::parse(name)?,
            tag,
            digest,
        })
    }

    /// What to fetch: the digest when there is one, else the tag, else `latest`.
    pub fn reference(&self) -> Reference {
        match (&self.digest, &self.tag) {
            (Some(d), _) => Reference::Digest(d.clone()),
            (None, Some(t)) => Reference::Tag(t.clone()),
            (None, None) => Reference::Tag(Tag("latest".to_owned())),
        }
    }
}

/// `host[:port]`: DNS labels or an IPv4 address, or `[v6]`, then an optional numeric port.
fn check_host(host: &str) -> Result<()> {
    let bad = |reason: &str| Error::invalid(NameKind::Host, host, reason);
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err(bad("an IPv6 address needs a closing `]`"));
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad("the address between `[` and `]` is not IPv6"));
        }
        match after {
            "" => (None, None),
            p => match p.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err(bad("after `]` only `:port` may follow")),
            },
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(port) = port {
        if port.parse::<u16>().is_err() {
            return Err(bad("the port must be a number from 0 to 65535"));
        }
    }
    if let Some(name) = name {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(bad(
                "a host is DNS labels (letters, digits, inner `-`) joined by `.`, then `:port`",
            ));
        }
    }
    Ok(())
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D256: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    #[test]
    fn repository_names_follow_the_spec_grammar() {
        for ok in [
            "a",
            "proj-a/app",
            "a.b_c__d---e/f0",
            "library/ubuntu",
            "x/y/z",
            "0",
        ] {
            assert_eq!(Repository::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "-a", "a-", "a___b", "a..b", "a._b", "a b", "a?b",
            "a/../b", "a%2f", "a:b", "é",
        ] {
            assert!(Repository::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Repository::parse(&"a".repeat(255)).is_ok());
        assert!(Repository::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn a_bad_repository_name_names_the_component_and_the_fix() {
        let e = Repository::parse("proj/My-App").unwrap_err().to_string();
        assert!(e.contains("repository name `proj/My-App`"), "{e}");
        assert!(e.contains("`My-App` has an uppercase letter"), "{e}");
        assert!(e.contains("lowercase letters and digits"), "{e}");
    }

    #[test]
    fn tags_follow_the_spec_grammar() {
        for ok in ["v1", "_x", "1.2.3-rc_1", &"a".repeat(128)] {
            assert!(Tag::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a:b", "a/b", "a b", &"a".repeat(129)] {
            assert!(Tag::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn digests_check_length_and_case_for_sha256_and_sha512() {
        assert!(Digest::parse(D256).is_ok());
        assert!(Digest::parse(&D256.to_uppercase()).is_err());
        assert!(Digest::parse(&D256[..70]).is_err());
        assert!(Digest::parse(&format!("sha512:{}", "ab".repeat(64))).is_ok());
        assert!(Digest::parse(&format!("sha512:{}", "ab".repeat(32))).is_err());
        assert!(
            Digest::parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")
                .is_ok()
        );
        assert!(Digest::parse("sha256").is_err());
        assert!(Digest::parse("Sha1:abc").is_err());
        assert!(Digest::parse("sha1:").is_err());
        let d = Digest::parse(D256).unwrap();
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d.encoded().len(), 64);
    }

    #[test]
    fn sha256_of_matches_a_known_vector_and_verifies() {
        // printf 'abc' | sha256sum
        let d = Digest::sha256_of(b"abc");
        assert_eq!(
            d.as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.verify(b"abc"), Some(true));
        assert_eq!(d.verify(b"abd"), Some(false));
    }

    #[test]
    fn references_are_digests_when_they_hold_a_colon() {
        assert!(matches!(
            Reference::parse(D256).unwrap(),
            Reference::Digest(_)
        ));
        assert!(matches!(Reference::parse("v1").unwrap(), Reference::Tag(_)));
        assert!(Reference::parse("sha256:abc").is_err());
        assert!(Reference::parse("v1/x").is_err());
    }

    #[test]
    fn image_refs_split_host_port_name_tag_and_digest() {
        let r = ImageRef::parse(&format!("127.0.0.1:5000/proj-a/app:v1@{D256}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository.as_str(), "proj-a/app");
        assert_eq!(r.tag.as_ref().unwrap().as_str(), "v1");
        assert_eq!(r.digest.as_ref().unwrap().as_str(), D256);
        assert_eq!(r.reference().as_str(), D256);
        assert_eq!(
            r.to_string(),
            format!("127.0.0.1:5000/proj-a/app:v1@{D256}")
        );

        let r = ImageRef::parse("images.customer.com/app").unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.reference().as_str(), "latest");
        let r = ImageRef::parse("[::1]:5000/a/b:c").unwrap();
        assert_eq!(r.registry, "[::1]:5000");
        assert_eq!(r.tag.unwrap().as_str(), "c");

        for bad in [
            "app:v1",
            "host:99999/app",
            "ho_st/app",
            "host/App",
            "host/app:",
            "host/app@sha256:1",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} accepted");
        }
        let e = ImageRef::parse("app:v1").unwrap_err().to_string();
        assert!(e.contains("host[:port]/name"), "{e}");
    }

    #[test]
    fn prefixes_are_added_and_stripped_by_whole_components() {
        let p = Repository::parse("proj-a").unwrap();
        let n = Repository::parse("app").unwrap();
        let full = n.prefixed(&p).unwrap();
        assert_eq!(full.as_str(), "proj-a/app");
        assert_eq!(full.strip_prefix(&p), Some(n));
        let other = Repository::parse("proj-ab/app").unwrap();
        assert_eq!(other.strip_prefix(&p), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,300}") {
            let _ = Repository::parse(&s);
            let _ = Tag::parse(&s);
            let _ = Digest::parse(&s);
            let _ = ImageRef::parse(&s);
        }

        #[test]
        fn valid_names_round_trip_and_are_url_safe(
            s in "[a-z0-9]{1,5}((\\.|_|__|-{1,3})[a-z0-9]{1,5}){0,3}(/[a-z0-9]{1,5}((\\.|_|__|-{1,2})[a-z0-9]{1,4}){0,2}){0,3}"
        ) {
            let r = Repository::parse(&s).unwrap();
            prop_assert_eq!(r.as_str(), s.as_str());
            prop_assert!(!r.as_str().contains(".."));
            let img = ImageRef::parse(&format!("reg.example:443/{s}:t")).unwrap();
            prop_assert_eq!(img.repository, r);
        }
    }
}
