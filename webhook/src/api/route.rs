//! `POST /apis/<group>/v1alpha1/<solver>` for one served solver, as a service of its own.
//!
//! Every challenge request takes this route. Built from handlers and layers, the router would
//! wrap it in a boxed service per layer and add a body-limit extension to every request; this
//! service does the same work directly: the auth layer's check, the body read under the same
//! limit, then the same answer as the parametrised route ([`super::handler::challenge`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use super::handler::{self, BodyError};
use crate::AppState;
use crate::auth::AuthState;

/// The route of one served solver (see the [module docs](self)).
#[derive(Clone, Debug)]
pub(crate) struct SolverRoute(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    state: Arc<AppState>,
    solver: Arc<str>,
    auth: Option<AuthState>,
}

impl SolverRoute {
    /// The route of `solver`, checked by `state.auth` when it is set.
    pub(crate) fn new(state: Arc<AppState>, solver: &str) -> Self {
        let auth = state
            .auth
            .clone()
            .map(|authenticator| AuthState { authenticator });
        Self(Arc::new(Shared {
            state,
            solver: Arc::from(solver),
            auth,
        }))
    }
}

impl tower::Service<Request> for SolverRoute {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let shared = self.0.clone();
        Box::pin(async move { Ok(shared.answer(request).await) })
    }
}

impl Shared {
    async fn answer(&self, request: Request) -> Response {
        // In the order of the layers around the other routes: authentication and
        // authorisation first, so that nothing about the route is told to a caller refused.
        let request = match &self.auth {
            Some(auth) => match auth.admit(request).await {
                Ok(request) => request,
                Err(refused) => return refused,
            },
            None => request,
        };
        if request.method() != Method::POST {
            let (method, uri) = (request.method().clone(), request.uri().clone());
            let mut response = handler::method_not_allowed(method, uri)
                .await
                .into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let body = read_body(request.into_body(), self.state.body_limit).await;
        handler::challenge_for(&self.state, &self.solver, body).await
    }
}

/// The whole body, if it is at most `limit` bytes long.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(err) => Err(BodyError::Unreadable(format!(
            "Failed to buffer the request body: {err}"
        ))),
    }
}
