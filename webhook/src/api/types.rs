//! The cert-manager webhook wire types: `ChallengePayload` of group
//! `webhook.acme.cert-manager.io`, version `v1alpha1`.
//!
//! Shaped like kube-core's `AdmissionReview`: camelCase fields, explicit renames where Go's JSON
//! names differ (`resolvedFQDN`, `resolvedZone`), `Option` for everything cert-manager may leave
//! out. `config` is kept verbatim as JSON so that the echo in the response is exactly what came in.

use dns01_core::{Fqdn, TxtValue, ZoneName};
use serde::{Deserialize, Serialize};

use crate::challenge::Challenge;

/// The API group of the payload type (not the server's group name).
pub const PAYLOAD_GROUP: &str = "webhook.acme.cert-manager.io";
/// The API version of the payload type.
pub const PAYLOAD_VERSION: &str = "v1alpha1";
/// `apiVersion` of the payload type.
pub const PAYLOAD_API_VERSION: &str = "webhook.acme.cert-manager.io/v1alpha1";
/// `kind` of the payload type.
pub const PAYLOAD_KIND: &str = "ChallengePayload";

/// The body cert-manager posts, and the body we answer with (the same, plus `response`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengePayload {
    /// `webhook.acme.cert-manager.io/v1alpha1`; cert-manager may leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `ChallengePayload`; cert-manager may leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// What to do. Always present in a valid request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<ChallengeRequest>,
    /// What happened. Set by the webhook only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ChallengeResponse>,
}

pub use crate::challenge::Action;

/// `request`: the challenge to present or clean up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeRequest {
    /// An identifier that the response echoes; cert-manager leaves it empty.
    #[serde(default)]
    pub uid: String,
    /// `Present` or `CleanUp`.
    pub action: Action,
    /// The challenge type, `dns-01`.
    #[serde(default, rename = "type")]
    pub challenge_type: String,
    /// The domain being validated, without `*.` for wildcard orders.
    #[serde(default, rename = "dnsName")]
    pub dns_name: String,
    /// The TXT value (the key authorisation digest).
    #[serde(default)]
    pub key: String,
    /// The Issuer's namespace, or cert-manager's cluster resource namespace for a ClusterIssuer.
    #[serde(default, rename = "resourceNamespace")]
    pub resource_namespace: String,
    /// The name to write, absolute with a trailing dot, after any CNAME following.
    #[serde(default, rename = "resolvedFQDN")]
    pub resolved_fqdn: String,
    /// The zone cert-manager found for `resolvedFQDN` by walking SOA records.
    #[serde(default, rename = "resolvedZone")]
    pub resolved_zone: String,
    /// Whether credentials from the webhook's own environment may be used.
    #[serde(default, rename = "allowAmbientCredentials")]
    pub allow_ambient_credentials: bool,
    /// The Issuer's `solvers[].dns01.webhook.config`, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

/// `response`: the outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeResponse {
    /// The request's `uid`.
    pub uid: String,
    /// Whether the action succeeded.
    pub success: bool,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResponseStatus>,
}

impl ChallengeResponse {
    /// A successful outcome for the request with this uid.
    pub fn success(uid: impl Into<String>) -> Self {
        Self {
            uid: uid.into(),
            success: true,
            status: None,
        }
    }

    /// A failed outcome with the message cert-manager shows on the Challenge.
    pub fn failure(uid: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            uid: uid.into(),
            success: false,
            status: Some(ResponseStatus {
                metadata: serde_json::Map::new(),
                status: "Failed".to_owned(),
                message: message.into(),
            }),
        }
    }
}

/// The `metav1.Status` subset cert-manager reads from a failed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseStatus {
    /// Always `{}`.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The literal `Failed`, as the Go server writes it.
    pub status: String,
    /// What failed, where, and what to do.
    pub message: String,
}

/// A Kubernetes `Status` object (`kind: Status, apiVersion: v1`), the body of every HTTP error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Always `Status`.
    pub kind: String,
    /// Always `v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `{}`.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Always `Failure` for errors.
    pub status: String,
    /// What is wrong, in words.
    pub message: String,
    /// The machine-readable reason (`BadRequest`, `NotFound`, `Invalid`, ...).
    pub reason: String,
    /// The HTTP status code.
    pub code: u16,
}

impl Status {
    /// A failure `Status` with this reason, code and message.
    pub fn failure(reason: &str, code: u16, message: impl Into<String>) -> Self {
        Self {
            kind: "Status".to_owned(),
            api_version: "v1".to_owned(),
            metadata: serde_json::Map::new(),
            status: "Failure".to_owned(),
            message: message.into(),
            reason: reason.to_owned(),
            code,
        }
    }
}

impl Challenge {
    /// Validates a wire request. The error says which field is wrong and why.
    pub fn from_request(req: &ChallengeRequest) -> Result<Self, String> {
        let dns_name_raw = req.dns_name.strip_prefix("*.").unwrap_or(&req.dns_name);
        let dns_name = Fqdn::parse(dns_name_raw).map_err(|e| format!("request.dnsName: {e}"))?;
        let resolved_fqdn =
            Fqdn::parse(&req.resolved_fqdn).map_err(|e| format!("request.resolvedFQDN: {e}"))?;
        if resolved_fqdn.is_wildcard() {
            // A TXT record at a wildcard would answer for every name below it that has none.
            return Err(format!(
                "request.resolvedFQDN: {resolved_fqdn} is a wildcard name; a challenge record is \
                 written at one name (_acme-challenge.<domain>), never at a wildcard"
            ));
        }
        // resolvedZone is only a hint; an unusable one is ignored rather than refused.
        let resolved_zone = ZoneName::parse(&req.resolved_zone).ok();
        let value = TxtValue::new(req.key.clone()).map_err(|e| format!("request.key: {e}"))?;
        Ok(Self {
            action: req.action,
            dns_name,
            resolved_fqdn,
            resolved_zone,
            value,
            namespace: req.resource_namespace.clone(),
            allow_ambient_credentials: req.allow_ambient_credentials,
            config: req.config.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_json_names_are_used_on_the_wire() {
        let req = ChallengeRequest {
            uid: String::new(),
            action: Action::CleanUp,
            challenge_type: "dns-01".into(),
            dns_name: "example.com".into(),
            key: "k".into(),
            resource_namespace: "ns".into(),
            resolved_fqdn: "_acme-challenge.example.com.".into(),
            resolved_zone: "example.com.".into(),
            allow_ambient_credentials: true,
            config: None,
        };
        let v = serde_json::to_value(&req).unwrap();
        for key in [
            "uid",
            "action",
            "type",
            "dnsName",
            "key",
            "resourceNamespace",
            "resolvedFQDN",
            "resolvedZone",
            "allowAmbientCredentials",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert_eq!(v["action"], "CleanUp");
        assert!(v.get("config").is_none());
    }

    #[test]
    fn a_failed_response_carries_the_literal_failed_status() {
        let v = serde_json::to_value(ChallengeResponse::failure("u", "why")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"uid":"u","success":false,"status":{"metadata":{},"status":"Failed","message":"why"}})
        );
    }
}
