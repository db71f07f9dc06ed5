//! One janitor at a time: the [`Lock`] trait, and [`FileLock`] for a single host.
//!
//! A lock is taken by a holder (the run id) and released by it. The trait is shaped so that a
//! Kubernetes `coordination.k8s.io/v1` Lease implements it too (acquire = create or take over
//! an expired Lease with its `resourceVersion`, renew = update `renewTime`, release = clear
//! `holderIdentity`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::{Error, Result};

/// A mutual-exclusion lock between janitor runs.
#[async_trait]
pub trait Lock: Send + Sync + std::fmt::Debug {
    /// Takes the lock for `holder`, or fails with [`Error::Locked`] naming who has it.
    async fn acquire(&self, holder: &str) -> Result<()>;
    /// Keeps the lock alive during a long run (a Lease's `renewTime`); a file lock has
    /// nothing to renew.
    ///
    /// # Errors
    /// [`Error::LockLost`] when someone else holds the lock now; other kinds when the
    /// renewal could not be made (the caller tries again).
    async fn renew(&self, _holder: &str) -> Result<()> {
        Ok(())
    }
    /// How often [`Lock::renew`] must be called while the lock is held (`None`: never). A lock
    /// not renewed for three of these periods counts as lost.
    fn renew_every(&self) -> Option<std::time::Duration> {
        None
    }
    /// Gives the lock up.
    async fn release(&self, holder: &str) -> Result<()>;
}

/// An advisory `flock` on a file: the kernel releases it when the process dies (SIGKILL
/// included), so a dead janitor never leaves a stale lock. The file holds the holder's name
/// and pid, for the message another janitor shows.
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
    held: Mutex<Option<File>>,
}

impl FileLock {
    /// A lock on `path` (created when missing).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            held: Mutex::new(None),
        }
    }
}

#[async_trait]
impl Lock for FileLock {
    async fn acquire(&self, holder: &str) -> Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(Error::io("opening the lock file", &self.path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&self.path).unwrap_or_default();
                return Err(Error::Locked {
                    what: self.path.display().to_string(),
                    holder: holder.trim().to_owned(),
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(Error::io("locking the lock file", &self.path)(e));
            }
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{holder} (pid {})", std::process::id()))
            .map_err(Error::io("writing the lock file", &self.path))?;
        if let Ok(mut held) = self.held.lock() {
            *held = Some(file);
        }
        Ok(())
    }

    async fn release(&self, _holder: &str) -> Result<()> {
        if let Ok(mut held) = self.held.lock()
            && let Some(file) = held.take()
        {
            file.set_len(0)
                .map_err(Error::io("clearing the lock file", &self.path))?;
            file.unlock()
                .map_err(Error::io("unlocking the lock file", &self.path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_janitor_is_refused_until_the_first_releases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("janitor.lock");
        let first = FileLock::new(&path);
        let second = FileLock::new(&path);
        first.acquire("run-1").await.unwrap();
        let e = second.acquire("run-2").await.unwrap_err();
        assert!(
            matches!(&e, Error::Locked { holder, .. } if holder.starts_with("run-1")),
            "{e}"
        );
        first.release("run-1").await.unwrap();
        second.acquire("run-2").await.unwrap();
    }
}
