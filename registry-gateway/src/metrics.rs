//! Prometheus metrics (`GET /metrics`, text format) and the access log line.
//!
//! | metric | labels |
//! |---|---|
//! | `gateway_requests_total` | `route`, `project`, `method`, `status` |
//! | `gateway_denials_total` | `route`, `project` |
//! | `gateway_bytes_streamed_total` | `route` |
//! | `gateway_upstream_seconds` | `route` |
//! | `gateway_tokens_issued_total` | |
//!
//! Label values come from the configuration (route names, projects of configured routes)
//! and fixed sets (methods, status codes), never from free request content: a request that
//! matches no route is counted under `route=""`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    project: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectLabels {
    route: String,
    project: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// What a handler tells the access log and the metrics about a request (a response
/// extension).
#[derive(Debug, Clone, Default)]
pub(crate) struct Served {
    pub(crate) route: String,
    pub(crate) project: String,
    pub(crate) principal: String,
    pub(crate) name: String,
    pub(crate) reference: String,
}

/// The gateway's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    denials: Family<ProjectLabels, Counter>,
    bytes: Family<RouteLabels, Counter>,
    upstream: Family<RouteLabels, Histogram>,
    tokens: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("requests", "Requests answered", requests.clone());
        let denials = Family::<ProjectLabels, Counter>::default();
        registry.register(
            "denials",
            "Requests refused with 401 or 403",
            denials.clone(),
        );
        let bytes = Family::<RouteLabels, Counter>::default();
        registry.register(
            "bytes_streamed",
            "Response body bytes streamed from upstreams to clients",
            bytes.clone(),
        );
        let upstream = Family::<RouteLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 16))) as fn() -> Histogram,
        );
        registry.register(
            "upstream_seconds",
            "Time until the upstream's answer head",
            upstream.clone(),
        );
        let tokens = Counter::default();
        registry.register("tokens_issued", "Gateway tokens issued", tokens.clone());
        Self {
            registry,
            requests,
            denials,
            bytes,
            upstream,
            tokens,
        }
    }
}

impl Metrics {
    pub(crate) fn request(&self, served: &Served, method: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: served.route.clone(),
                project: served.project.clone(),
                method: method.to_owned(),
                status,
            })
            .inc();
        if status == 401 || status == 403 {
            self.denials
                .get_or_create(&ProjectLabels {
                    route: served.route.clone(),
                    project: served.project.clone(),
                })
                .inc();
        }
    }

    pub(crate) fn bytes(&self, route: &str) -> Counter {
        self.bytes
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .clone()
    }

    pub(crate) fn upstream(&self, route: &str, seconds: f64) {
        self.upstream
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub(crate) fn token_issued(&self) {
        self.tokens.inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
