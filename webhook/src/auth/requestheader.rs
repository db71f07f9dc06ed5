//! Client certificates and the front proxy's identity headers.
//!
//! The TLS layer requests a client certificate and checks only that the client holds its
//! private key (see `crate::tls`); whether the chain is trusted, and by which CA, is decided
//! here, per request, against the configuration in force at that moment.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;

use super::identity::UserInfo;

/// Whether `chain` (end entity first) verifies against `verifier`'s roots, for client auth,
/// at the current time.
pub(crate) fn chain_verifies(
    verifier: &dyn ClientCertVerifier,
    chain: &[CertificateDer<'_>],
) -> bool {
    let Some((end_entity, intermediates)) = chain.split_first() else {
        return false;
    };
    verifier
        .verify_client_cert(end_entity, intermediates, UnixTime::now())
        .is_ok()
}

/// The subject of a certificate: CN and all O values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subject {
    pub(crate) common_name: String,
    pub(crate) organizations: Vec<String>,
}

/// Reads CN and O from a DER certificate.
pub(crate) fn subject(cert: &CertificateDer<'_>) -> Option<Subject> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let common_name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_owned();
    let organizations = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .map(ToOwned::to_owned)
        .collect();
    Some(Subject {
        common_name,
        organizations,
    })
}

fn header_values<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Percent-decodes an extra key (kube-apiserver escapes keys that are not valid header names)
/// and lowercases it. Invalid escapes are kept literally.
fn unescape_extra_key(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (
                (bytes[i + 1] as char).to_digit(16),
                (bytes[i + 2] as char).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_lowercase()
}

/// The identity headers of a configuration, with their names parsed once. A configured name
/// that is not a valid header name can never match a header, and is left out.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdentityHeaders {
    username: Vec<HeaderName>,
    groups: Vec<HeaderName>,
    extra_prefixes: Vec<String>,
}

impl IdentityHeaders {
    /// The username headers, group headers and extra-header prefixes of a configuration.
    pub(crate) fn new(username: &[String], groups: &[String], extra_prefixes: &[String]) -> Self {
        let parse = |names: &[String]| {
            names
                .iter()
                .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
                .collect()
        };
        Self {
            username: parse(username),
            groups: parse(groups),
            extra_prefixes: extra_prefixes.to_vec(),
        }
    }
}

/// The user the front proxy asserts in the identity headers; `None` when no username header
/// carries a value. Call only after the front-proxy certificate has been verified.
pub(crate) fn user_from_headers(names: &IdentityHeaders, headers: &HeaderMap) -> Option<UserInfo> {
    let username = names
        .username
        .iter()
        .find_map(|h| header_values(headers, h).next())?
        .to_owned();
    let groups = names
        .groups
        .iter()
        .flat_map(|h| header_values(headers, h))
        .map(ToOwned::to_owned)
        .collect();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for prefix in &names.extra_prefixes {
        for (name, value) in headers {
            if let Some(key) = strip_prefix_ignore_case(name.as_str(), prefix)
                && !key.is_empty()
                && let Ok(value) = value.to_str()
            {
                extra
                    .entry(unescape_extra_key(key))
                    .or_default()
                    .push(value.to_owned());
            }
        }
    }
    Some(UserInfo {
        username,
        uid: String::new(),
        groups,
        extra,
    })
}

/// Removes the identity headers (and `Authorization`) so that nothing downstream can read an
/// identity that was not authenticated.
pub(crate) fn strip_identity_headers(names: &IdentityHeaders, headers: &mut HeaderMap) {
    for name in names.username.iter().chain(&names.groups) {
        headers.remove(name);
    }
    let prefixes = &names.extra_prefixes;
    let doomed = |name: &http::HeaderName| {
        prefixes
            .iter()
            .any(|p| strip_prefix_ignore_case(name.as_str(), p).is_some())
    };
    if headers.keys().any(doomed) {
        let doomed: Vec<http::HeaderName> = headers.keys().filter(|k| doomed(k)).cloned().collect();
        for name in doomed {
            headers.remove(name);
        }
    }
    headers.remove(http::header::AUTHORIZATION);
}

/// `name` without `prefix`, compared ignoring ASCII case (header names are case-insensitive;
/// `http` keeps them lowercase, configurations often write `X-Remote-Extra-`).
fn strip_prefix_ignore_case<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &name[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> IdentityHeaders {
        IdentityHeaders::new(
            &["X-Remote-User".into()],
            &["X-Remote-Group".into()],
            &["X-Remote-Extra-".into()],
        )
    }

    #[test]
    fn headers_give_user_groups_and_unescaped_extra() {
        let mut headers = HeaderMap::new();
        headers.insert("x-remote-user", "alice".parse().unwrap());
        headers.append("x-remote-group", "a".parse().unwrap());
        headers.append("x-remote-group", "b".parse().unwrap());
        headers.insert("x-remote-extra-acme.io%2fscope", "x".parse().unwrap());
        let user = user_from_headers(&names(), &headers).unwrap();
        assert_eq!(user.username, "alice");
        assert_eq!(user.groups, vec!["a", "b"]);
        assert_eq!(user.extra.get("acme.io/scope"), Some(&vec!["x".to_owned()]));
    }

    #[test]
    fn extra_prefixes_match_whatever_their_case_and_only_on_a_character_boundary() {
        assert_eq!(
            strip_prefix_ignore_case("x-remote-extra-scopes", "X-Remote-Extra-"),
            Some("scopes")
        );
        assert_eq!(
            strip_prefix_ignore_case("x-remote-extra-", "X-Remote-Extra-"),
            Some("")
        );
        assert_eq!(
            strip_prefix_ignore_case("x-remote-user", "X-Remote-Extra-"),
            None
        );
        assert_eq!(strip_prefix_ignore_case("x-rem", "X-Remote-Extra-"), None);
        assert_eq!(strip_prefix_ignore_case("\u{e9}x", "x"), None);
    }

    #[test]
    fn no_username_header_means_no_user() {
        let mut headers = HeaderMap::new();
        headers.insert("x-remote-group", "system:masters".parse().unwrap());
        assert!(user_from_headers(&names(), &headers).is_none());
    }

    #[test]
    fn stripping_removes_every_identity_header() {
        let mut headers = HeaderMap::new();
        headers.insert("x-remote-user", "alice".parse().unwrap());
        headers.insert("x-remote-group", "g".parse().unwrap());
        headers.insert("x-remote-extra-k", "v".parse().unwrap());
        headers.insert("authorization", "Bearer t".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        strip_identity_headers(&names(), &mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("content-type"));
    }
}
