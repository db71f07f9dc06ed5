//! Figures 4 and 5: Gandi calls read from the emulator's counters, through the webhook's
//! router in-process (the `gandi` solver with its own `dns01-gandi` client), and the
//! per-request overhead of `dns01-gandi` over a bare HTTP call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use dns01_core::Provider as _;
use dns01_core::retry::PER_MINUTE_WINDOW;
use dns01_testkit::emulator::{Counters, Emulator, RateLimit, RrsetSnapshot, Token, probe};
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::gandi::{self, AmbientCredentials, GandiSettings, GandiSolver};
use dns01_webhook::{AppState, router};
use futures::StreamExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::stats::{Samples, ratio};
use crate::table::{Row, Table, Verdict};

/// The API group served in the benchmarks.
pub const GROUP: &str = "acme.bench.test";
/// The zone hosted by the emulator (and the memory solver).
pub const ZONE: &str = "bench.test";
/// The emulator's token.
pub const TOKEN: &str = "bench-token";
/// The emulator's rate limit in scenario 4 (Gandi's documented limit), per minute.
pub const EMULATOR_LIMIT_PER_MINUTE: u32 = 1000;
/// The webhook's client-side limit in scenario 4, per minute: its default, which equals
/// Gandi's documented limit. `RateLimiter::per_minute` admits at most that many calls in any
/// window of [`PER_MINUTE_WINDOW`] (61 s), so a server counting fixed 60 s windows never sees
/// more.
pub const CLIENT_LIMIT_PER_MINUTE: u32 = dns01_gandi::DEFAULT_RATE_LIMIT_PER_MINUTE;

/// A challenge payload as cert-manager posts it.
pub fn payload(
    action: &str,
    dns_name: &str,
    resolved_fqdn: &str,
    key: &str,
    namespace: &str,
    config: &Value,
    allow_ambient: bool,
) -> Value {
    json!({
        "apiVersion": "webhook.acme.cert-manager.io/v1alpha1",
        "kind": "ChallengePayload",
        "request": {
            "uid": "",
            "action": action,
            "type": "dns-01",
            "dnsName": dns_name,
            "key": key,
            "resourceNamespace": namespace,
            "resolvedFQDN": resolved_fqdn,
            "resolvedZone": format!("{ZONE}."),
            "allowAmbientCredentials": allow_ambient,
            "config": config,
        }
    })
}

/// One challenge: (dnsName, resolved FQDN, key).
#[derive(Debug, Clone)]
pub struct Chal {
    /// The domain validated.
    pub dns_name: String,
    /// Where the TXT goes (absolute).
    pub fqdn: String,
    /// The TXT value.
    pub key: String,
}

impl Chal {
    /// A challenge for `label.bench.test` with key `key`.
    pub fn new(label: &str, key: &str) -> Self {
        Self {
            dns_name: format!("{label}.{ZONE}"),
            fqdn: format!("_acme-challenge.{label}.{ZONE}."),
            key: key.to_owned(),
        }
    }
}

/// The emulator plus the webhook router serving the `gandi` solver against it.
#[derive(Debug)]
pub struct Harness {
    /// The emulator.
    pub emu: Emulator,
    app: Router,
}

impl Harness {
    /// Starts an emulator hosting [`ZONE`] (with a few unrelated records) and a webhook router
    /// whose Gandi client keeps `client_limit` calls per minute.
    ///
    /// # Errors
    /// When the emulator cannot start.
    pub async fn start(client_limit: u32) -> anyhow::Result<Self> {
        let emu = Emulator::builder()
            .zone(ZONE)
            .token(Token::pat(TOKEN))
            .rrset(ZONE, "www", "A", 300, &["192.0.2.10"])
            .rrset(ZONE, "@", "TXT", 300, &["v=spf1 -all"])
            .rrset(
                ZONE,
                "_acme-challenge.keep",
                "TXT",
                300,
                &["someone else's value"],
            )
            .start()
            .await?;
        let url = url::Url::parse(&emu.api_url()).context("emulator URL")?;
        let solver = GandiSolver::new(
            Arc::new(dns01_webhook::secrets::StaticSecrets::new()),
            AmbientCredentials::new(Some(TOKEN.to_owned()), None),
            GandiSettings {
                production_url: url.clone(),
                sandbox_url: url,
                rate_limit_per_minute: client_limit,
                timeout: Duration::from_secs(10),
                ..GandiSettings::default()
            },
        );
        let mut solvers = Solvers::new();
        solvers.insert(gandi::NAME.to_owned(), Arc::new(solver));
        let mut state = AppState::new(GROUP, solvers);
        // Callers wait in the client-side limiter for minutes in scenario 4.
        state.request_timeout = Duration::from_secs(1800);
        Ok(Self {
            emu,
            app: router(state),
        })
    }

    /// Posts one challenge to the router and checks the answer says success.
    ///
    /// # Errors
    /// When the webhook answers anything but success.
    pub async fn challenge(&self, action: &str, c: &Chal) -> anyhow::Result<()> {
        challenge(&self.app, action, c).await
    }

    /// Presents then cleans up `c` (used to warm the client: zone discovery, connection).
    ///
    /// # Errors
    /// When either fails.
    pub async fn pair(&self, c: &Chal) -> anyhow::Result<()> {
        self.challenge("Present", c).await?;
        self.challenge("CleanUp", c).await
    }

    /// Runs `action` for all `chals` at once (one task each, released together by a barrier
    /// once every request is built); returns the failures' messages.
    pub async fn concurrently(&self, action: &str, chals: &[Chal]) -> Vec<String> {
        let mut failures = Vec::new();
        let mut requests = Vec::with_capacity(chals.len());
        for c in chals {
            match request(action, c) {
                Ok(r) => requests.push((c.fqdn.clone(), r)),
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(requests.len()));
        let mut set = tokio::task::JoinSet::new();
        for (fqdn, req) in requests {
            let app = self.app.clone();
            let action = action.to_owned();
            let barrier = barrier.clone();
            set.spawn(async move {
                barrier.wait().await;
                send(&app, &action, &fqdn, req).await
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(format!("{e:#}")),
                Err(e) => failures.push(format!("task failed: {e}")),
            }
        }
        failures
    }

    /// The zone's rrsets now.
    pub fn zone(&self) -> Vec<RrsetSnapshot> {
        self.emu.rrsets(ZONE)
    }
}

fn request(action: &str, c: &Chal) -> anyhow::Result<http::Request<Body>> {
    solver_request(gandi::NAME, action, c, &json!({"ttl": 300}), true)
}

/// `POST /apis/<group>/v1alpha1/<solver>` with `c` as cert-manager posts it (namespace
/// `bench`), as kube-apiserver forwards it.
pub(crate) fn solver_request(
    solver: &str,
    action: &str,
    c: &Chal,
    config: &Value,
    allow_ambient: bool,
) -> anyhow::Result<http::Request<Body>> {
    let body = payload(
        action,
        &c.dns_name,
        &c.fqdn,
        &c.key,
        "bench",
        config,
        allow_ambient,
    );
    Ok(http::Request::builder()
        .method("POST")
        .uri(format!("/apis/{GROUP}/v1alpha1/{solver}"))
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body)?))?)
}

/// Sends one challenge request to the router and checks the answer says success.
pub(crate) async fn send(
    app: &Router,
    action: &str,
    fqdn: &str,
    request: http::Request<Body>,
) -> anyhow::Result<()> {
    let response = app.clone().oneshot(request).await?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    if !crate::load::is_success(status.as_u16(), &bytes) {
        bail!(
            "{action} {fqdn}: HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(())
}

/// Posts `c` to the `gandi` solver (ambient token, TTL 300) and checks the answer.
pub(crate) async fn challenge(app: &Router, action: &str, c: &Chal) -> anyhow::Result<()> {
    send(app, action, &c.fqdn, request(action, c)?).await
}

/// Calls by method, then answers by status when any is not 2xx: `GET 1, POST 2; 409: 1`.
pub fn breakdown(counters: &Counters) -> String {
    let mut methods: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut statuses: std::collections::BTreeMap<u16, u64> = std::collections::BTreeMap::new();
    for (k, n) in &counters.entries {
        *methods.entry(k.method.as_str()).or_default() += n;
        if !(200..300).contains(&k.status) {
            *statuses.entry(k.status).or_default() += n;
        }
    }
    let mut out: Vec<String> = methods.iter().map(|(m, n)| format!("{m} {n}")).collect();
    let mut text = out.join(", ");
    if !statuses.is_empty() {
        out = statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        text.push_str("; ");
        text.push_str(&out.join(", "));
    }
    text
}

fn count_row(figure: &str, measure: &str, counters: &Counters, lower: u64, max: u64) -> Row {
    let calls = counters.total();
    Row::info(
        figure,
        measure,
        format!("{calls} calls ({})", breakdown(counters)),
    )
    .baseline(
        format!("lower bound {lower}"),
        ratio(calls as f64, lower as f64),
    )
    .target(format!("<= {max}"), Verdict::check(calls <= max))
}

/// Figure 4: Gandi calls per scenario; the many-names scenario runs `names` names, and in
/// `short` mode its wall time is not checked.
///
/// # Errors
/// When the harness cannot start (a failed scenario is a failed row, not an error).
pub async fn figure4(
    table: &mut Table,
    names: usize,
    client_limit: u32,
    short: bool,
) -> anyhow::Result<()> {
    const F: &str = "4 Gandi calls";
    let h = Harness::start(CLIENT_LIMIT_PER_MINUTE).await?;
    let before = h.zone();

    // Cold: the first request of a new client discovers the zone.
    h.emu.reset_counters();
    let cold = h.pair(&Chal::new("cold", "cold-key")).await;
    table.push(Row::info(
        F,
        "first Present+CleanUp of a new client (zone discovery included)",
        match &cold {
            Ok(()) => format!("{} calls", h.emu.total_requests()),
            Err(e) => format!("failed: {e:#}"),
        },
    ));

    // 1. One isolated Present + CleanUp, the zone known.
    h.emu.reset_counters();
    let r = h.pair(&Chal::new("isolated", "isolated-key")).await;
    let counters = h.emu.counters();
    push_scenario(
        table,
        count_row(
            F,
            "one isolated Present+CleanUp (zone known)",
            &counters,
            3,
            3,
        ),
        r.err().map(|e| format!("{e:#}")).into_iter().collect(),
    );

    // 2. Apex + wildcard: two values at one name, presented together, then cleaned together.
    h.emu.reset_counters();
    // cert-manager sends both with the same dnsName (no `*.`) and resolvedFQDN.
    let pair = [
        Chal::new("wild", "apex-key"),
        Chal::new("wild", "wildcard-key"),
    ];
    let mut failures = h.concurrently("Present", &pair).await;
    failures.extend(h.concurrently("CleanUp", &pair).await);
    let counters = h.emu.counters();
    push_scenario(
        table,
        count_row(
            F,
            "apex + wildcard (2 values, 1 name) presented concurrently, then cleaned concurrently",
            &counters,
            3,
            7,
        ),
        failures,
    );

    // 3. 100 concurrent Presents on one name, then 100 CleanUps.
    h.emu.reset_counters();
    let many: Vec<Chal> = (0..100)
        .map(|i| Chal::new("crowd", &format!("crowd-key-{i:03}")))
        .collect();
    let mut failures = h.concurrently("Present", &many).await;
    let served = h.emu.decoded_txt(ZONE, "_acme-challenge.crowd").len();
    if served != many.len() {
        failures.push(format!(
            "{served} of {} values stored after the Presents",
            many.len()
        ));
    }
    failures.extend(h.concurrently("CleanUp", &many).await);
    let counters = h.emu.counters();
    push_scenario(
        table,
        count_row(
            F,
            "100 concurrent Presents on one name, then 100 concurrent CleanUps",
            &counters,
            3,
            8,
        ),
        failures,
    );

    // Everything so far must leave the zone as it was.
    let after = h.zone();
    table.push(
        Row::info(
            F,
            "zone unchanged after scenarios 1-3",
            if after == before { "yes" } else { "no" },
        )
        .target("yes", Verdict::check(after == before)),
    );
    drop(h);

    many_names(table, names, client_limit, short).await
}

fn push_scenario(table: &mut Table, mut row: Row, failures: Vec<String>) {
    if !failures.is_empty() {
        row.verdict = Verdict::Fail;
        row.value = format!(
            "{} ({} failed requests, first: {})",
            row.value,
            failures.len(),
            failures[0]
        );
    }
    table.push(row);
}

/// Time a fixed window of `per_window` requests per `window`, restarting at the first request
/// after it ends, needs for `calls` requests sent as fast as it allows: the last request goes
/// at the start of window `ceil(calls / per_window)`.
pub fn fixed_window_time(calls: u64, per_window: u64, window: Duration) -> Duration {
    if calls == 0 || per_window == 0 {
        return Duration::ZERO;
    }
    let windows = (calls - 1) / per_window;
    window.saturating_mul(u32::try_from(windows).unwrap_or(u32::MAX))
}

/// Time the client limiter (`RateLimiter::per_minute`: at most `per_minute` calls in any
/// [`PER_MINUTE_WINDOW`]) needs to grant `calls`, all asked for at once.
pub fn limiter_time(calls: u64, per_minute: u64) -> Duration {
    fixed_window_time(calls, per_minute, PER_MINUTE_WINDOW)
}

async fn many_names(
    table: &mut Table,
    names: usize,
    client_limit: u32,
    short: bool,
) -> anyhow::Result<()> {
    const F: &str = "4 Gandi calls";
    let h = Harness::start(client_limit).await?;
    // A webhook that has seen the domain before (one warm-up pair). Its calls went through
    // the same client limiter, within the same window: the time the limit allows is
    // reckoned for them too.
    h.pair(&Chal::new("warmup", "warmup-key")).await?;
    let warmup_calls = h.emu.total_requests();
    let before = h.zone();
    h.emu.reset_counters();
    let limit = RateLimit {
        requests: EMULATOR_LIMIT_PER_MINUTE,
        window: Duration::from_secs(60),
        retry_after: true,
    };
    h.emu.faults().set_rate_limit(Some(limit));
    let chals: Vec<Chal> = (0..names)
        .map(|i| Chal::new(&format!("n{i:04}"), &format!("key-{i:04}")))
        .collect();
    let start = Instant::now();
    let mut failures = h.concurrently("Present", &chals).await;
    let presented = start.elapsed();
    // Every record must be served by the emulator's DNS before its CleanUp.
    let dns_addr = h.emu.dns_addr();
    let served: usize = futures::stream::iter(chals.iter())
        .map(|c| async move {
            match probe::query(dns_addr, &c.fqdn, "TXT", probe::Transport::Udp).await {
                Ok(answer) => usize::from(answer.txt_values().contains(&c.key)),
                Err(_) => 0,
            }
        })
        .buffer_unordered(32)
        .fold(0, |acc, x| async move { acc + x })
        .await;
    failures.extend(h.concurrently("CleanUp", &chals).await);
    let wall = start.elapsed();
    let counters = h.emu.counters();
    let calls = counters.total();
    let throttled = counters.with_status(429);
    h.emu.faults().set_rate_limit(None);
    let after = h.zone();

    let label = format!("{names} names");
    let lower = 3 * names as u64;
    table.push(
        Row::info(
            F,
            &format!("{label}: calls for the Presents and CleanUps"),
            format!("{calls} calls"),
        )
        .baseline(
            format!("lower bound {lower}"),
            ratio(calls as f64, lower as f64),
        ),
    );
    table.push(
        Row::info(
            F,
            &format!(
                "{label}: 429 answers (emulator {EMULATOR_LIMIT_PER_MINUTE}/min fixed window, \
                 client limiter {client_limit}/min)"
            ),
            format!(
                "{throttled} from the emulator, {} failed requests{}",
                failures.len(),
                failures
                    .first()
                    .map(|f| format!(" (first: {f})"))
                    .unwrap_or_default()
            ),
        )
        .target("0", Verdict::check(throttled == 0 && failures.is_empty())),
    );
    table.push(
        Row::info(
            F,
            &format!("{label}: records served by the emulator's DNS before CleanUp"),
            format!("{served}/{names}"),
        )
        .target("all", Verdict::check(served == names)),
    );
    table.push(
        Row::info(
            F,
            &format!("{label}: zone left as it was"),
            if after == before { "yes" } else { "no" },
        )
        .target("yes", Verdict::check(after == before)),
    );
    let limited_calls = calls + warmup_calls;
    let allowed = fixed_window_time(
        limited_calls,
        u64::from(EMULATOR_LIMIT_PER_MINUTE),
        limit.window,
    );
    let row = Row::info(
        F,
        &format!(
            "{label}: wall time (Presents took {:.1} s)",
            presented.as_secs_f64()
        ),
        format!("{:.1} s", wall.as_secs_f64()),
    )
    .baseline(
        format!(
            "{:.1} s allowed by the emulator's limit for {limited_calls} calls \
             ({calls} + {warmup_calls} of the warm-up)",
            allowed.as_secs_f64()
        ),
        ratio(wall.as_secs_f64(), allowed.as_secs_f64()),
    );
    let ok = wall.as_secs_f64() <= allowed.as_secs_f64() * 1.10;
    table.push(if short {
        row.target("<= 1.10 x (not checked in short mode)", Verdict::Info)
    } else if allowed.is_zero() {
        row.target(
            "<= 1.10 x (not checked: the calls fit in one window)",
            Verdict::Info,
        )
    } else {
        row.target("<= 1.10 x", Verdict::check(ok))
    });
    let bucket = limiter_time(limited_calls, u64::from(client_limit));
    table.push(
        Row::info(
            F,
            &format!("{label}: wall time vs the client limiter's own schedule"),
            format!("{:.1} s", wall.as_secs_f64()),
        )
        .baseline(
            format!(
                "{:.1} s for {limited_calls} calls at {client_limit} per {} s window",
                bucket.as_secs_f64(),
                PER_MINUTE_WINDOW.as_secs()
            ),
            ratio(wall.as_secs_f64(), bucket.as_secs_f64()),
        ),
    );
    Ok(())
}

/// Figure 5: latency of one `dns01-gandi` Present against the emulator versus one raw `PUT`
/// with the same client settings, `samples` of each, interleaved.
///
/// # Errors
/// When a call fails.
pub async fn figure5(table: &mut Table, samples: usize) -> anyhow::Result<()> {
    const F: &str = "5 dns01-gandi overhead";
    let emu = Emulator::builder()
        .zone(ZONE)
        .token(Token::pat(TOKEN))
        .start()
        .await?;
    let url = url::Url::parse(&emu.api_url())?;
    let timeout = dns01_gandi::DEFAULT_TIMEOUT;
    // A limit far above what the loop sends, so the limiter never waits.
    let config =
        dns01_gandi::GandiConfig::new(dns01_gandi::Credentials::personal_access_token(TOKEN))
            .with_base_url(url.clone())
            .with_timeout(timeout)
            .with_rate_limit_per_minute(100_000_000)
            // The per-request overhead, without the batching window that deliberately delays
            // a lone write (25 ms by default) to gather others on the same name.
            .with_batch_window(Duration::ZERO);
    let provider = dns01_gandi::provider(config).map_err(|e| anyhow::anyhow!(e.report()))?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {TOKEN}"))?,
    );
    let raw = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(dns01_gandi::USER_AGENT)
        .default_headers(headers)
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = emu.api_url();
    let record = |i: usize| -> anyhow::Result<dns01_core::TxtRecord> {
        Ok(dns01_core::TxtRecord::new(
            dns01_core::Fqdn::parse(&format!("_acme-challenge.p{i}.{ZONE}"))?,
            dns01_core::TxtValue::new(format!("value-{i}"))?,
        ))
    };
    let raw_put = |i: usize| {
        let raw = raw.clone();
        let url = format!("{base}/domains/{ZONE}/records/_acme-challenge.r{i}/TXT");
        async move {
            let res = raw
                .put(&url)
                .json(&json!({"rrset_ttl": 300, "rrset_values": [format!("\"value-{i}\"")]}))
                .send()
                .await?;
            let status = res.status();
            let _body: Bytes = res.bytes().await?;
            if !status.is_success() {
                bail!("PUT {url}: HTTP {status}");
            }
            anyhow::Ok(url)
        }
    };
    // Warm both: connections, zone discovery.
    let warm = record(usize::MAX)?;
    provider
        .present(&warm)
        .await
        .map_err(|e| anyhow::anyhow!(e.report()))?;
    provider
        .cleanup(&warm)
        .await
        .map_err(|e| anyhow::anyhow!(e.report()))?;
    let u = raw_put(usize::MAX).await?;
    raw.delete(&u).send().await?;

    emu.reset_counters();
    let probe_record = record(usize::MAX - 1)?;
    provider
        .present(&probe_record)
        .await
        .map_err(|e| anyhow::anyhow!(e.report()))?;
    let calls_per_present = emu.total_requests();
    provider
        .cleanup(&probe_record)
        .await
        .map_err(|e| anyhow::anyhow!(e.report()))?;

    let mut lib = Samples::new();
    let mut bare = Samples::new();
    for i in 0..samples {
        let rec = record(i)?;
        let t = Instant::now();
        provider
            .present(&rec)
            .await
            .map_err(|e| anyhow::anyhow!(e.report()))?;
        lib.record(t.elapsed());
        provider
            .cleanup(&rec)
            .await
            .map_err(|e| anyhow::anyhow!(e.report()))?;
        let t = Instant::now();
        let u = raw_put(i).await?;
        bare.record(t.elapsed());
        let res = raw.delete(&u).send().await?;
        let _ = res.bytes().await?;
    }
    let lib = lib.sorted().context("no samples")?;
    let bare = bare.sorted().context("no samples")?;
    for (name, p) in [("median", 50.0), ("p99", 99.0)] {
        let a = lib.percentile(p);
        let b = bare.percentile(p);
        table.push(
            Row::info(
                F,
                &format!(
                    "Present via dns01-gandi ({calls_per_present} API calls), {name} of {samples}"
                ),
                crate::fmt_duration(a),
            )
            .baseline(
                format!("raw PUT {}", crate::fmt_duration(b)),
                ratio(a.as_secs_f64(), b.as_secs_f64()),
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_runs_at_the_webhooks_default_limit_which_is_gandis() {
        assert_eq!(CLIENT_LIMIT_PER_MINUTE, EMULATOR_LIMIT_PER_MINUTE);
    }

    #[test]
    fn breakdowns_sum_methods_and_list_failed_statuses() {
        use dns01_testkit::emulator::CounterKey;
        let mut c = Counters::default();
        let key = |m: &str, route: &str, status| CounterKey {
            method: m.to_owned(),
            route: route.to_owned(),
            status,
        };
        c.entries.insert(key("GET", "/a", 200), 2);
        c.entries.insert(key("GET", "/b", 404), 1);
        c.entries.insert(key("POST", "/a", 409), 1);
        c.entries.insert(key("POST", "/a", 201), 1);
        assert_eq!(breakdown(&c), "GET 3, POST 2; 404: 1, 409: 1");
        c.entries.clear();
        c.entries.insert(key("DELETE", "/a", 204), 1);
        assert_eq!(breakdown(&c), "DELETE 1");
    }

    #[test]
    fn fixed_window_and_bucket_times() {
        let w = Duration::from_secs(60);
        assert_eq!(fixed_window_time(3000, 1000, w), Duration::from_secs(120));
        assert_eq!(fixed_window_time(3001, 1000, w), Duration::from_secs(180));
        assert_eq!(fixed_window_time(1000, 1000, w), Duration::ZERO);
        assert_eq!(fixed_window_time(0, 1000, w), Duration::ZERO);
        assert_eq!(limiter_time(1000, 1000), Duration::ZERO);
        assert_eq!(limiter_time(3000, 1000), Duration::from_secs(122));
    }
}
