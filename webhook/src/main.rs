//! `dns01-webhook`: the command line. Everything else lives in the library.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use dns01_core::{Fqdn, ZoneName};
use url::Url;

use dns01_webhook::lease::LeaseLock;
use dns01_webhook::local::{self, LocalOptions};
use dns01_webhook::logging::EscapedFields;
use dns01_webhook::metrics::Metrics;
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::gandi::{self, AmbientCredentials, GandiSettings, GandiSolver};
use dns01_webhook::solver::memory::{self, MemorySolver};
use dns01_webhook::solver::rfc2136::{self, Rfc2136Settings, Rfc2136Solver};
use dns01_webhook::{AppState, auth, cluster, router, secrets, server, tls};

/// cert-manager DNS-01 webhook for Gandi LiveDNS, with delegated validation zones.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the webhook API (the default).
    Serve {
        #[command(flatten)]
        args: Box<ServeArgs>,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Run without a cluster: in-memory records, DNS on a local port, self-signed TLS,
    /// loopback only, no authentication.
    Local {
        #[command(flatten)]
        args: LocalArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Print the `_acme-challenge` CNAME a customer creates to delegate validation of a domain
    /// to a tenant (namespace) in a validation zone.
    Cname(CnameArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
struct LogArgs {
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log filter, in RUST_LOG syntax (e.g. `info`, `dns01_webhook=debug,info`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log_level: String,
    /// Deprecated, and ignored: log lines are written as they come. Accepted (with a warning)
    /// for one release so that existing deployments keep starting.
    #[arg(long, env = "LOG_FLUSH_INTERVAL", value_parser = parse_duration)]
    log_flush_interval: Option<Duration>,
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    /// API group served; must equal the Issuer's `groupName` and the APIService's group.
    #[arg(long, env = "GROUP_NAME", required = true, value_parser = parse_group_name)]
    group_name: Option<String>,
    /// HTTPS port of the API.
    #[arg(long, env = "SECURE_PORT", default_value_t = 8443)]
    secure_port: u16,
    /// Address the API listens on.
    #[arg(long, env = "BIND_ADDRESS", default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind_address: IpAddr,
    /// Serving certificate (PEM, with chain); reloaded when it changes.
    #[arg(long, env = "TLS_CERT_FILE", default_value = "/tls/tls.crt")]
    tls_cert_file: PathBuf,
    /// Serving certificate's private key (PEM); reloaded when it changes.
    #[arg(long, env = "TLS_PRIVATE_KEY_FILE", default_value = "/tls/tls.key")]
    tls_private_key_file: PathBuf,
    /// Plain-HTTP listener for `GET /metrics`.
    #[arg(long, env = "METRICS_ADDRESS", default_value = "0.0.0.0:9402")]
    metrics_address: SocketAddr,
    /// Kubeconfig to reach the API server (several separated by `:` are merged, as kubectl
    /// does); in-cluster service account when absent.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Base URL of Gandi LiveDNS for `endpoint: production`.
    #[arg(
        long,
        env = "GANDI_API_URL",
        default_value = "https://api.gandi.net/v5/livedns"
    )]
    gandi_api_url: Url,
    /// Base URL of Gandi LiveDNS for `endpoint: sandbox`.
    #[arg(
        long,
        env = "GANDI_SANDBOX_API_URL",
        default_value = "https://api.sandbox.gandi.net/v5/livedns"
    )]
    gandi_sandbox_api_url: Url,
    /// File holding the webhook's own Gandi personal access token, used only for requests
    /// with allowAmbientCredentials and no secret reference (GANDI_PAT / GANDI_API_KEY work
    /// too).
    #[arg(long, env = "GANDI_CREDENTIALS_FILE")]
    gandi_credentials_file: Option<PathBuf>,
    /// Client-side limit of Gandi calls per minute, for the whole webhook (every credential
    /// together; Gandi counts per source IP). At least 1.
    #[arg(
        long,
        env = "GANDI_RATE_LIMIT_PER_MINUTE",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    gandi_rate_limit_per_minute: u32,
    /// Timeout of one Gandi HTTP call.
    #[arg(long, env = "GANDI_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    gandi_timeout: Duration,
    /// How Gandi rrset writes are serialised across replicas: `none` (one replica: the
    /// process's own serialisation is enough) or `lease` (several replicas: a
    /// coordination.k8s.io/v1 Lease per rrset, held for each read-merge-write).
    #[arg(long, env = "RRSET_LOCK", default_value = "none", value_parser = ["none", "lease"])]
    rrset_lock: String,
    /// Namespace of the rrset Leases (`--rrset-lock lease`); the pod's own namespace.
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// This replica's name as a Lease holder (a random suffix is added); the pod's name.
    #[arg(long, env = "POD_NAME")]
    lease_identity: Option<String>,
    /// How long an rrset Lease lasts without renewal: how long a replica that died holding
    /// one blocks writes to that rrset.
    #[arg(long, env = "RRSET_LEASE_DURATION", default_value = "15s", value_parser = parse_timeout)]
    rrset_lease_duration: Duration,
    /// Nameservers the `rfc2136` solver may send updates to (host:port, port 53 by default;
    /// repeat the flag or separate with commas). An Issuer's `nameserver` must be one of them.
    #[arg(long, env = "RFC2136_NAMESERVERS", value_delimiter = ',', value_parser = parse_nameserver)]
    rfc2136_nameserver: Vec<String>,
    /// Timeout of one exchange with an RFC 2136 nameserver.
    #[arg(long, env = "RFC2136_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    rfc2136_timeout: Duration,
    /// Deadline of one challenge request; on expiry the answer is `success: false`. Keep it
    /// below cert-manager's 30 s.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "25s", value_parser = parse_timeout)]
    request_timeout: Duration,
    /// Serve the `memory` solver for these zones (comma-separated); for tests only.
    #[arg(long, env = "MEMORY_ZONES", value_delimiter = ',')]
    memory_zone: Vec<ZoneName>,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_PERIOD", default_value = "25s", value_parser = parse_duration)]
    shutdown_grace_period: Duration,
    /// Most concurrent connections; further clients wait in the listen backlog.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Largest request body accepted, in bytes; larger bodies get HTTP 413.
    #[arg(long, env = "MAX_REQUEST_BODY_BYTES", default_value_t = dns01_webhook::DEFAULT_BODY_LIMIT)]
    max_request_body_bytes: usize,
    /// Time allowed for a client's TLS handshake.
    #[arg(long, env = "TLS_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    tls_handshake_timeout: Duration,
    /// Time allowed for a client to send a request's headers, and then its body.
    #[arg(long, env = "REQUEST_READ_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    request_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    #[arg(long, env = "IDLE_TIMEOUT", default_value = "90s", value_parser = parse_timeout)]
    idle_timeout: Duration,
    /// Trust client certificates signed by this CA (instead of the ConfigMap's client-ca-file).
    #[arg(long, env = "CLIENT_CA_FILE")]
    client_ca_file: Option<PathBuf>,
    /// Trust front-proxy certificates signed by this CA (instead of the ConfigMap's
    /// requestheader-client-ca-file).
    #[arg(long, env = "REQUESTHEADER_CLIENT_CA_FILE")]
    requestheader_client_ca_file: Option<PathBuf>,
    /// Common names allowed for front-proxy certificates (comma-separated; empty: any).
    #[arg(long, env = "REQUESTHEADER_ALLOWED_NAMES", value_delimiter = ',')]
    requestheader_allowed_names: Vec<String>,
    /// Headers carrying the user name.
    #[arg(long, value_delimiter = ',')]
    requestheader_username_headers: Vec<String>,
    /// Headers carrying the groups.
    #[arg(long, value_delimiter = ',')]
    requestheader_group_headers: Vec<String>,
    /// Prefixes of headers carrying extra user attributes.
    #[arg(long, value_delimiter = ',')]
    requestheader_extra_headers_prefix: Vec<String>,
}

#[derive(Debug, Clone, Args)]
struct LocalArgs {
    /// HTTPS address of the API; loopback only.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// UDP address of the DNS responder; loopback only.
    #[arg(long, default_value = "127.0.0.1:5353")]
    dns_listen: SocketAddr,
    /// Zones held in memory and answered by the DNS responder (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = local::DEFAULT_ZONE)]
    zone: Vec<ZoneName>,
    /// API group served.
    #[arg(long, default_value = local::DEFAULT_GROUP, value_parser = parse_group_name)]
    group_name: String,
    /// Deadline of one challenge request.
    #[arg(long, default_value = "25s", value_parser = parse_timeout)]
    request_timeout: Duration,
}

#[derive(Debug, Clone, Args)]
struct CnameArgs {
    /// The customer's domain (cert-manager's dnsName), e.g. app.customer.com.
    #[arg(long)]
    domain: Fqdn,
    /// The tenant: the namespace of the Issuer that requests the certificate.
    #[arg(long)]
    namespace: String,
    /// The validation zone, e.g. acme.platform.example.
    #[arg(long)]
    zone: ZoneName,
}

/// Checks an API group name: a DNS subdomain, as Kubernetes requires of API groups (lowercase
/// letters, digits, `-` inside labels, `.` between them, at most 253 characters).
fn parse_group_name(s: &str) -> Result<String, String> {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if s.len() <= 253 && s.split('.').all(label_ok) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not an API group name: write a DNS subdomain of lowercase letters, digits, \
             '-' and '.', such as acme.example.com, the same as the Issuer's \
             solvers[].dns01.webhook.groupName and the APIService's group"
        ))
    }
}

/// A [`parse_duration`] that is not zero: a zero timeout would fail everything it bounds.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let timeout = parse_duration(s)?;
    if timeout.is_zero() {
        return Err(format!(
            "{:?} is zero, which would fail everything at once; give a timeout such as 10s",
            s.trim()
        ));
    }
    Ok(timeout)
}

/// The rrset lock `--rrset-lock` asks for: Leases in `--lease-namespace` through the
/// Kubernetes API, or none.
fn rrset_lock(
    args: &ServeArgs,
    client: &::kube::Client,
) -> anyhow::Result<Option<Arc<dyn dns01_core::RrsetLock>>> {
    if args.rrset_lock != "lease" {
        return Ok(None);
    }
    let namespace = args.lease_namespace.as_deref().context(
        "--rrset-lock lease needs --lease-namespace (or POD_NAMESPACE, from the downward API)",
    )?;
    let identity = format!(
        "{}-{:08x}",
        args.lease_identity.as_deref().unwrap_or("dns01-webhook"),
        fastrand::u32(..)
    );
    tracing::info!(
        namespace,
        identity,
        duration = ?args.rrset_lease_duration,
        "Gandi rrset writes are serialised across replicas with Leases"
    );
    Ok(Some(Arc::new(LeaseLock::new(
        client.clone(),
        namespace,
        &identity,
        args.rrset_lease_duration,
    ))))
}

/// A `--rfc2136-nameserver` value, normalised as Issuers' `nameserver` values are.
fn parse_nameserver(s: &str) -> Result<String, String> {
    rfc2136::normalize_nameserver(s)
}

/// Parses `25s`, `500ms`, `2m` or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write e.g. 25s, 500ms or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(format!("{s:?}: unknown unit {unit:?}; use ms, s or m")),
    }
}

/// Starts logging.
fn init_logging(log: &LogArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&log.log_level)
        .with_context(|| format!("invalid --log-level {:?}", log.log_level))?;
    // Colour codes only on a terminal: a pipe or a file (kubectl logs, a log shipper) gets
    // plain lines.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match log.log_format {
        LogFormat::Text => builder.fmt_fields(EscapedFields::default()).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    if let Some(interval) = log.log_flush_interval {
        tracing::warn!(
            ?interval,
            "--log-flush-interval (LOG_FLUSH_INTERVAL) is deprecated and ignored: log lines are \
             written as they come; remove it (chart value logFlushInterval), it will be \
             refused in a later release"
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Cname(args)) => cname(&args),
        Some(Command::Local { args, log }) => {
            init_logging(&log)?;
            run_local(args).await
        }
        Some(Command::Serve { args, log }) => {
            init_logging(&log)?;
            serve(*args).await
        }
        None => {
            init_logging(&cli.log)?;
            serve(cli.serve).await
        }
    }
}

fn cname(args: &CnameArgs) -> anyhow::Result<()> {
    let line = dns01_core::delegation::cname_instruction(&args.domain, &args.namespace, &args.zone)
        .map_err(|e| anyhow::anyhow!(e.report()))?;
    println!("{line}");
    Ok(())
}

async fn run_local(args: LocalArgs) -> anyhow::Result<()> {
    let server = local::start(LocalOptions {
        listen: args.listen,
        dns_listen: args.dns_listen,
        zones: args.zone,
        group_name: args.group_name,
        request_timeout: args.request_timeout,
    })
    .await
    .map_err(|e| anyhow::anyhow!(dns01_core::error::report(&e)))?;
    println!("{}", server.instructions());
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

fn ambient_credentials(args: &ServeArgs) -> anyhow::Result<AmbientCredentials> {
    let from_file =
        match &args.gandi_credentials_file {
            Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
                format!("cannot read --gandi-credentials-file {}", path.display())
            })?),
            None => None,
        };
    let pat = from_file.or_else(|| std::env::var("GANDI_PAT").ok());
    let api_key = std::env::var("GANDI_API_KEY").ok();
    Ok(AmbientCredentials::new(pat, api_key))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let group_name = args
        .group_name
        .clone()
        .context("--group-name (or GROUP_NAME) is required")?;
    let client = cluster::client(args.kubeconfig.as_deref()).await?;
    let metrics = Arc::new(Metrics::new());
    let ambient = ambient_credentials(&args)?;
    if ambient.is_set() {
        tracing::info!(
            "ambient Gandi credentials configured (used only with allowAmbientCredentials)"
        );
    }
    let secrets: Arc<dyn secrets::SecretSource> =
        Arc::new(secrets::KubeSecrets::new(client.clone()));
    let gandi_solver = GandiSolver::new(
        secrets.clone(),
        ambient,
        GandiSettings {
            production_url: args.gandi_api_url.clone(),
            sandbox_url: args.gandi_sandbox_api_url.clone(),
            rate_limit_per_minute: args.gandi_rate_limit_per_minute,
            timeout: args.gandi_timeout,
            ..GandiSettings::default()
        },
    )
    .with_observer(metrics.clone());
    let gandi_solver = match rrset_lock(&args, &client)? {
        Some(lock) => gandi_solver.with_rrset_lock(lock),
        None => gandi_solver,
    };
    let mut solvers = Solvers::new();
    solvers.insert(gandi::NAME.to_owned(), Arc::new(gandi_solver));
    solvers.insert(
        rfc2136::NAME.to_owned(),
        Arc::new(Rfc2136Solver::new(
            secrets.clone(),
            Rfc2136Settings {
                nameservers: args.rfc2136_nameserver.clone(),
                timeout: args.rfc2136_timeout,
                ..Rfc2136Settings::default()
            },
        )),
    );
    if !args.memory_zone.is_empty() {
        tracing::warn!(zones = ?args.memory_zone, "serving the memory solver: records are visible only to this process");
        solvers.insert(
            memory::NAME.to_owned(),
            Arc::new(MemorySolver::new(args.memory_zone.clone())),
        );
    }

    let auth_source = auth_source(&args, &client).await?;
    let authenticator = auth::Authenticator::new(auth_source, Some(client.clone()));

    let mut state = AppState::new(group_name.clone(), solvers);
    state.request_timeout = args.request_timeout;
    state.body_limit = args.max_request_body_bytes;
    state.metrics = metrics.clone();
    state.auth = Some(Arc::new(authenticator));
    let app = router(state);

    let metrics_listener = tokio::net::TcpListener::bind(args.metrics_address)
        .await
        .with_context(|| {
            format!(
                "cannot listen on --metrics-address {}",
                args.metrics_address
            )
        })?;
    let metrics_app = dns01_webhook::metrics::router(metrics);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(metrics_listener, metrics_app).await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    });

    let addr = SocketAddr::new(args.bind_address, args.secure_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let certs = tls::ReloadingCertResolver::new(&args.tls_cert_file, &args.tls_private_key_file)
        .with_context(|| {
            format!(
                "cannot load the serving certificate {} / {}",
                args.tls_cert_file.display(),
                args.tls_private_key_file.display()
            )
        })?;
    let tls_config =
        tls::server_config(certs, true).context("cannot build the TLS configuration")?;
    tracing::info!(%addr, group = %group_name, metrics = %args.metrics_address, "serving");
    let options = server::ServeOptions {
        max_connections: args.max_connections,
        handshake_timeout: args.tls_handshake_timeout,
        header_read_timeout: args.request_read_timeout,
        body_read_timeout: Some(args.request_read_timeout),
        idle_timeout: args.idle_timeout,
        shutdown_timeout: args.shutdown_grace_period,
        ..server::ServeOptions::default()
    };
    server::serve_with_options(listener, tls_config, app, shutdown_signal(), options)
        .await
        .context("server failed")?;
    tracing::info!("stopped");
    Ok(())
}

async fn auth_source(
    args: &ServeArgs,
    client: &kube::Client,
) -> anyhow::Result<Arc<auth::AuthConfigSource>> {
    if args.client_ca_file.is_some() || args.requestheader_client_ca_file.is_some() {
        let files = auth::AuthFiles {
            client_ca_file: args.client_ca_file.clone(),
            requestheader_client_ca_file: args.requestheader_client_ca_file.clone(),
            requestheader_allowed_names: args.requestheader_allowed_names.clone(),
            username_headers: args.requestheader_username_headers.clone(),
            group_headers: args.requestheader_group_headers.clone(),
            extra_headers_prefix: args.requestheader_extra_headers_prefix.clone(),
        };
        let source = auth::AuthConfigSource::from_files(files)
            .context("cannot load the authentication CA files")?;
        source.spawn_watch();
        return Ok(source);
    }
    // The error names the ConfigMap and, for a 403, the Role to bind.
    let source = auth::AuthConfigSource::from_configmap(client.clone()).await?;
    source.spawn_watch();
    Ok(source)
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_milliseconds_and_minutes() {
        assert_eq!(parse_duration("25s").unwrap(), Duration::from_secs(25));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("5h").is_err());
        assert_eq!(parse_timeout("500ms").unwrap(), Duration::from_millis(500));
        for zero in ["0s", "0ms", "0m", "0"] {
            let e = parse_timeout(zero).unwrap_err();
            assert!(e.contains("is zero"), "{e}");
        }
    }

    #[test]
    fn group_names_must_be_dns_subdomains() {
        for good in ["g", "acme.example.com", "a-1.b2"] {
            assert_eq!(parse_group_name(good).as_deref(), Ok(good));
        }
        for bad in [
            "",
            "Acme.example.com",
            "a..b",
            "-a.b",
            "a/b",
            "{*rest}",
            "a b",
            "a.b.",
        ] {
            let err = parse_group_name(bad).unwrap_err();
            assert!(err.contains("groupName") && err.contains(bad), "{err}");
        }
        assert!(parse_group_name(&"a".repeat(64)).is_err());
        let err = Cli::try_parse_from(["dns01-webhook", "--group-name", "Bad_Group"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--group-name") && err.contains("DNS subdomain"),
            "{err}"
        );
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn connection_limits_have_flags_with_the_library_defaults() {
        let cli = Cli::try_parse_from(["dns01-webhook", "--group-name", "g"]).unwrap();
        let defaults = server::ServeOptions::default();
        assert_eq!(cli.serve.max_connections, defaults.max_connections);
        assert_eq!(cli.serve.tls_handshake_timeout, defaults.handshake_timeout);
        assert_eq!(cli.serve.request_read_timeout, defaults.header_read_timeout);
        assert_eq!(
            Some(cli.serve.request_read_timeout),
            defaults.body_read_timeout
        );
        assert_eq!(cli.serve.idle_timeout, defaults.idle_timeout);
        assert_eq!(
            cli.serve.max_request_body_bytes,
            dns01_webhook::DEFAULT_BODY_LIMIT
        );
        let cli = Cli::try_parse_from([
            "dns01-webhook",
            "--group-name",
            "g",
            "--max-connections",
            "8",
            "--max-request-body-bytes",
            "65536",
            "--tls-handshake-timeout",
            "2s",
            "--request-read-timeout",
            "500ms",
            "--idle-timeout",
            "1m",
        ])
        .unwrap();
        assert_eq!(cli.serve.max_connections, 8);
        assert_eq!(cli.serve.max_request_body_bytes, 65536);
        assert_eq!(cli.serve.tls_handshake_timeout, Duration::from_secs(2));
        assert_eq!(cli.serve.request_read_timeout, Duration::from_millis(500));
        assert_eq!(cli.serve.idle_timeout, Duration::from_secs(60));
    }

    #[test]
    fn the_cname_subcommand_needs_no_group_name() {
        let cli = Cli::try_parse_from([
            "dns01-webhook",
            "cname",
            "--domain",
            "app.customer.com",
            "--namespace",
            "team-a",
            "--zone",
            "acme.platform.example",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Command::Cname(_))));
    }
}
