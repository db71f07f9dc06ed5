//! The binary run as a platform engineer runs it: the `cname` subcommand, and its logs.

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

/// `--log-flush-interval` is deprecated: still accepted, so that deployments that pass it keep
/// starting, with a warning that says so, and lines are no longer held back by it.
#[test]
fn a_log_flush_interval_is_accepted_with_a_deprecation_warning_and_holds_nothing_back() {
    use std::io::{BufRead, BufReader};
    /// Kills the server if the test fails before it exits.
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_dns01-webhook"))
            .args([
                "local",
                "--listen",
                "127.0.0.1:0",
                "--dns-listen",
                "127.0.0.1:0",
            ])
            .args(["--log-flush-interval", "60m"])
            .env_remove("LOG_FORMAT")
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut server.0;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut before = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ready = line.contains("Press Ctrl-C to stop.");
        before.push(line);
        if ready {
            break;
        }
    }
    let warning = before
        .iter()
        .find(|l| l.contains("--log-flush-interval"))
        .unwrap_or_else(|| panic!("no deprecation warning in {before:#?}"));
    assert!(
        warning.contains("WARN") && warning.contains("deprecated"),
        "{warning}"
    );
    // An hour's interval no longer holds the start-up line back.
    assert!(
        before.iter().any(|l| l.contains("local mode ready")),
        "{before:#?}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let after: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(child.wait().unwrap().success());
    assert!(
        after.iter().any(|l| l.contains("shutting down")),
        "{after:#?}"
    );
}

#[test]
fn a_zero_gandi_rate_limit_is_refused_naming_the_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_dns01-webhook"))
        .args(["serve", "--group-name", "acme.example.com"])
        .args(["--gandi-rate-limit-per-minute", "0"])
        .env_remove("GANDI_RATE_LIMIT_PER_MINUTE")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--gandi-rate-limit-per-minute"), "{stderr}");
    assert!(stderr.contains("0 is not in 1.."), "{stderr}");
}

#[test]
fn zero_timeouts_are_refused_naming_the_flag() {
    let serve = [
        "--gandi-timeout",
        "--rfc2136-timeout",
        "--request-timeout",
        "--tls-handshake-timeout",
        "--request-read-timeout",
        "--idle-timeout",
    ];
    let cases = serve
        .iter()
        .map(|flag| (vec!["serve", "--group-name", "acme.example.com"], *flag))
        .chain([(vec!["local"], "--request-timeout")]);
    for (command, flag) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_dns01-webhook"))
            .args(&command)
            .args([flag, "0s"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{command:?} {flag} 0s: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{flag}: {stderr}");
        assert!(stderr.contains("\"0s\" is zero"), "{flag}: {stderr}");
    }
}

#[test]
fn a_bad_rfc2136_nameserver_is_refused_at_start_up_naming_the_flag() {
    for bad in [
        "http://ns1.example.com",
        "ns1.example.com:0",
        "192.0.2.1:53,,",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dns01-webhook"))
            .args(["serve", "--group-name", "acme.example.com"])
            .args(["--rfc2136-nameserver", bad])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--rfc2136-nameserver"), "{bad}: {stderr}");
        assert!(
            stderr.contains("is not a nameserver address"),
            "{bad}: {stderr}"
        );
    }
}
