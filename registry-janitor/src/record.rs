//! The durable record "made read-only by run X at T": written before the registry is
//! switched to read-only, cleared after it is back to read-write. A record found at start
//! means a janitor died inside its window, and read-write is restored before anything else.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::error::{Error, Result};

/// What a janitor writes before it opens the window: the wire type shared with the gateway.
pub use dns01_registry::maintenance::Record;

/// Where the record is kept (a file locally; an annotation on the Lease in a cluster).
#[async_trait]
pub trait Journal: Send + Sync + std::fmt::Debug {
    /// The record, if one is there.
    async fn read(&self) -> Result<Option<Record>>;
    /// Writes the record durably (it must survive the process being killed right after).
    async fn write(&self, record: &Record) -> Result<()>;
    /// Removes the record.
    async fn clear(&self) -> Result<()>;
}

/// A JSON file, written to a temporary file, synced and renamed into place.
#[derive(Debug, Clone)]
pub struct FileJournal {
    path: PathBuf,
}

impl FileJournal {
    /// A journal at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl Journal for FileJournal {
    async fn read(&self) -> Result<Option<Record>> {
        match tokio::fs::read(&self.path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::config(
                    self.path.display().to_string(),
                    format!(
                        "the janitor's read-only record is not valid JSON ({e}); make sure the \
                         registry is read-write, then delete the file"
                    ),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("reading the read-only record", &self.path)(e)),
        }
    }

    async fn write(&self, record: &Record) -> Result<()> {
        let tmp = self.path.with_extension("tmp");
        let body = serde_json::to_vec_pretty(record).unwrap_or_default();
        let io = Error::io("writing the read-only record", &self.path);
        let write = async {
            let mut f = tokio::fs::File::create(&tmp).await?;
            tokio::io::AsyncWriteExt::write_all(&mut f, &body).await?;
            f.sync_all().await?;
            tokio::fs::rename(&tmp, &self.path).await
        };
        write.await.map_err(io)
    }

    async fn clear(&self) -> Result<()> {
        match tokio::fs::remove_file(&self.path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("removing the read-only record", &self.path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_record_survives_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let j = FileJournal::new(dir.path().join("readonly.json"));
        assert_eq!(j.read().await.unwrap(), None);
        let r = Record {
            run_id: "r1".into(),
            since: "2026-12-03T01:00:00Z".into(),
            switch: "process".into(),
            pid: 7,
            until: Some("2026-12-03T01:10:00Z".into()),
        };
        j.write(&r).await.unwrap();
        assert_eq!(
            FileJournal::new(dir.path().join("readonly.json"))
                .read()
                .await
                .unwrap(),
            Some(r)
        );
        j.clear().await.unwrap();
        assert_eq!(j.read().await.unwrap(), None);
    }
}
