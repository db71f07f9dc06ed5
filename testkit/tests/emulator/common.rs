//! Shared fixtures: a started emulator, an HTTP client and DNS queries over UDP and TCP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test fixtures: a failure here is a test failure"
)]

use std::net::SocketAddr;
use std::time::Duration;

use dns01_testkit::emulator::{Access, Emulator, EmulatorBuilder, Token};
use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Organisation owning `example.com`.
pub(crate) const ORG_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
/// Organisation owning `shared.net`, granted to the `pat-shared` token.
pub(crate) const ORG_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
/// Organisation nobody is granted.
pub(crate) const ORG_C: &str = "cccccccc-0000-4000-8000-00000000000c";

/// The write PAT of organisation A.
pub(crate) const PAT: &str = "pat-write-0123456789abcdef0123456789abcdef";

/// The usual test world: `example.com` and `second.example` in A, `shared.net` in B,
/// `private.org` in C, and tokens of every kind.
pub(crate) fn world() -> EmulatorBuilder {
    Emulator::builder()
        .zone_in_org("example.com", ORG_A)
        .zone_in_org("second.example", ORG_A)
        .zone_in_org("shared.net", ORG_B)
        .zone_in_org("private.org", ORG_C)
        .token(Token::pat(PAT).org(ORG_A))
        .token(Token::pat("pat-read").org(ORG_A).read_only())
        .token(Token::api_key("legacykey0123456789abcd").org(ORG_A))
        .token(Token::pat("pat-expired").org(ORG_A).expired())
        .token(Token::pat("pat-shared").org(ORG_A).shared_org(ORG_B))
        .token(
            Token::pat("pat-one-domain")
                .org(ORG_A)
                .domain("second.example", Access::Write),
        )
}

pub(crate) async fn start() -> Emulator {
    world().start().await.expect("emulator starts")
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

/// `GET {api}{path}` with the write PAT.
pub(crate) async fn get(emu: &Emulator, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", emu.api_url()))
        .bearer_auth(PAT)
        .send()
        .await
        .expect("request sent")
}

/// `{method} {api}{path}` with a JSON body and the write PAT.
pub(crate) async fn send_json(
    emu: &Emulator,
    method: reqwest::Method,
    path: &str,
    body: &str,
) -> reqwest::Response {
    client()
        .request(method, format!("{}{path}", emu.api_url()))
        .bearer_auth(PAT)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request sent")
}

/// Status and body text of a response.
pub(crate) async fn status_body(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body read"))
}

fn query_message(name: &str, rtype: RecordType, edns: Option<u16>) -> Message {
    let mut msg = Message::query();
    msg.add_query(Query::query(
        Name::from_ascii(name).expect("valid name"),
        rtype,
    ));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        msg.set_edns(e);
    }
    msg
}

/// One query over UDP (optionally with EDNS and a payload size).
pub(crate) async fn udp_query(
    addr: SocketAddr,
    name: &str,
    rtype: RecordType,
    edns: Option<u16>,
) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("udp bind");
    let msg = query_message(name, rtype, edns);
    sock.send_to(&msg.to_vec().expect("encode"), addr)
        .await
        .expect("send");
    let mut buf = vec![0u8; 65_535];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("answer in time")
        .expect("recv");
    let reply = Message::from_vec(&buf[..len]).expect("decode");
    assert_eq!(
        reply.metadata.id, msg.metadata.id,
        "reply id matches the query id"
    );
    reply
}

/// One query over TCP with 2-byte length framing.
pub(crate) async fn tcp_query(addr: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
    let wire = query_message(name, rtype, None).to_vec().expect("encode");
    let len = u16::try_from(wire.len()).expect("short query");
    stream
        .write_all(&len.to_be_bytes())
        .await
        .expect("write len");
    stream.write_all(&wire).await.expect("write msg");
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.expect("read len");
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.expect("read msg");
    Message::from_vec(&buf).expect("decode")
}

/// TXT answers as lists of character-strings.
pub(crate) fn txt_strings(msg: &Message) -> Vec<Vec<String>> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// TXT answers joined into their logical values.
pub(crate) fn txt_values(msg: &Message) -> Vec<String> {
    txt_strings(msg).into_iter().map(|s| s.concat()).collect()
}
