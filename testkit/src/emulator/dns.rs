//! An authoritative DNS server (UDP and TCP on one port) answering from the emulator's state.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use super::Shared;
use super::state::{State, Zone};
use super::txt;

/// Largest UDP answer without EDNS.
const CLASSIC_UDP_LIMIT: usize = 512;
/// Payload size the server advertises in its own OPT record.
const SERVER_EDNS_PAYLOAD: u16 = 1232;
/// Longest CNAME chain followed inside our zones.
const MAX_CHASE: usize = 8;

/// Answers UDP queries until the task is aborted.
pub(crate) async fn serve_udp(socket: UdpSocket, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Some(reply) = handle(&shared, &buf[..len], true) else {
            continue;
        };
        let _ignored = socket.send_to(&reply, peer).await;
    }
}

/// Accepts TCP connections (2-byte length framing, several queries per connection) until the
/// task is aborted.
pub(crate) async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                conns.spawn(tcp_connection(stream, shared.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn tcp_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    loop {
        let mut len = [0u8; 2];
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut len)).await;
        let Ok(Ok(_)) = read else { return };
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut msg).await.is_err() {
            return;
        }
        let Some(reply) = handle(&shared, &msg, false) else {
            return;
        };
        let Ok(reply_len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&reply_len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

/// Answers one wire-format query; `None` when nothing sensible can be sent back.
pub(crate) fn handle(shared: &Shared, wire: &[u8], udp: bool) -> Option<Vec<u8>> {
    shared.dns_queries.fetch_add(1, Ordering::Relaxed);
    let Ok(request) = Message::from_vec(wire) else {
        // Answer FORMERR when at least a header could be read.
        if wire.len() < 12 {
            return None;
        }
        let id = u16::from_be_bytes([wire[0], wire[1]]);
        let msg = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
        return msg.to_vec().ok();
    };
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut response = {
        let state = shared.read();
        answer(&state, shared, &request)
    };
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(SERVER_EDNS_PAYLOAD);
        edns.set_version(0);
        response.set_edns(edns);
    }
    let bytes = response.to_vec().ok()?;
    let limit = if udp {
        request.edns.as_ref().map_or(CLASSIC_UDP_LIMIT, |e| {
            usize::from(e.max_payload()).max(CLASSIC_UDP_LIMIT)
        })
    } else {
        usize::from(u16::MAX)
    };
    if bytes.len() <= limit {
        return Some(bytes);
    }
    let mut truncated = response.truncate();
    truncated.metadata.id = response.metadata.id;
    truncated.to_vec().ok()
}

fn answer(state: &State, shared: &Shared, request: &Message) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.add_queries(request.queries.iter().cloned());
    if request.metadata.op_code != OpCode::Query {
        response.metadata.response_code = ResponseCode::NotImp;
        return response;
    }
    let [query] = request.queries.as_slice() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    if query.query_class() != DNSClass::IN && query.query_class() != DNSClass::ANY {
        response.metadata.response_code = ResponseCode::Refused;
        return response;
    }
    let qtype = query.query_type();
    let Some((zone, rel)) = state.find_zone(&query.name().to_ascii()) else {
        response.metadata.response_code = ResponseCode::Refused;
        return response;
    };
    response.metadata.authoritative = true;

    let mut owner = query.name().clone();
    let (mut zone, mut rel) = (zone, rel);
    for _ in 0..MAX_CHASE {
        let Some(z) = state.zones.get(&zone) else {
            break;
        };
        match lookup(z, &zone, &rel) {
            Lookup::NxDomain => {
                response.metadata.response_code = ResponseCode::NXDomain;
                response.add_authority(soa_record(state, shared, &zone));
                return response;
            }
            Lookup::Found(found_at) => {
                let cname = z.rrsets.get(&(found_at.clone(), "CNAME".to_string()));
                if let Some(target) = cname.and_then(|c| c.values.first())
                    && qtype != RecordType::CNAME
                    && qtype != RecordType::ANY
                {
                    let ttl = cname.map_or(300, |c| c.ttl);
                    let Some(target_name) = absolute(&zone, target) else {
                        return response;
                    };
                    response.add_answer(Record::from_rdata(
                        owner.clone(),
                        ttl,
                        RData::CNAME(CNAME(target_name.clone())),
                    ));
                    // Chase in-bailiwick targets; stop at names we do not serve.
                    let Some((next_zone, next_rel)) = state.find_zone(&target_name.to_ascii())
                    else {
                        return response;
                    };
                    owner = target_name;
                    zone = next_zone;
                    rel = next_rel;
                    continue;
                }
                let records = records_at(state, shared, z, &zone, &found_at, &owner, qtype);
                if records.is_empty() {
                    response.add_authority(soa_record(state, shared, &zone));
                } else {
                    response.add_answers(records);
                }
                return response;
            }
        }
    }
    response
}

enum Lookup {
    /// The name (or the wildcard that covers it) exists; holds the stored name to read.
    Found(String),
    NxDomain,
}

fn lookup(z: &Zone, _zone: &str, rel: &str) -> Lookup {
    if rel == "@" || z.rrsets.keys().any(|(n, _)| n == rel) {
        return Lookup::Found(rel.to_string());
    }
    let suffix = format!(".{rel}");
    if z.rrsets.keys().any(|(n, _)| n.ends_with(&suffix)) {
        // Empty non-terminal.
        return Lookup::Found(rel.to_string());
    }
    // Wildcard: the closest encloser's `*` child covers a name that does not exist.
    let mut encloser = rel;
    while let Some((_, parent)) = encloser.split_once('.') {
        encloser = parent;
        if encloser_exists(z, encloser) {
            let wildcard = format!("*.{encloser}");
            if z.rrsets.keys().any(|(n, _)| *n == wildcard) {
                return Lookup::Found(wildcard);
            }
            return Lookup::NxDomain;
        }
    }
    let wildcard = "*".to_string();
    if z.rrsets.keys().any(|(n, _)| *n == wildcard) {
        return Lookup::Found(wildcard);
    }
    Lookup::NxDomain
}

fn encloser_exists(z: &Zone, name: &str) -> bool {
    let suffix = format!(".{name}");
    z.rrsets
        .keys()
        .any(|(n, _)| n == name || n.ends_with(&suffix))
}

/// An absolute name for a stored target: with a trailing dot it is absolute, without one it
/// is relative to the zone (Gandi's convention).
fn absolute(zone: &str, target: &str) -> Option<Name> {
    let text = if target.ends_with('.') {
        target.to_string()
    } else if target == "@" {
        format!("{zone}.")
    } else {
        format!("{target}.{zone}.")
    };
    Name::from_ascii(text).ok()
}

fn records_at(
    state: &State,
    shared: &Shared,
    z: &Zone,
    zone: &str,
    rel: &str,
    owner: &Name,
    qtype: RecordType,
) -> Vec<Record> {
    let mut out = Vec::new();
    let wanted = |t: RecordType| qtype == RecordType::ANY || qtype == t;
    let is_apex = rel == "@";
    for ((n, t), rrset) in &z.rrsets {
        if n != rel {
            continue;
        }
        for value in &rrset.values {
            let data = match t.as_str() {
                "TXT" if wanted(RecordType::TXT) => {
                    let strings = txt::character_strings(value);
                    Some(RData::TXT(TXT::from_bytes(
                        strings.iter().map(Vec::as_slice).collect(),
                    )))
                }
                "A" if wanted(RecordType::A) => {
                    value.parse::<Ipv4Addr>().ok().map(|ip| RData::A(A(ip)))
                }
                "AAAA" if wanted(RecordType::AAAA) => value
                    .parse::<Ipv6Addr>()
                    .ok()
                    .map(|ip| RData::AAAA(AAAA(ip))),
                "CNAME" if wanted(RecordType::CNAME) => {
                    absolute(zone, value).map(|n| RData::CNAME(CNAME(n)))
                }
                "NS" if wanted(RecordType::NS) => absolute(zone, value).map(|n| RData::NS(NS(n))),
                _ => None,
            };
            if let Some(data) = data {
                out.push(Record::from_rdata(owner.clone(), rrset.ttl, data));
            }
        }
    }
    if is_apex {
        let has = |t: &str| z.rrsets.contains_key(&("@".to_string(), t.to_string()));
        if wanted(RecordType::SOA) {
            out.insert(0, soa_record(state, shared, zone).with_owner(owner));
        }
        if wanted(RecordType::NS)
            && !has("NS")
            && let Ok(ns) = Name::from_ascii(&shared.options.nameserver)
        {
            out.push(Record::from_rdata(owner.clone(), 10_800, RData::NS(NS(ns))));
        }
    }
    out
}

trait WithOwner {
    fn with_owner(self, owner: &Name) -> Self;
}

impl WithOwner for Record {
    fn with_owner(mut self, owner: &Name) -> Self {
        self.name = owner.clone();
        self
    }
}

fn soa_record(state: &State, shared: &Shared, zone: &str) -> Record {
    let o = &shared.options;
    let owner = Name::from_ascii(format!("{zone}.")).unwrap_or_else(|_| Name::root());
    let mname = Name::from_ascii(&o.nameserver).unwrap_or_else(|_| Name::root());
    let rname = Name::from_ascii(&o.hostmaster).unwrap_or_else(|_| Name::root());
    let minimum = o.soa_minimum;
    Record::from_rdata(
        owner,
        minimum,
        RData::SOA(SOA::new(
            mname,
            rname,
            state.serial,
            10_800,
            3_600,
            604_800,
            minimum,
        )),
    )
}
