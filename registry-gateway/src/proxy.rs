//! The handlers: ping, the token endpoint, `_catalog`, and every `/v2/<name>/…` request,
//! forwarded to the route's upstream with streaming bodies both ways, and the upstream's
//! answer mapped back (names, `Location`, `Link`, and errors a person can act on).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State as AxState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dns01_core::Secret;
use dns01_registry::auth::{Challenge, Scope, TokenResponse, parse_scopes};
use dns01_registry::jwt::Claims;
use dns01_registry::{ErrorBody, ErrorCode, Platform, Repository};

use crate::State;
use crate::allow::{AllowList, Reachable};
use crate::config::CredentialsConfig;
use crate::error::{Reply, unavailable};
use crate::kubernetes::Kubernetes;
use crate::metrics::Served;
use crate::rewrite::{self, ApiPath, Endpoint, Location};
use crate::route::{RedirectMode, Route, strip_port};
use crate::tokens::{self, TokenProblem};
use crate::upstream::unreachable;
use futures::StreamExt as _;

/// Bodies the gateway reads whole (error bodies, tag and catalog pages) are at most this big.
const SMALL_BODY: usize = 4 << 20;
/// The largest manifest a client may push (Distribution's own limit is 4 MiB too).
const MAX_MANIFEST: usize = 4 << 20;
/// Redirects of one blob GET the gateway follows at most.
const MAX_REDIRECTS: usize = 5;

/// Request headers not forwarded upstream: hop-by-hop, and the client's credentials.
const DROPPED_REQUEST: [HeaderName; 8] = [
    header::HOST,
    header::AUTHORIZATION,
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::TE,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
];
/// Response headers not passed back: hop-by-hop, and those the gateway rewrites.
const DROPPED_RESPONSE: [HeaderName; 6] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::SET_COOKIE,
    header::WWW_AUTHENTICATE,
    header::LINK,
];

/// Who is calling.
#[derive(Debug, Clone)]
enum Caller {
    /// The gateway has no client authentication.
    Anonymous,
    /// A gateway token's claims.
    Token(Claims),
}

impl Caller {
    fn subject(&self) -> &str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Token(c) => &c.sub,
        }
    }
}

/// The host the client addressed (`Host`, or the URI's authority for HTTP/2).
fn host_of(headers: &HeaderMap, uri: &Uri) -> Result<String, Reply> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(ToString::to_string))
        .map(|h| h.to_ascii_lowercase())
        .ok_or_else(|| {
            Reply::with_status(
                StatusCode::BAD_REQUEST,
                ErrorCode::NameInvalid,
                "the request names no host: send a `Host` header",
            )
        })
}

/// The token endpoint clients are sent to, on the host they talk to.
fn realm(headers: &HeaderMap, host: &str) -> String {
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|v| matches!(*v, "http" | "https"))
        .unwrap_or("http");
    format!("{scheme}://{host}/token")
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, Secret)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), Secret::new(pass)))
}

/// A 401 with the gateway's challenge for `scope`.
fn challenge(
    headers: &HeaderMap,
    host: &str,
    scope: Option<&Scope>,
    error: Option<&str>,
    message: String,
) -> Reply {
    let mut c = Challenge::new("Bearer")
        .param("realm", &realm(headers, host))
        .param("service", strip_port(host));
    if let Some(s) = scope {
        c = c.param("scope", &s.to_string());
    }
    if let Some(e) = error {
        c = c.param("error", e);
    }
    Reply::new(ErrorCode::Unauthorized, message).header(header::WWW_AUTHENTICATE, &c.to_string())
}

/// The caller's gateway token, checked.
fn caller(
    state: &State,
    headers: &HeaderMap,
    host: &str,
    scope: Option<&Scope>,
) -> Result<Caller, Reply> {
    let Some(auth) = state.auth() else {
        return Ok(Caller::Anonymous);
    };
    let Some(token) = bearer_token(headers) else {
        return Err(challenge(
            headers,
            host,
            scope,
            None,
            format!(
                "authentication required: log in to {host} with your platform token (`podman login {host}`)"
            ),
        ));
    };
    match auth.tokens.verify(token, strip_port(host)) {
        Ok(c) => Ok(Caller::Token(c)),
        Err(problem) => {
            let why = match problem {
                TokenProblem::Invalid => {
                    "the token was not issued by this gateway (or before it restarted)"
                }
                TokenProblem::Expired => "the token has expired",
                TokenProblem::OtherHost => "the token was issued for another host",
            };
            Err(challenge(
                headers,
                host,
                scope,
                Some("invalid_token"),
                format!("{why}: ask {} for a new one", realm(headers, host)),
            ))
        }
    }
}

/// Ping: `GET /v2/`.
pub(crate) async fn ping(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let result = host_of(&headers, &uri).and_then(|host| caller(&state, &headers, &host, None));
    match result {
        Ok(_) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/json"),
                (
                    HeaderName::from_static("docker-distribution-api-version"),
                    "registry/2.0",
                ),
            ],
            "{}",
        )
            .into_response(),
        Err(r) => r.into_response(),
    }
}

/// The token endpoint: `GET /token?service=…&scope=…` with Basic credentials.
pub(crate) async fn token(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    uri: Uri,
    extensions: axum::http::Extensions,
    RawQuery(query): RawQuery,
) -> Result<Response, Reply> {
    let host = host_of(&headers, &uri)?;
    let Some(auth) = state.auth() else {
        return Err(Reply::with_status(
            StatusCode::NOT_FOUND,
            ErrorCode::Unsupported,
            "this gateway has no client authentication (no `auth` in its configuration): no token is needed",
        ));
    };
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let service = pairs.iter().find(|(k, _)| k == "service").map_or_else(
        || strip_port(&host).to_owned(),
        |(_, v)| v.to_ascii_lowercase(),
    );
    let scopes = parse_scopes(
        pairs
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    )
    .map_err(|e| {
        Reply::with_status(
            StatusCode::BAD_REQUEST,
            ErrorCode::NameInvalid,
            e.to_string(),
        )
    })?;
    let unauthorized = |message: String| {
        Reply::new(ErrorCode::Unauthorized, message).header(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"dns01-registry-gateway\"",
        )
    };
    let Some((user, password)) = basic_credentials(&headers) else {
        return Err(unauthorized(
            "send your principal name and platform token as Basic credentials (`podman login -u <principal>`)".into(),
        ));
    };
    let user_key = format!("user:{user}");
    let mut limited = vec![user_key.clone()];
    if let Some(addr) = client_address(&headers, &extensions, auth.client_address_header.as_ref()) {
        limited.push(format!("addr:{addr}"));
    }
    if let Err(wait) = auth.limiter.check(&limited) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::warn!(user = %user, "token request refused: too many failed logins");
        return Err(Reply::with_status(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyRequests,
            format!(
                "too many failed logins from this address or for user `{user}`; try again in {secs} s"
            ),
        )
        .header(header::RETRY_AFTER, &secs.to_string()));
    }
    let file = auth.store.get();
    let reviewed;
    let found = match &auth.kubernetes {
        Some(k) if Kubernetes::looks_like_token(&password) => {
            reviewed = k.review(&password).await;
            reviewed.as_deref().ok_or_else(|| {
                unauthorized(
                    "the cluster does not authenticate this service-account token (TokenReview)".into(),
                )
            })
        }
        _ => file.authenticate(&user, &password).ok_or_else(|| {
            unauthorized(format!(
                "user `{user}` and this token match no principal of the gateway's token file; check both"
            ))
        }),
    };
    let principal = match found {
        Ok(p) => {
            auth.limiter.succeeded(&user_key);
            p
        }
        Err(reply) => {
            auth.limiter.failed(&limited);
            return Err(reply);
        }
    };
    let routes = state.routes();
    let access = principal.trim(&scopes, |name| {
        let repo = Repository::parse(name).ok()?;
        let (route, upstream) = routes.resolve(&service, &repo)?;
        Some(route.project_of(&upstream))
    });
    tracing::info!(
        principal = %principal.name,
        service = %service,
        asked = %scopes.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
        granted = %access.iter().map(|a| format!("{}:{}:{}", a.resource_type, a.name, a.actions.join(","))).collect::<Vec<_>>().join(" "),
        "token issued"
    );
    let token = auth.tokens.issue(&principal.name, &service, access);
    state.metrics.token_issued();
    let body = TokenResponse::new(&token, auth.tokens.lifetime.as_secs(), None).to_json();
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// The client's address for the login limit: the last value of `from_header` (what the
/// ingress in front appended) when configured, else the connection's peer address (when the
/// server records it).
fn client_address(
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
    from_header: Option<&HeaderName>,
) -> Option<String> {
    match from_header {
        Some(name) => headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty())
            .map(str::to_owned),
        None => extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
    }
}

fn action_of(method: &Method, endpoint: &Endpoint) -> &'static str {
    match (method, endpoint) {
        (&Method::GET | &Method::HEAD, _) => "pull",
        // Cancelling one's own upload is part of pushing.
        (&Method::DELETE, Endpoint::Upload(_)) => "push",
        (&Method::DELETE, _) => "delete",
        _ => "push",
    }
}

/// The scope a client asks the gateway for, for `action` on `name`.
fn client_scope(name: &Repository, action: &str) -> Scope {
    match action {
        "push" => Scope::repository(name.as_str(), &["pull", "push"]),
        a => Scope::repository(name.as_str(), &[a]),
    }
}

/// Checks that `caller` may `action` `name` (project `project`); a principal that may but
/// holds a token without it is sent for a new token, one that may not gets 403 with why.
fn authorize(
    state: &State,
    headers: &HeaderMap,
    host: &str,
    caller: &Caller,
    name: &Repository,
    project: &str,
    action: &str,
) -> Result<(), Reply> {
    let Caller::Token(claims) = caller else {
        return Ok(());
    };
    if tokens::grants(claims, name.as_str(), action) {
        return Ok(());
    }
    let principal = state.principal_named(&claims.sub);
    let may = principal
        .as_ref()
        .is_some_and(|p| tokens::permission(action).is_some_and(|perm| p.may(project, perm)));
    if may {
        return Err(challenge(
            headers,
            host,
            Some(&client_scope(name, action)),
            Some("insufficient_scope"),
            format!("the token does not cover {action} on {name}: ask for a token with that scope"),
        ));
    }
    Err(Reply::new(
        ErrorCode::Denied,
        format!(
            "{} may not {action} {host}/{name} (project {project}); it may: {}",
            claims.sub,
            principal.map_or_else(
                || "nothing (no longer in the token file)".to_owned(),
                |p| p.describe()
            )
        ),
    ))
}

/// `GET /v2/_catalog`: the route serving the host without a path, names filtered to what
/// the caller may pull.
pub(crate) async fn catalog(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Reply> {
    let host = host_of(&headers, &uri)?;
    let caller = caller(&state, &headers, &host, Some(&Scope::catalog()))?;
    if let Caller::Token(c) = &caller
        && !tokens::grants_catalog(c)
    {
        return Err(challenge(
            &headers,
            &host,
            Some(&Scope::catalog()),
            Some("insufficient_scope"),
            "the token does not cover the catalog: ask for scope registry:catalog:*".into(),
        ));
    }
    let routes = state.routes();
    let route = routes.for_host(&host).ok_or_else(|| {
        Reply::new(
            ErrorCode::NameUnknown,
            format!("no route serves the whole namespace of {host}, so it has no catalog"),
        )
    })?;
    let mut url = route
        .upstream
        .join("v2/_catalog")
        .map_err(|e| bad_upstream(route, &e.to_string()))?;
    url.set_query(
        Some(&rewrite::catalog_query(
            uri.query().unwrap_or_default(),
            route,
        ))
        .filter(|q| !q.is_empty())
        .map(String::as_str),
    );
    let mut req = state.http.get(url);
    if let Some(v) = state
        .upstream(route)
        .authorization(&state.http, route, caller.subject(), &[Scope::catalog()])
        .await?
    {
        req = req.header(header::AUTHORIZATION, v);
    }
    let resp = req.send().await.map_err(|e| unreachable(route, &e))?;
    if !resp.status().is_success() {
        return Err(upstream_error(&state, route, resp, None).await);
    }
    let link = resp
        .headers()
        .get(header::LINK)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| rewrite::link(v, route));
    let body = read_small(resp)
        .await
        .ok_or_else(|| bad_upstream(route, "its catalog page is too big or broke off"))?;
    let principal = match &caller {
        Caller::Token(c) => state.principal_named(&c.sub),
        Caller::Anonymous => None,
    };
    let body = rewrite::catalog_body(&body, route, |u| {
        let allowed = route
            .to_client(u)
            .is_some_and(|c| route.allow.repository(c.as_str()));
        allowed
            && match &caller {
                Caller::Anonymous => true,
                Caller::Token(_) => principal
                    .as_ref()
                    .is_some_and(|p| p.may(&route.project_of(u), tokens::Permission::Pull)),
            }
    })
    .ok_or_else(|| bad_upstream(route, "its catalog page is not catalog JSON"))?;
    let mut out = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if let Some(l) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        out.headers_mut().insert(header::LINK, l);
    }
    Ok(out)
}

/// Every `/v2/<name>/…` request.
pub(crate) async fn api(
    AxState(state): AxState<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut served = Served::default();
    let mut resp = match api_inner(&state, method, uri, headers, body, &mut served).await {
        Ok(r) => r,
        Err(r) => r.into_response(),
    };
    resp.extensions_mut().insert(served);
    resp
}

async fn api_inner(
    state: &State,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    served: &mut Served,
) -> Result<Response, Reply> {
    let host = host_of(&headers, &uri)?;
    let rest = uri.path().strip_prefix("/v2/").unwrap_or_default();
    let api = ApiPath::parse(rest).ok_or_else(|| {
        Reply::with_status(
            StatusCode::NOT_FOUND,
            ErrorCode::NameInvalid,
            format!("`{}` is not an OCI distribution API path with a valid repository name (lowercase, `/`-separated)", uri.path()),
        )
    })?;
    let routes = state.routes();
    let (route, upstream_name) = routes.resolve(&host, &api.name).ok_or_else(|| {
        Reply::new(
            ErrorCode::NameUnknown,
            format!(
                "no route of this gateway serves {}/{}",
                strip_port(&host),
                api.name
            ),
        )
    })?;
    let action = action_of(&method, &api.endpoint);
    let project = route.project_of(&upstream_name);
    served.route.clone_from(&route.name);
    served.project.clone_from(&project);
    served.name = api.name.to_string();
    if let Endpoint::Manifest(r) | Endpoint::Blob(r) = &api.endpoint {
        served.reference.clone_from(r);
    }
    let caller = caller(
        state,
        &headers,
        &host,
        Some(&client_scope(&api.name, action)),
    )?;
    served.principal = caller.subject().to_owned();
    authorize(state, &headers, &host, &caller, &api.name, &project, action)?;

    if route.allow != AllowList::default() {
        check_allow(
            state,
            route,
            &api,
            &upstream_name,
            caller.subject(),
            &method,
        )
        .await?;
    }

    let mut upstream_scopes = vec![match action {
        "push" => Scope::repository(upstream_name.as_str(), &["pull", "push"]),
        a => Scope::repository(upstream_name.as_str(), &[a]),
    }];
    let mut query = uri.query().unwrap_or_default().to_owned();
    if api.endpoint == Endpoint::UploadStart && query.contains("from=") {
        query = rewrite::mount_query(&query, |from| {
            let (r, up) = routes.resolve(&host, from)?;
            let allowed = r.name == route.name
                && match &caller {
                    Caller::Anonymous => true,
                    Caller::Token(c) => tokens::grants(c, from.as_str(), "pull"),
                };
            if !allowed {
                tracing::info!(principal = %caller.subject(), from = %from, into = %api.name, "cross-repository mount refused; the upload starts plainly");
            }
            allowed.then_some(up)
        });
        if let Some((_, from)) =
            url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "from")
        {
            upstream_scopes.push(Scope::repository(&from, &["pull"]));
        }
    }
    let mut url = route
        .upstream
        .join(&api.path_for(&upstream_name))
        .map_err(|e| bad_upstream(route, &e.to_string()))?;
    url.set_query(Some(query.as_str()).filter(|q| !q.is_empty()));

    let auth = state
        .upstream(route)
        .authorization(&state.http, route, caller.subject(), &upstream_scopes)
        .await?;
    let mut req = state.http.request(method.clone(), url);
    for (name, value) in &headers {
        if !DROPPED_REQUEST.contains(name) {
            req = req.header(name, value);
        }
    }
    if let Some(v) = &auth {
        req = req.header(header::AUTHORIZATION, v.clone());
    }
    if matches!(api.endpoint, Endpoint::Manifest(_)) && method == Method::PUT {
        // Manifests are small; a client that sends more is refused before the upstream
        // sees it (blobs, by contrast, stream whatever their size).
        let bytes = axum::body::to_bytes(body, MAX_MANIFEST)
            .await
            .map_err(|_| {
                Reply::with_status(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::ManifestInvalid,
                    format!(
                        "the manifest is larger than {} MiB, the limit of this gateway",
                        MAX_MANIFEST >> 20
                    ),
                )
            })?;
        let media = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if route.wrap_in_index
            && let Endpoint::Manifest(tag) = &api.endpoint
            && !tag.contains(':')
            && dns01_registry::media::manifest_kind(&media)
                == Some(dns01_registry::media::ManifestKind::Image)
        {
            return wrap_in_index(
                state,
                route,
                &upstream_name,
                &api.name,
                tag,
                &media,
                bytes,
                auth.as_ref(),
            )
            .await;
        }
        req = req.body(bytes);
    } else if !matches!(method, Method::GET | Method::HEAD | Method::DELETE) {
        req = req.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    let started = std::time::Instant::now();
    let resp = req.send().await.map_err(|e| unreachable(route, &e))?;
    state
        .metrics
        .upstream(&route.name, started.elapsed().as_secs_f64());
    tracing::debug!(route = %route.name, %method, name = %api.name, status = resp.status().as_u16(), "upstream answer");

    let status = resp.status();
    if status.is_redirection()
        && route.blob_redirects == RedirectMode::Follow
        && matches!(api.endpoint, Endpoint::Blob(_))
    {
        return follow(state, route, resp, &headers, auth).await;
    }
    if needs_mapping(status) {
        return Err(upstream_error(state, route, resp, Some((&upstream_name, &api.name))).await);
    }
    let platform = client_platform(&headers);
    pass(
        route,
        resp,
        &api,
        &upstream_name,
        &method,
        platform.as_ref(),
        &state.metrics.bytes(&route.name),
    )
    .await
}

/// Whether an upstream status becomes the gateway's own answer (rate limits, credentials,
/// read-only, upstream failures); every other status passes through with its body.
fn needs_mapping(status: StatusCode) -> bool {
    matches!(status.as_u16(), 401 | 403 | 405 | 429) || status.is_server_error()
}

/// Follows an upstream's blob redirect and streams what it points to. `Authorization` goes
/// only to the upstream itself, never to another host.
async fn follow(
    state: &State,
    route: &Route,
    mut resp: reqwest::Response,
    headers: &HeaderMap,
    auth: Option<HeaderValue>,
) -> Result<Response, Reply> {
    for _ in 0..MAX_REDIRECTS {
        let target = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| resp.url().join(l).ok())
            .ok_or_else(|| {
                bad_upstream(route, "it redirected a blob without a usable `Location`")
            })?;
        let mut req = state.http.get(target.clone());
        for h in [header::RANGE, header::ACCEPT, header::USER_AGENT] {
            if let Some(v) = headers.get(&h) {
                req = req.header(h, v);
            }
        }
        if target.origin() == route.upstream.origin()
            && let Some(v) = &auth
        {
            req = req.header(header::AUTHORIZATION, v.clone());
        }
        resp = req.send().await.map_err(|e| unreachable(route, &e))?;
        if !resp.status().is_redirection() {
            if needs_mapping(resp.status()) {
                return Err(upstream_error(state, route, resp, None).await);
            }
            return Ok(stream(resp, |_| true, &state.metrics.bytes(&route.name)));
        }
    }
    Err(bad_upstream(
        route,
        "it redirected a blob more than 5 times",
    ))
}

/// The upstream's answer as a response, headers filtered by `keep`, body streamed.
fn stream(
    resp: reqwest::Response,
    keep: impl Fn(&HeaderName) -> bool,
    bytes: &prometheus_client::metrics::counter::Counter,
) -> Response {
    let status = resp.status();
    let mut out = Response::builder().status(status);
    for (name, value) in resp.headers() {
        if !DROPPED_RESPONSE.contains(name) && keep(name) {
            out = out.header(name, value);
        }
    }
    let bytes = bytes.clone();
    let body = resp.bytes_stream().inspect(move |chunk| {
        if let Ok(c) = chunk {
            bytes.inc_by(c.len() as u64);
        }
    });
    out.body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// Passes an upstream answer on, names mapped.
async fn pass(
    route: &Route,
    resp: reqwest::Response,
    api: &ApiPath,
    upstream_name: &Repository,
    method: &Method,
    platform: Option<&Platform>,
    bytes: &prometheus_client::metrics::counter::Counter,
) -> Result<Response, Reply> {
    let location = match resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(l) => Some(match rewrite::location(l, route) {
            Some(Location::Gateway(p)) => p,
            Some(Location::External(u)) => u.to_string(),
            None => {
                return Err(bad_upstream(
                    route,
                    "it sent a `Location` outside the route's names",
                ));
            }
        }),
        None => None,
    };
    let link = resp
        .headers()
        .get(header::LINK)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| rewrite::link(v, route));
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let is_index = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(dns01_registry::media::manifest_kind)
        == Some(dns01_registry::media::ManifestKind::Index);
    let check_platform = platform.is_some()
        && *method == Method::GET
        && status == StatusCode::OK
        && is_index
        && matches!(api.endpoint, Endpoint::Manifest(_));
    let rewrite_body = *method != Method::HEAD
        && ((api.endpoint == Endpoint::Tags && status.is_success())
            || (status.is_client_error() && is_json)
            || check_platform);
    let mut out = if rewrite_body {
        let headers = resp.headers().clone();
        let body = read_small(resp)
            .await
            .ok_or_else(|| bad_upstream(route, "its answer is too big or broke off"))?;
        if check_platform
            && let (Some(p), Endpoint::Manifest(reference)) = (platform, &api.endpoint)
        {
            platform_check(&body, p, &api.name, reference)?;
        }
        let body = if check_platform {
            None
        } else if status.is_success() {
            rewrite::tags_body(&body, &api.name, |t| route.allow.tag(t))
        } else {
            rewrite::error_body(&body, upstream_name, &api.name)
        }
        .unwrap_or_else(|| body.to_vec());
        let mut out = Response::builder().status(status);
        for (name, value) in &headers {
            if !DROPPED_RESPONSE.contains(name)
                && name != header::CONTENT_LENGTH
                && name != header::LOCATION
            {
                out = out.header(name, value);
            }
        }
        out.body(Body::from(body))
            .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
    } else {
        stream(resp, |n| n != header::LOCATION, bytes)
    };
    let h = out.headers_mut();
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, l);
    }
    if let Some(l) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LINK, l);
    }
    Ok(out)
}

/// Reads a body of at most [`SMALL_BODY`] bytes.
async fn read_small(mut resp: reqwest::Response) -> Option<bytes::Bytes> {
    if resp.content_length().is_some_and(|n| n > SMALL_BODY as u64) {
        return None;
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.ok()? {
        if buf.len() + chunk.len() > SMALL_BODY {
            return None;
        }
        buf.extend_from_slice(&chunk);
    }
    Some(buf.freeze())
}

/// 503 for an upstream answer the gateway cannot use.
fn bad_upstream(route: &Route, why: &str) -> Reply {
    Reply::with_status(
        StatusCode::SERVICE_UNAVAILABLE,
        unavailable(),
        format!(
            "the upstream registry {} of route {} answered in a way the gateway cannot use: {why}",
            route.upstream_host(),
            route.name
        ),
    )
}

/// An upstream error as an answer a person can act on.
async fn upstream_error(
    state: &State,
    route: &Route,
    resp: reqwest::Response,
    names: Option<(&Repository, &Repository)>,
) -> Reply {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_text = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    let body = tokio::time::timeout(Duration::from_secs(5), read_small(resp))
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let said = match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(b) if !b.errors.is_empty() => b.summary(),
        _ => String::from_utf8_lossy(&body)
            .trim()
            .chars()
            .take(300)
            .collect(),
    };
    let said = match names {
        Some((up, client)) => said.replace(up.as_str(), client.as_str()),
        None => said,
    };
    let said = if said.is_empty() {
        "no message".to_owned()
    } else {
        said
    };
    let upstream = route.upstream_host();
    let r = &route.name;
    match status.as_u16() {
        429 => {
            let wait = retry_after.as_deref().map_or_else(String::new, |s| format!("; retry after {s} s"));
            let reply = Reply::new(
                ErrorCode::TooManyRequests,
                format!("the upstream registry {upstream} of route {r} is rate limiting the gateway ({said}){wait}"),
            );
            match retry_after {
                Some(s) => reply.header(header::RETRY_AFTER, &s),
                None => reply,
            }
        }
        401 if matches!(route.credentials, CredentialsConfig::None) => Reply::new(
            ErrorCode::Denied,
            format!(
                "the upstream registry {upstream} of route {r} asks for credentials and the route has none \
                 (401: {said}); the platform operator must add `credentials` to route {r}"
            ),
        ),
        401 => Reply::new(
            ErrorCode::Denied,
            format!(
                "the upstream registry {upstream} of route {r} refused the gateway's credentials (401: {said}); \
                 your own credentials were accepted: the platform operator must fix the route's upstream credentials"
            ),
        ),
        403 => Reply::new(
            ErrorCode::Denied,
            format!("the upstream registry {upstream} of route {r} denied this with the gateway's credentials (403: {said})"),
        ),
        405 if is_text => {
            let now = jiff::Timestamp::now();
            let until = match &route.maintenance {
                Some(source) => state.maintenance.until(source, now).await,
                None => None,
            };
            match until {
                Some(until) => Reply::new(
                    ErrorCode::Unsupported,
                    format!(
                        "the registry {upstream} of route {r} is in maintenance (read-only) until {} at the latest: \
                         pulls work, pushes and deletes are refused until the maintenance window ends; try again then",
                        until.utc()
                    ),
                )
                .header(header::RETRY_AFTER, &until.seconds_left(now).to_string()),
                None => Reply::new(
                    ErrorCode::Unsupported,
                    format!(
                        "the registry {upstream} of route {r} is in maintenance (read-only): pulls work, pushes and deletes \
                         are refused until the maintenance window ends; try again later"
                    ),
                ),
            }
        }
        405 => Reply::new(ErrorCode::Unsupported, format!("the upstream registry {upstream} of route {r} does not support this ({said})")),
        s => Reply::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            unavailable(),
            format!("the upstream registry {upstream} of route {r} failed ({s}: {said}); try again later"),
        )
        .header(header::RETRY_AFTER, retry_after.as_deref().unwrap_or("1")),
    }
}

/// Anything else: an OCI error, never a bare 404 page.
pub(crate) async fn fallback(
    AxState(state): AxState<Arc<State>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    // A browser on a custom domain goes to the configured page.
    if uri.path() == "/"
        && method == Method::GET
        && let Ok(host) = host_of(&headers, &uri)
        && let Some(page) = state
            .routes()
            .0
            .iter()
            .filter(|r| r.serves_host(&host))
            .find_map(|r| r.browser_page.as_ref())
    {
        return (StatusCode::FOUND, [(header::LOCATION, page.as_str())]).into_response();
    }
    Reply::with_status(
        StatusCode::NOT_FOUND,
        ErrorCode::Unsupported,
        format!(
            "`{}` is not part of the OCI distribution API this gateway serves (`/v2/…`, `/token`)",
            uri.path()
        ),
    )
    .into_response()
}

/// How long a repository's reachable digests are reused.
const REACHABLE_TTL: Duration = Duration::from_secs(30);
/// A miss recomputes them when they are older than this (a tag may have just moved).
const REACHABLE_REFRESH: Duration = Duration::from_secs(2);
/// Tags and index children looked at, at most, per repository.
const REACHABLE_LIMIT: usize = 200;

/// The route's allow-list: the repository, the tag, and for a digest its reachability from
/// an allowed tag. Denials are 403 `DENIED` naming the rule.
async fn check_allow(
    state: &State,
    route: &Route,
    api: &ApiPath,
    upstream_name: &Repository,
    subject: &str,
    method: &Method,
) -> Result<(), Reply> {
    let a = &route.allow;
    let deny = |m: String| Reply::new(ErrorCode::Denied, m);
    if !a.repository(api.name.as_str()) {
        return Err(deny(format!(
            "{} is not on the allow-list of route {} (repositories: {})",
            api.name,
            route.name,
            a.repositories.join(", ")
        )));
    }
    let (digest, is_manifest) = match &api.endpoint {
        Endpoint::Manifest(r) if !r.contains(':') => {
            if a.tag(r) {
                return Ok(());
            }
            return Err(deny(format!(
                "tag {r} of {} is not on the allow-list of route {} (tags: {})",
                api.name,
                route.name,
                a.tags.join(", ")
            )));
        }
        Endpoint::Manifest(d) => (d, true),
        Endpoint::Blob(d) => (d, false),
        _ => return Ok(()),
    };
    if !a.restricts_tags() || !matches!(*method, Method::GET | Method::HEAD) {
        return Ok(());
    }
    let found = |r: &Reachable| {
        if is_manifest {
            r.manifests.contains(digest)
        } else {
            r.blobs.contains(digest)
        }
    };
    for refresh in [false, true] {
        let r = reachable(state, route, upstream_name, subject, refresh).await?;
        if found(&r) {
            return Ok(());
        }
    }
    Err(deny(format!(
        "{digest} of {} is not reachable from a tag on the allow-list of route {} (tags: {})",
        api.name,
        route.name,
        a.tags.join(", ")
    )))
}

/// The digests reachable from the allowed tags of `upstream_name`, cached.
async fn reachable(
    state: &State,
    route: &Route,
    upstream_name: &Repository,
    subject: &str,
    refresh: bool,
) -> Result<Arc<Reachable>, Reply> {
    let key = format!("{}\n{upstream_name}", route.name);
    if let Ok(cache) = state.reachable.lock()
        && let Some((at, r)) = cache.get(&key)
    {
        let max_age = if refresh {
            REACHABLE_REFRESH
        } else {
            REACHABLE_TTL
        };
        if at.elapsed() < max_age {
            return Ok(Arc::clone(r));
        }
    }
    let scope = [Scope::repository(upstream_name.as_str(), &["pull"])];
    let auth = state
        .upstream(route)
        .authorization(&state.http, route, subject, &scope)
        .await?;
    let get = |path: String| {
        let mut req = state
            .http
            .get(
                route
                    .upstream
                    .join(&path)
                    .map_err(|e| bad_upstream(route, &e.to_string()))?,
            )
            .header(header::ACCEPT, dns01_registry::media::MANIFEST_ACCEPT);
        if let Some(v) = &auth {
            req = req.header(header::AUTHORIZATION, v.clone());
        }
        Ok::<_, Reply>(req)
    };
    let mut out = Reachable::default();
    let resp = get(format!("v2/{upstream_name}/tags/list"))?
        .send()
        .await
        .map_err(|e| unreachable(route, &e))?;
    if resp.status().is_success() {
        let body = read_small(resp)
            .await
            .ok_or_else(|| bad_upstream(route, "its tag list is too big or broke off"))?;
        let tags: Vec<String> = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| serde_json::from_value(v["tags"].clone()).ok())
            .unwrap_or_default();
        let mut pending: Vec<String> = tags
            .into_iter()
            .filter(|t| route.allow.tag(t))
            .take(REACHABLE_LIMIT)
            .collect();
        let mut seen = 0;
        while let Some(reference) = pending.pop() {
            seen += 1;
            if seen > REACHABLE_LIMIT {
                break;
            }
            let resp = get(format!("v2/{upstream_name}/manifests/{reference}"))?
                .send()
                .await
                .map_err(|e| unreachable(route, &e))?;
            if !resp.status().is_success() {
                continue;
            }
            let media = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let Some(body) = read_small(resp).await else {
                continue;
            };
            out.manifests
                .insert(dns01_registry::Digest::sha256_of(&body).to_string());
            match dns01_registry::Manifest::from_slice(media.as_deref(), &body) {
                Ok(dns01_registry::Manifest::Index(i)) => {
                    pending.extend(i.children().map(ToString::to_string));
                }
                Ok(dns01_registry::Manifest::Image(m)) => {
                    out.blobs.extend(m.blobs().map(|d| d.digest.to_string()));
                }
                Err(_) => {}
            }
        }
    }
    let out = Arc::new(out);
    if let Ok(mut cache) = state.reachable.lock() {
        cache.retain(|_, (at, _)| at.elapsed() < REACHABLE_TTL);
        cache.insert(key, (std::time::Instant::now(), Arc::clone(&out)));
    }
    Ok(out)
}

/// The platform a client states in its `User-Agent` (`… os/linux arch/amd64 …`, as Docker
/// sends it; podman 4.3 and containerd say none).
fn client_platform(headers: &HeaderMap) -> Option<Platform> {
    let ua = headers.get(header::USER_AGENT)?.to_str().ok()?;
    let word = |key: &str| {
        ua.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .filter(|v| !v.is_empty())
    };
    Some(Platform::new(word("os/")?, word("arch/")?))
}

/// 404 `MANIFEST_UNKNOWN` when an index has entries with platforms and none for the client.
fn platform_check(
    body: &[u8],
    platform: &Platform,
    name: &Repository,
    reference: &str,
) -> Result<(), Reply> {
    let Ok(dns01_registry::Manifest::Index(index)) =
        dns01_registry::Manifest::from_slice(None, body)
    else {
        return Ok(());
    };
    let built: Vec<String> = index.platforms().map(ToString::to_string).collect();
    if built.is_empty() || index.find(platform).is_some() {
        return Ok(());
    }
    Err(Reply::new(
        ErrorCode::ManifestUnknown,
        format!(
            "{name}:{reference} is built for {} only; this client is {platform}",
            built.join(", ")
        ),
    ))
}

/// Stores a single-platform manifest pushed under a tag by its digest, and under the tag an
/// OCI index with that one entry (platform from its config), so every tag is an index. The
/// client hears what it pushed: 201 with its manifest's digest.
#[allow(clippy::too_many_arguments)]
async fn wrap_in_index(
    state: &State,
    route: &Route,
    upstream_name: &Repository,
    client_name: &Repository,
    tag: &str,
    media: &str,
    manifest: bytes::Bytes,
    auth: Option<&HeaderValue>,
) -> Result<Response, Reply> {
    let send = |req: reqwest::RequestBuilder| {
        let req = match auth {
            Some(v) => req.header(header::AUTHORIZATION, v.clone()),
            None => req,
        };
        async move { req.send().await.map_err(|e| unreachable(route, &e)) }
    };
    let url = |path: String| {
        route
            .upstream
            .join(&path)
            .map_err(|e| bad_upstream(route, &e.to_string()))
    };
    let digest = dns01_registry::Digest::sha256_of(&manifest);
    let parsed = dns01_registry::Manifest::from_slice(Some(media), &manifest).map_err(|e| {
        Reply::with_status(
            StatusCode::BAD_REQUEST,
            ErrorCode::ManifestInvalid,
            e.to_string(),
        )
    })?;
    let dns01_registry::Manifest::Image(image) = parsed else {
        return Err(Reply::with_status(
            StatusCode::BAD_REQUEST,
            ErrorCode::ManifestInvalid,
            "not an image manifest",
        ));
    };
    let size = manifest.len();
    let resp = send(
        state
            .http
            .put(url(format!("v2/{upstream_name}/manifests/{digest}"))?)
            .header(header::CONTENT_TYPE, media)
            .body(manifest),
    )
    .await?;
    if !resp.status().is_success() {
        return Err(upstream_error(state, route, resp, Some((upstream_name, client_name))).await);
    }
    let resp = send(state.http.get(url(format!(
        "v2/{upstream_name}/blobs/{}",
        image.config.digest
    ))?))
    .await?;
    if !resp.status().is_success() {
        return Err(upstream_error(state, route, resp, Some((upstream_name, client_name))).await);
    }
    let config: serde_json::Value = read_small(resp)
        .await
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad_upstream(route, "the image's config is not JSON"))?;
    let mut platform =
        serde_json::json!({"os": config["os"], "architecture": config["architecture"]});
    if let Some(v) = config["variant"].as_str() {
        platform["variant"] = v.into();
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": dns01_registry::media::OCI_INDEX,
        "manifests": [{"mediaType": media, "digest": digest.as_str(), "size": size, "platform": platform}],
    }))
    .unwrap_or_default();
    let resp = send(
        state
            .http
            .put(url(format!("v2/{upstream_name}/manifests/{tag}"))?)
            .header(header::CONTENT_TYPE, dns01_registry::media::OCI_INDEX)
            .body(index),
    )
    .await?;
    if !resp.status().is_success() {
        return Err(upstream_error(state, route, resp, Some((upstream_name, client_name))).await);
    }
    Ok((
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                format!("/v2/{client_name}/manifests/{digest}"),
            ),
            (
                HeaderName::from_static("docker-content-digest"),
                digest.to_string(),
            ),
        ],
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rate_limits_credentials_read_only_and_failures_are_mapped() {
        for s in [401, 403, 405, 429, 500, 502, 503] {
            assert!(needs_mapping(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 201, 202, 206, 307, 400, 404, 409, 413, 416] {
            assert!(!needs_mapping(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn the_platform_comes_from_docker_user_agents_only() {
        let ua = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::USER_AGENT, HeaderValue::from_str(v).unwrap());
            client_platform(&h).map(|p| p.to_string())
        };
        assert_eq!(
            ua("docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.1 os/linux arch/arm64 UpstreamClient(x)").as_deref(),
            Some("linux/arm64")
        );
        assert_eq!(ua("containers/5.23.1 (github.com/containers/image)"), None);
        assert_eq!(ua("containerd/v1.7.2"), None);
    }

    #[test]
    fn an_index_without_the_clients_platform_is_refused_with_what_it_has() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;
        let name = Repository::parse("app").unwrap();
        let e = platform_check(index, &"linux/amd64".parse().unwrap(), &name, "1").unwrap_err();
        assert_eq!(
            e.message(),
            "app:1 is built for linux/arm64/v8 only; this client is linux/amd64"
        );
        assert!(platform_check(index, &"linux/arm64".parse().unwrap(), &name, "1").is_ok());
    }
}
