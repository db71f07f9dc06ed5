//! `POST /apis/<group>/v1alpha1/<solver>` for one served solver, as a service of its own.
//!
//! Every challenge request takes this route: [`crate::App`] calls it straight from the
//! connection, and the router has it too. Built from handlers and layers, the router would wrap
//! it in a boxed service per layer and add a body-limit extension to every request; this
//! service does the same work directly: the auth layer's check, the body read under the same
//! limit, then the same answer as the parametrised route ([`super::handler::challenge`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::BoxError;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper::body::Body as HttpBody;

use super::handler::{self, BodyError};
use crate::AppState;
use crate::auth::AuthState;
use crate::tls::PeerCertificates;

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

    /// Answers `request`, which came on a connection whose client certificate chain is `peer`.
    ///
    /// [`crate::App`] calls this straight from the connection, with the body as it arrives;
    /// as a service behind the router, the chain is read from the request's extensions.
    pub(crate) async fn serve<B>(
        &self,
        request: http::Request<B>,
        peer: Option<&PeerCertificates>,
    ) -> Response
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let shared = &self.0;
        // In the order of the layers around the other routes: authentication and
        // authorisation first, so that nothing about the route is told to a caller refused.
        if let Some(auth) = &shared.auth
            && let Err(pending) = auth.granted(&request, peer)
        {
            // Checked in full, as the auth layer checks: it reads the chain from the request.
            let mut request = request.map(Body::new);
            if let Some(peer) = peer {
                request.extensions_mut().insert(peer.clone());
            }
            return match auth.check_in_full(request, pending).await {
                Ok(request) => shared.answer(request).await,
                Err(refused) => refused,
            };
        }
        shared.answer(request).await
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
        let route = self.clone();
        let peer = request.extensions().get::<PeerCertificates>().cloned();
        Box::pin(async move { Ok(route.serve(request, peer.as_ref()).await) })
    }
}

impl Shared {
    /// Answers an admitted request.
    async fn answer<B>(&self, request: http::Request<B>) -> Response
    where
        B: HttpBody<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
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
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(err) => Err(BodyError::Unreadable(format!(
            "Failed to buffer the request body: {err}"
        ))),
    }
}
