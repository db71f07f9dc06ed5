//! Solver configuration: the Issuer's `solvers[].dns01.webhook.config`, as cert-manager passes
//! it verbatim in `request.config`.
//!
//! Unknown keys are refused with a message that names the key and lists the valid ones: a typo
//! in an Issuer must not be silently ignored.
//!
//! ## `gandi`
//!
//! ```json
//! {
//!   "patSecretRef": {"name": "gandi-credentials", "key": "api-token"},
//!   "sharingId": "optional-organization-id",
//!   "ttl": 300,
//!   "endpoint": "production",
//!   "delegation": {"zone": "acme.platform.example", "mode": "follow", "tenantBinding": true}
//! }
//! ```
//!
//! - `patSecretRef` (a Gandi personal access token, sent as `Authorization: Bearer`) or
//!   `apiKeySecretRef` (a legacy API key, sent as `Authorization: Apikey`): a Secret in the
//!   request's `resourceNamespace`. `key` defaults to `api-token` for `patSecretRef` and to
//!   `api-key` for `apiKeySecretRef`. Give one or neither, never both; with neither, the
//!   webhook's own (ambient) credentials are used, and only when `allowAmbientCredentials` is
//!   true (cert-manager's default for ClusterIssuers, never for Issuers).
//! - `sharingId`: the Gandi organisation to act in.
//! - `ttl`: TTL of the TXT records, seconds (Gandi's minimum, 300, by default).
//! - `endpoint`: `production` (default) or `sandbox`. Never a URL: the base URL of each
//!   endpoint is the operator's choice (`--gandi-api-url`), not an Issuer author's, so that an
//!   Issuer cannot send the credential elsewhere.
//! - `delegation`: see [`DelegationConfig`].
//!
//! ## `memory`
//!
//! `{"ttl": 60, "delegation": {...}}`, both optional.

use serde::{Deserialize, Deserializer};

use dns01_core::ZoneName;

use super::SolverError;

/// Default Secret key of `patSecretRef`.
pub const DEFAULT_PAT_KEY: &str = "api-token";
/// Default Secret key of `apiKeySecretRef`.
pub const DEFAULT_API_KEY_KEY: &str = "api-key";

/// A reference to one key of a Secret in the request's `resourceNamespace`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The Secret's name.
    pub name: String,
    /// The key inside it; each reference documents its default.
    #[serde(default)]
    pub key: Option<String>,
}

impl SecretRef {
    /// The key, or `default` when none was given.
    pub fn key_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.key
            .as_deref()
            .filter(|k| !k.is_empty())
            .unwrap_or(default)
    }
}

/// Which Gandi endpoint to use; the operator decides their URLs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GandiEndpoint {
    /// Gandi's production API (or the operator's `--gandi-api-url`).
    #[default]
    Production,
    /// Gandi's sandbox API.
    Sandbox,
}

/// How a delegated validation zone is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DelegationMode {
    /// cert-manager follows the customer's `_acme-challenge` CNAME (`cnameStrategy: Follow`);
    /// the webhook checks that `resolvedFQDN` is inside the zone (and, with tenant binding,
    /// that it is the name bound to the requesting namespace).
    #[default]
    Follow,
    /// The webhook ignores `resolvedFQDN` and writes at the delegated name it computes from
    /// `dnsName` and the namespace, so issuance needs no CNAME following and cleanup does not
    /// depend on the CNAME still resolving.
    Map,
}

/// `delegation`: a validation zone that is both a guard and a map.
///
/// `tenantBinding` (default `true`) makes the webhook write only at the name bound to the
/// requesting namespace (`dns01-webhook cname` prints it). Turning it off in `follow` mode
/// accepts any name inside the zone: then anyone who can create an Issuer in any namespace can
/// answer challenges for every domain delegated into the zone. Only turn it off when one tenant
/// owns the whole zone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DelegationConfig {
    /// The validation zone, e.g. `acme.platform.example`.
    #[serde(deserialize_with = "zone_name")]
    pub zone: ZoneName,
    /// `follow` (default) or `map`.
    #[serde(default)]
    pub mode: DelegationMode,
    /// Bind each delegated name to the requesting namespace (default `true`).
    #[serde(default = "yes")]
    pub tenant_binding: bool,
}

fn yes() -> bool {
    true
}

fn zone_name<'de, D: Deserializer<'de>>(d: D) -> Result<ZoneName, D::Error> {
    let s = String::deserialize(d)?;
    ZoneName::parse(&s).map_err(serde::de::Error::custom)
}

/// The `gandi` solver's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GandiSolverConfig {
    /// A personal access token (key default `api-token`).
    #[serde(default)]
    pub pat_secret_ref: Option<SecretRef>,
    /// A legacy API key (key default `api-key`).
    #[serde(default)]
    pub api_key_secret_ref: Option<SecretRef>,
    /// The Gandi organisation to act in.
    #[serde(default)]
    pub sharing_id: Option<String>,
    /// TTL of the TXT records, seconds.
    #[serde(default)]
    pub ttl: Option<u32>,
    /// `production` (default) or `sandbox`.
    #[serde(default)]
    pub endpoint: GandiEndpoint,
    /// A delegated validation zone.
    #[serde(default)]
    pub delegation: Option<DelegationConfig>,
}

/// The `memory` solver's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemorySolverConfig {
    /// TTL of the TXT records, seconds.
    #[serde(default)]
    pub ttl: Option<u32>,
    /// A delegated validation zone.
    #[serde(default)]
    pub delegation: Option<DelegationConfig>,
}

/// A serde error message with any quoted string value replaced by `a string`: a credential
/// pasted where a reference belongs (`"patSecretRef": "<token>"`) must not be echoed into the
/// Challenge status or the logs. Key names (`unknown field `x``) are kept.
pub fn scrub_serde_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find("string \"") {
        out.push_str(&rest[..i]);
        out.push_str("a string");
        let after = &rest[i + "string \"".len()..];
        // Skip to the closing quote (serde escapes inner quotes as \").
        let mut end = after.len();
        let mut escaped = false;
        for (j, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = j + 1;
                    break;
                }
                _ => escaped = false,
            }
        }
        rest = &after[end.min(after.len())..];
    }
    out.push_str(rest);
    out
}

/// Parses `request.config` for `solver`; an absent or `null` config is `{}`.
pub fn parse<T>(solver: &str, config: Option<&serde_json::Value>) -> Result<T, SolverError>
where
    T: serde::de::DeserializeOwned + Default,
{
    match config {
        None | Some(serde_json::Value::Null) => {
            serde_json::from_value(serde_json::Value::Object(Default::default())).map_err(|e| {
                SolverError::Config {
                    solver: solver.to_owned(),
                    message: e.to_string(),
                }
            })
        }
        Some(v) => T::deserialize(v).map_err(|e| {
            let message = scrub_serde_message(&e.to_string());
            SolverError::Config {
                solver: solver.to_owned(),
                message: match failing_key::<T>(v) {
                    Some(key) if !message.contains(&format!("`{key}`")) => {
                        format!("`{key}`: {message}")
                    }
                    _ => message,
                },
            }
        }),
    }
}

/// The first top-level key of `config` that fails to parse on its own: serde's messages
/// ("invalid value: integer `-1`, expected u32") do not say which field they are about.
/// Every field of a solver config is optional, so a key alone parses exactly when its value
/// is valid.
fn failing_key<T: serde::de::DeserializeOwned>(config: &serde_json::Value) -> Option<&str> {
    config.as_object()?.iter().find_map(|(key, value)| {
        let mut alone = serde_json::Map::new();
        alone.insert(key.clone(), value.clone());
        T::deserialize(serde_json::Value::Object(alone))
            .is_err()
            .then_some(key.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_unknown_key_is_named_with_the_valid_keys() {
        let e = parse::<GandiSolverConfig>("gandi", Some(&json!({"patSecretref": {"name": "x"}})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`patSecretref`"), "{e}");
        assert!(e.contains("patSecretRef"), "{e}");
        assert!(e.contains("apiKeySecretRef"), "{e}");
        assert!(e.contains("gandi"), "{e}");
    }

    #[test]
    fn the_sample_gandi_config_parses_with_documented_defaults() {
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/gandi/config.json"
        ))
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let c: GandiSolverConfig = parse("gandi", Some(&v)).unwrap();
        let pat = c.pat_secret_ref.unwrap();
        assert_eq!(pat.name, "gandi-credentials");
        assert_eq!(pat.key_or(DEFAULT_PAT_KEY), "api-token");
        assert_eq!(c.endpoint, GandiEndpoint::Production);
        assert!(c.delegation.is_none());
    }

    #[test]
    fn delegation_defaults_to_follow_with_tenant_binding() {
        let c: GandiSolverConfig = parse(
            "gandi",
            Some(&json!({"delegation": {"zone": "acme.platform.example."}})),
        )
        .unwrap();
        let d = c.delegation.unwrap();
        assert_eq!(d.zone.as_str(), "acme.platform.example");
        assert!(d.tenant_binding);
        assert_eq!(d.mode, DelegationMode::Follow);
    }

    #[test]
    fn an_endpoint_must_be_a_name_not_a_url() {
        let e = parse::<GandiSolverConfig>("gandi", Some(&json!({"endpoint": "https://evil"})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("production") && e.contains("sandbox"), "{e}");
    }

    #[test]
    fn an_invalid_delegation_zone_is_refused_with_the_input() {
        let e =
            parse::<MemorySolverConfig>("memory", Some(&json!({"delegation": {"zone": "a..b"}})))
                .unwrap_err()
                .to_string();
        assert!(e.contains("a..b"), "{e}");
    }

    #[test]
    fn a_string_pasted_where_a_reference_belongs_is_not_echoed() {
        let e =
            parse::<GandiSolverConfig>("gandi", Some(&json!({"patSecretRef": "tok\"en-s3cr3t"})))
                .unwrap_err()
                .to_string();
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(e.contains("invalid type: a string"), "{e}");
        assert!(e.contains("SecretRef"), "{e}");
    }

    #[test]
    fn a_wrongly_typed_value_is_named_by_its_key() {
        let e = parse::<GandiSolverConfig>("gandi", Some(&json!({"ttl": -1})))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`ttl`: invalid value: integer `-1`, expected u32"),
            "{e}"
        );
        let e = parse::<GandiSolverConfig>("gandi", Some(&json!({"patSecretRef": {"key": "k"}})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`patSecretRef`: missing field `name`"), "{e}");
    }

    #[test]
    fn an_absent_config_is_the_default() {
        let c: MemorySolverConfig = parse("memory", None).unwrap();
        assert_eq!(c, MemorySolverConfig::default());
    }
}
