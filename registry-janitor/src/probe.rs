//! Checks that the registry really refuses or accepts writes: an upload `POST` to a probe
//! repository. Distribution in read-only mode answers 405 (`text/plain`, `Method not
//! allowed`); in read-write mode 202, and the upload is then cancelled (Distribution 2.8
//! keeps the cancelled upload's empty directory; the probe repository is pruned with the
//! other empty repositories).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dns01_registry::{Client, Credentials, Repository};

use crate::error::{Error, Result};

/// The repository the probe's uploads go to (they are cancelled at once; its empty directory
/// is pruned with the other empty repositories).
pub const PROBE_REPOSITORY: &str = "dns01-janitor/write-probe";

/// What the probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// 405: writes refused.
    Refused,
    /// 202: writes accepted.
    Accepted,
}

/// Probes one registry's write path, through a [`Client`]: with credentials, it
/// authenticates as every other call of the janitor does (Basic, or the Bearer token dance).
#[derive(Debug, Clone)]
pub struct WriteProbe {
    client: Arc<Client>,
    repository: Repository,
    /// How long to keep probing until the expected answer comes.
    pub timeout: Duration,
}

impl WriteProbe {
    /// An anonymous probe of the registry at `base` (`http://127.0.0.1:5000/`).
    ///
    /// # Errors
    /// When `base` is not a URL.
    pub fn new(base: &str, timeout: Duration) -> Result<Self> {
        Self::with_credentials(base, None, timeout)
    }

    /// A probe of the registry at `base` that sends `credentials` when the registry asks.
    /// Each request is bounded by 5 s (a registry restarting for a window must not stall it).
    ///
    /// # Errors
    /// When `base` is not a URL.
    pub fn with_credentials(
        base: &str,
        credentials: Option<Credentials>,
        timeout: Duration,
    ) -> Result<Self> {
        let mut builder = Client::builder(base)
            .connect_timeout(Duration::from_secs(5))
            .request_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(5));
        if let Some(c) = credentials {
            builder = builder.credentials(c);
        }
        let client = builder
            .build()
            .map_err(|e| Error::config("registry", crate::gc::chain(&e)))?;
        Self::with_client(Arc::new(client), timeout)
    }

    /// A probe through `client` (its credentials and timeouts).
    ///
    /// # Errors
    /// None in practice ([`PROBE_REPOSITORY`] is a valid name).
    pub fn with_client(client: Arc<Client>, timeout: Duration) -> Result<Self> {
        Ok(Self {
            client,
            repository: Repository::parse(PROBE_REPOSITORY)?,
            timeout,
        })
    }

    /// One probe.
    ///
    /// # Errors
    /// [`Error::Registry`] when nothing answers or the registry answers anything but an
    /// accepted upload or the read-only 405 (a 401 names missing or wrong credentials).
    pub async fn once(&self) -> Result<Writes> {
        match self.client.upload_probe(&self.repository).await {
            Ok(()) => Ok(Writes::Accepted),
            Err(dns01_registry::Error::ReadOnly { .. }) => Ok(Writes::Refused),
            Err(e) => Err(Error::Registry(e)),
        }
    }

    /// Probes until the registry answers `want`, or fails after [`WriteProbe::timeout`].
    ///
    /// # Errors
    /// [`Error::State`] with the last answer.
    pub async fn wait_for(&self, want: Writes) -> Result<()> {
        let start = Instant::now();
        let expected = match want {
            Writes::Refused => "read-only",
            Writes::Accepted => "read-write",
        };
        loop {
            let seen = self.once().await;
            if matches!(seen, Ok(w) if w == want) {
                return Ok(());
            }
            if start.elapsed() > self.timeout {
                return Err(Error::State {
                    expected,
                    message: match seen {
                        Ok(w) => {
                            format!("writes still {w:?} after {} s", self.timeout.as_secs_f64())
                        }
                        Err(e) => crate::gc::chain(&e),
                    },
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
