//! `dns01-bench`: runs every figure, prints the markdown table and writes it to `--out`.
//!
//! Full run (release build): `cargo run --release -p dns01-bench -- --out bench/RESULTS.md`.
//! CI (call counts of figure 4 only, exits non-zero when one is missed):
//! `cargo run -p dns01-bench -- --short`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Parser;
use dns01_bench::fmt_duration;
use dns01_bench::gandi::{self, GROUP, ZONE};
use dns01_bench::load::{self, Call, Endpoint, Identity, Outcome, Spec};
use dns01_bench::pki::{self, RunPki};
use dns01_bench::procfs;
use dns01_bench::replicas;
use dns01_bench::rfc2136;
use dns01_bench::stats::{Samples, Spread, ratio};
use dns01_bench::table::{Row, Table, Verdict};
use dns01_testkit::kubefake::{KubeFake, SarRule};
use serde_json::json;

/// Benchmarks of the dns01 webhook and dns01-gandi, each against a baseline from the same run.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Also write the table to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// CI mode: only the call counts of figure 4 (100 names instead of 1000, wall time not
    /// checked); exits non-zero when a target is missed.
    #[arg(long)]
    short: bool,
    /// Measured seconds per concurrency level and server in figure 1, in all rounds.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Rounds per concurrency level in figure 1: the webhook and the baseline take turns, each
    /// round measuring `--seconds / --rounds`, so that a change in the machine's speed during
    /// the run (other tenants of a shared host) weighs on both alike.
    #[arg(long, default_value_t = 10)]
    rounds: u32,
    /// Warm-up seconds before each round of figure 1 (new connections, filled caches).
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Concurrency levels of figure 1 (information only: no target).
    #[arg(long, value_delimiter = ',', default_value = "1,64,256")]
    concurrency: Vec<usize>,
    /// Start-ups measured per server in figure 3.
    #[arg(long, default_value_t = 15)]
    startups: usize,
    /// Names in figure 4's many-names scenario (full mode; short mode uses 100).
    #[arg(long, default_value_t = 1000)]
    names: usize,
    /// The webhook's client-side Gandi limit (per minute) in figure 4's many-names scenario;
    /// the default is the largest that cannot exceed the emulator's 1000/min fixed window.
    #[arg(long, default_value_t = gandi::CLIENT_LIMIT_PER_MINUTE)]
    client_limit: u32,
    /// Full mode without figures 4 and 5 (the Gandi figures; figure 4 is rate limited and
    /// takes minutes): for iterating on the server figures 1-3.
    #[arg(long, conflicts_with = "short")]
    servers_only: bool,
    /// CustomDomains in the `domains` figure (full mode; short mode uses 100).
    #[arg(long, default_value_t = 1000)]
    domains: usize,
    /// Samples of each kind in figure 5.
    #[arg(long, default_value_t = 2000)]
    overhead_samples: usize,
    /// The `dns01-webhook` binary; by default it is built with cargo (same profile as this
    /// program) and taken from this program's directory.
    #[arg(long)]
    webhook_bin: Option<PathBuf>,
    /// The `bench-baseline` binary; by default built and found like `--webhook-bin`.
    #[arg(long)]
    baseline_bin: Option<PathBuf>,
    /// Only figure 6, the registry gateway (with `--short`: its short variant).
    #[arg(long, conflicts_with = "servers_only")]
    gateway_only: bool,
    /// The `dns01-registry-gateway` binary; by default built and found like `--webhook-bin`.
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.seconds <= 0.0 || cli.seconds > 600.0 || cli.warmup < 0.0 || cli.warmup > 60.0 {
        bail!("--seconds must be in (0, 600] and --warmup in [0, 60]");
    }
    if !(1..=100).contains(&cli.rounds) {
        bail!("--rounds must be in 1..=100");
    }
    if cli.concurrency.iter().any(|&c| c == 0 || c > 4096) {
        bail!("--concurrency levels must be in 1..=4096");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let table = runtime.block_on(run(&cli))?;
    let md = table.render();
    println!("{md}");
    if let Some(path) = &cli.out {
        std::fs::write(path, &md).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    let failures = table.failures();
    if !failures.is_empty() {
        eprintln!("{} target(s) missed", failures.len());
        if cli.short {
            std::process::exit(1);
        }
    }
    Ok(())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

async fn run(cli: &Cli) -> anyhow::Result<Table> {
    let mut table = Table::new();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let load_start = loadavg();
    if cli.gateway_only || !cli.servers_only {
        let bin = dns01_bench::gateway::binary(cli.gateway_bin.as_deref())?;
        let options = if cli.short {
            dns01_bench::gateway::Options::short(bin)
        } else {
            dns01_bench::gateway::Options::full(bin)
        };
        dns01_bench::gateway::figure6(&mut table, &options).await?;
    }
    if cli.gateway_only {
        return Ok(table);
    }
    if cli.short {
        eprintln!("figure 4 (short mode)");
        gandi::figure4(&mut table, 100, cli.client_limit, true).await?;
        rfc2136::figure4(&mut table).await?;
        replicas::figure4(&mut table).await?;
        eprintln!("figure domains (short mode)");
        dns01_bench::domains::figure(&mut table, 100, Duration::from_secs(3)).await?;
    } else {
        let (webhook_bin, baseline_bin) = binaries(cli)?;
        servers(cli, &mut table, &webhook_bin, &baseline_bin).await?;
    }
    if !cli.short && !cli.servers_only {
        eprintln!("figure 4 (this takes a few minutes: it is rate limited)");
        gandi::figure4(
            &mut table,
            cli.names.clamp(1, 10_000),
            cli.client_limit,
            false,
        )
        .await?;
        rfc2136::figure4(&mut table).await?;
        replicas::figure4(&mut table).await?;
        eprintln!("figure 5");
        gandi::figure5(&mut table, cli.overhead_samples).await?;
        eprintln!("figure domains");
        dns01_bench::domains::figure(
            &mut table,
            cli.domains.clamp(1, 10_000),
            Duration::from_secs(10),
        )
        .await?;
    }
    table.note(format!(
        "mode: {}, {profile} build; {cores} CPU cores shared by the load client, the servers \
         and the emulator, nothing pinned; load average (1/5/15 min) {load_start} at the start, \
         {} at the end",
        if cli.short {
            "short (CI)"
        } else if cli.servers_only {
            "servers only (figures 1-3)"
        } else {
            "full"
        },
        loadavg()
    ));
    if !cli.short {
        table.note(format!(
            "figure 1: one HTTP/1.1 keep-alive TLS connection per worker, each alternating \
             Present and CleanUp of its own name on the memory solver, front-proxy client \
             certificate plus X-Remote-User/X-Remote-Group, authorisation by SubjectAccessReview \
             (kubefake; decisions cached by the webhook); {:.1} s measured per level and server, \
             in {} rounds that alternate the two servers, each after {:.1} s of warm-up; the \
             webhook logs at info (one line per request) to /dev/null",
            cli.seconds, cli.rounds, cli.warmup
        ));
    }
    if cli.servers_only {
        return Ok(table);
    }
    table.note(format!(
        "figure 4: through the webhook's router in-process (gandi solver, ambient token) \
         against the emulator; lower bound per Present+CleanUp: create (1 POST) + read and \
         delete (GET, DELETE); the many-names scenario runs with the emulator enforcing {}/min \
         (fixed window) and the webhook's client limit at {}/min (its default: at most that \
         many calls in any 61 s window); figure 5 runs without the 25 ms batching window, \
         which deliberately delays a lone write to gather others on the same name",
        gandi::EMULATOR_LIMIT_PER_MINUTE,
        cli.client_limit
    ));
    table.note(
        "figure 4, RFC 2136 rows: the rfc2136 solver through the webhook's router in-process \
         against BIND 9 (named on loopback, TSIG hmac-sha256), UPDATE messages counted by \
         BIND's statistics channel; the lower bound is one UPDATE per Present and per CleanUp",
    );
    table.note(
        "figure 4, two-replica rows: two webhook routers in-process (two gandi solvers, as two \
         pods) with --rrset-lock lease against one fake Kubernetes API and the emulator; a \
         Present on one and its CleanUp on the other, both clients warmed first; Lease calls \
         counted in the fake API's request log",
    );
    Ok(table)
}

/// Builds (unless given) and locates the two server binaries.
fn binaries(cli: &Cli) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = std::env::current_exe()
        .context("cannot find this program's path")?
        .parent()
        .context("this program has no directory")?
        .to_owned();
    if cli.webhook_bin.is_none() || cli.baseline_bin.is_none() {
        // Two builds: the webhook alone, with the features it has in production (as the
        // Dockerfile builds it), and the baseline with this package's (already built).
        for (package, bin) in [
            ("dns01-webhook", "dns01-webhook"),
            ("dns01-bench", "bench-baseline"),
        ] {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "-p", package, "--bin", bin]);
            if !cfg!(debug_assertions) {
                cmd.arg("--release");
            }
            eprintln!("building {bin}: {cmd:?}");
            let status = cmd.status().context("cannot run cargo")?;
            if !status.success() {
                bail!("building {bin} failed ({status})");
            }
        }
    }
    let pick =
        |given: &Option<PathBuf>, name: &str| given.clone().unwrap_or_else(|| dir.join(name));
    let webhook = pick(&cli.webhook_bin, "dns01-webhook");
    let baseline = pick(&cli.baseline_bin, "bench-baseline");
    for p in [&webhook, &baseline] {
        if !p.is_file() {
            bail!("{} does not exist", p.display());
        }
    }
    Ok((webhook, baseline))
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("no free port")?;
    Ok(l.local_addr()?.port())
}

/// A spawned server, killed when dropped.
#[derive(Debug)]
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Setup<'a> {
    pki: &'a RunPki,
    kubeconfig: PathBuf,
    webhook_bin: &'a Path,
    baseline_bin: &'a Path,
}

impl Setup<'_> {
    fn spawn_webhook(&self) -> anyhow::Result<(Server, Instant)> {
        let port = free_port()?;
        let mut cmd = Command::new(self.webhook_bin);
        cmd.arg("serve")
            .args(["--group-name", GROUP])
            .args(["--secure-port", &port.to_string()])
            .args(["--bind-address", "127.0.0.1"])
            .arg("--tls-cert-file")
            .arg(self.pki.cert_file())
            .arg("--tls-private-key-file")
            .arg(self.pki.key_file())
            .args(["--metrics-address", "127.0.0.1:0"])
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--memory-zone", ZONE])
            .arg("--requestheader-client-ca-file")
            .arg(self.pki.front_proxy_ca_file())
            .args(["--requestheader-allowed-names", pki::FRONT_PROXY_CN])
            .args(["--requestheader-username-headers", "X-Remote-User"])
            .args(["--requestheader-group-headers", "X-Remote-Group"])
            .args(["--gandi-api-url", "http://127.0.0.1:9/v5/livedns"])
            .args(["--log-level", "info"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", self.webhook_bin.display()))?;
        Ok((
            Server {
                child,
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            },
            started,
        ))
    }

    fn spawn_baseline(&self) -> anyhow::Result<(Server, Instant)> {
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut cmd = Command::new(self.baseline_bin);
        cmd.arg("--listen")
            .arg(addr.to_string())
            .arg("--tls-cert-file")
            .arg(self.pki.cert_file())
            .arg("--tls-private-key-file")
            .arg(self.pki.key_file())
            .arg("--client-ca-file")
            .arg(self.pki.front_proxy_ca_file())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", self.baseline_bin.display()))?;
        Ok((Server { child, addr }, started))
    }
}

const READY_TIMEOUT: Duration = Duration::from_secs(15);

fn calls_for(worker: usize) -> Vec<Call> {
    let config = json!({"ttl": 60});
    let label = format!("w{worker:04}");
    let dns_name = format!("{label}.{ZONE}");
    let fqdn = format!("_acme-challenge.{label}.{ZONE}.");
    let key = format!("bench-key-{worker:04}");
    let path = format!("/apis/{GROUP}/v1alpha1/memory");
    ["Present", "CleanUp"]
        .into_iter()
        .map(|action| {
            let body = gandi::payload(action, &dns_name, &fqdn, &key, "bench", &config, false);
            Call {
                path: path.clone(),
                body: Bytes::from(body.to_string()),
            }
        })
        .collect()
}

async fn servers(
    cli: &Cli,
    table: &mut Table,
    webhook_bin: &Path,
    baseline_bin: &Path,
) -> anyhow::Result<()> {
    let pki = RunPki::generate()?;
    let tls = pki.client_config()?;
    let fake = KubeFake::start().await;
    fake.allow(SarRule::user("bench-user", "create", GROUP, "memory"));
    let kubeconfig = pki.path("kubeconfig");
    pki::write_kubeconfig(&kubeconfig, fake.url().as_str().trim_end_matches('/'))?;
    let setup = Setup {
        pki: &pki,
        kubeconfig,
        webhook_bin,
        baseline_bin,
    };
    let endpoint = |addr| Endpoint {
        addr,
        tls: tls.clone(),
    };

    // Figure 3: start-up.
    eprintln!("figure 3: start-up, {} times each", cli.startups);
    let mut wh_start = Samples::new();
    let mut bl_start = Samples::new();
    for _ in 0..cli.startups.clamp(1, 200) {
        let (server, t0) = setup.spawn_webhook()?;
        wh_start.record(load::wait_ready(&endpoint(server.addr), t0, READY_TIMEOUT).await?);
        drop(server);
        let (server, t0) = setup.spawn_baseline()?;
        bl_start.record(load::wait_ready(&endpoint(server.addr), t0, READY_TIMEOUT).await?);
        drop(server);
    }
    let n = wh_start.len();
    let wh = wh_start.sorted().context("no start-up samples")?;
    let bl = bl_start.sorted().context("no start-up samples")?;
    let under = Duration::from_millis(100);
    table.push(
        Row::info(
            "3 start-up",
            &format!("process start to /readyz 200, median of {n}"),
            fmt_duration(wh.median()),
        )
        .baseline(
            format!("baseline {}", fmt_duration(bl.median())),
            ratio(wh.median().as_secs_f64(), bl.median().as_secs_f64()),
        )
        .target("< 100 ms", Verdict::check(wh.median() < under)),
    );
    table.push(
        Row::info(
            "3 start-up",
            &format!("process start to /readyz 200, max of {n}"),
            fmt_duration(wh.max()),
        )
        .baseline(
            format!("baseline {}", fmt_duration(bl.max())),
            ratio(wh.max().as_secs_f64(), bl.max().as_secs_f64()),
        )
        .target("< 100 ms", Verdict::check(wh.max() < under)),
    );

    // Figure 2 (idle) and figure 1.
    let (webhook, t0) = setup.spawn_webhook()?;
    load::wait_ready(&endpoint(webhook.addr), t0, READY_TIMEOUT).await?;
    let (baseline, t0) = setup.spawn_baseline()?;
    load::wait_ready(&endpoint(baseline.addr), t0, READY_TIMEOUT).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let wh_idle = procfs::rss(webhook.pid())?;
    let bl_idle = procfs::rss(baseline.pid())?;
    table.push(
        Row::info(
            "2 memory",
            "webhook RSS idle after start (VmRSS)",
            format!("{:.1} MiB", procfs::mib(wh_idle)),
        )
        .baseline(
            format!("baseline {:.1} MiB", procfs::mib(bl_idle)),
            ratio(wh_idle as f64, bl_idle as f64),
        )
        .target("< 20 MiB", Verdict::check(procfs::mib(wh_idle) < 20.0)),
    );

    let identity = Identity {
        user: "bench-user".to_owned(),
        group: "bench-group".to_owned(),
    };
    let spec = |concurrency, server: &Server| Spec {
        concurrency,
        warmup: Duration::from_secs_f64(cli.warmup),
        measure: Duration::from_secs_f64(cli.seconds / f64::from(cli.rounds)),
        server_pid: Some(server.pid()),
    };
    for &c in &cli.concurrency {
        eprintln!("figure 1: concurrency {c}, {} rounds", cli.rounds);
        let (mut w, mut b) = (None::<Outcome>, None::<Outcome>);
        // The ratios of each round (the webhook's against the baseline's right after it): how
        // much the machine's neighbours moved them within this run.
        let (mut round_throughput, mut round_p99) = (Vec::new(), Vec::new());
        let round = async |server: &Server| {
            load::run(
                &endpoint(server.addr),
                spec(c, server),
                &identity,
                calls_for,
            )
            .await
        };
        for _ in 0..cli.rounds {
            let wr = round(&webhook).await?;
            let br = round(&baseline).await?;
            round_throughput.extend(ratio(wr.throughput(), br.throughput()));
            if let (Some(ws), Some(bs)) =
                (wr.latencies.clone().sorted(), br.latencies.clone().sorted())
            {
                round_p99.extend(ratio(
                    ws.percentile(99.0).as_secs_f64(),
                    bs.percentile(99.0).as_secs_f64(),
                ));
            }
            for (total, round) in [(&mut w, wr), (&mut b, br)] {
                match total {
                    Some(total) => total.merge(round),
                    None => *total = Some(round),
                }
            }
        }
        let (Some(w), Some(b)) = (w, b) else {
            bail!("figure 1 measured no round");
        };
        for (name, o) in [("webhook", &w), ("baseline", &b)] {
            if o.errors > 0 {
                table.push(
                    Row::info(
                        "1 errors",
                        &format!("{name} failed requests, c={c}"),
                        format!(
                            "{} (first: {})",
                            o.errors,
                            o.first_error.as_deref().unwrap_or("?")
                        ),
                    )
                    .target("0", Verdict::Fail),
                );
            }
        }
        let (wt, bt) = (w.throughput(), b.throughput());
        let tr = ratio(wt, bt);
        table.push(
            Row::info(
                "1 throughput",
                &format!("Present/CleanUp requests per second, c={c}"),
                format!("{wt:.0}/s"),
            )
            .baseline(format!("{bt:.0}/s"), tr),
        );
        let cpu = (w.cpu_per_request(), b.cpu_per_request());
        let client_cpu = (w.client_cpu_per_request(), b.client_cpu_per_request());
        let (Some(ws), Some(bs)) = (w.latencies.sorted(), b.latencies.sorted()) else {
            table.push(
                Row::info("1 latency", &format!("c={c}"), "no samples").target("", Verdict::Fail),
            );
            continue;
        };
        table.push(
            Row::info(
                "1 latency",
                &format!("p50, c={c}"),
                fmt_duration(ws.median()),
            )
            .baseline(
                fmt_duration(bs.median()),
                ratio(ws.median().as_secs_f64(), bs.median().as_secs_f64()),
            ),
        );
        let (w99, b99) = (ws.percentile(99.0), bs.percentile(99.0));
        let lr = ratio(w99.as_secs_f64(), b99.as_secs_f64());
        table.push(
            Row::info(
                "1 latency",
                &format!("p99, c={c} ({} samples)", ws.len()),
                fmt_duration(w99),
            )
            .baseline(fmt_duration(b99), lr),
        );
        // What a request costs each process, which sharing the cores does not blur.
        for (who, per_request) in [("server", cpu), ("load client", client_cpu)] {
            if let (Some(wc), Some(bc)) = per_request {
                table.push(
                    Row::info(
                        "1 CPU",
                        &format!("{who} CPU time per request, c={c}"),
                        fmt_duration(wc),
                    )
                    .baseline(fmt_duration(bc), ratio(wc.as_secs_f64(), bc.as_secs_f64())),
                );
            }
        }
        if let (Some(t), Some(l)) = (Spread::of(&round_throughput), Spread::of(&round_p99)) {
            table.push(Row::info(
                "1 spread",
                &format!("ratios of single rounds, c={c}: median (range) of {}", t.n),
                format!("throughput {t}, p99 {l}"),
            ));
        }
    }
    table.push(Row::info(
        "1 auth",
        "SubjectAccessReviews the webhook sent during figures 1-3",
        fake.sar_count().to_string(),
    ));

    let wh_peak = procfs::peak_rss(webhook.pid())?;
    let bl_peak = procfs::peak_rss(baseline.pid())?;
    let pr = ratio(wh_peak as f64, bl_peak as f64);
    table.push(
        Row::info(
            "2 memory",
            "peak RSS during figure 1 (VmHWM)",
            format!("{:.1} MiB", procfs::mib(wh_peak)),
        )
        .baseline(format!("baseline {:.1} MiB", procfs::mib(bl_peak)), pr)
        .target(
            "<= 2.5 x baseline",
            Verdict::check(pr.is_some_and(|r| r <= 2.5)),
        ),
    );
    drop(webhook);
    drop(baseline);
    Ok(())
}
