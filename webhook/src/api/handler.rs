//! Request handlers: health, discovery, and `POST /apis/<group>/v1alpha1/<solver>`.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::discovery::{self, VERSION};
use super::error::ApiError;
use super::payload::parse_payload;
use super::types::{
    Action, ChallengePayload, ChallengeRequest, ChallengeResponse, PAYLOAD_API_VERSION,
    PAYLOAD_KIND,
};
use crate::AppState;
use crate::solver::{Challenge, Solver};

/// `GET /healthz`, `/livez`, `/readyz`.
pub async fn health() -> &'static str {
    "ok"
}

/// `GET /apis`.
pub async fn apis(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(discovery::api_group_list(&state.group_name))
}

/// `GET /apis/<group>`.
pub async fn group(
    State(state): State<Arc<AppState>>,
    Path(group): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_group(&state, &group)?;
    Ok(Json(discovery::api_group(&state.group_name)))
}

/// `GET /apis/<group>/<version>`.
pub async fn resources(
    State(state): State<Arc<AppState>>,
    Path((group, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    check_group(&state, &group)?;
    check_version(&group, &version)?;
    Ok(Json(discovery::api_resource_list(
        &state.group_name,
        state.solvers.keys().map(String::as_str),
    )))
}

/// Anything else: a 404 `Status`.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "the server could not find the requested resource {}",
        uri.path()
    ))
}

/// A known path with the wrong method: a 405 `Status`.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} is not supported on {}; challenge payloads are created with POST, discovery \
         documents read with GET",
        uri.path()
    ))
}

fn check_group(state: &AppState, group: &str) -> Result<(), ApiError> {
    if group == state.group_name {
        return Ok(());
    }
    Err(ApiError::NotFound(format!(
        "API group {group:?} is not served here; this webhook serves {:?}: the Issuer's \
         solvers[].dns01.webhook.groupName must equal the webhook's --group-name",
        state.group_name
    )))
}

fn check_version(group: &str, version: &str) -> Result<(), ApiError> {
    if version == VERSION {
        return Ok(());
    }
    Err(ApiError::NotFound(format!(
        "version {version:?} of API group {group:?} is not served here; only {VERSION} is"
    )))
}

/// How one challenge request went, for the metrics and the log line.
struct Outcome {
    action: Option<Action>,
    label: &'static str,
    message: Option<String>,
}

/// The solver label of requests for solvers that are not served.
const UNKNOWN_SOLVER: &str = "unknown";

/// `POST /apis/<group>/v1alpha1/<solver>`: present or clean up one challenge.
///
/// Protocol errors are HTTP errors with a `Status` body; everything else is a 201 with
/// `response.success` saying how it went.
pub async fn challenge(
    State(state): State<Arc<AppState>>,
    Path((group, version, solver_name)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let _in_flight = state.metrics.in_flight();
    // The solver as metrics and logs name it: only served names, so that a caller cannot
    // create label values.
    let solver = if state.solvers.contains_key(&solver_name) {
        solver_name.as_str()
    } else {
        UNKNOWN_SOLVER
    };
    let mut outcome = Outcome {
        action: None,
        label: "success",
        message: None,
    };
    // The payload, once parsed: the answer echoes it, and the log line names its request.
    let mut payload = None;
    let response = match handle(
        &state,
        &group,
        &version,
        &solver_name,
        body,
        &mut payload,
        &mut outcome,
    )
    .await
    {
        Ok(answered) => (StatusCode::CREATED, Json(answered)).into_response(),
        Err(e) => {
            outcome.label = "rejected";
            outcome.message = Some(e.to_string());
            e.into_response()
        }
    };
    let elapsed = started.elapsed();
    let action = outcome.action.map_or("unknown", Action::as_str);
    state
        .metrics
        .observe_request(solver, action, outcome.label, elapsed);
    let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let request = payload.as_ref().and_then(|p| p.request.as_ref());
    let field = |get: fn(&ChallengeRequest) -> &str| request.map_or("", get);
    let dns_name = field(|r| &r.dns_name);
    let resolved_fqdn = field(|r| &r.resolved_fqdn);
    let namespace = field(|r| &r.resource_namespace);
    match &outcome.message {
        None => tracing::info!(
            solver,
            action,
            dns_name,
            resolved_fqdn,
            namespace,
            outcome = outcome.label,
            duration_ms,
            "challenge answered"
        ),
        Some(message) => tracing::warn!(
            solver,
            action,
            dns_name,
            resolved_fqdn,
            namespace,
            outcome = outcome.label,
            duration_ms,
            reason = message.as_str(),
            "challenge failed"
        ),
    }
    response
}

/// Checks and parses the request into `payload`, runs it, and puts the response in `payload`.
async fn handle<'p>(
    state: &AppState,
    group: &str,
    version: &str,
    solver_name: &str,
    body: Result<Bytes, BytesRejection>,
    payload: &'p mut Option<ChallengePayload>,
    outcome: &mut Outcome,
) -> Result<&'p ChallengePayload, ApiError> {
    check_group(state, group)?;
    check_version(group, version)?;
    let Some(solver) = state.solvers.get(solver_name) else {
        let known: Vec<&str> = state.solvers.keys().map(String::as_str).collect();
        return Err(ApiError::NotFound(format!(
            "solver {solver_name:?} is not served here (served: {}); check the Issuer's \
             solvers[].dns01.webhook.solverName",
            known.join(", ")
        )));
    };
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "request body is larger than the {} bytes accepted",
                state.body_limit
            ))
        } else {
            ApiError::BadRequest(format!("could not read the request body: {rejection}"))
        }
    })?;
    let payload = payload.insert(parse_payload(&body)?);
    let Some(request) = payload.request.as_mut() else {
        return Err(ApiError::Invalid(
            "the ChallengePayload has no request".to_owned(),
        ));
    };
    outcome.action = Some(request.action);
    // The config moves into the challenge and back into the request (which the answer echoes)
    // rather than being copied.
    let config = request.config.take();
    let mut challenge = match Challenge::from_request(request) {
        Ok(challenge) => challenge,
        Err(message) => {
            request.config = config;
            return Err(ApiError::Invalid(message));
        }
    };
    challenge.config = config;
    let result = run(state, solver.as_ref(), &challenge).await;
    request.config = challenge.config.take();
    let uid = request.uid.clone();
    let response = match result {
        Ok(()) => ChallengeResponse::success(uid),
        Err((label, message)) => {
            outcome.label = label;
            outcome.message = Some(message.clone());
            ChallengeResponse::failure(uid, message)
        }
    };
    // cert-manager sends both already; only a payload without them gets new strings.
    if payload.api_version.as_deref() != Some(PAYLOAD_API_VERSION) {
        payload.api_version = Some(PAYLOAD_API_VERSION.to_owned());
    }
    if payload.kind.as_deref() != Some(PAYLOAD_KIND) {
        payload.kind = Some(PAYLOAD_KIND.to_owned());
    }
    payload.response = Some(response);
    Ok(payload)
}

/// Runs the solver under the request deadline. Errors are (outcome label, user message).
async fn run(
    state: &AppState,
    solver: &dyn Solver,
    challenge: &Challenge,
) -> Result<(), (&'static str, String)> {
    match tokio::time::timeout(state.request_timeout, solver.run(challenge)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err((e.outcome(), e.report())),
        Err(_) => Err((
            "timeout",
            format!(
                "{} of TXT record {} did not finish within {:?}: the DNS provider is slow or \
                 rate-limiting; cert-manager will retry. If this persists, check the webhook's \
                 logs and its dns01_webhook_upstream_* metrics",
                challenge.action, challenge.resolved_fqdn, state.request_timeout
            ),
        )),
    }
}
