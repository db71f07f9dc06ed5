//! TLS serving: certificate hot reload, protocol versions, connection cap, graceful shutdown.
//! Also the TLS client helpers the auth tests use.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: panics are failures

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use dns01_testkit::pki::{TestCa, TestCert};
use dns01_webhook::server::{self, ServeOptions};
use dns01_webhook::tls::{self, ReloadingCertResolver};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::client::TlsStream;

/// A server started by [`start_server`]; shuts down when dropped.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    pub(crate) done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Signals shutdown and returns the serve task.
    pub(crate) fn shutdown(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.done.take().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `app` with `server::serve_with_options` on 127.0.0.1:0.
pub(crate) async fn start_server(
    config: Arc<rustls::ServerConfig>,
    app: Router,
    options: ServeOptions,
) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let done = tokio::spawn(server::serve_with_options(
        listener,
        config,
        app,
        async move {
            let _ = rx.await;
        },
        options,
    ));
    TestServer {
        addr,
        shutdown: Some(tx),
        done: Some(done),
    }
}

/// A rustls client config trusting `ca`, presenting `identity` if given, limited to
/// `versions`.
pub(crate) fn client_config(
    ca: &TestCa,
    identity: Option<&TestCert>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.cert_der().to_vec()))
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match identity {
        Some(cert) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(cert.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // A resumed session does not show the server's certificate again: always do a full
    // handshake so that each connection reports what the server serves now.
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// Opens a TLS connection to `addr` as `localhost`.
pub(crate) async fn connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// The serial number of the certificate the server presented on `stream`.
pub(crate) fn served_serial(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    let der = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    cert.tbs_certificate.raw_serial().to_vec()
}

/// An HTTP/1.1 connection over an established TLS stream.
pub(crate) struct Http1 {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl Http1 {
    pub(crate) async fn over(stream: TlsStream<TcpStream>) -> Self {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Self { sender }
    }

    /// GET `path`; returns status and body.
    pub(crate) async fn get(&mut self, path: &str) -> hyper::Result<(u16, String)> {
        self.sender.ready().await?;
        let request = http::Request::get(path)
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

fn hello_router() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(700)).await;
                "slow done"
            }),
        )
}

struct CertFiles {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

fn cert_files(cert: &TestCert) -> CertFiles {
    let dir = tempfile::tempdir().unwrap();
    let files = CertFiles {
        cert: dir.path().join("tls.crt"),
        key: dir.path().join("tls.key"),
        _dir: dir,
    };
    cert.write_pem_files(&files.cert, &files.key);
    files
}

/// Replaces a file atomically (rename), as a Secret volume or cert-manager's csi driver does.
fn replace_file(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

#[tokio::test]
async fn a_rotated_certificate_is_served_to_new_connections_while_open_connections_keep_working() {
    let ca = TestCa::new("serving ca");
    let first = ca.server_cert(&[]);
    let second = ca.server_cert(&[]);
    let files = cert_files(&first);
    let resolver = ReloadingCertResolver::with_check_interval(
        &files.cert,
        &files.key,
        Duration::from_millis(100),
    )
    .unwrap();
    let config = tls::server_config(resolver, true).unwrap();
    let server = start_server(config, hello_router(), ServeOptions::default()).await;
    let client = client_config(&ca, None, BOTH);

    let open = connect(server.addr, client.clone()).await.unwrap();
    assert_eq!(served_serial(&open), first.serial);
    let mut open = Http1::over(open).await;
    assert_eq!(open.get("/hello").await.unwrap(), (200, "hello".into()));

    replace_file(&files.cert, &second.cert_pem);
    replace_file(&files.key, &second.key_pem);
    tokio::time::sleep(Duration::from_millis(250)).await;

    let fresh = connect(server.addr, client.clone()).await.unwrap();
    assert_eq!(served_serial(&fresh), second.serial);
    assert_ne!(first.serial, second.serial);
    assert_eq!(open.get("/hello").await.unwrap(), (200, "hello".into()));
}

#[tokio::test]
async fn a_half_written_pair_keeps_the_previous_certificate_until_the_key_arrives() {
    let ca = TestCa::new("serving ca");
    let first = ca.server_cert(&[]);
    let second = ca.server_cert(&[]);
    let files = cert_files(&first);
    let resolver = ReloadingCertResolver::with_check_interval(
        &files.cert,
        &files.key,
        Duration::from_millis(50),
    )
    .unwrap();
    let config = tls::server_config(resolver.clone(), false).unwrap();
    let server = start_server(config, hello_router(), ServeOptions::default()).await;
    let client = client_config(&ca, None, BOTH);

    // New certificate, old key: a mismatched pair must not be served.
    replace_file(&files.cert, &second.cert_pem);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let during = connect(server.addr, client.clone()).await.unwrap();
    assert_eq!(served_serial(&during), first.serial);
    assert!(resolver.reload_if_changed().is_ok_and(|changed| !changed));

    replace_file(&files.key, &second.key_pem);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let after = connect(server.addr, client).await.unwrap();
    assert_eq!(served_serial(&after), second.serial);
}

#[tokio::test]
async fn a_missing_key_file_is_an_error_at_startup() {
    let ca = TestCa::new("serving ca");
    let files = cert_files(&ca.server_cert(&[]));
    let err =
        ReloadingCertResolver::new(&files.cert, files.key.with_extension("missing")).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

/// A minimal TLS 1.1 ClientHello (no extensions), as an old client would send.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // cipher suites
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    let mut handshake = vec![0x01, 0x00, 0x00, body.len() as u8];
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x02, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test]
async fn a_tls_1_1_client_is_refused_with_an_alert_and_1_2_and_1_3_are_accepted() {
    let ca = TestCa::new("serving ca");
    let files = cert_files(&ca.server_cert(&[]));
    let config = tls::server_config(
        ReloadingCertResolver::new(&files.cert, &files.key).unwrap(),
        true,
    )
    .unwrap();
    let server = start_server(config, hello_router(), ServeOptions::default()).await;

    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&tls11_client_hello()).await.unwrap();
    let mut answer = [0u8; 7];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(n >= 1, "server closed without an alert");
    assert_eq!(
        answer[0], 0x15,
        "expected a TLS alert record, got {answer:?}"
    );
    if n == 7 {
        // level fatal, protocol_version(70) or handshake_failure(40)
        assert_eq!(answer[5], 2);
        assert!(matches!(answer[6], 70 | 40), "alert {}", answer[6]);
    }

    let tls12 = connect(
        server.addr,
        client_config(&ca, None, &[&rustls::version::TLS12]),
    )
    .await
    .unwrap();
    assert_eq!(
        tls12.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let tls13 = connect(
        server.addr,
        client_config(&ca, None, &[&rustls::version::TLS13]),
    )
    .await
    .unwrap();
    assert_eq!(
        tls13.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let ca = TestCa::new("serving ca");
    let files = cert_files(&ca.server_cert(&[]));
    let config = tls::server_config(
        ReloadingCertResolver::new(&files.cert, &files.key).unwrap(),
        false,
    )
    .unwrap();
    let options = ServeOptions {
        max_connections: 1,
        ..ServeOptions::default()
    };
    let server = start_server(config, hello_router(), options).await;
    let client = client_config(&ca, None, BOTH);

    let first = connect(server.addr, client.clone()).await.unwrap();
    let second = tokio::spawn(connect(server.addr, client.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "second handshake completed beyond the cap"
    );
    drop(first);
    let second = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .unwrap()
        .unwrap();
    assert!(second.is_ok());
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_stops_accepting() {
    let ca = TestCa::new("serving ca");
    let files = cert_files(&ca.server_cert(&[]));
    let config = tls::server_config(
        ReloadingCertResolver::new(&files.cert, &files.key).unwrap(),
        false,
    )
    .unwrap();
    let mut server = start_server(config, hello_router(), ServeOptions::default()).await;
    let client = client_config(&ca, None, BOTH);

    let mut conn = Http1::over(connect(server.addr, client.clone()).await.unwrap()).await;
    let in_flight = tokio::spawn(async move { conn.get("/slow").await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let done = server.shutdown();

    let answer = in_flight.await.unwrap().unwrap();
    assert_eq!(answer, (200, "slow done".into()));
    tokio::time::timeout(Duration::from_secs(5), done)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(connect(server.addr, client).await.is_err());
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let ca = TestCa::new("serving ca");
    let files = cert_files(&ca.server_cert(&[]));
    let config = tls::server_config(
        ReloadingCertResolver::new(&files.cert, &files.key).unwrap(),
        false,
    )
    .unwrap();
    let options = ServeOptions {
        idle_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let server = start_server(config, hello_router(), options).await;
    let mut conn = Http1::over(
        connect(server.addr, client_config(&ca, None, BOTH))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(conn.get("/hello").await.unwrap().0, 200);
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert!(
        conn.get("/hello").await.is_err(),
        "idle connection still open"
    );
}
