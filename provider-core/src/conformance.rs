//! A provider conformance suite, for providers inside or outside this workspace.
//!
//! A provider passes when it keeps the value-level contract of [`Provider`] against a real (or
//! emulated) upstream: `present` adds exactly one value and keeps every other value at the
//! name, `cleanup` removes exactly one value, both are idempotent, concurrency loses nothing,
//! long values and internationalised names survive the round trip. These are the bugs that
//! DNS-01 webhooks have shipped with (a cleanup that deletes the whole rrset and breaks the
//! concurrent wildcard challenge, a present that overwrites a value someone else keeps there).
//!
//! To run it, implement [`Harness`] for your provider: how to get the provider, the zone to
//! place test names under, how to see what is really stored at a name, and how to write a value
//! as someone else would. Then call [`run_all`] from a test:
//!
//! ```no_run
//! use std::sync::Arc;
//! use async_trait::async_trait;
//! use dns01_core::conformance::{self, Harness};
//! use dns01_core::memory::MemoryStore;
//! use dns01_core::{Fqdn, Provider, Result, TxtValue, ZoneName};
//!
//! struct Memory(Arc<MemoryStore>, Arc<dyn Provider>);
//!
//! #[async_trait]
//! impl Harness for Memory {
//!     fn provider(&self) -> Arc<dyn Provider> { self.1.clone() }
//!     fn zone(&self) -> ZoneName { self.0.zones()[0].clone() }
//!     async fn observe(&self, name: &Fqdn) -> Result<Vec<TxtValue>> { Ok(self.0.values(name)) }
//!     async fn seed_foreign(&self, name: &Fqdn, value: &TxtValue) -> Result<()> {
//!         self.0.seed(name, value)
//!     }
//! }
//!
//! # async fn run() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(MemoryStore::new([ZoneName::parse("example.com")?]));
//! let harness = Memory(store.clone(), Arc::new(store.provider()));
//! let report = conformance::run_all(&harness).await?;
//! assert_eq!(report.passed.len(), conformance::CASES.len());
//! # Ok(()) }
//! ```
//!
//! Each case works on its own fresh name under [`Harness::zone`] (with a random label, so runs
//! against a real upstream do not trip over leftovers of an earlier run) and removes what it
//! wrote when it passes. Values are compared as multisets: order does not matter, duplicates
//! do.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::join_all;

use crate::error::{Error, Result};
use crate::name::{Fqdn, ZoneName};
use crate::provider::Provider;
use crate::record::{TxtRecord, TxtValue};

/// What the suite needs to drive and watch a provider.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The provider under test.
    fn provider(&self) -> Arc<dyn Provider>;

    /// The zone test names are placed under; the provider must be able to write there.
    fn zone(&self) -> ZoneName;

    /// The TXT values really stored at `name`, decoded, read without going through the
    /// provider's own logic where possible (an emulator's state, a DNS query, the raw API).
    /// An absent rrset is an empty list.
    async fn observe(&self, name: &Fqdn) -> Result<Vec<TxtValue>>;

    /// Adds `value` at `name` as someone else would (the zone owner, another tool), bypassing
    /// the provider.
    async fn seed_foreign(&self, name: &Fqdn, value: &TxtValue) -> Result<()>;
}

/// The outcome of a passing run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The cases that ran and passed, in order.
    pub passed: Vec<&'static str>,
}

/// What went wrong in a failing case.
#[derive(Debug)]
#[non_exhaustive]
pub enum Problem {
    /// The values stored at a name are not those expected.
    Mismatch {
        /// The name observed.
        name: Fqdn,
        /// The values that should be there (in any order).
        expected: Vec<TxtValue>,
        /// The values that are there.
        observed: Vec<TxtValue>,
    },
    /// The provider or the harness returned an error where success was expected.
    Error(Error),
    /// Anything else the case checks (for example, how an IDN name was converted).
    Other(String),
}

/// A failing case: which one, at which step, and what was observed against what was expected.
#[derive(Debug)]
pub struct Failure {
    /// The case's name (one of [`CASES`]).
    pub case: &'static str,
    /// The step of the case that failed, e.g. `after cleanup of the first value`.
    pub step: String,
    /// What went wrong.
    pub problem: Problem,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conformance case {} failed {}: ", self.case, self.step)?;
        match &self.problem {
            Problem::Mismatch {
                name,
                expected,
                observed,
            } => {
                let missing = multiset_difference(expected, observed);
                let unexpected = multiset_difference(observed, expected);
                write!(
                    f,
                    "at {name} expected {} value(s), observed {}",
                    expected.len(),
                    observed.len()
                )?;
                if !missing.is_empty() {
                    write!(f, "; missing {}", list(&missing))?;
                }
                if !unexpected.is_empty() {
                    write!(f, "; unexpected {}", list(&unexpected))?;
                }
                Ok(())
            }
            Problem::Error(err) => write!(f, "{}", err.report()),
            Problem::Other(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Error(err) => Some(err),
            _ => None,
        }
    }
}

/// Shows at most a few values, each shortened, so a failure stays readable.
fn list(values: &[TxtValue]) -> String {
    const SHOWN: usize = 5;
    let mut parts: Vec<String> = values
        .iter()
        .take(SHOWN)
        .map(|v| {
            let s = v.as_str();
            if s.chars().count() > 60 {
                let head: String = s.chars().take(60).collect();
                format!("{head:?}… ({} bytes)", s.len())
            } else {
                format!("{s:?}")
            }
        })
        .collect();
    if values.len() > SHOWN {
        parts.push(format!("and {} more", values.len() - SHOWN));
    }
    format!("[{}]", parts.join(", "))
}

/// The values of `a` not matched one-for-one in `b`.
fn multiset_difference(a: &[TxtValue], b: &[TxtValue]) -> Vec<TxtValue> {
    let mut rest: Vec<&TxtValue> = b.iter().collect();
    let mut out = Vec::new();
    for v in a {
        match rest.iter().position(|r| *r == v) {
            Some(i) => {
                rest.swap_remove(i);
            }
            None => out.push(v.clone()),
        }
    }
    out
}

/// The names of all cases, in the order [`run_all`] runs them.
pub const CASES: &[&str] = &[
    "present_then_cleanup",
    "present_twice_is_one_value",
    "cleanup_is_idempotent",
    "two_values_on_one_name",
    "foreign_value_survives",
    "concurrent_presents_and_cleanups",
    "long_value_round_trips",
    "idn_name_is_written_at_its_punycode_form",
];

/// Runs every case, in order, stopping at the first failure.
pub async fn run_all(h: &dyn Harness) -> Result<Report, Failure> {
    let mut passed = Vec::new();
    present_then_cleanup(h).await?;
    passed.push(CASES[0]);
    present_twice_is_one_value(h).await?;
    passed.push(CASES[1]);
    cleanup_is_idempotent(h).await?;
    passed.push(CASES[2]);
    two_values_on_one_name(h).await?;
    passed.push(CASES[3]);
    foreign_value_survives(h).await?;
    passed.push(CASES[4]);
    concurrent_presents_and_cleanups(h).await?;
    passed.push(CASES[5]);
    long_value_round_trips(h).await?;
    passed.push(CASES[6]);
    idn_name_is_written_at_its_punycode_form(h).await?;
    passed.push(CASES[7]);
    Ok(Report { passed })
}

/// One running case: its name, the harness, and helpers that turn each check into a
/// [`Failure`] naming the case and the step.
struct Case<'a> {
    name: &'static str,
    h: &'a dyn Harness,
    provider: Arc<dyn Provider>,
}

impl<'a> Case<'a> {
    fn new(name: &'static str, h: &'a dyn Harness) -> Self {
        Self {
            name,
            h,
            provider: h.provider(),
        }
    }

    fn fail(&self, step: impl Into<String>, problem: Problem) -> Failure {
        Failure {
            case: self.name,
            step: step.into(),
            problem,
        }
    }

    fn check<T>(&self, step: &str, result: Result<T>) -> Result<T, Failure> {
        result.map_err(|e| self.fail(step, Problem::Error(e)))
    }

    /// A fresh name `_acme-challenge.<label>-<random>.<zone>` for this case.
    fn fresh_name(&self, label: &str) -> Result<Fqdn, Failure> {
        let name = format!(
            "_acme-challenge.{label}-{:08x}.{}",
            fastrand::u32(..),
            self.h.zone().as_str()
        );
        self.check(
            "while making a test name",
            Fqdn::parse(&name).map_err(Error::from),
        )
    }

    fn value(&self, text: impl Into<String>) -> Result<TxtValue, Failure> {
        self.check("while making a test value", TxtValue::new(text))
    }

    async fn present(&self, step: &str, name: &Fqdn, value: &TxtValue) -> Result<(), Failure> {
        let record = TxtRecord::new(name.clone(), value.clone());
        self.check(step, self.provider.present(&record).await)
    }

    async fn cleanup(&self, step: &str, name: &Fqdn, value: &TxtValue) -> Result<(), Failure> {
        let record = TxtRecord::new(name.clone(), value.clone());
        self.check(step, self.provider.cleanup(&record).await)
    }

    async fn seed(&self, step: &str, name: &Fqdn, value: &TxtValue) -> Result<(), Failure> {
        self.check(step, self.h.seed_foreign(name, value).await)
    }

    /// Checks that exactly `expected` (in any order) is stored at `name`.
    async fn expect(&self, step: &str, name: &Fqdn, expected: &[TxtValue]) -> Result<(), Failure> {
        let observed = self.check(step, self.h.observe(name).await)?;
        let mut a: Vec<&TxtValue> = expected.iter().collect();
        let mut b: Vec<&TxtValue> = observed.iter().collect();
        a.sort();
        b.sort();
        if a == b {
            Ok(())
        } else {
            Err(self.fail(
                step,
                Problem::Mismatch {
                    name: name.clone(),
                    expected: expected.to_vec(),
                    observed,
                },
            ))
        }
    }
}

/// A value shaped like a DNS-01 key authorisation digest (43 base64url characters).
fn token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..43)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// `present` makes the value appear; `cleanup` makes it (and the rrset) go away.
pub async fn present_then_cleanup(h: &dyn Harness) -> Result<(), Failure> {
    let c = Case::new("present_then_cleanup", h);
    let name = c.fresh_name("basic")?;
    let v = c.value(token())?;
    c.expect("before present", &name, &[]).await?;
    c.present("on present", &name, &v).await?;
    c.expect("after present", &name, std::slice::from_ref(&v))
        .await?;
    c.cleanup("on cleanup", &name, &v).await?;
    c.expect("after cleanup", &name, &[]).await
}

/// Presenting the same value twice leaves it there once.
pub async fn present_twice_is_one_value(h: &dyn Harness) -> Result<(), Failure> {
    let c = Case::new("present_twice_is_one_value", h);
    let name = c.fresh_name("twice")?;
    let v = c.value(token())?;
    c.present("on the first present", &name, &v).await?;
    c.present("on the second present", &name, &v).await?;
    c.expect("after two presents", &name, std::slice::from_ref(&v))
        .await?;
    c.cleanup("on cleanup", &name, &v).await?;
    c.expect("after cleanup", &name, &[]).await
}

/// Cleanup of a value that was never presented succeeds and changes nothing; cleaning up twice
/// succeeds.
pub async fn cleanup_is_idempotent(h: &dyn Harness) -> Result<(), Failure> {
    let c = Case::new("cleanup_is_idempotent", h);
    let name = c.fresh_name("idempotent")?;
    let v = c.value(token())?;
    c.cleanup("on cleanup of a never-presented value", &name, &v)
        .await?;
    c.expect("after cleanup of a never-presented value", &name, &[])
        .await?;
    c.present("on present", &name, &v).await?;
    c.cleanup("on the first cleanup", &name, &v).await?;
    c.cleanup("on the second cleanup", &name, &v).await?;
    c.expect("after two cleanups", &name, &[]).await
}

/// The apex and wildcard challenges of one domain share a name: cleaning up one keeps the
/// other.
pub async fn two_values_on_one_name(h: &dyn Harness) -> Result<(), Failure> {
    let c = Case::new("two_values_on_one_name", h);
    let name = c.fresh_name("apex-and-wildcard")?;
    let apex = c.value(token())?;
    let wildcard = c.value(token())?;
    c.present("on present of the apex value", &name, &apex)
        .await?;
    c.present("on present of the wildcard value", &name, &wildcard)
        .await?;
    c.expect(
        "after both presents",
        &name,
        &[apex.clone(), wildcard.clone()],
    )
    .await?;
    c.cleanup("on cleanup of the apex value", &name, &apex)
        .await?;
    c.expect(
        "after cleanup of the apex value",
        &name,
        std::slice::from_ref(&wildcard),
    )
    .await?;
    c.cleanup("on cleanup of the wildcard value", &name, &wildcard)
        .await?;
    c.expect("after both cleanups", &name, &[]).await
}

/// A value someone else keeps at the name survives our present and cleanup.
pub async fn foreign_value_survives(h: &dyn Harness) -> Result<(), Failure> {
    let c = Case::new("foreign_value_survives", h);
    let name = c.fresh_name("foreign")?;
    let foreign = c.value(format!("foreign-{}", token()))?;
    let v = c.value(token())?;
    c.seed("while seeding the foreign value", &name, &foreign)
        .await?;
    c.expect("after seeding", &name, std::slice::from_ref(&foreign))
        .await?;
    c.present("on present", &name, &v).await?;
    c.expect("after present", &name, &[foreign.clone(), v.clone()])
        .await?;
    c.cleanup("on cleanup", &name, &v).await?;
    c.expect("after cleanup", &name, std::slice::from_ref(&foreign))
        .await?;
    // Tidy up (this also checks that the foreign value can be cleaned up like any other).
    c.cleanup("on cleanup of the foreign value", &name, &foreign)
        .await?;
    c.expect("after cleanup of the foreign value", &name, &[])
        .await
}

/// How many concurrent operations [`concurrent_presents_and_cleanups`] runs in each phase.
pub const CONCURRENT_OPERATIONS: usize = 100;

/// 100 concurrent presents of distinct values, then 100 concurrent cleanups, on one name that
/// also holds a foreign value: no value is lost or left behind.
pub async fn concurrent_presents_and_cleanups(h: &dyn Harness) -> Result<(), Failure> {
    let c = Case::new("concurrent_presents_and_cleanups", h);
    let name = c.fresh_name("concurrent")?;
    let foreign = c.value(format!("foreign-{}", token()))?;
    let values = (0..CONCURRENT_OPERATIONS)
        .map(|i| c.value(format!("{i:03}-{}", token())))
        .collect::<Result<Vec<_>, _>>()?;
    c.seed("while seeding the foreign value", &name, &foreign)
        .await?;

    let presents = values.iter().map(|v| {
        let record = TxtRecord::new(name.clone(), v.clone());
        let provider = c.provider.clone();
        async move { provider.present(&record).await }
    });
    for result in join_all(presents).await {
        c.check("on one of the concurrent presents", result)?;
    }
    let mut all = values.clone();
    all.push(foreign.clone());
    c.expect("after the concurrent presents", &name, &all)
        .await?;

    let cleanups = values.iter().map(|v| {
        let record = TxtRecord::new(name.clone(), v.clone());
        let provider = c.provider.clone();
        async move { provider.cleanup(&record).await }
    });
    for result in join_all(cleanups).await {
        c.check("on one of the concurrent cleanups", result)?;
    }
    c.expect(
        "after the concurrent cleanups",
        &name,
        std::slice::from_ref(&foreign),
    )
    .await?;
    c.cleanup("on cleanup of the foreign value", &name, &foreign)
        .await?;
    c.expect("after cleanup of the foreign value", &name, &[])
        .await
}

/// A 600-byte value with a quote and a backslash in it (longer than one 255-byte TXT string)
/// comes back exactly as it was given.
pub async fn long_value_round_trips(h: &dyn Harness) -> Result<(), Failure> {
    let c = Case::new("long_value_round_trips", h);
    let name = c.fresh_name("long")?;
    let mut text = String::from("quote \" and backslash \\ then ");
    while text.len() < 600 {
        text.push_str(&token());
    }
    text.truncate(600);
    let v = c.value(text)?;
    c.present("on present", &name, &v).await?;
    c.expect("after present", &name, std::slice::from_ref(&v))
        .await?;
    c.cleanup("on cleanup", &name, &v).await?;
    c.expect("after cleanup", &name, &[]).await
}

/// A name with an internationalised label is written at its punycode form.
pub async fn idn_name_is_written_at_its_punycode_form(h: &dyn Harness) -> Result<(), Failure> {
    let c = Case::new("idn_name_is_written_at_its_punycode_form", h);
    let label = format!("bücher-{:08x}", fastrand::u32(..));
    let zone = h.zone();
    let unicode = format!("_acme-challenge.{label}.{}", zone.as_str());
    let name = c.check(
        "while parsing the IDN name",
        Fqdn::parse(&unicode).map_err(Error::from),
    )?;
    let ascii_label = idna::domain_to_ascii(&label).map_err(|e| {
        c.fail(
            "while converting the IDN label",
            Problem::Other(format!("label {label:?} has no punycode form: {e}")),
        )
    })?;
    let punycode = c.check(
        "while parsing the punycode name",
        Fqdn::parse(&format!("_acme-challenge.{ascii_label}.{}", zone.as_str()))
            .map_err(Error::from),
    )?;
    if !ascii_label.starts_with("xn--") || name != punycode {
        return Err(c.fail(
            "while checking the name",
            Problem::Other(format!(
                "{unicode:?} parsed as {name}, expected the punycode form {punycode}"
            )),
        ));
    }
    let v = c.value(token())?;
    c.present("on present", &name, &v).await?;
    c.expect(
        "after present, at the punycode name",
        &punycode,
        std::slice::from_ref(&v),
    )
    .await?;
    c.cleanup("on cleanup", &name, &v).await?;
    c.expect("after cleanup, at the punycode name", &punycode, &[])
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> TxtValue {
        TxtValue::new(s).unwrap()
    }

    #[test]
    fn mismatches_name_the_case_the_step_and_what_is_missing_or_unexpected() {
        let failure = Failure {
            case: "foreign_value_survives",
            step: "after cleanup".to_owned(),
            problem: Problem::Mismatch {
                name: Fqdn::parse("_acme-challenge.example.com").unwrap(),
                expected: vec![v("foreign")],
                observed: vec![],
            },
        };
        let text = failure.to_string();
        assert_eq!(
            text,
            "conformance case foreign_value_survives failed after cleanup: at \
             _acme-challenge.example.com. expected 1 value(s), observed 0; missing [\"foreign\"]"
        );
    }

    #[test]
    fn duplicates_count_when_comparing_values() {
        let diff = multiset_difference(&[v("a"), v("a")], &[v("a")]);
        assert_eq!(diff, vec![v("a")]);
        assert!(multiset_difference(&[v("a"), v("b")], &[v("b"), v("a")]).is_empty());
    }
}
