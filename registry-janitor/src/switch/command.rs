//! [`CommandSwitch`]: operator-given shell commands (systemd units, scripts) for read-only,
//! read-write and the collector.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use super::{CollectorRun, Switch, check_collector_args, run_collector, run_shell};
use crate::error::Result;

/// Switches with `sh -c` commands; each must exit 0 once its switch is done.
#[derive(Debug, Clone)]
pub struct CommandSwitch {
    /// Makes the registry read-only (`systemctl start registry-readonly`).
    pub read_only: String,
    /// Makes it read-write again.
    pub read_write: String,
    /// Runs the collector (`docker-registry garbage-collect /etc/docker/registry/config.yml`).
    pub collect: String,
    /// The storage root when filesystem storage is on this host.
    pub storage: Option<PathBuf>,
    /// How long a switch command may take.
    pub switch_timeout: Duration,
}

#[async_trait]
impl Switch for CommandSwitch {
    fn name(&self) -> &'static str {
        "command"
    }

    async fn set_read_only(&self) -> Result<()> {
        run_shell(
            "the read-only command",
            &self.read_only,
            self.switch_timeout,
        )
        .await
    }

    async fn set_read_write(&self) -> Result<()> {
        run_shell(
            "the read-write command",
            &self.read_write,
            self.switch_timeout,
        )
        .await
    }

    async fn collect(&self, deadline: Duration) -> Result<CollectorRun> {
        // The collector's version is unknown behind a command: an unsafe option is refused.
        let words: Vec<String> = self.collect.split_whitespace().map(str::to_owned).collect();
        check_collector_args(&words, None)?;
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(&self.collect);
        run_collector(cmd, "the collect command", deadline).await
    }

    fn longest_switch(&self) -> Duration {
        self.switch_timeout
    }

    fn storage_root(&self) -> Option<PathBuf> {
        self.storage.clone()
    }
}
