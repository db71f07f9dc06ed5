//! Request limits over real TLS (`server::serve_with_options` with the webhook's router, as the
//! binary serves it): the documented body limit, slow clients (handshake, headers, body), silent connections, and the
//! connection cap. Idle keep-alive connections and the cap on a busy server are covered by the
//! `integration` binary (`tls.rs`); these add what it does not.

use std::time::{Duration, Instant};

use dns01_webhook::server::ServeOptions;
use dns01_webhook::{DEFAULT_BODY_LIMIT, router};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// A valid Present payload padded with trailing spaces to exactly `len` bytes.
fn padded_payload(len: usize) -> Vec<u8> {
    let p = payload(
        "Present",
        "example.com",
        "_acme-challenge.example.com.",
        "team-a",
        Value::Null,
    );
    let mut body = serde_json::to_vec(&p).unwrap();
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

/// Reads until the peer closes the connection; returns what was read and when it closed
/// (`None`: still open after `limit`). A TLS connection closed without close_notify counts as
/// closed.
async fn read_until_closed(
    stream: &mut (impl AsyncRead + Unpin),
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
async fn a_body_one_byte_over_the_documented_1_mib_limit_gets_413_over_tls_and_one_at_it_is_served()
{
    assert_eq!(DEFAULT_BODY_LIMIT, 1024 * 1024, "README documents 1 MiB");
    let server = TlsWebhook::start(
        router(memory_state(&["example.com"]).0),
        ServeOptions::default(),
    )
    .await;
    let client = server.https_client();

    let at_limit = client
        .post(server.url("memory"))
        .header("content-type", "application/json")
        .body(padded_payload(DEFAULT_BODY_LIMIT))
        .send()
        .await
        .unwrap();
    assert_eq!(at_limit.status().as_u16(), 201);
    let body: Value = at_limit.json().await.unwrap();
    assert_eq!(body["response"]["success"], true, "{body}");

    let over = client
        .post(server.url("memory"))
        .header("content-type", "application/json")
        .body(padded_payload(DEFAULT_BODY_LIMIT + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status().as_u16(), 413);
    let status: Value = over.json().await.unwrap();
    assert_eq!(status["kind"], "Status", "{status}");
    assert_eq!(status["reason"], "RequestEntityTooLarge", "{status}");
    assert_eq!(status["code"], 413, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("1048576 bytes"), "{message}");
}

#[tokio::test]
async fn a_chunked_body_without_a_length_gets_413_once_it_passes_the_limit() {
    let mut state = memory_state(&["example.com"]).0;
    state.body_limit = 64 * 1024;
    let server = TlsWebhook::start(router(state), ServeOptions::default()).await;
    let stream = server.connect().await.unwrap();
    let (mut reader, mut writer) = tokio::io::split(stream);
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n",
        solver_path("memory")
    );
    // 16 MiB offered in 64 KiB chunks; the server must answer long before it has them all.
    let sender = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0usize;
        for _ in 0..256 {
            writer
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            writer.write_all(&chunk).await?;
            writer.write_all(b"\r\n").await?;
            sent += chunk.len();
        }
        writer.write_all(b"0\r\n\r\n").await?;
        Ok::<usize, std::io::Error>(sent)
    });
    let (answer, _) = read_until_closed(&mut reader, Duration::from_secs(10)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("RequestEntityTooLarge"), "{answer}");
    // The writer either failed (the server closed) or finished; it never blocks the answer.
    let _ = tokio::time::timeout(Duration::from_secs(10), sender).await;
}

#[tokio::test]
async fn a_client_that_stalls_halfway_through_its_headers_is_disconnected_after_the_header_read_timeout()
 {
    let options = ServeOptions {
        header_read_timeout: Duration::from_millis(500),
        ..ServeOptions::default()
    };
    let server = TlsWebhook::start(router(memory_state(&["example.com"]).0), options).await;
    let mut stream = server.connect().await.unwrap();
    let started = Instant::now();
    stream
        .write_all(
            format!(
                "POST {} HTTP/1.1\r\nhost: localhost\r\ncontent-ty",
                solver_path("memory")
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream.flush().await.unwrap();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let closed = closed.expect("a stalled request header kept the connection open");
    let after = closed - started;
    assert!(
        after >= Duration::from_millis(400),
        "closed after {after:?}"
    );
    assert!(after < Duration::from_secs(3), "closed after {after:?}");
}

#[tokio::test]
async fn a_client_that_stalls_in_the_middle_of_its_body_gets_400_and_is_disconnected_after_the_body_read_timeout()
 {
    let options = ServeOptions {
        body_read_timeout: Some(Duration::from_millis(500)),
        ..ServeOptions::default()
    };
    let server = TlsWebhook::start(router(memory_state(&["example.com"]).0), options).await;
    let mut stream = server.connect().await.unwrap();
    let started = Instant::now();
    stream
        .write_all(
            format!(
                "POST {} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
                 content-length: 1000\r\n\r\n{{\"request\":",
                solver_path("memory")
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream.flush().await.unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(8)).await;
    let closed = closed.expect("a stalled request body kept the connection open");
    let after = closed - started;
    assert!(
        after >= Duration::from_millis(400),
        "closed after {after:?}"
    );
    assert!(after < Duration::from_secs(3), "closed after {after:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("not received within"), "{answer}");
}

#[tokio::test]
async fn a_client_that_stalls_in_the_tls_handshake_is_disconnected_and_frees_its_connection_slot() {
    let options = ServeOptions {
        max_connections: 1,
        handshake_timeout: Duration::from_millis(500),
        ..ServeOptions::default()
    };
    let server = TlsWebhook::start(router(memory_state(&["example.com"]).0), options).await;
    // Takes the only slot and never says hello.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let waiting = tokio::spawn({
        let client = server.https_client();
        let url = format!("https://localhost:{}/healthz", server.addr.port());
        async move {
            let answer = client.get(url).send().await.unwrap();
            (answer.status().as_u16(), Instant::now())
        }
    });
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    let closed =
        closed.expect("a silent TCP client kept its connection past the handshake timeout");
    assert!(closed - started < Duration::from_secs(3));
    let (status, served) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the next client was never served")
        .unwrap();
    assert_eq!(status, 200);
    // It had to wait for the slot: the cap held while the silent client had it.
    assert!(
        served - started >= Duration::from_millis(250),
        "served after {:?}",
        served - started
    );
}

#[tokio::test]
async fn a_connection_that_never_sends_a_request_is_closed_after_the_idle_timeout() {
    let options = ServeOptions {
        idle_timeout: Duration::from_millis(400),
        header_read_timeout: Duration::from_secs(30),
        ..ServeOptions::default()
    };
    let server = TlsWebhook::start(router(memory_state(&["example.com"]).0), options).await;
    let mut stream = server.connect().await.unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(6)).await;
    let closed = closed.expect("a silent TLS connection stayed open");
    let after = closed - started;
    assert!(
        after >= Duration::from_millis(300),
        "closed after {after:?}"
    );
    assert!(after < Duration::from_secs(4), "closed after {after:?}");
}

#[tokio::test]
async fn clients_beyond_the_cap_are_served_once_idle_connections_time_out() {
    let options = ServeOptions {
        max_connections: 2,
        idle_timeout: Duration::from_millis(400),
        ..ServeOptions::default()
    };
    let server = TlsWebhook::start(router(memory_state(&["example.com"]).0), options).await;
    let _first = server.connect().await.unwrap();
    let _second = server.connect().await.unwrap();
    let started = Instant::now();
    let third = tokio::time::timeout(Duration::from_secs(5), server.connect())
        .await
        .expect("the third client was never served")
        .unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(200), "waited {waited:?}");
    drop(third);
}
