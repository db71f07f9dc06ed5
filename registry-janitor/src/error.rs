//! The crate's error type.

use std::path::PathBuf;
use std::time::Duration;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the janitor, in kinds a caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is wrong; `key` names it (`projects.proj-a.keep_newest`).
    #[error("config key `{key}`: {message}")]
    Config {
        /// The dotted path of the key.
        key: String,
        /// What is wrong, and the fix.
        message: String,
    },

    /// Another janitor holds the lock.
    #[error("another janitor holds the lock {what}: {holder}; wait for it to finish")]
    Locked {
        /// The lock (a file path, a Lease name).
        what: String,
        /// Who holds it, as it recorded itself.
        holder: String,
    },

    /// The lock was taken over by another janitor, or could not be renewed in time: the run
    /// ends its window at once.
    #[error("lost the janitor lock {what}: {message}")]
    LockLost {
        /// The lock (a Lease name).
        what: String,
        /// Who holds it now, or why it could not be renewed.
        message: String,
    },

    /// A file or process operation failed.
    #[error("{what} ({path})")]
    Io {
        /// What was being done.
        what: String,
        /// On which file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// A command (collector, switch command, registry process) could not run or failed.
    #[error("{what}: {message}")]
    Command {
        /// Which command.
        what: String,
        /// Its exit status and the end of its output.
        message: String,
    },

    /// The collector ran past its deadline and was killed.
    #[error("the collector ran past its deadline of {} s and was killed", deadline.as_secs_f64())]
    Deadline {
        /// The deadline.
        deadline: Duration,
    },

    /// The registry did not reach the state asked for (writes still accepted after switching
    /// to read-only, or still refused after switching back).
    #[error("the registry is not {expected}: {message}")]
    State {
        /// `read-only` or `read-write`.
        expected: &'static str,
        /// What the probe saw.
        message: String,
    },

    /// The collector asked for is known to be unsafe with the options asked for.
    #[error("refusing to run the collector: {message}")]
    UnsafeCollector {
        /// Why, and what to do instead.
        message: String,
    },

    /// The run was interrupted (SIGTERM, SIGINT) and cleaned up.
    #[error("interrupted by {signal}")]
    Interrupted {
        /// The signal's name.
        signal: &'static str,
    },

    /// A step panicked; the window was closed anyway.
    #[error("a maintenance step panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
    },

    /// The registry API answered with an error.
    #[error("registry API")]
    Registry(#[from] dns01_registry::Error),

    /// Retention could not be planned (a bad policy file, an unreadable registry); the
    /// message carries the causes.
    #[error("{message}")]
    Retention {
        /// What failed, with its causes.
        message: String,
    },

    /// A Kubernetes API call failed (listing workloads, the janitor's Lease).
    #[error("kubernetes: {what}")]
    Kubernetes {
        /// What was being done.
        what: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

impl Error {
    pub(crate) fn io(
        what: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let (what, path) = (what.into(), path.into());
        move |source| Self::Io { what, path, source }
    }

    pub(crate) fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            key: key.into(),
            message: message.into(),
        }
    }
}
