//! The binary's `cname` subcommand, run as a platform engineer runs it.

use std::process::Command;

#[test]
fn the_cname_subcommand_prints_the_record_the_customer_must_create() {
    let out = Command::new(env!("CARGO_BIN_EXE_dns01-webhook"))
        .args([
            "cname",
            "--domain",
            "App.Customer.com",
            "--namespace",
            "team-a",
        ])
        .args(["--zone", "acme.platform.example"])
        .env_remove("GROUP_NAME")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let expected = dns01_core::delegation::cname_instruction(
        &dns01_core::Fqdn::parse("app.customer.com").unwrap(),
        "team-a",
        &dns01_core::ZoneName::parse("acme.platform.example").unwrap(),
    )
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(&expected), "{stdout:?} lacks {expected:?}");
    assert!(
        expected.starts_with("_acme-challenge.app.customer.com. CNAME app-customer-com-"),
        "{expected}"
    );
    assert!(expected.ends_with(".acme.platform.example."), "{expected}");
}

#[test]
fn the_cname_subcommand_refuses_a_bad_domain_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_dns01-webhook"))
        .args([
            "cname",
            "--domain",
            "app/customer.com",
            "--namespace",
            "team-a",
        ])
        .args(["--zone", "acme.platform.example"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("app/customer.com"), "{stderr}");
}
