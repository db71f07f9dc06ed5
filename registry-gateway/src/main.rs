//! `dns01-registry-gateway serve --config gateway.yaml --listen 0.0.0.0:8443
//! --tls-cert-file tls.crt --tls-private-key-file tls.key --metrics-addr 0.0.0.0:9090`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dns01_registry::{Credentials, ImageRef, Platform};
use std::sync::Arc;
use std::time::Duration;

use dns01_registry_gateway::{Config, State, check, metrics_router, router};
use dns01_server::{Transport, tls};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    version,
    about = "OCI registry gateway: custom domains, platform tokens, upstream credentials"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTPS (with `--tls-cert-file`), or plain HTTP behind a TLS-terminating ingress.
    Serve(Box<ServeArgs>),
    /// Pull an image the way a client does (ping, token, manifest HEAD/GET, the platform's
    /// manifest, config, first layer) and say which step fails; exit code 1 on failure.
    Test {
        /// The image: `host[:port]/name:tag` or `…@sha256:…`.
        image: String,
        /// `principal:token` for the gateway.
        #[arg(long, env = "GATEWAY_TEST_CREDS", hide_env_values = true)]
        creds: Option<String>,
        /// Talk plain HTTP instead of HTTPS.
        #[arg(long)]
        plain_http: bool,
        /// The platform to pick from an index.
        #[arg(long, default_value = "linux/amd64")]
        platform: String,
    },
    /// Check a configuration file and exit.
    Check {
        /// The configuration file (YAML).
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The configuration file (YAML).
    #[arg(long, env = "GATEWAY_CONFIG")]
    config: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The serving certificate chain (PEM); reloaded when it changes on disk. Without it,
    /// plain HTTP.
    #[arg(long, env = "GATEWAY_TLS_CERT_FILE", requires = "tls_private_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// The serving certificate's private key (PEM).
    #[arg(long, env = "GATEWAY_TLS_PRIVATE_KEY_FILE", requires = "tls_cert_file")]
    tls_private_key_file: Option<PathBuf>,
    /// Address of the Prometheus listener (`/metrics`, `/healthz`, plain HTTP); none without it.
    #[arg(long, env = "GATEWAY_METRICS_ADDR")]
    metrics_addr: Option<String>,
    /// Maximum concurrent client connections.
    #[arg(long, env = "GATEWAY_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Maximum size of a request's headers in bytes (431 beyond it).
    #[arg(long, env = "GATEWAY_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    max_header_bytes: usize,
    /// Seconds a client has to complete the TLS handshake, and to send a request's headers.
    #[arg(
        long,
        env = "GATEWAY_HEADER_READ_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    header_read_timeout_seconds: u64,
    /// Seconds a connection with no request in flight stays open.
    #[arg(long, env = "GATEWAY_IDLE_TIMEOUT_SECONDS", default_value_t = 90)]
    idle_timeout_seconds: u64,
    /// On SIGTERM, seconds requests in flight (blob pulls) may take before connections drop.
    #[arg(long, env = "GATEWAY_SHUTDOWN_TIMEOUT_SECONDS", default_value_t = 25)]
    shutdown_timeout_seconds: u64,
}

impl ServeArgs {
    fn options(&self) -> dns01_server::ServeOptions {
        let header = Duration::from_secs(self.header_read_timeout_seconds);
        dns01_server::ServeOptions {
            max_connections: self.max_connections,
            handshake_timeout: header,
            header_read_timeout: header,
            // Blob uploads are gigabytes: no whole-body deadline.
            body_read_timeout: None,
            max_header_bytes: self.max_header_bytes,
            idle_timeout: Duration::from_secs(self.idle_timeout_seconds),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_seconds),
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        } => {}
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let loaded = load(&args.config)?;
    let kube = if loaded.needs_kubernetes() {
        Some(kube::Client::try_default().await.context(
            "auth.kubernetes or a route's maintenance.lease: no Kubernetes client (in-cluster or kubeconfig)",
        )?)
    } else {
        None
    };
    let state = State::with_kubernetes(loaded, kube)?;
    tokio::spawn(dns01_registry_gateway::watch_config(
        Arc::clone(&state),
        args.config.clone(),
        Duration::from_secs(2),
    ));
    let transport = match (&args.tls_cert_file, &args.tls_private_key_file) {
        (Some(cert), Some(key)) => {
            let certs = tls::ReloadingCertResolver::new(cert, key).with_context(|| {
                format!(
                    "cannot load the serving certificate {} / {}",
                    cert.display(),
                    key.display()
                )
            })?;
            Transport::Tls(
                tls::server_config(certs, false).context("cannot build the TLS configuration")?,
            )
        }
        _ => Transport::Plain,
    };
    let options = args.options();
    // One signal stops both listeners.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let metrics = match &args.metrics_addr {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("--metrics-addr: cannot listen on {addr}"))?;
            tracing::info!(addr = %listener.local_addr()?, "serving metrics");
            let app = metrics_router(Arc::clone(&state));
            let stop = stopped(stop_rx.clone());
            let options = options.clone();
            Some(tokio::spawn(async move {
                dns01_server::serve_with_options(listener, Transport::Plain, app, stop, options)
                    .await
            }))
        }
        None => None,
    };
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("--listen: cannot listen on {}", args.listen))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        tls = matches!(transport, Transport::Tls(_)),
        "serving"
    );
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_tx.send(true);
    });
    dns01_server::serve_with_options(
        listener,
        transport,
        router(state),
        stopped(stop_rx),
        options,
    )
    .await
    .context("server failed")?;
    if let Some(m) = metrics {
        m.await
            .context("metrics listener")?
            .context("metrics listener failed")?;
    }
    tracing::info!("stopped");
    Ok(())
}

fn load(path: &PathBuf) -> anyhow::Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Config::from_yaml(&text).with_context(|| format!("in {}", path.display()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Check { config } => {
            // The check reads every file; the cluster is not contacted.
            State::new(load(&config)?.without_cluster())?;
            println!("{}: ok", config.display());
            Ok(())
        }
        Command::Test {
            image,
            creds,
            plain_http,
            platform,
        } => {
            let image = ImageRef::parse(&image)?;
            let platform: Platform = platform.parse()?;
            let creds = creds
                .map(|c| {
                    c.split_once(':')
                        .map(|(u, p)| Credentials::new(u, p))
                        .context("--creds: write `principal:token`")
                })
                .transpose()?;
            let steps = check::check_image(&image, plain_http, creds, &platform).await;
            for s in &steps {
                println!("{s}");
            }
            if steps.iter().any(|s| s.outcome.is_err()) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Serve(args) => serve(*args).await,
    }
}
