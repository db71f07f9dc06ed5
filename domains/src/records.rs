//! The records a customer must create: computed, never guessed.
//!
//! - A **subdomain** (`app.customer.com`) gets a CNAME to the platform's traffic hostname.
//! - An **apex** (`customer.com`: a registrable domain by the public suffix list, where most DNS
//!   hosts refuse a CNAME) gets A/AAAA records to the platform's fixed addresses, or an
//!   ALIAS/ANAME to the platform's apex alias target (the traffic hostname unless the platform
//!   names another) when it has no fixed addresses.
//! - Every hostname gets the permanent `_acme-challenge.<hostname> CNAME <label>.<zone>`, where
//!   the label is [`dns01_core::delegation::delegated_name`] of (hostname, tenant): the same
//!   name the webhook writes the challenge at, and one that only this tenant can be answered at.

use std::net::IpAddr;

use dns01_core::delegation::{challenge_name, delegated_name};
use dns01_core::{Fqdn, ZoneName};

use crate::crd::{Hostname, Purpose, RecordType, Target};
use crate::error::{Error, Result};

/// The platform's side of the records: controller flags (or CLI flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// The validation zone the `_acme-challenge` CNAMEs point into.
    pub validation_zone: ZoneName,
    /// The hostname traffic CNAMEs (and apex ALIASes) point at.
    pub traffic_hostname: Fqdn,
    /// Fixed addresses for apex domains; when empty, an apex gets an ALIAS instead.
    pub addresses: Vec<IpAddr>,
    /// The hostname apex ALIASes point at, when it is not `traffic_hostname` (a platform may
    /// keep a name for flattening DNS hosts that resolves only to its anycast addresses).
    pub apex_alias_target: Option<Fqdn>,
}

impl Platform {
    /// The hostname an apex ALIAS points at: [`Platform::apex_alias_target`], else the
    /// traffic hostname.
    pub fn apex_target(&self) -> &Fqdn {
        self.apex_alias_target
            .as_ref()
            .unwrap_or(&self.traffic_hostname)
    }
}

/// One record the customer must create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The owner name.
    pub name: Fqdn,
    /// The type.
    pub record_type: RecordType,
    /// The value: an absolute name (`edge.platform.example.`) or an address.
    pub value: String,
    /// What it is for.
    pub purpose: Purpose,
}

impl Requirement {
    /// The record in zone-file form: `app.customer.com. CNAME edge.platform.example.`.
    pub fn zone_line(&self) -> String {
        format!("{} {} {}", self.name, self.record_type, self.value)
    }
}

/// Whether `hostname` is an apex: a registrable domain by the public suffix list
/// (`customer.com`, `customer.co.uk`), where a CNAME cannot go. Names under an unknown
/// top-level domain count one label below it (`customer.test`).
pub fn is_apex(hostname: &Fqdn) -> bool {
    registrable_domain(hostname).as_ref() == Some(hostname)
}

/// The registrable domain `hostname` belongs to (`customer.com` for `app.customer.com`), or
/// `None` for a public suffix itself (`co.uk`).
pub fn registrable_domain(hostname: &Fqdn) -> Option<Fqdn> {
    psl::domain_str(hostname.as_str()).and_then(|d| Fqdn::parse(d).ok())
}

/// The records the customer must create for `hostname`, requested by `tenant` (the
/// CustomDomain's namespace), traffic first, then validation.
///
/// # Errors
/// [`Error::InvalidName`] when a target hostname is not a valid name, [`Error::Delegation`]
/// when `dns01-core` refuses the tenant or the validation zone.
pub fn required_records(
    hostname: &Hostname,
    target: &Target,
    tenant: &str,
    platform: &Platform,
) -> Result<Vec<Requirement>> {
    records_for(hostname, Some(target), tenant, platform)
}

/// The records for `hostname` served through the platform's own edge (what a `service`
/// target gets): the traffic hostname or, at an apex, the platform's fixed addresses. This is
/// what `dns01-domains check` asks for, since a CLI user names no Service.
///
/// # Errors
/// As [`required_records`].
pub fn platform_records(
    hostname: &Hostname,
    tenant: &str,
    platform: &Platform,
) -> Result<Vec<Requirement>> {
    records_for(hostname, None, tenant, platform)
}

/// `target` `None` is the platform's edge.
fn records_for(
    hostname: &Hostname,
    target: Option<&Target>,
    tenant: &str,
    platform: &Platform,
) -> Result<Vec<Requirement>> {
    let name = hostname.fqdn();
    let apex = is_apex(name);
    let traffic = |record_type, value: String| Requirement {
        name: name.clone(),
        record_type,
        value,
        purpose: Purpose::Traffic,
    };
    let to_addresses = |addresses: &[IpAddr]| -> Vec<Requirement> {
        // IPv4 first, then IPv6, each in the given order.
        let v4 = addresses.iter().filter(|a| a.is_ipv4());
        let v6 = addresses.iter().filter(|a| a.is_ipv6());
        v4.chain(v6)
            .map(|a| {
                let t = if a.is_ipv4() {
                    RecordType::A
                } else {
                    RecordType::Aaaa
                };
                traffic(t, a.to_string())
            })
            .collect()
    };
    let to_hostname = |target: &Fqdn| {
        let t = if apex {
            RecordType::Alias
        } else {
            RecordType::Cname
        };
        vec![traffic(t, target.to_absolute_string())]
    };
    let mut records = match target {
        Some(Target::Addresses(addresses)) => to_addresses(addresses),
        Some(Target::Hostname(h)) => {
            let fqdn = Fqdn::parse(h).map_err(|e| Error::invalid_name("target.hostname", h, &e))?;
            to_hostname(&fqdn)
        }
        Some(Target::Service(_)) | None if apex && !platform.addresses.is_empty() => {
            to_addresses(&platform.addresses)
        }
        Some(Target::Service(_)) | None if apex => to_hostname(platform.apex_target()),
        Some(Target::Service(_)) | None => to_hostname(&platform.traffic_hostname),
    };
    let delegation_error = |source| Error::Delegation {
        hostname: name.as_str().to_owned(),
        source,
    };
    let owner = challenge_name(name).map_err(delegation_error)?;
    let delegated =
        delegated_name(name, tenant, &platform.validation_zone).map_err(delegation_error)?;
    records.push(Requirement {
        name: owner,
        record_type: RecordType::Cname,
        value: delegated.to_absolute_string(),
        purpose: Purpose::Validation,
    });
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ServiceTarget;

    fn platform(addresses: &[&str]) -> Platform {
        Platform {
            validation_zone: ZoneName::parse("acme.platform.example").unwrap(),
            traffic_hostname: Fqdn::parse("edge.platform.example").unwrap(),
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            apex_alias_target: None,
        }
    }

    fn service() -> Target {
        Target::Service(ServiceTarget {
            name: "web".into(),
            port: 8080,
        })
    }

    fn lines(records: &[Requirement]) -> Vec<String> {
        records
            .iter()
            .map(|r| format!("{} {}", r.zone_line(), r.purpose))
            .collect()
    }

    #[test]
    fn apex_detection_follows_the_public_suffix_list() {
        let cases = [
            ("customer.com", true),
            ("app.customer.com", false),
            ("customer.co.uk", true),
            ("www.customer.co.uk", false),
            ("co.uk", false),
            ("customer.github.io", true),
            ("app.customer.github.io", false),
            ("customer.test", true),
            ("a.b.customer.test", false),
        ];
        for (name, apex) in cases {
            assert_eq!(is_apex(&Fqdn::parse(name).unwrap()), apex, "{name}");
        }
    }

    #[test]
    fn records_for_subdomains_and_apexes_with_and_without_fixed_addresses() {
        let team_a = |host: &str| {
            delegated_name(
                &Fqdn::parse(host).unwrap(),
                "team-a",
                &ZoneName::parse("acme.platform.example").unwrap(),
            )
            .unwrap()
        };
        let cases: Vec<(&str, Target, Vec<&str>, Vec<String>)> = vec![
            (
                "app.customer.com",
                service(),
                vec!["203.0.113.7"],
                vec![
                    "app.customer.com. CNAME edge.platform.example. traffic".into(),
                    format!(
                        "_acme-challenge.app.customer.com. CNAME {} validation",
                        team_a("app.customer.com")
                    ),
                ],
            ),
            (
                "customer.com",
                service(),
                vec!["2001:db8::7", "203.0.113.7"],
                vec![
                    "customer.com. A 203.0.113.7 traffic".into(),
                    "customer.com. AAAA 2001:db8::7 traffic".into(),
                    format!(
                        "_acme-challenge.customer.com. CNAME {} validation",
                        team_a("customer.com")
                    ),
                ],
            ),
            (
                "customer.com",
                service(),
                vec![],
                vec![
                    "customer.com. ALIAS edge.platform.example. traffic".into(),
                    format!(
                        "_acme-challenge.customer.com. CNAME {} validation",
                        team_a("customer.com")
                    ),
                ],
            ),
            (
                "app.customer.com",
                Target::Hostname("Shop.Other-Edge.example".into()),
                vec![],
                vec![
                    "app.customer.com. CNAME shop.other-edge.example. traffic".into(),
                    format!(
                        "_acme-challenge.app.customer.com. CNAME {} validation",
                        team_a("app.customer.com")
                    ),
                ],
            ),
            (
                "app.customer.com",
                Target::Addresses(vec!["198.51.100.1".parse().unwrap()]),
                vec!["203.0.113.7"],
                vec![
                    "app.customer.com. A 198.51.100.1 traffic".into(),
                    format!(
                        "_acme-challenge.app.customer.com. CNAME {} validation",
                        team_a("app.customer.com")
                    ),
                ],
            ),
        ];
        for (host, target, addresses, want) in cases {
            let got = required_records(
                &Hostname::parse(host).unwrap(),
                &target,
                "team-a",
                &platform(&addresses),
            )
            .unwrap();
            assert_eq!(lines(&got), want, "{host} {target:?} {addresses:?}");
        }
    }

    #[test]
    fn an_apex_alias_points_at_the_apex_target_and_subdomains_keep_the_traffic_hostname() {
        let p = Platform {
            apex_alias_target: Some(Fqdn::parse("apex.platform.example").unwrap()),
            ..platform(&[])
        };
        let apex = Hostname::parse("customer.com").unwrap();
        let sub = Hostname::parse("app.customer.com").unwrap();
        let got = required_records(&apex, &service(), "team-a", &p).unwrap();
        assert_eq!(
            got[0].zone_line(),
            "customer.com. ALIAS apex.platform.example."
        );
        let got = platform_records(&sub, "team-a", &p).unwrap();
        assert_eq!(
            got[0].zone_line(),
            "app.customer.com. CNAME edge.platform.example."
        );
        // Fixed addresses still win at the apex.
        let fixed = Platform {
            addresses: vec!["203.0.113.7".parse().unwrap()],
            ..p.clone()
        };
        let got = required_records(&apex, &service(), "team-a", &fixed).unwrap();
        assert_eq!(got[0].zone_line(), "customer.com. A 203.0.113.7");
    }

    #[test]
    fn platform_records_are_those_of_a_service_target() {
        for (host, addresses) in [
            ("app.customer.com", vec![]),
            ("customer.com", vec!["203.0.113.7"]),
            ("customer.com", vec![]),
        ] {
            let host = Hostname::parse(host).unwrap();
            let p = platform(&addresses);
            assert_eq!(
                platform_records(&host, "team-a", &p).unwrap(),
                required_records(&host, &service(), "team-a", &p).unwrap(),
                "{host} {addresses:?}"
            );
        }
    }

    #[test]
    fn the_delegation_target_is_bound_to_the_tenant() {
        let host = Hostname::parse("app.customer.com").unwrap();
        let a = required_records(&host, &service(), "team-a", &platform(&[])).unwrap();
        let b = required_records(&host, &service(), "team-b", &platform(&[])).unwrap();
        assert_eq!(a[1].name, b[1].name);
        assert_ne!(a[1].value, b[1].value);
    }

    #[test]
    fn a_refused_tenant_or_target_is_an_error_naming_it() {
        let host = Hostname::parse("app.customer.com").unwrap();
        let err = required_records(&host, &service(), "", &platform(&[])).unwrap_err();
        assert!(matches!(err, Error::Delegation { .. }), "{err:?}");
        let err = required_records(
            &host,
            &Target::Hostname("bad..name".into()),
            "team-a",
            &platform(&[]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("target.hostname"), "{err}");
    }
}
