//! Figure 6, the registry gateway: a blob pulled over TLS through `dns01-registry-gateway`
//! against nginx (Debian's) proxying the same CNCF Distribution with the same certificate, and
//! against Distribution serving TLS itself; the gateway's resident memory during pulls of two
//! blob sizes; manifest GETs at 64 concurrent connections, p99 against nginx's.
//!
//! Everything is spawned here on loopback: two `docker-registry` processes on one storage
//! directory (plain HTTP as the proxies' upstream, TLS as the direct baseline), nginx, and the
//! gateway binary. The three pull in turn, round after round, so that a change in the
//! machine's speed weighs on all of them alike; each figure is the median of its rounds.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use sha2::Digest as _;
use tokio::net::TcpStream;

use crate::load::Endpoint;
use crate::pki::RunPki;
use crate::procfs;
use crate::stats::{Samples, ratio};
use crate::table::{Row, Table, Verdict};

/// The repository the blobs and the manifest live in.
const REPO: &str = "bench/app";
/// The OCI image manifest media type.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The gateway's resident-memory target during a pull.
const RSS_TARGET_MIB: f64 = 32.0;
/// How much more the gateway may hold while pulling the large blob than the small one.
const RSS_GROWTH_LIMIT_MIB: f64 = 2.0;

/// What figure 6 measures.
#[derive(Debug, Clone)]
pub struct Options {
    /// The large blob (1 GiB in the full run).
    pub blob_bytes: u64,
    /// The small blob, for the memory growth check.
    pub small_blob_bytes: u64,
    /// Pull rounds (each pulls the large blob through all three).
    pub rounds: u32,
    /// Concurrent connections of the manifest GETs.
    pub concurrency: usize,
    /// Measured seconds of manifest GETs per server.
    pub manifest_seconds: f64,
    /// Whether targets are checked (a release build): a debug build only shows the figures.
    pub check_targets: bool,
    /// The gateway binary.
    pub gateway_bin: PathBuf,
}

impl Options {
    /// The full run: 1 GiB against 64 MiB, 3 rounds, 64 connections for 10 s.
    pub fn full(gateway_bin: PathBuf) -> Self {
        Self {
            blob_bytes: 1 << 30,
            small_blob_bytes: 64 << 20,
            rounds: 3,
            concurrency: 64,
            manifest_seconds: 10.0,
            check_targets: !cfg!(debug_assertions),
            gateway_bin,
        }
    }

    /// CI's short run: 16 MiB against 4 MiB, one round, 1 s of manifests; the processes
    /// and the paths work, no target is checked.
    pub fn short(gateway_bin: PathBuf) -> Self {
        Self {
            blob_bytes: 16 << 20,
            small_blob_bytes: 4 << 20,
            rounds: 1,
            concurrency: 64,
            manifest_seconds: 1.0,
            check_targets: false,
            gateway_bin,
        }
    }
}

/// Builds `dns01-registry-gateway` with cargo (this program's profile) unless `given`, and
/// returns its path.
///
/// # Errors
/// When cargo fails or the binary is not there.
pub fn binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_owned());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "-p",
        "dns01-registry-gateway",
        "--bin",
        "dns01-registry-gateway",
    ]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    eprintln!("building dns01-registry-gateway: {cmd:?}");
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("building dns01-registry-gateway failed ({status})");
    }
    let path = std::env::current_exe()
        .context("cannot find this program's path")?
        .parent()
        .context("this program has no directory")?
        .join("dns01-registry-gateway");
    if !path.is_file() {
        bail!("{} does not exist", path.display());
    }
    Ok(path)
}

/// A spawned process, killed when dropped.
#[derive(Debug)]
struct Process(Child);

impl Drop for Process {
    /// SIGTERM first: nginx's master stops its workers then, while a SIGKILL would leave
    /// them running. SIGKILL if it is still there after 5 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("no free port")?;
    Ok(l.local_addr()?)
}

/// Waits until `addr` accepts connections.
async fn wait_port(addr: SocketAddr, what: &str, child: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited ({status})");
        }
        if Instant::now() > deadline {
            bail!("{what} does not listen on {addr}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `docker-registry serve` on `storage`, plain or with the run's certificate.
async fn registry(
    dir: &Path,
    storage: &Path,
    name: &str,
    tls: Option<&RunPki>,
) -> anyhow::Result<(Process, SocketAddr)> {
    let addr = free_addr()?;
    let tls = tls.map_or(String::new(), |pki| {
        format!(
            "\n  tls: {{certificate: '{}', key: '{}'}}",
            pki.cert_file().display(),
            pki.key_file().display()
        )
    });
    let config = dir.join(format!("{name}.yml"));
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: '{}'}}\n  \
             maintenance: {{uploadpurging: {{enabled: false}}}}\nhttp:\n  addr: {addr}\n  secret: bench{tls}\n",
            storage.display()
        ),
    )?;
    let bin = dns01_testkit::registry::binary("docker-registry")?;
    let mut child = Command::new(bin)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start docker-registry")?;
    wait_port(addr, name, &mut child).await?;
    Ok((Process(child), addr))
}

/// nginx proxying `upstream` over TLS with the run's certificate, as the distribution
/// project's recipe sets it up (HTTP/1.1 keep-alive to the upstream, no body size limit),
/// with response buffering off so that it streams as the gateway does.
async fn nginx(
    dir: &Path,
    pki: &RunPki,
    upstream: SocketAddr,
) -> anyhow::Result<(Process, SocketAddr)> {
    let addr = free_addr()?;
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(&prefix)?;
    // As root, workers would switch to `nobody`, who cannot enter the temporary directory.
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            == Some("0")
    });
    let user = if root { "user root;\n" } else { "" };
    let p = prefix.display();
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "{user}worker_processes auto;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log /dev/null;\n  client_body_temp_path {p}/body;\n  \
             proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  \
             scgi_temp_path {p}/scgi;\n  upstream registry {{ server {upstream}; keepalive 64; }}\n  \
             server {{\n    listen {addr} ssl;\n    ssl_certificate {};\n    ssl_certificate_key {};\n    \
             ssl_protocols TLSv1.2 TLSv1.3;\n    client_max_body_size 0;\n    \
             location /v2/ {{\n      proxy_pass http://registry;\n      proxy_http_version 1.1;\n      \
             proxy_set_header Connection \"\";\n      proxy_set_header Host $http_host;\n      \
             proxy_buffering off;\n      proxy_read_timeout 900;\n    }}\n  }}\n}}\n",
            pki.cert_file().display(),
            pki.key_file().display()
        ),
    )?;
    let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .context("nginx is not installed (scripts/install-deps.sh installs it)")?;
    let mut child = Command::new(bin)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off; master_process on;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start nginx")?;
    wait_port(addr, "nginx", &mut child).await?;
    Ok((Process(child), addr))
}

/// The gateway binary over TLS with one route onto `upstream` (any host, no prefix), logging
/// a line per request to /dev/null as it would in production.
async fn gateway(
    dir: &Path,
    bin: &Path,
    pki: &RunPki,
    upstream: SocketAddr,
) -> anyhow::Result<(Process, SocketAddr)> {
    let addr = free_addr()?;
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!("routes: [{{name: bench, upstream: 'http://{upstream}'}}]\n"),
    )?;
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--listen", &addr.to_string()])
        .arg("--tls-cert-file")
        .arg(pki.cert_file())
        .arg("--tls-private-key-file")
        .arg(pki.key_file())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start dns01-registry-gateway")?;
    wait_port(addr, "dns01-registry-gateway", &mut child).await?;
    Ok((Process(child), addr))
}

/// Deterministic incompressible-looking bytes (xorshift), in 8 MiB pieces.
struct Blob {
    state: u64,
    left: u64,
}

impl Blob {
    fn new(size: u64, seed: u64) -> Self {
        Self {
            state: seed | 1,
            left: size,
        }
    }

    fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if self.left == 0 {
            return None;
        }
        let n = self.left.min(8 << 20);
        self.left -= n;
        let mut out = Vec::with_capacity(usize::try_from(n).ok()?);
        while (out.len() as u64) < n {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            out.extend_from_slice(&self.state.to_le_bytes());
        }
        out.truncate(usize::try_from(n).ok()?);
        Some(out)
    }
}

/// Uploads `size` bytes as a blob of [`REPO`] in 8 MiB PATCHes; its digest.
async fn push_blob(
    http: &reqwest::Client,
    base: &str,
    size: u64,
    seed: u64,
) -> anyhow::Result<String> {
    let mut hash = sha2::Sha256::new();
    let mut blob = Blob::new(size, seed);
    while let Some(c) = blob.next_chunk() {
        hash.update(&c);
    }
    let digest = format!(
        "sha256:{}",
        hash.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let started = http
        .post(format!("{base}/v2/{REPO}/blobs/uploads/"))
        .send()
        .await?;
    if started.status() != 202 {
        bail!("starting an upload: {}", started.status());
    }
    let mut location = upload_location(base, &started)?;
    let mut blob = Blob::new(size, seed);
    let mut offset = 0u64;
    while let Some(c) = blob.next_chunk() {
        let len = c.len() as u64;
        let r = http
            .patch(location.clone())
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{offset}-{}", offset + len - 1))
            .body(c)
            .send()
            .await?;
        if r.status() != 202 {
            bail!("uploading a chunk: {}", r.status());
        }
        offset += len;
        location = upload_location(base, &r)?;
    }
    location.query_pairs_mut().append_pair("digest", &digest);
    let done = http.put(location).send().await?;
    if done.status() != 201 {
        bail!("finishing an upload: {}", done.status());
    }
    Ok(digest)
}

fn upload_location(base: &str, r: &reqwest::Response) -> anyhow::Result<url::Url> {
    let l = r
        .headers()
        .get("location")
        .context("an upload answer without Location")?
        .to_str()?;
    Ok(url::Url::parse(base)?.join(l)?)
}

/// Pushes a manifest whose config and layer are blobs already there; its body.
async fn push_manifest(
    http: &reqwest::Client,
    base: &str,
    layer: &str,
    layer_size: u64,
) -> anyhow::Result<Bytes> {
    let config = Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let config_digest = format!("sha256:{:x}", sha2::Sha256::digest(&config));
    let started = http
        .post(format!("{base}/v2/{REPO}/blobs/uploads/"))
        .send()
        .await?;
    let mut location = upload_location(base, &started)?;
    location
        .query_pairs_mut()
        .append_pair("digest", &config_digest);
    let done = http.put(location).body(config.clone()).send().await?;
    if done.status() != 201 {
        bail!("pushing the config: {}", done.status());
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}],
    });
    let body = Bytes::from(serde_json::to_vec(&manifest)?);
    let r = http
        .put(format!("{base}/v2/{REPO}/manifests/v1"))
        .header("content-type", OCI_MANIFEST)
        .body(body.clone())
        .send()
        .await?;
    if r.status() != 201 {
        bail!("pushing the manifest: {}", r.status());
    }
    Ok(body)
}

type Sender = http1::SendRequest<Empty<Bytes>>;

/// One HTTP/1.1 connection over TLS to `addr` (`localhost`, the run's CA).
async fn connect(endpoint: &Endpoint) -> anyhow::Result<Sender> {
    let tcp = TcpStream::connect(endpoint.addr).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(endpoint.tls.clone())
        .connect(ServerName::try_from("localhost")?, tcp)
        .await
        .context("TLS handshake")?;
    let (sender, conn) = http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn get(path: &str, accept: &str) -> anyhow::Result<http::Request<Empty<Bytes>>> {
    Ok(http::Request::get(path)
        .header(http::header::HOST, "localhost")
        .header(http::header::ACCEPT, accept)
        .body(Empty::new())?)
}

/// Pulls the blob over a new connection, counting bytes; sampling `rss_of`'s resident memory
/// every 10 ms meanwhile. (bytes per second, highest RSS seen in bytes).
async fn pull(
    endpoint: &Endpoint,
    digest: &str,
    size: u64,
    rss_of: Option<u32>,
) -> anyhow::Result<(f64, u64)> {
    let mut sender = connect(endpoint).await?;
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut peak = 0u64;
        let Some(pid) = rss_of else { return peak };
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tokio::select! {
                _ = &mut stop_rx => return peak,
                _ = tick.tick() => peak = peak.max(procfs::rss(pid).unwrap_or(0)),
            }
        }
    });
    let started = Instant::now();
    let res = sender
        .send_request(get(
            &format!("/v2/{REPO}/blobs/{digest}"),
            "application/octet-stream",
        )?)
        .await?;
    if res.status() != 200 {
        bail!("blob GET answered {}", res.status());
    }
    let mut body = res.into_body();
    let mut got = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            got += data.len() as u64;
        }
    }
    let elapsed = started.elapsed();
    let _ = stop_tx.send(());
    let peak = sampler.await.unwrap_or(0);
    if got != size {
        bail!("pulled {got} bytes of {size}");
    }
    Ok((size as f64 / elapsed.as_secs_f64(), peak))
}

/// Manifest GETs on `concurrency` connections for `seconds` (after a short warm-up):
/// latencies, and requests that failed.
async fn manifests(
    endpoint: &Endpoint,
    concurrency: usize,
    seconds: f64,
    expected: &Bytes,
) -> anyhow::Result<(Samples, u64)> {
    let warm = Instant::now() + Duration::from_millis(500);
    let end = warm + Duration::from_secs_f64(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let mut sender = connect(endpoint).await?;
        let expected = expected.clone();
        tasks.spawn(async move {
            let mut samples = Samples::new();
            let mut errors = 0u64;
            let path = format!("/v2/{REPO}/manifests/v1");
            loop {
                let began = Instant::now();
                if began >= end {
                    break;
                }
                let ok = async {
                    sender.ready().await.ok()?;
                    let res = sender
                        .send_request(get(&path, OCI_MANIFEST).ok()?)
                        .await
                        .ok()?;
                    let status = res.status();
                    let body = res.into_body().collect().await.ok()?.to_bytes();
                    Some(status == 200 && body == expected)
                }
                .await;
                match ok {
                    Some(true) if began >= warm => samples.record(began.elapsed()),
                    Some(true) => {}
                    _ => {
                        errors += 1;
                        // A connection that failed is gone: stop this worker.
                        break;
                    }
                }
            }
            (samples, errors)
        });
    }
    let mut all = Samples::new();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (s, e) = r?;
        all.merge(s);
        errors += e;
    }
    Ok((all, errors))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn gbps(bytes_per_second: f64) -> String {
    format!("{:.2} GB/s", bytes_per_second / 1e9)
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

/// Runs figure 6 and adds its rows and notes to `table`.
///
/// # Errors
/// When a process cannot start, a push fails, or a pull is incomplete.
pub async fn figure6(table: &mut Table, opts: &Options) -> anyhow::Result<()> {
    let pki = RunPki::generate()?;
    let dir = tempfile::tempdir()?;
    let storage = dir.path().join("storage");
    std::fs::create_dir_all(&storage)?;
    let (_upstream, upstream_addr) = registry(dir.path(), &storage, "upstream", None).await?;
    let base = format!("http://{upstream_addr}");
    let http = reqwest::Client::new();
    eprintln!(
        "figure 6: pushing {} and {} blobs",
        size(opts.blob_bytes),
        size(opts.small_blob_bytes)
    );
    let big = push_blob(&http, &base, opts.blob_bytes, 1).await?;
    let small = push_blob(&http, &base, opts.small_blob_bytes, 2).await?;
    let manifest = push_manifest(&http, &base, &big, opts.blob_bytes).await?;
    let (_direct, direct_addr) = registry(dir.path(), &storage, "direct", Some(&pki)).await?;
    let (_nginx, nginx_addr) = nginx(dir.path(), &pki, upstream_addr).await?;
    let (gw, gw_addr) = gateway(dir.path(), &opts.gateway_bin, &pki, upstream_addr).await?;
    let gw_pid = gw.0.id();
    let tls = pki.client_config()?;
    let endpoint = |addr| Endpoint {
        addr,
        tls: tls.clone(),
    };
    let (gw_end, nginx_end, direct_end) = (
        endpoint(gw_addr),
        endpoint(nginx_addr),
        endpoint(direct_addr),
    );

    // Memory: the small blob first, then the large one, through the gateway.
    let (_, small_peak) = pull(&gw_end, &small, opts.small_blob_bytes, Some(gw_pid)).await?;
    let mut through = (Vec::new(), Vec::new(), Vec::new());
    let mut big_peak = 0;
    for round in 0..opts.rounds {
        eprintln!("figure 6: blob pulls, round {}/{}", round + 1, opts.rounds);
        let (t, peak) = pull(&gw_end, &big, opts.blob_bytes, Some(gw_pid)).await?;
        through.0.push(t);
        big_peak = big_peak.max(peak);
        through
            .1
            .push(pull(&nginx_end, &big, opts.blob_bytes, None).await?.0);
        through
            .2
            .push(pull(&direct_end, &big, opts.blob_bytes, None).await?.0);
    }
    let (gw_t, nginx_t, direct_t) = (median(through.0), median(through.1), median(through.2));
    let check = |ok: bool| {
        if opts.check_targets {
            Verdict::check(ok)
        } else {
            Verdict::Info
        }
    };
    let pull_ratio = ratio(gw_t, nginx_t);
    table.push(
        Row::info(
            "6 blob pull",
            &format!("{} blob over TLS, gateway vs nginx", size(opts.blob_bytes)),
            gbps(gw_t),
        )
        .baseline(gbps(nginx_t), pull_ratio)
        .target("≥ 1.0×", check(pull_ratio.is_some_and(|r| r >= 1.0))),
    );
    table.push(
        Row::info(
            "6 blob pull",
            &format!(
                "{} blob over TLS, gateway vs the registry directly",
                size(opts.blob_bytes)
            ),
            gbps(gw_t),
        )
        .baseline(gbps(direct_t), ratio(gw_t, direct_t)),
    );
    let (big_mib, small_mib) = (procfs::mib(big_peak), procfs::mib(small_peak));
    table.push(
        Row::info(
            "6 RSS",
            &format!(
                "gateway resident memory during the {} pull",
                size(opts.blob_bytes)
            ),
            format!("{big_mib:.1} MiB"),
        )
        .target(
            format!("< {RSS_TARGET_MIB} MiB"),
            check(big_mib < RSS_TARGET_MIB),
        ),
    );
    table.push(
        Row::info(
            "6 RSS growth",
            &format!(
                "gateway resident memory, {} pull vs {} pull",
                size(opts.blob_bytes),
                size(opts.small_blob_bytes)
            ),
            format!("{big_mib:.1} MiB"),
        )
        .baseline(format!("{small_mib:.1} MiB"), ratio(big_mib, small_mib))
        .target(
            format!("+< {RSS_GROWTH_LIMIT_MIB} MiB"),
            check(big_mib - small_mib < RSS_GROWTH_LIMIT_MIB),
        ),
    );

    eprintln!(
        "figure 6: manifest GETs, {} connections, {:.0} s each",
        opts.concurrency, opts.manifest_seconds
    );
    let (gw_m, gw_err) =
        manifests(&gw_end, opts.concurrency, opts.manifest_seconds, &manifest).await?;
    let (nginx_m, nginx_err) = manifests(
        &nginx_end,
        opts.concurrency,
        opts.manifest_seconds,
        &manifest,
    )
    .await?;
    let (Some(gw_m), Some(nginx_m)) = (gw_m.sorted(), nginx_m.sorted()) else {
        bail!("no manifest GET completed (gateway {gw_err} errors, nginx {nginx_err})");
    };
    let (gw_p99, nginx_p99) = (gw_m.percentile(99.0), nginx_m.percentile(99.0));
    let p99_ratio = ratio(gw_p99.as_secs_f64(), nginx_p99.as_secs_f64());
    table.push(
        Row::info(
            "6 manifest p99",
            &format!(
                "manifest GET over TLS, {} connections, gateway vs nginx",
                opts.concurrency
            ),
            crate::fmt_duration(gw_p99),
        )
        .baseline(crate::fmt_duration(nginx_p99), p99_ratio)
        .target("≤ 1.2×", check(p99_ratio.is_some_and(|r| r <= 1.2))),
    );
    let per_s = |s: &crate::stats::Sorted| s.len() as f64 / opts.manifest_seconds;
    table.push(
        Row::info(
            "6 manifest rate",
            &format!("manifest GETs per second, {} connections", opts.concurrency),
            format!("{:.0}/s", per_s(&gw_m)),
        )
        .baseline(
            format!("{:.0}/s", per_s(&nginx_m)),
            ratio(per_s(&gw_m), per_s(&nginx_m)),
        ),
    );
    table.push(
        Row::info(
            "6 errors",
            "failed pulls or manifest GETs (gateway, nginx)",
            format!("{gw_err}, {nginx_err}"),
        )
        .target("0", Verdict::check(gw_err == 0 && nginx_err == 0)),
    );
    table.note(format!(
        "figure 6: CNCF Distribution (filesystem storage) behind dns01-registry-gateway and \
         behind nginx (Debian, `proxy_buffering off`, keep-alive upstream, access log to \
         /dev/null; the gateway logs its line per request to /dev/null), both on TLS with the \
         same certificate; the direct baseline is Distribution serving that certificate itself. \
         One HTTP/1.1 connection per pull from a hyper client in this process; {} rounds in \
         turn, medians shown; RSS sampled every 10 ms{}",
        opts.rounds,
        if opts.check_targets {
            ""
        } else {
            "; targets not checked (debug build or short mode)"
        }
    ));
    drop(gw);
    Ok(())
}
