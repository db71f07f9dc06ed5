//! A tiny authoritative DNS responder (UDP) that answers TXT queries from an rrset store, so
//! that local mode can show a presented challenge with `dig`.
//!
//! It serves the zones it is given and nothing else: names outside them get `REFUSED`; a name
//! inside with no TXT rrset gets `NXDOMAIN` (`NOERROR` with no answer at the apex); TXT and
//! `ANY` queries get the values, each split into 255-byte character-strings. It does no
//! recursion, no TCP, no DNSSEC, and is meant for loopback use.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

use dns01_core::Fqdn;
use dns01_core::memory::MemoryStore;

/// A boxed error of the wire helpers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Largest UDP answer without EDNS.
const CLASSIC_UDP_LIMIT: usize = 512;
/// Largest UDP answer we send with EDNS.
const EDNS_UDP_LIMIT: u16 = 1232;

/// Answers DNS queries for the zones of a memory store, from its contents. Reading does not
/// count as a store call.
#[derive(Debug, Clone)]
pub struct DnsResponder {
    store: Arc<MemoryStore>,
}

impl DnsResponder {
    /// A responder for the zones of `store`.
    pub fn new(store: Arc<MemoryStore>) -> Self {
        Self { store }
    }

    /// Answers queries on `socket` until the task is dropped or aborted.
    pub async fn serve(self, socket: UdpSocket) {
        let mut buf = vec![0u8; 4096];
        loop {
            let (len, peer) = match socket.recv_from(&mut buf).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!(error = %e, "dns: receive failed");
                    continue;
                }
            };
            let Some(answer) = self.answer(&buf[..len]).await else {
                continue;
            };
            if let Err(e) = socket.send_to(&answer, peer).await {
                tracing::debug!(error = %e, %peer, "dns: send failed");
            }
        }
    }

    /// The wire answer to one wire query, or `None` when the query is too broken to answer.
    pub async fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        let Ok(request) = Message::from_vec(query) else {
            // Answer FORMERR when at least the id could be read.
            let id = u16::from_be_bytes([*query.first()?, *query.get(1)?]);
            return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
                .to_vec()
                .ok();
        };
        if request.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.add_queries(request.queries.iter().cloned());
        let limit = match &request.edns {
            Some(_) => {
                let mut edns = Edns::new();
                edns.set_max_payload(EDNS_UDP_LIMIT);
                response.set_edns(edns);
                usize::from(EDNS_UDP_LIMIT)
            }
            None => CLASSIC_UDP_LIMIT,
        };
        let code = if request.metadata.op_code != OpCode::Query {
            ResponseCode::NotImp
        } else if request.queries.len() != 1 {
            ResponseCode::FormErr
        } else {
            self.resolve(&request, &mut response)
        };
        response.metadata.response_code = code;
        let bytes = response.to_vec().ok()?;
        if bytes.len() > limit {
            return response.truncate().to_vec().ok();
        }
        Some(bytes)
    }

    fn resolve(&self, request: &Message, response: &mut Message) -> ResponseCode {
        let Some(query) = request.queries.first() else {
            return ResponseCode::FormErr;
        };
        let qname = query.name().clone();
        let Ok(name) = Fqdn::parse(&qname.to_ascii()) else {
            return ResponseCode::Refused;
        };
        let Some(zone) = self
            .store
            .zones()
            .iter()
            .filter(|z| name.is_in_zone(z))
            .max_by_key(|z| z.as_str().len())
        else {
            return ResponseCode::Refused;
        };
        response.metadata.authoritative = true;
        let Ok(relative) = name.relative_to(zone) else {
            return ResponseCode::Refused;
        };
        let Some(rrset) = self.store.rrset(zone, &relative) else {
            return if relative.is_apex() {
                ResponseCode::NoError
            } else {
                ResponseCode::NXDomain
            };
        };
        if matches!(query.query_type(), RecordType::TXT | RecordType::ANY) {
            for value in &rrset.values {
                let chunks = chunk(value.as_str());
                let txt = TXT::from_bytes(chunks.iter().map(Vec::as_slice).collect());
                response.add_answer(Record::from_rdata(
                    qname.clone(),
                    rrset.ttl,
                    RData::TXT(txt),
                ));
            }
        }
        ResponseCode::NoError
    }
}

/// Splits a value into character-strings of at most 255 bytes (never an empty list).
fn chunk(value: &str) -> Vec<Vec<u8>> {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return vec![Vec::new()];
    }
    bytes.chunks(255).map(<[u8]>::to_vec).collect()
}

/// Binds a UDP socket and serves `responder` on it in a background task; returns the bound
/// address and the task.
pub async fn spawn(
    responder: DnsResponder,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let socket = UdpSocket::bind(addr).await?;
    let local = socket.local_addr()?;
    Ok((local, tokio::spawn(responder.serve(socket))))
}

/// Builds a TXT query for `name` (for tests and tools).
pub fn txt_query(id: u16, name: &str) -> Result<Vec<u8>, BoxError> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(hickory_proto::op::Query::query(
        Name::from_ascii(name)?,
        RecordType::TXT,
    ));
    Ok(m.to_vec()?)
}

/// The response code and the TXT values (character-strings joined) of a wire answer.
pub fn parse_txt_answer(answer: &[u8]) -> Result<(ResponseCode, Vec<String>), BoxError> {
    let m = Message::from_vec(answer)?;
    let values = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect();
    Ok((m.metadata.response_code, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_split_into_255_byte_strings() {
        let v = "x".repeat(600);
        let c = chunk(&v);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), [255, 255, 90]);
    }
}
