//! The load client against the real `bench-baseline` binary: readiness, counting, latencies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dns01_bench::load::{self, Call, Endpoint, Identity, Spec};
use dns01_bench::pki::RunPki;

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_client_counts_every_answer_of_the_baseline() {
    let pki = RunPki::generate().unwrap();
    let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_bench-baseline"))
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--tls-cert-file")
        .arg(pki.cert_file())
        .arg("--tls-private-key-file")
        .arg(pki.key_file())
        .arg("--client-ca-file")
        .arg(pki.front_proxy_ca_file())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Kill(child);
    let endpoint = Endpoint {
        addr,
        tls: pki.client_config().unwrap(),
    };
    let ready = load::wait_ready(&endpoint, started, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(ready > Duration::ZERO);

    let spec = Spec {
        concurrency: 4,
        warmup: Duration::from_millis(100),
        measure: Duration::from_millis(500),
        server_pid: Some(server.0.id()),
    };
    let identity = Identity {
        user: "u".into(),
        group: "g".into(),
    };
    let outcome = load::run(&endpoint, spec, &identity, |w| {
        vec![Call {
            path: format!("/apis/x/v1alpha1/w{w}"),
            body: Bytes::from_static(b"{}"),
        }]
    })
    .await
    .unwrap();
    assert_eq!(outcome.errors, 0, "{:?}", outcome.first_error);
    assert!(outcome.completed > 10, "{}", outcome.completed);
    assert_eq!(outcome.latencies.len() as u64, outcome.completed);
    assert!(outcome.cpu_per_request().is_some());
    let rps = outcome.throughput();
    assert!((rps - outcome.completed as f64 / 0.5).abs() < 1e-6);
    let sorted = outcome.latencies.sorted().unwrap();
    assert!(sorted.median() <= sorted.percentile(99.0));
    assert!(sorted.max() < Duration::from_millis(600));
    // Both processes worked during the measured time, and their CPU time was read.
    let (server_cpu, client_cpu) = (outcome.server_cpu, outcome.client_cpu);
    assert!(
        server_cpu.is_some_and(|c| c > Duration::ZERO),
        "{server_cpu:?}"
    );
    assert!(
        client_cpu.is_some_and(|c| c > Duration::ZERO),
        "{client_cpu:?}"
    );

    // The peak resident set of a live server is readable and at least its current one.
    let pid = server.0.id();
    let rss = dns01_bench::procfs::rss(pid).unwrap();
    let peak = dns01_bench::procfs::peak_rss(pid).unwrap();
    assert!(rss > 0 && peak >= rss);
    drop(server);
}

#[tokio::test]
async fn readiness_gives_up_at_its_timeout() {
    let pki = RunPki::generate().unwrap();
    let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = Endpoint {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        tls: pki.client_config().unwrap(),
    };
    let err = load::wait_ready(&endpoint, Instant::now(), Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did not answer /readyz"), "{err}");
}
