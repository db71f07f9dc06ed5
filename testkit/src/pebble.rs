//! A real ACME CA for tests: Pebble (Debian package `pebble`), started as a child process with a
//! certificate generated for the run and its DNS-01 lookups pointed at a DNS server of ours
//! (normally the Gandi emulator's).
//!
//! The binary is taken from `$PEBBLE_BIN`, else `pebble` on `PATH`, else `/usr/bin/pebble`.
//! When it is missing, [`Pebble::start`] fails with an error that says how to install it: the
//! end-to-end tests fail rather than skip.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running Pebble; killed when dropped.
#[derive(Debug)]
pub struct Pebble {
    child: Child,
    dir: PathBuf,
    listen: SocketAddr,
    management: SocketAddr,
    ca_pem: String,
}

/// Finds the Pebble binary, or says how to get it.
pub fn pebble_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("PEBBLE_BIN") {
        return Ok(PathBuf::from(p));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("pebble");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let fallback = PathBuf::from("/usr/bin/pebble");
    if fallback.is_file() {
        return Ok(fallback);
    }
    bail!(
        "pebble not found: install it with `apt-get install pebble` (or run scripts/install-deps.sh), \
         or set PEBBLE_BIN to its path"
    )
}

/// `n` distinct ports free at the time of the call (all held open together, then released).
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("binding an ephemeral port"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Attempts at starting Pebble when a port picked free was taken before Pebble bound it.
const START_ATTEMPTS: usize = 5;

impl Pebble {
    /// Starts Pebble with DNS-01 lookups sent to `dns_server`, and waits until it accepts
    /// connections.
    ///
    /// # Errors
    /// When Pebble is missing (see [`pebble_binary`]), exits, or is not ready within 20 s.
    /// A port taken between picking it and Pebble binding it is retried with new ports.
    pub fn start(dns_server: SocketAddr) -> anyhow::Result<Self> {
        let bin = pebble_binary()?;
        let mut attempt = 1;
        loop {
            match Self::start_once(&bin, dns_server) {
                Err(e)
                    if attempt < START_ATTEMPTS
                        && format!("{e:#}").contains("address already in use") =>
                {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    fn start_once(bin: &Path, dns_server: SocketAddr) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "dns01-pebble-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

        // A CA and a serving certificate for 127.0.0.1/localhost, made for this run.
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "dns01 test pebble CA");
        let ca_key = rcgen::KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        let leaf_key = rcgen::KeyPair::generate()?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert_path, leaf.pem())?;
        std::fs::write(&key_path, leaf_key.serialize_pem())?;
        let ca_pem = ca_cert.pem();
        std::fs::write(dir.join("ca.pem"), &ca_pem)?;

        let ports = free_ports(4)?;
        let listen = SocketAddr::from(([127, 0, 0, 1], ports[0]));
        let management = SocketAddr::from(([127, 0, 0, 1], ports[1]));
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": listen.to_string(),
                "managementListenAddress": management.to_string(),
                "certificate": cert_path,
                "privateKey": key_path,
                "httpPort": ports[2],
                "tlsPort": ports[3],
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        let config_path = dir.join("pebble-config.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
        let log = std::fs::File::create(dir.join("pebble.log"))?;

        let child = Command::new(bin)
            .arg("-config")
            .arg(&config_path)
            .arg("-dnsserver")
            .arg(dns_server.to_string())
            // Validate at once, never reject a nonce at random, never reuse authorisations:
            // the tests then see every challenge and stay fast and deterministic.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .env_remove("PEBBLE_VA_ALWAYS_VALID")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut pebble = Self {
            child,
            dir,
            listen,
            management,
            ca_pem,
        };
        pebble.wait_ready(Duration::from_secs(20))?;
        Ok(pebble)
    }

    fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "pebble exited with {status} before it was ready; its log:\n{}",
                    self.log()
                );
            }
            if TcpStream::connect_timeout(&self.listen, Duration::from_millis(200)).is_ok()
                && TcpStream::connect_timeout(&self.management, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "pebble was not ready after {limit:?}; its log:\n{}",
            self.log()
        )
    }

    /// The ACME directory URL.
    pub fn directory_url(&self) -> String {
        format!("https://{}/dir", self.listen)
    }

    /// The management API's base URL (roots, intermediates).
    pub fn management_url(&self) -> String {
        format!("https://{}", self.management)
    }

    /// PEM of the CA that signed Pebble's own HTTPS certificate: trust it to talk to Pebble.
    pub fn tls_ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Path of [`Pebble::tls_ca_pem`] on disk (for clients that take a file).
    pub fn tls_ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The working directory (config, certificates, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Pebble's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pebble.log")).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
