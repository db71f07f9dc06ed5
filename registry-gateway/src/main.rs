//! `dns01-registry-gateway serve --config gateway.yaml --listen 0.0.0.0:8080`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dns01_registry_gateway::{Config, State, router};

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
            let c = load(&config)?;
            State::new(c)?;
            println!("{}: ok", config.display());
            Ok(())
        }
        Command::Serve { config, listen } => {
            let state = State::new(load(&config)?)?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            tracing::info!(%listen, "serving");
            axum::serve(listener, router(state))
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
