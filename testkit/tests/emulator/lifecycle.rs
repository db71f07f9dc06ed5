//! Starting, stopping and the `gandi-emulator` binary.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{client, start};

#[tokio::test]
async fn shutdown_closes_the_http_and_dns_sockets() {
    let emu = start().await;
    let (http, dns) = (emu.http_addr(), emu.dns_addr());
    assert!(tokio::net::TcpStream::connect(http).await.is_ok());
    emu.shutdown().await;
    assert!(tokio::net::TcpStream::connect(http).await.is_err());
    assert!(tokio::net::TcpStream::connect(dns).await.is_err());
}

#[tokio::test]
async fn the_api_url_has_the_livedns_prefix_and_no_trailing_slash() {
    let emu = start().await;
    let url = emu.api_url();
    assert_eq!(url, format!("http://{}/v5/livedns", emu.http_addr()));
    assert!(!url.ends_with('/'));
    assert_eq!(emu.http_addr().ip(), emu.dns_addr().ip());
}

#[tokio::test]
async fn the_binary_prints_its_addresses_and_serves_the_configured_zone() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gandi-emulator"))
        .args([
            "--zone",
            "bin.example:org-x",
            "--token",
            "pat:bin-secret:org-x:write",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let read = async {
        let api = lines.next_line().await.unwrap().unwrap();
        let dns = lines.next_line().await.unwrap().unwrap();
        (api, dns)
    };
    let (api, dns) = tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .unwrap();
    let api = api.strip_prefix("api_url=").unwrap().to_string();
    assert!(dns.starts_with("dns_addr=127.0.0.1:"), "{dns}");
    let resp = client()
        .get(format!("{api}/domains/bin.example"))
        .bearer_auth("bin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
