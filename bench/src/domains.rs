//! The custom-domain controller at scale (`dns01-domains`): N CustomDomains (1,000; 100 in
//! short mode) reconciled by the controller in-process against the fake Kubernetes API and a
//! real BIND 9 serving the customers' zone with every record in place.
//!
//! - **Convergence**: from creating the N domains to every one `Ready=True` (a Certificate
//!   applied and made ready by a minimal cert-manager stand-in that only flips `Ready`, routes
//!   off), with each domain's latency (created → first seen `Ready`). Baseline: the DNS
//!   checker alone over the same N hostnames at the same server, with the concurrency of the
//!   controller's reconciles — the floor of the work the controller cannot avoid.
//! - **Steady state**: with every domain ready and its re-check schedule capped at a few
//!   seconds, over a window covering at least two re-checks of every domain, the API writes
//!   (CustomDomain status, Certificates, Events) must be zero (the target), and the
//!   DNS queries per check (BIND's statistics channel over the controller's check counter) are
//!   shown beside the lower bound of one query per required record per nameserver (the
//!   issue's target: at most that).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use dns01_core::{Fqdn, ZoneName};
use dns01_domains::check::{Bootstrap, CheckRequest, Checker};
use dns01_domains::controller::{self, Config};
use dns01_domains::crd::{
    CustomDomain, CustomDomainSpec, Hostname, IssuerRef, ServiceTarget, Target,
};
use dns01_domains::health::Readiness;
use dns01_domains::metrics::Metrics;
use dns01_domains::reconcile::{RouteMode, Settings};
use dns01_domains::records::{Platform, required_records};
use dns01_testkit::bind::{Bind, BindZone};
use dns01_testkit::kubefake::{KubeFake, ResourceKind};
use futures::StreamExt as _;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use crate::fmt_duration;
use crate::stats::{Samples, ratio};
use crate::table::{Row, Table, Verdict};

const F: &str = "domains";
const ZONE: &str = "customer.test";
const NAMESPACE: &str = "bench";
/// Concurrent requests of the baseline (and of the creation of the domains).
const CONCURRENCY: usize = 32;
/// How often the benchmark looks for new Certificates and Ready domains.
const POLL: Duration = Duration::from_millis(250);

fn platform() -> anyhow::Result<Platform> {
    Ok(Platform {
        validation_zone: ZoneName::parse("acme.platform.test")?,
        traffic_hostname: Fqdn::parse("edge.platform.test")?,
        addresses: vec![],
        apex_alias_target: None,
    })
}

fn hostname(i: usize) -> String {
    format!("d{i}.{ZONE}")
}

fn domain(i: usize) -> anyhow::Result<CustomDomain> {
    Ok(CustomDomain::new(
        &format!("d{i}"),
        CustomDomainSpec {
            hostname: Hostname::parse(&hostname(i))?,
            target: Target::Service(ServiceTarget {
                name: "web".into(),
                port: 8080,
            }),
            issuer_ref: IssuerRef {
                name: "letsencrypt".into(),
                kind: "Issuer".into(),
                group: None,
            },
            wildcard: false,
        },
    ))
}

/// `named` serving the customer's zone with the records of all `n` domains in place.
fn customer_zone(n: usize, platform: &Platform) -> anyhow::Result<Bind> {
    let mut zone = BindZone::new(ZONE);
    for i in 0..n {
        let host = Hostname::parse(&hostname(i))?;
        let target = Target::Service(ServiceTarget {
            name: "web".into(),
            port: 8080,
        });
        for r in required_records(&host, &target, NAMESPACE, platform)? {
            zone = zone.record(&format!("{} IN {} {}", r.name, r.record_type, r.value));
        }
    }
    Bind::builder().zone(zone).start()
}

/// `dns01_domains_checks_total` by outcome: met, unmet, error.
fn checks(metrics: &Metrics) -> [u64; 3] {
    let text = metrics.encode();
    ["met", "unmet", "error"].map(|outcome| {
        let prefix = format!("dns01_domains_checks_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix)?.parse::<u64>().ok())
            .unwrap_or(0)
    })
}

fn is_ready(object: &Value) -> bool {
    object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// API writes to CustomDomains (status included), Certificates, Events.
fn writes(fake: &KubeFake) -> [usize; 3] {
    [
        "customdomains.domains.dns01.dev",
        "certificates.cert-manager.io",
        "events.events.k8s.io",
    ]
    .map(|r| fake.write_count(r))
}

/// The figure's rows: `n` domains, re-checks capped at `cap`.
///
/// # Errors
/// When BIND or the fake API cannot start, or the domains do not converge within 10 minutes.
pub async fn figure(table: &mut Table, n: usize, cap: Duration) -> anyhow::Result<()> {
    let platform = platform()?;
    let bind = customer_zone(n, &platform)?;
    let checker = Checker::new(Bootstrap::Static {
        zone: ZoneName::parse(ZONE)?,
        servers: vec![bind.addr()],
    })
    .timeout(Duration::from_secs(2));

    // Baseline: the checker alone, every hostname once.
    let started = Instant::now();
    let mut baseline = Samples::new();
    let mut results = futures::stream::iter(0..n)
        .map(|i| {
            let checker = checker.clone();
            let platform = platform.clone();
            async move {
                let host = Hostname::parse(&hostname(i))?;
                let target = Target::Service(ServiceTarget {
                    name: "web".into(),
                    port: 8080,
                });
                let request = CheckRequest {
                    hostname: host.fqdn().clone(),
                    requirements: required_records(&host, &target, NAMESPACE, &platform)?,
                    ca: None,
                    wildcard: false,
                };
                let t = Instant::now();
                let report = checker.check(&request).await?;
                anyhow::ensure!(report.all_met(), "{}: {:?}", host, report.problems);
                Ok::<_, anyhow::Error>(t.elapsed())
            }
        })
        .buffer_unordered(CONCURRENCY);
    while let Some(r) = results.next().await {
        baseline.record(r?);
    }
    drop(results);
    let baseline_total = started.elapsed();

    // The controller.
    let fake = KubeFake::start().await;
    let customdomains = ResourceKind::new("domains.dns01.dev/v1alpha1", "customdomains");
    let certificates = ResourceKind::new("cert-manager.io/v1", "certificates");
    fake.status_subresource(&customdomains);
    let client = kube::Client::try_from(kube::Config::new(fake.url().as_str().parse()?))?;
    let mut config = Config::new(platform, checker);
    config.settings = Settings {
        route: RouteMode::None,
        issuing_poll: Duration::from_millis(500),
        check_delay_cap: Some(cap),
    };
    let metrics = Arc::new(Metrics::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(controller::run(
        client.clone(),
        config,
        Readiness::default(),
        metrics.clone(),
        async move {
            let _ = stopped.await;
        },
    ));

    let api: Api<CustomDomain> = Api::namespaced(client, NAMESPACE);
    let started = Instant::now();
    let mut created = vec![started; n];
    let mut creations = futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &domain(i)?)
                    .await
                    .with_context(|| format!("creating d{i}"))?;
                Ok::<_, anyhow::Error>((i, Instant::now()))
            }
        })
        .buffer_unordered(CONCURRENCY);
    while let Some(r) = creations.next().await {
        let (i, at) = r?;
        created[i] = at;
    }
    let mut latency = Samples::new();
    let mut ready = vec![false; n];
    let mut left = n;
    let deadline = started + Duration::from_secs(600);
    while left > 0 {
        // cert-manager's part, minimal: every Certificate becomes Ready.
        for c in fake.objects(&certificates, Some(NAMESPACE)) {
            if !is_ready(&c)
                && let Some(name) = c["metadata"]["name"].as_str()
            {
                fake.merge(
                    &certificates,
                    NAMESPACE,
                    name,
                    &json!({"status": {"conditions": [
                    {"type": "Ready", "status": "True", "reason": "Ready"}]}}),
                );
            }
        }
        let now = Instant::now();
        for d in fake.objects(&customdomains, Some(NAMESPACE)) {
            let Some(i) = d["metadata"]["name"]
                .as_str()
                .and_then(|s| s.strip_prefix('d'))
                .and_then(|s| s.parse::<usize>().ok())
            else {
                continue;
            };
            if i < n && !ready[i] && is_ready(&d) {
                ready[i] = true;
                left -= 1;
                latency.record(now.saturating_duration_since(created[i]));
            }
        }
        if Instant::now() > deadline {
            bail!("{left} of {n} domains not Ready after 10 minutes");
        }
        // Each look copies every object under the fake API's lock, which stalls the API meanwhile:
        // look rarely enough not to be what is measured (latencies are to the next look).
        tokio::time::sleep(POLL).await;
    }
    let converged = started.elapsed();
    let requests = fake.requests();
    let to_ready = requests.len();
    let writes_to_ready = requests.iter().filter(|r| r.method != "GET").count();

    // Convergence's last writes drain first (the Events of the last transitions trail their
    // status writes on a busy API): the window starts once nothing was written for 2 s. A
    // write that recurs on re-checks still falls in the window, which spans 2.5 of them.
    let drain = Instant::now();
    let mut seen = writes(&fake);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = writes(&fake);
        if now == seen || drain.elapsed() > Duration::from_secs(60) {
            break;
        }
        seen = now;
    }
    let drained = drain.elapsed();
    // Steady state: every domain re-checked at least twice, nothing written.
    let (writes_before, checks_before, queries_before) =
        (writes(&fake), checks(&metrics), bind.opcode_count("QUERY")?);
    // At least 2.5 re-check periods, and on until every domain could have been re-checked
    // twice (a big N re-checks slower than the cap asks), at most 2 minutes.
    let window_start = Instant::now();
    tokio::time::sleep(cap * 5 / 2).await;
    let rechecked = || {
        checks(&metrics)
            .iter()
            .sum::<u64>()
            .saturating_sub(checks_before.iter().sum())
    };
    while rechecked() < 2 * n as u64 && window_start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let window = window_start.elapsed();
    let (writes_after, checks_after, queries_after) =
        (writes(&fake), checks(&metrics), bind.opcode_count("QUERY")?);
    drop(stop);
    let _ = tokio::time::timeout(Duration::from_secs(5), controller).await;

    let outcomes: Vec<u64> = checks_after
        .iter()
        .zip(checks_before)
        .map(|(a, b)| a.saturating_sub(b))
        .collect();
    let rechecks: u64 = outcomes.iter().sum();
    let by_kind: Vec<usize> = writes_after
        .iter()
        .zip(writes_before)
        .map(|(a, b)| a.saturating_sub(b))
        .collect();
    let steady_writes: usize = by_kind.iter().sum();
    let queries = queries_after.saturating_sub(queries_before);
    let per_check = (rechecks > 0).then(|| queries as f64 / rechecks as f64);

    let per_second = |count: usize, d: Duration| count as f64 / d.as_secs_f64().max(1e-9);
    table.push(
        Row::info(
            F,
            &format!("{n} CustomDomains: created to all Ready"),
            format!(
                "{:.2} s ({:.0} domains/s)",
                converged.as_secs_f64(),
                per_second(n, converged)
            ),
        )
        .baseline(
            format!(
                "{:.2} s (checker alone, {CONCURRENCY} at once)",
                baseline_total.as_secs_f64()
            ),
            ratio(converged.as_secs_f64(), baseline_total.as_secs_f64()),
        ),
    );
    if let (Some(l), Some(b)) = (latency.sorted(), baseline.sorted()) {
        table.push(
            Row::info(
                F,
                "per domain, created to Ready: median / p99",
                format!(
                    "{} / {}",
                    fmt_duration(l.median()),
                    fmt_duration(l.percentile(99.0))
                ),
            )
            .baseline(
                format!(
                    "{} / {} (one check)",
                    fmt_duration(b.median()),
                    fmt_duration(b.percentile(99.0))
                ),
                ratio(l.median().as_secs_f64(), b.median().as_secs_f64()),
            ),
        );
    }
    table.push(Row::info(
        F,
        "API requests per domain, created to Ready (all / writes; its creation included)",
        format!(
            "{:.1} / {:.1}",
            to_ready as f64 / n as f64,
            writes_to_ready as f64 / n as f64
        ),
    ));
    let enough = rechecks >= 2 * n as u64;
    table.push(
        Row::info(
            F,
            &format!(
                "steady state: API writes in {:.0} s (status / Certificates / Events), over \
                 {rechecks} re-checks of {n} ready domains (met / unmet / error: {} / {} / {})",
                window.as_secs_f64(),
                outcomes[0],
                outcomes[1],
                outcomes[2]
            ),
            format!(
                "{steady_writes} ({} / {} / {})",
                by_kind[0], by_kind[1], by_kind[2]
            ),
        )
        .baseline("0", None)
        .target(
            "0 writes, >= 2 re-checks per domain",
            Verdict::check(steady_writes == 0 && enough),
        ),
    );
    // Two required records per domain (traffic CNAME, `_acme-challenge` CNAME), one server.
    let floor = 2.0;
    table.push(
        Row::info(
            F,
            "steady state: DNS queries per check (at BIND)",
            per_check.map_or_else(|| "n/a".to_owned(), |q| format!("{q:.2}")),
        )
        .baseline(
            "2 (one per required record per nameserver)",
            per_check.and_then(|q| ratio(q, floor)),
        )
        // Checks in flight at the window's edges count their queries on one side only.
        .target(
            "<= 1 per record per nameserver (5% for the window's edges)",
            Verdict::check(per_check.is_some_and(|q| q <= floor * 1.05)),
        ),
    );
    table.note(format!(
        "figure domains: dns01-domains' controller in-process (kube-runtime) against the fake \
         Kubernetes API and one named serving the customers' zone with every record in place; \
         {n} CustomDomains in one namespace, routes off, each Certificate made Ready by the \
         benchmark within 250 ms of its appearance (latencies are to the benchmark's next look, \
         every 250 ms); re-checks capped at {:.0} s; the steady-state window \
         starts once nothing has been written for 2 s after the last domain is Ready ({:.0} s \
         here, at most 60 s) and counts writes to CustomDomains (status included), Certificates \
         and Events; DNS queries are BIND's QUERY count over the controller's check count",
        cap.as_secs_f64(),
        drained.as_secs_f64()
    ));
    Ok(())
}
