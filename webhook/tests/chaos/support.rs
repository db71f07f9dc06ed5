//! Shared helpers: the webhook over the Gandi emulator or an in-memory store, requests through
//! the router without sockets, an observer that tallies upstream calls, a seeded generator.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use dns01_core::memory::MemoryStore;
use dns01_core::retry::RetryPolicy;
use dns01_gandi::CallObserver;
use dns01_testkit::emulator::{Emulator, EmulatorBuilder, Token};
use dns01_webhook::secrets::StaticSecrets;
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::gandi::{AmbientCredentials, GandiSettings, GandiSolver};
use dns01_webhook::{AppState, router};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

pub(crate) use crate::common::{GROUP, memory_state, solver_path};

/// The token the emulator accepts and the Secret holds.
pub(crate) const TOKEN: &str = "pat-chaos-team-a-0123456789";
/// The Issuer's namespace.
pub(crate) const NAMESPACE: &str = "team-a";
/// The Gandi domain every test writes in.
pub(crate) const ZONE: &str = "example.com";

/// The webhook's answer to one request.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// The body, as JSON when it parses, else as a string.
    pub(crate) body: Value,
    /// How long the answer took.
    pub(crate) elapsed: Duration,
}

impl Answer {
    /// `response.success`, asserting the answer is a 201 with a response.
    pub(crate) fn success(&self) -> bool {
        assert_eq!(self.status, StatusCode::CREATED, "{}", self.body);
        self.body["response"]["success"]
            .as_bool()
            .unwrap_or_else(|| panic!("no response.success in {}", self.body))
    }

    /// The message of a `success: false` answer, asserting its shape.
    pub(crate) fn failure_message(&self) -> String {
        assert!(
            !self.success(),
            "expected success: false, got {}",
            self.body
        );
        assert_eq!(
            self.body["response"]["status"]["status"], "Failed",
            "{}",
            self.body
        );
        let message = self.body["response"]["status"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message in {}", self.body))
            .to_owned();
        assert!(!message.trim().is_empty(), "empty message: {}", self.body);
        message
    }

    /// Asserts a Kubernetes `Status` error with this code and reason; returns its message.
    pub(crate) fn status_error(&self, code: u16, reason: &str) -> String {
        let body = &self.body;
        assert_eq!(self.status.as_u16(), code, "{body}");
        assert_eq!(body["kind"], "Status", "{body}");
        assert_eq!(body["apiVersion"], "v1", "{body}");
        assert_eq!(body["status"], "Failure", "{body}");
        assert_eq!(body["reason"], reason, "{body}");
        assert_eq!(body["code"], code, "{body}");
        body["message"].as_str().unwrap_or_default().to_owned()
    }
}

/// Sends raw bytes as a POST to `path`.
pub(crate) async fn post_bytes(app: &Router, path: &str, body: Vec<u8>) -> Answer {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let started = Instant::now();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let elapsed = started.elapsed();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer {
        status,
        body,
        elapsed,
    }
}

/// POSTs a JSON payload to `path`.
pub(crate) async fn post(app: &Router, path: &str, payload: &Value) -> Answer {
    post_bytes(app, path, serde_json::to_vec(payload).unwrap()).await
}

/// A `ChallengePayload` as cert-manager sends it (no apiVersion/kind).
pub(crate) fn challenge(
    action: &str,
    dns_name: &str,
    resolved_fqdn: &str,
    key: &str,
    config: Value,
) -> Value {
    json!({
        "request": {
            "uid": "",
            "action": action,
            "type": "dns-01",
            "dnsName": dns_name,
            "key": key,
            "resourceNamespace": NAMESPACE,
            "resolvedFQDN": resolved_fqdn,
            "resolvedZone": format!("{ZONE}."),
            "allowAmbientCredentials": false,
            "config": config,
        }
    })
}

/// The `gandi` solver config naming the Secret that holds [`TOKEN`].
pub(crate) fn gandi_config() -> Value {
    json!({"patSecretRef": {"name": "gandi-credentials"}})
}

/// A retry policy with short waits, for tests that must stay fast.
pub(crate) fn quick_retry(max_attempts: u32, deadline: Duration) -> RetryPolicy {
    RetryPolicy::new(
        max_attempts,
        Duration::from_millis(5),
        Duration::from_millis(40),
        deadline,
    )
}

/// What the Gandi client reported about its upstream calls.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    /// HTTP attempts made.
    pub(crate) calls: u64,
    /// Attempts that were retries of a failed one.
    pub(crate) retries: u64,
    /// Attempts by answer status (0: no answer).
    pub(crate) by_status: BTreeMap<u16, u64>,
}

/// A [`CallObserver`] that tallies calls and retries.
#[derive(Debug, Default)]
pub(crate) struct UpstreamCalls(Mutex<Tally>);

impl UpstreamCalls {
    /// A snapshot of the tally.
    pub(crate) fn tally(&self) -> Tally {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl CallObserver for UpstreamCalls {
    fn on_call(&self, _operation: &'static str, status: Option<u16>, _elapsed: Duration) {
        let mut t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        t.calls += 1;
        *t.by_status.entry(status.unwrap_or(0)).or_insert(0) += 1;
    }

    fn on_retry(&self, _operation: &'static str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retries += 1;
    }
}

/// The webhook with a `gandi` solver pointed at an emulator.
#[derive(Debug)]
pub(crate) struct GandiRig {
    /// The emulator (hosting whatever zones the builder gave it, accepting [`TOKEN`]).
    pub(crate) emu: Emulator,
    /// The webhook's router.
    pub(crate) app: Router,
    /// The Gandi client's upstream calls.
    pub(crate) calls: Arc<UpstreamCalls>,
}

/// Starts the emulator from `builder` (adding [`TOKEN`]) and builds the webhook in front of
/// it; `tune` adjusts the solver's settings (URLs already point at the emulator).
pub(crate) async fn gandi_rig(
    builder: EmulatorBuilder,
    request_timeout: Duration,
    tune: impl FnOnce(&mut GandiSettings),
) -> GandiRig {
    let emu = builder.token(Token::pat(TOKEN)).start().await.unwrap();
    let url: url::Url = emu.api_url().parse().unwrap();
    let mut settings = GandiSettings {
        production_url: url.clone(),
        sandbox_url: url,
        ..GandiSettings::default()
    };
    tune(&mut settings);
    let secrets = StaticSecrets::new();
    secrets.insert(NAMESPACE, "gandi-credentials", "api-token", TOKEN);
    let calls = Arc::new(UpstreamCalls::default());
    let solver = GandiSolver::new(Arc::new(secrets), AmbientCredentials::none(), settings)
        .with_observer(calls.clone());
    let mut solvers = Solvers::new();
    solvers.insert("gandi".to_owned(), Arc::new(solver));
    let mut state = AppState::new(GROUP, solvers);
    state.request_timeout = request_timeout;
    GandiRig {
        emu,
        app: router(state),
        calls,
    }
}

/// The webhook with a `memory` solver over a store holding `zones`.
pub(crate) fn memory_rig(zones: &[&str]) -> (Router, Arc<MemoryStore>) {
    let (state, store) = memory_state(zones);
    (router(state), store)
}

/// A small seeded generator (SplitMix64): the tests' own random choices, reproducible.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator with this seed.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        #[allow(clippy::cast_precision_loss)]
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }

    /// A 43-character challenge key (the length of a real one), unique per `tag`.
    pub(crate) fn key(&mut self, tag: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut key = format!("k{tag:05}-");
        while key.len() < 43 {
            let i = usize::try_from(self.below(64)).unwrap_or(0);
            key.push(char::from(ALPHABET[i]));
        }
        key
    }
}
