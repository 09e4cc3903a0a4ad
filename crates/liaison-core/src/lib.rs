//! The domain of Liaison, with no I/O: no tokio, no tonic, no sled.
//!
//! Layout:
//! - [`ids`]: validated identifiers and markings (`AgencyId`, `BulletinId`, `Category`,
//!   `Tlp`, `HandlingCode`, `Marking`, `KeyId`, `UnixMillis`).
//! - [`bulletin`]: the bulletin and its content (entities, attachments, references).
//! - [`crypto`]: every cryptographic operation and domain-separation label.
//! - [`identity`]: agency keys, the root-signed identity document, fingerprints.
//! - [`envelope`]: sealing for recipients and opening, with one error per failed check.
//! - [`directory`]: where a receiver looks up partners' signing keys (current, retired,
//!   revoked).
//! - [`acknowledgement`]: a recipient's signed word to the originator that it
//!   received, read or acted on a bulletin.
//! - [`forward`], [`release`], [`recall`]: onward sharing, the originator's release
//!   grants that widen it, and the originator's recall.
//! - [`handling`]: handling codes with a defined meaning (H0-H3), the Admiralty
//!   evaluation, requests for information.
//! - [`normalize`]: entities in one canonical form (E.164 phones, IBANs, ISO
//!   country codes), so the same subject matches across agencies.
//! - [`selector`]: the values that identify someone across bulletins, in canonical form.
//! - [`private_query`]: hit/no-hit queries to partners that never show them the
//!   selector (an oblivious PRF, RFC 9497).
//! - [`tls`]: the agency's own certificate authority.
//! - [`policy`]: the sharing policy and its decisions (deny by default).
//! - [`checkpoint`]: signed statements of a log's head, exchanged between partners.
//! - [`receipt`]: signed receipts, with the rejection codes a sender acts on.
//! - [`limits`]: bounds on everything decoded from a partner.
//! - [`error`]: the crate's one error type.
//!
//! Wire types (`liaison_proto::format::v1`, imported as `pb`) become domain types only
//! through `TryFrom`, which enforces every field rule and limit.

#![forbid(unsafe_code)]

pub mod acknowledgement;
pub mod attachment;
pub mod bulletin;
pub mod checkpoint;
pub mod crypto;
pub mod directory;
pub mod entity_spec;
pub mod envelope;
pub mod error;
pub mod fingerprint;
pub mod forward;
pub mod handling;
pub mod identity;
pub mod ids;
pub mod limits;
pub mod normalize;
pub mod policy;
pub mod private_query;
pub mod recall;
pub mod receipt;
pub mod release;
pub mod roster;
pub mod selector;
pub mod stix;
pub mod taxii;
pub mod tls;

pub use bulletin::{Attachment, Bulletin, BulletinContent, Entity, Reference, ReferenceKind};
pub use envelope::{
    KeyDirectory, Receiver, RecipientKey, SealedEnvelope, open, seal_for_recipients,
};
pub use error::{Error, Malformed, Result};
pub use identity::{AgencyKeys, Fingerprint, IdentityDocument, SignedIdentity};
pub use ids::{AgencyId, BulletinId, Category, HandlingCode, KeyId, Marking, Tlp, UnixMillis};
