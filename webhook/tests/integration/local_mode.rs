//! Local mode in-process on ephemeral ports: the printed curl (as reqwest) presents a
//! challenge, and the DNS responder (and `dig`, when installed) shows it.

use std::net::SocketAddr;
use std::time::Duration;

use dns01_webhook::dns::{parse_txt_answer, txt_query};
use dns01_webhook::local::{self, EXAMPLE_KEY, LocalError, LocalOptions};
use hickory_proto::op::ResponseCode;

fn options() -> LocalOptions {
    LocalOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        dns_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..LocalOptions::default()
    }
}

async fn query(dns: SocketAddr, name: &str) -> (ResponseCode, Vec<String>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&txt_query(4242, name).unwrap(), dns)
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    parse_txt_answer(&buf[..len]).unwrap()
}

/// Runs the printed `dig` (async: the responder runs on this test's runtime).
async fn dig(server: &local::LocalServer) -> Option<String> {
    if !std::path::Path::new("/usr/bin/dig").exists() {
        return None;
    }
    let words: Vec<String> = server.dig().split_whitespace().map(str::to_owned).collect();
    let out = tokio::process::Command::new("/usr/bin/dig")
        .args(&words[1..])
        .output()
        .await
        .unwrap();
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[tokio::test]
async fn the_printed_curl_presents_a_challenge_that_dns_then_answers() {
    let server = local::start(options()).await.unwrap();
    let text = server.instructions();
    assert!(text.contains("curl -sk"), "{text}");
    assert!(text.contains(&server.dig()), "{text}");

    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(server.certificate_pem.as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let present: serde_json::Value = client
        .post(server.challenge_url())
        .json(&server.example_payload("Present"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(present["response"]["success"], true, "{present}");

    let name = server.example_name.to_string();
    let (code, values) = query(server.dns_addr, &name).await;
    assert_eq!(code, ResponseCode::NoError);
    assert_eq!(values, [EXAMPLE_KEY]);
    if let Some(out) = dig(&server).await {
        assert_eq!(out, format!("\"{EXAMPLE_KEY}\""));
    }

    let cleanup: serde_json::Value = client
        .post(server.challenge_url())
        .json(&server.example_payload("CleanUp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cleanup["response"]["success"], true, "{cleanup}");
    let (code, values) = query(server.dns_addr, &name).await;
    assert_eq!(code, ResponseCode::NXDomain);
    assert!(values.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn names_outside_the_local_zones_are_refused_by_dns() {
    let server = local::start(options()).await.unwrap();
    let (code, _) = query(server.dns_addr, "www.example.org.").await;
    assert_eq!(code, ResponseCode::Refused);
    server.shutdown().await;
}

#[tokio::test]
async fn local_mode_refuses_a_non_loopback_address() {
    let mut opts = options();
    opts.listen = SocketAddr::from(([0, 0, 0, 0], 0));
    let err = local::start(opts).await.unwrap_err();
    assert!(matches!(err, LocalError::NotLoopback { .. }), "{err}");
    assert!(err.to_string().contains("0.0.0.0:0"), "{err}");
}
