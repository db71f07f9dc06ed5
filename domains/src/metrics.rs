//! Prometheus metrics of the controller, served as `GET /metrics` by [`crate::health::router`].
//!
//! | metric | labels |
//! |---|---|
//! | `dns01_domains_domains` | `condition`, `status` (how many CustomDomains have each) |
//! | `dns01_domains_checks_total` | `outcome` (`met`, `unmet`, `error`) |
//! | `dns01_domains_check_duration_seconds` | |
//!
//! Label values come from fixed sets (condition types, `True`/`False`/`Unknown`, outcomes),
//! never from a domain's name, so cardinality stays bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::crd::CustomDomainStatus;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    condition: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The outcome of one DNS check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Every record in place.
    Met,
    /// Something to fix.
    Unmet,
    /// The check did not run to the end.
    Error,
}

/// The controller's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    domains: Family<ConditionLabels, Gauge>,
    checks: Family<OutcomeLabels, Counter>,
    check_latency: Histogram,
    /// The conditions of each domain (by uid), from which `domains` is counted.
    by_domain: Mutex<HashMap<String, Vec<(String, String)>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let domains = Family::<ConditionLabels, Gauge>::default();
        let checks = Family::<OutcomeLabels, Counter>::default();
        // 10 ms .. ~40 s
        let check_latency = Histogram::new(exponential_buckets(0.01, 2.0, 13));
        registry.register(
            "dns01_domains_domains",
            "CustomDomains by condition and status",
            domains.clone(),
        );
        registry.register(
            "dns01_domains_checks",
            "DNS checks by outcome",
            checks.clone(),
        );
        registry.register(
            "dns01_domains_check_duration_seconds",
            "How long a DNS check of one CustomDomain took",
            check_latency.clone(),
        );
        Self {
            registry,
            domains,
            checks,
            check_latency,
            by_domain: Mutex::new(HashMap::new()),
        }
    }
}

impl Metrics {
    /// Counts a check and its duration.
    pub fn observe_check(&self, outcome: CheckOutcome, elapsed: Duration) {
        let outcome = match outcome {
            CheckOutcome::Met => "met",
            CheckOutcome::Unmet => "unmet",
            CheckOutcome::Error => "error",
        };
        self.checks.get_or_create(&OutcomeLabels { outcome }).inc();
        self.check_latency.observe(elapsed.as_secs_f64());
    }

    /// Records the conditions of domain `uid` (`None`: the domain is gone) and recounts.
    pub fn set_domain(&self, uid: &str, status: Option<&CustomDomainStatus>) {
        let Ok(mut by_domain) = self.by_domain.lock() else {
            return;
        };
        match status {
            Some(status) => {
                let conditions = status
                    .conditions
                    .iter()
                    .map(|c| (c.type_.clone(), c.status.clone()))
                    .collect();
                by_domain.insert(uid.to_owned(), conditions);
            }
            None => {
                by_domain.remove(uid);
            }
        }
        self.domains.clear();
        for (condition, status) in by_domain.values().flatten() {
            self.domains
                .get_or_create(&ConditionLabels {
                    condition: condition.clone(),
                    status: status.clone(),
                })
                .inc();
        }
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
