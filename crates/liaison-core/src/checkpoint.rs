//! Signed checkpoints: an agency's signed statement that entry `seq` of its log has
//! hash `head_hash`. Because each entry's hash covers the one before it, a checkpoint
//! commits to the whole log up to `seq`. A node writes one into its own log every
//! few hundred entries and on shutdown; partners exchange
//! fresh ones at the start of each delivery session, and two checkpoints of one agency
//! that name different hashes for the same entry are proof its log forked or was
//! rolled back.

use bytes::Bytes;
use liaison_proto::format::v1 as pb;
use prost::Message as _;

use crate::crypto::{SigningKey, VerifyingKey, domain};
use crate::error::{Error, Malformed, Result};
use crate::ids::{AgencyId, KeyId, UnixMillis};

/// A checkpoint with its signature, kept as the exact signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The agency whose log it is.
    pub agency: AgencyId,
    /// Sequence number of the entry it names (the head when it was signed).
    pub seq: u64,
    /// That entry's chain hash.
    pub head_hash: [u8; 32],
    /// When it was signed, by the signer's clock.
    pub time: UnixMillis,
    /// The signing key that signed it.
    pub signing_key_id: KeyId,
    /// The encoded `pb::SignedCheckpoint`.
    pub signed: Bytes,
}

impl Checkpoint {
    /// Signs a statement that entry `seq` of `agency`'s log has hash `hash`.
    pub fn sign(
        agency: &AgencyId,
        seq: u64,
        hash: [u8; 32],
        time: UnixMillis,
        key: &SigningKey,
    ) -> Self {
        let signing_key_id = key.verifying_key().key_id('s');
        let body = pb::Checkpoint {
            agency: agency.to_string(),
            seq,
            head_hash: Bytes::copy_from_slice(&hash),
            time_unix_ms: time.0,
            signing_key_id: signing_key_id.to_string(),
        }
        .encode_to_vec();
        let signature = key.sign(domain::CHECKPOINT, &[&body]);
        let signed = pb::SignedCheckpoint {
            checkpoint: body.into(),
            signature: Bytes::copy_from_slice(&signature),
        }
        .encode_to_vec()
        .into();
        Self {
            agency: agency.clone(),
            seq,
            head_hash: hash,
            time,
            signing_key_id,
            signed,
        }
    }

    /// Decodes a signed checkpoint and checks its fields, without checking the
    /// signature (see [`Checkpoint::verify`]).
    ///
    /// Errors: [`Error::Malformed`] naming the field.
    pub fn decode(signed: Bytes) -> Result<Self> {
        let outer = pb::SignedCheckpoint::decode(signed.clone())
            .map_err(|e| Malformed::new("checkpoint", format!("does not decode: {e}")))?;
        let body = pb::Checkpoint::decode(outer.checkpoint)
            .map_err(|e| Malformed::new("checkpoint", format!("does not decode: {e}")))?;
        Ok(Self {
            agency: body.agency.parse()?,
            seq: body.seq,
            head_hash: body
                .head_hash
                .as_ref()
                .try_into()
                .map_err(|_| Malformed::new("checkpoint.head_hash", "must be 32 bytes"))?,
            time: UnixMillis(body.time_unix_ms),
            signing_key_id: body.signing_key_id.parse()?,
            signed,
        })
    }

    /// Decodes a signed checkpoint of `agency` and checks its signature with `key`
    /// (the agency's signing key, looked up by the caller).
    ///
    /// Errors: [`Error::Malformed`], [`Error::BadSignature`] (also when it names
    /// another agency or another key).
    pub fn verify(signed: Bytes, agency: &AgencyId, key: &VerifyingKey) -> Result<Self> {
        let checkpoint = Self::decode(signed)?;
        checkpoint.check_signature(key)?;
        if &checkpoint.agency != agency {
            return Err(Malformed::new(
                "checkpoint.agency",
                format!("names {} where {agency} was expected", checkpoint.agency),
            )
            .into());
        }
        Ok(checkpoint)
    }

    /// Checks the signature with `key`.
    ///
    /// Errors: [`Error::BadSignature`] if `key` is not the signing key it names or the
    /// signature does not verify.
    pub fn check_signature(&self, key: &VerifyingKey) -> Result<()> {
        if key.key_id('s') != self.signing_key_id {
            return Err(Error::BadSignature);
        }
        let outer = pb::SignedCheckpoint::decode(self.signed.clone())
            .map_err(|e| Malformed::new("checkpoint", format!("does not decode: {e}")))?;
        key.verify(domain::CHECKPOINT, &[&outer.checkpoint], &outer.signature)
            .map_err(|_| Error::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_only_with_its_key_and_agency() {
        let key = SigningKey::from_seed([7; 32]).unwrap();
        let other = SigningKey::from_seed([8; 32]).unwrap();
        let agency: AgencyId = "NL-NP".parse().unwrap();
        let c = Checkpoint::sign(&agency, 42, [9; 32], UnixMillis(1_000), &key);
        let back = Checkpoint::verify(c.signed.clone(), &agency, &key.verifying_key()).unwrap();
        assert_eq!(back, c);
        assert!(matches!(
            Checkpoint::verify(c.signed.clone(), &agency, &other.verifying_key()),
            Err(Error::BadSignature)
        ));
        let elsewhere: AgencyId = "DE-BKA".parse().unwrap();
        assert!(Checkpoint::verify(c.signed.clone(), &elsewhere, &key.verifying_key()).is_err());
        // A flipped byte anywhere in the signed statement breaks it.
        let mut bytes = c.signed.to_vec();
        let last = bytes.len() - 40;
        bytes[last] ^= 1;
        assert!(Checkpoint::verify(bytes.into(), &agency, &key.verifying_key()).is_err());
    }
}
