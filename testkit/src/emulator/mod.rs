//! A Gandi LiveDNS v5 emulator with an authoritative DNS server answering from the same state.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use dns01_testkit::emulator::{Emulator, Token};
//!
//! let emu = Emulator::builder()
//!     .zone("example.com")
//!     .token(Token::pat("secret"))
//!     .start()
//!     .await?;
//! // Point a client at emu.api_url() with `Authorization: Bearer secret`,
//! // and a resolver at emu.dns_addr().
//! assert!(emu.txt_values("example.com", "_acme-challenge").is_empty());
//! # Ok(()) }
//! ```
//!
//! Behaviour follows `reference/gandi-livedns.md`; what the reference marks [inferred] is a
//! field of [`Options`] or [`FaultConfig`].

mod api;
mod dns;
mod faults;
pub mod probe;
mod state;
pub mod txt;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use anyhow::Context as _;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

pub use api::routes;
pub use faults::{CounterKey, Counters, Fault, FaultConfig, Faults, Latency, RateLimit};
pub use state::{Access, DEFAULT_ORG, RrsetSnapshot, Scheme, Token, normalize_zone};

use faults::CounterStore;
use state::{Rrset, State, helper_name, store_value};

/// Behaviour switches, mostly for what the reference marks [inferred].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Status of a successful `PUT` (create or replace). Default 201 [inferred].
    pub put_status: u16,
    /// `PUT`/`POST` with `rrset_values: []` leaves an empty rrset behind (seen in the wild);
    /// when false the rrset is deleted instead. Default true.
    pub keep_empty_rrset: bool,
    /// Status for POST/PUT without `Content-Type: application/json`: 415 (shape A body) or 400
    /// (shape B body). Default 415 [inferred].
    pub content_type_error_status: u16,
    /// TTL of an rrset written without `rrset_ttl`. Default 10800 [inferred].
    pub default_ttl: u32,
    /// `per_page` of `GET /domains` when absent. Default 100 [inferred].
    pub default_per_page: u32,
    /// Message of the 409 shape A body for a POST on an existing rrset [inferred].
    pub conflict_message: String,
    /// `GET /domains/{fqdn}/records/{name}` with nothing at the name answers 404 shape A
    /// (true, default) or 200 `[]` [inferred].
    pub name_absent_is_404: bool,
    /// Name server served in SOA MNAME and the apex NS (absolute, with trailing dot).
    pub nameserver: String,
    /// SOA RNAME.
    pub hostmaster: String,
    /// SOA MINIMUM and TTL (negative-caching TTL). Default 300.
    pub soa_minimum: u32,
    /// Also read the sharing id from an `X-Gandi-Sharing-Id` header when the query has none
    /// (the reference marks this header [unverified]). Default false.
    pub sharing_id_header: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            put_status: 201,
            keep_empty_rrset: true,
            content_type_error_status: 415,
            default_ttl: 10_800,
            default_per_page: 100,
            conflict_message: "A DNS Record already exists with same value".to_string(),
            name_absent_is_404: true,
            nameserver: "ns1.gandi.net.".to_string(),
            hostmaster: "hostmaster.gandi.net.".to_string(),
            soa_minimum: 300,
            sharing_id_header: false,
        }
    }
}

/// State shared by the HTTP and DNS tasks and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    state: RwLock<State>,
    pub(crate) options: Options,
    pub(crate) faults: Faults,
    pub(crate) counters: CounterStore,
    pub(crate) api_url: String,
    pub(crate) dns_queries: AtomicU64,
}

impl Shared {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Builds and starts an [`Emulator`].
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    zones: Vec<(String, String)>,
    tokens: Vec<Token>,
    records: Vec<(String, String, String, u32, Vec<String>)>,
    options: Options,
    faults: FaultConfig,
    seed: Option<u64>,
    http_addr: SocketAddr,
    dns_addr: SocketAddr,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self {
            zones: Vec::new(),
            tokens: Vec::new(),
            records: Vec::new(),
            options: Options::default(),
            faults: FaultConfig::default(),
            seed: None,
            http_addr: loopback,
            dns_addr: loopback,
        }
    }
}

impl EmulatorBuilder {
    /// Hosts `fqdn` in [`DEFAULT_ORG`].
    #[must_use]
    pub fn zone(self, fqdn: &str) -> Self {
        self.zone_in_org(fqdn, DEFAULT_ORG)
    }

    /// Hosts `fqdn` in organisation `org`.
    #[must_use]
    pub fn zone_in_org(mut self, fqdn: &str, org: &str) -> Self {
        self.zones.push((fqdn.to_string(), org.to_string()));
        self
    }

    /// Accepts `token`.
    #[must_use]
    pub fn token(mut self, token: Token) -> Self {
        self.tokens.push(token);
        self
    }

    /// Pre-seeds an rrset (values stored as the API would store them).
    #[must_use]
    pub fn rrset(mut self, zone: &str, name: &str, rtype: &str, ttl: u32, values: &[&str]) -> Self {
        self.records.push((
            zone.to_string(),
            name.to_string(),
            rtype.to_string(),
            ttl,
            values.iter().map(ToString::to_string).collect(),
        ));
        self
    }

    /// Behaviour switches.
    #[must_use]
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Initial fault knobs (changeable later through [`Emulator::faults`]).
    #[must_use]
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// Seeds the generator behind random faults and latency, for reproducible runs.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// HTTP listen address (default `127.0.0.1:0`).
    #[must_use]
    pub fn http_addr(mut self, addr: SocketAddr) -> Self {
        self.http_addr = addr;
        self
    }

    /// DNS listen address for UDP and TCP (default `127.0.0.1:0`: one free port for both).
    #[must_use]
    pub fn dns_addr(mut self, addr: SocketAddr) -> Self {
        self.dns_addr = addr;
        self
    }

    /// Binds the sockets and starts serving.
    ///
    /// # Errors
    /// When a socket cannot be bound or a seeded record names an unknown zone.
    pub async fn start(self) -> anyhow::Result<Emulator> {
        let http = TcpListener::bind(self.http_addr)
            .await
            .with_context(|| format!("binding the HTTP listener on {}", self.http_addr))?;
        let http_addr = http.local_addr()?;
        let (dns_tcp, dns_udp) = bind_dns(self.dns_addr).await?;
        let dns_addr = dns_udp.local_addr()?;

        let mut state = State::default();
        for (zone, org) in &self.zones {
            state.add_zone(zone, org);
        }
        state.tokens = self.tokens;
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            options: self.options,
            faults: Faults::new(self.faults, self.seed),
            counters: CounterStore::default(),
            api_url: format!("http://{http_addr}{}", api::API_PREFIX),
            dns_queries: AtomicU64::new(0),
        });
        let emulator = Emulator {
            tasks: vec![
                tokio::spawn(api::serve(http, api::router(shared.clone()))),
                tokio::spawn(dns::serve_udp(dns_udp, shared.clone())),
                tokio::spawn(dns::serve_tcp(dns_tcp, shared.clone())),
            ],
            shared,
            http_addr,
            dns_addr,
        };
        for (zone, name, rtype, ttl, values) in self.records {
            emulator.seed_rrset(&zone, &name, &rtype, ttl, values)?;
        }
        Ok(emulator)
    }
}

/// Binds TCP and UDP on the same port (a free one when `addr` has port 0).
async fn bind_dns(addr: SocketAddr) -> anyhow::Result<(TcpListener, UdpSocket)> {
    if addr.port() != 0 {
        let tcp = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding DNS/TCP on {addr}"))?;
        let udp = UdpSocket::bind(addr)
            .await
            .with_context(|| format!("binding DNS/UDP on {addr}"))?;
        return Ok((tcp, udp));
    }
    let mut last_err = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(addr).await.context("binding DNS/UDP")?;
        let port_addr = udp.local_addr()?;
        match TcpListener::bind(port_addr).await {
            Ok(tcp) => return Ok((tcp, udp)),
            Err(e) => last_err = Some(e),
        }
    }
    Err(anyhow::anyhow!(
        "no port free for both DNS/UDP and DNS/TCP: {last_err:?}"
    ))
}

/// A running emulator. Dropping it stops its tasks and closes its sockets.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    http_addr: SocketAddr,
    dns_addr: SocketAddr,
}

impl Emulator {
    /// Starts building an emulator.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// Base URL of the API, e.g. `http://127.0.0.1:PORT/v5/livedns` (no trailing slash).
    pub fn api_url(&self) -> String {
        self.shared.api_url.clone()
    }

    /// Address the HTTP API listens on.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Address the DNS server listens on (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns_addr
    }

    /// The fault knobs, changeable while running.
    pub fn faults(&self) -> Faults {
        self.shared.faults.clone()
    }

    /// The options the emulator was started with.
    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    /// A snapshot of the request counters.
    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }

    /// All API requests counted so far.
    pub fn total_requests(&self) -> u64 {
        self.counters().total()
    }

    /// Requests with `method` on `route` (a template from [`routes`]), any status.
    pub fn count(&self, method: &str, route: &str) -> u64 {
        self.counters().count(method, route)
    }

    /// Forgets all request counts (and the DNS query count).
    pub fn reset_counters(&self) {
        self.shared.counters.reset();
        self.shared.dns_queries.store(0, Ordering::Relaxed);
    }

    /// DNS queries received (UDP and TCP) since start or the last reset.
    pub fn dns_queries(&self) -> u64 {
        self.shared.dns_queries.load(Ordering::Relaxed)
    }

    /// Hosts another domain while running.
    pub fn add_zone(&self, fqdn: &str, org: &str) {
        self.shared.write().add_zone(fqdn, org);
    }

    /// Accepts another token while running.
    pub fn add_token(&self, token: Token) {
        self.shared.write().tokens.push(token);
    }

    /// TXT values stored at `name` (relative, `@`, or absolute) exactly as the API returns
    /// them (quoted); empty when there is no such rrset.
    pub fn txt_values(&self, zone: &str, name: &str) -> Vec<String> {
        self.values(zone, name, "TXT")
    }

    /// Values of any rrset, as stored; empty when absent.
    pub fn values(&self, zone: &str, name: &str, rtype: &str) -> Vec<String> {
        let zone = normalize_zone(zone);
        let key = (helper_name(&zone, name), rtype.to_ascii_uppercase());
        self.shared
            .read()
            .zones
            .get(&zone)
            .and_then(|z| z.rrsets.get(&key))
            .map(|r| r.values.clone())
            .unwrap_or_default()
    }

    /// TXT values at `name` decoded to what a resolver sees (chunks joined, escapes undone).
    pub fn decoded_txt(&self, zone: &str, name: &str) -> Vec<String> {
        self.txt_values(zone, name)
            .iter()
            .map(|v| txt::decode(v))
            .collect()
    }

    /// Whether an rrset (possibly empty) exists.
    pub fn has_rrset(&self, zone: &str, name: &str, rtype: &str) -> bool {
        let zone = normalize_zone(zone);
        let key = (helper_name(&zone, name), rtype.to_ascii_uppercase());
        self.shared
            .read()
            .zones
            .get(&zone)
            .is_some_and(|z| z.rrsets.contains_key(&key))
    }

    /// Creates or replaces an rrset directly (no API call, not counted); values are stored as
    /// the API would store them (TXT quoted and chunked).
    ///
    /// # Errors
    /// When the zone is not hosted.
    pub fn seed_rrset<I, V>(
        &self,
        zone: &str,
        name: &str,
        rtype: &str,
        ttl: u32,
        values: I,
    ) -> anyhow::Result<()>
    where
        I: IntoIterator<Item = V>,
        V: AsRef<str>,
    {
        let zone = normalize_zone(zone);
        let rtype = rtype.to_ascii_uppercase();
        let key = (helper_name(&zone, name), rtype.clone());
        let values = values
            .into_iter()
            .map(|v| store_value(&rtype, v.as_ref()))
            .collect();
        let mut state = self.shared.write();
        let z = state
            .zones
            .get_mut(&zone)
            .with_context(|| format!("zone {zone} is not hosted by the emulator"))?;
        z.rrsets.insert(key, Rrset { ttl, values });
        state.touch();
        Ok(())
    }

    /// Points `name` at `target` with a CNAME (TTL 300). A target without trailing dot is
    /// relative to the zone.
    ///
    /// # Errors
    /// When the zone is not hosted.
    pub fn set_cname(&self, zone: &str, name: &str, target: &str) -> anyhow::Result<()> {
        self.seed_rrset(zone, name, "CNAME", 300, [target])
    }

    /// Deletes an rrset directly; returns whether it existed.
    pub fn remove_rrset(&self, zone: &str, name: &str, rtype: &str) -> bool {
        let zone = normalize_zone(zone);
        let key = (helper_name(&zone, name), rtype.to_ascii_uppercase());
        let mut state = self.shared.write();
        let removed = state
            .zones
            .get_mut(&zone)
            .and_then(|z| z.rrsets.remove(&key))
            .is_some();
        if removed {
            state.touch();
        }
        removed
    }

    /// All rrsets of `zone`, ordered by name then type.
    pub fn rrsets(&self, zone: &str) -> Vec<RrsetSnapshot> {
        self.shared.read().snapshot(&normalize_zone(zone))
    }

    /// Stops serving and waits for the tasks to end.
    pub async fn shutdown(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
            let _ended = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
