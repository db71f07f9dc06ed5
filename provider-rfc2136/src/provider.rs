//! The provider: one RFC 2136 UPDATE per `present` (add one TXT RR) and per `cleanup` (delete
//! exactly that RR, class NONE). The server applies each update atomically, so other values
//! at the name are never read, rewritten or lost, and no per-name coordination is needed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use dns01_core::{Error, Fqdn, Provider, Result, TxtRecord, TxtValue, ZoneName};
use hickory_proto::op::{Message, Query, ResponseCode, update_message};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{Name, RData, RecordSet, RecordType};

use crate::config::Rfc2136Config;
use crate::error::Operation;
use crate::transport::{Transport, exchange};
use crate::tsig;

/// Longest character-string of a TXT record.
const MAX_STRING: usize = 255;
/// Zones remembered per name; the cache is emptied past this.
const MAX_CACHED_ZONES: usize = 1024;

/// Value-level DNS-01 records on a server that accepts RFC 2136 updates.
#[derive(Debug)]
pub struct Rfc2136Provider {
    config: Rfc2136Config,
    zones: Mutex<HashMap<Fqdn, ZoneName>>,
}

impl Rfc2136Provider {
    /// A provider with this configuration. Makes no request.
    pub fn new(config: Rfc2136Config) -> Self {
        Self {
            config,
            zones: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Rfc2136Config {
        &self.config
    }

    /// The zone holding `name`: the configured one, or the one whose SOA the server reports
    /// for `name` or its nearest parent. Asks the server at most once per label.
    pub async fn find_zone(&self, name: &Fqdn) -> Result<ZoneName> {
        if let Some(zone) = &self.config.zone {
            return Ok(zone.clone());
        }
        if let Some(zone) = self.cached_zone(name) {
            return Ok(zone);
        }
        let mut last = String::from("no answer");
        for candidate in name.ancestors() {
            let answer = self.ask_soa(&candidate).await?;
            let rcode = answer.metadata.response_code;
            let soa_owner = answer
                .answers
                .iter()
                .chain(answer.authorities.iter())
                .find(|r| r.record_type() == RecordType::SOA)
                .map(|r| r.name.to_lowercase().to_ascii());
            if let Some(owner) = soa_owner
                && let Ok(zone) = ZoneName::parse(&owner)
                && name.is_in_zone(&zone)
            {
                self.remember_zone(name, &zone);
                return Ok(zone);
            }
            last = format!("{rcode} for {candidate}");
        }
        Err(Error::zone_not_found(format!(
            "{} serves no zone that holds {name}: it gave no SOA for the name or any parent \
             (last answer: {last}); give the zone explicitly, or send updates to the zone's \
             primary server",
            self.config.server
        )))
    }

    fn cached_zone(&self, name: &Fqdn) -> Option<ZoneName> {
        self.zones.lock().ok()?.get(name).cloned()
    }

    fn remember_zone(&self, name: &Fqdn, zone: &ZoneName) {
        if let Ok(mut zones) = self.zones.lock() {
            if zones.len() >= MAX_CACHED_ZONES {
                zones.clear();
            }
            zones.insert(name.clone(), zone.clone());
        }
    }

    async fn ask_soa(&self, name: &Fqdn) -> Result<Message> {
        let qname = wire_name(name)?;
        self.config
            .retry
            .run(|_| {
                let qname = qname.clone();
                async move {
                    let mut query = Message::query();
                    query.metadata.recursion_desired = false;
                    query.add_query(Query::query(qname, RecordType::SOA));
                    let wire = query.to_vec().map_err(|e| {
                        Error::other(format!("encoding the SOA query for {name}: {e}"))
                    })?;
                    let bytes = exchange(
                        self.config.server,
                        &wire,
                        query.metadata.id,
                        self.config.transport,
                        self.config.timeout,
                    )
                    .await
                    .map_err(|e| {
                        Error::transient(format!(
                            "SOA query for {name} at {} got no answer",
                            self.config.server
                        ))
                        .with_source(e)
                    })?;
                    let answer = parse_answer(&bytes, query.metadata.id).map_err(|why| {
                        Error::transient(format!(
                            "SOA query for {name} at {}: {why}",
                            self.config.server
                        ))
                    })?;
                    if answer.metadata.response_code == ResponseCode::ServFail {
                        return Err(Error::transient(format!(
                            "SOA query for {name} at {} failed (SERVFAIL)",
                            self.config.server
                        )));
                    }
                    Ok(answer)
                }
            })
            .await
    }

    /// Sends one UPDATE made by `build` for `record`, retried by the policy.
    async fn update(
        &self,
        record: &TxtRecord,
        what: &'static str,
        build: fn(RecordSet, Name, bool) -> Message,
    ) -> Result<()> {
        let zone = match &record.zone {
            Some(zone) => zone.clone(),
            None => self.find_zone(&record.name).await?,
        };
        record.name.check_in_zone(&zone)?;
        let zone_text = zone.as_fqdn().to_absolute_string();
        let record_text = record.name.to_absolute_string();
        let op = Operation {
            what,
            server: self.config.server,
            zone: &zone_text,
            record: &record_text,
            key: self.config.key.as_ref(),
        };
        let zone_name = wire_name(zone.as_fqdn())?;
        let mut rrset = RecordSet::with_ttl(wire_name(&record.name)?, RecordType::TXT, record.ttl);
        rrset.add_rdata(RData::TXT(txt_rdata(&record.value)));

        self.config
            .retry
            .run(|_| {
                let mut message = build(rrset.clone(), zone_name.clone(), false);
                async move { self.send(&mut message, op).await }
            })
            .await?;
        tracing::debug!(
            server = %self.config.server,
            zone = %zone_text,
            record = %record_text,
            what,
            "RFC 2136 UPDATE applied"
        );
        Ok(())
    }

    async fn send(&self, message: &mut Message, op: Operation<'_>) -> Result<()> {
        let id = message.metadata.id;
        let now = unix_now();
        let (wire, request_mac) = match &self.config.key {
            Some(key) => {
                let (wire, mac) = key.sign(message, now).map_err(Error::other)?;
                (wire, Some(mac))
            }
            None => (
                message
                    .to_vec()
                    .map_err(|e| Error::other(format!("encoding the UPDATE: {e}")))?,
                None,
            ),
        };
        let bytes = exchange(
            self.config.server,
            &wire,
            id,
            self.config.transport,
            self.config.timeout,
        )
        .await
        .map_err(|e| op.unanswered(e))?;
        let answer = parse_answer(&bytes, id).map_err(|why| {
            Error::transient(format!(
                "UPDATE ({}) of {} in zone {} at {}: {why}",
                op.what, op.record, op.zone, op.server
            ))
        })?;
        op.check(answer.metadata.response_code, tsig::failure(&answer, now))?;
        if let (Some(key), Some(mac)) = (&self.config.key, &request_mac) {
            key.verify(&bytes, mac).map_err(|why| op.unverified(&why))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for Rfc2136Provider {
    async fn present(&self, record: &TxtRecord) -> Result<()> {
        self.update(record, "add TXT value", |rrset, zone, use_edns| {
            update_message::append(rrset, zone, false, use_edns)
        })
        .await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<()> {
        self.update(record, "delete TXT value", update_message::delete_by_rdata)
            .await
    }
}

/// A TXT value as RDATA: character-strings of at most 255 bytes.
pub(crate) fn txt_rdata(value: &TxtValue) -> TXT {
    TXT::from_bytes(value.as_str().as_bytes().chunks(MAX_STRING).collect())
}

fn wire_name(name: &Fqdn) -> Result<Name> {
    Name::from_ascii(name.to_absolute_string())
        .map_err(|e| Error::invalid_input(format!("{name} is not a usable DNS name: {e}")))
}

fn parse_answer(bytes: &[u8], id: u16) -> std::result::Result<Message, String> {
    let answer =
        Message::from_vec(bytes).map_err(|e| format!("the answer could not be parsed ({e})"))?;
    if answer.metadata.id != id {
        return Err(format!(
            "the answer's id {} is not the request's {id}",
            answer.metadata.id
        ));
    }
    Ok(answer)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Transport choice by name, for configuration files and solver configs: `udp` or `tcp`.
pub fn parse_transport(text: &str) -> std::result::Result<Transport, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "udp" => Ok(Transport::Udp),
        "tcp" => Ok(Transport::Tcp),
        _ => Err(format!("{text:?} is not a transport; use UDP or TCP")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A TXT record's character-strings, joined: the decoded value.
    fn decode_txt(txt: &TXT) -> String {
        let bytes: Vec<u8> = txt
            .txt_data
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn long_values_are_split_into_255_byte_strings_and_joined_back() {
        let long = TxtValue::new("a".repeat(600)).unwrap();
        let rdata = txt_rdata(&long);
        let lens: Vec<usize> = rdata.txt_data.iter().map(|s| s.len()).collect();
        assert_eq!(lens, [255, 255, 90]);
        assert_eq!(decode_txt(&rdata), long.as_str());
        let short = TxtValue::new("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ").unwrap();
        assert_eq!(txt_rdata(&short).txt_data.len(), 1);
    }

    #[test]
    fn transports_parse_by_name() {
        assert_eq!(parse_transport("TCP").unwrap(), Transport::Tcp);
        assert_eq!(parse_transport("udp").unwrap(), Transport::Udp);
        assert_eq!(parse_transport("").unwrap(), Transport::Udp);
        assert!(parse_transport("quic").unwrap_err().contains("UDP or TCP"));
    }
}
