//! The emulated LiveDNS v5 HTTP API (axum), its fault middleware and its connection loop.

#![allow(
    clippy::result_large_err,
    reason = "helpers short-circuit with the finished error response; its size is irrelevant here"
)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::Shared;
use super::faults::{Fault, Outcome};
use super::state::{
    Access, KNOWN_TYPES, NameError, Rrset, Scheme, Token, normalize_rrset_name, normalize_zone,
    store_value,
};

/// Path prefix of the API.
pub(crate) const API_PREFIX: &str = "/v5/livedns";

/// Route templates as they appear in the counters (relative to the API root).
pub mod routes {
    /// `GET /domains`.
    pub const DOMAINS: &str = "/domains";
    /// `GET /domains/{fqdn}`.
    pub const DOMAIN: &str = "/domains/{fqdn}";
    /// `GET|POST /domains/{fqdn}/records`.
    pub const RECORDS: &str = "/domains/{fqdn}/records";
    /// `GET|PUT|DELETE /domains/{fqdn}/records/{name}`.
    pub const NAME: &str = "/domains/{fqdn}/records/{name}";
    /// `GET|PUT|DELETE /domains/{fqdn}/records/{name}/{type}`.
    pub const RRSET: &str = "/domains/{fqdn}/records/{name}/{type}";
    /// Any path that matches no route.
    pub const UNMATCHED: &str = "<unmatched>";
}

const MSG_UNAUTHORIZED: &str = "The server could not verify that you authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad api key), or your access token has expired";
const MSG_NO_CREDENTIALS: &str = "You must provide an access token or an API Key. See https://api.gandi.net/docs/authentication/";
const MSG_FORBIDDEN: &str = "Access was denied to this resource.";
const MSG_UNKNOWN_DOMAIN: &str = "Unknown domain";
const MSG_NOT_FOUND: &str = "The resource could not be found.";
const MSG_SERVER_ERROR: &str =
    "The server has either erred or is incapable of performing the requested operation.";
const MSG_CREATED: &str = "{\"message\": \"DNS Record Created\"}";

/// Builds the router serving the API for `shared`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let p = |route: &str| format!("{API_PREFIX}{route}");
    Router::new()
        .route(&p(routes::DOMAINS), get(list_domains))
        .route(&p(routes::DOMAIN), get(get_domain))
        .route(&p(routes::RECORDS), get(list_records).post(create_rrset))
        .route(
            &p(routes::NAME),
            get(get_name).put(put_name).delete(delete_name),
        )
        .route(
            &p(routes::RRSET),
            get(get_rrset).put(put_rrset).delete(delete_rrset),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found_fallback)
        .layer(middleware::from_fn_with_state(shared.clone(), knobs))
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// Bodies

fn js(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Gandi's shape A error body, with a space after each separator.
pub(crate) fn shape_a(code: u16, message: &str, object: &str, cause: &str) -> String {
    format!(
        "{{\"code\": {code}, \"message\": {}, \"object\": {}, \"cause\": {}}}",
        js(message),
        js(object),
        js(cause)
    )
}

/// One entry of a shape B validation error.
#[derive(Debug, Clone)]
struct FieldError {
    location: &'static str,
    name: String,
    description: String,
}

impl FieldError {
    fn body(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            location: "body",
            name: name.into(),
            description: description.into(),
        }
    }
}

fn shape_b(errors: &[FieldError]) -> String {
    let items: Vec<String> = errors
        .iter()
        .map(|e| {
            format!(
                "{{\"location\": {}, \"name\": {}, \"description\": {}}}",
                js(e.location),
                js(&e.name),
                js(&e.description)
            )
        })
        .collect();
    format!(
        "{{\"status\": \"error\", \"errors\": [{}]}}",
        items.join(", ")
    )
}

fn raw_json(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn serialized<T: Serialize>(status: u16, value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => raw_json(status, body),
        Err(_) => server_error(),
    }
}

fn server_error() -> Response {
    raw_json(
        500,
        shape_a(
            500,
            MSG_SERVER_ERROR,
            "HTTPInternalServerError",
            "Internal Server Error",
        ),
    )
}

fn bad_request(errors: &[FieldError]) -> Response {
    raw_json(400, shape_b(errors))
}

fn not_found() -> Response {
    raw_json(
        404,
        shape_a(404, MSG_NOT_FOUND, "HTTPNotFound", "Not Found"),
    )
}

fn unknown_domain() -> Response {
    raw_json(
        404,
        shape_a(
            404,
            MSG_UNKNOWN_DOMAIN,
            "LocalizedHTTPNotFound",
            "Not Found",
        ),
    )
}

fn created(shared: &Shared, put: bool) -> Response {
    let status = if put { shared.options.put_status } else { 201 };
    raw_json(status, MSG_CREATED.to_string())
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// The answer to an injected status fault.
fn fault_response(status: u16) -> Response {
    match status {
        500 => server_error(),
        502..=504 => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let reason = code.canonical_reason().unwrap_or("Error");
            let html = format!(
                "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
            );
            (
                code,
                [(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))],
                html,
            )
                .into_response()
        }
        other => {
            let code = StatusCode::from_u16(other).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = code.canonical_reason().unwrap_or("Error");
            let object = format!("HTTP{}", reason.replace([' ', '-'], ""));
            raw_json(
                code.as_u16(),
                shape_a(code.as_u16(), reason, &object, reason),
            )
        }
    }
}

fn too_many_requests(retry_after: Option<u64>) -> Response {
    let mut resp = raw_json(
        429,
        shape_a(
            429,
            "Too many requests",
            "HTTPTooManyRequests",
            "Too Many Requests",
        ),
    );
    if let Some(secs) = retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

async fn method_not_allowed() -> Response {
    raw_json(
        405,
        shape_a(
            405,
            "The method is not allowed for the requested URL.",
            "HTTPMethodNotAllowed",
            "Method Not Allowed",
        ),
    )
}

async fn not_found_fallback() -> Response {
    not_found()
}

/// Percent-encodes a name for an href (`@` → `%40`, `*` → `%2A`).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn trace_id() -> String {
    let hex = format!("{:032x}", fastrand::u128(..));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

// ---------------------------------------------------------------------------------------------
// Middleware: counters, Trace-Id, rate limit and faults.

/// Per-connection switch used by [`Fault::Drop`] to close the connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnKill(Arc<Notify>);

async fn knobs(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| {
            m.as_str()
                .strip_prefix(API_PREFIX)
                .unwrap_or(m.as_str())
                .to_string()
        })
        .unwrap_or_else(|| routes::UNMATCHED.to_string());
    let is_write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let kill = req.extensions().get::<ConnKill>().cloned();
    let decision = shared.faults.decide(is_write);
    if let Some(delay) = decision.latency {
        tokio::time::sleep(delay).await;
    }
    let mut resp = match decision.outcome {
        Outcome::Pass => next.run(req).await,
        Outcome::RateLimited { retry_after } => too_many_requests(retry_after),
        Outcome::Fail(fault) => {
            if decision.after_apply {
                // The write happens; only its answer is lost or replaced.
                let _applied = next.run(req).await;
            }
            match fault {
                Fault::Status(s) => fault_response(s),
                Fault::Drop => {
                    shared.counters.record(&method, &route, 0);
                    if let Some(k) = kill {
                        k.0.notify_one();
                    }
                    return std::future::pending().await;
                }
                Fault::Hang => {
                    shared.counters.record(&method, &route, 0);
                    return std::future::pending().await;
                }
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&trace_id()) {
        resp.headers_mut().insert("Trace-Id", v);
    }
    shared
        .counters
        .record(&method, &route, resp.status().as_u16());
    resp
}

/// Accepts HTTP connections until the task is aborted; dropping the task closes them all.
pub(crate) async fn serve(listener: TcpListener, router: Router) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let router = router.clone();
                conns.spawn(serve_connection(stream, router));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, router: Router) {
    let kill = Arc::new(Notify::new());
    let conn_kill = ConnKill(kill.clone());
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(conn_kill.clone());
            let router = router.clone();
            async move {
                let resp: Result<Response, Infallible> = router.oneshot(req.map(Body::new)).await;
                resp
            }
        });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        () = kill.notified() => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Request context: authentication, visibility, permission.

fn query_params(q: Option<&str>) -> BTreeMap<String, String> {
    q.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Token, Response> {
    let missing = || raw_json(401, format!("{{\"message\": {}}}", js(MSG_NO_CREDENTIALS)));
    let unauthorized = || {
        raw_json(
            401,
            shape_a(401, MSG_UNAUTHORIZED, "HTTPUnauthorized", "Unauthorized"),
        )
    };
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(missing());
    };
    let (scheme, secret) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("apikey") {
        Scheme::Apikey
    } else {
        return Err(missing());
    };
    let secret = secret.trim();
    if secret.is_empty() {
        return Err(missing());
    }
    let state = shared.read();
    match state
        .tokens
        .iter()
        .find(|t| t.scheme == scheme && t.secret == secret)
    {
        Some(t) if !t.expired => Ok(t.clone()),
        _ => Err(unauthorized()),
    }
}

/// The request's sharing id: the `sharing_id` query parameter, else (when enabled) the
/// `X-Gandi-Sharing-Id` header.
fn sharing_id(
    shared: &Shared,
    headers: &HeaderMap,
    params: &BTreeMap<String, String>,
) -> Option<String> {
    if let Some(id) = params.get("sharing_id") {
        return Some(id.clone());
    }
    if shared.options.sharing_id_header {
        return headers
            .get("x-gandi-sharing-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
    }
    None
}

struct Ctx {
    zone: String,
}

/// Authenticates, checks that `fqdn` is visible to the token (with `sharing_id`), and, for
/// writes, that the token may write.
fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
    fqdn: &str,
    need: Access,
) -> Result<Ctx, Response> {
    let token = authenticate(shared, headers)?;
    let params = query_params(query);
    let sharing_id = sharing_id(shared, headers, &params);
    let sharing_id = sharing_id.as_deref();
    let zone = normalize_zone(fqdn);
    let state = shared.read();
    let Some(z) = state.zones.get(&zone) else {
        return Err(unknown_domain());
    };
    let Some(access) = token.access_to(&zone, &z.org, sharing_id) else {
        return Err(unknown_domain());
    };
    if access < need {
        return Err(raw_json(
            403,
            shape_a(403, MSG_FORBIDDEN, "HTTPForbidden", "Forbidden"),
        ));
    }
    Ok(Ctx { zone })
}

fn check_content_type(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if ok {
        return Ok(());
    }
    let status = shared.options.content_type_error_status;
    Err(if status == 415 {
        raw_json(
            415,
            shape_a(
                415,
                "The request's Content-Type is not supported.",
                "HTTPUnsupportedMediaType",
                "Unsupported Media Type",
            ),
        )
    } else {
        bad_request(&[FieldError {
            location: "header",
            name: "Content-Type".to_string(),
            description: "Content-Type must be application/json".to_string(),
        }])
    })
}

fn parse_object(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, Response> {
    check_content_type(shared, headers)?;
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad_request(&[FieldError::body(
            "body",
            "Must be a JSON object",
        )])),
        Err(_) => Err(bad_request(&[FieldError::body(
            "body",
            "Invalid JSON body",
        )])),
    }
}

// ---------------------------------------------------------------------------------------------
// Validation of rrset fields.

fn validate_ttl(
    shared: &Shared,
    prefix: &str,
    v: Option<&Value>,
    errors: &mut Vec<FieldError>,
) -> u32 {
    let name = format!("{prefix}rrset_ttl");
    let default = shared.options.default_ttl;
    let Some(v) = v else { return default };
    let n = match v {
        Value::Number(n) => match n.as_i64() {
            Some(n) => n,
            None => {
                errors.push(FieldError::body(
                    name,
                    format!("{n} is not a valid integer"),
                ));
                return default;
            }
        },
        other => {
            errors.push(FieldError::body(name, format!("{other} is not a number")));
            return default;
        }
    };
    if n < 300 {
        errors.push(FieldError::body(
            name,
            format!("{n} is less than minimum value 300"),
        ));
        default
    } else if n > 2_592_000 {
        errors.push(FieldError::body(
            name,
            format!("{n} is greater than maximum value 2592000"),
        ));
        default
    } else {
        u32::try_from(n).unwrap_or(default)
    }
}

fn validate_values(prefix: &str, v: Option<&Value>, errors: &mut Vec<FieldError>) -> Vec<String> {
    let name = format!("{prefix}rrset_values");
    match v {
        None => {
            errors.push(FieldError::body(name, "Required"));
            Vec::new()
        }
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    other => {
                        errors.push(FieldError::body(
                            name.clone(),
                            format!("{other} is not a string"),
                        ));
                    }
                }
            }
            out
        }
        Some(other) => {
            errors.push(FieldError::body(name, format!("{other} is not iterable")));
            Vec::new()
        }
    }
}

fn validate_type(
    prefix: &str,
    location: &'static str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> String {
    let name = format!("{prefix}rrset_type");
    match raw {
        None => {
            errors.push(FieldError {
                location,
                name,
                description: "Required".to_string(),
            });
            String::new()
        }
        Some(t) => {
            let up = t.to_ascii_uppercase();
            if !KNOWN_TYPES.contains(&up.as_str()) {
                errors.push(FieldError {
                    location,
                    name,
                    description: format!("\"{t}\" is not one of {}", KNOWN_TYPES.join(", ")),
                });
            }
            up
        }
    }
}

fn validate_name(
    zone: &str,
    location: &'static str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> String {
    let name = "rrset_name".to_string();
    let Some(raw) = raw else {
        errors.push(FieldError {
            location,
            name,
            description: "Required".to_string(),
        });
        return String::new();
    };
    match normalize_rrset_name(zone, raw) {
        Ok(n) => n,
        Err(NameError::Empty) => {
            errors.push(FieldError {
                location,
                name,
                description: "Required".to_string(),
            });
            String::new()
        }
        Err(NameError::OutsideZone) => {
            errors.push(FieldError {
                location,
                name,
                description: format!("Absolute rrset_name must end with {zone}."),
            });
            String::new()
        }
    }
}

fn rrset_from(rtype: &str, ttl: u32, values: &[String]) -> Rrset {
    Rrset {
        ttl,
        values: values.iter().map(|v| store_value(rtype, v)).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON representations.

#[derive(Serialize)]
struct RrsetJson<'a> {
    rrset_type: &'a str,
    rrset_ttl: u32,
    rrset_name: &'a str,
    rrset_href: String,
    rrset_values: &'a [String],
}

fn rrset_json<'a>(
    shared: &Shared,
    zone: &str,
    name: &'a str,
    rtype: &'a str,
    r: &'a Rrset,
) -> RrsetJson<'a> {
    RrsetJson {
        rrset_type: rtype,
        rrset_ttl: r.ttl,
        rrset_name: name,
        rrset_href: format!(
            "{}/domains/{}/records/{}/{}",
            shared.api_url,
            zone,
            encode_segment(name),
            rtype
        ),
        rrset_values: &r.values,
    }
}

#[derive(Serialize)]
struct DomainJson {
    fqdn: String,
    domain_href: String,
    domain_keys_href: String,
    domain_records_href: String,
    automatic_snapshots: bool,
    fqdn_unicode: String,
}

fn domain_json(shared: &Shared, fqdn: &str) -> DomainJson {
    let href = format!("{}/domains/{fqdn}", shared.api_url);
    DomainJson {
        fqdn: fqdn.to_string(),
        domain_keys_href: format!("{href}/keys"),
        domain_records_href: format!("{href}/records"),
        domain_href: href,
        automatic_snapshots: false,
        fqdn_unicode: idna::domain_to_unicode(fqdn).0,
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers.

type Shd = State<Arc<Shared>>;

async fn list_domains(State(shared): Shd, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let token = match authenticate(&shared, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let params = query_params(q.as_deref());
    let sharing_id = sharing_id(&shared, &headers, &params);
    let sharing_id = sharing_id.as_deref();
    let mut errors = Vec::new();
    let mut number = |key: &str, default: u64| -> u64 {
        match params.get(key) {
            None => default,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    errors.push(FieldError {
                        location: "querystring",
                        name: key.to_string(),
                        description: format!("\"{v}\" is not a valid positive integer"),
                    });
                    default
                }
            },
        }
    };
    let page = number("page", 1);
    let per_page = number("per_page", u64::from(shared.options.default_per_page));
    if !errors.is_empty() {
        return bad_request(&errors);
    }
    let visible: Vec<String> = {
        let state = shared.read();
        state
            .zones
            .iter()
            .filter(|(name, z)| token.access_to(name, &z.org, sharing_id).is_some())
            .map(|(name, _)| name.clone())
            .collect()
    };
    let total = visible.len();
    let start = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
    let take = usize::try_from(per_page).unwrap_or(usize::MAX);
    let items: Vec<DomainJson> = visible
        .iter()
        .skip(start)
        .take(take)
        .map(|d| domain_json(&shared, d))
        .collect();
    let mut resp = serialized(200, &items);
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        resp.headers_mut().insert("Total-Count", v);
    }
    if start.saturating_add(take) < total {
        let mut link = format!(
            "<{}/domains?page={}&per_page={per_page}",
            shared.api_url,
            page.saturating_add(1)
        );
        if let Some(sid) = sharing_id {
            link.push_str("&sharing_id=");
            link.push_str(
                &url::form_urlencoded::byte_serialize(sid.as_bytes()).collect::<String>(),
            );
        }
        link.push_str(">; rel=\"next\"");
        if let Ok(v) = HeaderValue::from_str(&link) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

async fn get_domain(
    State(shared): Shd,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(fqdn)) = path else {
        return not_found();
    };
    match authorize(&shared, &headers, q.as_deref(), &fqdn, Access::Read) {
        Ok(ctx) => serialized(200, &domain_json(&shared, &ctx.zone)),
        Err(r) => r,
    }
}

async fn list_records(
    State(shared): Shd,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(fqdn)) = path else {
        return not_found();
    };
    let ctx = match authorize(&shared, &headers, q.as_deref(), &fqdn, Access::Read) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let state = shared.read();
    let Some(z) = state.zones.get(&ctx.zone) else {
        return unknown_domain();
    };
    let items: Vec<RrsetJson<'_>> = z
        .rrsets
        .iter()
        .map(|((name, rtype), r)| rrset_json(&shared, &ctx.zone, name, rtype, r))
        .collect();
    let mut resp = serialized(200, &items);
    if let Ok(v) = HeaderValue::from_str(&items.len().to_string()) {
        resp.headers_mut().insert("Total-Count", v);
    }
    resp
}

async fn create_rrset(
    State(shared): Shd,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let Ok(Path(fqdn)) = path else {
        return not_found();
    };
    let ctx = match authorize(&shared, &headers, q.as_deref(), &fqdn, Access::Write) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let obj = match parse_object(&shared, &headers, &body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut errors = Vec::new();
    let name = validate_name(
        &ctx.zone,
        "body",
        obj.get("rrset_name").and_then(Value::as_str),
        &mut errors,
    );
    let rtype = validate_type(
        "",
        "body",
        obj.get("rrset_type").and_then(Value::as_str),
        &mut errors,
    );
    let ttl = validate_ttl(&shared, "", obj.get("rrset_ttl"), &mut errors);
    let values = validate_values("", obj.get("rrset_values"), &mut errors);
    if !errors.is_empty() {
        return bad_request(&errors);
    }
    let mut state = shared.write();
    let Some(z) = state.zones.get_mut(&ctx.zone) else {
        return unknown_domain();
    };
    let key = (name, rtype);
    if z.rrsets.contains_key(&key) {
        return raw_json(
            409,
            shape_a(
                409,
                &shared.options.conflict_message,
                "HTTPConflict",
                "Conflict",
            ),
        );
    }
    if values.is_empty() && !shared.options.keep_empty_rrset {
        return created(&shared, false);
    }
    let rrset = rrset_from(&key.1, ttl, &values);
    z.rrsets.insert(key, rrset);
    state.touch();
    created(&shared, false)
}

/// Normalises the `{name}` and `{type}` of a path.
fn path_key(zone: &str, name: &str, rtype: Option<&str>) -> Result<(String, String), Response> {
    let mut errors = Vec::new();
    let name = validate_name(zone, "path", Some(name), &mut errors);
    let rtype = match rtype {
        Some(t) => t.to_ascii_uppercase(),
        None => String::new(),
    };
    if errors.is_empty() {
        Ok((name, rtype))
    } else {
        Err(bad_request(&errors))
    }
}

async fn get_rrset(
    State(shared): Shd,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((fqdn, name, rtype))) = path else {
        return not_found();
    };
    let ctx = match authorize(&shared, &headers, q.as_deref(), &fqdn, Access::Read) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let key = match path_key(&ctx.zone, &name, Some(&rtype)) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let state = shared.read();
    match state.zones.get(&ctx.zone).and_then(|z| z.rrsets.get(&key)) {
        Some(r) => serialized(200, &rrset_json(&shared, &ctx.zone, &key.0, &key.1, r)),
        None => not_found(),
    }
}

async fn put_rrset(
    State(shared): Shd,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Bytes,
) -> Response {
    let Ok(Path((fqdn, name, rtype))) = path else {
        return not_found();
    };
    let ctx = match authorize(&shared, &headers, q.as_deref(), &fqdn, Access::Write) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let obj = match parse_object(&shared, &headers, &body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut errors = Vec::new();
    let name = validate_name(&ctx.zone, "path", Some(&name), &mut errors);
    let rtype = validate_type("", "path", Some(&rtype), &mut errors);
    let ttl = validate_ttl(&shared, "", obj.get("rrset_ttl"), &mut errors);
    let values = validate_values("", obj.get("rrset_values"), &mut errors);
    if !errors.is_empty() {
        return bad_request(&errors);
    }
    let mut state = shared.write();
    let Some(z) = state.zones.get_mut(&ctx.zone) else {
        return unknown_domain();
    };
    let key = (name, rtype);
    if values.is_empty() && !shared.options.keep_empty_rrset {
        z.rrsets.remove(&key);
    } else {
        let rrset = rrset_from(&key.1, ttl, &values);
        z.rrsets.insert(key, rrset);
    }
    state.touch();
    created(&shared, true)
}

async fn delete_rrset(
    State(shared): Shd,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((fqdn, name, rtype))) = path else {
        return not_found();
    };
    let ctx = match authorize(&shared, &headers, q.as_deref(), &fqdn, Access::Write) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let key = match path_key(&ctx.zone, &name, Some(&rtype)) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let mut state = shared.write();
    let Some(z) = state.zones.get_mut(&ctx.zone) else {
        return unknown_domain();
    };
    if z.rrsets.remove(&key).is_none() {
        return not_found();
    }
    state.touch();
    no_content()
}

async fn get_name(
    State(shared): Shd,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((fqdn, name))) = path else {
        return not_found();
    };
    let ctx = match authorize(&shared, &headers, q.as_deref(), &fqdn, Access::Read) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (name, _) = match path_key(&ctx.zone, &name, None) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let state = shared.read();
    let Some(z) = state.zones.get(&ctx.zone) else {
        return unknown_domain();
    };
    let items: Vec<RrsetJson<'_>> = z
        .rrsets
        .iter()
        .filter(|((n, _), _)| *n == name)
        .map(|((n, t), r)| rrset_json(&shared, &ctx.zone, n, t, r))
        .collect();
    if items.is_empty() && shared.options.name_absent_is_404 {
        return not_found();
    }
    serialized(200, &items)
}

async fn put_name(
    State(shared): Shd,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Bytes,
) -> Response {
    let Ok(Path((fqdn, name))) = path else {
        return not_found();
    };
    let ctx = match authorize(&shared, &headers, q.as_deref(), &fqdn, Access::Write) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let obj = match parse_object(&shared, &headers, &body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut errors = Vec::new();
    let name = validate_name(&ctx.zone, "path", Some(&name), &mut errors);
    let mut new_sets = Vec::new();
    match obj.get("items") {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let prefix = format!("items.{i}.");
                let Value::Object(item) = item else {
                    errors.push(FieldError::body(
                        format!("items.{i}"),
                        "Must be a JSON object",
                    ));
                    continue;
                };
                let rtype = validate_type(
                    &prefix,
                    "body",
                    item.get("rrset_type").and_then(Value::as_str),
                    &mut errors,
                );
                let ttl = validate_ttl(&shared, &prefix, item.get("rrset_ttl"), &mut errors);
                let values = validate_values(&prefix, item.get("rrset_values"), &mut errors);
                new_sets.push((rtype, ttl, values));
            }
        }
        Some(other) => errors.push(FieldError::body(
            "items",
            format!("{other} is not iterable"),
        )),
        None => errors.push(FieldError::body("items", "Required")),
    }
    if !errors.is_empty() {
        return bad_request(&errors);
    }
    let mut state = shared.write();
    let Some(z) = state.zones.get_mut(&ctx.zone) else {
        return unknown_domain();
    };
    z.rrsets.retain(|(n, _), _| *n != name);
    for (rtype, ttl, values) in new_sets {
        if values.is_empty() && !shared.options.keep_empty_rrset {
            continue;
        }
        let rrset = rrset_from(&rtype, ttl, &values);
        z.rrsets.insert((name.clone(), rtype), rrset);
    }
    state.touch();
    created(&shared, true)
}

async fn delete_name(
    State(shared): Shd,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((fqdn, name))) = path else {
        return not_found();
    };
    let ctx = match authorize(&shared, &headers, q.as_deref(), &fqdn, Access::Write) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (name, _) = match path_key(&ctx.zone, &name, None) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let mut state = shared.write();
    let Some(z) = state.zones.get_mut(&ctx.zone) else {
        return unknown_domain();
    };
    let before = z.rrsets.len();
    z.rrsets.retain(|(n, _), _| *n != name);
    if z.rrsets.len() == before {
        return not_found();
    }
    state.touch();
    no_content()
}
