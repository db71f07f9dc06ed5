//! `dns01-registry-janitor serve` on a real Distribution 2.8: runs on its schedule, shows
//! each run and the storage accounting on /metrics, and stops on SIGTERM, closing an open
//! window first.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dns01_registry::{Reference, Repository};
use dns01_registry_janitor::Writes;

use crate::support::{Served, faulty_registry_bin, served_with_images};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over HTTP/1.0: (status, body), or None when nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

fn serve(served: &Served, bin: &Path, port: u16, schedule: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dns01-registry-janitor"))
        .args(["serve", "--schedule", schedule, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--probe-timeout", "10s", "--collector-deadline", "60s"])
        .arg("--registry")
        .arg(served.registry.url())
        .arg("--state-dir")
        .arg(served.state.path())
        .arg("--registry-config")
        .arg(served.registry.config_path())
        .arg("--registry-bin")
        .arg(bin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn sigterm(child: &Child) {
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
}

/// Waits for the child to exit (20 s at most); its status and output.
fn wait_exit(mut child: Child) -> (Option<i32>, String) {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_on_its_schedule_shows_the_run_on_metrics_and_stops_on_sigterm() {
    let (served, _images) = served_with_images(None).await;
    // Garbage for the collector: proj-b/old's only manifest.
    let old = served.digest_of("proj-b/old", "v1").await;
    served
        .client
        .manifest_delete(
            &Repository::parse("proj-b/old").unwrap(),
            &Reference::Digest(old),
        )
        .await
        .unwrap();
    let port = free_port();
    let real = dns01_testkit::registry::binary("docker-registry").unwrap();
    let child = serve(&served, &real, port, "2s");

    let start = Instant::now();
    let metrics = loop {
        if let Some((200, body)) = get(port, "/metrics")
            && gauge(&body, "dns01_registry_janitor_runs_total") >= Some(1.0)
        {
            break body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no run on /metrics: {:?}",
            get(port, "/metrics")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(get(port, "/healthz").map(|r| r.0), Some(200));
    assert_eq!(
        gauge(&metrics, "dns01_registry_janitor_last_run_success"),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        gauge(&metrics, "dns01_registry_janitor_blobs_deleted") >= Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        gauge(&metrics, "dns01_registry_janitor_repositories_pruned"),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        gauge(&metrics, "dns01_registry_janitor_window_seconds") > Some(0.0),
        "{metrics}"
    );
    // Storage accounting, taken again after the run: proj-b/old is gone.
    assert!(
        gauge(
            &metrics,
            "dns01_registry_janitor_repository_tags{repository=\"proj-a/app\"}"
        ) == Some(2.0),
        "{metrics}"
    );
    assert!(
        gauge(
            &metrics,
            "dns01_registry_janitor_repository_unique_bytes{repository=\"proj-a/multi\"}"
        ) > Some(3000.0),
        "{metrics}"
    );
    assert!(!metrics.contains("proj-b/old"), "{metrics}");

    sigterm(&child);
    let (code, output) = wait_exit(child);
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(served.writes().await, Writes::Accepted, "{output}");
    assert!(!served.record_path().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sigtermed_mid_window_restores_read_write_before_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let hanging = faulty_registry_bin(dir.path(), "exec sleep 30");
    let (served, _images) = served_with_images(None).await;
    let port = free_port();
    let child = serve(&served, &hanging, port, "1s");
    let start = Instant::now();
    while !(served.record_path().exists()
        && matches!(served.probe().once().await, Ok(Writes::Refused)))
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the window never opened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        get(port, "/metrics").and_then(|(_, m)| gauge(&m, "dns01_registry_janitor_running")),
        Some(1.0)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&child);
    let (code, output) = wait_exit(child);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("interrupted by SIGTERM"), "{output}");
    assert_eq!(served.writes().await, Writes::Accepted, "{output}");
    assert!(!served.record_path().exists());
}
