//! The one error type of `liaison-core`.

use crate::ids::{AgencyId, KeyId, UnixMillis};

/// Everything that can go wrong in the domain layer.
///
/// Opening an envelope fails with exactly one of these, in the order the checks run
/// (see [`crate::envelope::open`]), so a receipt can name the precise reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input that does not decode, or a field that breaks its rules.
    #[error("malformed {0}")]
    Malformed(#[from] Malformed),
    /// The envelope is larger than the receiver accepts.
    #[error("envelope is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit it exceeded.
        limit: usize,
    },
    /// The format version or signature scheme is not one this node implements.
    #[error("unsupported envelope format version {version}, signature scheme {scheme}")]
    UnsupportedFormat {
        /// The format version found.
        version: u32,
        /// The signature scheme found.
        scheme: i32,
    },
    /// The origin agency is not a known partner.
    #[error("origin {0} is not a known partner")]
    UnknownOrigin(AgencyId),
    /// The origin is known but has no signing key with this id.
    #[error("origin {origin} has no signing key {key_id}")]
    UnknownSigningKey {
        /// The origin agency.
        origin: AgencyId,
        /// The key id the envelope names.
        key_id: KeyId,
    },
    /// The signing key was revoked by its owner.
    #[error("signing key {key_id} of {origin} was revoked at {revoked_at}")]
    RevokedSigningKey {
        /// The origin agency.
        origin: AgencyId,
        /// The revoked key.
        key_id: KeyId,
        /// When the revocation took effect.
        revoked_at: UnixMillis,
    },
    /// The bulletin claims a creation time after its signing key was retired.
    #[error(
        "signing key {key_id} of {origin} was retired at {retired_at}, before this bulletin was created"
    )]
    RetiredSigningKey {
        /// The origin agency.
        origin: AgencyId,
        /// The retired key.
        key_id: KeyId,
        /// When it was retired.
        retired_at: UnixMillis,
    },
    /// The signature does not verify under the named key.
    #[error("signature does not verify")]
    BadSignature,
    /// A batch-signed envelope's inclusion proof does not lead from the envelope to
    /// the root it carries, so the batch signature says nothing about it.
    #[error("batch inclusion proof does not lead to the signed root")]
    BadInclusionProof,
    /// The signed recipient list does not name this agency.
    #[error("{0} is not among the signed recipients")]
    NotARecipient(AgencyId),
    /// The content key was wrapped for an encryption key this node does not hold.
    #[error("content key is wrapped for encryption key {0}, which this node does not hold")]
    UnknownEncryptionKey(KeyId),
    /// The bulletin expired before it was opened.
    #[error("bulletin expired at {expired_at}, now is {now}")]
    Expired {
        /// When it expired.
        expired_at: UnixMillis,
        /// The time of the check.
        now: UnixMillis,
    },
    /// The wrapped content key or the ciphertext does not decrypt.
    #[error("decryption failed: {0}")]
    DecryptionFailed(&'static str),
    /// The identity document's signature does not verify under the root key it carries.
    #[error("identity document signature does not verify")]
    BadIdentitySignature,
    /// A federation roster's signature does not verify under its coordinator's root
    /// key: altered after signing, or signed by someone else.
    #[error("the roster's signature does not verify under the root key of {coordinator}")]
    BadRosterSignature {
        /// The coordinator the roster names.
        coordinator: AgencyId,
    },
    /// The origin's identity document is not valid yet: its validity starts after this
    /// node's clock. Usually clock skew between the two nodes; retried, not final.
    #[error("identity of {origin} is not valid yet (valid from {not_before}, now is {now})")]
    OriginIdentityNotYetValid {
        /// The origin agency.
        origin: AgencyId,
        /// Start of the validity window.
        not_before: UnixMillis,
        /// The time of the check.
        now: UnixMillis,
    },
    /// The origin's identity document expired.
    #[error("identity of {origin} expired at {not_after}, now is {now}")]
    OriginIdentityExpired {
        /// The origin agency.
        origin: AgencyId,
        /// End of the validity window.
        not_after: UnixMillis,
        /// The time of the check.
        now: UnixMillis,
    },
    /// A bulletin must name at least one recipient, each once.
    #[error("bad recipient list: {0}")]
    Recipients(String),
    /// A forwarded envelope breaks a rule of onward sharing (names which).
    #[error("forwarding refused: {0}")]
    Forwarding(String),
    /// Key generation, certificate generation or the system random source failed.
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
}

/// Input that does not decode or breaks a field's rules: names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct Malformed {
    /// Dotted path of the offending field, e.g. `header.marking.category`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl Malformed {
    /// A malformed-input error for `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// Prefixes the field path, for errors raised while validating a nested message.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
