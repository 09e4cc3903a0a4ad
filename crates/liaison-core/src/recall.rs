//! Recalls: the originator of a bulletin withdraws it from everyone it reached. A
//! recall is signed with the origin's bulletin-signing key, so a receiver erases only
//! on the originator's word, never a relay's.

use bytes::Bytes;
use liaison_proto::format::v1 as pb;
use prost::Message as _;

use crate::crypto::{SigningKey, domain};
use crate::envelope::KeyDirectory;
use crate::error::{Error, Malformed, Result};
use crate::ids::{AgencyId, BulletinId, KeyId, UnixMillis};

/// A verified (or freshly signed) recall, kept as its exact signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRecall {
    /// The bulletin withdrawn.
    pub bulletin_id: BulletinId,
    /// Its originator.
    pub origin: AgencyId,
    /// Why, in the originator's words.
    pub reason: String,
    /// When the originator made it.
    pub time: UnixMillis,
    encoded: Bytes,
}

impl SignedRecall {
    /// Signs a recall of `bulletin_id` by `origin`.
    pub fn sign(
        bulletin_id: BulletinId,
        origin: AgencyId,
        reason: String,
        key: &SigningKey,
    ) -> Self {
        let time = UnixMillis::now();
        let body = pb::Recall {
            bulletin_id: Bytes::copy_from_slice(&bulletin_id.to_bytes()),
            origin: origin.to_string(),
            signing_key_id: key.verifying_key().key_id('s').to_string(),
            reason: reason.clone(),
            time_unix_ms: time.0,
        }
        .encode_to_vec();
        let signature = key.sign(domain::RECALL, &[&body]);
        let encoded = pb::SignedRecall {
            recall: body.into(),
            signature: Bytes::copy_from_slice(&signature),
        }
        .encode_to_vec()
        .into();
        Self {
            bulletin_id,
            origin,
            reason,
            time,
            encoded,
        }
    }

    /// Decodes a recall and verifies it against its origin's signing key.
    ///
    /// Errors: [`Error::Malformed`], [`Error::UnknownOrigin`],
    /// [`Error::UnknownSigningKey`], [`Error::RevokedSigningKey`], [`Error::BadSignature`].
    pub fn verify(encoded: Bytes, directory: &(impl KeyDirectory + ?Sized)) -> Result<Self> {
        if encoded.len() > 64 * 1024 {
            return Err(Error::TooLarge {
                size: encoded.len(),
                limit: 64 * 1024,
            });
        }
        let signed = pb::SignedRecall::decode(encoded.clone())
            .map_err(|e| Malformed::new("recall", format!("does not decode: {e}")))?;
        let body = pb::Recall::decode(signed.recall.clone())
            .map_err(|e| Malformed::new("recall", format!("does not decode: {e}")))?;
        let origin: AgencyId = body.origin.parse()?;
        let key_id: KeyId = body.signing_key_id.parse()?;
        let key = crate::directory::statement_key(directory, &origin, &key_id)?;
        key.verify(domain::RECALL, &[&signed.recall], &signed.signature)
            .map_err(|_| Error::BadSignature)?;
        if body.reason.len() > crate::limits::MAX_FIELD_BYTES {
            return Err(Malformed::new("recall.reason", "more than 1024 bytes").into());
        }
        Ok(Self {
            bulletin_id: BulletinId::from_slice(&body.bulletin_id)?,
            origin,
            reason: body.reason,
            time: UnixMillis(body.time_unix_ms),
            encoded,
        })
    }

    /// The signed bytes.
    pub fn to_bytes(&self) -> Bytes {
        self.encoded.clone()
    }
}
