//! The one error type of `liaison-store`.

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// sled reported an error.
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The log does not verify: the first bad entry and what is wrong with it.
    #[error("log entry {seq} is bad: {problem}")]
    Tampered {
        /// The first sequence number that does not verify.
        seq: u64,
        /// What is wrong.
        problem: String,
    },
    /// A checkpoint does not verify or contradicts the log.
    #[error("checkpoint at {seq} is bad: {problem}")]
    BadCheckpoint {
        /// The checkpoint's sequence number.
        seq: u64,
        /// What is wrong.
        problem: String,
    },
    /// Writes fail at the moment (a full disk, an I/O error): nothing of this request
    /// was acknowledged; the log retries by itself and resumes once a write succeeds.
    #[error("the log cannot write at the moment ({0}); nothing was stored; it retries by itself")]
    StorageFailing(String),
    /// The log was opened read-only from a copy because its own disk is full.
    #[error(
        "the log is open read-only (its disk is full): free space on the data directory's disk to make changes"
    )]
    ReadOnly,
    /// Another process holds the log (only one may open it: a running node does).
    #[error("the log at {} is in use by another process (is the node running?)", .0.display())]
    Locked(std::path::PathBuf),
    /// The log's writer has shut down.
    #[error("the log is closed")]
    Closed,
    /// The bulletin was already received, at entry `seq`; nothing was appended.
    #[error("bulletin already received (log entry {seq})")]
    Duplicate {
        /// The entry that holds it.
        seq: u64,
    },
    /// An entry is larger than the store accepts.
    #[error("entry body is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl Error {
    /// Whether the error is a full disk (`ENOSPC`), from sled or from a file.
    pub fn is_storage_full(&self) -> bool {
        let full = |e: &std::io::Error| {
            e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
        };
        match self {
            Error::Sled(sled::Error::Io(e)) | Error::Io { source: e, .. } => {
                full(e) || e.to_string().contains("No space left on device")
            }
            _ => false,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
