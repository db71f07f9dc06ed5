//! `dns01-rfc2136` against a real BIND 9 (`named` from Debian, started per test on an
//! ephemeral port with TSIG keys and a dynamic zone; see `dns01_testkit::bind`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dns01_core::conformance::{self, Harness};
use dns01_core::retry::RetryPolicy;
use dns01_core::{ErrorKind, Fqdn, Provider, Result, TxtRecord, TxtValue, ZoneName};
use dns01_rfc2136::{Rfc2136Config, Rfc2136Provider, Transport, TsigAlgorithm, TsigKey};
use dns01_testkit::bind::{Bind, BindZone, TsigKeySpec};

const ZONE: &str = "example.test";
const VALUE: &str = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ";

/// BIND serving `example.test` (updatable by `acme-update` and by the zone owner's key) and
/// `other.test` (no updates); `read-only` is a key BIND knows that has no update rights.
struct Server {
    bind: Bind,
    acme: TsigKeySpec,
    owner: TsigKeySpec,
    read_only: TsigKeySpec,
}

fn start() -> Server {
    let acme = TsigKeySpec::new("acme-update", "hmac-sha256");
    let owner = TsigKeySpec::new("zone-owner", "hmac-sha512");
    let read_only = TsigKeySpec::new("read-only", "hmac-sha256");
    let legacy = TsigKeySpec::new("legacy-sha1", "hmac-sha1");
    let bind = Bind::builder()
        .key(acme.clone())
        .key(owner.clone())
        .key(read_only.clone())
        .key(legacy.clone())
        .zone(
            BindZone::new(ZONE)
                .grant(&acme.name)
                .grant(&owner.name)
                .grant(&legacy.name),
        )
        .zone(BindZone::new("other.test"))
        .start()
        .expect("named (apt-get install bind9)");
    Server {
        bind,
        acme,
        owner,
        read_only,
    }
}

fn key_of(spec: &TsigKeySpec) -> TsigKey {
    TsigKey::new(&spec.name, spec.algorithm.parse().unwrap(), &spec.secret).unwrap()
}

fn provider(server: &Server, key: TsigKey) -> Rfc2136Provider {
    Rfc2136Provider::new(
        Rfc2136Config::new(server.bind.addr())
            .with_key(key)
            .with_timeout(Duration::from_secs(3))
            .with_retry(RetryPolicy::none()),
    )
}

fn record(name: &str, value: &str) -> TxtRecord {
    TxtRecord::new(Fqdn::parse(name).unwrap(), TxtValue::new(value).unwrap()).with_ttl(60)
}

async fn served(server: &Server, name: &str) -> Vec<String> {
    let mut values = dns01_testkit::acmetest::txt_values(server.bind.addr(), name, false)
        .await
        .unwrap();
    values.sort();
    values
}

struct BindHarness<'a> {
    server: &'a Server,
    provider: Arc<dyn Provider>,
}

#[async_trait]
impl Harness for BindHarness<'_> {
    fn provider(&self) -> Arc<dyn Provider> {
        self.provider.clone()
    }

    fn zone(&self) -> ZoneName {
        ZoneName::parse(ZONE).unwrap()
    }

    async fn observe(&self, name: &Fqdn) -> Result<Vec<TxtValue>> {
        let values =
            dns01_testkit::acmetest::txt_values(self.server.bind.addr(), name.as_str(), false)
                .await
                .map_err(|e| dns01_core::Error::other(format!("{e:#}")))?;
        values.into_iter().map(TxtValue::new).collect()
    }

    async fn seed_foreign(&self, name: &Fqdn, value: &TxtValue) -> Result<()> {
        let line = format!("update add {name} 300 TXT \"{}\"", value.as_str());
        self.server
            .bind
            .nsupdate(&self.server.owner, &[&line])
            .map_err(|e| dns01_core::Error::other(format!("{e:#}")))
    }
}

#[tokio::test]
async fn the_provider_passes_the_dns01_core_conformance_suite_against_bind() {
    let server = start();
    let harness = BindHarness {
        server: &server,
        provider: Arc::new(provider(&server, key_of(&server.acme))),
    };
    let report = conformance::run_all(&harness)
        .await
        .unwrap_or_else(|f| panic!("{f}\nnamed log:\n{}", server.bind.log()));
    assert_eq!(report.passed.len(), conformance::CASES.len());
}

#[tokio::test]
async fn dig_shows_the_value_after_present_and_not_after_cleanup_and_a_foreign_value_survives() {
    let server = start();
    let name = format!("_acme-challenge.app.{ZONE}");
    server
        .bind
        .nsupdate(
            &server.owner,
            &[&format!("update add {name} 300 TXT \"owner-value\"")],
        )
        .unwrap();
    let p = provider(&server, key_of(&server.acme));
    let updates_before = server.bind.opcode_count("UPDATE").unwrap();

    p.present(&record(&name, VALUE)).await.unwrap();
    let dig = server.bind.dig_txt(&name).unwrap();
    assert!(dig.contains(&format!("\"{VALUE}\"")), "{dig}");
    assert!(dig.contains("\"owner-value\""), "{dig}");

    p.cleanup(&record(&name, VALUE)).await.unwrap();
    let dig = server.bind.dig_txt(&name).unwrap();
    assert!(!dig.contains(VALUE), "{dig}");
    assert_eq!(dig.trim(), "\"owner-value\"");

    // Exactly one UPDATE each (the zone was found by SOA queries, which are not updates).
    assert_eq!(
        server.bind.opcode_count("UPDATE").unwrap() - updates_before,
        2
    );

    // Cleanup again: already gone is success, and the owner's value is still there.
    p.cleanup(&record(&name, VALUE)).await.unwrap();
    assert_eq!(served(&server, &name).await, ["owner-value"]);
}

#[tokio::test]
async fn sha512_sha1_and_tcp_only_updates_work_too() {
    let server = start();
    let name = format!("_acme-challenge.algs.{ZONE}");
    let legacy = server
        .bind
        .keys()
        .iter()
        .find(|k| k.algorithm == "hmac-sha1")
        .unwrap()
        .clone();
    for (key, transport) in [
        (key_of(&server.owner), Transport::Udp),
        (key_of(&legacy), Transport::Udp),
        (key_of(&server.acme), Transport::Tcp),
    ] {
        let alg = key.algorithm();
        let p = Rfc2136Provider::new(
            Rfc2136Config::new(server.bind.addr())
                .with_key(key)
                .with_transport(transport)
                .with_retry(RetryPolicy::none()),
        );
        let value = format!("{alg}-{transport:?}");
        p.present(&record(&name, &value)).await.unwrap();
        assert!(
            served(&server, &name).await.contains(&value),
            "{alg} {transport:?}"
        );
        p.cleanup(&record(&name, &value)).await.unwrap();
        assert!(
            !served(&server, &name).await.contains(&value),
            "{alg} {transport:?}"
        );
    }
}

#[tokio::test]
async fn a_value_longer_than_255_bytes_is_one_record_of_several_strings() {
    let server = start();
    let name = format!("_acme-challenge.long.{ZONE}");
    let long = "x".repeat(600);
    let p = provider(&server, key_of(&server.acme));
    p.present(&record(&name, &long)).await.unwrap();
    assert_eq!(served(&server, &name).await, vec![long.clone()]);
    let dig = server.bind.dig_txt(&name).unwrap();
    assert_eq!(dig.matches('"').count(), 6, "three strings: {dig}");
    p.cleanup(&record(&name, &long)).await.unwrap();
    assert!(served(&server, &name).await.is_empty());
}

/// Each misconfiguration gives the kind a caller acts on and a message that names the server,
/// the zone, the record and the response code, and never the secret.
#[tokio::test]
async fn misconfigurations_map_to_kinds_with_messages_a_user_can_act_on() {
    let server = start();
    let name = format!("_acme-challenge.bad.{ZONE}");
    let other_zone_name = "_acme-challenge.app.other.test";
    let wrong_secret = TsigKey::new(
        &server.acme.name,
        TsigAlgorithm::HmacSha256,
        "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==",
    )
    .unwrap();
    let unknown_key =
        TsigKey::new("nobody", TsigAlgorithm::HmacSha256, &server.acme.secret).unwrap();
    let wrong_algorithm = TsigKey::new(
        &server.acme.name,
        TsigAlgorithm::HmacSha512,
        &server.acme.secret,
    )
    .unwrap();
    let cases: Vec<(&str, TsigKey, &str, ErrorKind, &[&str])> = vec![
        (
            "wrong secret",
            wrong_secret,
            &name,
            ErrorKind::Authentication,
            &["NOTAUTH", "BADSIG", "secret"],
        ),
        (
            "unknown key",
            unknown_key,
            &name,
            ErrorKind::Authentication,
            &["BADKEY", "nobody."],
        ),
        (
            "wrong algorithm",
            wrong_algorithm,
            &name,
            ErrorKind::Authentication,
            &["BADKEY", "hmac-sha512"],
        ),
        (
            "no update rights",
            key_of(&server.read_only),
            &name,
            ErrorKind::Permission,
            &["REFUSED", "update-policy", "read-only."],
        ),
        (
            "zone without updates",
            key_of(&server.acme),
            other_zone_name,
            ErrorKind::Permission,
            &["REFUSED", "other.test."],
        ),
    ];
    let addr = server.bind.addr().to_string();
    for (case, key, target, kind, needles) in cases {
        let p = provider(&server, key);
        let err = p.present(&record(target, VALUE)).await.unwrap_err();
        let text = err.report();
        assert_eq!(err.kind(), kind, "{case}: {text}");
        for needle in needles
            .iter()
            .chain([&addr.as_str(), &"UPDATE (add TXT value)"])
        {
            assert!(
                text.contains(needle),
                "{case}: {needle:?} missing from {text}"
            );
        }
        assert!(
            text.contains(&format!("{target}.")),
            "{case}: record missing from {text}"
        );
        for key in [&server.acme, &server.read_only] {
            assert!(!text.contains(&key.secret), "{case}: secret in {text}");
        }
    }
    assert!(
        served(&server, &name).await.is_empty(),
        "nothing was written"
    );
}

#[tokio::test]
async fn a_zone_the_server_is_not_authoritative_for_is_zone_not_found() {
    let server = start();
    // Given explicitly: BIND answers NOTAUTH (signed, no TSIG error).
    let given = Rfc2136Provider::new(
        Rfc2136Config::new(server.bind.addr())
            .with_key(key_of(&server.acme))
            .with_zone(ZoneName::parse("elsewhere.test").unwrap())
            .with_retry(RetryPolicy::none()),
    );
    let err = given
        .present(&record("_acme-challenge.elsewhere.test", VALUE))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ZoneNotFound, "{}", err.report());
    assert!(
        err.report().contains("NOTAUTH") && err.report().contains("elsewhere.test."),
        "{}",
        err.report()
    );

    // Found by SOA: no zone of the server holds the name, and no UPDATE is sent.
    let updates_before = server.bind.opcode_count("UPDATE").unwrap();
    let found = provider(&server, key_of(&server.acme));
    let err = found
        .present(&record("_acme-challenge.app.unserved.test", VALUE))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ZoneNotFound, "{}", err.report());
    assert!(err.report().contains("unserved.test"), "{}", err.report());
    assert_eq!(server.bind.opcode_count("UPDATE").unwrap(), updates_before);

    // And a name inside the served zone is found there.
    let zone = found
        .find_zone(&Fqdn::parse(&format!("_acme-challenge.deep.app.{ZONE}")).unwrap())
        .await
        .unwrap();
    assert_eq!(zone.as_str(), ZONE);
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_error_retried_by_the_policy() {
    // A UDP port nobody answers on.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let p = Rfc2136Provider::new(
        Rfc2136Config::new(silent.local_addr().unwrap())
            .with_zone(ZoneName::parse(ZONE).unwrap())
            .with_timeout(Duration::from_millis(200))
            .with_retry(RetryPolicy::new(
                2,
                Duration::from_millis(10),
                Duration::from_millis(10),
                Duration::from_secs(5),
            )),
    );
    let err = p
        .present(&record(&format!("_acme-challenge.{ZONE}"), VALUE))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{}", err.report());
    assert!(
        err.report().contains("gave up after 2 attempts"),
        "{}",
        err.report()
    );
}
