//! cert-manager's webhook conformance suite (basic and extended/strict), run against the real
//! binary over HTTPS with DNS checked over the wire.
//!
//! Without environment variables it targets the Gandi LiveDNS emulator. With
//! `DNS01_CONFORMANCE_GANDI_TOKEN` and `DNS01_CONFORMANCE_ZONE` it targets real Gandi:
//!
//! - `DNS01_CONFORMANCE_GANDI_TOKEN`: a personal access token that may manage the zone's records;
//! - `DNS01_CONFORMANCE_ZONE`: a Gandi LiveDNS domain, e.g. `example.com`;
//! - `DNS01_CONFORMANCE_DNS_SERVER` (optional): the resolver used to find the zone's
//!   nameservers (`ip` or `ip:port`); the first `nameserver` of `/etc/resolv.conf` by default;
//! - `DNS01_CONFORMANCE_CHECK` (optional): `authoritative` (default: every Gandi nameserver
//!   must serve the record) or `recursive` (only the server above is asked);
//! - `DNS01_CONFORMANCE_API_URL` (optional): `https://api.gandi.net/v5/livedns` by default
//!   (`https://api.sandbox.gandi.net/v5/livedns` for the sandbox).
//!
//! The record written is `cert-manager-dns01-tests.<zone>`; both tests remove what they add.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use dns01_testkit::acmetest::{self, Check, Options, Report, Suite};
use dns01_testkit::emulator::{self, Emulator, Token};
use serde_json::Value;

use crate::support::{GROUP, POLL, SOLVER, Webhook};

/// Where the manifests of the `gandi` solver live (cert-manager's `testdata/<solver>`).
fn manifest_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/gandi"))
}

/// The conformance zone on the emulator.
const EMULATED_ZONE: &str = "dns01-conformance.test";
/// A value someone else keeps at the test name: the suite must never touch it.
const FOREIGN_VALUE: &str = "kept-by-someone-else";
/// The namespace the suite's Secrets are applied in.
const NAMESPACE: &str = "cert-manager-dns01-tests";

/// Real Gandi, when the environment asks for it.
struct RealGandi {
    token: String,
    zone: String,
    dns_server: std::net::SocketAddr,
    check: Check,
    api_url: String,
}

impl std::fmt::Debug for RealGandi {
    // The token is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealGandi")
            .field("zone", &self.zone)
            .field("dns_server", &self.dns_server)
            .field("check", &self.check)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn real_gandi() -> anyhow::Result<Option<RealGandi>> {
    let Some(token) = env("DNS01_CONFORMANCE_GANDI_TOKEN") else {
        return Ok(None);
    };
    let zone = env("DNS01_CONFORMANCE_ZONE").context(
        "DNS01_CONFORMANCE_GANDI_TOKEN is set but DNS01_CONFORMANCE_ZONE is not: name the Gandi \
         domain to test in, e.g. DNS01_CONFORMANCE_ZONE=example.com",
    )?;
    let dns_server = match env("DNS01_CONFORMANCE_DNS_SERVER") {
        Some(s) => acmetest::parse_dns_server(&s)?,
        None => acmetest::system_resolver()?,
    };
    let check = match env("DNS01_CONFORMANCE_CHECK").as_deref() {
        None | Some("authoritative") => Check::Authoritative,
        Some("recursive") => Check::Recursive,
        Some(other) => {
            bail!("DNS01_CONFORMANCE_CHECK={other:?}: use `authoritative` (default) or `recursive`")
        }
    };
    let api_url = env("DNS01_CONFORMANCE_API_URL")
        .unwrap_or_else(|| "https://api.gandi.net/v5/livedns".to_owned());
    Ok(Some(RealGandi {
        token,
        zone: zone.trim_end_matches('.').to_owned(),
        dns_server,
        check,
        api_url,
    }))
}

/// The Secret name and key the solver config references (`patSecretRef`).
fn secret_ref(config: &Value) -> anyhow::Result<(String, String)> {
    let r = &config["patSecretRef"];
    let name = r["name"]
        .as_str()
        .context("testdata/gandi/config.json has no patSecretRef.name")?;
    let key = r["key"].as_str().unwrap_or("api-token");
    Ok((name.to_owned(), key.to_owned()))
}

/// An emulator hosting the conformance zone, with its own nameserver name resolvable inside
/// it so that the authoritative check discovers it through NS and A records like any zone's.
async fn conformance_emulator() -> anyhow::Result<Emulator> {
    let options = emulator::Options {
        nameserver: format!("ns1.{EMULATED_ZONE}."),
        ..emulator::Options::default()
    };
    let emu = Emulator::builder()
        .zone(EMULATED_ZONE)
        .options(options)
        .rrset(EMULATED_ZONE, "ns1", "A", 300, &["127.0.0.1"])
        .rrset(
            EMULATED_ZONE,
            "cert-manager-dns01-tests",
            "TXT",
            300,
            &[FOREIGN_VALUE],
        )
        .start()
        .await?;
    Ok(emu)
}

/// Starts the webhook for the emulator (or real Gandi), loads the Secrets, and runs the suite.
async fn run(
    check: Check,
    target: Option<RealGandi>,
) -> anyhow::Result<(Report, Webhook, Option<Emulator>)> {
    let (emu, api_url, zone, dns_server) = match &target {
        Some(real) => (
            None,
            real.api_url.clone(),
            real.zone.clone(),
            real.dns_server,
        ),
        None => {
            let emu = conformance_emulator().await?;
            let url = emu.api_url();
            let dns = emu.dns_addr();
            (Some(emu), url, EMULATED_ZONE.to_owned(), dns)
        }
    };
    let webhook = Webhook::start(&api_url).await?;
    let mut options = Options::new(&zone, dns_server, manifest_dir(), GROUP, SOLVER);
    options.resource_namespace = NAMESPACE.to_owned();
    options.check = check;
    let config = options.config()?;
    let (secret_name, secret_key) = secret_ref(&config)?;
    match (&target, &emu) {
        (Some(real), _) => {
            // The manifest holds a placeholder: the Secret is built from the token instead.
            webhook.kube.set_secret(
                NAMESPACE,
                &secret_name,
                &[(secret_key.as_str(), real.token.as_bytes())],
            );
            options.poll_interval = Duration::from_secs(2);
        }
        (None, Some(emu)) => {
            // Like cert-manager's SetManifestPath: the sibling manifests are applied, and the
            // emulator accepts the token they carry.
            let secrets = acmetest::apply_manifests(&webhook.kube, &manifest_dir(), NAMESPACE)?;
            let token = secrets
                .iter()
                .find(|s| s.name == secret_name)
                .and_then(|s| s.data.get(&secret_key))
                .with_context(|| {
                    format!("no Secret {secret_name} with key {secret_key} in testdata/gandi")
                })?;
            emu.add_token(Token::pat(String::from_utf8(token.clone())?));
            options.nameserver_port = emu.dns_addr().port();
            options.poll_interval = POLL;
            options.propagation_limit = Duration::from_secs(10);
        }
        (None, None) => unreachable!("an emulator is started when no real target is given"),
    }
    let suite = Suite::new(options, webhook.client.clone())?;
    let report = suite
        .run()
        .await
        .with_context(|| format!("webhook log:\n{}", webhook.log()))?;
    Ok((report, webhook, emu))
}

fn assert_emulator_kept_only_the_foreign_value(emu: &Emulator) {
    assert_eq!(
        emu.decoded_txt(EMULATED_ZONE, "cert-manager-dns01-tests"),
        [FOREIGN_VALUE],
        "the suite's values must be gone and the foreign one kept"
    );
}

#[tokio::test]
async fn the_webhook_passes_the_cert_manager_conformance_suite_basic_and_strict() {
    let target = real_gandi().expect("conformance environment");
    let real = target.is_some();
    let check = target.as_ref().map_or(Check::Authoritative, |t| t.check);
    if let Some(t) = &target {
        println!("conformance against real Gandi: {t:?}");
    }
    let (report, webhook, emu) = run(check, target).await.expect("conformance suite");
    println!("conformance suite ({check:?}):\n{report}");
    // The calls went the way a cluster sends them: authorised by SubjectAccessReview, with
    // the credential read from the Secret in the resource namespace.
    assert!(
        webhook.kube.sar_count() >= 1,
        "no SubjectAccessReview was made"
    );
    assert!(
        webhook
            .kube
            .request_count(&format!("/api/v1/namespaces/{NAMESPACE}/secrets/"))
            >= 1,
        "the Secret was never read"
    );
    // Its log went to a file, as in a pod: one plain line per request, no colour codes.
    let log = webhook.log();
    assert!(
        log.lines().any(|l| l.contains("challenge answered")),
        "no per-request line in the log:\n{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "terminal escape codes in a log that is not a terminal:\n{log}"
    );
    if !real {
        let emu = emu.expect("emulator");
        assert_emulator_kept_only_the_foreign_value(&emu);
    }
}

#[tokio::test]
async fn the_conformance_suite_also_passes_when_asking_one_server_recursively() {
    // Always the emulator: a recursive resolver in front of real Gandi caches answers for
    // the record's TTL, longer than the suite's propagation limit.
    let (report, _webhook, emu) = run(Check::Recursive, None)
        .await
        .expect("conformance suite");
    println!("conformance suite (Recursive):\n{report}");
    assert_emulator_kept_only_the_foreign_value(&emu.expect("emulator"));
}

#[tokio::test]
async fn the_conformance_suite_fails_with_the_webhooks_message_when_records_cannot_be_written() {
    // The suite must be able to fail: a token the emulator only lets read.
    let emu = conformance_emulator().await.expect("emulator");
    let webhook = Webhook::start(&emu.api_url()).await.expect("webhook");
    emu.add_token(Token::pat("read-only-token").read_only());
    webhook.kube.set_secret(
        NAMESPACE,
        "gandi-credentials",
        &[("api-token", b"read-only-token".as_slice())],
    );
    let mut options = Options::new(EMULATED_ZONE, emu.dns_addr(), manifest_dir(), GROUP, SOLVER);
    options.resource_namespace = NAMESPACE.to_owned();
    options.nameserver_port = emu.dns_addr().port();
    options.poll_interval = POLL;
    options.propagation_limit = Duration::from_secs(2);
    let suite = Suite::new(options, webhook.client.clone()).expect("suite");
    let error = format!("{:#}", suite.run().await.expect_err("the suite must fail"));
    assert!(error.contains("Present"), "{error}");
    assert!(
        error.contains("403") || error.to_lowercase().contains("permission"),
        "{error}"
    );
    assert!(!error.contains("read-only-token"), "{error}");
    assert_emulator_kept_only_the_foreign_value(&emu);
}
