//! The load client: tokio + hyper (HTTP/1.1, keep-alive, one connection per concurrent
//! worker) + tokio-rustls with the front-proxy client certificate. Every loop stops by itself:
//! at a deadline and after a bounded number of requests. Traffic goes to 127.0.0.1 only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

use crate::procfs;
use crate::stats::Samples;

/// Most requests one worker sends in one run, whatever the duration.
pub const MAX_REQUESTS_PER_WORKER: u64 = 5_000_000;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The server, on loopback.
    pub addr: SocketAddr,
    /// The client TLS configuration.
    pub tls: Arc<ClientConfig>,
}

/// One request a worker sends in turn.
#[derive(Debug, Clone)]
pub struct Call {
    /// Request path.
    pub path: String,
    /// JSON body.
    pub body: Bytes,
}

/// A load run's shape.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Connections, each with one request in flight.
    pub concurrency: usize,
    /// Time before measuring starts (connections warm, caches filled).
    pub warmup: Duration,
    /// Measured time.
    pub measure: Duration,
    /// The server's process, whose CPU time over the measured time is reported.
    pub server_pid: Option<u32>,
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Requests started and completed inside the measured time.
    pub completed: u64,
    /// Requests that failed (transport error, unexpected status or body), any time.
    pub errors: u64,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
    /// Latencies of the measured requests.
    pub latencies: Samples,
    /// The measured time.
    pub measured: Duration,
    /// CPU time the server used during the measured time, when its process was given.
    pub server_cpu: Option<Duration>,
    /// CPU time this process (the load client) used during the measured time.
    pub client_cpu: Option<Duration>,
}

impl Outcome {
    /// Adds `other`, another round of the same measurement: requests, errors, latencies and
    /// times add up (a CPU time is known only when every round knows it).
    pub fn merge(&mut self, other: Self) {
        let add = |a: Option<Duration>, b: Option<Duration>| Some(a? + b?);
        self.server_cpu = add(self.server_cpu, other.server_cpu);
        self.client_cpu = add(self.client_cpu, other.client_cpu);
        self.completed += other.completed;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies.merge(other.latencies);
        self.measured += other.measured;
    }

    /// Completed requests per second.
    pub fn throughput(&self) -> f64 {
        let secs = self.measured.as_secs_f64();
        if secs > 0.0 {
            self.completed as f64 / secs
        } else {
            0.0
        }
    }

    /// Server CPU time per completed request, when both are known.
    pub fn cpu_per_request(&self) -> Option<Duration> {
        self.per_request(self.server_cpu?)
    }

    /// Load client CPU time per completed request, when both are known.
    pub fn client_cpu_per_request(&self) -> Option<Duration> {
        self.per_request(self.client_cpu?)
    }

    fn per_request(&self, cpu: Duration) -> Option<Duration> {
        let n = u32::try_from(self.completed).ok().filter(|&n| n > 0)?;
        Some(cpu / n)
    }
}

/// The headers a front proxy (kube-aggregator) adds.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `X-Remote-User`.
    pub user: String,
    /// `X-Remote-Group`.
    pub group: String,
}

type Sender = http1::SendRequest<Full<Bytes>>;

/// Opens one TLS connection and performs the HTTP/1.1 handshake; the connection task runs
/// until the sender is dropped.
///
/// # Errors
/// On connection, TLS or HTTP handshake failure.
pub async fn connect(endpoint: &Endpoint) -> anyhow::Result<Sender> {
    let tcp = TcpStream::connect(endpoint.addr)
        .await
        .with_context(|| format!("cannot connect to {}", endpoint.addr))?;
    tcp.set_nodelay(true)?;
    let connector = tokio_rustls::TlsConnector::from(endpoint.tls.clone());
    let name = ServerName::try_from("localhost")?;
    let tls = connector
        .connect(name, tcp)
        .await
        .context("TLS handshake failed")?;
    let (sender, conn) = http1::handshake(TokioIo::new(tls))
        .await
        .context("HTTP/1.1 handshake failed")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request and reads the whole answer; returns (status, body).
///
/// # Errors
/// On a transport failure.
pub async fn send(
    sender: &mut Sender,
    method: http::Method,
    path: &str,
    body: Bytes,
    identity: Option<&Identity>,
) -> anyhow::Result<(u16, Bytes)> {
    sender.ready().await.context("connection closed")?;
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "localhost")
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json");
    if let Some(id) = identity {
        req = req
            .header("X-Remote-User", &id.user)
            .header("X-Remote-Group", &id.group);
    }
    let req = req.body(Full::new(body)).context("bad request")?;
    let res = sender.send_request(req).await.context("request failed")?;
    let status = res.status().as_u16();
    let body = res
        .into_body()
        .collect()
        .await
        .context("cannot read the answer")?
        .to_bytes();
    Ok((status, body))
}

/// Whether an answer is a successful challenge answer: 2xx with `"success":true`.
///
/// A vectorised substring search: a naive one costs the client time in proportion to the
/// answer's length, which would charge the webhook's longer answer to the webhook.
pub fn is_success(status: u16, body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"success\":true";
    (200..300).contains(&status) && memchr::memmem::find(body, NEEDLE).is_some()
}

/// Runs `spec.concurrency` workers, each on its own connection, each sending its `calls`
/// (given by `calls_for(worker)`) in turn until the deadline.
///
/// # Errors
/// When a worker cannot connect.
pub async fn run<F>(
    endpoint: &Endpoint,
    spec: Spec,
    identity: &Identity,
    calls_for: F,
) -> anyhow::Result<Outcome>
where
    F: Fn(usize) -> Vec<Call>,
{
    let mut senders = Vec::with_capacity(spec.concurrency);
    for _ in 0..spec.concurrency {
        senders.push(connect(endpoint).await?);
    }
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    let end = measure_from + spec.measure;
    // The server's and this process's CPU time from the start to the end of the measured
    // time.
    let cpu_probe = |pid: Option<u32>| {
        pid.map(|pid| {
            tokio::spawn(async move {
                tokio::time::sleep_until(measure_from.into()).await;
                let before = procfs::cpu_time(pid).ok()?;
                tokio::time::sleep_until(end.into()).await;
                let after = procfs::cpu_time(pid).ok()?;
                after.checked_sub(before)
            })
        })
    };
    let server_cpu = cpu_probe(spec.server_pid);
    let client_cpu = cpu_probe(Some(std::process::id()));
    let mut tasks = tokio::task::JoinSet::new();
    for (worker, mut sender) in senders.into_iter().enumerate() {
        let calls = calls_for(worker);
        if calls.is_empty() {
            bail!("worker {worker} has nothing to send");
        }
        let identity = identity.clone();
        tasks.spawn(async move {
            let mut latencies = Samples::new();
            let mut completed = 0u64;
            let mut errors = 0u64;
            let mut first_error = None;
            for i in 0..MAX_REQUESTS_PER_WORKER {
                let began = Instant::now();
                if began >= end {
                    break;
                }
                let call = &calls[(i as usize) % calls.len()];
                let result = send(
                    &mut sender,
                    http::Method::POST,
                    &call.path,
                    call.body.clone(),
                    Some(&identity),
                )
                .await;
                let done = Instant::now();
                match result {
                    Ok((status, body)) if is_success(status, &body) => {
                        if began >= measure_from && done <= end {
                            completed += 1;
                            latencies.record(done - began);
                        }
                    }
                    Ok((status, body)) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| {
                            format!("HTTP {status}: {}", String::from_utf8_lossy(&body))
                        });
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                        break;
                    }
                }
            }
            (completed, errors, first_error, latencies)
        });
    }
    let mut out = Outcome {
        completed: 0,
        errors: 0,
        first_error: None,
        latencies: Samples::new(),
        measured: spec.measure,
        server_cpu: None,
        client_cpu: None,
    };
    while let Some(joined) = tasks.join_next().await {
        let (completed, errors, first_error, latencies) = joined.context("worker panicked")?;
        out.completed += completed;
        out.errors += errors;
        if out.first_error.is_none() {
            out.first_error = first_error;
        }
        out.latencies.merge(latencies);
    }
    if let Some(probe) = server_cpu {
        out.server_cpu = probe.await.context("CPU probe panicked")?;
    }
    if let Some(probe) = client_cpu {
        out.client_cpu = probe.await.context("CPU probe panicked")?;
    }
    Ok(out)
}

/// Polls `GET /readyz` (a new connection per attempt, 1 ms apart) until it answers 200;
/// returns the time since `since`.
///
/// # Errors
/// When `timeout` passes first.
pub async fn wait_ready(
    endpoint: &Endpoint,
    since: Instant,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        match probe_ready(endpoint).await {
            Ok(200) => return Ok(since.elapsed()),
            Ok(status) => last = format!("HTTP {status}"),
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    bail!(
        "{} did not answer /readyz with 200 within {timeout:?} (last: {last})",
        endpoint.addr
    )
}

async fn probe_ready(endpoint: &Endpoint) -> anyhow::Result<u16> {
    let mut sender = connect(endpoint).await?;
    let (status, _) = send(
        &mut sender,
        http::Method::GET,
        "/readyz",
        Bytes::new(),
        None,
    )
    .await?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(completed: u64, errors: u64, cpu: Option<u64>) -> Outcome {
        let mut latencies = Samples::new();
        latencies.record_micros(completed);
        Outcome {
            completed,
            errors,
            first_error: (errors > 0).then(|| format!("error of round {completed}")),
            latencies,
            measured: Duration::from_secs(1),
            server_cpu: cpu.map(Duration::from_millis),
            client_cpu: Some(Duration::from_millis(completed)),
        }
    }

    #[test]
    fn rounds_add_up_and_a_cpu_time_needs_every_round() {
        let mut total = round(100, 0, Some(10));
        total.merge(round(300, 2, Some(30)));
        assert_eq!(total.completed, 400);
        assert_eq!(total.errors, 2);
        assert_eq!(total.first_error.as_deref(), Some("error of round 300"));
        assert_eq!(total.latencies.len(), 2);
        assert_eq!(total.measured, Duration::from_secs(2));
        assert!((total.throughput() - 200.0).abs() < 1e-9);
        assert_eq!(total.cpu_per_request(), Some(Duration::from_micros(100)));
        assert_eq!(total.client_cpu, Some(Duration::from_millis(400)));
        total.merge(round(100, 1, None));
        assert_eq!(total.server_cpu, None);
        assert_eq!(total.first_error.as_deref(), Some("error of round 300"));
    }

    #[test]
    fn success_needs_a_2xx_status_and_success_true() {
        assert!(is_success(
            201,
            br#"{"response":{"uid":"","success":true}}"#
        ));
        assert!(!is_success(201, br#"{"response":{"success":false}}"#));
        assert!(!is_success(401, br#"{"success":true}"#));
        assert!(!is_success(200, b""));
    }
}
