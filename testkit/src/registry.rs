//! Real container-registry parts for tests: CNCF Distribution (`docker-registry`, Debian
//! package `docker-registry`) as a child process, and images built offline with `umoci`,
//! pushed with `skopeo` and pulled with `podman`.
//!
//! [`Registry`] serves on an ephemeral port of 127.0.0.1 with filesystem storage in a
//! temporary directory, with deletes, read-only maintenance and `auth.token` as options; it
//! stops with SIGTERM (and a wait for the process, not `kill -0`: an unreaped child looks
//! alive), restarts with another configuration over the same storage, and runs
//! `docker-registry garbage-collect` on its configuration.
//!
//! Binaries are found on `PATH`, else in `/usr/bin`; when one is missing the error says
//! that `scripts/install-deps.sh` installs it. podman gets its own temporary `--root` and
//! `--runroot`; skopeo its own `--tmpdir` (1.9 has no `--blob-cache-dir`, see
//! [`OciLayout::push`]).
//!
//! ```no_run
//! # fn run() -> anyhow::Result<()> {
//! use dns01_testkit::registry::{OciLayout, Registry, RegistryConfig, layer_bytes};
//! let registry = Registry::start(RegistryConfig::default())?;
//! let layout = OciLayout::new()?;
//! layout.image("v1", "linux/amd64", &[layer_bytes(1024, 1)])?;
//! layout.push("v1", &format!("{}/proj-a/app:v1", registry.host()), None)?;
//! # Ok(()) }
//! ```

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Finds `name` on `PATH`, else in `/usr/bin`, or says how to install it.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let fallback = Path::new("/usr/bin").join(name);
    if fallback.is_file() {
        return Ok(fallback);
    }
    bail!(
        "{name} not found on PATH or in /usr/bin: scripts/install-deps.sh installs it \
         (Debian package `{name}`)"
    )
}

/// Runs a command to completion; fails with its output when it exits non-zero.
fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// `auth.token` of Distribution's configuration: tokens are JWTs from `realm`, signed by a
/// key whose certificate is in `root_cert_bundle_pem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAuth {
    /// The token endpoint clients are sent to.
    pub realm: String,
    /// `service`: the audience tokens must carry.
    pub service: String,
    /// `issuer`: the `iss` tokens must carry.
    pub issuer: String,
    /// PEM certificates of the signing keys.
    pub root_cert_bundle_pem: String,
}

/// What a [`Registry`] runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// `storage.delete.enabled` (default true).
    pub delete: bool,
    /// `storage.maintenance.readonly.enabled` (default false): every write answers 405.
    pub read_only: bool,
    /// `auth.token` (default none: anonymous access).
    pub token: Option<TokenAuth>,
    /// `auth.htpasswd` with one user, `(user, password)`, hashed with bcrypt by Apache's
    /// `htpasswd` (Debian package `apache2-utils`) (default none).
    pub htpasswd: Option<(String, String)>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            delete: true,
            read_only: false,
            token: None,
            htpasswd: None,
        }
    }
}

/// Options of [`Registry::garbage_collect`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcOptions {
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--delete-untagged` (on 2.8 it deletes an index's children: see the reference).
    pub delete_untagged: bool,
}

/// A running CNCF Distribution; stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Registry {
    bin: PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    config: RegistryConfig,
}

/// Attempts at starting when a port picked free was taken before the registry bound it.
const START_ATTEMPTS: usize = 5;
/// How long a start or a stop may take.
const PROCESS_DEADLINE: Duration = Duration::from_secs(20);

impl Registry {
    /// Starts `docker-registry serve` with `config` and waits until `/v2/` answers.
    ///
    /// # Errors
    /// When the binary is missing, exits, or does not answer within 20 s.
    pub fn start(config: RegistryConfig) -> anyhow::Result<Self> {
        let bin = binary("docker-registry")?;
        let dir = tempfile::Builder::new()
            .prefix("dns01-registry-")
            .tempdir()?;
        std::fs::create_dir_all(dir.path().join("storage"))?;
        let mut registry = Self {
            bin,
            child: None,
            dir,
            addr: free_addr()?,
            config,
        };
        let mut attempt = 1;
        loop {
            match registry.spawn() {
                Ok(()) => return Ok(registry),
                Err(_)
                    if attempt < START_ATTEMPTS
                        && registry.log().contains("address already in use") =>
                {
                    attempt += 1;
                    std::fs::write(registry.dir.path().join("registry.log"), "")?;
                    registry.addr = free_addr()?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `127.0.0.1:<port>`, as image references and skopeo want it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The storage root (`docker/registry/v2/...` below it).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    /// The registry's log (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn write_config(&self) -> anyhow::Result<()> {
        let mut storage = serde_json::json!({
            "filesystem": {"rootdirectory": self.storage_dir()},
            "delete": {"enabled": self.config.delete},
            "maintenance": {
                "uploadpurging": {"enabled": false},
                "readonly": {"enabled": self.config.read_only},
            },
        });
        // No blob-descriptor cache: deleted blobs are gone at once (Distribution #3743).
        storage["cache"] = serde_json::json!({});
        let mut config = serde_json::json!({
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": false}},
            "storage": storage,
            "http": {"addr": self.addr.to_string(), "secret": format!("dns01-{}", fastrand::u64(..))},
        });
        if let Some(token) = &self.config.token {
            let bundle = self.dir.path().join("rootcertbundle.pem");
            std::fs::write(&bundle, &token.root_cert_bundle_pem)?;
            config["auth"] = serde_json::json!({"token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": bundle,
            }});
        }
        if let Some((user, password)) = &self.config.htpasswd {
            let path = self.dir.path().join("htpasswd");
            let out = run(Command::new(binary("htpasswd")?).args(["-Bbn", user, password]))?;
            std::fs::write(&path, &out.stdout)?;
            config["auth"] = serde_json::json!({"htpasswd": {"realm": "dns01-test", "path": path}});
        }
        std::fs::write(self.config_path(), serde_yaml_ng::to_string(&config)?)?;
        Ok(())
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        self.write_config()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("registry.log"))?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Some(c) = self.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                self.child = None;
                bail!(
                    "docker-registry exited with {status} before it answered:\n{}",
                    self.log()
                );
            }
            if http_status(self.addr, "/v2/").is_ok() {
                return Ok(());
            }
            if start.elapsed() > PROCESS_DEADLINE {
                self.kill();
                bail!(
                    "docker-registry did not answer /v2/ within 20 s:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the registry with SIGTERM and waits for the process to exit (SIGKILL after
    /// 20 s). Stopping a stopped registry does nothing.
    ///
    /// # Errors
    /// When `kill` cannot be run.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        run(Command::new("kill").args(["-TERM", &child.id().to_string()]))?;
        let start = Instant::now();
        while child.try_wait()?.is_none() {
            if start.elapsed() > PROCESS_DEADLINE {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait()?;
        Ok(())
    }

    /// Stops the registry, switches to `config`, and starts it again on the same port over
    /// the same storage.
    ///
    /// # Errors
    /// As [`Registry::stop`] and [`Registry::start`].
    pub fn restart(&mut self, config: RegistryConfig) -> anyhow::Result<()> {
        self.stop()?;
        self.config = config;
        self.spawn()
    }

    /// Runs `docker-registry garbage-collect` on this registry's configuration (it must be
    /// stopped or read-only: the collector is stop-the-world). Returns its output.
    ///
    /// # Errors
    /// When the collector exits non-zero; the error carries its output.
    pub fn garbage_collect(&self, options: GcOptions) -> anyhow::Result<String> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("garbage-collect");
        if options.dry_run {
            cmd.arg("--dry-run");
        }
        if options.delete_untagged {
            cmd.arg("--delete-untagged");
        }
        cmd.arg(self.config_path());
        let out = run(&mut cmd)?;
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if self.stop().is_err() {
            self.kill();
        }
    }
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// The status of `GET path` over plain HTTP/1.0 (for readiness checks).
///
/// # Errors
/// When nothing answers.
pub fn http_status(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    text.strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP answer: {text:?}"))
}

/// `size` bytes of seeded pseudo-random content: incompressible, so a layer's blob size
/// follows it, and the same seed gives the same layer (shared layers in tests).
pub fn layer_bytes(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..size).map(|_| rng.u8(..)).collect()
}

/// An OCI image layout in a temporary directory, where `umoci` builds images offline.
#[derive(Debug)]
pub struct OciLayout {
    dir: tempfile::TempDir,
}

/// Credentials for skopeo and podman, `user:password`.
pub type Creds<'a> = Option<&'a str>;

impl OciLayout {
    /// An empty layout (`umoci init`).
    ///
    /// # Errors
    /// When `umoci` is missing or fails.
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("dns01-oci-").tempdir()?;
        run(Command::new(binary("umoci")?)
            .args(["init", "--layout"])
            .arg(dir.path().join("layout")))?;
        Ok(Self { dir })
    }

    /// The layout's directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("layout")
    }

    fn image_arg(&self, tag: &str) -> String {
        format!("{}:{tag}", self.path().display())
    }

    /// Builds a single-platform image under `tag`: one layer per entry of `layers` (each a
    /// file `/layer-<i>` with that content), then the config's `os` and `architecture`
    /// from `platform` (`linux/amd64`).
    ///
    /// # Errors
    /// When `umoci` fails or `platform` has no `/`.
    pub fn image(&self, tag: &str, platform: &str, layers: &[Vec<u8>]) -> anyhow::Result<()> {
        let umoci = binary("umoci")?;
        let mut parts = platform.split('/');
        let (Some(os), Some(arch)) = (parts.next(), parts.next()) else {
            bail!("platform `{platform}`: write os/architecture");
        };
        let image = self.image_arg(tag);
        run(Command::new(&umoci).args(["new", "--image", &image]))?;
        for (i, content) in layers.iter().enumerate() {
            let file = self.dir.path().join(format!("layer-{i}"));
            std::fs::write(&file, content)?;
            run(Command::new(&umoci)
                .args(["insert", "--rootless", "--image", &image])
                .arg(&file)
                .arg(format!("/layer-{i}")))?;
            std::fs::remove_file(&file)?;
        }
        run(Command::new(&umoci).args([
            "config",
            "--image",
            &image,
            "--os",
            os,
            "--architecture",
            arch,
        ]))?;
        Ok(())
    }

    fn read_index(&self) -> anyhow::Result<serde_json::Value> {
        let text = std::fs::read_to_string(self.path().join("index.json"))?;
        Ok(serde_json::from_str(&text)?)
    }

    /// The descriptor `index.json` holds for `tag`.
    ///
    /// # Errors
    /// When there is no such tag.
    pub fn descriptor(&self, tag: &str) -> anyhow::Result<serde_json::Value> {
        let index = self.read_index()?;
        index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .cloned()
            .with_context(|| format!("no tag `{tag}` in the layout"))
    }

    /// The digest of the manifest (or index) tagged `tag`.
    ///
    /// # Errors
    /// When there is no such tag.
    pub fn digest(&self, tag: &str) -> anyhow::Result<String> {
        self.descriptor(tag)?["digest"]
            .as_str()
            .map(str::to_owned)
            .context("a descriptor without a digest")
    }

    /// A blob of the layout, by digest.
    ///
    /// # Errors
    /// When it is not there.
    pub fn blob(&self, digest: &str) -> anyhow::Result<Vec<u8>> {
        let (alg, hex) = digest.split_once(':').context("a digest without `:`")?;
        let path = self.path().join("blobs").join(alg).join(hex);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// Writes an OCI image index tagged `tag` whose entries are the images tagged
    /// `children[i].0`, with platform `children[i].1` (`linux/arm64/v8`). Returns its digest.
    ///
    /// # Errors
    /// When a child tag is missing.
    pub fn index(&self, tag: &str, children: &[(&str, &str)]) -> anyhow::Result<String> {
        let mut manifests = Vec::new();
        for (child, platform) in children {
            let d = self.descriptor(child)?;
            let mut parts = platform.split('/');
            let mut p = serde_json::json!({
                "os": parts.next().unwrap_or_default(),
                "architecture": parts.next().unwrap_or_default(),
            });
            if let Some(v) = parts.next() {
                p["variant"] = v.into();
            }
            manifests.push(serde_json::json!({
                "mediaType": d["mediaType"],
                "digest": d["digest"],
                "size": d["size"],
                "platform": p,
            }));
        }
        let body = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }))?;
        let hex = sha256_hex(&body);
        std::fs::write(self.path().join("blobs/sha256").join(&hex), &body)?;
        let digest = format!("sha256:{hex}");
        let mut index = self.read_index()?;
        let list = index["manifests"]
            .as_array_mut()
            .context("index.json without manifests")?;
        list.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
        list.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": body.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
        std::fs::write(self.path().join("index.json"), serde_json::to_vec(&index)?)?;
        Ok(digest)
    }

    /// `skopeo copy` of `tag` to `docker://<dest>` (`127.0.0.1:5000/proj/app:v1`), over
    /// plain HTTP, with a temporary `--tmpdir`; `--all` when `tag` is an index.
    ///
    /// # Errors
    /// When skopeo fails; the error carries its output (a 405 shows as
    /// "StatusCode: 405, Method not allowed").
    pub fn push(&self, tag: &str, dest: &str, creds: Creds<'_>) -> anyhow::Result<()> {
        let is_index =
            self.descriptor(tag)?["mediaType"] == "application/vnd.oci.image.index.v1+json";
        // skopeo 1.9 has no `--blob-cache-dir` (the reference's flag is newer): its blob-info
        // cache stays /var/lib/containers/cache, keyed by registry host:port, so registries on
        // fresh ephemeral ports do not see each other's entries; a stale entry only costs a
        // failed cross-repository mount, which skopeo follows with an upload.
        let tmp = tempfile::tempdir()?;
        let mut cmd = Command::new(binary("skopeo")?);
        cmd.args([
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--tmpdir",
        ])
        .arg(tmp.path());
        if is_index {
            cmd.arg("--all");
        }
        if let Some(c) = creds {
            cmd.args(["--dest-creds", c]);
        }
        cmd.arg(format!("oci:{}", self.image_arg(tag)))
            .arg(format!("docker://{dest}"));
        run(&mut cmd)?;
        Ok(())
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `skopeo copy` of `docker://<image>` into a temporary OCI layout, over plain HTTP (`--all`
/// copies every platform of an index): whether the image pulls whole. Returns skopeo's output.
///
/// # Errors
/// When skopeo fails; the error carries its output.
pub fn skopeo_pull(image: &str, all: bool) -> anyhow::Result<String> {
    let tmp = tempfile::tempdir()?;
    let mut cmd = Command::new(binary("skopeo")?);
    cmd.args([
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        "--tmpdir",
    ])
    .arg(tmp.path());
    if all {
        cmd.arg("--all");
    }
    cmd.arg(format!("docker://{image}")).arg(format!(
        "oci:{}:pulled",
        tmp.path().join("layout").display()
    ));
    let out = run(&mut cmd)?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// What [`podman_pull`] left: the storage it pulled into, and what podman said.
#[derive(Debug)]
pub struct PodmanPull {
    dir: tempfile::TempDir,
    /// podman's stdout and stderr.
    pub output: String,
}

impl PodmanPull {
    fn podman(&self) -> anyhow::Result<Command> {
        let mut cmd = Command::new(binary("podman")?);
        cmd.arg("--root")
            .arg(self.dir.path().join("root"))
            .arg("--runroot")
            .arg(self.dir.path().join("runroot"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
            ]);
        Ok(cmd)
    }

    /// `podman image inspect --format <format> <image>`, trimmed (`{{.Digest}}`).
    ///
    /// # Errors
    /// When podman fails.
    pub fn inspect(&self, image: &str, format: &str) -> anyhow::Result<String> {
        let out = run(self
            .podman()?
            .args(["image", "inspect", "--format", format, image]))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The architecture of the pulled image (`podman image inspect`).
    ///
    /// # Errors
    /// When podman fails.
    pub fn architecture(&self, image: &str) -> anyhow::Result<String> {
        let out =
            run(self
                .podman()?
                .args(["image", "inspect", "--format", "{{.Architecture}}", image]))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

/// Pulls `image` with podman (as root, no daemon) into its own temporary `--root` and
/// `--runroot`, over plain HTTP; `arch` picks a platform of an index.
///
/// # Errors
/// When podman fails; the error carries its output (the registry's message for 4xx).
pub fn podman_pull(
    image: &str,
    arch: Option<&str>,
    creds: Creds<'_>,
) -> anyhow::Result<PodmanPull> {
    let pull = PodmanPull {
        dir: tempfile::Builder::new().prefix("dns01-podman-").tempdir()?,
        output: String::new(),
    };
    let mut cmd = pull.podman()?;
    cmd.args(["pull", "--tls-verify=false"]);
    if let Some(a) = arch {
        cmd.args(["--arch", a]);
    }
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    cmd.arg(image);
    let out = run(&mut cmd)?;
    Ok(PodmanPull {
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        ..pull
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_names_the_install_script() {
        let e = binary("dns01-no-such-tool").unwrap_err().to_string();
        assert!(e.contains("scripts/install-deps.sh"), "{e}");
    }

    #[test]
    fn layers_of_one_seed_are_equal_and_of_the_size_asked() {
        assert_eq!(layer_bytes(100, 7), layer_bytes(100, 7));
        assert_ne!(layer_bytes(100, 7), layer_bytes(100, 8));
        assert_eq!(layer_bytes(12345, 1).len(), 12345);
    }

    #[test]
    fn registry_stops_on_sigterm_restarts_read_only_over_the_same_storage_and_collects() {
        let mut r = Registry::start(RegistryConfig::default()).unwrap();
        assert_eq!(http_status(r.addr(), "/v2/").unwrap(), 200);
        // Distribution 2.8's collector fails on a storage that never held a repository
        // ("Path not found: /docker/registry/v2/repositories"), so push one first.
        let layout = OciLayout::new().unwrap();
        layout
            .image("v1", "linux/amd64", &[layer_bytes(64, 3)])
            .unwrap();
        layout
            .push("v1", &format!("{}/proj/app:v1", r.host()), None)
            .unwrap();
        r.stop().unwrap();
        assert!(!r.is_running());
        assert!(
            http_status(r.addr(), "/v2/").is_err(),
            "port still open after stop"
        );

        r.restart(RegistryConfig {
            read_only: true,
            ..RegistryConfig::default()
        })
        .unwrap();
        assert!(r.is_running());
        assert_eq!(
            http_status(r.addr(), "/v2/proj/app/tags/list").unwrap(),
            200
        );
        let config = std::fs::read_to_string(r.config_path()).unwrap();
        assert!(
            config.contains("readonly:\n      enabled: true"),
            "{config}"
        );
        let out = r.garbage_collect(GcOptions::default()).unwrap();
        assert!(out.contains("proj/app"), "{out}");
        assert!(out.contains("blobs marked"), "{out}");
    }

    #[test]
    fn an_index_in_the_layout_lists_both_platforms() {
        let layout = OciLayout::new().unwrap();
        layout
            .image("amd64", "linux/amd64", &[layer_bytes(64, 1)])
            .unwrap();
        layout
            .image("arm64", "linux/arm64", &[layer_bytes(64, 2)])
            .unwrap();
        let digest = layout
            .index(
                "multi",
                &[("amd64", "linux/amd64"), ("arm64", "linux/arm64/v8")],
            )
            .unwrap();
        assert_eq!(layout.digest("multi").unwrap(), digest);
        let body: serde_json::Value =
            serde_json::from_slice(&layout.blob(&digest).unwrap()).unwrap();
        assert_eq!(
            body["manifests"][0]["digest"],
            layout.digest("amd64").unwrap().as_str()
        );
        assert_eq!(body["manifests"][1]["platform"]["variant"], "v8");
    }
}
