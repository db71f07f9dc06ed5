//! `dns01-registry-gateway serve --config gateway.yaml --listen 0.0.0.0:8080`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dns01_registry::{Credentials, ImageRef, Platform};
use dns01_registry_gateway::{Config, State, check, router};

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
    /// Serve plain HTTP (put a TLS-terminating ingress in front).
    Serve {
        /// The configuration file (YAML).
        #[arg(long, env = "GATEWAY_CONFIG")]
        config: PathBuf,
        /// Address to listen on.
        #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
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
        Command::Serve { config, listen } => {
            let loaded = load(&config)?;
            let kube = if loaded.needs_kubernetes() {
                Some(kube::Client::try_default().await.context(
                        "auth.kubernetes or a route's maintenance.lease: no Kubernetes client (in-cluster or kubeconfig)",
                    )?)
            } else {
                None
            };
            let state = State::with_kubernetes(loaded, kube)?;
            tokio::spawn(dns01_registry_gateway::watch_config(
                std::sync::Arc::clone(&state),
                config.clone(),
                std::time::Duration::from_secs(2),
            ));
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            tracing::info!(%listen, "serving");
            axum::serve(
                listener,
                // The peer address is the login limit's client address.
                router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
                .with_graceful_shutdown(async {
                    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        () = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
                    }
                })
                .await?;
            Ok(())
        }
    }
}
