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
    /// The node's admin socket answered with an error or not at all.
    #[error("admin socket: {0}")]
    Admin(String),
    /// A domain error.
    #[error(transparent)]
    Core(#[from] liaison_core::Error),
    /// A store error.
    #[error(transparent)]
    Store(#[from] liaison_store::Error),
}

impl Error {
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
