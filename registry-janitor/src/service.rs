//! The janitor as a small service: [`run_scheduled`] runs a job (a `gc` window, with
//! retention) on a [`Schedule`] until told to stop, and [`router`] serves `/metrics` (the last
//! run's summary as gauges, run counters, and storage accounting per project and repository
//! from [`crate::du`]) and `/healthz`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::future::IntoFuture as _;
//! use std::sync::Arc;
//! use dns01_registry_janitor::GcSummary;
//! use dns01_registry_janitor::service::{Schedule, ServiceState, router, run_scheduled};
//!
//! let schedule: Schedule = "0 3 * * *".parse()?; // 03:00 UTC every day
//! let state = Arc::new(ServiceState::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9090").await?;
//! tokio::spawn(axum::serve(listener, router(state.clone())).into_future());
//! let (_stop_tx, stop) = tokio::sync::watch::channel(false);
//! // The job: a `Gc::run` watching `stop` for its shutdown.
//! run_scheduled(&schedule, &state, stop, || async { GcSummary::default() }).await;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::du::{Report, Usage};
use crate::error::{Error, Result};
use crate::gc::GcSummary;

/// When runs happen: a fixed interval (`6h`, `90s`) or a cron expression in UTC (`0 3 * * *`,
/// five fields, or six with seconds first).
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every interval, the first one interval after the start.
    Every(Duration),
    /// At each time the expression matches.
    Cron(Box<croner::Cron>),
}

impl FromStr for Schedule {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.chars().next().is_some_and(|c| c.is_ascii_digit()) && !s.contains(char::is_whitespace)
        {
            let every = crate::parse_duration("schedule", s)?;
            if every.is_zero() {
                return Err(Error::config(
                    "schedule",
                    "an interval must be longer than 0 s",
                ));
            }
            return Ok(Self::Every(every));
        }
        croner::Cron::from_str(s)
            .map(|c| Self::Cron(Box::new(c)))
            .map_err(|e| {
                Error::config(
                    "schedule",
                    format!(
                        "`{s}` is neither an interval (`6h`) nor a cron expression \
                         (`0 3 * * *`): {e}"
                    ),
                )
            })
    }
}

impl Schedule {
    /// How long from `now` until the next run.
    pub fn next_delay(&self, now: chrono::DateTime<chrono::Utc>) -> Duration {
        match self {
            Self::Every(d) => *d,
            Self::Cron(cron) => cron
                .find_next_occurrence(&now, false)
                .ok()
                .and_then(|next| (next - now).to_std().ok())
                // No next match (a date that never comes): check again in a day.
                .unwrap_or(Duration::from_secs(86400)),
        }
    }
}

#[derive(Debug, Default)]
struct Status {
    last: Option<(GcSummary, jiff::Timestamp)>,
    runs: u64,
    failures: u64,
    running: bool,
    usage: Option<Report>,
}

/// What the service shows on `/metrics`: shared between the scheduler and the router.
#[derive(Debug, Default)]
pub struct ServiceState {
    status: Mutex<Status>,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl ServiceState {
    /// A run ended with `summary`.
    pub fn record_run(&self, summary: GcSummary) {
        if let Ok(mut s) = self.status.lock() {
            s.runs += 1;
            if summary.error.is_some() {
                s.failures += 1;
            }
            s.running = false;
            s.last = Some((summary, jiff::Timestamp::now()));
        }
    }

    /// A run started.
    pub fn record_start(&self) {
        if let Ok(mut s) = self.status.lock() {
            s.running = true;
        }
    }

    /// New storage accounting.
    pub fn record_usage(&self, report: Report) {
        if let Ok(mut s) = self.status.lock() {
            s.usage = Some(report);
        }
    }

    /// The last run's summary.
    pub fn last_run(&self) -> Option<GcSummary> {
        self.status
            .lock()
            .ok()
            .and_then(|s| s.last.as_ref().map(|(summary, _)| summary.clone()))
    }

    /// Everything in the Prometheus text format, names prefixed `dns01_registry_janitor_`.
    pub fn metrics(&self) -> String {
        let mut registry = Registry::with_prefix("dns01_registry_janitor");
        if let Ok(s) = self.status.lock() {
            if let Some((summary, ended)) = &s.last {
                summary.register(&mut registry, *ended);
            }
            let counter = |registry: &mut Registry, name: &str, help: &str, n: u64| {
                let c = Counter::<u64>::default();
                c.inc_by(n);
                registry.register(name, help, c);
            };
            counter(
                &mut registry,
                "runs",
                "runs since the service started",
                s.runs,
            );
            counter(
                &mut registry,
                "run_failures",
                "runs that ended with an error",
                s.failures,
            );
            let running = Gauge::<i64>::default();
            running.set(i64::from(s.running));
            registry.register("running", "1 while a run is in progress", running);
            if let Some(usage) = &s.usage {
                register_usage(&mut registry, usage);
            }
        }
        let mut out = String::new();
        let _ = encode(&mut out, &registry);
        out
    }
}

type Labels = Vec<(String, String)>;

/// A usage gauge: its name after `project_`/`repository_`, its help, and its value.
type UsageField = (&'static str, &'static str, fn(&Usage) -> u64);

fn register_usage(registry: &mut Registry, report: &Report) {
    let total = Gauge::<i64>::default();
    total.set(to_i64(report.total_bytes));
    registry.register(
        "storage_bytes",
        "bytes of all distinct blobs the registry's manifests reference",
        total,
    );
    for (scope, rows) in [
        ("project", &report.projects),
        ("repository", &report.repositories),
    ] {
        let fields: [UsageField; 4] = [
            (
                "unique_bytes",
                "bytes of blobs only this one references",
                |u| u.unique_bytes,
            ),
            (
                "shared_bytes",
                "bytes of blobs it shares with others",
                |u| u.shared_bytes,
            ),
            ("tags", "tags", |u| u.tags as u64),
            ("manifests", "manifests", |u| u.manifests as u64),
        ];
        for (field, help, value) in fields {
            let family = Family::<Labels, Gauge<i64>>::default();
            for u in rows.iter() {
                family
                    .get_or_create(&vec![(scope.to_owned(), u.name.clone())])
                    .set(to_i64(value(u)));
            }
            registry.register(
                format!("{scope}_{field}"),
                format!("per {scope}: {help}"),
                family,
            );
        }
    }
}

/// `/metrics` (Prometheus text) and `/healthz`.
pub fn router(state: Arc<ServiceState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<ServiceState>>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics(),
    )
}

/// Runs `job` on `schedule` until `stop` turns true (or its sender goes), recording each
/// run's summary in `state`. `job` should end early when `stop` turns true (a `gc` window
/// closes first); the loop waits for it and then returns.
pub async fn run_scheduled<J, Fut>(
    schedule: &Schedule,
    state: &ServiceState,
    mut stop: watch::Receiver<bool>,
    mut job: J,
) where
    J: FnMut() -> Fut,
    Fut: Future<Output = GcSummary>,
{
    loop {
        let delay = schedule.next_delay(chrono::Utc::now());
        tracing::info!(
            in_seconds = delay.as_secs_f64(),
            "next janitor run scheduled"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if *stop.borrow() {
            return;
        }
        state.record_start();
        let summary = job().await;
        if summary.left_read_only {
            tracing::error!("the registry was left read-only; the next run restores it first");
        }
        state.record_run(summary);
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    #[test]
    fn schedules_parse_intervals_and_cron_and_name_the_key_when_wrong() {
        let now: chrono::DateTime<chrono::Utc> = "2026-12-03T02:59:30Z".parse().unwrap();
        let every: Schedule = "90s".parse().unwrap();
        assert_eq!(every.next_delay(now), Duration::from_secs(90));
        let nightly: Schedule = "0 3 * * *".parse().unwrap();
        assert_eq!(nightly.next_delay(now), Duration::from_secs(30));
        let e = "every tuesday".parse::<Schedule>().unwrap_err().to_string();
        assert!(e.contains("`schedule`") && e.contains("0 3 * * *"), "{e}");
        assert!("0s".parse::<Schedule>().is_err());
    }

    #[tokio::test]
    async fn metrics_show_the_last_run_and_storage_per_repository() {
        let state = Arc::new(ServiceState::default());
        let get = |path: &'static str| {
            let app = router(state.clone());
            async move {
                let resp = app
                    .oneshot(Request::get(path).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let status = resp.status();
                let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                    .await
                    .unwrap();
                (status, String::from_utf8(body.to_vec()).unwrap())
            }
        };
        assert_eq!(get("/healthz").await.0, StatusCode::OK);
        let (_, before) = get("/metrics").await;
        assert!(
            before.contains("dns01_registry_janitor_runs_total 0"),
            "{before}"
        );
        assert!(!before.contains("window_seconds"), "{before}");
        state.record_run(GcSummary {
            blobs_deleted: 7,
            error: Some("collector failed".into()),
            ..GcSummary::default()
        });
        state.record_usage(Report {
            projects: vec![Usage {
                name: "proj-a".into(),
                unique_bytes: 100,
                ..Usage::default()
            }],
            repositories: vec![Usage {
                name: "proj-a/app".into(),
                unique_bytes: 60,
                shared_bytes: 40,
                tags: 2,
                manifests: 3,
                last_push: None,
            }],
            total_bytes: 100,
        });
        let (_, after) = get("/metrics").await;
        for line in [
            "dns01_registry_janitor_runs_total 1",
            "dns01_registry_janitor_run_failures_total 1",
            "dns01_registry_janitor_blobs_deleted 7",
            "dns01_registry_janitor_last_run_success 0",
            "dns01_registry_janitor_project_unique_bytes{project=\"proj-a\"} 100",
            "dns01_registry_janitor_repository_shared_bytes{repository=\"proj-a/app\"} 40",
            "dns01_registry_janitor_repository_tags{repository=\"proj-a/app\"} 2",
            "dns01_registry_janitor_repository_manifests{repository=\"proj-a/app\"} 3",
        ] {
            assert!(after.contains(line), "{line} missing:\n{after}");
        }
    }
}
