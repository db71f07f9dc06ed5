//! # dns01-server
//!
//! Serves an axum [`Router`](axum::Router) the way a program exposed to the internet must:
//! over TLS (rustls, ring, TLS 1.2/1.3, a certificate that reloads from disk without a
//! restart) or plain TCP, with a connection cap, a cap on header size (431), timeouts against
//! slow clients (TLS handshake, headers, body, idle connections) and graceful shutdown.
//! The cert-manager webhook and the registry gateway both serve through it.
//!
//! - [`tls`]: certificate loading and reload, the `ServerConfig`.
//! - [`serve()`]/[`serve_with_options`]: the accept loop and connections.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use dns01_server::{ServeOptions, serve_with_options, tls};
//! let certs = tls::ReloadingCertResolver::new("tls.crt", "tls.key")?;
//! let config = tls::server_config(certs, false)?;
//! let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! serve_with_options(listener, config, app, shutdown, ServeOptions::default()).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod serve;
pub mod tls;

pub use serve::{ServeOptions, Transport, serve, serve_with_options};
