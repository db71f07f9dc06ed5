//! `dns01-domains`: the custom-domain CLI.
//!
//! - `check <hostname>`: prints the records a customer must create and what each authoritative
//!   server answers now; exits 0 when everything is in place, 1 while anything is unmet (so a
//!   pipeline can wait on it), 2 when the check could not run.
//! - `controller`: runs the CustomDomain controller in the cluster of the kubeconfig (or the
//!   in-cluster service account), with `/healthz` and `/readyz` on `--health-addr`.
//! - `crd`: prints the CustomDomain CustomResourceDefinition.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use dns01_core::{Fqdn, ZoneName};
use dns01_domains::check::{Bootstrap, CheckReport, CheckRequest, Checker};
use dns01_domains::controller::Config;
use dns01_domains::crd::Hostname;
use dns01_domains::health::Readiness;
use dns01_domains::leader::{Elector, Timings};
use dns01_domains::reconcile::RouteMode;
use dns01_domains::records::{Platform, platform_records};

#[derive(Debug, Parser)]
#[command(name = "dns01-domains", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints the records to create for a hostname and what each authoritative server answers
    /// now. Exits 0 when all is in place, 1 while anything is unmet, 2 on error.
    Check(CheckArgs),
    /// Runs the CustomDomain controller until SIGTERM or Ctrl-C.
    Controller(ControllerArgs),
    /// Prints the CustomDomain CustomResourceDefinition as YAML.
    Crd,
}

/// How traffic is routed to a CustomDomain's Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RouteKind {
    /// A networking.k8s.io/v1 Ingress.
    Ingress,
    /// A gateway.networking.k8s.io/v1 HTTPRoute attached to --gateway.
    Httproute,
    /// No route: the platform's own router serves the hostnames.
    None,
}

#[derive(Debug, clap::Args)]
struct ControllerArgs {
    /// The platform's validation zone, where `_acme-challenge` CNAMEs point.
    #[arg(long, env = "DNS01_VALIDATION_ZONE")]
    validation_zone: String,
    /// The platform's traffic hostname, where subdomain CNAMEs (and apex ALIASes) point.
    #[arg(long, env = "DNS01_TRAFFIC_HOSTNAME")]
    traffic_hostname: String,
    /// A fixed address of the platform for apex domains (repeatable).
    #[arg(long = "address")]
    addresses: Vec<IpAddr>,
    /// The hostname apex ALIAS/ANAME records point at (when the platform has no --address);
    /// the traffic hostname by default.
    #[arg(long, env = "DNS01_APEX_ALIAS_TARGET")]
    apex_alias_target: Option<String>,
    /// The port the zones' authoritative nameservers are asked on (53 in production; another
    /// for a test or a private DNS set-up).
    #[arg(long, default_value_t = 53)]
    nameserver_port: u16,
    /// How long one DNS query to a nameserver may take, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    dns_timeout_ms: u64,
    /// How traffic is routed.
    #[arg(long, value_enum, default_value_t = RouteKind::Ingress)]
    route: RouteKind,
    /// `spec.ingressClassName` of the Ingresses (with --route ingress).
    #[arg(long)]
    ingress_class: Option<String>,
    /// The Gateway HTTPRoutes attach to, as namespace/name (with --route httproute).
    #[arg(long, required_if_eq("route", "httproute"))]
    gateway: Option<String>,
    /// The Gateway listener HTTPRoutes attach to (`parentRefs[].sectionName`, e.g. `https`);
    /// every listener of the Gateway when not given (with --route httproute).
    #[arg(long)]
    gateway_listener: Option<String>,
    /// The CA's CAA issuer domain to evaluate CAA for (letsencrypt.org).
    #[arg(long)]
    ca: Option<String>,
    /// Days a deleted domain's certificate Secret is kept.
    #[arg(long, default_value_t = 7)]
    secret_grace_days: u64,
    /// The resolver that finds zones and their nameservers (IP or IP:port); the system's by default.
    #[arg(long)]
    resolver: Option<String>,
    /// Where `/healthz` and `/readyz` are served.
    #[arg(long, default_value = "0.0.0.0:8080")]
    health_addr: SocketAddr,
    /// Log as JSON lines.
    #[arg(long)]
    json_logs: bool,
    /// Run only while holding a coordination.k8s.io Lease (several replicas, one active).
    #[arg(long)]
    leader_election: bool,
    /// The Lease's namespace.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// The Lease's name.
    #[arg(long, default_value = "dns01-domains")]
    lease_name: String,
    /// This replica's name on the Lease (the pod name); random when not given.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The customer's hostname, e.g. app.customer.com.
    hostname: String,
    /// The tenant: the namespace the CustomDomain lives in (the delegation is bound to it).
    #[arg(long)]
    namespace: String,
    /// The platform's validation zone, where `_acme-challenge` CNAMEs point.
    #[arg(long, env = "DNS01_VALIDATION_ZONE")]
    validation_zone: String,
    /// The platform's traffic hostname, where subdomain CNAMEs (and apex ALIASes) point.
    #[arg(long, env = "DNS01_TRAFFIC_HOSTNAME")]
    traffic_hostname: String,
    /// A fixed address of the platform for apex domains (repeatable); without any, an apex
    /// gets an ALIAS to the traffic hostname (or --apex-alias-target).
    #[arg(long = "address")]
    addresses: Vec<IpAddr>,
    /// The hostname apex ALIAS/ANAME records point at; the traffic hostname by default.
    #[arg(long, env = "DNS01_APEX_ALIAS_TARGET")]
    apex_alias_target: Option<String>,
    /// The CA's issuer domain to evaluate CAA for (letsencrypt.org); CAA is not checked without it.
    #[arg(long)]
    ca: Option<String>,
    /// The certificate also covers `*.<hostname>` (CAA issuewild).
    #[arg(long)]
    wildcard: bool,
    /// The resolver that finds the zone and its nameservers (IP or IP:port); the system's
    /// resolver by default.
    #[arg(long)]
    resolver: Option<String>,
    /// The port the authoritative nameservers are asked on.
    #[arg(long, default_value_t = 53)]
    nameserver_port: u16,
    /// How long one DNS query may take, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd => dns01_domains::crd::crd_yaml()
            .map(|yaml| {
                print!("{yaml}");
                ExitCode::SUCCESS
            })
            .map_err(anyhow::Error::from),
        Command::Check(args) => check(args).await,
        Command::Controller(args) => controller(args).await.map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let hostname = Hostname::parse(&args.hostname)?;
    let platform = Platform {
        validation_zone: ZoneName::parse(&args.validation_zone)?,
        traffic_hostname: Fqdn::parse(&args.traffic_hostname)?,
        addresses: args.addresses,
        apex_alias_target: apex_alias_target(args.apex_alias_target.as_deref())?,
    };
    let requirements = platform_records(&hostname, &args.namespace, &platform)?;
    let bootstrap = match args.resolver.as_deref() {
        None => Bootstrap::System,
        Some(text) => Bootstrap::Resolver(parse_resolver(text)?),
    };
    let report = Checker::new(bootstrap)
        .nameserver_port(args.nameserver_port)
        .timeout(Duration::from_millis(args.timeout_ms))
        .check(&CheckRequest {
            hostname: hostname.fqdn().clone(),
            requirements,
            ca: args.ca,
            wildcard: args.wildcard,
        })
        .await?;
    print!("{}", render(&hostname, &report));
    Ok(if report.all_met() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn controller(args: ControllerArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if args.json_logs {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let platform = Platform {
        validation_zone: ZoneName::parse(&args.validation_zone)?,
        traffic_hostname: Fqdn::parse(&args.traffic_hostname)?,
        addresses: args.addresses,
        apex_alias_target: apex_alias_target(args.apex_alias_target.as_deref())?,
    };
    let route = match args.route {
        RouteKind::Ingress => RouteMode::Ingress {
            class: args.ingress_class,
        },
        RouteKind::Httproute => {
            let gateway = args.gateway.unwrap_or_default();
            let (namespace, name) = gateway.split_once('/').ok_or_else(|| {
                anyhow::anyhow!("--gateway {gateway:?} must be namespace/name, e.g. platform/edge")
            })?;
            RouteMode::HttpRoute {
                gateway: name.to_owned(),
                namespace: namespace.to_owned(),
                section: args.gateway_listener,
            }
        }
        RouteKind::None => RouteMode::None,
    };
    let bootstrap = match args.resolver.as_deref() {
        None => Bootstrap::System,
        Some(text) => Bootstrap::Resolver(parse_resolver(text)?),
    };
    let checker = Checker::new(bootstrap)
        .nameserver_port(args.nameserver_port)
        .timeout(Duration::from_millis(args.dns_timeout_ms));
    let mut config = Config::new(platform, checker);
    config.settings.route = route;
    config.ca = args.ca;
    config.secret_grace = Duration::from_secs(args.secret_grace_days.saturating_mul(86_400));
    let client = kube::Client::try_default().await?;
    let ready = Readiness::default();
    let listener = tokio::net::TcpListener::bind(args.health_addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "health endpoints listening");
    let metrics = std::sync::Arc::new(dns01_domains::metrics::Metrics::default());
    let router = dns01_domains::health::router(ready.clone(), metrics.clone());
    let health = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown_signal())
            .await
    });
    let elector = args.leader_election.then(|| {
        let identity = args
            .identity
            .unwrap_or_else(|| format!("dns01-domains-{:08x}", fastrand::u32(..)));
        Elector::new(
            client.clone(),
            &args.lease_namespace,
            &args.lease_name,
            &identity,
            Timings::default(),
        )
    });
    let mut lost = false;
    if let Some(elector) = &elector {
        tokio::select! {
            acquired = elector.acquire() => acquired?,
            () = shutdown_signal() => {
                health.abort();
                return Ok(());
            }
        }
        tracing::info!("leading: this replica runs the controller");
        let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
        let holder = elector.clone();
        tokio::spawn(async move {
            holder.hold().await;
            let _ = lost_tx.send(());
        });
        let stop = async move {
            tokio::select! {
                () = shutdown_signal() => false,
                _ = lost_rx => true,
            }
        };
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<bool>();
        let shutdown = async move {
            let _ = stopped_tx.send(stop.await);
        };
        dns01_domains::controller::run(client, config, ready, metrics, shutdown).await;
        lost = stopped_rx.await.unwrap_or(false);
        if !lost {
            elector.release().await?;
        }
    } else {
        dns01_domains::controller::run(client, config, ready, metrics, shutdown_signal()).await;
    }
    health.abort();
    if lost {
        anyhow::bail!(
            "lost the leader Lease; exiting so that this replica starts over as a follower"
        );
    }
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

fn apex_alias_target(text: Option<&str>) -> anyhow::Result<Option<Fqdn>> {
    text.map(|t| Fqdn::parse(t).map_err(|e| anyhow::anyhow!("--apex-alias-target {t:?}: {e}")))
        .transpose()
}

fn parse_resolver(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let ip: IpAddr = text
        .parse()
        .map_err(|_| anyhow::anyhow!("--resolver {text:?} is not an IP address or IP:port"))?;
    Ok(SocketAddr::new(ip, 53))
}

fn render(hostname: &Hostname, report: &CheckReport) -> String {
    let mut out = String::new();
    let servers: Vec<String> = report.servers.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        out,
        "{hostname}: zone {}, nameservers {}",
        report.zone.as_str(),
        servers.join(", ")
    );
    for (server, why) in &report.skipped {
        let _ = writeln!(out, "  (nameserver {server} not asked: {why})");
    }
    let _ = writeln!(out, "\nRecords to create:");
    for record in &report.records {
        let r = &record.requirement;
        let state = if record.found { "ok" } else { "MISSING" };
        let _ = writeln!(out, "  [{state}] {}    ({})", r.zone_line(), r.purpose);
        for answer in &record.answers {
            let _ = writeln!(out, "      {} answers: {}", answer.server, answer.answer);
        }
    }
    if report.all_met() {
        let _ = writeln!(out, "\nAll records are in place at every nameserver.");
    } else {
        let _ = writeln!(out, "\nTo fix:");
        for problem in &report.problems {
            let _ = writeln!(out, "  - {} ({})", problem.message, problem.kind.reason());
        }
    }
    out
}
