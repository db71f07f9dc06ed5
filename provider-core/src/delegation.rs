//! Delegation naming: from (domain, tenant, validation zone) to the challenge name.
//!
//! A customer delegates validation for `app.customer.com` once, with a permanent record
//!
//! ```text
//! _acme-challenge.app.customer.com. CNAME app-customer-com-<hash>.acme.platform.example.
//! ```
//!
//! and the DNS-01 challenge TXT is then written at the target, inside the platform's validation
//! zone. [`delegated_name`] computes that target; [`challenge_name`] the owner of the CNAME;
//! [`cname_instruction`] the whole line to give the customer.
//!
//! The target is bound to the **tenant** that requests the certificate (for cert-manager, the
//! Issuer's namespace, `resourceNamespace`): the same domain requested by another tenant maps
//! to a different name, so a CNAME made for tenant A cannot be answered from tenant B.
//!
//! # The algorithm (version 1)
//!
//! Inputs: `domain` (cert-manager's `dnsName`, as a parsed [`Fqdn`]: lowercase, IDN labels in
//! punycode, no trailing dot), `tenant` (any string), `zone` (the validation zone).
//!
//! 1. If `domain` starts with `*.`, remove that label, so a name and its wildcard share one
//!    target. A domain that is only `*`, or whose first label is `_acme-challenge` (the
//!    challenge name given where the domain was meant), is refused.
//! 2. `tenant` must be 1 to 253 bytes with no control characters (NUL included); it is used
//!    byte for byte, with no case folding or trimming.
//! 3. `digest = SHA-256("dns01-delegation-v1" || 0x00 || tenant || 0x00 || domain)`, where
//!    `domain` is its ASCII presentation form without the trailing dot.
//! 4. `hash` = the first 26 characters (130 bits) of the RFC 4648 base32 encoding of `digest`,
//!    in lowercase (alphabet `a`–`z`, `2`–`7`).
//! 5. `prefix`: the domain's presentation form with every character other than `a`–`z` and
//!    `0`–`9` (dots, hyphens, underscores) replaced by `-`, runs of `-` collapsed into one,
//!    leading and trailing `-` removed, then cut to its first 36 bytes and any trailing `-`
//!    removed again.
//! 6. `label = prefix + "-" + hash` (just `hash` if `prefix` is empty): at most 63 bytes.
//! 7. The result is `label + "." + zone`. The zone must be at most 189 bytes, so that any
//!    label fits within the 253-byte name limit; a longer zone is refused.
//!
//! **Stability:** this output must never change across versions of this crate. Every
//! customer's CNAME points at it; changing a single character orphans all of them. A future
//! algorithm must be a new, separately named function (with a new version tag), never a change
//! to this one. Tests pin exact outputs.
//!
//! ```
//! use dns01_core::delegation::{cname_instruction, delegated_name};
//! use dns01_core::{Fqdn, ZoneName};
//!
//! let zone = ZoneName::parse("acme.platform.example")?;
//! let domain = Fqdn::parse("app.customer.com")?;
//! let name = delegated_name(&domain, "team-a", &zone)?;
//! assert!(name.as_str().starts_with("app-customer-com-"));
//! assert!(name.as_str().ends_with(".acme.platform.example"));
//! // The wildcard shares the name; another tenant gets another one.
//! assert_eq!(delegated_name(&Fqdn::parse("*.app.customer.com")?, "team-a", &zone)?, name);
//! assert_ne!(delegated_name(&domain, "team-b", &zone)?, name);
//! assert_eq!(
//!     cname_instruction(&domain, "team-a", &zone)?,
//!     format!("_acme-challenge.app.customer.com. CNAME {name}"),
//! );
//! # Ok::<(), dns01_core::Error>(())
//! ```

use data_encoding::BASE32_NOPAD;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::name::{Fqdn, MAX_LABEL_LEN, MAX_NAME_LEN, ZoneName};

/// The version tag hashed into every name (step 3 of the algorithm).
pub const ALGORITHM_TAG: &str = "dns01-delegation-v1";

/// Characters of the base32 hash kept in the label (26 characters, 130 bits).
pub const HASH_LEN: usize = 26;

/// Longest human-readable prefix before the hash: `63 - 1 - 26`.
pub const MAX_PREFIX_LEN: usize = MAX_LABEL_LEN - 1 - HASH_LEN;

/// Longest validation zone accepted: leaves room for one full label and its dot.
pub const MAX_ZONE_LEN: usize = MAX_NAME_LEN - MAX_LABEL_LEN - 1;

/// Longest tenant accepted, in bytes.
pub const MAX_TENANT_LEN: usize = 253;

/// The label that DNS-01 puts in front of the domain.
const CHALLENGE_LABEL: &str = "_acme-challenge";

/// The name inside `zone` at which the challenge for `domain`, requested by `tenant`, is written.
///
/// `domain` is the certificate's DNS name (`app.customer.com` or `*.app.customer.com`), not the
/// challenge name. See the [module documentation](self) for the exact, frozen algorithm.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the field at fault: `tenant` (empty, longer than 253 bytes,
/// or with a control character), `zone` (longer than 189 bytes), or `domain` (only `*`, or a
/// challenge name such as `_acme-challenge.app.customer.com`).
pub fn delegated_name(domain: &Fqdn, tenant: &str, zone: &ZoneName) -> Result<Fqdn> {
    let domain = base_domain(domain)?;
    check_tenant(tenant)?;
    check_zone(zone)?;
    let hash = tenant_hash(domain.as_str(), tenant);
    let prefix = readable_prefix(domain.as_str());
    let label = if prefix.is_empty() {
        hash
    } else {
        format!("{prefix}-{hash}")
    };
    Ok(Fqdn::parse(&format!("{label}.{}", zone.as_str()))?)
}

/// The name at which an ACME server looks for the challenge of `domain`:
/// `_acme-challenge.<domain>`, with a leading `*.` removed first.
///
/// # Errors
///
/// [`Error::InvalidInput`] if `domain` is only `*`, or if the result would be longer than 253
/// bytes.
pub fn challenge_name(domain: &Fqdn) -> Result<Fqdn> {
    let domain = strip_wildcard(domain)?;
    Ok(domain.child(CHALLENGE_LABEL)?)
}

/// The exact record the customer must create to delegate `domain` for `tenant` into `zone`,
/// in zone-file form, e.g.
/// `_acme-challenge.app.customer.com. CNAME app-customer-com-<hash>.acme.platform.example.`
///
/// # Errors
///
/// Those of [`delegated_name`] and [`challenge_name`].
pub fn cname_instruction(domain: &Fqdn, tenant: &str, zone: &ZoneName) -> Result<String> {
    let target = delegated_name(domain, tenant, zone)?;
    let owner = challenge_name(domain)?;
    Ok(format!("{owner} CNAME {target}"))
}

/// `domain` without a leading `*.`.
fn strip_wildcard(domain: &Fqdn) -> Result<Fqdn> {
    if !domain.is_wildcard() {
        return Ok(domain.clone());
    }
    domain.parent().ok_or_else(|| {
        Error::invalid_input(
            "domain \"*\" is only a wildcard; give the certificate's DNS name, such as *.example.com",
        )
    })
}

/// Step 1: the domain the name is derived from.
fn base_domain(domain: &Fqdn) -> Result<Fqdn> {
    let base = strip_wildcard(domain)?;
    if base.labels().next() == Some(CHALLENGE_LABEL) {
        return Err(Error::invalid_input(format!(
            "domain {:?} is a challenge name; give the certificate's DNS name (cert-manager's \
             dnsName), without the leading {CHALLENGE_LABEL}",
            domain.as_str()
        )));
    }
    Ok(base)
}

/// Step 2.
fn check_tenant(tenant: &str) -> Result<()> {
    let problem = if tenant.is_empty() {
        "is empty".to_owned()
    } else if tenant.len() > MAX_TENANT_LEN {
        format!("is {} bytes long, more than {MAX_TENANT_LEN}", tenant.len())
    } else if let Some(c) = tenant.chars().find(|c| c.is_control()) {
        format!("contains the control character U+{:04X}", c as u32)
    } else {
        return Ok(());
    };
    let shown: String = tenant.chars().take(64).collect();
    let ellipsis = if shown.len() < tenant.len() {
        "…"
    } else {
        ""
    };
    Err(Error::invalid_input(format!(
        "tenant {shown:?}{ellipsis} {problem}; the tenant must be the requester's identity (for \
         cert-manager, the Issuer's namespace): 1 to {MAX_TENANT_LEN} bytes, no control characters"
    )))
}

/// Step 7's precondition.
fn check_zone(zone: &ZoneName) -> Result<()> {
    let len = zone.as_str().len();
    if len > MAX_ZONE_LEN {
        return Err(Error::invalid_input(format!(
            "zone {:?} is {len} bytes long; a validation zone may be at most {MAX_ZONE_LEN} bytes \
             so that every delegated name (one label of up to {MAX_LABEL_LEN} bytes plus the \
             zone) stays within {MAX_NAME_LEN} bytes; use a shorter validation zone",
            zone.as_str()
        )));
    }
    Ok(())
}

/// Steps 3 and 4.
fn tenant_hash(domain: &str, tenant: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(ALGORITHM_TAG.as_bytes());
    hasher.update([0u8]);
    hasher.update(tenant.as_bytes());
    hasher.update([0u8]);
    hasher.update(domain.as_bytes());
    let mut encoded = BASE32_NOPAD.encode(&hasher.finalize());
    encoded.truncate(HASH_LEN);
    encoded.make_ascii_lowercase();
    encoded
}

/// Step 5.
fn readable_prefix(domain: &str) -> String {
    let mut prefix = String::with_capacity(domain.len());
    for c in domain.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            prefix.push(c);
        } else if !prefix.is_empty() && !prefix.ends_with('-') {
            prefix.push('-');
        }
    }
    // Every character is ASCII, so any byte index is a character boundary.
    prefix.truncate(MAX_PREFIX_LEN);
    while prefix.ends_with('-') {
        prefix.pop();
    }
    prefix
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::error::ErrorKind;

    fn fqdn(s: &str) -> Fqdn {
        Fqdn::parse(s).unwrap()
    }

    fn zone(s: &str) -> ZoneName {
        ZoneName::parse(s).unwrap()
    }

    fn name(domain: &str, tenant: &str, zone_name: &str) -> String {
        delegated_name(&fqdn(domain), tenant, &zone(zone_name))
            .unwrap()
            .as_str()
            .to_owned()
    }

    const ZONE: &str = "acme.platform.example";

    /// Frozen outputs. If this test fails, the naming function changed and every customer's
    /// CNAME would be orphaned: revert the change. (Hashes checked independently with Python's
    /// hashlib and base64.)
    #[test]
    fn golden_outputs_never_change() {
        #[rustfmt::skip]
        let cases = [
            // (domain, tenant, zone, expected)
            ("app.customer.com", "team-a", ZONE,
             "app-customer-com-24gkd4g7icoksudfun4gfktsg7.acme.platform.example"),
            // Same domain, another tenant: another name.
            ("app.customer.com", "team-b", ZONE,
             "app-customer-com-2q4m3ren5hjluw5mpqcyiwtbcc.acme.platform.example"),
            // The wildcard dnsName shares the name of its base.
            ("*.app.customer.com", "team-a", ZONE,
             "app-customer-com-24gkd4g7icoksudfun4gfktsg7.acme.platform.example"),
            // IDN: hashed and prefixed in punycode (xn--bcher-kva.xn--strae-oqa.de).
            ("Bücher.Straße.de", "shop", ZONE,
             "xn-bcher-kva-xn-strae-oqa-de-c24qlr76s5lxmy6kum3dephezh.acme.platform.example"),
            // A deep domain.
            ("a.b.c.d.e.f.g.example.co.uk", "ns1", ZONE,
             "a-b-c-d-e-f-g-example-co-uk-he36vjf34vxhrjqi2t3lhxrg7k.acme.platform.example"),
            // Long enough to cut the prefix at 36 bytes.
            ("a-very-long-service-name-for-testing.with-another-long-label.customer-domain.example.com",
             "team-a", ZONE,
             "a-very-long-service-name-for-testing-uvpq55utwzh2ucel6cw6djxbcz.acme.platform.example"),
            // Another zone: same label, other suffix.
            ("app.customer.com", "team-a", "validation.other.net",
             "app-customer-com-24gkd4g7icoksudfun4gfktsg7.validation.other.net"),
            // Underscore labels.
            ("_sip._tcp.example.com", "voice", ZONE,
             "sip-tcp-example-com-w4ijducrimme2bbap4opwmludn.acme.platform.example"),
        ];
        for (domain, tenant, zone_name, expected) in cases {
            assert_eq!(
                name(domain, tenant, zone_name),
                expected,
                "{domain} / {tenant}"
            );
        }
        assert_eq!(
            cname_instruction(&fqdn("*.app.customer.com"), "team-a", &zone(ZONE)).unwrap(),
            "_acme-challenge.app.customer.com. CNAME \
             app-customer-com-24gkd4g7icoksudfun4gfktsg7.acme.platform.example."
        );
    }

    #[test]
    fn a_wildcard_and_its_base_name_share_one_target() {
        assert_eq!(
            name("*.app.customer.com", "t", ZONE),
            name("app.customer.com", "t", ZONE)
        );
        assert_eq!(
            challenge_name(&fqdn("*.app.customer.com"))
                .unwrap()
                .as_str(),
            "_acme-challenge.app.customer.com"
        );
    }

    #[test]
    fn the_cname_instruction_is_one_absolute_zone_file_line() {
        let line = cname_instruction(&fqdn("App.Customer.com"), "team-a", &zone(ZONE)).unwrap();
        let target = name("app.customer.com", "team-a", ZONE);
        assert_eq!(
            line,
            format!("_acme-challenge.app.customer.com. CNAME {target}.")
        );
    }

    #[test]
    fn invalid_tenants_are_refused_naming_the_field() {
        let too_long = "t".repeat(254);
        for tenant in ["", "a\0b", "tab\there", "line\n", too_long.as_str()] {
            let err = delegated_name(&fqdn("app.customer.com"), tenant, &zone(ZONE)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.message().starts_with("tenant "), "{err}");
            assert!(err.message().contains("Issuer's namespace"), "{err}");
            assert!(
                err.message().len() < 300,
                "a long tenant is not echoed whole: {err}"
            );
        }
        let longest = "t".repeat(253);
        assert!(delegated_name(&fqdn("a.example"), &longest, &zone(ZONE)).is_ok());
    }

    #[test]
    fn a_zone_without_room_for_a_full_label_is_refused_naming_the_field() {
        let labels = |n: usize| vec!["z".repeat(63); n].join(".");
        // 63*3 + 2 = 191 bytes: too long. 189 bytes: the longest accepted.
        let long = zone(&labels(3));
        let err = delegated_name(&fqdn("app.customer.com"), "t", &long).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().starts_with("zone "), "{err}");
        assert!(err.message().contains("at most 189 bytes"), "{err}");
        let longest = zone(&format!("{}.{}", labels(2), "z".repeat(61)));
        assert_eq!(longest.as_str().len(), MAX_ZONE_LEN);
        let n = delegated_name(&fqdn(&labels(3)), "t", &longest).unwrap();
        assert_eq!(n.as_str().len(), MAX_NAME_LEN);
    }

    #[test]
    fn bare_wildcards_and_challenge_names_are_refused_as_domains() {
        for domain in [
            "*",
            "_acme-challenge.app.customer.com",
            "*._acme-challenge.x.com",
        ] {
            let err = delegated_name(&fqdn(domain), "t", &zone(ZONE)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{domain}");
            assert!(err.message().starts_with("domain "), "{err}");
        }
        assert!(challenge_name(&fqdn("*")).is_err());
    }

    #[test]
    fn a_challenge_name_too_long_for_dns_is_an_error_not_a_panic() {
        let long = fqdn(&vec!["a".repeat(62); 4].join("."));
        assert_eq!(long.as_str().len(), 251);
        let err = challenge_name(&long).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn the_prefix_uses_only_single_hyphens_between_alphanumerics() {
        assert_eq!(
            readable_prefix("xn--bcher-kva.example"),
            "xn-bcher-kva-example"
        );
        assert_eq!(
            readable_prefix("_sip._tcp.example.com"),
            "sip-tcp-example-com"
        );
        assert_eq!(readable_prefix("_"), "");
        let long = readable_prefix(&format!("{}-b.example", "a".repeat(35)));
        assert_eq!(long, "a".repeat(35), "a hyphen left at the cut is removed");
    }

    #[test]
    fn a_domain_with_no_alphanumerics_gets_the_bare_hash() {
        let n = name("_", "t", ZONE);
        let label = n.split('.').next().unwrap();
        assert_eq!(label.len(), HASH_LEN);
        assert!(
            label
                .chars()
                .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))
        );
    }

    /// A small deterministic generator of valid names, so failures reproduce.
    fn random_domain(rng: &mut fastrand::Rng) -> String {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_";
        let budget = rng.usize(1..=MAX_NAME_LEN);
        let mut labels: Vec<String> = Vec::new();
        let mut len = 0;
        loop {
            let want = rng.usize(1..=MAX_LABEL_LEN);
            let sep = usize::from(!labels.is_empty());
            if len + sep + want > budget {
                break;
            }
            let mut label: String = (0..want)
                .map(|_| char::from(CHARS[rng.usize(..CHARS.len())]))
                .collect();
            // Hyphens may not start or end a label.
            label = label.replace('-', "x");
            if want > 2 && rng.bool() {
                label.replace_range(1..2, "-");
            }
            len += sep + want;
            labels.push(label);
        }
        if labels.is_empty() {
            labels.push("a".into());
        }
        if rng.u8(..10) == 0 && len + 2 <= MAX_NAME_LEN {
            labels.insert(0, "*".into());
        }
        labels.join(".")
    }

    #[test]
    fn generated_names_always_fit_dns_limits_and_stay_in_the_zone() {
        let mut rng = fastrand::Rng::with_seed(0x0d05_01de);
        let zones = [
            zone("a.io"),
            zone(ZONE),
            zone(&vec!["z".repeat(40); 4].join(".")),
            zone(&format!(
                "{}.{}",
                vec!["q".repeat(63); 2].join("."),
                "q".repeat(61)
            )),
        ];
        for i in 0..4000 {
            let raw = random_domain(&mut rng);
            let domain = fqdn(&raw);
            if domain.labels().next() == Some("_acme-challenge") {
                continue;
            }
            let tenant = format!("tenant-{}", rng.u32(..));
            let z = &zones[i % zones.len()];
            let out = delegated_name(&domain, &tenant, z).unwrap();
            assert!(out.as_str().len() <= MAX_NAME_LEN, "{out:?}");
            assert!(
                out.labels()
                    .all(|l| !l.is_empty() && l.len() <= MAX_LABEL_LEN),
                "{out:?}"
            );
            let rel = out.relative_to(z).unwrap();
            assert!(
                !rel.as_str().contains('.'),
                "one label under the zone: {out:?}"
            );
            let label = rel.as_str();
            assert!(!label.starts_with('-') && !label.contains("--"), "{out:?}");
            assert!(
                label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{out:?}"
            );
            assert_eq!(
                Fqdn::parse(out.as_str()).unwrap(),
                out,
                "round-trips through parsing"
            );
            assert_eq!(
                delegated_name(&domain, &tenant, z).unwrap(),
                out,
                "deterministic"
            );
        }
    }

    #[test]
    fn distinct_tenants_and_domains_get_distinct_names() {
        let z = zone(ZONE);
        let mut seen = HashSet::new();
        for d in 0..50 {
            let domain = fqdn(&format!("app{d}.customer.com"));
            for t in 0..40 {
                let tenant = format!("ns-{t}");
                assert!(seen.insert(delegated_name(&domain, &tenant, &z).unwrap()));
            }
        }
        assert_eq!(seen.len(), 2000);
        // The encoding is unambiguous: moving bytes between tenant and domain changes the hash.
        assert_ne!(tenant_hash("c.com", "ab"), tenant_hash("bc.com", "a"));
        assert_ne!(
            name("x.ab.example", "t", ZONE),
            name("x-ab.example", "t", ZONE)
        );
    }
}
