//! Checks that the registry really refuses or accepts writes: an upload `POST` to a probe
//! repository. Distribution in read-only mode answers 405 (`text/plain`, `Method not
//! allowed`); in read-write mode 202, and the upload is then cancelled so nothing is stored.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use url::Url;

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

/// Probes one registry's write path.
#[derive(Debug, Clone)]
pub struct WriteProbe {
    http: reqwest::Client,
    base: Url,
    /// How long to keep probing until the expected answer comes.
    pub timeout: Duration,
}

impl WriteProbe {
    /// A probe of the registry at `base` (`http://127.0.0.1:5000/`).
    ///
    /// # Errors
    /// When `base` is not a URL.
    pub fn new(base: &str, timeout: Duration) -> Result<Self> {
        let base = Url::parse(base)
            .map_err(|e| Error::config("registry", format!("`{base}` is not a URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::Probe {
                url: base.to_string(),
                source: e,
            })?;
        Ok(Self {
            http,
            base,
            timeout,
        })
    }

    /// One probe.
    ///
    /// # Errors
    /// [`Error::Probe`] when nothing answers; [`Error::State`] for an unexpected status.
    pub async fn once(&self) -> Result<Writes> {
        let url = self
            .base
            .join(&format!("v2/{PROBE_REPOSITORY}/blobs/uploads/"))
            .map_err(|e| Error::config("registry", e.to_string()))?;
        let resp = self
            .http
            .post(url.clone())
            .send()
            .await
            .map_err(|e| Error::Probe {
                url: url.to_string(),
                source: e,
            })?;
        match resp.status() {
            StatusCode::METHOD_NOT_ALLOWED => Ok(Writes::Refused),
            StatusCode::ACCEPTED => {
                if let Some(loc) = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    && let Ok(cancel) = url.join(loc)
                {
                    let _ = self.http.delete(cancel).send().await;
                }
                Ok(Writes::Accepted)
            }
            other => Err(Error::State {
                expected: "probed",
                message: format!("an upload POST to {url} answered {other}"),
            }),
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
                        Err(e) => e.to_string(),
                    },
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
