//! The accept loop and each connection (hyper-util's auto HTTP/1.1 + HTTP/2 builder, over
//! [`crate::tls`]'s rustls configuration or plain TCP), with a connection cap, a cap on the
//! size of a request's headers (431 beyond it), time limits on the handshake, the headers, the
//! body and idleness, and graceful shutdown (hyper-util's: each connection finishes the
//! requests in flight, at most [`ServeOptions::shutdown_timeout`], then closes).
//!
//! Every request reaches the router with `ConnectInfo<SocketAddr>` and, over TLS when the
//! client presented a chain, the connection's [`PeerCertificates`] as extensions.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::tls::PeerCertificates;

/// Limits and timeouts of [`serve_with_options`].
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Maximum concurrent connections; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed for an HTTP/1 client to send a request's headers.
    pub header_read_timeout: Duration,
    /// Time allowed for a client to send a request's whole body, counted from the end of its
    /// headers. A body still incomplete then is abandoned: the handler sees a read error
    /// (HTTP 400) and the connection is closed, so a client that stalls mid-body cannot hold
    /// a connection slot. `None`: no limit (a server that receives gigabyte uploads).
    pub body_read_timeout: Option<Duration>,
    /// Maximum size of a request's head (request line and headers) in bytes: an HTTP/1 client
    /// that sends more gets 431 and the connection is closed; for HTTP/2 it is the advertised
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`. At least 8 KiB (hyper's minimum buffer).
    pub max_header_bytes: usize,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// On shutdown, how long in-flight requests may take before connections are dropped.
    pub shutdown_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Some(Duration::from_secs(10)),
            max_header_bytes: 64 * 1024,
            idle_timeout: Duration::from_secs(90),
            shutdown_timeout: Duration::from_secs(25),
        }
    }
}

/// How connections speak: TLS with a rustls configuration (see [`crate::tls::server_config`]),
/// or plain TCP (behind a TLS-terminating ingress, or a loopback-only metrics listener).
#[derive(Clone, Debug)]
pub enum Transport {
    /// TLS with this configuration.
    Tls(Arc<ServerConfig>),
    /// Plain TCP.
    Plain,
}

impl From<Arc<ServerConfig>> for Transport {
    fn from(config: Arc<ServerConfig>) -> Self {
        Self::Tls(config)
    }
}

/// [`serve_with_options`] with default options.
pub async fn serve(
    listener: TcpListener,
    transport: impl Into<Transport>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_with_options(listener, transport, app, shutdown, ServeOptions::default()).await
}

/// Serves `app` on `listener` (over TLS or plain TCP) until `shutdown` completes; then stops
/// accepting, lets in-flight requests finish (at most `shutdown_timeout`) and returns.
///
/// Every request the router receives carries `ConnectInfo<SocketAddr>` and, over TLS, the
/// connection's [`PeerCertificates`] (when the client presented a certificate) as extensions.
pub async fn serve_with_options(
    listener: TcpListener,
    transport: impl Into<Transport>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send,
    options: ServeOptions,
) -> std::io::Result<()> {
    let acceptor = match transport.into() {
        Transport::Tls(config) => Some(tokio_rustls::TlsAcceptor::from(config)),
        Transport::Plain => None,
    };
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let options = Arc::new(options);
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let stop = stop_rx.clone();
        let options = options.clone();
        connections.spawn(async move {
            serve_connection(acceptor, stream, remote, app, stop, &options).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(options.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            remaining = connections.len(),
            "shutdown timeout reached; dropping connections with requests in flight"
        );
        connections.abort_all();
    }
    Ok(())
}

struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A request body that fails once its deadline passes before it is complete.
struct DeadlineBody {
    inner: hyper::body::Incoming,
    /// When the deadline started (the end of the request's headers).
    started: tokio::time::Instant,
    /// The deadline's timer, made only when the body is not all there at once (a small body
    /// usually is, and then no timer is made at all).
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    timeout: Duration,
}

impl DeadlineBody {
    fn new(inner: hyper::body::Incoming, timeout: Duration) -> Self {
        Self {
            inner,
            started: tokio::time::Instant::now(),
            deadline: None,
            timeout,
        }
    }
}

/// The error of a request body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within {0:?}")]
struct BodyReadTimeout(Duration);

impl hyper::body::Body for DeadlineBody {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match this
                .deadline
                .get_or_insert_with(|| {
                    Box::pin(match this.started.checked_add(this.timeout) {
                        Some(at) => tokio::time::sleep_until(at),
                        // Past the clock's range: never, in practice.
                        None => tokio::time::sleep(this.timeout),
                    })
                })
                .as_mut()
                .poll(cx)
            {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyReadTimeout(this.timeout).into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

async fn serve_connection(
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    app: Router,
    stop: watch::Receiver<bool>,
    options: &ServeOptions,
) {
    // Requests and answers are small and latency-bound: without this, Nagle's algorithm
    // holds back a segment until the client's delayed ACK arrives (tens of milliseconds).
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%remote, error = %err, "cannot set TCP_NODELAY");
    }
    let Some(acceptor) = acceptor else {
        http_connection(stream, None, remote, app, stop, options).await;
        return;
    };
    let tls_stream =
        match tokio::time::timeout(options.handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(err)) => {
                tracing::debug!(%remote, error = %err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%remote, "TLS handshake timed out");
                return;
            }
        };
    let peer = tls_stream
        .get_ref()
        .1
        .peer_certificates()
        .filter(|c| !c.is_empty())
        .map(|c| PeerCertificates::new(c.iter().map(|c| c.clone().into_owned()).collect()));
    http_connection(tls_stream, peer, remote, app, stop, options).await;
}

/// HTTP on an established (TLS or plain) stream until it closes.
async fn http_connection<S>(
    stream: S,
    peer: Option<PeerCertificates>,
    remote: SocketAddr,
    app: Router,
    stop: watch::Receiver<bool>,
    options: &ServeOptions,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity {
        in_flight: AtomicUsize::new(0),
        last: Mutex::new(Instant::now()),
    });
    let service_activity = activity.clone();
    let body_read_timeout = options.body_read_timeout;
    let service =
        hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
            let guard = InFlight::start(&service_activity);
            if let Some(peer) = &peer {
                request.extensions_mut().insert(peer.clone());
            }
            request.extensions_mut().insert(ConnectInfo(remote));
            let request = request.map(|body| match body_read_timeout {
                Some(timeout) => Body::new(DeadlineBody::new(body, timeout)),
                None => Body::new(body),
            });
            let app = app.clone();
            async move {
                let Ok(response) = app.oneshot(request).await;
                drop(guard);
                Ok::<_, Infallible>(response)
            }
        });
    // hyper refuses (panics on) a buffer below 8 KiB.
    let max_header_bytes = options.max_header_bytes.max(8 * 1024);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(max_header_bytes)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(250);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    // Shutdown and idleness are watched by a task of their own, which says when to close: this
    // task is woken several times per request, and each wake would otherwise poll the stop
    // signal and the idle timer too.
    let (close_tx, mut close_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(watch_connection(
        activity,
        stop,
        options.idle_timeout,
        remote,
        close_tx,
    ));
    let mut closing = false;
    loop {
        tokio::select! {
            biased;
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%remote, error = %err, "connection ended with an error");
                }
                return;
            }
            close = &mut close_rx, if !closing => {
                closing = true;
                // A watchdog that went away (the runtime shutting down) also means closing.
                let _ = close;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Says on `close` when a connection should close: when the server stops, or when the
/// connection has been idle (no request in flight) for `idle_timeout`. Ends with the connection.
async fn watch_connection(
    activity: Arc<Activity>,
    mut stop: watch::Receiver<bool>,
    idle_timeout: Duration,
    remote: SocketAddr,
    mut close: tokio::sync::oneshot::Sender<()>,
) {
    let mut idle_check = tokio::time::interval(Duration::from_secs(1).min(idle_timeout));
    loop {
        tokio::select! {
            () = close.closed() => return,
            _ = stop.wait_for(|stop| *stop) => break,
            _ = idle_check.tick() => {
                let idle = activity.in_flight.load(Ordering::SeqCst) == 0
                    && activity.last.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
                        >= idle_timeout;
                if idle {
                    tracing::debug!(%remote, "closing idle connection");
                    break;
                }
            }
        }
    }
    let _ = close.send(());
}
