//! The cert-manager webhook wire types: `ChallengePayload` of group
//! `webhook.acme.cert-manager.io`, version `v1alpha1`.
//!
//! Shaped like kube-core's `AdmissionReview`: camelCase fields, explicit renames where Go's JSON
//! names differ (`resolvedFQDN`, `resolvedZone`), `Option` for everything cert-manager may leave
//! out. `config` is kept verbatim as JSON so that the echo in the response is exactly what came in.

use serde::{Deserialize, Serialize};

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

impl ChallengePayload {
    /// Appends this payload's JSON to `out`: the same bytes as `serde_json::to_writer`, written
    /// directly. The answer to every challenge request is this payload, and the generic
    /// serialiser spent more on it than on the rest of the answer; a test holds the two equal.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        let mut sep = Separator::default();
        out.push(b'{');
        if let Some(api_version) = &self.api_version {
            sep.key(out, "apiVersion");
            write_str(out, api_version)?;
        }
        if let Some(kind) = &self.kind {
            sep.key(out, "kind");
            write_str(out, kind)?;
        }
        if let Some(request) = &self.request {
            sep.key(out, "request");
            request.write_json(out)?;
        }
        if let Some(response) = &self.response {
            sep.key(out, "response");
            response.write_json(out)?;
        }
        out.push(b'}');
        Ok(())
    }
}

impl ChallengeRequest {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        out.extend_from_slice(b"{\"uid\":");
        write_str(out, &self.uid)?;
        out.extend_from_slice(b",\"action\":");
        write_str(out, self.action.as_str())?;
        out.extend_from_slice(b",\"type\":");
        write_str(out, &self.challenge_type)?;
        out.extend_from_slice(b",\"dnsName\":");
        write_str(out, &self.dns_name)?;
        out.extend_from_slice(b",\"key\":");
        write_str(out, &self.key)?;
        out.extend_from_slice(b",\"resourceNamespace\":");
        write_str(out, &self.resource_namespace)?;
        out.extend_from_slice(b",\"resolvedFQDN\":");
        write_str(out, &self.resolved_fqdn)?;
        out.extend_from_slice(b",\"resolvedZone\":");
        write_str(out, &self.resolved_zone)?;
        out.extend_from_slice(if self.allow_ambient_credentials {
            b",\"allowAmbientCredentials\":true"
        } else {
            b",\"allowAmbientCredentials\":false"
        });
        if let Some(config) = &self.config {
            out.extend_from_slice(b",\"config\":");
            serde_json::to_writer(&mut *out, config)?;
        }
        out.push(b'}');
        Ok(())
    }
}

impl ChallengeResponse {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        out.extend_from_slice(b"{\"uid\":");
        write_str(out, &self.uid)?;
        out.extend_from_slice(if self.success {
            b",\"success\":true"
        } else {
            b",\"success\":false"
        });
        if let Some(status) = &self.status {
            out.extend_from_slice(b",\"status\":");
            serde_json::to_writer(&mut *out, status)?;
        }
        out.push(b'}');
        Ok(())
    }
}

/// Writes the commas between the members of an object whose members are all optional.
#[derive(Default)]
struct Separator(bool);

impl Separator {
    fn key(&mut self, out: &mut Vec<u8>, key: &str) {
        if std::mem::replace(&mut self.0, true) {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
    }
}

/// A JSON string, escaped as serde_json escapes it. Most strings need no escape at all, and are
/// copied whole.
fn write_str(out: &mut Vec<u8>, s: &str) -> Result<(), serde_json::Error> {
    if crate::scan::first_special(s.as_bytes()) == s.len() {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(out, s)
    }
}

/// The action to take on the challenge record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Make sure the TXT value exists.
    Present,
    /// Make sure the TXT value no longer exists.
    CleanUp,
}

impl Action {
    /// The wire form, also used as a metrics label and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Present => "Present",
            Self::CleanUp => "CleanUp",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

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

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(text(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Plain names, and anything at all (quotes, backslashes, controls, non-ASCII).
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9._-]{0,12}",
            any::<String>(),
            "[\"\\\\\u{0}-\u{1f}\u{7f}a]{0,6}"
        ]
    }

    fn payload() -> impl Strategy<Value = ChallengePayload> {
        let request = (
            (text(), any::<bool>(), text(), text(), text()),
            (text(), text(), text(), any::<bool>()),
            prop::option::of(json_value()),
        )
            .prop_map(
                |((uid, present, ty, dns, key), (ns, fqdn, zone, ambient), config)| {
                    ChallengeRequest {
                        uid,
                        action: if present {
                            Action::Present
                        } else {
                            Action::CleanUp
                        },
                        challenge_type: ty,
                        dns_name: dns,
                        key,
                        resource_namespace: ns,
                        resolved_fqdn: fqdn,
                        resolved_zone: zone,
                        allow_ambient_credentials: ambient,
                        config,
                    }
                },
            );
        let response =
            (text(), prop::option::of(text())).prop_map(|(uid, failure)| match failure {
                Some(message) => ChallengeResponse::failure(uid, message),
                None => ChallengeResponse::success(uid),
            });
        (
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(request),
            prop::option::of(response),
        )
            .prop_map(|(api_version, kind, request, response)| ChallengePayload {
                api_version,
                kind,
                request,
                response,
            })
    }

    proptest! {
        #[test]
        fn the_written_answer_is_what_serde_json_writes(payload in payload()) {
            let mut written = Vec::new();
            payload.write_json(&mut written).unwrap();
            prop_assert_eq!(
                String::from_utf8(written).unwrap(),
                serde_json::to_string(&payload).unwrap()
            );
        }
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
