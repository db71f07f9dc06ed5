//! `gandi-emulator`: runs the Gandi LiveDNS emulator and its DNS server until SIGTERM/Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Parser;
use dns01_testkit::emulator::{Access, DEFAULT_ORG, Emulator, EmulatorBuilder, Token};
use serde::Deserialize;

/// Gandi LiveDNS v5 emulator with an authoritative DNS server answering from the same state.
#[derive(Debug, Parser)]
#[command(name = "gandi-emulator", version)]
struct Cli {
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:0")]
    http_addr: SocketAddr,
    /// DNS listen address (UDP and TCP on the same port).
    #[arg(long, default_value = "127.0.0.1:0")]
    dns_addr: SocketAddr,
    /// A hosted domain, `example.com[:org]` (repeatable).
    #[arg(long = "zone", value_name = "FQDN[:ORG]")]
    zones: Vec<String>,
    /// A credential, `pat:SECRET[:org[:read|write]]` or `apikey:KEY[:org[:read|write]]`
    /// (repeatable).
    #[arg(long = "token", value_name = "KIND:SECRET[:ORG[:ACCESS]]")]
    tokens: Vec<String>,
    /// JSON configuration file (zones, tokens, records, seed); flags add to it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed for random faults.
    #[arg(long)]
    seed: Option<u64>,
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    http_addr: Option<SocketAddr>,
    #[serde(default)]
    dns_addr: Option<SocketAddr>,
    #[serde(default)]
    zones: Vec<FileZone>,
    #[serde(default)]
    tokens: Vec<FileToken>,
    #[serde(default)]
    records: Vec<FileRecord>,
    #[serde(default)]
    seed: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileZone {
    name: String,
    #[serde(default = "default_org")]
    org: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToken {
    /// `pat` or `apikey`.
    kind: String,
    secret: String,
    #[serde(default = "default_org")]
    org: String,
    /// `read` or `write`.
    #[serde(default = "default_access")]
    access: String,
    /// Per-domain access, `{"example.com": "read"}`; absent means all domains of the org.
    #[serde(default)]
    domains: Option<std::collections::BTreeMap<String, String>>,
    /// Other organisations reachable with `sharing_id`.
    #[serde(default)]
    shared_orgs: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRecord {
    zone: String,
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default = "default_ttl")]
    ttl: u32,
    values: Vec<String>,
}

fn default_org() -> String {
    DEFAULT_ORG.to_string()
}

fn default_access() -> String {
    "write".to_string()
}

fn default_ttl() -> u32 {
    300
}

fn parse_access(s: &str) -> anyhow::Result<Access> {
    match s {
        "read" => Ok(Access::Read),
        "write" => Ok(Access::Write),
        other => bail!("unknown access {other:?}: expected read or write"),
    }
}

fn token(kind: &str, secret: &str) -> anyhow::Result<Token> {
    match kind {
        "pat" => Ok(Token::pat(secret)),
        "apikey" => Ok(Token::api_key(secret)),
        other => bail!("unknown token kind {other:?}: expected pat or apikey"),
    }
}

fn parse_token_flag(flag: &str) -> anyhow::Result<Token> {
    let mut parts = flag.split(':');
    let kind = parts.next().unwrap_or_default();
    let Some(secret) = parts.next().filter(|s| !s.is_empty()) else {
        bail!("--token {flag:?}: expected KIND:SECRET[:ORG[:read|write]]");
    };
    let mut t = token(kind, secret)?;
    if let Some(org) = parts.next().filter(|s| !s.is_empty()) {
        t = t.org(org);
    }
    if let Some(access) = parts.next() {
        t = t.access(parse_access(access)?);
    }
    if parts.next().is_some() {
        bail!("--token {flag:?}: too many fields");
    }
    Ok(t)
}

fn builder(cli: Cli) -> anyhow::Result<EmulatorBuilder> {
    let file = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str::<FileConfig>(&text)
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let mut b = Emulator::builder()
        .http_addr(file.http_addr.unwrap_or(cli.http_addr))
        .dns_addr(file.dns_addr.unwrap_or(cli.dns_addr));
    if let Some(seed) = cli.seed.or(file.seed) {
        b = b.seed(seed);
    }
    for z in &file.zones {
        b = b.zone_in_org(&z.name, &z.org);
    }
    for flag in &cli.zones {
        let (name, org) = flag.split_once(':').unwrap_or((flag, DEFAULT_ORG));
        b = b.zone_in_org(name, org);
    }
    for ft in &file.tokens {
        let mut t = token(&ft.kind, &ft.secret)?
            .org(&ft.org)
            .access(parse_access(&ft.access)?);
        if let Some(domains) = &ft.domains {
            for (d, a) in domains {
                t = t.domain(d, parse_access(a)?);
            }
        }
        for o in &ft.shared_orgs {
            t = t.shared_org(o);
        }
        b = b.token(t);
    }
    for flag in &cli.tokens {
        b = b.token(parse_token_flag(flag)?);
    }
    for r in &file.records {
        let values: Vec<&str> = r.values.iter().map(String::as_str).collect();
        b = b.rrset(&r.zone, &r.name, &r.rtype, r.ttl, &values);
    }
    Ok(b)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cli = Cli::parse();
    let emulator = builder(cli)?.start().await?;
    println!("api_url={}", emulator.api_url());
    println!("dns_addr={}", emulator.dns_addr());

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    emulator.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_flags_accept_org_and_access() {
        assert!(parse_token_flag("pat:s3cret:org-a:read").is_ok());
        assert!(parse_token_flag("apikey:k").is_ok());
        assert!(parse_token_flag("pat:s:org:admin").is_err());
        assert!(parse_token_flag("basic:s").is_err());
        assert!(parse_token_flag("pat:").is_err());
    }

    #[test]
    fn unknown_config_keys_are_rejected_by_name() {
        let err = serde_json::from_str::<FileConfig>(r#"{"zone": []}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown field `zone`"), "{err}");
    }
}
