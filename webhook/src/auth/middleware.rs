//! The axum side: classify the request, authenticate, authorise, answer 401/403 with a
//! Kubernetes `Status` body.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};

use super::authenticator::Authenticator;
use super::error::ErrorChain;
use super::identity::{AccessAttributes, UserInfo};
use super::requestheader::strip_identity_headers;
use crate::tls::PeerCertificates;

/// What a request is, for authorisation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestKind {
    /// `/healthz`, `/livez`, `/readyz` (and below): no authentication.
    Health,
    /// Discovery reads (`GET`/`HEAD` of `/api`, `/api/<v>`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`,
    /// `/openapi/…`, `/version`): any authenticated user.
    Discovery,
    /// A resource request (`/apis/<group>/<version>/<resource>…`): SubjectAccessReview with
    /// these attributes (the group is the one in the path).
    Resource(AccessAttributes),
    /// Any other path: SubjectAccessReview with non-resource attributes.
    NonResource(AccessAttributes),
}

fn resource_verb(method: &Method, has_name: bool) -> String {
    match *method {
        Method::POST => "create".to_owned(),
        Method::GET | Method::HEAD if has_name => "get".to_owned(),
        Method::GET | Method::HEAD => "list".to_owned(),
        Method::PUT => "update".to_owned(),
        Method::PATCH => "patch".to_owned(),
        Method::DELETE if has_name => "delete".to_owned(),
        Method::DELETE => "deletecollection".to_owned(),
        ref other => other.as_str().to_ascii_lowercase(),
    }
}

/// Classifies a request for authorisation, by its path as Kubernetes reads it: percent-decoded,
/// as Go's `URL.Path` is, so that an escaped name (`g%61ndi`) is authorised as the name the
/// router serves (`gandi`), and an escaped slash separates segments. Bytes that do not decode
/// to UTF-8 become U+FFFD; a `%` not followed by two hex digits stays as it is.
pub fn classify(method: &Method, path: &str) -> RequestKind {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let path: &str = &decoded;
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    // The first five segments are all the patterns below look at (a sixth only makes `rest`
    // non-empty, which the fifth already does).
    let mut first = [""; 5];
    let (mut count, mut any_empty) = (0, false);
    for (slot, segment) in trimmed.split('/').enumerate() {
        any_empty |= segment.is_empty();
        if let Some(s) = first.get_mut(slot) {
            *s = segment;
        }
        count = slot + 1;
    }
    let segments = &first[..count.min(first.len())];
    let read = *method == Method::GET || *method == Method::HEAD;
    let non_resource = || {
        RequestKind::NonResource(AccessAttributes::NonResource {
            path: path.to_owned(),
            verb: method.as_str().to_ascii_lowercase(),
        })
    };
    match segments {
        ["healthz" | "livez" | "readyz", ..] => RequestKind::Health,
        _ if any_empty && !trimmed.is_empty() => non_resource(),
        ["api"] | ["api", _] | ["openapi", ..] | ["version"] if read => RequestKind::Discovery,
        ["apis"] | ["apis", _] | ["apis", _, _] if read => RequestKind::Discovery,
        ["apis", g, v, resource, rest @ ..] => RequestKind::Resource(AccessAttributes::Resource {
            verb: resource_verb(method, !rest.is_empty()),
            group: (*g).to_owned(),
            version: (*v).to_owned(),
            resource: (*resource).to_owned(),
        }),
        _ => non_resource(),
    }
}

fn status(
    code: StatusCode,
    reason: &str,
    message: String,
    details: Option<serde_json::Value>,
) -> Response {
    let mut body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    if let (Some(details), Some(map)) = (details, body.as_object_mut()) {
        map.insert("details".to_owned(), details);
    }
    (code, axum::Json(body)).into_response()
}

fn unauthorized() -> Response {
    status(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Unauthorized".to_owned(),
        None,
    )
}

fn forbidden(user: &UserInfo, attributes: &AccessAttributes, reason: &str) -> Response {
    let suffix = if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    };
    match attributes {
        AccessAttributes::Resource {
            verb,
            group,
            resource,
            ..
        } => status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{resource}.{group} is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" \
                 in API group \"{group}\" at the cluster scope{suffix}",
                user.username
            ),
            Some(serde_json::json!({ "group": group, "kind": resource })),
        ),
        AccessAttributes::NonResource { path, verb } => status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "forbidden: User \"{}\" cannot {verb} path \"{path}\"{suffix}",
                user.username
            ),
            None,
        ),
    }
}

/// State of the auth middleware.
#[derive(Clone, Debug)]
pub struct AuthState {
    /// The authenticator.
    pub authenticator: Arc<Authenticator>,
}

impl AuthState {
    /// Authenticates and authorises `request`; on success returns it with identity headers
    /// removed and the [`UserInfo`] inserted as an extension (an `Arc<UserInfo>`), else the
    /// error response.
    pub async fn check(&self, mut request: Request) -> Result<Request, Response> {
        let authenticator = &self.authenticator;
        let kind = classify(request.method(), request.uri().path());
        if kind == RequestKind::Health {
            return Ok(request);
        }
        // One configuration for the whole check: the identity headers read are the ones
        // stripped.
        let config = authenticator.config_source().current();
        let result = authenticator
            .authenticate_with(
                &config,
                request.extensions().get::<PeerCertificates>(),
                request.headers(),
            )
            .await;
        strip_identity_headers(&config.identity_headers, request.headers_mut());
        let user = match result {
            Ok(Some(user)) => user,
            Ok(None) => {
                tracing::debug!(path = request.uri().path(), "anonymous request refused");
                return Err(unauthorized());
            }
            Err(err) => {
                tracing::info!(path = request.uri().path(), error = %ErrorChain(&err), "authentication failed");
                return Err(unauthorized());
            }
        };
        let attributes = match kind {
            RequestKind::Health | RequestKind::Discovery => None,
            RequestKind::Resource(a) | RequestKind::NonResource(a) => Some(a),
        };
        if let Some(attributes) = attributes {
            match authenticator.authorize(&user, &attributes).await {
                Ok(decision) if decision.allowed => {}
                Ok(decision) => {
                    tracing::info!(user = %user.username, ?attributes, reason = %decision.reason, "request denied");
                    return Err(forbidden(&user, &attributes, &decision.reason));
                }
                Err(err) => {
                    tracing::warn!(user = %user.username, error = %ErrorChain(&err), "authorisation check failed");
                    return Err(status(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "Internal error occurred: authorisation check failed".to_owned(),
                        None,
                    ));
                }
            }
        }
        request.extensions_mut().insert(Arc::new(user));
        Ok(request)
    }
}

/// The middleware as a function, for `axum::middleware::from_fn_with_state(state, middleware)`.
pub async fn middleware(State(state): State<AuthState>, request: Request, next: Next) -> Response {
    match state.check(request).await {
        Ok(request) => next.run(request).await,
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "acme.example.com";

    #[test]
    fn the_solver_call_is_a_create_on_the_solver_resource() {
        assert_eq!(
            classify(&Method::POST, "/apis/acme.example.com/v1alpha1/gandi"),
            RequestKind::Resource(AccessAttributes::Resource {
                verb: "create".into(),
                group: G.into(),
                version: "v1alpha1".into(),
                resource: "gandi".into(),
            })
        );
    }

    #[test]
    fn paths_below_a_resource_name_are_read_whole() {
        let resource = |verb: &str| {
            RequestKind::Resource(AccessAttributes::Resource {
                verb: verb.into(),
                group: G.into(),
                version: "v1alpha1".into(),
                resource: "gandi".into(),
            })
        };
        let base = "/apis/acme.example.com/v1alpha1/gandi";
        assert_eq!(classify(&Method::GET, base), resource("list"));
        assert_eq!(
            classify(&Method::GET, &format!("{base}/x")),
            resource("get")
        );
        assert_eq!(
            classify(&Method::GET, &format!("{base}/x/y/z")),
            resource("get")
        );
        // An empty segment anywhere, even past the fifth, makes it a non-resource path.
        for path in [format!("{base}//x"), format!("{base}/x/y//z")] {
            assert!(
                matches!(classify(&Method::GET, &path), RequestKind::NonResource(_)),
                "{path}"
            );
        }
    }

    #[test]
    fn discovery_reads_and_health_are_recognised() {
        assert_eq!(classify(&Method::GET, "/apis"), RequestKind::Discovery);
        assert_eq!(
            classify(&Method::GET, "/apis/acme.example.com/v1alpha1"),
            RequestKind::Discovery
        );
        assert_eq!(classify(&Method::GET, "/readyz"), RequestKind::Health);
        assert!(matches!(
            classify(&Method::POST, "/apis/acme.example.com/v1alpha1"),
            RequestKind::NonResource(_)
        ));
    }

    #[test]
    fn other_groups_are_authorised_for_their_own_group_and_odd_paths_are_not_discovery() {
        assert!(matches!(
            classify(&Method::POST, "/apis/other.io/v1/x"),
            RequestKind::Resource(AccessAttributes::Resource { group, .. }) if group == "other.io"
        ));
        assert!(matches!(
            classify(&Method::GET, "/apis//x"),
            RequestKind::NonResource(_)
        ));
        assert!(matches!(
            classify(&Method::GET, "/metrics"),
            RequestKind::NonResource(_)
        ));
    }

    #[test]
    fn escaped_paths_are_classified_as_kubernetes_decodes_them() {
        let resource = |verb: &str, group: &str, name: &str| {
            RequestKind::Resource(AccessAttributes::Resource {
                verb: verb.into(),
                group: group.into(),
                version: "v1alpha1".into(),
                resource: name.into(),
            })
        };
        let gandi = resource("create", G, "gandi");
        for path in [
            "/apis/acme.example.com/v1alpha1/g%61ndi",
            "/apis/acme.example.com/v1alpha1/%67%61%6E%64%69",
            "/apis/acme%2Eexample.com/v1alpha1/gandi",
            "/%61pis/acme.example.com/v1alpha1/gandi",
        ] {
            assert_eq!(classify(&Method::POST, path), gandi, "{path}");
        }
        // An escaped slash is a separator: a name below resource `a`.
        assert_eq!(
            classify(&Method::GET, "/apis/g.io/v1alpha1/a%2Fb"),
            resource("get", "g.io", "a")
        );
        // Bytes that are not UTF-8, and escapes that are not escapes.
        assert_eq!(
            classify(&Method::POST, "/apis/g.io/v1alpha1/x%FFy"),
            resource("create", "g.io", "x\u{FFFD}y")
        );
        assert_eq!(
            classify(&Method::POST, "/apis/g.io/v1alpha1/x%zz%4"),
            resource("create", "g.io", "x%zz%4")
        );
        // Discovery, health and non-resource paths are read decoded too.
        assert_eq!(classify(&Method::GET, "/ap%69s"), RequestKind::Discovery);
        assert_eq!(classify(&Method::GET, "/readyz%2F"), RequestKind::Health);
        assert_eq!(
            classify(&Method::GET, "/m%65trics"),
            RequestKind::NonResource(AccessAttributes::NonResource {
                path: "/metrics".into(),
                verb: "get".into(),
            })
        );
        assert!(matches!(
            classify(&Method::GET, "/apis/g.io%2F%2Fx/v1alpha1/y"),
            RequestKind::NonResource(_)
        ));
    }
}
