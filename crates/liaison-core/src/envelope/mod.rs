//! The sealed envelope: a bulletin encrypted once, its content key wrapped for each
//! recipient, and the whole signed by the origin. The layout and the exact signed
//! message are documented in `proto/liaison/v1/envelope.proto` and docs/ENVELOPE.md.
//!
//! Two formats: v1 (one Ed25519 signature and one HPKE encapsulation per envelope and
//! recipient; [`seal_for_recipients`]) and v2, which this node writes: a batch of
//! envelopes signed once over a Merkle root ([`batch`]), content keys wrapped under
//! per-epoch recipient keys ([`epoch`]); [`prepare`], [`BatchSigner`],
//! [`PreparedEnvelope::finish`], or [`seal_batch`] for a whole batch at once. Both open
//! and verify through the same [`open`].
//!
//! [`SealedEnvelope::decode`] does the cheap, structural checks (size, decode with
//! limits, field rules). [`open`] then runs the checks that need keys, cheapest first,
//! each failing with its own [`Error`] variant:
//!
//! 1. known origin ([`Error::UnknownOrigin`]),
//! 2. signing key known, valid and not revoked ([`Error::UnknownSigningKey`],
//!    [`Error::OriginIdentityNotYetValid`], [`Error::OriginIdentityExpired`], [`Error::RevokedSigningKey`]),
//! 3. signature ([`Error::BadSignature`]),
//! 4. this agency is a signed recipient ([`Error::NotARecipient`],
//!    [`Error::UnknownEncryptionKey`]),
//! 5. not expired ([`Error::Expired`]),
//! 6. decrypt and decode the content ([`Error::DecryptionFailed`], [`Error::Malformed`]).

use bytes::Bytes;
use liaison_proto::format::v1 as pb;
use prost::Message as _;

use crate::bulletin::{Bulletin, BulletinContent};
use crate::crypto::{
    self, EncryptionKey, EncryptionPublicKey, Entropy, SigningKey, VerifyingKey, domain,
};
use crate::error::{Error, Malformed, Result};
use crate::handling::{InformationRequest, Priority};
use crate::ids::{AgencyId, BulletinId, KeyId, Marking, UnixMillis};
use crate::limits;

pub mod batch;
pub mod epoch;
pub mod merkle;

pub use crate::directory::{AcceptedBefore, KeyDirectory, KeyLookup, lookup_in_document};
pub use batch::{BatchSigner, Sealing, SignedBatch, VerifiedRoots};
pub use epoch::{EpochLimits, ReceiverEpochs, SenderEpochs};

/// Format v1's `format_version`: one signature per envelope.
pub const FORMAT_VERSION: u32 = 1;
/// Format v2's `format_version` on the wire (2 marks a forwarded envelope).
pub const FORMAT_VERSION_BATCH: u32 = 3;
/// Format v2's signature scheme.
pub const SCHEME_BATCH: i32 = pb::SignatureScheme::Ed25519MerkleBatch as i32;
const SCHEME_SINGLE: i32 = pb::SignatureScheme::Ed25519 as i32;

/// The bulletin id of an envelope (sealed or forwarded) that fails its checks, read as
/// far as the bytes allow, so that a rejection can still name the bulletin. Nothing
/// here is trusted: it only labels a refusal.
pub fn peek_bulletin_id(raw: &Bytes) -> Option<BulletinId> {
    if raw.len() > limits::MAX_ENVELOPE_BYTES {
        return None;
    }
    let sealed = if crate::forward::is_forwarded(raw) {
        pb::ForwardedEnvelope::decode(raw.clone()).ok()?.original
    } else {
        raw.clone()
    };
    let parts = pb::SealedEnvelope::decode(sealed).ok()?;
    let header = pb::EnvelopeHeader::decode(parts.header).ok()?;
    BulletinId::from_slice(&header.bulletin_id).ok()
}

/// A recipient to seal for: the agency and its current encryption key.
#[derive(Debug, Clone)]
pub struct RecipientKey {
    /// The recipient agency.
    pub agency: AgencyId,
    /// Its X25519 encryption key.
    pub key: EncryptionPublicKey,
}

/// A signed recipient: who the envelope was meant for, and for which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The agency.
    pub agency: AgencyId,
    /// The encryption key the content key was wrapped for.
    pub encryption_key_id: KeyId,
}

/// The readable part of an envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvelopeHeader {
    /// The bulletin inside.
    pub bulletin_id: BulletinId,
    /// The agency that signed.
    pub origin: AgencyId,
    /// Its signing key.
    pub signing_key_id: KeyId,
    /// Everyone it was sealed for, in wrap order.
    pub recipients: Vec<Recipient>,
    /// When the bulletin was written.
    pub created: UnixMillis,
    /// When it expires.
    pub expires: UnixMillis,
    /// Category, TLP and handling codes.
    pub marking: Marking,
    /// The conversation it belongs to, when it replies to or updates another bulletin.
    pub thread: Option<BulletinId>,
    /// Set when it is a request for information.
    pub request: Option<InformationRequest>,
}

impl EnvelopeHeader {
    /// The conversation it belongs to: its thread, or its own id when it starts one.
    pub fn thread_id(&self) -> BulletinId {
        self.thread.unwrap_or(self.bulletin_id)
    }
}

impl TryFrom<pb::EnvelopeHeader> for EnvelopeHeader {
    type Error = Malformed;

    fn try_from(m: pb::EnvelopeHeader) -> Result<Self, Malformed> {
        if m.recipients.is_empty() || m.recipients.len() > limits::MAX_RECIPIENTS {
            return Err(Malformed::new(
                "recipients",
                format!(
                    "{} recipients; must be 1 to {}",
                    m.recipients.len(),
                    limits::MAX_RECIPIENTS
                ),
            ));
        }
        let recipients = m
            .recipients
            .into_iter()
            .map(|r| {
                Ok(Recipient {
                    agency: r.agency.parse()?,
                    encryption_key_id: r.encryption_key_id.parse()?,
                })
            })
            .collect::<Result<Vec<_>, Malformed>>()
            .map_err(|e| e.within("recipients"))?;
        for (i, r) in recipients.iter().enumerate() {
            if recipients[..i].iter().any(|o| o.agency == r.agency) {
                return Err(Malformed::new(
                    "recipients",
                    format!("{} appears more than once", r.agency),
                ));
            }
        }
        if m.content_cipher != pb::ContentCipher::Aes256Gcm as i32 {
            return Err(Malformed::new(
                "content_cipher",
                format!("unsupported cipher {}", m.content_cipher),
            ));
        }
        if m.expires_unix_ms <= m.created_unix_ms {
            return Err(Malformed::new(
                "expires_unix_ms",
                "must be later than created_unix_ms",
            ));
        }
        Ok(Self {
            bulletin_id: BulletinId::from_slice(&m.bulletin_id)?,
            origin: m.origin.parse()?,
            signing_key_id: m
                .signing_key_id
                .parse()
                .map_err(|e: Malformed| e.within("signing"))?,
            recipients,
            created: UnixMillis(m.created_unix_ms),
            expires: UnixMillis(m.expires_unix_ms),
            marking: m
                .marking
                .ok_or_else(|| Malformed::new("marking", "missing"))?
                .try_into()
                .map_err(|e: Malformed| e.within("marking"))?,
            thread: if m.thread_id.is_empty() {
                None
            } else {
                Some(BulletinId::from_slice(&m.thread_id).map_err(|e| e.within("thread_id"))?)
            },
            request: m
                .request
                .map(|r| information_request(r, m.created_unix_ms, m.expires_unix_ms))
                .transpose()?,
        })
    }
}

/// A request's priority and due time, checked against the bulletin's times.
fn information_request(
    m: pb::InformationRequest,
    created: i64,
    expires: i64,
) -> Result<InformationRequest, Malformed> {
    let priority = Priority::try_from(m.priority)?;
    if m.due_unix_ms <= created || m.due_unix_ms > expires {
        return Err(Malformed::new(
            "request.due_unix_ms",
            "must be after the bulletin is created and no later than it expires",
        ));
    }
    Ok(InformationRequest {
        priority,
        due: UnixMillis(m.due_unix_ms),
    })
}

impl From<&EnvelopeHeader> for pb::EnvelopeHeader {
    fn from(h: &EnvelopeHeader) -> Self {
        Self {
            bulletin_id: Bytes::copy_from_slice(&h.bulletin_id.to_bytes()),
            origin: h.origin.to_string(),
            signing_key_id: h.signing_key_id.to_string(),
            recipients: h
                .recipients
                .iter()
                .map(|r| pb::Recipient {
                    agency: r.agency.to_string(),
                    encryption_key_id: r.encryption_key_id.to_string(),
                })
                .collect(),
            created_unix_ms: h.created.0,
            expires_unix_ms: h.expires.0,
            marking: Some((&h.marking).into()),
            content_cipher: pb::ContentCipher::Aes256Gcm as i32,
            thread_id: h
                .thread
                .map(|t| Bytes::copy_from_slice(&t.to_bytes()))
                .unwrap_or_default(),
            request: h.request.map(|r| pb::InformationRequest {
                priority: r.priority.into(),
                due_unix_ms: r.due.0,
            }),
        }
    }
}

/// A structurally valid envelope, not yet verified. Holds the bytes exactly as sealed
/// or received; every part is a zero-copy slice of them.
#[derive(Debug, Clone)]
pub struct SealedEnvelope {
    raw: Bytes,
    parts: pb::SealedEnvelope,
    header: EnvelopeHeader,
    wraps: Vec<pb::KeyWrap>,
    batch: Option<Inclusion>,
}

/// A format-v2 envelope's place in its batch, validated.
#[derive(Debug, Clone)]
struct Inclusion {
    size: u64,
    index: u64,
    path: Vec<merkle::Hash>,
    root: merkle::Hash,
}

impl TryFrom<pb::BatchInclusion> for Inclusion {
    type Error = Malformed;

    fn try_from(m: pb::BatchInclusion) -> Result<Self, Malformed> {
        if m.tree_size == 0 || m.tree_size > merkle::MAX_TREE_SIZE {
            return Err(Malformed::new(
                "tree_size",
                format!("{}; must be 1 to {}", m.tree_size, merkle::MAX_TREE_SIZE),
            ));
        }
        if m.leaf_index >= m.tree_size {
            return Err(Malformed::new("leaf_index", "must be below tree_size"));
        }
        // A tree of at most 2^16 leaves has proofs of at most 16 hashes.
        if m.path.len() > 16 {
            return Err(Malformed::new("path", "longer than any tree allowed"));
        }
        let hash = |b: &Bytes, field: &str| -> Result<merkle::Hash, Malformed> {
            b.as_ref()
                .try_into()
                .map_err(|_| Malformed::new(field, "must be 32 bytes"))
        };
        Ok(Self {
            size: m.tree_size,
            index: m.leaf_index,
            path: m
                .path
                .iter()
                .map(|p| hash(p, "path"))
                .collect::<Result<_, _>>()?,
            root: hash(&m.root, "root")?,
        })
    }
}

impl SealedEnvelope {
    /// The header exactly as signed (the associated data of every key wrap).
    pub(crate) fn header_bytes(&self) -> &Bytes {
        &self.parts.header
    }

    /// Decodes `raw` with limits and checks every field's rules. No cryptography.
    ///
    /// Errors: [`Error::TooLarge`], [`Error::UnsupportedFormat`], [`Error::Malformed`].
    pub fn decode(raw: Bytes) -> Result<Self> {
        if raw.len() > limits::MAX_ENVELOPE_BYTES {
            return Err(Error::TooLarge {
                size: raw.len(),
                limit: limits::MAX_ENVELOPE_BYTES,
            });
        }
        let parts = pb::SealedEnvelope::decode(raw.clone())
            .map_err(|e| Malformed::new("envelope", format!("does not decode: {e}")))?;
        let batched = match (parts.format_version, parts.signature_scheme) {
            (FORMAT_VERSION, SCHEME_SINGLE) => false,
            (FORMAT_VERSION_BATCH, SCHEME_BATCH) => true,
            (version, scheme) => return Err(Error::UnsupportedFormat { version, scheme }),
        };
        let header = pb::EnvelopeHeader::decode(parts.header.clone())
            .map_err(|e| Malformed::new("envelope.header", format!("does not decode: {e}")))?;
        let header = EnvelopeHeader::try_from(header).map_err(|e| e.within("envelope.header"))?;
        let wraps = pb::KeyWraps::decode(parts.wraps.clone())
            .map_err(|e| Malformed::new("envelope.wraps", format!("does not decode: {e}")))?
            .wraps;
        if wraps.len() != header.recipients.len()
            || wraps
                .iter()
                .zip(&header.recipients)
                .any(|(w, r)| w.recipient != r.agency.as_str())
        {
            return Err(Malformed::new(
                "envelope.wraps",
                "must list one wrap per recipient, in header order",
            )
            .into());
        }
        for wrap in &wraps {
            check_wrap_shape(wrap, batched).map_err(|e| e.within("envelope.wraps"))?;
        }
        if parts.signature.len() != 64 {
            return Err(Malformed::new("envelope.signature", "must be 64 bytes").into());
        }
        let batch = match (batched, parts.batch.clone()) {
            (false, None) => None,
            (false, Some(_)) => {
                return Err(Malformed::new("envelope.batch", "only format v2 has one").into());
            }
            (true, None) => return Err(Malformed::new("envelope.batch", "missing").into()),
            (true, Some(b)) => {
                Some(Inclusion::try_from(b).map_err(|e| e.within("envelope.batch"))?)
            }
        };
        Ok(Self {
            raw,
            parts,
            header,
            wraps,
            batch,
        })
    }

    /// The format version this envelope was written in (1 or [`FORMAT_VERSION_BATCH`]).
    pub fn format_version(&self) -> u32 {
        self.parts.format_version
    }

    /// The envelope bytes, exactly as sealed or received.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// The readable header.
    pub fn header(&self) -> &EnvelopeHeader {
        &self.header
    }

    /// SHA-256 of the envelope bytes (what a receipt names).
    pub fn digest(&self) -> [u8; 32] {
        crypto::sha256(&self.raw)
    }

    /// Checks the origin, its key and the signature (steps 1-3 of [`open`]). A relay
    /// or forwarder can call this without being a recipient; a receiver can judge the
    /// verified header (policy) before paying for decryption with
    /// [`VerifiedEnvelope::open`].
    pub fn verify_origin(
        &self,
        directory: &(impl KeyDirectory + ?Sized),
        now: UnixMillis,
    ) -> Result<VerifiedEnvelope<'_>> {
        self.verify_origin_with(directory, now, None)
    }

    /// [`SealedEnvelope::verify_origin`], verifying a v2 batch signature only once
    /// for all the envelopes of its batch that `roots` sees.
    pub fn verify_origin_with(
        &self,
        directory: &(impl KeyDirectory + ?Sized),
        now: UnixMillis,
        roots: Option<&VerifiedRoots>,
    ) -> Result<VerifiedEnvelope<'_>> {
        let origin = &self.header.origin;
        let key_id = &self.header.signing_key_id;
        let key = match directory.signing_key(origin, key_id) {
            KeyLookup::UnknownOrigin => return Err(Error::UnknownOrigin(origin.clone())),
            KeyLookup::UnknownKey => {
                return Err(Error::UnknownSigningKey {
                    origin: origin.clone(),
                    key_id: key_id.clone(),
                });
            }
            KeyLookup::Revoked(revoked_at) => {
                return Err(Error::RevokedSigningKey {
                    origin: origin.clone(),
                    key_id: key_id.clone(),
                    revoked_at,
                });
            }
            KeyLookup::Retired { retired_at, .. } if self.header.created > retired_at => {
                return Err(Error::RetiredSigningKey {
                    origin: origin.clone(),
                    key_id: key_id.clone(),
                    retired_at,
                });
            }
            KeyLookup::Valid { key, document } | KeyLookup::Retired { key, document, .. } => {
                if now.0.saturating_add(limits::CLOCK_LEEWAY_MS) < document.not_before.0 {
                    return Err(Error::OriginIdentityNotYetValid {
                        origin: origin.clone(),
                        not_before: document.not_before,
                        now,
                    });
                }
                if now > document.not_after {
                    return Err(Error::OriginIdentityExpired {
                        origin: origin.clone(),
                        not_after: document.not_after,
                        now,
                    });
                }
                key
            }
        };
        self.check_signature(&key, roots)?;
        Ok(VerifiedEnvelope { envelope: self })
    }

    /// The signature check proper: v1's own signature, or v2's inclusion proof and
    /// batch signature (verified once per batch when `roots` remembers it).
    fn check_signature(&self, key: &VerifyingKey, roots: Option<&VerifiedRoots>) -> Result<()> {
        let p = &self.parts;
        let digest = crypto::sha256(&p.ciphertext);
        let parts = signed_parts(
            p.format_version,
            p.signature_scheme,
            &p.header,
            &p.wraps,
            &digest,
        );
        let Some(batch) = &self.batch else {
            return key
                .verify(domain::ENVELOPE, &parts.as_slices(), &p.signature)
                .map_err(|_| Error::BadSignature);
        };
        let mut leaf_parts: Vec<&[u8]> = vec![domain::ENVELOPE_LEAF];
        leaf_parts.extend_from_slice(&parts.as_slices());
        let leaf = merkle::leaf_hash(&leaf_parts);
        if merkle::root_from_proof(&leaf, batch.index, batch.size, &batch.path) != Some(batch.root)
        {
            return Err(Error::BadInclusionProof);
        }
        let message = batch::root_message(
            p.format_version,
            p.signature_scheme,
            batch.size,
            &batch.root,
        );
        let verified = match roots {
            Some(roots) => roots.verify(
                key,
                &self.header.signing_key_id,
                domain::ENVELOPE_BATCH,
                &message,
                &p.signature,
            ),
            None => key
                .verify(domain::ENVELOPE_BATCH, &[&message], &p.signature)
                .is_ok(),
        };
        if verified {
            Ok(())
        } else {
            Err(Error::BadSignature)
        }
    }
}

/// A key wrap's fields have the sizes its format gives them.
fn check_wrap_shape(wrap: &pb::KeyWrap, batched: bool) -> Result<(), Malformed> {
    if wrap.encapsulated_key.len() != 32 {
        return Err(Malformed::new("encapsulated_key", "must be 32 bytes"));
    }
    if !batched {
        if !wrap.epoch_id.is_empty() {
            return Err(Malformed::new("epoch_id", "only format v2 has one"));
        }
        return Ok(());
    }
    if wrap.epoch_id.len() != epoch::EPOCH_ID_LEN {
        return Err(Malformed::new("epoch_id", "must be 16 bytes"));
    }
    if wrap.wrapped_content_key.len() != crypto::EPOCH_WRAP_LEN {
        return Err(Malformed::new(
            "wrapped_content_key",
            format!("must be {} bytes", crypto::EPOCH_WRAP_LEN),
        ));
    }
    Ok(())
}

/// An envelope whose origin, signing key and signature have been checked. Only
/// [`SealedEnvelope::verify_origin`] makes one, so opening cannot skip those checks.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedEnvelope<'a> {
    envelope: &'a SealedEnvelope,
}

impl VerifiedEnvelope<'_> {
    /// The verified header.
    pub fn header(&self) -> &EnvelopeHeader {
        &self.envelope.header
    }

    /// Steps 4-6 of [`open`]: recipient, expiry, decryption.
    pub fn open(self, receiver: Receiver<'_>, now: UnixMillis) -> Result<Bulletin> {
        open_verified(self.envelope, receiver, now)
    }
}

/// The pieces of the signed message, kept apart so nothing is copied to sign.
struct SignedParts<'a> {
    prefix: [u8; 8],
    header_len: [u8; 4],
    header: &'a [u8],
    wraps_len: [u8; 4],
    wraps: &'a [u8],
    digest: &'a [u8; 32],
}

impl SignedParts<'_> {
    fn as_slices(&self) -> [&[u8]; 6] {
        [
            &self.prefix,
            &self.header_len,
            self.header,
            &self.wraps_len,
            self.wraps,
            self.digest,
        ]
    }
}

fn signed_parts<'a>(
    version: u32,
    scheme: i32,
    header: &'a [u8],
    wraps: &'a [u8],
    digest: &'a [u8; 32],
) -> SignedParts<'a> {
    let mut prefix = [0u8; 8];
    prefix[..4].copy_from_slice(&version.to_be_bytes());
    prefix[4..].copy_from_slice(&scheme.to_be_bytes());
    // Lengths fit in u32: the whole envelope is capped far below 4 GiB.
    SignedParts {
        prefix,
        header_len: (header.len() as u32).to_be_bytes(),
        header,
        wraps_len: (wraps.len() as u32).to_be_bytes(),
        wraps,
        digest,
    }
}

fn wrap_info(bulletin_id: &BulletinId, recipient: &AgencyId) -> Vec<u8> {
    let mut info = Vec::with_capacity(domain::CONTENT_KEY.len() + 16 + recipient.as_str().len());
    info.extend_from_slice(domain::CONTENT_KEY);
    info.extend_from_slice(&bulletin_id.to_bytes());
    info.extend_from_slice(recipient.as_str().as_bytes());
    info
}

/// Seals `bulletin` for `recipients`, signed by the origin's bulletin-signing key.
///
/// The bulletin is encoded once and encrypted once; only the 32-byte content key is
/// wrapped per recipient.
///
/// Errors: [`Error::Recipients`] for an empty, oversized or repeating list;
/// [`Error::Malformed`] if the bulletin breaks a limit; [`Error::Crypto`].
pub fn seal_for_recipients(
    bulletin: &Bulletin,
    signing_key: &SigningKey,
    recipients: &[RecipientKey],
    rng: &mut impl Entropy,
) -> Result<SealedEnvelope> {
    seal_keeping_content(bulletin, signing_key, recipients, rng).map(|(envelope, _)| envelope)
}

/// [`seal_for_recipients`], also returning the encoded `BulletinContent` that was
/// encrypted, for an origin that keeps its own copy without encoding it again.
pub fn seal_keeping_content(
    bulletin: &Bulletin,
    signing_key: &SigningKey,
    recipients: &[RecipientKey],
    rng: &mut impl Entropy,
) -> Result<(SealedEnvelope, Bytes)> {
    let signing_key_id = signing_key.verifying_key().key_id('s');
    let encrypted = encrypt(bulletin, signing_key_id, recipients, rng)?;
    let wraps = recipients
        .iter()
        .map(|r| {
            let info = wrap_info(&bulletin.id, &r.agency);
            let (encapsulated, wrapped) =
                r.key
                    .wrap_content_key(&encrypted.content_key, &info, &encrypted.header, rng)?;
            Ok(pb::KeyWrap {
                recipient: r.agency.to_string(),
                encapsulated_key: encapsulated.into(),
                wrapped_content_key: wrapped.into(),
                epoch_id: Bytes::new(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let wraps_bytes = Bytes::from(pb::KeyWraps { wraps }.encode_to_vec());
    let digest = crypto::sha256(&encrypted.ciphertext);
    let signature = signing_key.sign(
        domain::ENVELOPE,
        &signed_parts(
            FORMAT_VERSION,
            SCHEME_SINGLE,
            &encrypted.header,
            &wraps_bytes,
            &digest,
        )
        .as_slices(),
    );
    let raw = pb::SealedEnvelope {
        format_version: FORMAT_VERSION,
        signature_scheme: SCHEME_SINGLE,
        header: encrypted.header.clone(),
        wraps: wraps_bytes,
        ciphertext: encrypted.ciphertext.clone(),
        signature: Bytes::copy_from_slice(&signature),
        batch: None,
    }
    .encode_to_vec();
    // One code path for what we send and what a receiver checks.
    Ok((
        SealedEnvelope::decode(raw.into())?,
        encrypted.plaintext.clone(),
    ))
}

/// A bulletin encoded, validated and encrypted once, before any key wrap.
struct Encrypted {
    header: Bytes,
    content_key: [u8; crypto::CONTENT_KEY_LEN],
    ciphertext: Bytes,
    plaintext: Bytes,
}

impl Drop for Encrypted {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.content_key);
    }
}

/// The part of sealing both formats share: the recipient rules, the content validated
/// exactly as a receiver will, the header, and the content under a fresh key.
fn encrypt(
    bulletin: &Bulletin,
    signing_key_id: KeyId,
    recipients: &[RecipientKey],
    rng: &mut impl Entropy,
) -> Result<Encrypted> {
    if recipients.is_empty() || recipients.len() > limits::MAX_RECIPIENTS {
        return Err(Error::Recipients(format!(
            "{} recipients; must be 1 to {}",
            recipients.len(),
            limits::MAX_RECIPIENTS
        )));
    }
    for (i, r) in recipients.iter().enumerate() {
        if recipients[..i].iter().any(|o| o.agency == r.agency) {
            return Err(Error::Recipients(format!(
                "{} is named more than once",
                r.agency
            )));
        }
    }
    let content = pb::BulletinContent::from(&bulletin.content);
    // Validate what we are about to send exactly as a receiver will.
    BulletinContent::try_from(content.clone())?;
    let header = EnvelopeHeader {
        bulletin_id: bulletin.id,
        origin: bulletin.origin.clone(),
        signing_key_id,
        recipients: recipients
            .iter()
            .map(|r| Recipient {
                agency: r.agency.clone(),
                encryption_key_id: r.key.key_id(),
            })
            .collect(),
        created: bulletin.created,
        expires: bulletin.expires,
        marking: bulletin.marking.clone(),
        thread: bulletin.thread,
        request: bulletin.request,
    };
    let header = pb::EnvelopeHeader::from(&header);
    // The header too, exactly as a receiver will check it (H3, the due time...).
    EnvelopeHeader::try_from(header.clone())?;
    let header = Bytes::from(header.encode_to_vec());
    let content_key = crypto::random_secret(rng);
    let plaintext = Bytes::from(content.encode_to_vec());
    let ciphertext = crypto::content_encrypt(&content_key, plaintext.to_vec(), &header)?;
    Ok(Encrypted {
        header,
        content_key,
        ciphertext: ciphertext.into(),
        plaintext,
    })
}

/// A format-v2 envelope encrypted and wrapped, waiting for its batch signature.
#[derive(Debug, Clone)]
pub struct PreparedEnvelope {
    header: Bytes,
    wraps: Bytes,
    ciphertext: Bytes,
    plaintext: Bytes,
    leaf: merkle::Hash,
}

impl PreparedEnvelope {
    /// The Merkle leaf to have signed.
    pub fn leaf(&self) -> merkle::Hash {
        self.leaf
    }

    /// The finished envelope, with its place in `batch` (leaf `index`), and the
    /// encoded content it encrypts.
    ///
    /// Errors: [`Error::Crypto`] if the batch does not hold this leaf at `index`.
    pub fn finish(self, batch: &SignedBatch, index: usize) -> Result<(SealedEnvelope, Bytes)> {
        let tree = batch.tree();
        let path = tree
            .proof(index)
            .ok_or_else(|| Error::Crypto(format!("leaf {index} is not in the batch")))?;
        if merkle::root_from_proof(&self.leaf, index as u64, tree.size(), &path)
            != Some(tree.root())
        {
            return Err(Error::Crypto(format!(
                "the batch does not hold this leaf at {index}"
            )));
        }
        let raw = pb::SealedEnvelope {
            format_version: FORMAT_VERSION_BATCH,
            signature_scheme: SCHEME_BATCH,
            header: self.header,
            wraps: self.wraps,
            ciphertext: self.ciphertext,
            signature: Bytes::copy_from_slice(batch.signature()),
            batch: Some(pb::BatchInclusion {
                tree_size: tree.size(),
                leaf_index: index as u64,
                path: path.iter().map(|h| Bytes::copy_from_slice(h)).collect(),
                root: Bytes::copy_from_slice(&tree.root()),
            }),
        }
        .encode_to_vec();
        Ok((SealedEnvelope::decode(raw.into())?, self.plaintext))
    }
}

/// Encrypts `bulletin` for `recipients` in format v2 (content keys wrapped under
/// each recipient's current epoch key from `epochs`), ready for a batch signature by
/// the key `signing_key_id` names.
///
/// Errors: as [`seal_for_recipients`].
pub fn prepare(
    bulletin: &Bulletin,
    signing_key_id: KeyId,
    recipients: &[RecipientKey],
    epochs: &SenderEpochs,
    rng: &mut impl Entropy,
) -> Result<PreparedEnvelope> {
    let encrypted = encrypt(bulletin, signing_key_id, recipients, rng)?;
    let current = epochs.for_recipients(&bulletin.origin, recipients, rng)?;
    let header_sha256 = crypto::sha256(&encrypted.header);
    let wraps = recipients
        .iter()
        .zip(current)
        .map(|(r, (epoch, wrap))| {
            let aad = epoch::wrap_aad(&bulletin.id, &r.agency, epoch.id(), &header_sha256);
            let wrapped = epoch.secret().wrap(&encrypted.content_key, &aad, wrap)?;
            Ok(pb::KeyWrap {
                recipient: r.agency.to_string(),
                encapsulated_key: Bytes::copy_from_slice(epoch.encapsulated()),
                wrapped_content_key: Bytes::copy_from_slice(&wrapped),
                epoch_id: Bytes::copy_from_slice(epoch.id()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let wraps = Bytes::from(pb::KeyWraps { wraps }.encode_to_vec());
    let digest = crypto::sha256(&encrypted.ciphertext);
    let parts = signed_parts(
        FORMAT_VERSION_BATCH,
        SCHEME_BATCH,
        &encrypted.header,
        &wraps,
        &digest,
    );
    let mut leaf_parts: Vec<&[u8]> = vec![domain::ENVELOPE_LEAF];
    leaf_parts.extend_from_slice(&parts.as_slices());
    let leaf = merkle::leaf_hash(&leaf_parts);
    Ok(PreparedEnvelope {
        header: encrypted.header.clone(),
        wraps,
        ciphertext: encrypted.ciphertext.clone(),
        plaintext: encrypted.plaintext.clone(),
        leaf,
    })
}

/// Seals one bulletin in format v2 through a shared [`BatchSigner`], which signs it
/// together with whatever other threads are sealing at the same moment. Returns the
/// envelope and its encoded content, like [`seal_keeping_content`].
pub fn seal_batched(
    bulletin: &Bulletin,
    signing_key: &SigningKey,
    recipients: &[RecipientKey],
    epochs: &SenderEpochs,
    signer: &BatchSigner,
    rng: &mut impl Entropy,
) -> Result<(SealedEnvelope, Bytes)> {
    let sealing = signer.begin();
    let key_id = signing_key.verifying_key().key_id('s');
    let prepared = prepare(bulletin, key_id, recipients, epochs, rng)?;
    let (batch, index) = sealing.sign(signing_key, prepared.leaf());
    prepared.finish(&batch, index)
}

/// Seals `bulletins` in format v2 as one batch: one signature for all of them.
///
/// Errors: as [`seal_for_recipients`]; [`Error::Recipients`] for no bulletins or more
/// than a tree holds.
pub fn seal_batch(
    bulletins: &[Bulletin],
    signing_key: &SigningKey,
    recipients: &[RecipientKey],
    epochs: &SenderEpochs,
    rng: &mut impl Entropy,
) -> Result<Vec<SealedEnvelope>> {
    if bulletins.is_empty() || bulletins.len() as u64 > merkle::MAX_TREE_SIZE {
        return Err(Error::Recipients(format!(
            "a batch holds 1 to {} bulletins, not {}",
            merkle::MAX_TREE_SIZE,
            bulletins.len()
        )));
    }
    let key_id = signing_key.verifying_key().key_id('s');
    let prepared = bulletins
        .iter()
        .map(|b| prepare(b, key_id.clone(), recipients, epochs, rng))
        .collect::<Result<Vec<_>>>()?;
    let batch = SignedBatch::sign(prepared.iter().map(|p| p.leaf).collect(), signing_key)
        .ok_or_else(|| Error::Recipients("a batch needs a bulletin".into()))?;
    prepared
        .into_iter()
        .enumerate()
        .map(|(i, p)| p.finish(&batch, i).map(|(envelope, _)| envelope))
        .collect()
}

/// Who is opening: the receiving agency and the encryption keys it holds (the current
/// one and any retired ones still needed for older envelopes).
#[derive(Debug, Clone, Copy)]
pub struct Receiver<'a> {
    /// This agency.
    pub agency: &'a AgencyId,
    /// Encryption keys this agency holds.
    pub encryption_keys: &'a [EncryptionKey],
    /// The node's cache of format-v2 epoch keys; without one every v2 envelope pays
    /// its own HPKE decapsulation.
    pub epochs: Option<&'a ReceiverEpochs>,
}

/// Verifies and decrypts an envelope for `receiver`. See the module docs for the order
/// of checks and the error each one raises.
pub fn open(
    envelope: &SealedEnvelope,
    receiver: Receiver<'_>,
    directory: &(impl KeyDirectory + ?Sized),
    now: UnixMillis,
) -> Result<Bulletin> {
    envelope.verify_origin(directory, now)?.open(receiver, now)
}

fn open_verified(
    envelope: &SealedEnvelope,
    receiver: Receiver<'_>,
    now: UnixMillis,
) -> Result<Bulletin> {
    let content_key = recipient_content_key(envelope, receiver, now)?;
    decrypt_content(envelope, &content_key)
}

/// Steps 4-5 of [`open`] and the unwrap: the content key of an envelope for one of its
/// signed recipients.
pub(crate) fn recipient_content_key(
    envelope: &SealedEnvelope,
    receiver: Receiver<'_>,
    now: UnixMillis,
) -> Result<[u8; crypto::CONTENT_KEY_LEN]> {
    let header = envelope.header();
    let position = header
        .recipients
        .iter()
        .position(|r| &r.agency == receiver.agency)
        .ok_or_else(|| Error::NotARecipient(receiver.agency.clone()))?;
    let key_id = &header.recipients[position].encryption_key_id;
    let key = receiver
        .encryption_keys
        .iter()
        .find(|k| &k.public_key().key_id() == key_id)
        .ok_or_else(|| Error::UnknownEncryptionKey(key_id.clone()))?;
    if now > header.expires {
        return Err(Error::Expired {
            expired_at: header.expires,
            now,
        });
    }
    let wrap = &envelope.wraps[position];
    if envelope.batch.is_some() {
        // Decode checked the sizes.
        let epoch_id: [u8; epoch::EPOCH_ID_LEN] = wrap
            .epoch_id
            .as_ref()
            .try_into()
            .map_err(|_| Error::DecryptionFailed("epoch id is not 16 bytes"))?;
        let secret = match receiver.epochs {
            Some(cache) => cache.secret(
                &header.origin,
                receiver.agency,
                &epoch_id,
                &wrap.encapsulated_key,
                key,
            )?,
            None => key.accept_epoch(
                &wrap.encapsulated_key,
                &epoch::epoch_info(&epoch_id, &header.origin, receiver.agency),
            )?,
        };
        let aad = epoch::wrap_aad(
            &header.bulletin_id,
            receiver.agency,
            &epoch_id,
            &crypto::sha256(&envelope.parts.header),
        );
        return secret.unwrap(&wrap.wrapped_content_key, &aad);
    }
    let info = wrap_info(&header.bulletin_id, receiver.agency);
    key.unwrap_content_key(
        &wrap.encapsulated_key,
        &wrap.wrapped_content_key,
        &info,
        &envelope.parts.header,
    )
}

/// Decrypts and validates the content with its content key.
pub(crate) fn decrypt_content(
    envelope: &SealedEnvelope,
    content_key: &[u8; crypto::CONTENT_KEY_LEN],
) -> Result<Bulletin> {
    let header = envelope.header();
    let header_bytes = &envelope.parts.header;
    let plaintext = crypto::content_decrypt(content_key, &envelope.parts.ciphertext, header_bytes)?;
    let content = pb::BulletinContent::decode(Bytes::from(plaintext))
        .map_err(|e| Malformed::new("content", format!("does not decode: {e}")))?;
    Ok(Bulletin {
        id: header.bulletin_id,
        origin: header.origin.clone(),
        created: header.created,
        expires: header.expires,
        marking: header.marking.clone(),
        thread: header.thread,
        request: header.request,
        content: content.try_into()?,
    })
}

/// Seals `content` (the encoded content of `envelope`, as sealing returned it) for the
/// originator itself, so that its log never holds the plaintext: AES-256-GCM under a key
/// derived from its own encryption key (HKDF-SHA256, salt `"liaison/v1/own-copy\0"`,
/// info = bulletin id || a random 16-byte salt), the header as associated data.
/// Symmetric, so it costs microseconds, not an X25519 operation per bulletin.
///
/// Errors: [`Error::Crypto`] if AES-GCM fails.
pub fn seal_own_copy(
    envelope: &SealedEnvelope,
    content: &[u8],
    own_key: &EncryptionKey,
    rng: &mut impl Entropy,
) -> Result<pb::OwnCopy> {
    let salt = crypto::random_secret(rng);
    let salt = &salt[..16];
    let mut key = own_copy_key(envelope, own_key, salt);
    let ciphertext = crypto::content_encrypt(&key, content.to_vec(), envelope.header_bytes());
    zeroize::Zeroize::zeroize(&mut key);
    Ok(pb::OwnCopy {
        encryption_key_id: own_key.public_key().key_id().to_string(),
        salt: Bytes::copy_from_slice(salt),
        ciphertext: ciphertext?.into(),
    })
}

fn own_copy_key(
    envelope: &SealedEnvelope,
    own_key: &EncryptionKey,
    salt: &[u8],
) -> [u8; crypto::CONTENT_KEY_LEN] {
    let context = [&envelope.header().bulletin_id.to_bytes()[..], salt].concat();
    own_key.derive_own_key(domain::OWN_COPY, &context)
}

/// Opens an own copy made by [`seal_own_copy`] with whichever of `keys` it was sealed
/// with, and returns the encoded content.
///
/// Errors: [`Error::DecryptionFailed`] if no key opens it.
pub fn open_own_copy(
    envelope: &SealedEnvelope,
    copy: &pb::OwnCopy,
    keys: &[crypto::EncryptionKey],
) -> Result<Bytes> {
    let key = keys
        .iter()
        .find(|k| k.public_key().key_id().as_str() == copy.encryption_key_id)
        .ok_or(Error::DecryptionFailed(
            "the own copy is sealed with an encryption key this node no longer holds",
        ))?;
    if copy.salt.len() != 16 {
        return Err(Error::DecryptionFailed(
            "the own copy's salt is not 16 bytes",
        ));
    }
    let mut content_key = own_copy_key(envelope, key, &copy.salt);
    let plaintext =
        crypto::content_decrypt(&content_key, &copy.ciphertext, envelope.header_bytes());
    zeroize::Zeroize::zeroize(&mut content_key);
    plaintext.map(Bytes::from)
}
