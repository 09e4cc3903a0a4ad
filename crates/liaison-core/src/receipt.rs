//! Receipts: what a receiving node signs to say what it did with an envelope. The
//! sender stores them as proof of delivery (or of the reason for refusal).

use bytes::Bytes;
use liaison_proto::format::v1 as pb;
use prost::Message as _;

use crate::crypto::{SigningKey, VerifyingKey, domain};
use crate::error::{Error, Malformed, Result};
use crate::ids::{AgencyId, BulletinId, KeyId, UnixMillis};

/// What the receiver did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored, at this entry of the receiver's log.
    Accepted {
        /// The receiver's log sequence number.
        log_seq: u64,
    },
    /// Already stored earlier, at this entry.
    Duplicate {
        /// The receiver's log sequence number.
        log_seq: u64,
    },
    /// A recall carried out: the bulletin is marked recalled and its payload erased.
    Purged {
        /// The receiver's log entry recording the recall.
        log_seq: u64,
    },
    /// Refused; not stored.
    Rejected {
        /// Why, in words naming the failed check.
        reason: String,
    },
}

/// A receipt's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The bulletin (nil UUID bytes are refused; a receipt for an undecodable
    /// envelope names the envelope by hash only, with `bulletin_id: None`).
    pub bulletin_id: Option<BulletinId>,
    /// The receiving agency.
    pub receiver: AgencyId,
    /// SHA-256 of the envelope bytes as received.
    pub envelope_sha256: [u8; 32],
    /// What happened.
    pub outcome: Outcome,
    /// When.
    pub time: UnixMillis,
}

/// A receipt with its signature, kept as the exact signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReceipt {
    receipt: Receipt,
    signing_key_id: KeyId,
    encoded: Bytes,
}

impl SignedReceipt {
    /// Signs `receipt` with the receiver's bulletin-signing key.
    pub fn sign(receipt: Receipt, key: &SigningKey) -> Self {
        let signing_key_id = key.verifying_key().key_id('s');
        let (outcome, reason, log_seq) = match &receipt.outcome {
            Outcome::Accepted { log_seq } => {
                (pb::ReceiptOutcome::Accepted, String::new(), *log_seq)
            }
            Outcome::Duplicate { log_seq } => {
                (pb::ReceiptOutcome::Duplicate, String::new(), *log_seq)
            }
            Outcome::Rejected { reason } => (pb::ReceiptOutcome::Rejected, reason.clone(), 0),
            Outcome::Purged { log_seq } => (pb::ReceiptOutcome::Purged, String::new(), *log_seq),
        };
        let body = pb::Receipt {
            bulletin_id: receipt
                .bulletin_id
                .map(|id| Bytes::copy_from_slice(&id.to_bytes()))
                .unwrap_or_default(),
            receiver: receipt.receiver.to_string(),
            signing_key_id: signing_key_id.to_string(),
            outcome: outcome as i32,
            reason,
            envelope_sha256: Bytes::copy_from_slice(&receipt.envelope_sha256),
            log_seq,
            time_unix_ms: receipt.time.0,
        }
        .encode_to_vec();
        let signature = key.sign(domain::RECEIPT, &[&body]);
        let encoded = pb::SignedReceipt {
            receipt: body.into(),
            signature: Bytes::copy_from_slice(&signature),
        }
        .encode_to_vec()
        .into();
        Self {
            receipt,
            signing_key_id,
            encoded,
        }
    }

    /// Decodes a signed receipt and checks its signature with `key` (the receiver's
    /// signing key, looked up by the caller from the authenticated partner).
    ///
    /// Errors: [`Error::Malformed`], [`Error::BadSignature`].
    pub fn verify(encoded: Bytes, key: &VerifyingKey) -> Result<Self> {
        let signed = pb::SignedReceipt::decode(encoded.clone())
            .map_err(|e| Malformed::new("receipt", format!("does not decode: {e}")))?;
        key.verify(domain::RECEIPT, &[&signed.receipt], &signed.signature)
            .map_err(|_| Error::BadSignature)?;
        let (receipt, signing_key_id) = Self::parse_body(&signed.receipt)?;
        Ok(Self {
            receipt,
            signing_key_id,
            encoded,
        })
    }

    /// Decodes a receipt already verified when it was stored (reading one back from
    /// the log). No signature check.
    pub fn from_stored(encoded: Bytes) -> Result<Self> {
        let signed = pb::SignedReceipt::decode(encoded.clone())
            .map_err(|e| Malformed::new("receipt", format!("does not decode: {e}")))?;
        let (receipt, signing_key_id) = Self::parse_body(&signed.receipt)?;
        Ok(Self {
            receipt,
            signing_key_id,
            encoded,
        })
    }

    fn parse_body(body: &Bytes) -> Result<(Receipt, KeyId)> {
        let m = pb::Receipt::decode(body.clone())
            .map_err(|e| Malformed::new("receipt", format!("does not decode: {e}")))?;
        let outcome = match pb::ReceiptOutcome::try_from(m.outcome) {
            Ok(pb::ReceiptOutcome::Accepted) => Outcome::Accepted { log_seq: m.log_seq },
            Ok(pb::ReceiptOutcome::Duplicate) => Outcome::Duplicate { log_seq: m.log_seq },
            Ok(pb::ReceiptOutcome::Rejected) => Outcome::Rejected { reason: m.reason },
            Ok(pb::ReceiptOutcome::Purged) => Outcome::Purged { log_seq: m.log_seq },
            _ => {
                return Err(Malformed::new(
                    "receipt.outcome",
                    format!("unknown outcome {}", m.outcome),
                )
                .into());
            }
        };
        let receipt = Receipt {
            bulletin_id: if m.bulletin_id.is_empty() {
                None
            } else {
                Some(BulletinId::from_slice(&m.bulletin_id)?)
            },
            receiver: m.receiver.parse()?,
            envelope_sha256: m
                .envelope_sha256
                .as_ref()
                .try_into()
                .map_err(|_| Malformed::new("receipt.envelope_sha256", "must be 32 bytes"))?,
            outcome,
            time: UnixMillis(m.time_unix_ms),
        };
        Ok((receipt, m.signing_key_id.parse()?))
    }

    /// The contents.
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    /// The key that signed it.
    pub fn signing_key_id(&self) -> &KeyId {
        &self.signing_key_id
    }

    /// The signed bytes, as made or received.
    pub fn to_bytes(&self) -> Bytes {
        self.encoded.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SystemRng;

    #[test]
    fn receipts_round_trip_and_detect_tampering() {
        let key = SigningKey::generate(&mut SystemRng).unwrap();
        let receipt = Receipt {
            bulletin_id: Some(BulletinId::new(UnixMillis(1_795_000_000_000))),
            receiver: "DE-BKA".parse().unwrap(),
            envelope_sha256: [4; 32],
            outcome: Outcome::Rejected {
                reason: "signature does not verify".into(),
            },
            time: UnixMillis(1_795_000_000_001),
        };
        let signed = SignedReceipt::sign(receipt.clone(), &key);
        let checked = SignedReceipt::verify(signed.to_bytes(), &key.verifying_key()).unwrap();
        assert_eq!(checked.receipt(), &receipt);
        let other = SigningKey::generate(&mut SystemRng).unwrap();
        assert_eq!(
            SignedReceipt::verify(signed.to_bytes(), &other.verifying_key()),
            Err(Error::BadSignature)
        );
        let mut bytes = signed.to_bytes().to_vec();
        bytes[5] ^= 1;
        assert!(SignedReceipt::verify(bytes.into(), &key.verifying_key()).is_err());
    }
}
