//! A randomised model test: random sequences of Present and CleanUp, alone or in concurrent
//! batches, on a few names (some holding someone else's values), sent through the webhook and
//! checked after every step against a model: at each name, exactly the foreign values (in
//! their order) plus the keys presented and not yet cleaned up, each once.
//!
//! Runs against the `memory` solver and against the `gandi` solver over the emulator (fewer
//! cases: each step is real HTTP). Seeds are fixed, so a failure replays.

use std::collections::BTreeSet;
use std::future::Future;

use axum::Router;
use dns01_core::memory::MemoryStore;
use dns01_core::{Fqdn, TxtValue};
use dns01_testkit::emulator::Emulator;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::json;

use crate::support::*;

/// Names relative to [`ZONE`].
const NAMES: [&str; 3] = [
    "_acme-challenge.alpha",
    "_acme-challenge.beta",
    "_acme-challenge.gamma",
];

/// Our keys: a plain one, one with quotes and backslashes, one over 255 bytes.
fn keys() -> [String; 3] {
    [
        "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ".to_owned(),
        r#"k"ey\with "quotes" and \\ backslashes"#.to_owned(),
        format!("long-{}", "0123456789abcdef".repeat(20)),
    ]
}

/// Someone else's values at each name.
fn foreign() -> [Vec<String>; 3] {
    [
        vec![
            "v=spf1 include:_spf.example.net ~all".to_owned(),
            r#"owner "a" \ keeps this"#.to_owned(),
        ],
        Vec::new(),
        vec![format!("foreign-long-{}", "z".repeat(280))],
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Op {
    name: usize,
    key: usize,
    present: bool,
}

#[derive(Debug, Clone)]
enum Step {
    /// One request, answered before the next step.
    One(Op),
    /// Several requests at once. Never a Present and a CleanUp of the same key at the same
    /// name in one batch: their order would decide the outcome.
    Together(Vec<Op>),
}

fn op() -> impl Strategy<Value = Op> {
    (0..NAMES.len(), 0..3usize, any::<bool>()).prop_map(|(name, key, present)| Op {
        name,
        key,
        present,
    })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => op().prop_map(Step::One),
        2 => vec(op(), 2..7).prop_map(|ops| {
            let mut kept: Vec<Op> = Vec::new();
            for op in ops {
                let conflicts = kept
                    .iter()
                    .any(|k| k.name == op.name && k.key == op.key && k.present != op.present);
                if !conflicts {
                    kept.push(op);
                }
            }
            Step::Together(kept)
        }),
    ]
}

/// Where the records live, and how to read and reset them.
trait Backend {
    fn app(&self) -> &Router;
    fn solver(&self) -> &'static str;
    fn config(&self) -> serde_json::Value;
    /// The decoded values at `NAMES[name]`.
    fn values(&self, name: usize) -> Vec<String>;
    /// Back to the foreign values only.
    fn reset(&self);
}

struct Memory {
    app: Router,
    store: std::sync::Arc<MemoryStore>,
}

fn fqdn(name: usize) -> String {
    format!("{}.{ZONE}.", NAMES[name])
}

impl Backend for Memory {
    fn app(&self) -> &Router {
        &self.app
    }
    fn solver(&self) -> &'static str {
        "memory"
    }
    fn config(&self) -> serde_json::Value {
        json!({})
    }
    fn values(&self, name: usize) -> Vec<String> {
        self.store
            .values(&Fqdn::parse(&fqdn(name)).unwrap())
            .iter()
            .map(|v| v.as_str().to_owned())
            .collect()
    }
    fn reset(&self) {
        let zone = dns01_core::ZoneName::parse(ZONE).unwrap();
        for (i, values) in foreign().iter().enumerate() {
            let name = Fqdn::parse(&fqdn(i)).unwrap();
            self.store
                .seed_rrset(&zone, &name.relative_to(&zone).unwrap(), None);
            for v in values {
                self.store
                    .seed(&name, &TxtValue::new(v.clone()).unwrap())
                    .unwrap();
            }
        }
    }
}

impl Backend for GandiRig {
    fn app(&self) -> &Router {
        &self.app
    }
    fn solver(&self) -> &'static str {
        "gandi"
    }
    fn config(&self) -> serde_json::Value {
        gandi_config()
    }
    fn values(&self, name: usize) -> Vec<String> {
        self.emu.decoded_txt(ZONE, NAMES[name])
    }
    fn reset(&self) {
        for (i, values) in foreign().iter().enumerate() {
            self.emu.remove_rrset(ZONE, NAMES[i], "TXT");
            if !values.is_empty() {
                self.emu
                    .seed_rrset(ZONE, NAMES[i], "TXT", 3600, values)
                    .unwrap();
            }
        }
    }
}

/// Sends one operation; it must succeed.
async fn send(backend: &impl Backend, op: Op) -> Result<(), TestCaseError> {
    let action = if op.present { "Present" } else { "CleanUp" };
    let dns_name = format!(
        "{}.{ZONE}",
        NAMES[op.name].trim_start_matches("_acme-challenge.")
    );
    let payload = challenge(
        action,
        &dns_name,
        &fqdn(op.name),
        &keys()[op.key],
        backend.config(),
    );
    let answer = post(backend.app(), &solver_path(backend.solver()), &payload).await;
    prop_assert!(answer.success(), "{:?} answered {}", op, answer.body);
    Ok(())
}

/// The model: which of our keys are at each name.
type Model = [BTreeSet<usize>; 3];

fn apply(model: &mut Model, op: Op) {
    if op.present {
        model[op.name].insert(op.key);
    } else {
        model[op.name].remove(&op.key);
    }
}

fn check(backend: &impl Backend, model: &Model, after: &Step) -> Result<(), TestCaseError> {
    let keys = keys();
    for (i, foreign) in foreign().iter().enumerate() {
        let actual = backend.values(i);
        let unique: BTreeSet<&String> = actual.iter().collect();
        prop_assert_eq!(
            unique.len(),
            actual.len(),
            "duplicates at {}: {:?}",
            NAMES[i],
            actual
        );
        let kept: Vec<&String> = actual.iter().filter(|v| foreign.contains(v)).collect();
        let expected_foreign: Vec<&String> = foreign.iter().collect();
        prop_assert_eq!(
            kept,
            expected_foreign,
            "foreign values at {} after {:?}",
            NAMES[i],
            after
        );
        let ours: BTreeSet<usize> = actual
            .iter()
            .filter(|v| !foreign.contains(v))
            .map(|v| {
                keys.iter()
                    .position(|k| k == v)
                    .unwrap_or_else(|| panic!("a value nobody wrote at {}: {v:?}", NAMES[i]))
            })
            .collect();
        prop_assert_eq!(
            &ours,
            &model[i],
            "our keys at {} after {:?}",
            NAMES[i],
            after
        );
    }
    Ok(())
}

async fn run_case(backend: &impl Backend, steps: Vec<Step>) -> Result<(), TestCaseError> {
    backend.reset();
    let mut model: Model = Default::default();
    check(backend, &model, &Step::Together(Vec::new()))?;
    for step in &steps {
        match step {
            Step::One(op) => {
                send(backend, *op).await?;
                apply(&mut model, *op);
            }
            Step::Together(ops) => {
                let answers = futures::future::join_all(ops.iter().map(|op| send(backend, *op)));
                for answer in answers.await {
                    answer?;
                }
                for op in ops {
                    apply(&mut model, *op);
                }
            }
        }
        check(backend, &model, step)?;
    }
    Ok(())
}

/// Runs `cases` random cases of up to `max_steps` steps on the backend `make` builds.
fn run<B, F>(cases: u32, max_steps: usize, seed: u64, make: impl FnOnce() -> F)
where
    B: Backend,
    F: Future<Output = B>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let backend = rt.block_on(make());
    let mut runner = TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    });
    let result = runner.run(&vec(step(), 1..max_steps), |steps| {
        rt.block_on(run_case(&backend, steps))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn random_presents_and_cleanups_on_the_memory_solver_match_the_model() {
    run(96, 24, 0x0008_0DE1_0001, || async {
        let (app, store) = memory_rig(&[ZONE]);
        Memory { app, store }
    });
}

#[test]
fn random_presents_and_cleanups_on_the_gandi_solver_match_the_model() {
    run(16, 12, 0x0008_0DE1_0002, || async {
        gandi_rig(
            Emulator::builder().zone(ZONE),
            std::time::Duration::from_secs(10),
            |s| {
                s.rate_limit_per_minute = 1_000_000;
            },
        )
        .await
    });
}
