//! Reading a `ChallengePayload` body.

use serde_json::Value;

use super::error::ApiError;
use super::types::ChallengePayload;

/// Parses a body into a `ChallengePayload`, with a protocol error that says what is wrong.
///
/// The body is read into a [`Value`] first, so that each error can name the field at fault
/// and its JSON type (never its value: it may be a pasted secret): not JSON or not an object
/// (400), no `request` or a `null` one (422), a `request` that is not an object (400), an
/// `action` other than `"Present"` or `"CleanUp"` (422), a string or boolean field of another
/// type (400). Unknown fields are ignored and a repeated field counts once, with its last
/// value, as Go's `encoding/json` (the Go webhook framework's decoder) does; a body nested 128
/// levels deep or more is refused (serde_json's limit).
pub fn parse_payload(body: &[u8]) -> Result<ChallengePayload, ApiError> {
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
    use crate::api::Action;

    const COMMON: &str = r#"{"apiVersion":"webhook.acme.cert-manager.io/v1alpha1","kind":"ChallengePayload","request":{"uid":"u-1","action":"Present","type":"dns-01","dnsName":"app.example.com","key":"k-1","resourceNamespace":"team-a","resolvedFQDN":"_acme-challenge.app.example.com.","resolvedZone":"example.com.","allowAmbientCredentials":false,"config":{"ttl":300,"tags":["a","\u00e9"]}}}"#;

    fn nested_config(depth: usize) -> String {
        format!(
            r#"{{"request":{{"action":"CleanUp","config":{}1{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
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

    #[test]
    fn bodies_of_the_wrong_shape_are_refused_with_the_status_that_names_the_fault() {
        // Each body, and whether it is a 400 (bad request) rather than a 422 (invalid).
        let (bad_request, invalid) = (true, false);
        let cases = [
            (r#"{"request":["u","Present"]}"#, bad_request),
            (r#"[null,null,{"action":"Present"}]"#, bad_request),
            (r#"{"request":{"action":{"Present":null}}}"#, invalid),
            (r#"{"request":{"action":"present"}}"#, invalid),
            (r#"{"request":{}}"#, invalid),
            (
                r#"{"request":{"action":"Present","x":"\ud800"}}"#,
                bad_request,
            ),
            (
                r#"{"request":{"action":"Present","config":"\ud800"}}"#,
                bad_request,
            ),
            (
                r#"{"request":{"action":"Present","uid":null}}"#,
                bad_request,
            ),
            (
                r#"{"request":{"action":"Present","allowAmbientCredentials":"true"}}"#,
                bad_request,
            ),
            (r#"{"request":null}"#, invalid),
            (r#"{"request":{"action":"Present"}} x"#, bad_request),
            (
                r#"{"apiVersion":1,"request":{"action":"Present"}}"#,
                bad_request,
            ),
            (
                r#"{"request":{"action":"Present","key":"\u"}}"#,
                bad_request,
            ),
        ];
        for (body, is_bad_request) in cases {
            let err = parse_payload(body.as_bytes()).unwrap_err();
            let status = if is_bad_request {
                matches!(err, ApiError::BadRequest(_))
            } else {
                matches!(err, ApiError::Invalid(_))
            };
            assert!(status, "{body}: {err:?}");
        }
        let err = parse_payload(br#"{"request":{"action":"Present","dnsName":7}}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("request.dnsName must be a string, not a number"),
            "{err}"
        );
    }

    #[test]
    fn unknown_and_repeated_fields_are_read_as_go_reads_them() {
        let payload =
            parse_payload(br#"{"request":{"action":"Present","key":"a","key":"b"}}"#).unwrap();
        assert_eq!(payload.request.unwrap().key, "b");
        for body in [
            r#"{"request":{"action":"Present","extra":{"y":[1,2]}}}"#,
            r#"{"request":{"action":"Present"},"response":{"uid":"","success":true}}"#,
            r#" {"req\u0075est" : {"action":"Present","config":null}} "#,
        ] {
            let payload = parse_payload(body.as_bytes()).unwrap();
            assert_eq!(payload.request.unwrap().action, Action::Present, "{body}");
        }
    }

    #[test]
    fn nesting_is_refused_past_serde_jsons_limit() {
        assert!(parse_payload(nested_config(125).as_bytes()).is_ok());
        let err = parse_payload(nested_config(126).as_bytes()).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
}
