//! `dns01-registry-janitor`: garbage collection in a read-only window that always ends.
//!
//! - `gc`: the maintenance window (with `--policy`, retention deletions first).
//! - `plan` / `apply`: retention: what goes and why the rest stays / delete it.
//! - `du`: storage per project and repository.
//!
//! Exit status: 0 done; 1 failed, registry read-write again; 2 bad usage; 3 **the registry
//! was left read-only** (an operator must act; the next run restores it first).

use std::future::{Future, IntoFuture as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use dns01_registry::{Client, Credentials, Repository};
use dns01_registry_janitor::du;
use dns01_registry_janitor::gc::{GcSummary, chain};
use dns01_registry_janitor::service::{Schedule, ServiceState, router, run_scheduled};
use dns01_registry_janitor::{
    CommandSwitch, FileJournal, FileLock, Gc, GcOptions, ImageUse, Journal, KubernetesSwitch,
    KubernetesWorkloads, LeaseJournal, LeaseLock, Lock, Plan, Policy, ProcessSwitch, Retained,
    StaticWorkloads, Switch, Target, WorkloadSource as _, WriteProbe, apply, inventory,
    parse_duration, plan, removal,
};
use tokio::sync::watch;

/// Exit status when the registry may still refuse writes.
const EXIT_LEFT_READ_ONLY: u8 = 3;

#[derive(Debug, Parser)]
#[command(name = "dns01-registry-janitor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collects garbage in a read-only window that always ends: prints a JSON summary.
    /// With --policy, retention deletions happen first (writes are refused in the window).
    Gc(Box<GcArgs>),
    /// Prints what retention would delete, and why each kept item is kept.
    Plan(PlanArgs),
    /// Deletes what `plan` lists for deletion, by digest.
    Apply(PlanArgs),
    /// Storage per project and repository: unique and shared bytes, tags, manifests, last push.
    Du(DuArgs),
    /// Deletes a repository, a tag or a manifest, refusing (nothing deleted) when a workload
    /// uses any of it.
    Delete(DeleteArgs),
    /// Runs `gc` (with --policy, retention first) on a schedule, serving /metrics (the last
    /// run's summary, storage per project and repository) and /healthz; stops on SIGTERM,
    /// closing an open window first.
    Serve(Box<ServeArgs>),
}

/// Where the registry is and who the janitor is there.
#[derive(Debug, Clone, Args)]
struct RegistryArgs {
    /// The registry's base URL.
    #[arg(long, env = "JANITOR_REGISTRY")]
    registry: String,
    /// The user name for the registry (Basic auth, or its token endpoint). The password comes
    /// from --password-file or the JANITOR_PASSWORD environment variable, never from a flag.
    #[arg(long, env = "JANITOR_USERNAME")]
    username: Option<String>,
    /// A file whose first line is the registry password (a mounted Secret).
    #[arg(long, env = "JANITOR_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
}

/// The environment variable a registry password may come from.
const PASSWORD_ENV: &str = "JANITOR_PASSWORD";

impl RegistryArgs {
    /// The credentials: --username with a password from --password-file or JANITOR_PASSWORD.
    fn credentials(&self) -> anyhow::Result<Option<Credentials>> {
        let from_env = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
        let password = match &self.password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("--password-file: reading {}", path.display()))?;
                Some(text.lines().next().unwrap_or_default().to_owned())
            }
            None => from_env,
        };
        match (&self.username, password) {
            (Some(user), Some(password)) => Ok(Some(Credentials::new(user, password))),
            (None, None) => Ok(None),
            (Some(_), None) => anyhow::bail!(
                "--username needs a password: put it in a file named by --password-file, or in \
                 the {PASSWORD_ENV} environment variable"
            ),
            (None, Some(_)) => anyhow::bail!(
                "a registry password was given (--password-file or {PASSWORD_ENV}) without \
                 --username (JANITOR_USERNAME)"
            ),
        }
    }

    /// A client for the registry, with the credentials.
    fn client(&self) -> anyhow::Result<Client> {
        let mut builder = Client::builder(&self.registry);
        if let Some(c) = self.credentials()? {
            builder = builder.credentials(c);
        }
        builder
            .build()
            .with_context(|| format!("--registry {}", self.registry))
    }

    /// The write probe, with the same credentials.
    fn probe(&self, timeout: std::time::Duration) -> anyhow::Result<WriteProbe> {
        Ok(WriteProbe::with_credentials(
            &self.registry,
            self.credentials()?,
            timeout,
        )?)
    }
}

#[derive(Debug, Args)]
struct DuArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// The filesystem storage root: untagged manifests and push times come from it.
    #[arg(long)]
    storage: Option<PathBuf>,
    /// Only these repositories (default: the whole catalog).
    #[arg(long = "repository")]
    repositories: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

async fn du(args: DuArgs) -> anyhow::Result<ExitCode> {
    let client = Arc::new(args.registry.client()?);
    let repos = if args.repositories.is_empty() {
        None
    } else {
        Some(
            args.repositories
                .iter()
                .map(|r| Repository::parse(r))
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let inventory = inventory::read(&client, repos, args.storage.as_deref()).await?;
    let report = dns01_registry_janitor::du::report(&inventory, args.storage.as_deref());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
struct PlanArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    retention: RetentionArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RetentionArgs {
    /// The retention policy (YAML: defaults, projects, repositories).
    #[arg(long = "policy")]
    policy: Option<PathBuf>,
    /// The registry's filesystem storage root: untagged manifests are listed from it (the
    /// distribution API cannot list them); with `gc --switch command`, empty repositories are
    /// pruned in it and bytes freed counted.
    #[arg(long)]
    storage: Option<PathBuf>,
    #[command(flatten)]
    protection: ProtectionArgs,
    /// Only these repositories (default: the whole catalog).
    #[arg(long = "repository")]
    repositories: Vec<String>,
}

/// What workloads run: never deleted.
#[derive(Debug, Clone, Args)]
struct ProtectionArgs {
    /// Images in use, a YAML list of {image, namespace, kind, name}: never deleted.
    #[arg(long)]
    workloads: Option<PathBuf>,
    /// Also protect the images of Pods and of Deployments', StatefulSets', DaemonSets', Jobs'
    /// and CronJobs' pod templates in every namespace (kubeconfig or in-cluster config).
    #[arg(long)]
    kubernetes: bool,
    /// Names workloads use for this registry (default: the host:port of --registry).
    #[arg(long = "host")]
    hosts: Vec<String>,
}

impl ProtectionArgs {
    /// Every image use: the --workloads file, and with --kubernetes the cluster's.
    async fn uses(&self) -> anyhow::Result<Vec<ImageUse>> {
        let uses = match &self.workloads {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                serde_yaml_ng::from_str::<Vec<ImageUse>>(&text)
                    .with_context(|| format!("in {}", p.display()))?
            }
            None => Vec::new(),
        };
        let mut uses = StaticWorkloads(uses).uses().await?;
        if self.kubernetes {
            let kube = kube::Client::try_default()
                .await
                .context("connecting to Kubernetes")?;
            uses.extend(KubernetesWorkloads::new(kube).uses().await?);
        }
        Ok(uses)
    }

    /// The names workloads use for the registry `client` talks to.
    fn hosts(&self, client: &Client) -> Vec<String> {
        let mut hosts = self.hosts.clone();
        if hosts.is_empty() {
            let url = client.base_url();
            hosts.push(match url.port() {
                Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
                None => url.host_str().unwrap_or_default().to_owned(),
            });
        }
        hosts
    }
}

#[derive(Debug, Args)]
struct DeleteArgs {
    /// What to delete: `project/repository` (every manifest), `project/repository:tag` or
    /// `project/repository@sha256:…`.
    target: String,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    protection: ProtectionArgs,
    /// The registry's filesystem storage root: untagged manifests of a repository are found
    /// there too (the API cannot list them).
    #[arg(long)]
    storage: Option<PathBuf>,
    /// Print what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

async fn delete(args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let target: Target = args.target.parse()?;
    let client = Arc::new(args.registry.client()?);
    let uses = args.protection.uses().await?;
    let hosts = args.protection.hosts(&client);
    let inventory = inventory::read(
        &client,
        Some(vec![target.repository().clone()]),
        args.storage.as_deref(),
    )
    .await?;
    let plan = removal(&inventory, &target, &uses, &hosts)?;
    let refused = plan.kept().count() > 0;
    let applied = if refused || args.dry_run {
        None
    } else {
        Some(apply(&client, &plan).await?)
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "target": target.to_string(),
                "refused": refused,
                "dry_run": args.dry_run,
                "plan": plan,
                "applied": applied,
            }))?
        );
    } else {
        print!("{}", plan.to_text());
    }
    if refused {
        tracing::error!(
            "refusing to delete {target}: {}",
            plan.kept()
                .flat_map(|i| i
                    .reasons
                    .iter()
                    .map(move |r| format!("{}@{}: {r}", i.repository, i.digest)))
                .filter(|r| !r.contains("was refused"))
                .collect::<Vec<_>>()
                .join("; ")
        );
        return Ok(ExitCode::FAILURE);
    }
    match applied {
        Some(a) if !a.failed.is_empty() => {
            for f in &a.failed {
                tracing::error!("{f}");
            }
            Ok(ExitCode::FAILURE)
        }
        Some(a) => {
            tracing::info!(
                deleted = a.deleted.len(),
                "{target} deleted; the next `gc` frees its blobs{}",
                if matches!(target, Target::Repository(_)) {
                    " and prunes the empty repository"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SwitchKind {
    /// The janitor restarts `docker-registry serve` itself with read-only on or off.
    Process,
    /// Operator-given commands.
    Command,
    /// A registry Deployment: its environment switches read-only, the collector runs as a Job.
    Kubernetes,
}

#[derive(Debug, Args)]
struct GcArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// How the registry is switched.
    #[arg(long, value_enum, default_value = "process")]
    switch: SwitchKind,
    /// Where the lock file and the read-only record live.
    #[arg(long, default_value = "/var/lib/dns01-registry-janitor")]
    state_dir: PathBuf,
    /// The collector is killed past this (`30m`).
    #[arg(long, default_value = "30m")]
    collector_deadline: String,
    /// How long to wait for writes to be refused or accepted after a switch.
    #[arg(long, default_value = "30s")]
    probe_timeout: String,
    /// Keep repositories left empty.
    #[arg(long)]
    no_prune: bool,
    /// Also write the summary as Prometheus gauges here (node_exporter's textfile
    /// collector); `dns01_registry_janitor_left_read_only 1` means act now.
    #[arg(long)]
    metrics_file: Option<PathBuf>,
    /// Keep the lock and the read-only record on this Lease (`namespace/name`) instead of
    /// files in --state-dir (cluster mode; kubeconfig or in-cluster config).
    #[arg(long)]
    lease: Option<String>,
    /// How long the Lease stays ours without a renewal; it is renewed every third of this
    /// while the janitor runs, and a janitor that dies frees it after this long.
    #[arg(long, default_value = "60s")]
    lease_duration: String,
    #[command(flatten)]
    retention: RetentionArgs,
    /// process: the registry's configuration file.
    #[arg(long, required_if_eq("switch", "process"))]
    registry_config: Option<PathBuf>,
    /// process: the `docker-registry` binary.
    #[arg(long, default_value = "docker-registry")]
    registry_bin: PathBuf,
    /// process: the registry's pid file (default: <state-dir>/registry.pid).
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// process: the registry's log (default: <state-dir>/registry.log).
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// process: extra collector options (`--delete-untagged` is refused on 2.x).
    #[arg(long = "collector-arg", allow_hyphen_values = true)]
    collector_args: Vec<String>,
    /// kubernetes: the registry Deployment, `namespace/name`.
    #[arg(long, required_if_eq("switch", "kubernetes"))]
    deployment: Option<String>,
    /// kubernetes: the registry container (default: the first).
    #[arg(long)]
    container: Option<String>,
    /// kubernetes: how long a rollout may take, and how long the collector Job's Pod may
    /// take to start (a Pod still Pending then, typically on a volume another node holds,
    /// fails the collection and closes the window).
    #[arg(long, default_value = "5m")]
    rollout_timeout: String,
    /// command: makes the registry read-only.
    #[arg(long, required_if_eq("switch", "command"))]
    read_only_cmd: Option<String>,
    /// command: makes it read-write.
    #[arg(long, required_if_eq("switch", "command"))]
    read_write_cmd: Option<String>,
    /// command: runs the collector.
    #[arg(long, required_if_eq("switch", "command"))]
    collect_cmd: Option<String>,
}

fn which(bin: &std::path::Path) -> PathBuf {
    if bin.components().count() > 1 {
        return bin.to_owned();
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
        .unwrap_or_else(|| bin.to_owned())
}

/// The maintenance routine `gc` and `serve` run, as the arguments describe it.
async fn build_gc(args: &GcArgs) -> anyhow::Result<Gc> {
    std::fs::create_dir_all(&args.state_dir)?;
    let switch: Arc<dyn Switch> = match args.switch {
        SwitchKind::Process => Arc::new(ProcessSwitch::new(
            which(&args.registry_bin),
            args.registry_config.clone().unwrap_or_default(),
            args.pid_file
                .clone()
                .unwrap_or_else(|| args.state_dir.join("registry.pid")),
            args.log_file
                .clone()
                .unwrap_or_else(|| args.state_dir.join("registry.log")),
            args.collector_args.clone(),
        )),
        SwitchKind::Kubernetes => {
            let deployment = args.deployment.clone().unwrap_or_default();
            let Some((ns, name)) = deployment.split_once('/') else {
                anyhow::bail!("--deployment `{deployment}`: write namespace/name");
            };
            let kube = kube::Client::try_default()
                .await
                .context("connecting to Kubernetes")?;
            let mut switch = KubernetesSwitch::new(kube, ns, name);
            switch.container = args.container.clone();
            switch.rollout_timeout = parse_duration("--rollout-timeout", &args.rollout_timeout)?;
            switch.storage.clone_from(&args.retention.storage);
            Arc::new(switch)
        }
        SwitchKind::Command => Arc::new(CommandSwitch {
            read_only: args.read_only_cmd.clone().unwrap_or_default(),
            read_write: args.read_write_cmd.clone().unwrap_or_default(),
            collect: args.collect_cmd.clone().unwrap_or_default(),
            storage: args.retention.storage.clone(),
            switch_timeout: parse_duration("--probe-timeout", &args.probe_timeout)?,
        }),
    };
    let (lock, journal): (Arc<dyn Lock>, Arc<dyn Journal>) = match &args.lease {
        Some(lease) => {
            let Some((ns, name)) = lease.split_once('/') else {
                anyhow::bail!("--lease `{lease}`: write namespace/name");
            };
            let duration = parse_duration("--lease-duration", &args.lease_duration)?;
            if duration < std::time::Duration::from_secs(3) {
                anyhow::bail!(
                    "--lease-duration {}: give at least 3s (the Lease counts whole seconds and is \
                     renewed every third of it)",
                    args.lease_duration
                );
            }
            let kube = kube::Client::try_default()
                .await
                .context("connecting to Kubernetes")?;
            (
                Arc::new(LeaseLock::new(kube.clone(), ns, name, duration)),
                Arc::new(LeaseJournal::new(kube, ns, name)),
            )
        }
        None => (
            Arc::new(FileLock::new(args.state_dir.join("janitor.lock"))),
            Arc::new(FileJournal::new(
                args.state_dir.join("readonly-record.json"),
            )),
        ),
    };
    let gc = Gc {
        switch,
        lock,
        journal,
        probe: args
            .registry
            .probe(parse_duration("--probe-timeout", &args.probe_timeout)?)?,
        options: GcOptions {
            collector_deadline: parse_duration("--collector-deadline", &args.collector_deadline)?,
            prune: !args.no_prune,
        },
    };
    Ok(gc)
}

/// One run: retention (with --policy), then the window; the summary goes to --metrics-file.
async fn run_once<F>(args: &GcArgs, gc: &Gc, client: &Arc<Client>, shutdown: F) -> GcSummary
where
    F: Future<Output = &'static str> + Send,
{
    let run_id = format!(
        "gc-{}-{}",
        jiff::Timestamp::now().as_second(),
        std::process::id()
    );
    let retention = async {
        let Some(_) = &args.retention.policy else {
            return Ok(Retained::default());
        };
        let storage = args
            .retention
            .storage
            .clone()
            .or_else(|| gc.switch.storage_root());
        let plan = retention_plan(client, &args.retention, storage)
            .await
            .map_err(|e| dns01_registry_janitor::Error::Retention {
                message: format!("{e:#}"),
            })?;
        let applied = apply(client, &plan).await?;
        for f in &applied.failed {
            tracing::error!("retention: {f}");
        }
        tracing::info!(deleted = applied.deleted.len(), "retention applied");
        Ok(Retained {
            manifests_deleted: applied.deleted.len() as u64,
            protected: plan.protected() as u64,
        })
    };
    let summary = gc.run_with(&run_id, retention, shutdown).await;
    if let Some(path) = &args.metrics_file {
        let tmp = path.with_extension("tmp");
        if let Err(e) =
            std::fs::write(&tmp, summary.to_prometheus()).and_then(|()| std::fs::rename(&tmp, path))
        {
            tracing::error!(error = %e, "writing the metrics file {}", path.display());
        }
    }
    summary
}

async fn gc(args: GcArgs) -> anyhow::Result<ExitCode> {
    let gc = build_gc(&args).await?;
    let client = Arc::new(args.registry.client()?);
    let summary = run_once(&args, &gc, &client, shutdown_signal()).await;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(if summary.left_read_only {
        ExitCode::from(EXIT_LEFT_READ_ONLY)
    } else if summary.error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    gc: GcArgs,
    /// When to run: an interval (`6h`, the first run one interval after the start) or a cron
    /// expression in UTC (`0 3 * * *`; six fields for seconds).
    #[arg(long)]
    schedule: String,
    /// Where /metrics and /healthz are served.
    #[arg(long, default_value = "0.0.0.0:9090")]
    listen: std::net::SocketAddr,
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let schedule: Schedule = args.schedule.parse()?;
    let gc = build_gc(&args.gc).await?;
    let client = Arc::new(args.gc.registry.client()?);
    let state = Arc::new(ServiceState::default());
    let storage = args
        .gc
        .retention
        .storage
        .clone()
        .or_else(|| gc.switch.storage_root());
    let account = || async {
        match inventory::read(&client, None, storage.as_deref()).await {
            Ok(inv) => state.record_usage(du::report(&inv, storage.as_deref())),
            Err(e) => tracing::warn!(error = %chain(&e), "storage accounting failed"),
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen {}", args.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "serving /metrics and /healthz");
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = {
        let mut rx = stop_rx.clone();
        axum::serve(listener, router(state.clone())).with_graceful_shutdown(async move {
            let _ = rx.wait_for(|s| *s).await;
        })
    };
    let server = tokio::spawn(server.into_future());
    let signal_name: Arc<std::sync::OnceLock<&'static str>> = Arc::default();
    tokio::spawn({
        let signal_name = signal_name.clone();
        async move {
            let signal = shutdown_signal().await;
            tracing::warn!(
                signal,
                "stopping: a run in progress closes its window first"
            );
            let _ = signal_name.set(signal);
            let _ = stop_tx.send(true);
        }
    });
    account().await;
    let (gc_args, gc_ref, client_ref, account_ref) = (&args.gc, &gc, &client, &account);
    run_scheduled(&schedule, &state, stop_rx.clone(), || {
        let mut rx = stop_rx.clone();
        let signal_name = signal_name.clone();
        async move {
            let shutdown = async move {
                let _ = rx.wait_for(|s| *s).await;
                signal_name.get().copied().unwrap_or("SIGTERM")
            };
            let summary = run_once(gc_args, gc_ref, client_ref, shutdown).await;
            match serde_json::to_string(&summary) {
                Ok(line) => println!("{line}"),
                Err(e) => tracing::error!(error = %e, "printing the summary"),
            }
            account_ref().await;
            summary
        }
    })
    .await;
    server.await.context("the HTTP server")??;
    Ok(if state.last_run().is_some_and(|s| s.left_read_only) {
        ExitCode::from(EXIT_LEFT_READ_ONLY)
    } else {
        ExitCode::SUCCESS
    })
}

async fn retention_plan(
    client: &Arc<Client>,
    args: &RetentionArgs,
    storage: Option<PathBuf>,
) -> anyhow::Result<Plan> {
    let policy = match &args.policy {
        Some(p) => Policy::from_yaml(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("in {}", p.display()))?,
        None => Policy::default(),
    };
    let uses = args.protection.uses().await?;
    let hosts = args.protection.hosts(client);
    let repos = if args.repositories.is_empty() {
        None
    } else {
        Some(
            args.repositories
                .iter()
                .map(|r| Repository::parse(r))
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let inventory = inventory::read(client, repos, storage.as_deref()).await?;
    Ok(plan(
        &inventory,
        &policy,
        &uses,
        &hosts,
        jiff::Timestamp::now(),
    ))
}

async fn plan_cmd(args: PlanArgs, apply_it: bool) -> anyhow::Result<ExitCode> {
    let client = Arc::new(args.registry.client()?);
    let plan = retention_plan(&client, &args.retention, args.retention.storage.clone()).await?;
    if !apply_it {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            print!("{}", plan.to_text());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let applied = apply(&client, &plan).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"plan": plan, "applied": applied}))?
        );
    } else {
        print!("{}", plan.to_text());
        println!(
            "deleted {}, failed {}",
            applied.deleted.len(),
            applied.failed.len()
        );
        for f in &applied.failed {
            println!("FAILED {f}");
        }
    }
    Ok(if applied.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Resolves with the name of the first SIGTERM or SIGINT.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gc(args) => gc(*args).await,
        Command::Plan(args) => plan_cmd(args, false).await,
        Command::Apply(args) => plan_cmd(args, true).await,
        Command::Du(args) => du(args).await,
        Command::Delete(args) => delete(args).await,
        Command::Serve(args) => serve(*args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
