//! The one error type of `liaison-node`.

use std::path::PathBuf;

/// What can go wrong running or administering a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data directory already holds a node; `init` never overwrites one.
    #[error("{0} already holds a Liaison node; refusing to overwrite it")]
    AlreadyInitialised(PathBuf),
    /// The data directory holds no node.
    #[error("{0} holds no Liaison node (no liaison.toml); create one with `liaison init`")]
    NotInitialised(PathBuf),
    /// `liaison.toml` does not parse or a value is invalid.
    #[error("{path}: {problem}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        problem: String,
    },
    /// A file could not be read or written.
    #[error("{context} ({path}): {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key file or the identity bundle is damaged or does not match the others.
    #[error("{path}: {problem}")]
    BadKeyMaterial {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A partner's identity or certificate authority cannot be used.
    #[error("partner: {0}")]
    Partner(String),
    /// The agency named is not a known partner.
    #[error("{0} is not a known partner; add it with `liaison peer add`")]
    UnknownPartner(liaison_core::AgencyId),
    /// The bundle's root-key fingerprint is not the one the operator was given.
    #[error(
        "fingerprint mismatch: the bundle's root key has fingerprint {actual}, but you expected {expected}; do not add this partner until the two agree"
    )]
    FingerprintMismatch {
        /// What the operator was told over the trusted channel.
        expected: String,
        /// What the bundle carries.
        actual: String,
    },
    /// A request names something that does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A request is not acceptable as given.
    #[error("{0}")]
    InvalidRequest(String),
    /// The sharing policy file does not validate (the message names line and field).
    #[error("sharing policy: {0}")]
    Policy(String),
    /// The sharing policy denies the request (the message names the rule).
    #[error("denied by the sharing policy: {0}")]
    PolicyDenied(String),
    /// TLS configuration failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The running node's admin socket could not be reached or answered nonsense.
    #[error("cannot talk to the running node at {}: {problem}", path.display())]
    AdminSocket {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The running node refused an admin request; its own error, carried over the
    /// socket with its kind, shown exactly as the node worded it.
    #[error("{message}")]
    Refused {
        /// What kind of error the node reported.
        kind: ErrorKind,
        /// The node's sentence.
        message: String,
    },
    /// A request key already published a different bulletin.
    #[error(
        "request key {key:?} already published bulletin {bulletin}, with a different marking or content; use a new key for a new bulletin"
    )]
    RequestKeyReused {
        /// The key.
        key: String,
        /// What it published.
        bulletin: liaison_core::BulletinId,
    },
    /// A partner's outbox is at its limit: nothing was queued for anyone.
    #[error(
        "the outbox for {partner} is full ({entries} bulletins, {mib} MiB queued; limits [outbox] max_entries {max_entries}, max_mib {max_mib}): nothing was sent; {partner} has been unreachable or slow — see `liaison status`, or send without it"
    )]
    OutboxFull {
        /// The partner.
        partner: liaison_core::AgencyId,
        /// Entries queued.
        entries: u64,
        /// MiB queued.
        mib: u64,
        /// The entry limit.
        max_entries: u64,
        /// The MiB limit.
        max_mib: u64,
    },
    /// A task of the node stopped before finishing (a bug or a shutdown).
    #[error("internal error: {0}")]
    Internal(String),
    /// A domain error.
    #[error(transparent)]
    Core(#[from] liaison_core::Error),
    /// A store error.
    #[error(transparent)]
    Store(#[from] liaison_store::Error),
}

/// The kind of an [`Error`], for callers that act on it (the admin socket carries it
/// to the CLI; exit codes and gRPC statuses are chosen from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is not acceptable as given.
    InvalidRequest,
    /// Something named does not exist (a bulletin, a partner, a client).
    NotFound,
    /// The sharing policy denies it.
    PolicyDenied,
    /// The state of the node does not allow it (already exists, fingerprint mismatch,
    /// an unusable policy file).
    FailedPrecondition,
    /// A size or count limit.
    ResourceExhausted,
    /// The node cannot store or read right now (disk, log in use).
    Unavailable,
    /// Anything else; details are in the node's own log.
    Internal,
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        use liaison_core::Error as Core;
        match self {
            Error::Refused { kind, .. } => *kind,
            Error::InvalidRequest(_) | Error::Config { .. } | Error::Policy(_) => {
                ErrorKind::InvalidRequest
            }
            Error::Core(Core::Malformed(_) | Core::Recipients(_)) => ErrorKind::InvalidRequest,
            Error::Core(Core::TooLarge { .. }) => ErrorKind::ResourceExhausted,
            Error::NotFound(_) | Error::UnknownPartner(_) | Error::NotInitialised(_) => {
                ErrorKind::NotFound
            }
            Error::PolicyDenied(_) | Error::Core(Core::Forwarding(_)) => ErrorKind::PolicyDenied,
            Error::AlreadyInitialised(_)
            | Error::FingerprintMismatch { .. }
            | Error::Partner(_)
            | Error::RequestKeyReused { .. }
            | Error::BadKeyMaterial { .. } => ErrorKind::FailedPrecondition,
            Error::Store(liaison_store::Error::TooLarge { .. }) | Error::OutboxFull { .. } => {
                ErrorKind::ResourceExhausted
            }
            Error::Store(_) | Error::Io { .. } | Error::AdminSocket { .. } => {
                ErrorKind::Unavailable
            }
            _ => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            context,
            path,
            source,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `error` and each of its causes, once: a cause whose words the text already holds
/// (many errors repeat their source in their own message) is not repeated.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let words = c.to_string();
        if !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        cause = c.source();
    }
    text
}

impl From<tokio::task::JoinError> for Error {
    fn from(error: tokio::task::JoinError) -> Self {
        Error::Internal(format!("a worker task failed: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let error = Error::io("connect", "/tmp/admin.sock")(io);
        let text = describe(&error);
        assert_eq!(text.matches("os error 111").count(), 1, "{text}");
        assert!(text.starts_with("connect (/tmp/admin.sock)"), "{text}");
    }
}
