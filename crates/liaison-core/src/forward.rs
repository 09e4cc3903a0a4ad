//! Onward sharing: a recipient passes a bulletin on to a third partner. The original
//! envelope travels unchanged, so the third partner verifies the originator's
//! signature itself; the forwarder wraps the content key for the new recipient and
//! signs who forwarded what to whom. Only TLP:CLEAR and TLP:GREEN travel this way by
//! themselves, and TLP:AMBER under the originator's release grant ([`crate::release`])
//! — the originator's marking, bound into its signature, decides, and no hop can
//! soften it.

use bytes::Bytes;
use liaison_proto::format::v1 as pb;
use prost::Message as _;

use crate::bulletin::Bulletin;
use crate::crypto::{Entropy, SigningKey, domain};
use crate::envelope::{
    KeyDirectory, KeyLookup, Receiver, RecipientKey, SealedEnvelope, decrypt_content,
    recipient_content_key,
};
use crate::error::{Error, Malformed, Result};
use crate::ids::{AgencyId, KeyId, Tlp, UnixMillis};
use crate::limits;
use crate::release::{SignedReleaseGrant, releasable};

/// `format_version` of a forwarded envelope.
pub const FORWARDED_FORMAT: u32 = 2;

/// Whether `raw` is a forwarded envelope rather than a sealed one (by its format
/// version), without decoding the rest.
pub fn is_forwarded(raw: &Bytes) -> bool {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Probe {
        #[prost(uint32, tag = "1")]
        format_version: u32,
    }
    Probe::decode(raw.clone()).is_ok_and(|p| p.format_version == FORWARDED_FORMAT)
}

/// A structurally valid forwarded envelope, not yet verified.
#[derive(Debug, Clone)]
pub struct ForwardedEnvelope {
    raw: Bytes,
    original: SealedEnvelope,
    forwarding: pb::Forwarding,
    forwarding_bytes: Bytes,
    signature: Bytes,
    forwarder: AgencyId,
    recipient: AgencyId,
    recipient_key_id: KeyId,
    forwarder_key_id: KeyId,
}

fn wrap_info(original: &SealedEnvelope, recipient: &AgencyId) -> Vec<u8> {
    [
        domain::FORWARDED_KEY,
        &original.header().bulletin_id.to_bytes(),
        recipient.as_str().as_bytes(),
    ]
    .concat()
}

/// Whether the originator's TLP lets a bulletin travel onward: CLEAR and GREEN by
/// themselves, AMBER only when `released` (under a release grant), never AMBER+STRICT
/// or RED.
pub fn marking_allows_forwarding(original: &SealedEnvelope, released: bool) -> Result<()> {
    let tlp = original.header().marking.tlp;
    if released {
        return releasable(tlp);
    }
    if tlp > Tlp::Green {
        return Err(Error::Forwarding(format!(
            "{tlp} bulletins are not forwarded without a release grant from their originator; only TLP:CLEAR and TLP:GREEN may be"
        )));
    }
    Ok(())
}

/// Forwards `original` (which `holder` received) to `to`, signed by the holder, under
/// `grant` when the originator released it (the grant goes inside, for the recipient
/// to check).
///
/// Errors: the original does not verify, the holder is not one of its recipients, its
/// TLP forbids forwarding or the grant does not cover this forward
/// ([`Error::Forwarding`]), crypto failures.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    original: &SealedEnvelope,
    holder: Receiver<'_>,
    directory: &(impl KeyDirectory + ?Sized),
    forwarder_key: &SigningKey,
    to: &RecipientKey,
    grant: Option<&SignedReleaseGrant>,
    now: UnixMillis,
    rng: &mut impl Entropy,
) -> Result<ForwardedEnvelope> {
    original.verify_origin(directory, now)?;
    if let Some(grant) = grant {
        // Checked as the recipient will check it: a grant that does not verify would
        // only make the forward refused there.
        let grant = SignedReleaseGrant::verify(grant.to_bytes(), directory)?;
        let header = original.header();
        grant.permits(
            &header.bulletin_id,
            &header.origin,
            holder.agency,
            &to.agency,
            now,
        )?;
    }
    marking_allows_forwarding(original, grant.is_some())?;
    let content_key = recipient_content_key(original, holder, now)?;
    let (encapsulated, wrapped) = to.key.wrap_content_key(
        &content_key,
        &wrap_info(original, &to.agency),
        original.header_bytes(),
        rng,
    )?;
    let forwarding = pb::Forwarding {
        forwarder: holder.agency.to_string(),
        forwarder_signing_key_id: forwarder_key.verifying_key().key_id('s').to_string(),
        recipient: Some(pb::Recipient {
            agency: to.agency.to_string(),
            encryption_key_id: to.key.key_id().to_string(),
        }),
        original_sha256: Bytes::copy_from_slice(&original.digest()),
        wrap: Some(pb::KeyWrap {
            recipient: to.agency.to_string(),
            encapsulated_key: encapsulated.into(),
            wrapped_content_key: wrapped.into(),
            epoch_id: Bytes::new(),
        }),
        time_unix_ms: now.0,
        release_grant: grant.map(SignedReleaseGrant::to_bytes).unwrap_or_default(),
    }
    .encode_to_vec();
    let signature = forwarder_key.sign(domain::FORWARDED, &[&forwarding]);
    let raw = pb::ForwardedEnvelope {
        format_version: FORWARDED_FORMAT,
        original: original.as_bytes().clone(),
        forwarding: forwarding.into(),
        signature: Bytes::copy_from_slice(&signature),
    }
    .encode_to_vec();
    ForwardedEnvelope::decode(raw.into())
}

impl ForwardedEnvelope {
    /// Decodes with limits and checks the structure. No cryptography.
    ///
    /// Errors: [`Error::TooLarge`], [`Error::Malformed`], [`Error::UnsupportedFormat`].
    pub fn decode(raw: Bytes) -> Result<Self> {
        if raw.len() > limits::MAX_ENVELOPE_BYTES + 64 * 1024 {
            return Err(Error::TooLarge {
                size: raw.len(),
                limit: limits::MAX_ENVELOPE_BYTES + 64 * 1024,
            });
        }
        let m = pb::ForwardedEnvelope::decode(raw.clone())
            .map_err(|e| Malformed::new("forwarded", format!("does not decode: {e}")))?;
        if m.format_version != FORWARDED_FORMAT {
            return Err(Error::UnsupportedFormat {
                version: m.format_version,
                scheme: 0,
            });
        }
        let original = SealedEnvelope::decode(m.original)?;
        let forwarding = pb::Forwarding::decode(m.forwarding.clone())
            .map_err(|e| Malformed::new("forwarded.forwarding", format!("does not decode: {e}")))?;
        let recipient = forwarding
            .recipient
            .clone()
            .ok_or_else(|| Malformed::new("forwarded.forwarding.recipient", "missing"))?;
        if forwarding.wrap.is_none() {
            return Err(Malformed::new("forwarded.forwarding.wrap", "missing").into());
        }
        if m.signature.len() != 64 {
            return Err(Malformed::new("forwarded.signature", "must be 64 bytes").into());
        }
        Ok(Self {
            raw,
            forwarder: forwarding.forwarder.parse()?,
            forwarder_key_id: forwarding.forwarder_signing_key_id.parse()?,
            recipient: recipient.agency.parse()?,
            recipient_key_id: recipient.encryption_key_id.parse()?,
            forwarding_bytes: m.forwarding,
            signature: m.signature,
            forwarding,
            original,
        })
    }

    /// The bytes, as made or received.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// The original envelope, as the originator sealed it.
    pub fn original(&self) -> &SealedEnvelope {
        &self.original
    }

    /// The agency that forwarded it.
    pub fn forwarder(&self) -> &AgencyId {
        &self.forwarder
    }

    /// The agency it was forwarded to.
    pub fn recipient(&self) -> &AgencyId {
        &self.recipient
    }

    /// Verifies the forwarder's signed statement (who forwarded which original to
    /// whom, when) and that it names the original it carries. What the originator
    /// checks of a forward notice; [`ForwardedEnvelope::open`] checks it first too.
    ///
    /// Errors: [`Error::Forwarding`] (no valid key, another original),
    /// [`Error::BadSignature`].
    pub fn verify_forwarding(&self, directory: &(impl KeyDirectory + ?Sized)) -> Result<()> {
        let key = match directory.signing_key(&self.forwarder, &self.forwarder_key_id) {
            KeyLookup::Valid { key, .. } | KeyLookup::Retired { key, .. } => key,
            _ => {
                return Err(Error::Forwarding(format!(
                    "{} has no valid signing key {}",
                    self.forwarder, self.forwarder_key_id
                )));
            }
        };
        key.verify(
            domain::FORWARDED,
            &[&self.forwarding_bytes],
            &self.signature,
        )
        .map_err(|_| Error::BadSignature)?;
        if self.forwarding.original_sha256.as_ref() != self.original.digest() {
            return Err(Error::Forwarding(
                "the forwarding names a different original".into(),
            ));
        }
        Ok(())
    }

    /// The forwarder's signed statement: the encoded `Forwarding` and its signature.
    pub fn signed_forwarding(&self) -> (&Bytes, &Bytes) {
        (&self.forwarding_bytes, &self.signature)
    }

    /// When the forwarder says it forwarded it.
    pub fn forwarded_at(&self) -> UnixMillis {
        UnixMillis(self.forwarding.time_unix_ms)
    }

    /// The release grant this forward was made under, verified against the origin's
    /// key and checked to cover it (this original, this forwarder, this recipient, at
    /// the forwarder's signed time); `None` when it carries none.
    ///
    /// Errors: [`Error::Forwarding`] naming why the grant does not verify
    /// ([`SignedReleaseGrant::verify`]) or what it does not cover.
    pub fn release_grant(
        &self,
        directory: &(impl KeyDirectory + ?Sized),
    ) -> Result<Option<SignedReleaseGrant>> {
        if self.forwarding.release_grant.is_empty() {
            return Ok(None);
        }
        let grant = SignedReleaseGrant::verify(self.forwarding.release_grant.clone(), directory)
            .map_err(|e| Error::Forwarding(format!("release grant: {e}")))?;
        let header = self.original.header();
        grant.permits(
            &header.bulletin_id,
            &header.origin,
            &self.forwarder,
            &self.recipient,
            self.forwarded_at(),
        )?;
        Ok(Some(grant))
    }

    /// Verifies and opens a forwarded envelope for `receiver`, delivered by `relaying`
    /// (the authenticated partner): the forwarder is the relaying partner and signed
    /// the forwarding; the receiver is its recipient; the original verifies under its
    /// originator's key, names the forwarder among its recipients, and is marked
    /// CLEAR or GREEN (or AMBER, under a release grant that covers this forward); then
    /// the content key unwraps and the original content decrypts.
    ///
    /// Errors: [`Error::Forwarding`] naming the broken rule, or the error of the
    /// failed envelope check.
    pub fn open(
        &self,
        receiver: Receiver<'_>,
        directory: &(impl KeyDirectory + ?Sized),
        relaying: &AgencyId,
        now: UnixMillis,
    ) -> Result<Bulletin> {
        if &self.forwarder != relaying {
            return Err(Error::Forwarding(format!(
                "forwarded by {} but delivered by {relaying}",
                self.forwarder
            )));
        }
        self.verify_forwarding(directory)?;
        if &self.recipient != receiver.agency {
            return Err(Error::NotARecipient(receiver.agency.clone()));
        }
        let original = &self.original;
        original.verify_origin(directory, now)?;
        if !original
            .header()
            .recipients
            .iter()
            .any(|r| r.agency == self.forwarder)
        {
            return Err(Error::Forwarding(format!(
                "{} was not a recipient of the original, so it cannot pass it on",
                self.forwarder
            )));
        }
        let released = self.release_grant(directory)?.is_some();
        marking_allows_forwarding(original, released)?;
        if now > original.header().expires {
            return Err(Error::Expired {
                expired_at: original.header().expires,
                now,
            });
        }
        let key = receiver
            .encryption_keys
            .iter()
            .find(|k| k.public_key().key_id() == self.recipient_key_id)
            .ok_or_else(|| Error::UnknownEncryptionKey(self.recipient_key_id.clone()))?;
        let wrap = self
            .forwarding
            .wrap
            .as_ref()
            .ok_or_else(|| Malformed::new("forwarded.forwarding.wrap", "missing"))?;
        let content_key = key.unwrap_content_key(
            &wrap.encapsulated_key,
            &wrap.wrapped_content_key,
            &wrap_info(original, receiver.agency),
            original.header_bytes(),
        )?;
        decrypt_content(original, &content_key)
    }
}
