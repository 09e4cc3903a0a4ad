//! Receipts: what a receiving node signs to say what it did with an envelope. The
//! sender stores them as proof of delivery (or of the reason for refusal).

use bytes::Bytes;
use liaison_proto::format::v1 as pb;
use prost::Message as _;

use crate::crypto::{SigningKey, VerifyingKey, domain};
use crate::envelope::{VerifiedRoots, merkle};
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
        /// Which check refused it; decides whether the sender retries.
        code: RejectCode,
        /// Why, in words naming the failed check, for a person. Never parsed.
        reason: String,
    },
}

/// Why a receiver refused an envelope, as a code a sender can act on without reading
/// the receiver's words. [`RejectCode::is_transient`] says whether the sender retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectCode {
    /// No code given (or one this version does not know). Final.
    Unspecified,
    /// The bytes do not decode, or a field breaks its rules.
    Malformed,
    /// Larger than the receiver accepts.
    TooLarge,
    /// A format version or signature scheme the receiver does not implement.
    UnsupportedFormat,
    /// The origin is not one of the receiver's partners.
    UnknownOrigin,
    /// The receiver does not hold the identity version carrying the signing key yet.
    UnknownSigningKey,
    /// Signed with a key its owner revoked.
    RevokedKey,
    /// Signed with a retired key after its retirement.
    RetiredKey,
    /// The signature does not verify.
    BadSignature,
    /// The receiver is not among the signed recipients.
    NotARecipient,
    /// Wrapped for an encryption key the receiver does not hold.
    UnknownEncryptionKey,
    /// The bulletin expired before it arrived.
    Expired,
    /// The content key or the ciphertext does not decrypt.
    DecryptionFailed,
    /// The origin's identity is not valid yet by the receiver's clock.
    IdentityNotYetValid,
    /// The origin's identity document expired.
    IdentityExpired,
    /// The receiver's sharing policy does not accept it.
    PolicyDenied,
    /// A forwarded envelope breaks a rule of onward sharing.
    ForwardingRefused,
    /// Delivered by a partner that may not deliver it.
    WrongSender,
    /// A recall of a bulletin the receiver never received from that origin.
    NothingToRecall,
    /// The receiver cannot read or write its log right now.
    StorageUnavailable,
    /// An attachment sent beside the envelope has not reached the receiver (whole and
    /// with the digest the content names) before the envelope did.
    AttachmentMissing,
}

impl RejectCode {
    /// Every code.
    pub const ALL: [RejectCode; 21] = [
        RejectCode::Unspecified,
        RejectCode::Malformed,
        RejectCode::TooLarge,
        RejectCode::UnsupportedFormat,
        RejectCode::UnknownOrigin,
        RejectCode::UnknownSigningKey,
        RejectCode::RevokedKey,
        RejectCode::RetiredKey,
        RejectCode::BadSignature,
        RejectCode::NotARecipient,
        RejectCode::UnknownEncryptionKey,
        RejectCode::Expired,
        RejectCode::DecryptionFailed,
        RejectCode::IdentityNotYetValid,
        RejectCode::IdentityExpired,
        RejectCode::PolicyDenied,
        RejectCode::ForwardingRefused,
        RejectCode::WrongSender,
        RejectCode::NothingToRecall,
        RejectCode::StorageUnavailable,
        RejectCode::AttachmentMissing,
    ];

    /// Whether the refusal says nothing about the bulletin itself, so the sender keeps
    /// it queued and retries with backoff: a key the receiver does not hold *yet*, an
    /// identity not valid *yet* (clock skew), a receiver that cannot store right now.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            RejectCode::UnknownSigningKey
                | RejectCode::IdentityNotYetValid
                | RejectCode::StorageUnavailable
                | RejectCode::AttachmentMissing
        )
    }

    /// The code's stable name, as in logs and `--json` output.
    pub fn as_str(self) -> &'static str {
        self.to_pb().as_str_name()
    }

    /// The wire value.
    pub fn to_pb(self) -> pb::RejectCode {
        match self {
            RejectCode::Unspecified => pb::RejectCode::Unspecified,
            RejectCode::Malformed => pb::RejectCode::Malformed,
            RejectCode::TooLarge => pb::RejectCode::TooLarge,
            RejectCode::UnsupportedFormat => pb::RejectCode::UnsupportedFormat,
            RejectCode::UnknownOrigin => pb::RejectCode::UnknownOrigin,
            RejectCode::UnknownSigningKey => pb::RejectCode::UnknownSigningKey,
            RejectCode::RevokedKey => pb::RejectCode::RevokedKey,
            RejectCode::RetiredKey => pb::RejectCode::RetiredKey,
            RejectCode::BadSignature => pb::RejectCode::BadSignature,
            RejectCode::NotARecipient => pb::RejectCode::NotARecipient,
            RejectCode::UnknownEncryptionKey => pb::RejectCode::UnknownEncryptionKey,
            RejectCode::Expired => pb::RejectCode::Expired,
            RejectCode::DecryptionFailed => pb::RejectCode::DecryptionFailed,
            RejectCode::IdentityNotYetValid => pb::RejectCode::IdentityNotYetValid,
            RejectCode::IdentityExpired => pb::RejectCode::IdentityExpired,
            RejectCode::PolicyDenied => pb::RejectCode::PolicyDenied,
            RejectCode::ForwardingRefused => pb::RejectCode::ForwardingRefused,
            RejectCode::WrongSender => pb::RejectCode::WrongSender,
            RejectCode::NothingToRecall => pb::RejectCode::NothingToRecall,
            RejectCode::StorageUnavailable => pb::RejectCode::StorageUnavailable,
            RejectCode::AttachmentMissing => pb::RejectCode::AttachmentMissing,
        }
    }

    /// The code for a wire value; an unknown value (a newer receiver) is
    /// [`RejectCode::Unspecified`], which is final.
    pub fn from_pb(value: i32) -> Self {
        Self::ALL
            .into_iter()
            .find(|code| code.to_pb() as i32 == value)
            .unwrap_or(RejectCode::Unspecified)
    }
}

impl std::fmt::Display for RejectCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&Error> for RejectCode {
    /// The code a receiver sends for a failed check of the domain layer.
    fn from(error: &Error) -> Self {
        match error {
            Error::Malformed(_) | Error::Recipients(_) => RejectCode::Malformed,
            Error::TooLarge { .. } => RejectCode::TooLarge,
            Error::UnsupportedFormat { .. } => RejectCode::UnsupportedFormat,
            Error::UnknownOrigin(_) => RejectCode::UnknownOrigin,
            Error::UnknownSigningKey { .. } => RejectCode::UnknownSigningKey,
            Error::RevokedSigningKey { .. } => RejectCode::RevokedKey,
            Error::RetiredSigningKey { .. } => RejectCode::RetiredKey,
            Error::BadSignature
            | Error::BadInclusionProof
            | Error::BadIdentitySignature
            | Error::BadRosterSignature { .. } => RejectCode::BadSignature,
            Error::NotARecipient(_) => RejectCode::NotARecipient,
            Error::UnknownEncryptionKey(_) => RejectCode::UnknownEncryptionKey,
            Error::Expired { .. } => RejectCode::Expired,
            Error::DecryptionFailed(_) => RejectCode::DecryptionFailed,
            Error::OriginIdentityNotYetValid { .. } => RejectCode::IdentityNotYetValid,
            Error::OriginIdentityExpired { .. } => RejectCode::IdentityExpired,
            Error::Forwarding(_) => RejectCode::ForwardingRefused,
            Error::Crypto(_) => RejectCode::DecryptionFailed,
        }
    }
}

/// The signed message of a receipt batch: `u64be(tree_size) || root`.
fn root_message(size: u64, root: &merkle::Hash) -> [u8; 40] {
    let mut m = [0u8; 40];
    m[..8].copy_from_slice(&size.to_be_bytes());
    m[8..].copy_from_slice(root);
    m
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
    /// The chain hash of the receiver's log entry the outcome names (accepted and
    /// purged only): the receiver's signed statement of its log up to that entry.
    pub log_hash: Option<[u8; 32]>,
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
    /// Signs `receipt` alone with the receiver's bulletin-signing key.
    pub fn sign(receipt: Receipt, key: &SigningKey) -> Self {
        let signing_key_id = key.verifying_key().key_id('s');
        let body = Self::encode_body(&receipt, &signing_key_id);
        let signature = key.sign(domain::RECEIPT, &[&body]);
        let encoded = pb::SignedReceipt {
            receipt: body.into(),
            signature: Bytes::copy_from_slice(&signature),
            batch: None,
        }
        .encode_to_vec()
        .into();
        Self {
            receipt,
            signing_key_id,
            encoded,
        }
    }

    /// Signs `receipts` (in order) with one signature over their Merkle root; each
    /// result carries its inclusion proof and verifies alone. A single receipt is
    /// signed alone, as [`SignedReceipt::sign`] does.
    pub fn sign_batch(receipts: Vec<Receipt>, key: &SigningKey) -> Vec<Self> {
        if receipts.len() <= 1 || receipts.len() as u64 > merkle::MAX_TREE_SIZE {
            return receipts.into_iter().map(|r| Self::sign(r, key)).collect();
        }
        let signing_key_id = key.verifying_key().key_id('s');
        let bodies: Vec<Vec<u8>> = receipts
            .iter()
            .map(|r| Self::encode_body(r, &signing_key_id))
            .collect();
        let leaves = bodies
            .iter()
            .map(|b| merkle::leaf_hash(&[domain::RECEIPT_LEAF, b]))
            .collect();
        // Not empty: checked above.
        let Some(tree) = merkle::Tree::new(leaves) else {
            return Vec::new();
        };
        let root = tree.root();
        let signature = key.sign(domain::RECEIPT_BATCH, &[&root_message(tree.size(), &root)]);
        receipts
            .into_iter()
            .zip(bodies)
            .enumerate()
            .map(|(index, (receipt, body))| {
                let path = tree.proof(index).unwrap_or_default();
                let encoded = pb::SignedReceipt {
                    receipt: body.into(),
                    signature: Bytes::copy_from_slice(&signature),
                    batch: Some(pb::BatchInclusion {
                        tree_size: tree.size(),
                        leaf_index: index as u64,
                        path: path.iter().map(|h| Bytes::copy_from_slice(h)).collect(),
                        root: Bytes::copy_from_slice(&root),
                    }),
                }
                .encode_to_vec()
                .into();
                Self {
                    receipt,
                    signing_key_id: signing_key_id.clone(),
                    encoded,
                }
            })
            .collect()
    }

    fn encode_body(receipt: &Receipt, signing_key_id: &KeyId) -> Vec<u8> {
        let (outcome, log_seq) = match &receipt.outcome {
            Outcome::Accepted { log_seq } => (pb::ReceiptOutcome::Accepted, *log_seq),
            Outcome::Duplicate { log_seq } => (pb::ReceiptOutcome::Duplicate, *log_seq),
            Outcome::Rejected { .. } => (pb::ReceiptOutcome::Rejected, 0),
            Outcome::Purged { log_seq } => (pb::ReceiptOutcome::Purged, *log_seq),
        };
        let (reject_code, reason) = match &receipt.outcome {
            Outcome::Rejected { code, reason } => (code.to_pb(), reason.clone()),
            _ => (pb::RejectCode::Unspecified, String::new()),
        };
        pb::Receipt {
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
            reject_code: reject_code as i32,
            log_hash: receipt
                .log_hash
                .map(|h| Bytes::copy_from_slice(&h))
                .unwrap_or_default(),
        }
        .encode_to_vec()
    }

    /// Decodes a signed receipt and checks its signature with `key` (the receiver's
    /// signing key, looked up by the caller from the authenticated partner).
    ///
    /// Errors: [`Error::Malformed`], [`Error::BadSignature`],
    /// [`Error::BadInclusionProof`].
    pub fn verify(encoded: Bytes, key: &VerifyingKey) -> Result<Self> {
        Self::verify_with(encoded, key, None)
    }

    /// [`SignedReceipt::verify`], verifying a batch signature only once for all the
    /// receipts of its batch that `roots` sees.
    pub fn verify_with(
        encoded: Bytes,
        key: &VerifyingKey,
        roots: Option<&VerifiedRoots>,
    ) -> Result<Self> {
        let signed = pb::SignedReceipt::decode(encoded.clone())
            .map_err(|e| Malformed::new("receipt", format!("does not decode: {e}")))?;
        match signed.batch {
            None => key
                .verify(domain::RECEIPT, &[&signed.receipt], &signed.signature)
                .map_err(|_| Error::BadSignature)?,
            Some(batch) => {
                let root: merkle::Hash = batch
                    .root
                    .as_ref()
                    .try_into()
                    .map_err(|_| Malformed::new("receipt.batch.root", "must be 32 bytes"))?;
                let path = batch
                    .path
                    .iter()
                    .map(|h| h.as_ref().try_into())
                    .collect::<Result<Vec<merkle::Hash>, _>>()
                    .map_err(|_| Malformed::new("receipt.batch.path", "hashes are 32 bytes"))?;
                let leaf = merkle::leaf_hash(&[domain::RECEIPT_LEAF, &signed.receipt]);
                if merkle::root_from_proof(&leaf, batch.leaf_index, batch.tree_size, &path)
                    != Some(root)
                {
                    return Err(Error::BadInclusionProof);
                }
                let message = root_message(batch.tree_size, &root);
                let verified = match roots {
                    Some(roots) => roots.verify(
                        key,
                        &key.key_id('s'),
                        domain::RECEIPT_BATCH,
                        &message,
                        &signed.signature,
                    ),
                    None => key
                        .verify(domain::RECEIPT_BATCH, &[&message], &signed.signature)
                        .is_ok(),
                };
                if !verified {
                    return Err(Error::BadSignature);
                }
            }
        }
        let (receipt, signing_key_id) = Self::parse_body(&signed.receipt)?;
        Ok(Self {
            receipt,
            signing_key_id,
            encoded,
        })
    }

    /// [`SignedReceipt::verify_with`] when it costs only hashing: a batch receipt
    /// whose batch signature `roots` already verified. `None` when it would need an
    /// Ed25519 verification (a receipt signed alone, or the first of its batch seen),
    /// which belongs off the async threads.
    pub fn verify_if_cached(
        encoded: &Bytes,
        key: &VerifyingKey,
        roots: &VerifiedRoots,
    ) -> Option<Result<Self>> {
        let signed = pb::SignedReceipt::decode(encoded.clone()).ok()?;
        let batch = signed.batch.as_ref()?;
        let root: merkle::Hash = batch.root.as_ref().try_into().ok()?;
        let message = root_message(batch.tree_size, &root);
        roots
            .contains(
                &key.key_id('s'),
                domain::RECEIPT_BATCH,
                &message,
                &signed.signature,
            )
            .then(|| Self::verify_with(encoded.clone(), key, Some(roots)))
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
            Ok(pb::ReceiptOutcome::Rejected) => Outcome::Rejected {
                code: RejectCode::from_pb(m.reject_code),
                reason: m.reason,
            },
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
            log_hash: match m.log_hash.len() {
                0 => None,
                _ => Some(
                    m.log_hash
                        .as_ref()
                        .try_into()
                        .map_err(|_| Malformed::new("receipt.log_hash", "must be 32 bytes"))?,
                ),
            },
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
                code: RejectCode::BadSignature,
                reason: "signature does not verify".into(),
            },
            log_hash: None,
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

        // An accepted receipt names the receiver's log entry and its chain hash.
        let accepted = Receipt {
            outcome: Outcome::Accepted { log_seq: 17 },
            log_hash: Some([6; 32]),
            ..receipt
        };
        let signed = SignedReceipt::sign(accepted.clone(), &key);
        let checked = SignedReceipt::verify(signed.to_bytes(), &key.verifying_key()).unwrap();
        assert_eq!(checked.receipt(), &accepted);
    }

    #[test]
    fn batch_receipts_verify_alone_and_refuse_every_tampering() {
        let key = SigningKey::generate(&mut SystemRng).unwrap();
        let receipts: Vec<Receipt> = (1..=7u64)
            .map(|seq| Receipt {
                bulletin_id: Some(BulletinId::new(UnixMillis(1_795_000_000_000))),
                receiver: "DE-BKA".parse().unwrap(),
                envelope_sha256: [seq as u8; 32],
                outcome: Outcome::Accepted { log_seq: seq },
                log_hash: Some([9; 32]),
                time: UnixMillis(1_795_000_000_001),
            })
            .collect();
        let signed = SignedReceipt::sign_batch(receipts.clone(), &key);
        assert_eq!(signed.len(), 7);
        let roots = VerifiedRoots::default();
        // Nothing verified yet: the cheap path declines rather than verifying.
        assert!(
            SignedReceipt::verify_if_cached(&signed[0].to_bytes(), &key.verifying_key(), &roots)
                .is_none()
        );
        for (s, r) in signed.iter().zip(&receipts) {
            // Alone (an outsider with one receipt) and through the cache.
            let alone = SignedReceipt::verify(s.to_bytes(), &key.verifying_key()).unwrap();
            assert_eq!(alone.receipt(), r);
            let cached =
                SignedReceipt::verify_with(s.to_bytes(), &key.verifying_key(), Some(&roots))
                    .unwrap();
            assert_eq!(cached.receipt(), r);
        }
        assert_eq!(roots.len(), 1, "one signature check for the batch");
        // Now the cheap path answers for every member, and only for them.
        for (s, r) in signed.iter().zip(&receipts) {
            let cheap =
                SignedReceipt::verify_if_cached(&s.to_bytes(), &key.verifying_key(), &roots);
            assert_eq!(cheap.unwrap().unwrap().receipt(), r);
        }
        let alone = SignedReceipt::sign(receipts[0].clone(), &key);
        assert!(
            SignedReceipt::verify_if_cached(&alone.to_bytes(), &key.verifying_key(), &roots)
                .is_none()
        );

        let parts = |s: &SignedReceipt| pb::SignedReceipt::decode(s.to_bytes()).unwrap();
        let check = |m: pb::SignedReceipt| {
            SignedReceipt::verify_with(m.encode_to_vec().into(), &key.verifying_key(), Some(&roots))
        };
        // Another receipt's proof; a changed receipt body; a flipped signature bit
        // with the root already verified; another key.
        let mut borrowed = parts(&signed[1]);
        borrowed.batch = parts(&signed[2]).batch;
        assert_eq!(check(borrowed), Err(Error::BadInclusionProof));
        let mut changed = parts(&signed[3]);
        let mut body = pb::Receipt::decode(changed.receipt.clone()).unwrap();
        body.log_seq = 99;
        changed.receipt = body.encode_to_vec().into();
        assert_eq!(check(changed), Err(Error::BadInclusionProof));
        let mut flipped = parts(&signed[4]);
        let mut signature = flipped.signature.to_vec();
        signature[10] ^= 1;
        flipped.signature = signature.into();
        let flipped_bytes: Bytes = flipped.encode_to_vec().into();
        assert!(
            SignedReceipt::verify_if_cached(&flipped_bytes, &key.verifying_key(), &roots).is_none(),
            "a changed signature is not in the cache"
        );
        assert_eq!(check(flipped), Err(Error::BadSignature));
        let other = SigningKey::generate(&mut SystemRng).unwrap();
        assert_eq!(
            SignedReceipt::verify(signed[0].to_bytes(), &other.verifying_key()),
            Err(Error::BadSignature)
        );
        // A batch of one is signed alone.
        let one = SignedReceipt::sign_batch(receipts[..1].to_vec(), &key);
        assert!(parts(&one[0]).batch.is_none());
        assert!(SignedReceipt::verify(one[0].to_bytes(), &key.verifying_key()).is_ok());
    }

    #[test]
    fn reject_codes_survive_the_wire_and_unknown_ones_are_final() {
        for value in 0..32 {
            let code = RejectCode::from_pb(value);
            if code != RejectCode::Unspecified {
                assert_eq!(code.to_pb() as i32, value);
            }
        }
        assert_eq!(RejectCode::from_pb(9999), RejectCode::Unspecified);
        assert!(!RejectCode::Unspecified.is_transient());
        assert!(RejectCode::UnknownSigningKey.is_transient());
        assert!(RejectCode::IdentityNotYetValid.is_transient());
        assert!(!RejectCode::IdentityExpired.is_transient());
        assert!(!RejectCode::BadSignature.is_transient());
        assert_eq!(
            RejectCode::PolicyDenied.as_str(),
            "REJECT_CODE_POLICY_DENIED"
        );
    }
}
