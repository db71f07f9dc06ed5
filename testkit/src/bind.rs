//! A real BIND 9 for tests: `named` (Debian package `bind9`) started as a child process on an
//! ephemeral port of 127.0.0.1, primary for the zones it is given, with TSIG keys and an
//! `update-policy` per zone, and a statistics channel that counts the messages it received by
//! opcode (so a test or the benchmark can count UPDATEs at the server).
//!
//! `max-records-per-type` is raised from BIND 9.18's default of 100 to 200: the `dns01-core`
//! conformance suite keeps 101 values at one name at once (100 concurrent presents beside a
//! foreign value), which a default server answers with SERVFAIL.
//!
//! The binary is `$NAMED_BIN`, else `named` on `PATH`, else `/usr/sbin/named`; when it is
//! missing, [`Bind::start`] fails with an error that says how to install it.
//!
//! ```no_run
//! # fn run() -> anyhow::Result<()> {
//! use dns01_testkit::bind::{Bind, BindZone, TsigKeySpec};
//! let key = TsigKeySpec::new("acme-update", "hmac-sha256");
//! let bind = Bind::builder()
//!     .key(key.clone())
//!     .zone(BindZone::new("example.test").grant(&key.name))
//!     .start()?;
//! println!("updates go to {}", bind.addr());
//! # Ok(()) }
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;

/// A TSIG key as `named.conf` declares it.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKeySpec {
    /// The key's name.
    pub name: String,
    /// `hmac-sha256`, `hmac-sha512`, `hmac-sha1`, ...
    pub algorithm: String,
    /// The secret, base64.
    pub secret: String,
}

impl std::fmt::Debug for TsigKeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKeySpec")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TsigKeySpec {
    /// A key with a random 32-byte secret.
    pub fn new(name: &str, algorithm: &str) -> Self {
        let secret: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
        Self {
            name: name.to_owned(),
            algorithm: algorithm.to_owned(),
            secret: base64::engine::general_purpose::STANDARD.encode(secret),
        }
    }
}

/// A zone `named` is primary for.
#[derive(Debug, Clone)]
pub struct BindZone {
    name: String,
    grants: Vec<String>,
    records: Vec<String>,
}

impl BindZone {
    /// A zone with an SOA, `NS ns1.<zone>` and `ns1 A 127.0.0.1`, and no update rights.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.trim_end_matches('.').to_owned(),
            grants: Vec::new(),
            records: Vec::new(),
        }
    }

    /// Lets `key` update TXT records anywhere in the zone (`grant <key> zonesub TXT;`).
    #[must_use]
    pub fn grant(mut self, key: &str) -> Self {
        self.grants.push(key.to_owned());
        self
    }

    /// Adds a line to the zone file, e.g. `www 300 IN A 127.0.0.1`.
    #[must_use]
    pub fn record(mut self, line: &str) -> Self {
        self.records.push(line.to_owned());
        self
    }
}

/// What [`Bind::start`] sets up.
#[derive(Debug, Clone, Default)]
pub struct BindBuilder {
    keys: Vec<TsigKeySpec>,
    zones: Vec<BindZone>,
    recursion: bool,
}

impl BindBuilder {
    /// Declares a TSIG key.
    #[must_use]
    pub fn key(mut self, key: TsigKeySpec) -> Self {
        self.keys.push(key);
        self
    }

    /// Serves a zone.
    #[must_use]
    pub fn zone(mut self, zone: BindZone) -> Self {
        self.zones.push(zone);
        self
    }

    /// Answers queries that ask for recursion from 127.0.0.1 as the resolver in front of the
    /// authoritative servers would: a CNAME into another of its zones is chased there (without
    /// it, `named` answers the CNAME alone). For an ACME CA (Pebble) that expects a resolver;
    /// queries without recursion desired are answered as before.
    #[must_use]
    pub fn recursion(mut self) -> Self {
        self.recursion = true;
        self
    }

    /// Starts `named` and waits until it answers for every zone.
    ///
    /// # Errors
    /// When `named` is missing, exits, or does not answer within 20 s. A port taken between
    /// picking it and `named` binding it is retried with new ports.
    pub fn start(self) -> anyhow::Result<Bind> {
        let bin = named_binary()?;
        let mut attempt = 1;
        loop {
            match Bind::start_once(&bin, &self) {
                Err(e) if attempt < 5 && format!("{e:#}").contains("address in use") => {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

/// A running `named`; killed when dropped.
#[derive(Debug)]
pub struct Bind {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    stats: SocketAddr,
    keys: Vec<TsigKeySpec>,
}

/// Finds `named`, or says how to get it.
pub fn named_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("NAMED_BIN") {
        return Ok(PathBuf::from(p));
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let candidate = dir.join("named");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let fallback = PathBuf::from("/usr/sbin/named");
    if fallback.is_file() {
        return Ok(fallback);
    }
    bail!(
        "named not found: install it with `apt-get install bind9` (or run scripts/install-deps.sh), \
         or set NAMED_BIN to its path"
    )
}

/// A port free for both UDP and TCP on 127.0.0.1 at the time of the call.
fn free_port() -> anyhow::Result<u16> {
    for _ in 0..20 {
        let tcp = TcpListener::bind("127.0.0.1:0").context("binding an ephemeral port")?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no port free for both UDP and TCP on 127.0.0.1")
}

impl Bind {
    /// What to set up.
    pub fn builder() -> BindBuilder {
        BindBuilder::default()
    }

    fn start_once(bin: &Path, spec: &BindBuilder) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("dns01-bind-").tempdir()?;
        let port = free_port()?;
        let stats_port = free_port()?;
        let d = dir.path().display();
        let recursion = if spec.recursion {
            "recursion yes;\n  allow-recursion { 127.0.0.1; };"
        } else {
            "recursion no;"
        };
        let mut conf = format!(
            "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  \
             session-keyfile \"{d}/session.key\";\n  managed-keys-directory \"{d}\";\n  \
             listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  \
             {recursion}\n  dnssec-validation no;\n  notify no;\n  allow-query {{ any; }};\n  \
             minimal-responses yes;\n  max-records-per-type 200;\n}};\n\
             controls {{ }};\n\
             statistics-channels {{ inet 127.0.0.1 port {stats_port} allow {{ 127.0.0.1; }}; }};\n"
        );
        for key in &spec.keys {
            writeln!(
                conf,
                "key \"{}\" {{ algorithm {}; secret \"{}\"; }};",
                key.name, key.algorithm, key.secret
            )?;
        }
        for zone in &spec.zones {
            let file = dir.path().join(format!("{}.zone", zone.name));
            let mut text = format!(
                "$TTL 300\n@ IN SOA ns1.{z}. hostmaster.{z}. 1 3600 600 86400 60\n\
                 @ IN NS ns1.{z}.\nns1 IN A 127.0.0.1\n",
                z = zone.name
            );
            for line in &zone.records {
                writeln!(text, "{line}")?;
            }
            std::fs::write(&file, text)?;
            let policy = if zone.grants.is_empty() {
                "allow-update { none; };".to_owned()
            } else {
                let grants: String = zone
                    .grants
                    .iter()
                    .map(|k| format!(" grant \"{k}\" zonesub TXT;"))
                    .collect();
                format!("update-policy {{{grants} }};")
            };
            writeln!(
                conf,
                "zone \"{}\" {{ type primary; file \"{}\"; {policy} }};",
                zone.name,
                file.display()
            )?;
        }
        let conf_path = dir.path().join("named.conf");
        std::fs::write(&conf_path, conf)?;
        let log = std::fs::File::create(dir.path().join("named.log"))?;
        let child = Command::new(bin)
            .args(["-g", "-n", "1", "-c"])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut bind = Self {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            stats: SocketAddr::from(([127, 0, 0, 1], stats_port)),
            keys: spec.keys.clone(),
        };
        bind.wait_ready(&spec.zones)?;
        Ok(bind)
    }

    fn wait_ready(&mut self, zones: &[BindZone]) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "named exited with {status} before it was ready:\n{}",
                    self.log()
                );
            }
            let all_served = zones
                .iter()
                .all(|z| soa_answered(self.addr, &z.name).unwrap_or(false));
            let log = self.log();
            if all_served && log.contains("running") {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(20) {
                bail!("named did not answer within 20 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address updates and queries go to (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The keys declared.
    pub fn keys(&self) -> &[TsigKeySpec] {
        &self.keys
    }

    /// `named`'s log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("named.log")).unwrap_or_default()
    }

    /// Runs `nsupdate` (from `bind9-dnsutils`) with `key` and the given commands (`update add
    /// ...`), as a zone owner or another tool would; `send` is added.
    ///
    /// # Errors
    /// When `nsupdate` fails; the error carries its output.
    pub fn nsupdate(&self, key: &TsigKeySpec, commands: &[&str]) -> anyhow::Result<()> {
        let mut script = format!("server {} {}\n", self.addr.ip(), self.addr.port());
        for c in commands {
            writeln!(script, "{c}")?;
        }
        script.push_str("send\n");
        let mut child = Command::new("nsupdate")
            .arg("-y")
            .arg(format!("{}:{}:{}", key.algorithm, key.name, key.secret))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting nsupdate (apt-get install bind9-dnsutils)")?;
        child
            .stdin
            .take()
            .context("nsupdate stdin")?
            .write_all(script.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "nsupdate failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// `dig +short TXT <name>` against this server: one line per record, strings quoted.
    ///
    /// # Errors
    /// When `dig` cannot run or fails.
    pub fn dig_txt(&self, name: &str) -> anyhow::Result<String> {
        let out = Command::new("dig")
            .arg(format!("@{}", self.addr.ip()))
            .args([
                "-p",
                &self.addr.port().to_string(),
                "+short",
                "+norecurse",
                "TXT",
                name,
            ])
            .output()
            .context("running dig (apt-get install bind9-dnsutils)")?;
        if !out.status.success() {
            bail!("dig failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// How many messages of `opcode` (`QUERY`, `UPDATE`, ...) the server has received, from
    /// its statistics channel.
    ///
    /// # Errors
    /// When the statistics channel cannot be read.
    pub fn opcode_count(&self, opcode: &str) -> anyhow::Result<u64> {
        use std::io::Read as _;
        let mut stream = std::net::TcpStream::connect(self.stats)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET /json/v1/server HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.stats
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .context("statistics channel answer without a body")?;
        let stats: serde_json::Value =
            serde_json::from_str(body).context("statistics channel answer is not JSON")?;
        Ok(stats["opcodes"][opcode].as_u64().unwrap_or(0))
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `server` answers the SOA of `zone` (one UDP query).
fn soa_answered(server: SocketAddr, zone: &str) -> anyhow::Result<bool> {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RecordType};
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_ascii(format!("{zone}."))?,
        RecordType::SOA,
    ));
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    socket.send_to(&query.to_vec()?, server)?;
    let mut buf = [0u8; 4096];
    let Ok(n) = socket.recv(&mut buf) else {
        return Ok(false);
    };
    let answer = Message::from_vec(&buf[..n])?;
    Ok(!answer.answers.is_empty())
}
