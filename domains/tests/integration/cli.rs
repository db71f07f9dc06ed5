//! The `dns01-domains` binary against a real `named` serving the customer's zone, found through
//! `--resolver` as the system resolver would find it.

use std::process::{Command, Output};

use dns01_core::{Fqdn, ZoneName};
use dns01_testkit::bind::{Bind, BindZone};

fn delegation() -> String {
    dns01_core::delegation::delegated_name(
        &Fqdn::parse("app.customer.test").unwrap(),
        "team-a",
        &ZoneName::parse("acme.platform.test").unwrap(),
    )
    .unwrap()
    .to_absolute_string()
}

fn serve(records: &[String]) -> Bind {
    let zone = records
        .iter()
        .fold(BindZone::new("customer.test"), |zone, line| {
            zone.record(line)
        });
    Bind::builder().zone(zone).start().unwrap()
}

fn check(bind: &Bind) -> (Output, String) {
    let addr = bind.addr();
    let output = Command::new(env!("CARGO_BIN_EXE_dns01-domains"))
        .args([
            "check",
            "app.customer.test",
            "--namespace",
            "team-a",
            "--validation-zone",
            "acme.platform.test",
            "--traffic-hostname",
            "edge.platform.test",
            "--ca",
            "letsencrypt.org",
            "--resolver",
            &addr.to_string(),
            "--nameserver-port",
            &addr.port().to_string(),
            "--timeout-ms",
            "1000",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

#[test]
fn check_exits_one_and_says_which_record_to_create_while_the_delegation_is_missing() {
    let bind = serve(&["app IN CNAME edge.platform.test.".into()]);
    let (output, stdout) = check(&bind);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let server = format!("ns1.customer.test ({})", bind.addr());
    assert!(
        stdout.starts_with(&format!(
            "app.customer.test: zone customer.test, nameservers {server}\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "  [ok] app.customer.test. CNAME edge.platform.test.    (traffic)\n      {server} answers: edge.platform.test.\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "  - `_acme-challenge.app.customer.test` has no CNAME; create \
             `_acme-challenge.app.customer.test. CNAME {}` (RecordNotFound)",
            delegation()
        )),
        "{stdout}"
    );
}

#[test]
fn check_exits_zero_once_every_record_is_in_place() {
    let bind = serve(&[
        "app IN CNAME edge.platform.test.".into(),
        format!("_acme-challenge.app IN CNAME {}", delegation()),
        "@ IN CAA 0 issue \"letsencrypt.org\"".into(),
    ]);
    let (output, stdout) = check(&bind);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "  [ok] _acme-challenge.app.customer.test. CNAME {}    (validation)\n",
            delegation()
        )),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("\nAll records are in place at every nameserver.\n"),
        "{stdout}"
    );
}

#[test]
fn check_exits_two_with_the_reason_when_it_cannot_run() {
    let output = Command::new(env!("CARGO_BIN_EXE_dns01-domains"))
        .args([
            "check",
            "*.customer.test",
            "--namespace",
            "team-a",
            "--validation-zone",
            "acme.platform.test",
            "--traffic-hostname",
            "edge.platform.test",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: invalid hostname \"*.customer.test\": a wildcard is not a hostname"
        ),
        "{stderr}"
    );
}

#[test]
fn check_asks_an_apex_for_an_alias_to_the_apex_alias_target() {
    let bind = serve(&[]);
    let addr = bind.addr();
    let output = Command::new(env!("CARGO_BIN_EXE_dns01-domains"))
        .args([
            "check",
            "customer.test",
            "--namespace",
            "team-a",
            "--validation-zone",
            "acme.platform.test",
            "--traffic-hostname",
            "edge.platform.test",
            "--apex-alias-target",
            "apex.platform.test",
            "--resolver",
            &addr.to_string(),
            "--nameserver-port",
            &addr.port().to_string(),
            "--timeout-ms",
            "1000",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("  [MISSING] customer.test. ALIAS apex.platform.test.    (traffic)\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("edge.platform.test"), "{stdout}");
}
