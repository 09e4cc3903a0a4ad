//! Where a receiver looks up the signing keys of the agencies it trusts: current,
//! retired (valid for what they signed before their retirement) or revoked.

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::crypto::VerifyingKey;
use crate::error::{Error, Result};
use crate::identity::IdentityDocument;
use crate::ids::{AgencyId, KeyId, UnixMillis};

/// What a [`KeyDirectory`] knows of an origin's signing key.
#[derive(Debug)]
pub enum KeyLookup<'a> {
    /// No such partner.
    UnknownOrigin,
    /// The partner has no such key.
    UnknownKey,
    /// The key was revoked at this time (as recorded by the receiver).
    Revoked(UnixMillis),
    /// The key was replaced in a rotation at this time: it still verifies bulletins
    /// created before then.
    Retired {
        /// The key.
        key: VerifyingKey,
        /// When it was retired.
        retired_at: UnixMillis,
        /// The identity document that lists it.
        document: &'a IdentityDocument,
    },
    /// The key is current.
    Valid {
        /// The key.
        key: VerifyingKey,
        /// The identity document that vouches for it.
        document: &'a IdentityDocument,
    },
}

/// Where the receiver looks up the signing keys of partners.
pub trait KeyDirectory {
    /// The state of `origin`'s key `key_id`.
    fn signing_key(&self, origin: &AgencyId, key_id: &KeyId) -> KeyLookup<'_>;

    /// `origin`'s identity document, if it is known.
    fn document(&self, origin: &AgencyId) -> Option<&IdentityDocument>;
}

/// `origin`'s signing key `key_id`, current or retired, for a signed statement that is
/// not a bulletin (a recall, a release grant): no creation time to judge a retirement
/// against, so a retired key still counts.
///
/// Errors: [`Error::UnknownOrigin`], [`Error::UnknownSigningKey`],
/// [`Error::RevokedSigningKey`].
pub fn statement_key(
    directory: &(impl KeyDirectory + ?Sized),
    origin: &AgencyId,
    key_id: &KeyId,
) -> Result<VerifyingKey> {
    match directory.signing_key(origin, key_id) {
        KeyLookup::UnknownOrigin => Err(Error::UnknownOrigin(origin.clone())),
        KeyLookup::UnknownKey => Err(Error::UnknownSigningKey {
            origin: origin.clone(),
            key_id: key_id.clone(),
        }),
        KeyLookup::Revoked(revoked_at) => Err(Error::RevokedSigningKey {
            origin: origin.clone(),
            key_id: key_id.clone(),
            revoked_at,
        }),
        KeyLookup::Valid { key, .. } | KeyLookup::Retired { key, .. } => Ok(key),
    }
}

/// A directory as it stood when this node accepted a stored bulletin. Everything in
/// the log passed every check on arrival, revocation included; a revocation found now
/// was therefore logged later, and must not hide what was received before it
/// (revocation is judged by log time). Use it to read back, never to accept.
pub struct AcceptedBefore<'a, D: ?Sized>(pub &'a D);

impl<D: KeyDirectory + ?Sized> KeyDirectory for AcceptedBefore<'_, D> {
    fn signing_key(&self, origin: &AgencyId, key_id: &KeyId) -> KeyLookup<'_> {
        match self.0.signing_key(origin, key_id) {
            KeyLookup::Revoked(_) => match self.0.document(origin) {
                Some(document) => lookup_ignoring_revocation(document, key_id),
                None => KeyLookup::UnknownOrigin,
            },
            other => other,
        }
    }

    fn document(&self, origin: &AgencyId) -> Option<&IdentityDocument> {
        self.0.document(origin)
    }
}

/// [`lookup_in_document`] as if no key had been revoked.
fn lookup_ignoring_revocation<'a>(document: &'a IdentityDocument, key_id: &KeyId) -> KeyLookup<'a> {
    if &document.signing_key.key_id == key_id {
        return KeyLookup::Valid {
            key: document.signing_key.key,
            document,
        };
    }
    match document
        .retired_signing_keys
        .iter()
        .find(|(k, _)| &k.key_id == key_id)
    {
        Some((retired, at)) => KeyLookup::Retired {
            key: retired.key,
            retired_at: *at,
            document,
        },
        None => KeyLookup::UnknownKey,
    }
}

/// Looks a key up in one verified identity document.
pub fn lookup_in_document<'a>(document: &'a IdentityDocument, key_id: &KeyId) -> KeyLookup<'a> {
    if let Some(revoked) = document.revocation(key_id) {
        KeyLookup::Revoked(revoked.revoked_at)
    } else if &document.signing_key.key_id == key_id {
        KeyLookup::Valid {
            key: document.signing_key.key,
            document,
        }
    } else if let Some((retired, at)) = document
        .retired_signing_keys
        .iter()
        .find(|(k, _)| &k.key_id == key_id)
    {
        KeyLookup::Retired {
            key: retired.key,
            retired_at: *at,
            document,
        }
    } else {
        KeyLookup::UnknownKey
    }
}

impl<S: BuildHasher> KeyDirectory for HashMap<AgencyId, IdentityDocument, S> {
    fn signing_key(&self, origin: &AgencyId, key_id: &KeyId) -> KeyLookup<'_> {
        match self.get(origin) {
            Some(document) => lookup_in_document(document, key_id),
            None => KeyLookup::UnknownOrigin,
        }
    }

    fn document(&self, origin: &AgencyId) -> Option<&IdentityDocument> {
        self.get(origin)
    }
}

impl KeyDirectory for [IdentityDocument] {
    fn signing_key(&self, origin: &AgencyId, key_id: &KeyId) -> KeyLookup<'_> {
        match self.iter().find(|d| &d.agency == origin) {
            Some(document) => lookup_in_document(document, key_id),
            None => KeyLookup::UnknownOrigin,
        }
    }

    fn document(&self, origin: &AgencyId) -> Option<&IdentityDocument> {
        self.iter().find(|d| &d.agency == origin)
    }
}
