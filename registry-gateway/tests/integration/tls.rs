//! The binary as it runs in production (`serve` over TLS through `dns01-server`): skopeo
//! through the gateway with a testkit CA, certificate reload, slow and oversized headers,
//! the metrics listener apart from the public one, graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dns01_testkit::pki::{TestCa, TestCert};
use dns01_testkit::registry::{OciLayout, Registry, RegistryConfig, layer_bytes};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Files, skopeo};

/// The gateway binary serving TLS on an ephemeral port, with its metrics listener.
struct Binary {
    child: Child,
    addr: SocketAddr,
    metrics: SocketAddr,
    files: Files,
    ca: TestCa,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `addr=` of the first log line containing `what`.
fn addr_in(line: &str) -> Option<SocketAddr> {
    let at = line.find("addr=")? + 5;
    line[at..].split_whitespace().next()?.parse().ok()
}

impl Binary {
    /// Starts `dns01-registry-gateway serve` with one anonymous route (`localhost` →
    /// `upstream`/proj-a), TLS from a fresh CA and `extra` flags.
    fn start(upstream: &str, extra: &[&str]) -> Self {
        let files = Files::new();
        let ca = TestCa::new("dns01 gateway test CA");
        let cert = ca.server_cert(&[]);
        let (cert_path, key_path) = (
            files.0.path().join("tls.crt"),
            files.0.path().join("tls.key"),
        );
        cert.write_pem_files(&cert_path, &key_path);
        std::fs::create_dir(files.0.path().join("certs.d")).unwrap();
        std::fs::write(files.0.path().join("certs.d/ca.crt"), ca.cert_pem()).unwrap();
        let config = files.write(
            "gateway.yaml",
            &format!(
                "routes: [{{name: local, host: localhost, upstream: '{upstream}', upstream_prefix: proj-a}}]\n"
            ),
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_dns01-registry-gateway"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"])
            .arg("--tls-cert-file")
            .arg(&cert_path)
            .arg("--tls-private-key-file")
            .arg(&key_path)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut addr, mut metrics) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(20);
        while addr.is_none() || metrics.is_none() {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("the gateway did not say where it listens");
            if line.contains("serving metrics") {
                metrics = addr_in(&line);
            } else if line.contains("serving") {
                assert!(line.contains("tls=true"), "{line}");
                addr = addr_in(&line);
            }
        }
        Self {
            child,
            addr: addr.unwrap(),
            metrics: metrics.unwrap(),
            files,
            ca,
        }
    }

    fn cert_dir(&self) -> String {
        self.files.0.path().join("certs.d").display().to_string()
    }

    /// A reqwest client trusting `ca`, for `https://localhost:<port>`.
    fn client(&self, ca: &TestCa) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
            .resolve("localhost", self.addr)
            .build()
            .unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// A TLS connection that accepts any server certificate, and the certificate it saw.
    async fn connect(
        &self,
    ) -> (
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        CertificateDer<'static>,
    ) {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.ca.cert_der().to_vec()))
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer))
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let seen = stream.get_ref().1.peer_certificates().unwrap()[0]
            .clone()
            .into_owned();
        (stream, seen)
    }

    /// Writes a certificate from another CA over the serving files.
    fn replace_certificate(&self) -> TestCert {
        let other = TestCa::new("another CA").server_cert(&[]);
        // Between the two writes the pair does not match: the old one stays until both load.
        other.write_pem_files(
            &self.files.0.path().join("tls.crt"),
            &self.files.0.path().join("tls.key"),
        );
        other
    }
}

/// A verifier that accepts any certificate (the test compares what it saw).
#[derive(Debug)]
struct AnyServer;

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Reads until the peer closes; when it closed (`None`: still open after `limit`).
async fn closed_within(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    limit: Duration,
) -> (Vec<u8>, Option<Instant>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (seen, None),
            Ok(Ok(0) | Err(_)) => return (seen, Some(Instant::now())),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn skopeo_copies_an_image_through_the_gateway_over_tls_trusting_only_the_test_ca() {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let gw = Binary::start(&registry.url(), &[]);
    let layout = OciLayout::new().unwrap();
    layout
        .image("v1", "linux/amd64", &[layer_bytes(300_000, 7)])
        .unwrap();
    let pushed = layout.digest("v1").unwrap();
    let image = format!("docker://localhost:{}/app:v1", gw.addr.port());
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path().to_str().unwrap();
    let cert_dir = gw.cert_dir();

    // Without the CA, skopeo refuses the certificate: TLS is really in the way.
    let (ok, out) = skopeo(&["--insecure-policy", "inspect", "--raw", &image]);
    assert!(!ok, "{out}");
    assert!(out.contains("certificate"), "{out}");

    let src = format!("oci:{}:v1", layout.path().display());
    let (ok, out) = skopeo(&[
        "--insecure-policy",
        "copy",
        "--tmpdir",
        tmp,
        "--dest-cert-dir",
        &cert_dir,
        &src,
        &image,
    ]);
    assert!(ok, "{out}");
    // Stored under the route's prefix upstream, with the same digest.
    let upstream = reqwest::Client::new()
        .get(format!("{}v2/proj-a/app/manifests/v1", registry.url()))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(upstream.headers()["docker-content-digest"], pushed.as_str());
    let out_dir = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:v1", out_dir.path().display());
    let (ok, out) = skopeo(&[
        "--insecure-policy",
        "copy",
        "--tmpdir",
        tmp,
        "--src-cert-dir",
        &cert_dir,
        &image,
        &dest,
    ]);
    assert!(ok, "{out}");
    let (ok, digest) = skopeo(&[
        "inspect",
        "--format",
        "{{.Digest}}",
        "--cert-dir",
        &cert_dir,
        &image,
    ]);
    assert!(ok, "{digest}");
    assert_eq!(digest.trim(), pushed);

    // Metrics are on their own listener, not on the public one.
    let client = gw.client(&gw.ca);
    let public = client.get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let metrics = reqwest::get(format!("http://{}/metrics", gw.metrics))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gateway_requests_total{route=\"local\",project=\"proj-a\",method=\"PUT\",status=\"201\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_certificate_replaced_on_disk_is_served_to_the_next_connection() {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let gw = Binary::start(&registry.url(), &[]);
    let (mut open, first) = gw.connect().await;
    let first_client = gw.client(&gw.ca);
    assert_eq!(
        first_client
            .get(gw.url("/v2/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let new = gw.replace_certificate();
    assert_ne!(first.as_ref(), new.cert_der.as_slice());
    // The resolver looks at the files at most once a second, during a handshake.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, seen) = gw.connect().await;
        if seen.as_ref() == new.cert_der.as_slice() {
            break;
        }
        assert_eq!(seen, first, "neither the old nor the new certificate");
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The connection opened before the change still works.
    open.write_all(b"GET /v2/ HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = closed_within(&mut open, Duration::from_secs(5)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_client_that_stalls_sending_its_headers_is_disconnected_after_the_header_read_timeout() {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let gw = Binary::start(&registry.url(), &["--header-read-timeout-seconds", "1"]);
    let (mut stream, _) = gw.connect().await;
    let started = Instant::now();
    stream
        .write_all(b"GET /v2/ HTTP/1.1\r\nhost: localhost\r\nuser-ag")
        .await
        .unwrap();
    stream.flush().await.unwrap();
    let (_, closed) = closed_within(&mut stream, Duration::from_secs(8)).await;
    let after = closed.expect("a stalled request header kept the connection open") - started;
    assert!(
        after >= Duration::from_millis(900),
        "closed after {after:?}"
    );
    assert!(after < Duration::from_secs(4), "closed after {after:?}");

    // A silent TCP client (no TLS hello) is dropped by the same deadline.
    let mut silent = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let started = Instant::now();
    let (_, closed) = closed_within(&mut silent, Duration::from_secs(8)).await;
    let after = closed.expect("a silent client kept its connection") - started;
    assert!(after < Duration::from_secs(4), "closed after {after:?}");
}

#[tokio::test]
async fn headers_over_the_limit_get_431_and_headers_under_it_are_served() {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let gw = Binary::start(&registry.url(), &["--max-header-bytes", "16384"]);
    let client = gw.client(&gw.ca);
    let under = client
        .get(gw.url("/v2/"))
        .header("x-padding", "a".repeat(8 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(under.status(), 200);
    let over = client
        .get(gw.url("/v2/"))
        .header("x-padding", "a".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 431);
}

/// Pushes `data` as a blob of `repo` straight into the registry; its digest.
async fn push_blob(registry: &Registry, repo: &str, data: Vec<u8>) -> String {
    let digest = format!("sha256:{}", sha256_hex_bytes(&data));
    let http = reqwest::Client::new();
    let started = http
        .post(format!("{}v2/{repo}/blobs/uploads/", registry.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let mut put = url::Url::parse(&registry.url())
        .unwrap()
        .join(&location)
        .unwrap();
    put.query_pairs_mut().append_pair("digest", &digest);
    let done = http.put(put).body(data).send().await.unwrap();
    assert_eq!(done.status(), 201);
    digest
}

fn sha256_hex_bytes(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn sigterm_lets_a_blob_pull_in_flight_finish_then_the_gateway_exits_cleanly() {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let blob = layer_bytes(32 << 20, 3);
    let digest = push_blob(&registry, "proj-a/big", blob.clone()).await;
    let mut gw = Binary::start(&registry.url(), &[]);
    let client = gw.client(&gw.ca);
    let mut response = client
        .get(gw.url(&format!("/v2/big/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut received = response.chunk().await.unwrap().unwrap().to_vec();
    assert!(received.len() < blob.len());
    let pid = gw.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    // New connections are refused soon after the signal...
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(gw.addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...while the pull in flight completes, whole.
    while let Some(chunk) = response.chunk().await.unwrap() {
        received.extend_from_slice(&chunk);
    }
    assert_eq!(received.len(), blob.len());
    assert_eq!(format!("sha256:{}", sha256_hex_bytes(&received)), digest);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = gw.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}
