//! [`ProcessSwitch`]: the janitor supervises `docker-registry serve` itself. Read-only is
//! `storage.maintenance.readonly.enabled` in the registry's configuration, which Distribution
//! reads only at start, so a switch rewrites the file and restarts the process (~70 ms). The
//! pid file lets a later janitor (after a crash) find and restart the process it left.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_yaml_ng::Value;

use super::{CollectorRun, Switch, check_collector_args, parse_version, run_collector};
use crate::error::{Error, Result};

/// How long a start or a stop may take.
const PROCESS_DEADLINE: Duration = Duration::from_secs(20);

/// Supervises one `docker-registry serve CONFIG` process.
#[derive(Debug)]
pub struct ProcessSwitch {
    bin: PathBuf,
    config: PathBuf,
    pid_file: PathBuf,
    log_file: PathBuf,
    collector_args: Vec<String>,
    child: Mutex<Option<Child>>,
}

impl ProcessSwitch {
    /// Supervises `bin serve config`; the process's pid goes to `pid_file`, its output to
    /// `log_file`. `collector_args` go before the config file on the collector's command line
    /// (checked by [`check_collector_args`] against the binary's version).
    pub fn new(
        bin: impl Into<PathBuf>,
        config: impl Into<PathBuf>,
        pid_file: impl Into<PathBuf>,
        log_file: impl Into<PathBuf>,
        collector_args: Vec<String>,
    ) -> Self {
        Self {
            bin: bin.into(),
            config: config.into(),
            pid_file: pid_file.into(),
            log_file: log_file.into(),
            collector_args,
            child: Mutex::new(None),
        }
    }

    fn read_config(&self) -> Result<Value> {
        let text = std::fs::read_to_string(&self.config).map_err(Error::io(
            "reading the registry configuration",
            &self.config,
        ))?;
        serde_yaml_ng::from_str(&text).map_err(|e| {
            Error::config(
                self.config.display().to_string(),
                format!("the registry configuration is not YAML: {e}"),
            )
        })
    }

    /// The `http.addr` the registry listens on.
    ///
    /// # Errors
    /// When the configuration has no usable `http.addr`.
    pub fn addr(&self) -> Result<SocketAddr> {
        let config = self.read_config()?;
        let addr = config["http"]["addr"].as_str().unwrap_or_default();
        let addr = if addr.starts_with(':') {
            format!("127.0.0.1{addr}")
        } else {
            addr.to_owned()
        };
        addr.parse().map_err(|_| {
            Error::config(
                "http.addr",
                format!("`{addr}` in {} is not host:port", self.config.display()),
            )
        })
    }

    /// Whether the configuration says read-only.
    ///
    /// # Errors
    /// When the configuration cannot be read.
    pub fn configured_read_only(&self) -> Result<bool> {
        Ok(
            self.read_config()?["storage"]["maintenance"]["readonly"]["enabled"]
                .as_bool()
                .unwrap_or(false),
        )
    }

    fn set_config_read_only(&self, read_only: bool) -> Result<()> {
        let mut config = self.read_config()?;
        let storage = config
            .get_mut("storage")
            .and_then(Value::as_mapping_mut)
            .ok_or_else(|| {
                Error::config("storage", "the registry configuration has no `storage`")
            })?;
        let maintenance = storage
            .entry("maintenance".into())
            .or_insert_with(|| Value::Mapping(Default::default()));
        let Value::Mapping(m) = maintenance else {
            return Err(Error::config("storage.maintenance", "must be a mapping"));
        };
        m.insert(
            "readonly".into(),
            serde_yaml_ng::to_value(serde_json::json!({"enabled": read_only})).unwrap_or_default(),
        );
        let text = serde_yaml_ng::to_string(&config).map_err(|e| Error::Command {
            what: "writing the registry configuration".into(),
            message: e.to_string(),
        })?;
        let tmp = self.config.with_extension("janitor-tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &self.config))
            .map_err(Error::io(
                "writing the registry configuration",
                &self.config,
            ))
    }

    /// The pid in the pid file, when that process is still this registry: its command line
    /// names this configuration file (a pid reused by another process is never signalled).
    fn recorded_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(&self.pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline =
            std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline")).ok()?;
        let config = self.config.as_os_str().as_encoded_bytes();
        cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == config)
            .then_some(pid)
    }

    /// Stops the registry (SIGTERM, then SIGKILL after 20 s) and waits until its port closes.
    /// A registry that is not running is fine.
    ///
    /// # Errors
    /// When it does not stop.
    pub async fn stop(&self) -> Result<()> {
        let addr = self.addr()?;
        let own = self.child.lock().ok().and_then(|mut c| c.take());
        let pid = own.as_ref().map(Child::id).or_else(|| self.recorded_pid());
        if let Some(pid) = pid.filter(|p| process_alive(*p)) {
            signal(pid, "TERM");
            let start = Instant::now();
            while process_alive(pid) && start.elapsed() < PROCESS_DEADLINE {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if process_alive(pid) {
                signal(pid, "KILL");
            }
        }
        if let Some(mut child) = own {
            let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        }
        let start = Instant::now();
        while port_open(addr).await {
            if start.elapsed() > PROCESS_DEADLINE {
                return Err(Error::Command {
                    what: "stopping docker-registry".into(),
                    message: format!("{addr} still answers 20 s after SIGTERM"),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = std::fs::remove_file(&self.pid_file);
        Ok(())
    }

    /// Starts the registry with its configuration as it is (in its own process group, so it
    /// outlives the janitor) and waits until `/v2/` answers.
    ///
    /// # Errors
    /// When it exits or does not answer within 20 s.
    pub async fn start(&self) -> Result<()> {
        let addr = self.addr()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .map_err(Error::io("opening the registry log", &self.log_file))?;
        let log2 = log
            .try_clone()
            .map_err(Error::io("opening the registry log", &self.log_file))?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(|e| Error::Command {
                what: format!("starting {}", self.bin.display()),
                message: e.to_string(),
            })?;
        std::fs::write(&self.pid_file, child.id().to_string())
            .map_err(Error::io("writing the pid file", &self.pid_file))?;
        if let Ok(mut slot) = self.child.lock() {
            *slot = Some(child);
        }
        let start = Instant::now();
        loop {
            let exited = self
                .child
                .lock()
                .ok()
                .and_then(|mut c| c.as_mut().map(|c| c.try_wait()))
                .and_then(std::result::Result::ok)
                .flatten();
            if let Some(status) = exited {
                return Err(Error::Command {
                    what: "docker-registry serve".into(),
                    message: format!(
                        "exited with {status} before it answered; see {}",
                        self.log_file.display()
                    ),
                });
            }
            if port_open(addr).await {
                return Ok(());
            }
            if start.elapsed() > PROCESS_DEADLINE {
                return Err(Error::Command {
                    what: "docker-registry serve".into(),
                    message: format!("{addr} did not answer within 20 s"),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn restart_with(&self, read_only: bool) -> Result<()> {
        self.set_config_read_only(read_only)?;
        self.stop().await?;
        self.start().await
    }

    fn version(&self) -> Option<(u64, u64)> {
        let out = Command::new(&self.bin).arg("--version").output().ok()?;
        parse_version(&String::from_utf8_lossy(&out.stdout))
    }
}

#[async_trait]
impl Switch for ProcessSwitch {
    fn name(&self) -> &'static str {
        "process"
    }

    async fn set_read_only(&self) -> Result<()> {
        self.restart_with(true).await
    }

    async fn set_read_write(&self) -> Result<()> {
        self.restart_with(false).await
    }

    async fn collect(&self, deadline: Duration) -> Result<CollectorRun> {
        check_collector_args(&self.collector_args, self.version())?;
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg("garbage-collect")
            .args(&self.collector_args)
            .arg(&self.config);
        run_collector(cmd, "docker-registry garbage-collect", deadline).await
    }

    fn longest_switch(&self) -> Duration {
        // Stop (SIGTERM, then the port closing) and start, each bounded by the deadline.
        PROCESS_DEADLINE * 3
    }

    fn storage_root(&self) -> Option<PathBuf> {
        let config = self.read_config().ok()?;
        config["storage"]["filesystem"]["rootdirectory"]
            .as_str()
            .map(PathBuf::from)
    }
}

/// Whether `pid` is a live process (not a zombie).
fn process_alive(pid: u32) -> bool {
    let stat = Path::new("/proc").join(pid.to_string()).join("stat");
    std::fs::read_to_string(stat).is_ok_and(|s| {
        s.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

async fn port_open(addr: SocketAddr) -> bool {
    tokio::time::timeout(
        Duration::from_millis(200),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    .is_ok_and(|r| r.is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_file_naming_another_process_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let switch = ProcessSwitch::new(
            "docker-registry",
            dir.path().join("config.yml"),
            dir.path().join("pid"),
            dir.path().join("log"),
            vec![],
        );
        // This test process is alive, but it is not `docker-registry serve <that config>`.
        std::fs::write(dir.path().join("pid"), std::process::id().to_string()).unwrap();
        assert_eq!(switch.recorded_pid(), None);
        std::fs::write(dir.path().join("config.yml"), "").unwrap();
        let mut child = Command::new("tail")
            .arg("-f")
            .arg(dir.path().join("config.yml"))
            .spawn()
            .unwrap();
        std::fs::write(dir.path().join("pid"), child.id().to_string()).unwrap();
        // `spawn` returns once the child's exec has begun, and the kernel shows the new command
        // line a moment later (its arguments are mapped after the parent is resumed): wait
        // for it rather than race it.
        let start = Instant::now();
        while switch.recorded_pid().is_none() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(switch.recorded_pid(), Some(child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
