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
    match parse_plain(body).or_else(|| parse_common(body)) {
        Some(payload) => Ok(payload),
        None => parse_payload_reference(body),
    }
}

/// The plain pass, tried first: the body cert-manager sends, read straight from its bytes. It
/// takes only what the typed pass would take with the same result, and less: every field
/// known and present at most once, strings without escapes (outside `config`), a boolean
/// literal for `allowAmbientCredentials`, a `config` that is neither `null` nor deeply nested.
/// Anything else is left to [`parse_common`]. `config` itself is read by serde_json.
fn parse_plain(body: &[u8]) -> Option<ChallengePayload> {
    let text = std::str::from_utf8(body).ok()?;
    let mut cursor = Cursor { text, pos: 0 };
    let (mut api_version, mut kind, mut request) = (None, None, None);
    cursor.members(|c, key| {
        match key {
            "apiVersion" if api_version.is_none() => api_version = Some(c.string()?.to_owned()),
            "kind" if kind.is_none() => kind = Some(c.string()?.to_owned()),
            "request" if request.is_none() => request = Some(c.request()?),
            _ => return None,
        }
        Some(())
    })?;
    cursor.skip_whitespace();
    (cursor.pos == text.len()).then_some(())?;
    Some(ChallengePayload {
        api_version,
        kind,
        request: Some(request?),
        response: None,
    })
}

/// Configs nested deeper than this are left to the typed pass, which counts the nesting limit
/// from the top of the body (the plain pass reads `config` on its own, from depth zero).
const PLAIN_CONFIG_DEPTH: usize = 64;

/// A position in a body being read by [`parse_plain`].
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.as_bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Consumes `byte` (after whitespace), or fails.
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// A string with no escape and no control character, borrowed from the body.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let rest = self.text.as_bytes().get(start..)?;
        let len = crate::scan::first_special(rest);
        (rest.get(len) == Some(&b'"')).then_some(())?;
        self.pos = start + len + 1;
        self.text.get(start..start + len)
    }

    fn boolean(&mut self) -> Option<bool> {
        self.skip_whitespace();
        let rest = self.text.as_bytes().get(self.pos..)?;
        let (value, len) = if rest.starts_with(b"true") {
            (true, 4)
        } else if rest.starts_with(b"false") {
            (false, 5)
        } else {
            return None;
        };
        self.pos += len;
        Some(value)
    }

    /// Any JSON value, read by serde_json.
    fn value(&mut self) -> Option<Value> {
        let rest = self.text.get(self.pos..)?;
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        let value = values.next()?.ok()?;
        self.pos += values.byte_offset();
        Some(value)
    }

    /// An object: `member` is called with each key, the cursor before its value, and must
    /// consume the value.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            member(self, key)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn request(&mut self) -> Option<ChallengeRequest> {
        let mut action = None;
        let mut strings: [Option<&'a str>; 7] = [None; 7];
        let mut allow_ambient_credentials = None;
        let mut config = None;
        self.members(|c, key| {
            let slot = match key {
                "action" if action.is_none() => {
                    action = Some(match c.string()? {
                        "Present" => Action::Present,
                        "CleanUp" => Action::CleanUp,
                        _ => return None,
                    });
                    return Some(());
                }
                "allowAmbientCredentials" if allow_ambient_credentials.is_none() => {
                    allow_ambient_credentials = Some(c.boolean()?);
                    return Some(());
                }
                "config" if config.is_none() => {
                    let value = c.value()?;
                    (!value.is_null() && depth(&value) <= PLAIN_CONFIG_DEPTH).then_some(())?;
                    config = Some(value);
                    return Some(());
                }
                "uid" => 0,
                "type" => 1,
                "dnsName" => 2,
                "key" => 3,
                "resourceNamespace" => 4,
                "resolvedFQDN" => 5,
                "resolvedZone" => 6,
                _ => return None,
            };
            let field = strings.get_mut(slot)?;
            field.is_none().then_some(())?;
            *field = Some(c.string()?);
            Some(())
        })?;
        let [
            uid,
            challenge_type,
            dns_name,
            key,
            namespace,
            resolved_fqdn,
            resolved_zone,
        ] = strings.map(|s| s.unwrap_or_default().to_owned());
        Some(ChallengeRequest {
            uid,
            action: action?,
            challenge_type,
            dns_name,
            key,
            resource_namespace: namespace,
            resolved_fqdn,
            resolved_zone,
            allow_ambient_credentials: allow_ambient_credentials.unwrap_or_default(),
            config,
        })
    }
}

/// How deeply arrays and objects nest in `value` (a scalar is 0).
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
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
    use proptest::prelude::*;

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
            (r#"{"request":{"action":"Present","config":null}}"#, true),
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
            if let Some(plain) = parse_plain(body.as_bytes()) {
                assert_eq!(Some(plain), typed, "plain pass on {body}");
            }
            if let Some(typed) = typed {
                assert_eq!(Ok(typed), reference, "typed pass on {body}");
            }
            assert_eq!(parse_payload(body.as_bytes()), reference, "{body}");
        }
    }

    #[test]
    fn the_bodies_cert_manager_sends_take_the_plain_pass() {
        let bodies = [
            COMMON.to_owned(),
            r#"{"request":{"action":"CleanUp"}}"#.to_owned(),
            // As Go's encoding/json writes it, with the padding of a pretty printer.
            "{\n  \"apiVersion\": \"webhook.acme.cert-manager.io/v1alpha1\",\n  \"request\": {\n    \
             \"uid\": \"\", \"action\": \"Present\", \"allowAmbientCredentials\": true,\r\n    \
             \"config\": {\"ttl\": 60}\t}\n}\n"
                .to_owned(),
            nested_config(PLAIN_CONFIG_DEPTH),
        ];
        for body in bodies {
            let plain = parse_plain(body.as_bytes());
            assert!(plain.is_some(), "{body}");
            assert_eq!(plain, parse_common(body.as_bytes()), "{body}");
        }
        assert_eq!(
            parse_plain(nested_config(PLAIN_CONFIG_DEPTH + 1).as_bytes()),
            None
        );
    }

    /// A JSON text for a string: plain, or with escapes, controls or non-ASCII.
    fn json_string() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9._ -]{0,10}".prop_map(|s| format!("\"{s}\"")),
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
            prop::sample::select(vec![
                r#""a\"b""#,
                r#""\u00e9""#,
                r#""\ud800""#,
                "\"\u{1}\"",
                "\"é\"",
                r#""\n""#,
                r#""\\""#,
            ])
            .prop_map(str::to_owned),
        ]
    }

    /// A JSON text for a value of any type.
    fn json_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            json_string(),
            prop::sample::select(vec!["null", "true", "false", "0", "-1.5e3", "60"])
                .prop_map(str::to_owned),
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((json_string(), inner), 0..3).prop_map(|m| {
                    let members: Vec<String> =
                        m.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    /// An object made of these candidate members, each present with its probability, in any
    /// order, with any whitespace around the tokens.
    fn object(members: Vec<(&'static str, f64, BoxedStrategy<String>)>) -> BoxedStrategy<String> {
        let ws = || prop::sample::select(vec!["", " ", "\n  ", "\t", "\r\n"]);
        members
            .into_iter()
            .map(|(key, p, value)| prop::option::weighted(p, (Just(key), value, ws(), ws())))
            .collect::<Vec<_>>()
            .prop_map(|chosen| chosen.into_iter().flatten().collect::<Vec<_>>())
            .prop_shuffle()
            .prop_map(|members| {
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(key, value, a, b)| format!("{a}\"{key}\"{b}:{a}{value}{b}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            })
            .boxed()
    }

    /// Mostly `likely`, sometimes anything.
    fn mostly(likely: BoxedStrategy<String>) -> BoxedStrategy<String> {
        prop_oneof![30 => likely, 1 => json_value()].boxed()
    }

    /// Bodies near the shape cert-manager sends: most take the plain pass, and the rest differ
    /// from it in one way or a few (a missing, repeated or unknown field, a value of another
    /// type, an escape, trailing text).
    fn body() -> impl Strategy<Value = String> {
        let plain = || {
            "[a-zA-Z0-9._-]{0,12}"
                .prop_map(|s| format!("\"{s}\""))
                .boxed()
        };
        let field = |key, p| {
            (
                key,
                p,
                mostly(prop_oneof![12 => plain(), 1 => json_string()].boxed()),
            )
        };
        let action =
            prop::sample::select(vec!["\"Present\"", "\"CleanUp\""]).prop_map(str::to_owned);
        let request = object(vec![
            ("action", 0.95, mostly(action.clone().boxed())),
            field("uid", 0.7),
            field("type", 0.7),
            field("dnsName", 0.7),
            field("key", 0.7),
            field("resourceNamespace", 0.7),
            field("resolvedFQDN", 0.7),
            field("resolvedZone", 0.7),
            (
                "allowAmbientCredentials",
                0.6,
                mostly(
                    prop::sample::select(vec!["true", "false"])
                        .prop_map(str::to_owned)
                        .boxed(),
                ),
            ),
            ("config", 0.6, json_value().boxed()),
            ("action", 0.05, action.boxed()),
            ("key", 0.05, plain()),
            ("other", 0.05, json_value().boxed()),
        ]);
        let top = object(vec![
            field("apiVersion", 0.7),
            field("kind", 0.7),
            (
                "request",
                0.95,
                prop_oneof![12 => request, 1 => json_value()].boxed(),
            ),
            ("request", 0.03, json_value().boxed()),
            ("response", 0.05, json_value().boxed()),
        ]);
        let tail = prop::sample::select(vec!["", "", "", " ", "\n", " x", "}"]);
        (top, tail).prop_map(|(top, tail)| format!("{top}{tail}"))
    }

    proptest! {
        #[test]
        fn the_plain_pass_takes_only_what_the_typed_pass_takes_with_the_same_result(body in body()) {
            if let Some(plain) = parse_plain(body.as_bytes()) {
                prop_assert_eq!(Some(plain), parse_common(body.as_bytes()), "{}", body);
            }
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
