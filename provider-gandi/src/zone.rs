//! Zone discovery and its cache.
//!
//! LiveDNS has no sub-zones: a record lives in the registered domain that holds it. The domain
//! cannot be derived from "the last two labels" (`example.co.uk`), so discovery asks Gandi:
//! from the longest candidate with at least two labels down to the shortest, `GET
//! /domains/{candidate}`; a 404 moves to the parent, an answer of 200 is the zone, and any
//! other failure (a rejected token, a missing permission, an outage) stops the walk with that
//! error. Found zones are cached for the life of the store; absent candidates for a short time.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use dns01_core::{Error, Fqdn, Result, ZoneName};

use crate::error::HINT_UNKNOWN_DOMAIN;

/// How long a candidate that answered 404 is remembered as absent.
pub(crate) const NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// Zones known to exist, and candidates recently known not to.
#[derive(Debug)]
pub(crate) struct ZoneCache {
    present: Mutex<HashSet<ZoneName>>,
    absent: Mutex<HashMap<ZoneName, Instant>>,
    negative_ttl: Duration,
}

impl ZoneCache {
    /// An empty cache.
    pub(crate) fn new(negative_ttl: Duration) -> Self {
        Self {
            present: Mutex::new(HashSet::new()),
            absent: Mutex::new(HashMap::new()),
            negative_ttl,
        }
    }

    /// Whether `zone` is known to exist.
    pub(crate) fn is_present(&self, zone: &ZoneName) -> bool {
        self.present
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(zone)
    }

    /// Whether `zone` recently answered 404.
    pub(crate) fn is_absent(&self, zone: &ZoneName) -> bool {
        let mut absent = self.absent.lock().unwrap_or_else(PoisonError::into_inner);
        match absent.get(zone) {
            Some(at) if at.elapsed() < self.negative_ttl => true,
            Some(_) => {
                absent.remove(zone);
                false
            }
            None => false,
        }
    }

    /// Remembers that `zone` exists.
    pub(crate) fn remember_present(&self, zone: &ZoneName) {
        self.absent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(zone);
        self.present
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(zone.clone());
    }

    /// Remembers, for a while, that `zone` does not exist.
    pub(crate) fn remember_absent(&self, zone: &ZoneName) {
        self.present
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(zone);
        if self.negative_ttl.is_zero() {
            return;
        }
        let mut absent = self.absent.lock().unwrap_or_else(PoisonError::into_inner);
        // Keep the map small: drop expired entries when it grows.
        if absent.len() >= 1024 {
            let ttl = self.negative_ttl;
            absent.retain(|_, at| at.elapsed() < ttl);
        }
        absent.insert(zone.clone(), Instant::now());
    }

    /// Forgets that `zone` exists (Gandi said "Unknown domain" for it after all).
    pub(crate) fn forget(&self, zone: &ZoneName) {
        self.present
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(zone);
    }
}

/// The names that could be the zone of `name`, longest first, each with at least two labels.
pub(crate) fn candidates(name: &Fqdn) -> Vec<ZoneName> {
    name.ancestors()
        .filter(|a| a.label_count() >= 2)
        .filter_map(|a| ZoneName::try_from(a).ok())
        .collect()
}

/// The answer of one probe during discovery.
#[derive(Debug)]
pub(crate) enum Probe {
    /// The zone exists.
    Found,
    /// Gandi answered 404; the error says so in full, for the final message.
    Absent(Error),
}

/// Finds the zone holding `name` with `probe`, using and filling `cache`.
pub(crate) async fn find<F, Fut>(cache: &ZoneCache, name: &Fqdn, mut probe: F) -> Result<ZoneName>
where
    F: FnMut(ZoneName) -> Fut,
    Fut: Future<Output = Result<Probe>>,
{
    let candidates = candidates(name);
    if candidates.is_empty() {
        return Err(Error::invalid_input(format!(
            "{} has a single label; no Gandi domain can hold it; give the full record name",
            name.as_str()
        )));
    }
    // LiveDNS has no sub-zones: once a domain is known, every name below it belongs to it, so
    // a known ancestor answers without probing the longer candidates first. This keeps an
    // isolated present plus cleanup at three API calls once the domain has been seen.
    if let Some(zone) = candidates.iter().find(|z| cache.is_present(z)) {
        return Ok(zone.clone());
    }
    let mut last_absent = None;
    for zone in &candidates {
        if cache.is_absent(zone) {
            continue;
        }
        match probe(zone.clone()).await? {
            Probe::Found => {
                cache.remember_present(zone);
                tracing::debug!(
                    name = name.as_str(),
                    zone = zone.as_str(),
                    "found Gandi zone"
                );
                return Ok(zone.clone());
            }
            Probe::Absent(err) => {
                cache.remember_absent(zone);
                last_absent = Some(err);
            }
        }
    }
    let tried: Vec<&str> = candidates.iter().map(ZoneName::as_str).collect();
    let mut message = format!(
        "no Gandi domain visible to these credentials holds {}: tried {}",
        name.as_str(),
        tried.join(", ")
    );
    match last_absent {
        Some(err) => message.push_str(&format!(" (last answer: {})", err.message())),
        None => message.push_str(&format!(
            " (all recently answered 404); {HINT_UNKNOWN_DOMAIN}"
        )),
    }
    Err(Error::zone_not_found(message))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use dns01_core::ErrorKind;

    use super::*;

    fn fqdn(s: &str) -> Fqdn {
        Fqdn::parse(s).unwrap()
    }

    /// A probe that knows a fixed set of zones and records what it was asked.
    fn fake(
        zones: &'static [&'static str],
        asked: Arc<Mutex<Vec<String>>>,
    ) -> impl FnMut(ZoneName) -> std::future::Ready<Result<Probe>> {
        move |zone: ZoneName| {
            asked.lock().unwrap().push(zone.as_str().to_owned());
            std::future::ready(Ok(if zones.contains(&zone.as_str()) {
                Probe::Found
            } else {
                Probe::Absent(Error::zone_not_found(format!("GET {}: 404", zone.as_str())))
            }))
        }
    }

    #[test]
    fn candidates_run_from_the_longest_name_down_to_two_labels() {
        let c: Vec<String> = candidates(&fqdn("_acme-challenge.app.example.co.uk"))
            .iter()
            .map(|z| z.as_str().to_owned())
            .collect();
        assert_eq!(
            c,
            [
                "_acme-challenge.app.example.co.uk",
                "app.example.co.uk",
                "example.co.uk",
                "co.uk"
            ]
        );
        assert!(candidates(&fqdn("com")).is_empty());
        // A wildcard label cannot be a zone.
        assert_eq!(candidates(&fqdn("*.example.com")).len(), 1);
    }

    #[tokio::test]
    async fn discovery_walks_up_to_the_registered_domain_and_caches_it() {
        let cache = ZoneCache::new(NEGATIVE_TTL);
        let asked = Arc::new(Mutex::new(Vec::new()));
        let zone = find(
            &cache,
            &fqdn("x.acme.example.co.uk"),
            fake(&["example.co.uk"], asked.clone()),
        )
        .await
        .unwrap();
        assert_eq!(zone.as_str(), "example.co.uk");
        assert_eq!(
            *asked.lock().unwrap(),
            [
                "x.acme.example.co.uk",
                "acme.example.co.uk",
                "example.co.uk"
            ]
        );
        // Any other name below a known domain costs no probe at all: LiveDNS has no
        // sub-zones, so the known ancestor is the zone.
        asked.lock().unwrap().clear();
        for other in [
            "y.acme.example.co.uk",
            "_acme-challenge.z.example.co.uk",
            "example.co.uk",
        ] {
            let zone = find(
                &cache,
                &fqdn(other),
                fake(&["example.co.uk"], asked.clone()),
            )
            .await
            .unwrap();
            assert_eq!(zone.as_str(), "example.co.uk", "{other}");
        }
        assert!(
            asked.lock().unwrap().is_empty(),
            "{:?}",
            asked.lock().unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_name_lists_every_candidate_it_tried() {
        let cache = ZoneCache::new(NEGATIVE_TTL);
        let asked = Arc::new(Mutex::new(Vec::new()));
        let e = find(&cache, &fqdn("a.example.org"), fake(&[], asked))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ZoneNotFound);
        assert!(
            e.to_string().contains("tried a.example.org, example.org"),
            "{e}"
        );
        assert!(e.to_string().contains("GET example.org: 404"), "{e}");
    }

    #[tokio::test]
    async fn a_probe_failure_stops_the_walk_at_once() {
        let cache = ZoneCache::new(NEGATIVE_TTL);
        let calls = AtomicUsize::new(0);
        let e = find(&cache, &fqdn("a.b.example.org"), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Err::<Probe, _>(Error::authentication("401")))
        })
        .await
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn absent_entries_expire_and_forgetting_removes_a_zone() {
        let cache = ZoneCache::new(Duration::ZERO);
        let z = ZoneName::parse("example.com").unwrap();
        cache.remember_absent(&z);
        assert!(!cache.is_absent(&z), "a zero negative TTL caches nothing");
        cache.remember_present(&z);
        assert!(cache.is_present(&z));
        cache.forget(&z);
        assert!(!cache.is_present(&z));
        let cache = ZoneCache::new(Duration::from_secs(60));
        cache.remember_absent(&z);
        assert!(cache.is_absent(&z));
    }
}
