//! The checker against real authoritative servers: two `named` processes serving the customer's
//! zone, each asked separately.

use std::net::SocketAddr;

use dns01_core::{Fqdn, ZoneName};
use dns01_domains::check::{Area, Bootstrap, CheckReport, CheckRequest, Checker, ProblemKind};
use dns01_domains::crd::{Hostname, ServiceTarget, Target};
use dns01_domains::records::{Platform, required_records};
use dns01_testkit::bind::{Bind, BindZone};

const ZONE: &str = "customer.test";

fn platform(addresses: &[&str]) -> Platform {
    Platform {
        validation_zone: ZoneName::parse("acme.platform.test").unwrap(),
        traffic_hostname: Fqdn::parse("edge.platform.test").unwrap(),
        addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
        apex_alias_target: None,
    }
}

fn service() -> Target {
    Target::Service(ServiceTarget {
        name: "web".into(),
        port: 8080,
    })
}

/// The `_acme-challenge` CNAME target for `host` and tenant `team-a`.
fn delegation(host: &str) -> String {
    dns01_core::delegation::delegated_name(
        &Fqdn::parse(host).unwrap(),
        "team-a",
        &ZoneName::parse("acme.platform.test").unwrap(),
    )
    .unwrap()
    .to_absolute_string()
}

/// A `named` serving customer.test with `records` (zone-file lines).
fn serve(records: &[String]) -> Bind {
    let zone = records
        .iter()
        .fold(BindZone::new(ZONE), |zone, line| zone.record(line));
    Bind::builder().zone(zone).start().unwrap()
}

/// Correct records for app.customer.test.
fn app_records() -> Vec<String> {
    vec![
        "app IN CNAME edge.platform.test.".into(),
        format!(
            "_acme-challenge.app IN CNAME {}",
            delegation("app.customer.test")
        ),
    ]
}

async fn check(
    servers: &[&Bind],
    host: &str,
    addresses: &[&str],
    ca: Option<&str>,
    wildcard: bool,
) -> CheckReport {
    let hostname = Hostname::parse(host).unwrap();
    let requirements =
        required_records(&hostname, &service(), "team-a", &platform(addresses)).unwrap();
    let servers: Vec<SocketAddr> = servers.iter().map(|b| b.addr()).collect();
    let checker = Checker::new(Bootstrap::Static {
        zone: ZoneName::parse(ZONE).unwrap(),
        servers,
    });
    checker
        .check(&CheckRequest {
            hostname: hostname.fqdn().clone(),
            requirements,
            ca: ca.map(str::to_owned),
            wildcard,
        })
        .await
        .unwrap()
}

fn kinds(report: &CheckReport) -> Vec<ProblemKind> {
    report.problems.iter().map(|p| p.kind).collect()
}

fn messages(report: &CheckReport) -> String {
    report
        .problems
        .iter()
        .map(|p| p.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn records_in_place_at_both_servers_meet_every_requirement() {
    let (a, b) = (serve(&app_records()), serve(&app_records()));
    let report = check(
        &[&a, &b],
        "app.customer.test",
        &[],
        Some("letsencrypt.org"),
        true,
    )
    .await;
    assert!(report.all_met(), "{report:#?}");
    assert_eq!(report.records.len(), 2);
    for record in &report.records {
        assert!(record.found, "{record:?}");
        assert_eq!(record.answers.len(), 2, "one answer per server");
    }
    assert_eq!(
        report.records[0].answers[1].answer.to_string(),
        "edge.platform.test."
    );
}

#[tokio::test]
async fn a_missing_delegation_says_which_record_to_create() {
    let a = serve(&["app IN CNAME edge.platform.test.".into()]);
    let b = serve(&["app IN CNAME edge.platform.test.".into()]);
    let report = check(&[&a, &b], "app.customer.test", &[], None, false).await;
    assert!(!report.all_met());
    assert!(report.records[0].found);
    let delegation_row = &report.records[1];
    assert!(!delegation_row.found);
    assert_eq!(
        delegation_row.message.as_deref(),
        Some(
            format!(
                "`_acme-challenge.app.customer.test` has no CNAME; create \
                 `_acme-challenge.app.customer.test. CNAME {}`",
                delegation("app.customer.test")
            )
            .as_str()
        )
    );
    assert_eq!(kinds(&report), [ProblemKind::RecordNotFound]);
    assert_eq!(report.problems[0].area, Area::Delegation);
}

#[tokio::test]
async fn servers_that_disagree_are_reported_with_each_answer() {
    let good = serve(&app_records());
    let mut stale = app_records();
    stale[0] = "app IN CNAME old-host.example.".into();
    let stale = serve(&stale);
    let report = check(&[&good, &stale], "app.customer.test", &[], None, false).await;
    let traffic = &report.records[0];
    assert!(!traffic.found);
    let message = traffic.message.as_deref().unwrap();
    assert!(message.contains("disagree"), "{message}");
    assert!(
        message.contains(&format!("{} answers edge.platform.test.", good.addr())),
        "{message}"
    );
    assert!(
        message.contains(&format!("{} answers old-host.example.", stale.addr())),
        "{message}"
    );
    assert!(report.records[1].found, "the delegation is right at both");
    assert_eq!(kinds(&report), [ProblemKind::ServersDisagree]);
}

#[tokio::test]
async fn a_wrong_value_says_expected_and_found() {
    let mut records = app_records();
    records[1] = "_acme-challenge.app IN CNAME app-customer-test-x.acme.platform.test.".into();
    let (a, b) = (serve(&records), serve(&records));
    let report = check(&[&a, &b], "app.customer.test", &[], None, false).await;
    let message = report.records[1].message.as_deref().unwrap();
    assert!(
        message.starts_with(&format!(
            "`_acme-challenge.app.customer.test` CNAME: expected {}, found app-customer-test-x.acme.platform.test.",
            delegation("app.customer.test")
        )),
        "{message}"
    );
    assert_eq!(kinds(&report), [ProblemKind::RecordMismatch]);
}

#[tokio::test]
async fn a_wildcard_answering_at_acme_challenge_is_named() {
    let records = vec!["* IN CNAME lb.other-host.example.".to_owned()];
    let (a, b) = (serve(&records), serve(&records));
    let report = check(&[&a, &b], "shop.customer.test", &[], None, false).await;
    let shadow: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::WildcardShadow)
        .collect();
    assert_eq!(shadow.len(), 1, "{}", messages(&report));
    assert_eq!(shadow[0].area, Area::Delegation);
    assert!(
        shadow[0].message.starts_with(
            "the wildcard `*.customer.test` answers at `_acme-challenge.shop.customer.test` \
             with CNAME lb.other-host.example., shadowing the delegation; create the explicit record"
        ),
        "{}",
        shadow[0].message
    );
}

#[tokio::test]
async fn a_wildcard_beside_an_explicit_delegation_is_harmless() {
    let mut records = app_records();
    records.push("* IN TXT \"v=spf1 -all\"".into());
    let (a, b) = (serve(&records), serve(&records));
    let report = check(&[&a, &b], "app.customer.test", &[], None, false).await;
    assert!(report.all_met(), "{}", messages(&report));
}

#[tokio::test]
async fn caa_that_allows_another_ca_names_the_record_and_the_ca() {
    let mut records = app_records();
    records.push("@ IN CAA 0 issue \"digicert.com\"".into());
    let (a, b) = (serve(&records), serve(&records));
    let report = check(
        &[&a, &b],
        "app.customer.test",
        &[],
        Some("letsencrypt.org"),
        false,
    )
    .await;
    assert_eq!(kinds(&report), [ProblemKind::CaaForbidden]);
    assert_eq!(report.problems[0].area, Area::Certificate);
    assert!(
        report.problems[0]
            .message
            .starts_with("CAA record at customer.test allows only digicert.com for certificates, not letsencrypt.org"),
        "{}",
        report.problems[0].message
    );
    let allowed = check(
        &[&a, &b],
        "app.customer.test",
        &[],
        Some("digicert.com"),
        false,
    )
    .await;
    assert!(allowed.all_met(), "{}", messages(&allowed));
}

#[tokio::test]
async fn caa_issuewild_forbids_only_the_wildcard() {
    let mut records = app_records();
    records.push("@ IN CAA 0 issue \"letsencrypt.org\"".into());
    records.push("@ IN CAA 0 issuewild \";\"".into());
    let (a, b) = (serve(&records), serve(&records));
    let plain = check(
        &[&a, &b],
        "app.customer.test",
        &[],
        Some("letsencrypt.org"),
        false,
    )
    .await;
    assert!(plain.all_met(), "{}", messages(&plain));
    let wild = check(
        &[&a, &b],
        "app.customer.test",
        &[],
        Some("letsencrypt.org"),
        true,
    )
    .await;
    assert_eq!(kinds(&wild), [ProblemKind::CaaForbidden]);
    assert!(
        wild.problems[0].message.contains("wildcard"),
        "{}",
        messages(&wild)
    );
}

#[tokio::test]
async fn a_stray_aaaa_and_an_extra_address_at_the_apex_are_reported() {
    let records = vec![
        "@ IN A 203.0.113.7".to_owned(),
        "@ IN A 198.51.100.9".to_owned(),
        "@ IN AAAA 2001:db8::99".to_owned(),
        format!("_acme-challenge IN CNAME {}", delegation("customer.test")),
    ];
    let (a, b) = (serve(&records), serve(&records));
    let report = check(&[&a, &b], "customer.test", &["203.0.113.7"], None, false).await;
    assert!(report.records.iter().all(|r| r.found), "{report:#?}");
    assert_eq!(
        kinds(&report),
        [ProblemKind::AddressMismatch, ProblemKind::StrayRecord],
        "{}",
        messages(&report)
    );
    assert!(
        report.problems[0]
            .message
            .contains("`customer.test` A: expected 203.0.113.7, also found 198.51.100.9"),
        "{}",
        messages(&report)
    );
    assert!(
        report.problems[1]
            .message
            .starts_with("`customer.test` has AAAA 2001:db8::99 beside the right A records"),
        "{}",
        messages(&report)
    );
}

#[tokio::test]
async fn an_unreachable_server_is_reported_beside_the_answering_one() {
    let a = serve(&app_records());
    let dead: SocketAddr = {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    };
    let hostname = Hostname::parse("app.customer.test").unwrap();
    let requirements = required_records(&hostname, &service(), "team-a", &platform(&[])).unwrap();
    let report = Checker::new(Bootstrap::Static {
        zone: ZoneName::parse(ZONE).unwrap(),
        servers: vec![a.addr(), dead],
    })
    .timeout(std::time::Duration::from_millis(300))
    .check(&CheckRequest {
        hostname: hostname.fqdn().clone(),
        requirements,
        ca: None,
        wildcard: false,
    })
    .await
    .unwrap();
    assert!(!report.all_met());
    assert!(
        kinds(&report).contains(&ProblemKind::NameserverUnreachable),
        "{}",
        messages(&report)
    );
    assert!(messages(&report).contains(&dead.to_string()));
}

#[tokio::test]
async fn the_zone_and_its_nameservers_are_found_through_a_bootstrap_resolver() {
    let bind = serve(&app_records());
    let hostname = Hostname::parse("app.customer.test").unwrap();
    let requirements = required_records(&hostname, &service(), "team-a", &platform(&[])).unwrap();
    let report = Checker::new(Bootstrap::Resolver(bind.addr()))
        .nameserver_port(bind.addr().port())
        .check(&CheckRequest {
            hostname: hostname.fqdn().clone(),
            requirements,
            ca: Some("letsencrypt.org".into()),
            wildcard: false,
        })
        .await
        .unwrap();
    assert_eq!(report.zone.as_str(), ZONE);
    assert_eq!(report.servers.len(), 1);
    assert_eq!(
        report.servers[0].to_string(),
        format!("ns1.customer.test ({})", bind.addr())
    );
    assert!(report.all_met(), "{}", messages(&report));
}

#[tokio::test]
async fn an_apex_alias_is_compared_with_the_target_addresses() {
    let challenge = format!("_acme-challenge IN CNAME {}", delegation("customer.test"));
    let right = serve(&[
        "@ IN A 203.0.113.7".to_owned(),
        "@ IN AAAA 2001:db8::7".to_owned(),
        challenge.clone(),
    ]);
    let old = serve(&["@ IN A 198.51.100.1".to_owned(), challenge]);
    let hostname = Hostname::parse(ZONE).unwrap();
    let requirements = required_records(&hostname, &service(), "team-a", &platform(&[])).unwrap();
    assert_eq!(
        requirements[0].zone_line(),
        "customer.test. ALIAS edge.platform.test."
    );
    let run = |bind: &Bind| {
        let checker = Checker::new(Bootstrap::Static {
            zone: ZoneName::parse(ZONE).unwrap(),
            servers: vec![bind.addr()],
        })
        .alias_target(
            Fqdn::parse("edge.platform.test").unwrap(),
            vec![
                "203.0.113.7".parse().unwrap(),
                "2001:db8::7".parse().unwrap(),
            ],
        );
        let request = CheckRequest {
            hostname: hostname.fqdn().clone(),
            requirements: requirements.clone(),
            ca: None,
            wildcard: false,
        };
        async move { checker.check(&request).await }
    };
    let ok = run(&right).await.unwrap();
    assert!(ok.all_met(), "{}", messages(&ok));
    let wrong = run(&old).await.unwrap();
    assert!(!wrong.records[0].found);
    assert_eq!(
        wrong.records[0].message.as_deref(),
        Some(
            "`customer.test` ALIAS: expected 2001:db8::7, 203.0.113.7, found 198.51.100.1; \
             change it to `customer.test. ALIAS edge.platform.test.`"
        )
    );
    assert_eq!(kinds(&wrong), [ProblemKind::RecordMismatch]);
}

#[tokio::test]
async fn a_domain_in_place_costs_each_nameserver_one_query_per_record_and_one_for_caa() {
    let mut records = app_records();
    records.push("@ IN CAA 0 issue \"letsencrypt.org\"".into());
    let (a, b) = (serve(&records), serve(&records));
    let before = (
        a.opcode_count("QUERY").unwrap(),
        b.opcode_count("QUERY").unwrap(),
    );
    let report = check(
        &[&a, &b],
        "app.customer.test",
        &[],
        Some("letsencrypt.org"),
        false,
    )
    .await;
    assert!(report.all_met(), "{}", messages(&report));
    let after = (
        a.opcode_count("QUERY").unwrap(),
        b.opcode_count("QUERY").unwrap(),
    );
    // Two CNAME rows, then CAA at customer.test (app.customer.test is a CNAME, so not asked).
    assert_eq!((after.0 - before.0, after.1 - before.1), (3, 3));
}
