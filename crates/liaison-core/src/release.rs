//! Release grants: an originator's signed consent that named holders of its bulletin
//! may pass it on to named partners, until an expiry. A grant lets a bulletin travel
//! where its marking alone would stop it — an originator-control handling code (H2), or
//! TLP:AMBER, whose TLP 2.0 definition keeps it inside the recipient's organisation
//! unless the source says otherwise — and never further: TLP:AMBER+STRICT and TLP:RED
//! are not released (the originator sends those to whom it chooses itself).
//!
//! The grant travels twice: to each holder (as a chain notice), and inside every
//! forwarded envelope made under it, so the new recipient verifies the originator's
//! consent itself rather than taking the forwarder's word.

use bytes::Bytes;
use liaison_proto::format::v1 as pb;
use prost::Message as _;

use crate::crypto::{SigningKey, domain};
use crate::directory::statement_key;
use crate::envelope::KeyDirectory;
use crate::error::{Error, Malformed, Result};
use crate::ids::{AgencyId, BulletinId, KeyId, Tlp, UnixMillis};

/// Most holders, and most partners to go to, in one grant.
pub const MAX_GRANT_PARTIES: usize = 64;
/// Most bytes of an encoded grant.
const MAX_GRANT_BYTES: usize = 16 * 1024;

/// Whether a bulletin marked `tlp` can be released at all.
///
/// Errors: [`Error::Forwarding`] for TLP:AMBER+STRICT and TLP:RED.
pub fn releasable(tlp: Tlp) -> Result<()> {
    if tlp > Tlp::Amber {
        return Err(Error::Forwarding(format!(
            "{tlp} bulletins cannot be released: TLP 2.0 keeps them with their named recipients (send it to the partner instead)"
        )));
    }
    Ok(())
}

/// A verified (or freshly signed) release grant, kept as its exact signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReleaseGrant {
    /// The bulletin released.
    pub bulletin_id: BulletinId,
    /// Its originator, who signed the grant.
    pub origin: AgencyId,
    /// The recipients that may pass it on.
    pub holders: Vec<AgencyId>,
    /// The partners it may go to.
    pub to: Vec<AgencyId>,
    /// When the originator made it.
    pub issued: UnixMillis,
    /// Forwards made after this are not covered.
    pub expires: UnixMillis,
    encoded: Bytes,
}

impl SignedReleaseGrant {
    /// Signs a grant by `origin`: `holders` may pass `bulletin_id` on to `to` until
    /// `expires`.
    pub fn sign(
        bulletin_id: BulletinId,
        origin: AgencyId,
        holders: Vec<AgencyId>,
        to: Vec<AgencyId>,
        expires: UnixMillis,
        key: &SigningKey,
    ) -> Self {
        let issued = UnixMillis::now();
        let body = pb::ReleaseGrant {
            bulletin_id: Bytes::copy_from_slice(&bulletin_id.to_bytes()),
            origin: origin.to_string(),
            signing_key_id: key.verifying_key().key_id('s').to_string(),
            holders: holders.iter().map(ToString::to_string).collect(),
            to: to.iter().map(ToString::to_string).collect(),
            issued_unix_ms: issued.0,
            expires_unix_ms: expires.0,
        }
        .encode_to_vec();
        let signature = key.sign(domain::RELEASE_GRANT, &[&body]);
        let encoded = pb::SignedReleaseGrant {
            grant: body.into(),
            signature: Bytes::copy_from_slice(&signature),
        }
        .encode_to_vec()
        .into();
        Self {
            bulletin_id,
            origin,
            holders,
            to,
            issued,
            expires,
            encoded,
        }
    }

    /// Decodes a grant with limits and verifies it against its origin's signing key.
    ///
    /// Errors: [`Error::TooLarge`], [`Error::Malformed`] naming the field,
    /// [`Error::UnknownOrigin`], [`Error::UnknownSigningKey`],
    /// [`Error::RevokedSigningKey`], [`Error::BadSignature`].
    pub fn verify(encoded: Bytes, directory: &(impl KeyDirectory + ?Sized)) -> Result<Self> {
        if encoded.len() > MAX_GRANT_BYTES {
            return Err(Error::TooLarge {
                size: encoded.len(),
                limit: MAX_GRANT_BYTES,
            });
        }
        let signed = pb::SignedReleaseGrant::decode(encoded.clone())
            .map_err(|e| Malformed::new("release_grant", format!("does not decode: {e}")))?;
        let body = pb::ReleaseGrant::decode(signed.grant.clone())
            .map_err(|e| Malformed::new("release_grant", format!("does not decode: {e}")))?;
        let origin: AgencyId = body.origin.parse()?;
        let key_id: KeyId = body.signing_key_id.parse()?;
        let key = statement_key(directory, &origin, &key_id)?;
        key.verify(domain::RELEASE_GRANT, &[&signed.grant], &signed.signature)
            .map_err(|_| Error::BadSignature)?;
        let agencies = |field: &str, names: Vec<String>| -> Result<Vec<AgencyId>> {
            if names.is_empty() || names.len() > MAX_GRANT_PARTIES {
                return Err(Malformed::new(
                    field,
                    format!("must name 1-{MAX_GRANT_PARTIES} agencies"),
                )
                .into());
            }
            names
                .iter()
                .map(|n| n.parse().map_err(|e: Malformed| e.within(field).into()))
                .collect()
        };
        Ok(Self {
            bulletin_id: BulletinId::from_slice(&body.bulletin_id)?,
            holders: agencies("release_grant.holders", body.holders)?,
            to: agencies("release_grant.to", body.to)?,
            origin,
            issued: UnixMillis(body.issued_unix_ms),
            expires: UnixMillis(body.expires_unix_ms),
            encoded,
        })
    }

    /// Whether this grant lets `holder` pass bulletin `bulletin_id` of `origin` on to
    /// `to` at time `at`.
    ///
    /// Errors: [`Error::Forwarding`] naming what the grant does not cover.
    pub fn permits(
        &self,
        bulletin_id: &BulletinId,
        origin: &AgencyId,
        holder: &AgencyId,
        to: &AgencyId,
        at: UnixMillis,
    ) -> Result<()> {
        let refuse = |why: String| Err(Error::Forwarding(format!("release grant: {why}")));
        if &self.bulletin_id != bulletin_id || &self.origin != origin {
            return refuse(format!(
                "it releases {} of {}, not {bulletin_id} of {origin}",
                self.bulletin_id, self.origin
            ));
        }
        if !self.holders.contains(holder) {
            return refuse(format!("{holder} is not among the holders it names"));
        }
        if !self.to.contains(to) {
            return refuse(format!("{to} is not among the partners it names"));
        }
        if at > self.expires {
            return refuse(format!("it expired at {}", self.expires));
        }
        Ok(())
    }

    /// The signed bytes.
    pub fn to_bytes(&self) -> Bytes {
        self.encoded.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SystemRng;
    use crate::identity::{AgencyKeys, IdentityDocument};
    use std::collections::HashMap;

    fn agency(s: &str) -> AgencyId {
        s.parse().unwrap()
    }

    /// NL-NP's keys and a directory that knows its identity.
    fn nl() -> (AgencyKeys, HashMap<AgencyId, IdentityDocument>) {
        let keys = AgencyKeys::generate(&mut SystemRng).unwrap();
        let now = UnixMillis::now();
        let doc = IdentityDocument::first_version(
            agency("NL-NP"),
            "NL".into(),
            vec![],
            &keys.signing,
            &keys.encryption,
            Bytes::from_static(b"ca"),
            now..now.plus_days(1),
        );
        (keys, HashMap::from([(agency("NL-NP"), doc)]))
    }

    fn grant(keys: &AgencyKeys, expires: UnixMillis) -> SignedReleaseGrant {
        SignedReleaseGrant::sign(
            BulletinId::new(UnixMillis::now()),
            agency("NL-NP"),
            vec![agency("DE-BKA")],
            vec![agency("RO-DIICOT")],
            expires,
            &keys.signing,
        )
    }

    #[test]
    fn a_grant_covers_exactly_what_it_names() {
        let (keys, directory) = nl();
        let now = UnixMillis::now();
        let signed = grant(&keys, now.plus_days(1));
        let g = SignedReleaseGrant::verify(signed.to_bytes(), &directory).unwrap();
        assert_eq!(g, signed);
        let (id, nl, de, ro) = (
            g.bulletin_id,
            agency("NL-NP"),
            agency("DE-BKA"),
            agency("RO-DIICOT"),
        );
        g.permits(&id, &nl, &de, &ro, now).unwrap();
        let refused = |r: Result<()>| r.unwrap_err().to_string();
        assert!(refused(g.permits(&id, &nl, &ro, &de, now)).contains("not among the holders"));
        assert!(
            refused(g.permits(&id, &nl, &de, &agency("FR-OCRTEH"), now))
                .contains("not among the partners")
        );
        let other = BulletinId::new(now);
        assert!(refused(g.permits(&other, &nl, &de, &ro, now)).contains("it releases"));
        assert!(refused(g.permits(&id, &nl, &de, &ro, now.plus_days(2))).contains("expired"));
    }

    #[test]
    fn a_grant_signed_by_anyone_but_the_origin_is_refused() {
        let (_, directory) = nl();
        let (impostor, _) = nl();
        let forged = grant(&impostor, UnixMillis::now().plus_days(1));
        assert!(matches!(
            SignedReleaseGrant::verify(forged.to_bytes(), &directory),
            Err(Error::UnknownSigningKey { .. })
        ));
        let (keys, directory) = nl();
        let mut bytes = grant(&keys, UnixMillis::now()).to_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            SignedReleaseGrant::verify(bytes.into(), &directory),
            Err(Error::BadSignature)
        ));
    }

    #[test]
    fn only_clear_green_and_amber_are_releasable() {
        for tlp in [Tlp::Clear, Tlp::Green, Tlp::Amber] {
            releasable(tlp).unwrap();
        }
        for tlp in [Tlp::AmberStrict, Tlp::Red] {
            assert!(releasable(tlp).is_err());
        }
    }
}
