//! The DNS checker: asks the zone's **authoritative** servers, each address separately, never a
//! caching resolver (a cache can hold an old negative answer for the SOA minimum TTL).
//!
//! 1. Find the zone (SOA walk from the hostname up) and its NS through a bootstrap resolver
//!    ([`Bootstrap`]), and the NS addresses.
//! 2. Ask every address, with recursion off and no cache, for each required record; report what
//!    each server answered and whether the servers disagree.
//! 3. Probe a random label under the hostname: a wildcard that answers there also answers at
//!    `_acme-challenge` when no explicit record exists, and shadows the delegation.
//! 4. Read CAA from the hostname up to the zone apex and evaluate it for the issuer's CA
//!    ([`crate::caa`]).
//! 5. At an apex, compare the address sets with the expected ones (stray AAAA, old addresses).
//!
//! The result is a [`CheckReport`]: per record, per server, and a list of [`Problem`]s with
//! the words a customer can act on, for the controller's status conditions.
//!
//! CAA is read only inside the customer's zone (the zone's servers cannot answer for its
//! parents), and not at a hostname that is a CNAME: there the CA follows the CNAME to the
//! platform's name, whose CAA is the platform's concern.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use dns01_core::{Fqdn, ZoneName};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType as DnsType};

use crate::caa::{self, CaaRecord, CaaRrset, CaaVerdict};
use crate::crd::{Purpose, RecordType, RequiredRecord};
use crate::error::{Error, Result};
use crate::records::{Requirement, is_apex};

/// How the checker finds the zone and its authoritative servers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bootstrap {
    /// The system's resolver (`/etc/resolv.conf`): production.
    System,
    /// A given resolver, e.g. `127.0.0.1:5353` in tests or a trusted recursive resolver.
    Resolver(SocketAddr),
    /// No discovery: the zone and its authoritative addresses are given (tests with several
    /// servers, split-horizon setups).
    Static {
        /// The zone the hostname is in.
        zone: ZoneName,
        /// Its authoritative servers.
        servers: Vec<SocketAddr>,
    },
}

/// What to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    /// The customer's hostname.
    pub hostname: Fqdn,
    /// The records it needs ([`crate::records::required_records`]).
    pub requirements: Vec<Requirement>,
    /// The issuer's CA domain for CAA (`letsencrypt.org`); `None` skips CAA.
    pub ca: Option<String>,
    /// Whether the certificate also covers `*.<hostname>` (CAA `issuewild`).
    pub wildcard: bool,
}

/// One authoritative server address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Server {
    /// Its NS name, when found through NS records.
    pub name: Option<Fqdn>,
    /// The address queried.
    pub addr: SocketAddr,
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{} ({})", name.as_str(), self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// What one server answered for one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The values at the name (sorted; empty when there is no such record).
    Values(Vec<String>),
    /// No usable answer (timeout, REFUSED, SERVFAIL...).
    Failed(String),
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Values(v) if v.is_empty() => f.write_str("no record"),
            Self::Values(v) => f.write_str(&v.join(", ")),
            Self::Failed(e) => write!(f, "no answer: {e}"),
        }
    }
}

/// One server's answer for a requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAnswer {
    /// The server.
    pub server: Server,
    /// What it answered (for A/AAAA/ALIAS rows: the whole address set of that type).
    pub answer: Answer,
}

/// One requirement, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCheck {
    /// The record the customer must create.
    pub requirement: Requirement,
    /// What each server answered.
    pub answers: Vec<ServerAnswer>,
    /// Whether every server answers it.
    pub found: bool,
    /// What is wrong and what to do, when not found.
    pub message: Option<String>,
}

/// What a problem is about, which decides the condition it shows in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    /// The `_acme-challenge` delegation (`DelegationVerified`).
    Delegation,
    /// The traffic records (`DNSConfigured`).
    Traffic,
    /// Whether the CA may issue (`CertificateReady`).
    Certificate,
}

/// The kinds of problems, each a CamelCase condition reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A required record is absent at every server.
    RecordNotFound,
    /// A required record has another value.
    RecordMismatch,
    /// The authoritative servers answer differently.
    ServersDisagree,
    /// A wildcard answers at `_acme-challenge` instead of an explicit record.
    WildcardShadow,
    /// CAA forbids the issuer's CA.
    CaaForbidden,
    /// A record the platform did not ask for beside the right ones (a stray AAAA).
    StrayRecord,
    /// An apex's addresses are not the target's.
    AddressMismatch,
    /// A server gave no usable answer.
    NameserverUnreachable,
}

impl ProblemKind {
    /// The condition reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::RecordNotFound => "RecordNotFound",
            Self::RecordMismatch => "RecordMismatch",
            Self::ServersDisagree => "NameserversDisagree",
            Self::WildcardShadow => "WildcardShadowsDelegation",
            Self::CaaForbidden => "CAAForbidsIssuer",
            Self::StrayRecord => "StrayRecord",
            Self::AddressMismatch => "AddressMismatch",
            Self::NameserverUnreachable => "NameserverUnreachable",
        }
    }
}

/// Something the customer must fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// Which condition it belongs to.
    pub area: Area,
    /// What is wrong and what to do.
    pub message: String,
}

/// Everything one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The customer's zone.
    pub zone: ZoneName,
    /// Its authoritative servers, as queried.
    pub servers: Vec<Server>,
    /// Nameserver addresses not asked, with the reason (no route from this host).
    pub skipped: Skipped,
    /// Each requirement, in the order given.
    pub records: Vec<RecordCheck>,
    /// The problems, in the order found: record problems first.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// Whether nothing is left to fix.
    pub fn all_met(&self) -> bool {
        self.problems.is_empty() && self.records.iter().all(|r| r.found)
    }

    /// The problems of one area.
    pub fn problems_in(&self, area: Area) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(move |p| p.area == area)
    }

    /// The `status.requiredRecords` of a CustomDomain.
    pub fn required_records(&self) -> Vec<RequiredRecord> {
        self.records
            .iter()
            .map(|r| RequiredRecord {
                name: r.requirement.name.to_absolute_string(),
                record_type: r.requirement.record_type,
                value: r.requirement.value.clone(),
                purpose: r.requirement.purpose,
                found: r.found,
                message: r.message.clone(),
            })
            .collect()
    }
}

/// Nameserver addresses left out of a check, each with the reason.
pub type Skipped = Vec<(Server, String)>;

/// The checker. Cheap to build; holds no connection between checks.
#[derive(Debug, Clone)]
pub struct Checker {
    bootstrap: Bootstrap,
    nameserver_port: u16,
    timeout: Duration,
    alias_targets: BTreeMap<Fqdn, Vec<IpAddr>>,
}

impl Checker {
    /// A checker that finds zones through `bootstrap` and asks nameservers on port 53.
    pub fn new(bootstrap: Bootstrap) -> Self {
        Self {
            bootstrap,
            nameserver_port: 53,
            timeout: Duration::from_secs(3),
            alias_targets: BTreeMap::new(),
        }
    }

    /// The port authoritative servers found through NS records are asked on (53; tests use
    /// another). [`Bootstrap::Static`] addresses carry their own port.
    #[must_use]
    pub fn nameserver_port(mut self, port: u16) -> Self {
        self.nameserver_port = port;
        self
    }

    /// How long one query may take (3 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The addresses of an ALIAS target, instead of resolving it through the bootstrap resolver
    /// (the controller may know its own edge's addresses; tests with a static bootstrap).
    #[must_use]
    pub fn alias_target(mut self, name: Fqdn, addresses: Vec<IpAddr>) -> Self {
        self.alias_targets.insert(name, addresses);
        self
    }

    /// Checks `request` at the zone's authoritative servers.
    ///
    /// # Errors
    /// [`Error::ZoneNotFound`], [`Error::NoNameservers`] or [`Error::Lookup`] when the zone or
    /// its servers cannot be found. What the servers answer, including failures, is in the
    /// report, not an error.
    pub async fn check(&self, request: &CheckRequest) -> Result<CheckReport> {
        let (zone, servers, skipped) = self.discover(&request.hostname).await?;
        let resolvers: Vec<(Server, TokioResolver)> = servers
            .iter()
            .map(|s| Ok((s.clone(), authoritative_resolver(s.addr, self.timeout)?)))
            .collect::<Result<_>>()?;
        let mut run = Run {
            resolvers: &resolvers,
            problems: Vec::new(),
            unreachable: BTreeMap::new(),
        };
        let mut records = Vec::new();
        // A/AAAA rows at one name share one query per server and type.
        let mut address_sets: BTreeMap<(Fqdn, DnsType), Vec<ServerAnswer>> = BTreeMap::new();
        for requirement in &request.requirements {
            let check = match requirement.record_type {
                RecordType::Cname => run.check_cname(requirement).await,
                RecordType::A | RecordType::Aaaa => {
                    let t = dns_type(requirement.record_type);
                    let key = (requirement.name.clone(), t);
                    let answers = match address_sets.get(&key) {
                        Some(a) => a.clone(),
                        None => {
                            let a = run.ask_all(&requirement.name, t).await;
                            address_sets.insert(key, a.clone());
                            a
                        }
                    };
                    check_address_row(requirement, answers)
                }
                RecordType::Alias => {
                    let expected = self.alias_addresses(&requirement.value).await;
                    run.check_alias(requirement, expected).await
                }
            };
            if let Some(message) = &check.message {
                run.problems.push(Problem {
                    kind: row_kind(&check),
                    area: area_of(requirement.purpose),
                    message: message.clone(),
                });
            }
            records.push(check);
        }
        run.check_address_sets(request, &address_sets).await;
        run.check_wildcard(&zone, &records).await;
        if let Some(ca) = &request.ca {
            run.check_caa(request, &zone, &records, ca).await;
        }
        let mut problems = run.problems;
        problems.extend(run.unreachable.into_iter().map(|(server, error)| Problem {
            kind: ProblemKind::NameserverUnreachable,
            area: Area::Traffic,
            message: format!("nameserver {server} gave no usable answer ({error}); results from it are incomplete"),
        }));
        Ok(CheckReport {
            zone,
            servers,
            skipped,
            records,
            problems,
        })
    }

    async fn alias_addresses(&self, target: &str) -> Result<Vec<String>, String> {
        let Ok(name) = Fqdn::parse(target) else {
            return Err(format!("{target} is not a valid name"));
        };
        if let Some(known) = self.alias_targets.get(&name) {
            return Ok(sorted(known.iter().map(ToString::to_string)));
        }
        let resolver = match self.bootstrap_resolver() {
            Ok(Some(r)) => r,
            Ok(None) => return Err(format!("the addresses of {target} are not known")),
            Err(e) => return Err(e.to_string()),
        };
        // A and AAAA both: lookup_ip would stop at the IPv4 addresses when there are any.
        let mut addresses = Vec::new();
        for t in [DnsType::A, DnsType::AAAA] {
            match ask(&resolver, &name, t).await {
                Answer::Values(v) => addresses.extend(v),
                Answer::Failed(e) => return Err(format!("cannot resolve {target}: {e}")),
            }
        }
        if addresses.is_empty() {
            return Err(format!("{target} has no addresses"));
        }
        Ok(sorted(addresses))
    }

    fn bootstrap_resolver(&self) -> Result<Option<TokioResolver>> {
        let lookup_error = |source| Error::Lookup {
            what: "the bootstrap resolver's configuration".to_owned(),
            source,
        };
        let mut builder = match &self.bootstrap {
            Bootstrap::Static { .. } => return Ok(None),
            Bootstrap::System => TokioResolver::builder_tokio().map_err(lookup_error)?,
            Bootstrap::Resolver(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let ns = NameServerConfig::new(addr.ip(), true, vec![udp]);
                let cfg = ResolverConfig::from_parts(None, vec![], vec![ns]);
                TokioResolver::builder_with_config(cfg, TokioRuntimeProvider::default())
            }
        };
        let opts = builder.options_mut();
        opts.timeout = self.timeout;
        opts.attempts = 2;
        builder.build().map(Some).map_err(lookup_error)
    }

    /// The zone of `hostname` and its authoritative server addresses.
    async fn discover(&self, hostname: &Fqdn) -> Result<(ZoneName, Vec<Server>, Skipped)> {
        if let Bootstrap::Static { zone, servers } = &self.bootstrap {
            let servers: Vec<Server> = servers
                .iter()
                .map(|addr| Server {
                    name: None,
                    addr: *addr,
                })
                .collect();
            if servers.is_empty() {
                return Err(Error::NoNameservers {
                    zone: zone.as_str().to_owned(),
                });
            }
            return Ok((zone.clone(), servers, Vec::new()));
        }
        let Some(resolver) = self.bootstrap_resolver()? else {
            return Err(Error::ZoneNotFound {
                name: hostname.as_str().to_owned(),
            });
        };
        let zone = find_zone(&resolver, hostname).await?;
        let lookup_error = |what: String| move |source| Error::Lookup { what, source };
        let ns = resolver
            .lookup(zone.as_fqdn().to_absolute_string(), DnsType::NS)
            .await
            .map_err(lookup_error(format!("NS {zone}")))?;
        let mut names: Vec<Fqdn> = ns
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Fqdn::parse(&ns.0.to_ascii()).ok(),
                _ => None,
            })
            .collect();
        names.sort();
        names.dedup();
        let mut servers = BTreeSet::new();
        let mut skipped = Vec::new();
        for name in names {
            // Every address, IPv4 and IPv6 (lookup_ip would stop at the IPv4 ones); a
            // nameserver without an address is left out and the others are still asked.
            for t in [DnsType::A, DnsType::AAAA] {
                let Answer::Values(ips) = ask(&resolver, &name, t).await else {
                    continue;
                };
                for ip in ips.iter().filter_map(|ip| ip.parse::<IpAddr>().ok()) {
                    let server = Server {
                        name: Some(name.clone()),
                        addr: SocketAddr::new(ip, self.nameserver_port),
                    };
                    // An address this host has no route to (IPv6 on an IPv4-only runner) would
                    // only time out; it is listed as skipped instead of failing every check.
                    match routable(server.addr) {
                        Ok(()) => {
                            servers.insert(server);
                        }
                        Err(why) => skipped.push((server, why)),
                    }
                }
            }
        }
        if servers.is_empty() {
            return Err(Error::NoNameservers {
                zone: zone.as_str().to_owned(),
            });
        }
        Ok((zone, servers.into_iter().collect(), skipped))
    }
}

/// The first name from `hostname` up that has an SOA (or the SOA a negative answer names).
async fn find_zone(resolver: &TokioResolver, hostname: &Fqdn) -> Result<ZoneName> {
    let mut last_error = None;
    for candidate in hostname.ancestors() {
        match resolver
            .lookup(candidate.to_absolute_string(), DnsType::SOA)
            .await
        {
            Ok(lookup) => {
                let owns_soa = lookup
                    .answers()
                    .iter()
                    .any(|r| r.record_type() == DnsType::SOA && owner_is(r, &candidate));
                if owns_soa && let Ok(zone) = ZoneName::try_from(candidate) {
                    return Ok(zone);
                }
            }
            Err(NetError::Dns(DnsError::NoRecordsFound(no))) => {
                if let Some(soa) = &no.soa {
                    let name = soa.name.to_ascii();
                    if let Ok(zone) = ZoneName::parse(&name)
                        && hostname.is_in_zone(&zone)
                    {
                        return Ok(zone);
                    }
                }
            }
            Err(e) => last_error = Some((candidate, e)),
        }
    }
    Err(match last_error {
        Some((candidate, source)) => Error::Lookup {
            what: format!("SOA {candidate}"),
            source,
        },
        None => Error::ZoneNotFound {
            name: hostname.as_str().to_owned(),
        },
    })
}

/// Whether this host has a route to `addr` (a UDP connect sends nothing).
fn routable(addr: SocketAddr) -> Result<(), String> {
    let local = match addr {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    std::net::UdpSocket::bind(local)
        .and_then(|socket| socket.connect(addr))
        .map_err(|e| format!("no route from this host: {e}"))
}

/// A resolver that asks exactly one server, without recursion or cache.
fn authoritative_resolver(addr: SocketAddr, timeout: Duration) -> Result<TokioResolver> {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
    let cfg = ResolverConfig::from_parts(None, vec![], vec![ns]);
    let mut opts = ResolverOpts::default();
    opts.recursion_desired = false;
    opts.cache_size = 0;
    opts.timeout = timeout;
    opts.attempts = 2;
    opts.preserve_intermediates = true;
    TokioResolver::builder_with_config(cfg, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(|source| Error::Lookup {
            what: format!("a resolver for {addr}"),
            source,
        })
}

/// One check in progress.
struct Run<'a> {
    resolvers: &'a [(Server, TokioResolver)],
    problems: Vec<Problem>,
    /// Servers that failed a query (as shown), with their first error.
    unreachable: BTreeMap<String, String>,
}

impl Run<'_> {
    /// Asks every server for `name`/`t`.
    ///
    /// A server that failed once in this check is not asked again: it would cost a timeout per
    /// query, and its answers are reported incomplete anyway.
    async fn ask_all(&mut self, name: &Fqdn, t: DnsType) -> Vec<ServerAnswer> {
        let failed = &self.unreachable;
        let futures = self.resolvers.iter().map(|(server, resolver)| async move {
            let answer = match failed.get(&server.to_string()) {
                Some(e) => Answer::Failed(e.clone()),
                None => ask(resolver, name, t).await,
            };
            ServerAnswer {
                server: server.clone(),
                answer,
            }
        });
        let answers = futures::future::join_all(futures).await;
        for a in &answers {
            if let Answer::Failed(e) = &a.answer {
                self.note_failure(&a.server, e);
            }
        }
        answers
    }

    /// Remembers the first failure of each server.
    fn note_failure(&mut self, server: &Server, error: &str) {
        self.unreachable
            .entry(server.to_string())
            .or_insert_with(|| error.to_owned());
    }

    async fn check_cname(&mut self, requirement: &Requirement) -> RecordCheck {
        let answers = self.ask_all(&requirement.name, DnsType::CNAME).await;
        let expected = requirement.value.to_ascii_lowercase();
        let mut check = judge_exact(requirement, answers, &expected);
        let nothing_anywhere = check
            .answers
            .iter()
            .all(|a| a.answer == Answer::Values(Vec::new()));
        if nothing_anywhere {
            // No CNAME: say what is there instead (safe to ask, nothing to follow).
            let mut instead = Vec::new();
            for t in [DnsType::A, DnsType::AAAA, DnsType::TXT] {
                if let Some((_, resolver)) = self.resolvers.first()
                    && let Answer::Values(v) = ask(resolver, &requirement.name, t).await
                {
                    instead.extend(v.into_iter().map(|v| format!("{t} {v}")));
                }
            }
            let name = requirement.name.as_str();
            let mut message = format!(
                "`{name}` has no CNAME; create `{}`",
                requirement.zone_line()
            );
            if !instead.is_empty() {
                message = format!(
                    "`{name}` has no CNAME but {}; replace it with `{}`",
                    instead.join(", "),
                    requirement.zone_line()
                );
            }
            check.message = Some(message);
        }
        check
    }

    async fn check_alias(
        &mut self,
        requirement: &Requirement,
        expected: Result<Vec<String>, String>,
    ) -> RecordCheck {
        let a = self.ask_all(&requirement.name, DnsType::A).await;
        let aaaa = self.ask_all(&requirement.name, DnsType::AAAA).await;
        let answers: Vec<ServerAnswer> = a
            .into_iter()
            .zip(aaaa)
            .map(|(a, aaaa)| ServerAnswer {
                server: a.server,
                answer: match (a.answer, aaaa.answer) {
                    (Answer::Values(mut v4), Answer::Values(v6)) => {
                        v4.extend(v6);
                        Answer::Values(sorted(v4))
                    }
                    (Answer::Failed(e), _) | (_, Answer::Failed(e)) => Answer::Failed(e),
                },
            })
            .collect();
        let name = requirement.name.as_str();
        let target = &requirement.value;
        match expected {
            Ok(expected) => {
                let mut check = judge_exact(requirement, answers, &expected.join(", "));
                if check
                    .answers
                    .iter()
                    .all(|a| a.answer == Answer::Values(Vec::new()))
                {
                    check.message = Some(format!(
                        "`{name}` has no addresses; create an ALIAS (or ANAME, or a flattened CNAME) to {target} at your DNS host, or ask the platform for fixed addresses"
                    ));
                }
                check
            }
            Err(why) => RecordCheck {
                requirement: requirement.clone(),
                answers,
                found: false,
                message: Some(format!(
                    "cannot compare `{name}` with its ALIAS target: {why}"
                )),
            },
        }
    }

    /// Stray or extra addresses at names with A/AAAA rows, and a stray AAAA at an apex.
    async fn check_address_sets(
        &mut self,
        request: &CheckRequest,
        sets: &BTreeMap<(Fqdn, DnsType), Vec<ServerAnswer>>,
    ) {
        for ((name, t), answers) in sets {
            let expected: BTreeSet<String> = request
                .requirements
                .iter()
                .filter(|r| r.name == *name && dns_type(r.record_type) == *t)
                .map(|r| r.value.clone())
                .collect();
            let extra: BTreeSet<String> = answers
                .iter()
                .filter_map(|a| match &a.answer {
                    Answer::Values(v) => Some(v.iter().filter(|v| !expected.contains(*v))),
                    Answer::Failed(_) => None,
                })
                .flatten()
                .cloned()
                .collect();
            if !extra.is_empty() {
                let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
                self.problems.push(Problem {
                    kind: ProblemKind::AddressMismatch,
                    area: Area::Traffic,
                    message: format!(
                        "`{}` {t}: expected {}, also found {}; delete the records for {}",
                        name.as_str(),
                        list(&expected),
                        list(&extra),
                        list(&extra),
                    ),
                });
            }
        }
        // An apex given only IPv4 addresses must not have an AAAA.
        let has = |t: RecordType| {
            request
                .requirements
                .iter()
                .any(|r| r.purpose == Purpose::Traffic && r.record_type == t)
        };
        if has(RecordType::A) && !has(RecordType::Aaaa) && is_apex(&request.hostname) {
            let answers = self.ask_all(&request.hostname, DnsType::AAAA).await;
            let stray: BTreeSet<String> = answers
                .iter()
                .filter_map(|a| match &a.answer {
                    Answer::Values(v) => Some(v.iter().cloned()),
                    Answer::Failed(_) => None,
                })
                .flatten()
                .collect();
            if !stray.is_empty() {
                let list: Vec<String> = stray.into_iter().collect();
                self.problems.push(Problem {
                    kind: ProblemKind::StrayRecord,
                    area: Area::Traffic,
                    message: format!(
                        "`{name}` has AAAA {} beside the right A records: IPv6 clients go elsewhere; delete `{name}. AAAA {}`",
                        list.join(", "),
                        list.join("` and `"),
                        name = request.hostname.as_str(),
                    ),
                });
            }
        }
    }

    /// Probes a random label under each `_acme-challenge` record's parent: an answer there
    /// comes from a wildcard, which also answers at `_acme-challenge` when no explicit record
    /// exists.
    async fn check_wildcard(&mut self, zone: &ZoneName, records: &[RecordCheck]) {
        for check in records
            .iter()
            .filter(|r| r.requirement.purpose == Purpose::Validation)
        {
            // An explicit record answers before any wildcard: nothing to probe.
            if check.found {
                continue;
            }
            let Some(parent) = check.requirement.name.parent() else {
                continue;
            };
            let probe_label = format!("dns01-probe-{:016x}", fastrand::u64(..));
            let Ok(probe) = parent.child(&probe_label) else {
                continue;
            };
            let Some(answer) = self.wildcard_answer(&probe).await else {
                continue;
            };
            let wildcard = self
                .wildcard_owner(&parent, zone, &answer)
                .await
                .unwrap_or_else(|| format!("*.{}", parent.as_str()));
            let challenge = check.requirement.name.as_str();
            self.problems.push(Problem {
                kind: ProblemKind::WildcardShadow,
                area: Area::Delegation,
                message: format!(
                    "the wildcard `{wildcard}` answers at `{challenge}` with {answer}, shadowing the delegation; create the explicit record `{}`",
                    check.requirement.zone_line()
                ),
            });
        }
    }

    /// What a wildcard answers at `probe` (CNAME, else TXT) at any server, if anything.
    async fn wildcard_answer(&mut self, probe: &Fqdn) -> Option<String> {
        for (_, resolver) in self.resolvers {
            if let Some(answer) = first_answer(resolver, probe).await {
                return Some(answer);
            }
        }
        None
    }

    /// The wildcard that answered `answer`. Asking `*.<name>` literally is answered by the
    /// closest wildcard above it too, so walk up from `from` while `*.<ancestor>` gives the same
    /// answer: the highest one is the wildcard record itself.
    async fn wildcard_owner(&self, from: &Fqdn, zone: &ZoneName, answer: &str) -> Option<String> {
        let (_, resolver) = self.resolvers.first()?;
        let mut owner = None;
        for ancestor in from.ancestors().take_while(|a| a.is_in_zone(zone)) {
            let Ok(star) = ancestor.child("*") else {
                break;
            };
            if first_answer(resolver, &star).await.as_deref() != Some(answer) {
                break;
            }
            owner = Some(star.as_str().to_owned());
        }
        owner
    }

    async fn check_caa(
        &mut self,
        request: &CheckRequest,
        zone: &ZoneName,
        records: &[RecordCheck],
        ca: &str,
    ) {
        let hostname_is_cname = records.iter().any(|r| {
            r.requirement.name == request.hostname
                && r.requirement.record_type == RecordType::Cname
                && r.answers
                    .iter()
                    .any(|a| matches!(&a.answer, Answer::Values(v) if !v.is_empty()))
        });
        let mut blocks = BTreeSet::new();
        for (server, resolver) in self.resolvers {
            let mut rrsets = Vec::new();
            for name in request
                .hostname
                .ancestors()
                .take_while(|a| a.is_in_zone(zone))
            {
                if hostname_is_cname && name == request.hostname {
                    continue;
                }
                match ask_caa(resolver, &name).await {
                    Ok(records) => {
                        let found = !records.is_empty();
                        rrsets.push(CaaRrset { name, records });
                        if found {
                            break;
                        }
                    }
                    Err(e) => {
                        self.note_failure(server, &e);
                        break;
                    }
                }
            }
            let mut verdicts = vec![caa::evaluate(&rrsets, ca, false)];
            if request.wildcard {
                verdicts.push(caa::evaluate(&rrsets, ca, true));
            }
            for verdict in verdicts {
                if let CaaVerdict::Forbidden(block) = verdict {
                    blocks.insert(block.to_string());
                }
            }
        }
        self.problems
            .extend(blocks.into_iter().map(|message| Problem {
                kind: ProblemKind::CaaForbidden,
                area: Area::Certificate,
                message,
            }));
    }
}

/// Judges a row whose every server must answer exactly `expected` (one value, or a joined set).
fn judge_exact(
    requirement: &Requirement,
    answers: Vec<ServerAnswer>,
    expected: &str,
) -> RecordCheck {
    let shown = |a: &Answer| match a {
        Answer::Values(v) => v.join(", "),
        Answer::Failed(_) => String::new(),
    };
    let ok =
        |a: &ServerAnswer| matches!(&a.answer, Answer::Values(_)) && shown(&a.answer) == expected;
    let found = !answers.is_empty() && answers.iter().all(ok);
    let name = requirement.name.as_str();
    let t = requirement.record_type;
    let distinct: BTreeSet<String> = answers.iter().map(|a| a.answer.to_string()).collect();
    let message = if found {
        None
    } else if distinct.len() > 1 {
        let per_server: Vec<String> = answers
            .iter()
            .map(|a| format!("{} answers {}", a.server, a.answer))
            .collect();
        Some(format!(
            "the nameservers disagree on `{name}` {t}: {}; expected {expected} at every server (wait for the change to reach all of them, or fix the one that differs)",
            per_server.join(", ")
        ))
    } else {
        let found_text = answers
            .first()
            .map_or_else(|| "nothing".to_owned(), |a| a.answer.to_string());
        Some(format!(
            "`{name}` {t}: expected {expected}, found {found_text}; change it to `{}`",
            requirement.zone_line()
        ))
    };
    RecordCheck {
        requirement: requirement.clone(),
        answers,
        found,
        message,
    }
}

/// Judges one A/AAAA row: its address must be in every server's set.
fn check_address_row(requirement: &Requirement, answers: Vec<ServerAnswer>) -> RecordCheck {
    let has =
        |a: &ServerAnswer| matches!(&a.answer, Answer::Values(v) if v.contains(&requirement.value));
    let found = !answers.is_empty() && answers.iter().all(has);
    let name = requirement.name.as_str();
    let t = requirement.record_type;
    let message = if found {
        None
    } else if answers.iter().any(has) {
        let per_server: Vec<String> = answers
            .iter()
            .map(|a| format!("{} answers {}", a.server, a.answer))
            .collect();
        Some(format!(
            "the nameservers disagree on `{name}` {t}: {}; {} must be at every server",
            per_server.join(", "),
            requirement.value
        ))
    } else {
        let found_text = answers
            .first()
            .map_or_else(|| "nothing".to_owned(), |a| a.answer.to_string());
        Some(format!(
            "`{name}` {t}: expected {}, found {found_text}; create `{}`",
            requirement.value,
            requirement.zone_line()
        ))
    };
    RecordCheck {
        requirement: requirement.clone(),
        answers,
        found,
        message,
    }
}

/// The problem kind of a row that is not found.
fn row_kind(check: &RecordCheck) -> ProblemKind {
    let values: Vec<&Answer> = check.answers.iter().map(|a| &a.answer).collect();
    let distinct: BTreeSet<String> = values.iter().map(ToString::to_string).collect();
    if values.iter().all(|a| matches!(a, Answer::Failed(_))) {
        ProblemKind::NameserverUnreachable
    } else if distinct.len() > 1 {
        ProblemKind::ServersDisagree
    } else if values.iter().all(|a| **a == Answer::Values(Vec::new())) {
        ProblemKind::RecordNotFound
    } else {
        ProblemKind::RecordMismatch
    }
}

fn area_of(purpose: Purpose) -> Area {
    match purpose {
        Purpose::Traffic => Area::Traffic,
        Purpose::Validation => Area::Delegation,
    }
}

fn dns_type(t: RecordType) -> DnsType {
    match t {
        RecordType::Cname => DnsType::CNAME,
        RecordType::A | RecordType::Alias => DnsType::A,
        RecordType::Aaaa => DnsType::AAAA,
    }
}

fn sorted(values: impl IntoIterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = values.into_iter().collect();
    set.into_iter().collect()
}

fn owner_is(record: &Record, name: &Fqdn) -> bool {
    record
        .name
        .to_ascii()
        .trim_end_matches('.')
        .eq_ignore_ascii_case(name.as_str())
}

fn dns_name(name: &Fqdn) -> Result<Name, String> {
    Name::from_ascii(name.to_absolute_string()).map_err(|e| e.to_string())
}

/// One query at one server: the values of type `t` owned by `name`.
async fn ask(resolver: &TokioResolver, name: &Fqdn, t: DnsType) -> Answer {
    let query = match dns_name(name) {
        Ok(n) => n,
        Err(e) => return Answer::Failed(e),
    };
    match resolver.lookup(query, t).await {
        Ok(lookup) => Answer::Values(sorted(
            lookup
                .answers()
                .iter()
                .filter(|r| r.record_type() == t && owner_is(r, name))
                .filter_map(|r| present(&r.data)),
        )),
        Err(NetError::Dns(DnsError::NoRecordsFound(_))) => Answer::Values(Vec::new()),
        Err(e) => Answer::Failed(e.to_string()),
    }
}

/// The CNAME at `name`, else its TXT, as `CNAME <target>` or `TXT "<text>"`; `None` when
/// neither exists or the server does not answer.
async fn first_answer(resolver: &TokioResolver, name: &Fqdn) -> Option<String> {
    for t in [DnsType::CNAME, DnsType::TXT] {
        if let Answer::Values(v) = ask(resolver, name, t).await
            && !v.is_empty()
        {
            return Some(format!("{t} {}", v.join(", ")));
        }
    }
    None
}

/// The CAA records at `name` on one server.
async fn ask_caa(resolver: &TokioResolver, name: &Fqdn) -> Result<Vec<CaaRecord>, String> {
    let query = dns_name(name)?;
    match resolver.lookup(query, DnsType::CAA).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter(|r| owner_is(r, name))
            .filter_map(|r| match &r.data {
                RData::CAA(caa) => Some(CaaRecord {
                    critical: caa.issuer_critical,
                    tag: caa.tag.clone(),
                    value: String::from_utf8_lossy(&caa.value).into_owned(),
                }),
                _ => None,
            })
            .collect()),
        Err(NetError::Dns(DnsError::NoRecordsFound(_))) => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// A record's value as the customer would write it.
fn present(data: &RData) -> Option<String> {
    match data {
        RData::CNAME(c) => Some(c.0.to_ascii().to_ascii_lowercase()),
        RData::A(a) => Some(a.0.to_string()),
        RData::AAAA(a) => Some(a.0.to_string()),
        RData::TXT(t) => Some(format!("\"{t}\"")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_address_is_routable_and_an_unroutable_one_is_not() {
        assert_eq!(routable(SocketAddr::from(([127, 0, 0, 1], 53))), Ok(()));
        // Connecting a UDP socket to the broadcast address is refused without SO_BROADCAST.
        let broadcast = routable(SocketAddr::from(([255, 255, 255, 255], 53)));
        assert!(broadcast.is_err(), "{broadcast:?}");
        assert!(
            broadcast
                .unwrap_err()
                .starts_with("no route from this host: ")
        );
    }
}
