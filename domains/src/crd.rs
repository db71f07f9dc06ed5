//! The `CustomDomain` resource (`domains.dns01.dev/v1alpha1`): what a tenant asks for (spec) and
//! what the controller found (status).
//!
//! ```yaml
//! apiVersion: domains.dns01.dev/v1alpha1
//! kind: CustomDomain
//! metadata: {name: app-customer-com, namespace: team-a}
//! spec:
//!   hostname: app.customer.com
//!   target: {service: {name: web, port: 8080}}
//!   issuerRef: {name: letsencrypt-gandi, kind: Issuer}
//! ```

use std::fmt;
use std::net::IpAddr;

use dns01_core::Fqdn;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The API group of [`CustomDomain`].
pub const GROUP: &str = "domains.dns01.dev";

/// What a tenant asks for: serve `hostname` from `target`, with a certificate from `issuerRef`.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "domains.dns01.dev",
    version = "v1alpha1",
    kind = "CustomDomain",
    namespaced,
    status = "CustomDomainStatus",
    shortname = "cdom",
    doc = "A customer's hostname served by the platform, with the DNS records the customer must create and their live status.",
    // Raw JSON: clippy's duplicated_attributes lint misreads several `printcolumn(...)` lists.
    printcolumn = r#"{"name":"Hostname","type":"string","jsonPath":".spec.hostname"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Requirement","type":"string","description":"The first unmet requirement","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CustomDomainSpec {
    /// The customer's hostname, e.g. `app.customer.com` (no wildcard: see `wildcard`).
    pub hostname: Hostname,
    /// Where the traffic goes.
    pub target: Target,
    /// The cert-manager issuer that issues the certificate (DNS-01 through the validation zone).
    pub issuer_ref: IssuerRef,
    /// Also ask for `*.<hostname>` in the certificate.
    #[serde(default)]
    pub wildcard: bool,
}

/// A customer's hostname: a valid DNS name of at least two labels, not a wildcard and not a
/// challenge name. Parsed with `dns01-core`'s [`Fqdn`], so lowercase and punycode.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hostname(Fqdn);

impl Hostname {
    /// Parses and checks a hostname.
    ///
    /// # Errors
    /// [`Error::InvalidName`] when it is not a valid DNS name, is a wildcard, has one label, or
    /// starts with `_acme-challenge`.
    pub fn parse(input: &str) -> Result<Self> {
        let fqdn = Fqdn::parse(input).map_err(|e| Error::invalid_name("hostname", input, &e))?;
        let refuse = |reason: &str| Error::InvalidName {
            field: "hostname",
            value: input.to_owned(),
            reason: reason.to_owned(),
        };
        if fqdn.is_wildcard() {
            return Err(refuse(
                "a wildcard is not a hostname; give the name and set `wildcard: true`",
            ));
        }
        if fqdn.label_count() < 2 {
            return Err(refuse("a single label is not a customer's domain"));
        }
        if fqdn.labels().next() == Some("_acme-challenge") {
            return Err(refuse(
                "this is the challenge name; give the hostname the traffic is for",
            ));
        }
        Ok(Self(fqdn))
    }

    /// The validated name.
    pub fn fqdn(&self) -> &Fqdn {
        &self.0
    }

    /// The name without its trailing dot.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl TryFrom<String> for Hostname {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<Hostname> for String {
    fn from(value: Hostname) -> Self {
        value.0.as_str().to_owned()
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hostname({:?})", self.0.as_str())
    }
}

impl JsonSchema for Hostname {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Hostname".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "minLength": 3,
            "maxLength": 253,
            "description": "A DNS name such as app.customer.com (no wildcard, no trailing dot needed)."
        })
    }
}

/// Where the customer's hostname sends traffic: exactly one of the three.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// A Service in the CustomDomain's namespace, reached through the platform's traffic
    /// hostname (a CNAME) or, for an apex, the platform's addresses or an ALIAS.
    Service(ServiceTarget),
    /// Another hostname: the customer's records point there instead of the platform's traffic
    /// hostname (CNAME, or ALIAS/ANAME at an apex).
    Hostname(String),
    /// Fixed addresses: the customer creates A/AAAA records to them.
    Addresses(Vec<IpAddr>),
}

/// A Service and port.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ServiceTarget {
    /// The Service's name, in the CustomDomain's namespace.
    pub name: String,
    /// The Service port.
    #[schemars(range(min = 1))]
    pub port: u16,
}

/// The cert-manager issuer, as in a Certificate's `issuerRef`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct IssuerRef {
    /// The issuer's name.
    pub name: String,
    /// `Issuer` (in the CustomDomain's namespace) or `ClusterIssuer`.
    pub kind: String,
    /// The issuer's API group; cert-manager.io when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// What the controller found.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomDomainStatus {
    /// The records the customer must create, and whether each is in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_records: Vec<RequiredRecord>,
    /// `DelegationVerified`, `DNSConfigured`, `CertificateReady`, `Routed`, `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When DNS was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked: Option<Time>,
    /// When DNS will be checked next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check: Option<Time>,
    /// The first check of this spec: unmet requirements expire 7 days after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_checked: Option<Time>,
    /// The value of the `domains.dns01.dev/recheck` annotation the last check acted on: a
    /// different value checks at once and starts a new schedule, also after a restart of the
    /// controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_recheck: Option<String>,
}

/// One record the customer must create.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct RequiredRecord {
    /// The owner name, absolute (`app.customer.com.`).
    pub name: String,
    /// The record type.
    #[serde(rename = "type")]
    pub record_type: RecordType,
    /// The value, absolute names with their trailing dot.
    pub value: String,
    /// What the record is for.
    pub purpose: Purpose,
    /// Whether every authoritative server answers it.
    pub found: bool,
    /// What is wrong, and what to do, when not found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The record types a customer is asked for.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecordType {
    /// An alias to another name (subdomains, `_acme-challenge`).
    Cname,
    /// An IPv4 address.
    A,
    /// An IPv6 address.
    Aaaa,
    /// An apex alias (ALIAS, ANAME or CNAME flattening, depending on the DNS host): resolvers
    /// see it as the target's A/AAAA records.
    Alias,
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cname => "CNAME",
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Alias => "ALIAS",
        })
    }
}

/// Why a record is needed.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Purpose {
    /// Sends the hostname's traffic to the platform.
    Traffic,
    /// Delegates ACME DNS-01 validation to the platform's validation zone (permanent).
    Validation,
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Traffic => "traffic",
            Self::Validation => "validation",
        })
    }
}

/// The CRD manifest as YAML, as `dns01-domains crd` prints it and the chart ships it.
///
/// # Errors
/// Only if the generated CRD cannot be serialised, which would be a bug.
pub fn crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    use kube::CustomResourceExt as _;
    serde_yaml_ng::to_string(&CustomDomain::crd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_normalised_and_refused_with_a_reason() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("App.Customer.COM.", Ok("app.customer.com")),
            ("customer.com", Ok("customer.com")),
            ("bücher.example", Ok("xn--bcher-kva.example")),
            ("*.customer.com", Err("wildcard")),
            ("com", Err("single label")),
            ("_acme-challenge.app.customer.com", Err("challenge name")),
            ("app..customer.com", Err("invalid hostname")),
            ("app/customer.com", Err("invalid hostname")),
        ];
        for (input, expected) in cases {
            match (Hostname::parse(input), expected) {
                (Ok(h), Ok(want)) => assert_eq!(h.as_str(), *want, "{input}"),
                (Err(e), Err(want)) => {
                    assert!(e.to_string().contains(want), "{input}: {e}");
                }
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_spec_reads_from_the_issue_example_and_rejects_a_bad_hostname() {
        let spec: CustomDomainSpec = serde_json::from_value(serde_json::json!({
            "hostname": "app.customer.com",
            "target": {"service": {"name": "web", "port": 8080}},
            "issuerRef": {"name": "letsencrypt-gandi", "kind": "Issuer"},
        }))
        .unwrap();
        assert_eq!(spec.hostname.as_str(), "app.customer.com");
        assert_eq!(
            spec.target,
            Target::Service(ServiceTarget {
                name: "web".into(),
                port: 8080
            })
        );
        assert!(!spec.wildcard);
        let bad = serde_json::from_value::<CustomDomainSpec>(serde_json::json!({
            "hostname": "*.customer.com",
            "target": {"addresses": ["203.0.113.7"]},
            "issuerRef": {"name": "x", "kind": "Issuer"},
        }));
        assert!(bad.unwrap_err().to_string().contains("wildcard"));
    }

    #[test]
    fn required_records_serialise_with_kubernetes_field_names() {
        let r = RequiredRecord {
            name: "app.customer.com.".into(),
            record_type: RecordType::Cname,
            value: "edge.platform.example.".into(),
            purpose: Purpose::Traffic,
            found: false,
            message: Some("missing".into()),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"name": "app.customer.com.", "type": "CNAME",
                "value": "edge.platform.example.", "purpose": "traffic", "found": false,
                "message": "missing"})
        );
    }
}
