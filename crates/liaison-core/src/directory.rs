//! Where a receiver looks up the signing keys of the agencies it trusts: current,
//! retired (valid for what they signed before their retirement) or revoked.

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::crypto::VerifyingKey;
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
}

impl KeyDirectory for [IdentityDocument] {
    fn signing_key(&self, origin: &AgencyId, key_id: &KeyId) -> KeyLookup<'_> {
        match self.iter().find(|d| &d.agency == origin) {
            Some(document) => lookup_in_document(document, key_id),
            None => KeyLookup::UnknownOrigin,
        }
    }
}
