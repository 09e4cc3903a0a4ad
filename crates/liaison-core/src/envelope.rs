//! The sealed envelope: a bulletin encrypted once, its content key wrapped for each
//! recipient with HPKE, and the whole signed by the origin. The layout and the exact
//! signed message are documented in `proto/liaison/v1/envelope.proto`.
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
use crate::crypto::{self, EncryptionKey, EncryptionPublicKey, Entropy, SigningKey, domain};
use crate::error::{Error, Malformed, Result};
use crate::ids::{AgencyId, BulletinId, KeyId, Marking, UnixMillis};
use crate::limits;

pub use crate::directory::{AcceptedBefore, KeyDirectory, KeyLookup, lookup_in_document};

/// The only format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

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
        })
    }
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
        if parts.format_version != FORMAT_VERSION
            || parts.signature_scheme != pb::SignatureScheme::Ed25519 as i32
        {
            return Err(Error::UnsupportedFormat {
                version: parts.format_version,
                scheme: parts.signature_scheme,
            });
        }
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
        if parts.signature.len() != 64 {
            return Err(Malformed::new("envelope.signature", "must be 64 bytes").into());
        }
        Ok(Self {
            raw,
            parts,
            header,
            wraps,
        })
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
        let p = &self.parts;
        let digest = crypto::sha256(&p.ciphertext);
        key.verify(
            domain::ENVELOPE,
            &signed_parts(
                p.format_version,
                p.signature_scheme,
                &p.header,
                &p.wraps,
                &digest,
            )
            .as_slices(),
            &p.signature,
        )
        .map_err(|_| Error::BadSignature)?;
        Ok(VerifiedEnvelope { envelope: self })
    }
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
        signing_key_id: signing_key.verifying_key().key_id('s'),
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
    };
    let header_bytes = pb::EnvelopeHeader::from(&header).encode_to_vec();

    let content_key = crypto::random_secret(rng);
    let plaintext = Bytes::from(content.encode_to_vec());
    let ciphertext = crypto::content_encrypt(&content_key, plaintext.to_vec(), &header_bytes)?;
    let wraps = recipients
        .iter()
        .map(|r| {
            let info = wrap_info(&bulletin.id, &r.agency);
            let (encapsulated, wrapped) =
                r.key
                    .wrap_content_key(&content_key, &info, &header_bytes, rng)?;
            Ok(pb::KeyWrap {
                recipient: r.agency.to_string(),
                encapsulated_key: encapsulated.into(),
                wrapped_content_key: wrapped.into(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let wraps_bytes = pb::KeyWraps { wraps }.encode_to_vec();

    let scheme = pb::SignatureScheme::Ed25519 as i32;
    let digest = crypto::sha256(&ciphertext);
    let signature = signing_key.sign(
        domain::ENVELOPE,
        &signed_parts(FORMAT_VERSION, scheme, &header_bytes, &wraps_bytes, &digest).as_slices(),
    );
    let raw = pb::SealedEnvelope {
        format_version: FORMAT_VERSION,
        signature_scheme: scheme,
        header: header_bytes.into(),
        wraps: wraps_bytes.into(),
        ciphertext: ciphertext.into(),
        signature: Bytes::copy_from_slice(&signature),
    }
    .encode_to_vec();
    // One code path for what we send and what a receiver checks.
    Ok((SealedEnvelope::decode(raw.into())?, plaintext))
}

/// Who is opening: the receiving agency and the encryption keys it holds (the current
/// one and any retired ones still needed for older envelopes).
#[derive(Debug, Clone, Copy)]
pub struct Receiver<'a> {
    /// This agency.
    pub agency: &'a AgencyId,
    /// Encryption keys this agency holds.
    pub encryption_keys: &'a [EncryptionKey],
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
        content: content.try_into()?,
    })
}
