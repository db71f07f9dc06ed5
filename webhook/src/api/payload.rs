//! Reading a `ChallengePayload` body.
//!
//! [`parse_payload`] first tries one typed pass over the shape cert-manager sends (every field
//! known, each with its type, objects where objects belong); that is the common case and costs
//! no intermediate [`Value`]. Any body that does not fit (an unknown or repeated field, a wrong
//! type, a `null` request, an array where an object belongs, bad JSON) goes to
//! [`parse_payload_reference`], which decides it and words the error. The typed pass never skips
//! input unread: serde's `IgnoredAny` would skip an unknown field without checking its string
//! escapes, so unknown fields are refused there instead of ignored.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;

use super::error::ApiError;
use super::types::{Action, ChallengePayload, ChallengeRequest};

/// Parses a body into a `ChallengePayload`, with a protocol error that says what is wrong.
pub fn parse_payload(body: &[u8]) -> Result<ChallengePayload, ApiError> {
    match parse_common(body) {
        Some(payload) => Ok(payload),
        None => parse_payload_reference(body),
    }
}

/// The typed pass: `Some` only for a body that the reference accepts with this same result.
fn parse_common(body: &[u8]) -> Option<ChallengePayload> {
    // One UTF-8 check of the whole body, instead of one per string (a body that is not UTF-8
    // goes to the reference parse, which says where).
    let text = std::str::from_utf8(body).ok()?;
    let Wire(wire) = serde_json::from_str(text).ok()?;
    let WireRequest(r) = wire.request;
    Some(ChallengePayload {
        api_version: wire.api_version,
        kind: wire.kind,
        request: Some(ChallengeRequest {
            uid: r.uid,
            action: r.action.0,
            challenge_type: r.challenge_type,
            dns_name: r.dns_name,
            key: r.key,
            resource_namespace: r.resource_namespace,
            resolved_fqdn: r.resolved_fqdn,
            resolved_zone: r.resolved_zone,
            allow_ambient_credentials: r.allow_ambient_credentials,
            config: r.config,
        }),
        response: None,
    })
}

/// The top level, read only from a JSON object.
struct Wire(WireFields);

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireFields {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    request: WireRequest,
}

/// `request`, read only from a JSON object.
struct WireRequest(WireRequestFields);

/// The fields of [`ChallengeRequest`], with the same names, types and defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRequestFields {
    #[serde(default)]
    uid: String,
    action: WireAction,
    #[serde(default, rename = "type")]
    challenge_type: String,
    #[serde(default, rename = "dnsName")]
    dns_name: String,
    #[serde(default)]
    key: String,
    #[serde(default, rename = "resourceNamespace")]
    resource_namespace: String,
    #[serde(default, rename = "resolvedFQDN")]
    resolved_fqdn: String,
    #[serde(default, rename = "resolvedZone")]
    resolved_zone: String,
    #[serde(default, rename = "allowAmbientCredentials")]
    allow_ambient_credentials: bool,
    #[serde(default)]
    config: Option<Value>,
}

impl<'de> Deserialize<'de> for Wire {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        WireFields::deserialize(ObjectOnly(deserializer)).map(Self)
    }
}

impl<'de> Deserialize<'de> for WireRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        WireRequestFields::deserialize(ObjectOnly(deserializer)).map(Self)
    }
}

/// `action`, read only from the strings `Present` and `CleanUp` (a derived enum would also take
/// `{"Present": null}`, which the reference refuses).
struct WireAction(Action);

impl<'de> Deserialize<'de> for WireAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ActionName;
        impl Visitor<'_> for ActionName {
            type Value = WireAction;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"Present\" or \"CleanUp\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireAction, E> {
                match v {
                    "Present" => Ok(WireAction(Action::Present)),
                    "CleanUp" => Ok(WireAction(Action::CleanUp)),
                    other => Err(E::unknown_variant(other, &["Present", "CleanUp"])),
                }
            }
        }
        deserializer.deserialize_str(ActionName)
    }
}

/// A deserializer that reads a struct only from a map: a derived struct also accepts a JSON
/// array of its fields in order, which the reference refuses.
struct ObjectOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// Parses a body like [`parse_payload`], building a [`Value`] first and walking it: slower,
/// and the source of every error message. Any body that [`parse_payload`] accepts, this
/// accepts with the same result (a property the `payload_handler` fuzz target and the tests
/// below check).
pub fn parse_payload_reference(body: &[u8]) -> Result<ChallengePayload, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("request body is not JSON: {e}")))?;
    let Some(obj) = value.as_object() else {
        return Err(ApiError::BadRequest(
            "request body is not a JSON object; expected a ChallengePayload".to_owned(),
        ));
    };
    let request = match obj.get("request") {
        None | Some(Value::Null) => {
            return Err(ApiError::Invalid(
                "the ChallengePayload has no request; expected {\"request\": {\"action\": ..., \
                 \"resolvedFQDN\": ..., ...}}"
                    .to_owned(),
            ));
        }
        Some(r) => r,
    };
    let Some(request) = request.as_object() else {
        return Err(ApiError::BadRequest(format!(
            "request body is not a valid ChallengePayload: request is {}, not an object; \
             expected {{\"request\": {{\"action\": ..., \"resolvedFQDN\": ..., ...}}}}",
            json_type(request)
        )));
    };
    match request.get("action") {
        None | Some(Value::Null) => {
            return Err(ApiError::Invalid(
                "request.action is missing; expected \"Present\" or \"CleanUp\"".to_owned(),
            ));
        }
        Some(Value::String(a)) if a == "Present" || a == "CleanUp" => {}
        Some(other) => {
            return Err(ApiError::Invalid(format!(
                "request.action {other} is not supported; expected \"Present\" or \"CleanUp\""
            )));
        }
    }
    // Name the field whose type is wrong: serde's own message does not.
    for &(field, want) in REQUEST_FIELD_TYPES {
        let Some(v) = request.get(field) else {
            continue;
        };
        let ok = match want {
            "a string" => v.is_string(),
            _ => v.is_boolean(),
        };
        if !ok {
            return Err(ApiError::BadRequest(format!(
                "request body is not a valid ChallengePayload: request.{field} must be {want}, \
                 not {}",
                json_type(v)
            )));
        }
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::BadRequest(format!(
            "request body is not a valid ChallengePayload: {}",
            crate::solver::config::scrub_serde_message(&e.to_string())
        ))
    })
}

/// The scalar fields of `request` and the JSON type each must have.
const REQUEST_FIELD_TYPES: &[(&str, &str)] = &[
    ("uid", "a string"),
    ("type", "a string"),
    ("dnsName", "a string"),
    ("key", "a string"),
    ("resourceNamespace", "a string"),
    ("resolvedFQDN", "a string"),
    ("resolvedZone", "a string"),
    ("allowAmbientCredentials", "a boolean"),
];

/// A JSON value's type, for messages (never the value itself: it may be a pasted secret).
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMON: &str = r#"{"apiVersion":"webhook.acme.cert-manager.io/v1alpha1","kind":"ChallengePayload","request":{"uid":"u-1","action":"Present","type":"dns-01","dnsName":"app.example.com","key":"k-1","resourceNamespace":"team-a","resolvedFQDN":"_acme-challenge.app.example.com.","resolvedZone":"example.com.","allowAmbientCredentials":false,"config":{"ttl":300,"tags":["a","\u00e9"]}}}"#;

    fn nested_config(depth: usize) -> String {
        format!(
            r#"{{"request":{{"action":"CleanUp","config":{}1{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    }

    /// Each body, and whether the typed pass takes it (`true`) or leaves it to the reference.
    fn cases() -> Vec<(String, bool)> {
        let mut cases: Vec<(String, bool)> = [
            (COMMON, true),
            (r#"{"request":{"action":"CleanUp"}}"#, true),
            (
                r#" {"req\u0075est" : {"action":"Present","config":null}} "#,
                true,
            ),
            // The reference refuses each of these; the typed pass must not take them.
            (r#"{"request":["u","Present"]}"#, false),
            (r#"[null,null,{"action":"Present"}]"#, false),
            (r#"{"request":{"action":{"Present":null}}}"#, false),
            (r#"{"request":{"action":"present"}}"#, false),
            (r#"{"request":{"action":"Present","x":"\ud800"}}"#, false),
            (
                r#"{"request":{"action":"Present","config":"\ud800"}}"#,
                false,
            ),
            (r#"{"request":{"action":"Present","uid":null}}"#, false),
            (
                r#"{"request":{"action":"Present","allowAmbientCredentials":"true"}}"#,
                false,
            ),
            (r#"{"request":null}"#, false),
            (r#"{"request":{"action":"Present"}} x"#, false),
            (r#"{"apiVersion":1,"request":{"action":"Present"}}"#, false),
            (r#"{"request":{"action":"Present","key":"\u"}}"#, false),
            // The reference accepts these; the typed pass leaves them to it.
            (
                r#"{"request":{"action":"Present","key":"a","key":"b"}}"#,
                false,
            ),
            (
                r#"{"request":{"action":"Present","extra":{"y":[1,2]}}}"#,
                false,
            ),
            (
                r#"{"request":{"action":"Present"},"response":{"uid":"","success":true}}"#,
                false,
            ),
        ]
        .into_iter()
        .map(|(body, fast)| (body.to_owned(), fast))
        .collect();
        // At and past serde_json's nesting limit, which both passes must count alike.
        for depth in [125, 126, 127, 128] {
            cases.push((nested_config(depth), depth <= 125));
        }
        cases
    }

    #[test]
    fn the_typed_pass_takes_only_what_the_reference_accepts_with_the_same_result() {
        for (body, fast) in cases() {
            let reference = parse_payload_reference(body.as_bytes());
            let typed = parse_common(body.as_bytes());
            assert_eq!(typed.is_some(), fast, "typed pass on {body}");
            if let Some(typed) = typed {
                assert_eq!(Ok(typed), reference, "typed pass on {body}");
            }
            assert_eq!(parse_payload(body.as_bytes()), reference, "{body}");
        }
    }

    #[test]
    fn the_common_body_reads_every_field() {
        let payload = parse_payload(COMMON.as_bytes()).unwrap();
        let request = payload.request.unwrap();
        assert_eq!(request.uid, "u-1");
        assert_eq!(request.action, Action::Present);
        assert_eq!(request.resolved_fqdn, "_acme-challenge.app.example.com.");
        assert_eq!(
            request.config,
            Some(serde_json::json!({"ttl": 300, "tags": ["a", "é"]}))
        );
        assert_eq!(payload.kind.as_deref(), Some("ChallengePayload"));
    }
}
