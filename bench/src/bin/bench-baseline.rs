//! `bench-baseline`: the baseline server of `dns01-bench`. A minimal axum + rustls server that
//! answers every request with a fixed JSON body (a successful challenge answer), with the
//! webhook's TLS settings: the same certificate, ring, TLS 1.3 and 1.2, ALPN h2 + http/1.1,
//! and a requested (not required) client certificate verified against the front-proxy CA.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use clap::Parser;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower::ServiceExt as _;

/// A fixed body shaped like the webhook's answer to a Present.
const BODY: &str = r#"{"apiVersion":"webhook.acme.cert-manager.io/v1alpha1","kind":"ChallengePayload","response":{"uid":"","success":true}}"#;

/// Minimal HTTPS server answering a fixed JSON body.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long)]
    listen: SocketAddr,
    /// Serving certificate (PEM).
    #[arg(long)]
    tls_cert_file: PathBuf,
    /// Serving key (PEM).
    #[arg(long)]
    tls_private_key_file: PathBuf,
    /// CA of client certificates (requested, not required).
    #[arg(long)]
    client_ca_file: PathBuf,
}

async fn fixed() -> impl IntoResponse {
    (
        http::StatusCode::CREATED,
        [(http::header::CONTENT_TYPE, "application/json")],
        BODY,
    )
}

fn tls_config(args: &Args) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&args.tls_cert_file)
        .context("cannot read the certificate")?
        .collect::<Result<_, _>>()
        .context("bad certificate PEM")?;
    let key = PrivateKeyDer::from_pem_file(&args.tls_private_key_file).context("bad key PEM")?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&args.client_ca_file).context("cannot read the CA")? {
        roots.add(ca.context("bad CA PEM")?)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .context("client verifier")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .context("certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls_config(&args)?);
    let app = Router::new()
        .route("/readyz", axum::routing::get(|| async { "ok" }))
        .fallback(fixed);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // TCP_NODELAY, as the webhook's serving loop sets it: same settings on both sides.
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    app.clone().oneshot(req.map(Body::new))
                });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
