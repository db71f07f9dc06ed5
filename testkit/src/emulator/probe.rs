//! A small DNS client for tests: one query over UDP or TCP, and `dig` when it is installed.
//!
//! Crates that test against the emulator use this instead of depending on a DNS library.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How to send a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One datagram, with EDNS advertising 1232 bytes.
    Udp,
    /// A TCP connection with 2-byte length framing.
    Tcp,
}

/// One answer record, flattened for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRecord {
    /// Owner name, absolute, as answered.
    pub name: String,
    /// Record type (`TXT`, `CNAME`, …).
    pub rtype: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// For TXT: the character-strings; for other types: one string, the presentation form.
    pub strings: Vec<String>,
}

/// The parts of a DNS response tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Response code as in `dig` (`NOERROR`, `NXDOMAIN`, `REFUSED`, …).
    pub rcode: String,
    /// AA flag.
    pub authoritative: bool,
    /// TC flag.
    pub truncated: bool,
    /// Answer section.
    pub answers: Vec<AnswerRecord>,
    /// Types in the authority section (e.g. `["SOA"]` for NXDOMAIN/NODATA).
    pub authority_types: Vec<String>,
}

impl Answer {
    /// TXT values in the answer section, each record's character-strings joined.
    pub fn txt_values(&self) -> Vec<String> {
        self.answers
            .iter()
            .filter(|r| r.rtype == "TXT")
            .map(|r| r.strings.concat())
            .collect()
    }

    /// Whether the response is NXDOMAIN.
    pub fn is_nxdomain(&self) -> bool {
        self.rcode == "NXDOMAIN"
    }
}

fn rcode_text(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".to_string(),
        ResponseCode::FormErr => "FORMERR".to_string(),
        ResponseCode::ServFail => "SERVFAIL".to_string(),
        ResponseCode::NXDomain => "NXDOMAIN".to_string(),
        ResponseCode::NotImp => "NOTIMP".to_string(),
        ResponseCode::Refused => "REFUSED".to_string(),
        other => format!("{other:?}").to_uppercase(),
    }
}

/// Sends one query for `name` (absolute or not; a trailing dot is added) and type `rtype`
/// (`"TXT"`, `"A"`, …) to `server`, waiting up to 5 seconds.
///
/// # Errors
/// On an unknown type, an invalid name, a network failure or a timeout.
pub async fn query(
    server: SocketAddr,
    name: &str,
    rtype: &str,
    transport: Transport,
) -> anyhow::Result<Answer> {
    let rtype: RecordType = rtype
        .to_ascii_uppercase()
        .parse()
        .with_context(|| format!("unknown record type {rtype}"))?;
    let absolute = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    let qname = Name::from_ascii(&absolute).with_context(|| format!("invalid name {name}"))?;
    let mut msg = Message::query();
    msg.add_query(Query::query(qname, rtype));
    let reply = match transport {
        Transport::Udp => {
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            msg.set_edns(edns);
            tokio::time::timeout(Duration::from_secs(5), udp_exchange(server, &msg.to_vec()?)).await
        }
        Transport::Tcp => {
            tokio::time::timeout(Duration::from_secs(5), tcp_exchange(server, &msg.to_vec()?)).await
        }
    }
    .context("DNS query timed out")??;
    if reply.metadata.id != msg.metadata.id {
        bail!(
            "reply id {} does not match query id {}",
            reply.metadata.id,
            msg.metadata.id
        );
    }
    Ok(Answer {
        rcode: rcode_text(reply.metadata.response_code),
        authoritative: reply.metadata.authoritative,
        truncated: reply.metadata.truncation,
        answers: reply
            .answers
            .iter()
            .map(|r| AnswerRecord {
                name: r.name.to_ascii(),
                rtype: r.record_type().to_string(),
                ttl: r.ttl,
                strings: match &r.data {
                    RData::TXT(t) => t
                        .txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                    other => vec![other.to_string()],
                },
            })
            .collect(),
        authority_types: reply
            .authorities
            .iter()
            .map(|r| r.record_type().to_string())
            .collect(),
    })
}

/// Sends one query over UDP and reads one reply. Binds the unspecified address of the
/// server's family, so the same client reaches loopback test servers and real nameservers.
pub(crate) async fn udp_exchange(server: SocketAddr, wire: &[u8]) -> anyhow::Result<Message> {
    let bind: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    sock.send(wire).await?;
    let mut buf = vec![0u8; 65_535];
    let len = sock.recv(&mut buf).await?;
    Ok(Message::from_vec(&buf[..len])?)
}

/// Sends one query over TCP (two-byte length framing) and reads one reply.
pub(crate) async fn tcp_exchange(server: SocketAddr, wire: &[u8]) -> anyhow::Result<Message> {
    let mut stream = TcpStream::connect(server).await?;
    let mut framed = u16::try_from(wire.len())?.to_be_bytes().to_vec();
    framed.extend_from_slice(wire);
    stream.write_all(&framed).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await?;
    Ok(Message::from_vec(&buf)?)
}

/// Where `dig` is expected.
pub const DIG: &str = "/usr/bin/dig";

/// Runs `dig @IP -p PORT <args…>` and returns its standard output, or `Ok(None)` when `dig`
/// is not installed (after printing a notice) so the caller can skip.
///
/// # Errors
/// When `dig` is missing and the `CI` environment variable is set (CI must have it), or when
/// it cannot be run.
pub async fn dig(server: SocketAddr, args: &[&str]) -> anyhow::Result<Option<String>> {
    if !Path::new(DIG).exists() {
        if std::env::var_os("CI").is_some() {
            bail!("{DIG} is required when CI is set (install dnsutils / bind-utils)");
        }
        println!("notice: {DIG} not found, skipping the dig check");
        return Ok(None);
    }
    let out = tokio::process::Command::new(DIG)
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(args)
        .output()
        .await
        .context("running dig")?;
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}
