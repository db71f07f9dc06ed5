//! Prometheus metrics, served in the text format on a separate plain-HTTP listener
//! (`GET /metrics`), so scraping needs neither TLS nor the aggregated API's authentication.
//!
//! | metric | labels |
//! |---|---|
//! | `dns01_webhook_requests_total` | `solver`, `action`, `outcome` |
//! | `dns01_webhook_request_duration_seconds` | `solver`, `action` |
//! | `dns01_webhook_requests_in_flight` | |
//! | `dns01_webhook_upstream_calls_total` | `operation`, `status` |
//! | `dns01_webhook_upstream_call_duration_seconds` | `operation` |
//! | `dns01_webhook_upstream_retries_total` | `operation` |
//! | `dns01_webhook_rate_limit_wait_seconds` | |
//!
//! Label values come from fixed sets (solver names, actions, outcome labels, Gandi operations,
//! HTTP status codes), never from request content, so cardinality stays bounded.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    solver: String,
    action: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    solver: String,
    action: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    operation: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

fn request_histogram() -> Histogram {
    // 10 ms .. ~40 s
    Histogram::new(exponential_buckets(0.01, 2.0, 13))
}

/// The webhook's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    in_flight: Gauge,
    upstream_calls: Family<CallLabels, Counter>,
    upstream_latency: Family<OperationLabels, Histogram>,
    retries: Family<OperationLabels, Counter>,
    rate_limit_wait: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All metrics, registered and at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("dns01_webhook");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(
            request_histogram as fn() -> Histogram,
        );
        let in_flight = Gauge::default();
        let upstream_calls = Family::<CallLabels, Counter>::default();
        let upstream_latency = Family::<OperationLabels, Histogram>::new_with_constructor(
            request_histogram as fn() -> Histogram,
        );
        let retries = Family::<OperationLabels, Counter>::default();
        let rate_limit_wait = Histogram::new(exponential_buckets(0.001, 4.0, 10));
        registry.register(
            "requests",
            "Challenge requests answered, by solver, action and outcome",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a challenge request",
            latency.clone(),
        );
        registry.register(
            "requests_in_flight",
            "Challenge requests being answered",
            in_flight.clone(),
        );
        registry.register(
            "upstream_calls",
            "HTTP calls to the DNS provider, by operation and status (none: no answer)",
            upstream_calls.clone(),
        );
        registry.register(
            "upstream_call_duration_seconds",
            "Duration of HTTP calls to the DNS provider",
            upstream_latency.clone(),
        );
        registry.register(
            "upstream_retries",
            "Retries of DNS provider calls after a retryable failure",
            retries.clone(),
        );
        registry.register(
            "rate_limit_wait_seconds",
            "Time spent waiting for the client-side rate limiter",
            rate_limit_wait.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            in_flight,
            upstream_calls,
            upstream_latency,
            retries,
            rate_limit_wait,
        }
    }

    /// Counts one answered request.
    pub fn observe_request(
        &self,
        solver: &str,
        action: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                solver: solver.to_owned(),
                action,
                outcome,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                solver: solver.to_owned(),
                action,
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Marks a request in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(self)
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Decrements the in-flight gauge when dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

impl dns01_gandi::CallObserver for Metrics {
    fn on_call(&self, operation: &'static str, status: Option<u16>, elapsed: Duration) {
        let status = status.map_or_else(|| "none".to_owned(), |s| s.to_string());
        self.upstream_calls
            .get_or_create(&CallLabels {
                operation: operation.to_owned(),
                status,
            })
            .inc();
        self.upstream_latency
            .get_or_create(&OperationLabels {
                operation: operation.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    fn on_retry(&self, operation: &'static str) {
        self.retries
            .get_or_create(&OperationLabels {
                operation: operation.to_owned(),
            })
            .inc();
    }

    fn on_rate_limit_wait(&self, waited: Duration) {
        self.rate_limit_wait.observe(waited.as_secs_f64());
    }
}

async fn metrics_handler(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response()
}

/// The plain-HTTP router of the metrics listener: `GET /metrics`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dns01_gandi::CallObserver;

    #[test]
    fn requests_and_upstream_calls_appear_in_the_text_format() {
        let m = Arc::new(Metrics::new());
        m.observe_request("gandi", "Present", "success", Duration::from_millis(20));
        m.on_call("replace_txt", Some(201), Duration::from_millis(5));
        m.on_retry("read_txt");
        let text = m.encode();
        assert!(
            text.contains(
                r#"dns01_webhook_requests_total{solver="gandi",action="Present",outcome="success"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"dns01_webhook_upstream_calls_total{operation="replace_txt",status="201"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"dns01_webhook_upstream_retries_total{operation="read_txt"} 1"#));
    }

    #[test]
    fn repeated_requests_add_up_under_their_own_labels() {
        let m = Arc::new(Metrics::new());
        let (gandi, memory) = ("gandi", "memory");
        for _ in 0..3 {
            m.observe_request(gandi, "Present", "success", Duration::from_millis(20));
        }
        m.observe_request(gandi, "Present", "timeout", Duration::from_secs(30));
        m.observe_request(gandi, "CleanUp", "success", Duration::from_millis(5));
        // An equal name in another allocation is the same label.
        m.observe_request(&String::from("gandi"), "Present", "success", Duration::ZERO);
        m.observe_request(memory, "Present", "success", Duration::ZERO);
        let text = m.encode();
        for line in [
            r#"dns01_webhook_requests_total{solver="gandi",action="Present",outcome="success"} 4"#,
            r#"dns01_webhook_requests_total{solver="gandi",action="Present",outcome="timeout"} 1"#,
            r#"dns01_webhook_requests_total{solver="gandi",action="CleanUp",outcome="success"} 1"#,
            r#"dns01_webhook_requests_total{solver="memory",action="Present",outcome="success"} 1"#,
            r#"dns01_webhook_request_duration_seconds_count{solver="gandi",action="Present"} 5"#,
            r#"dns01_webhook_request_duration_seconds_count{solver="gandi",action="CleanUp"} 1"#,
            r#"dns01_webhook_request_duration_seconds_count{solver="memory",action="Present"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[tokio::test]
    async fn the_metrics_listener_serves_the_text_format() {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let m = Arc::new(Metrics::new());
        m.observe_request("memory", "CleanUp", "success", Duration::from_millis(1));
        let res = router(m)
            .oneshot(
                axum::http::Request::get("/metrics")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("outcome=\"success\"} 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn the_in_flight_gauge_follows_the_guard() {
        let m = Arc::new(Metrics::new());
        let g = m.in_flight();
        assert!(m.encode().contains("dns01_webhook_requests_in_flight 1"));
        drop(g);
        assert!(m.encode().contains("dns01_webhook_requests_in_flight 0"));
    }
}
