//! The keys of the sled tree (see the table in the module above): one prefix byte per
//! kind, integers big-endian so that keys sort by sequence.

use liaison_core::{AgencyId, BulletinId};

use crate::entry::Effect;

pub(crate) fn entry_key(seq: u64) -> [u8; 9] {
    let mut key = [b'e'; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub(super) fn checkpoint_key(seq: u64) -> [u8; 9] {
    let mut key = [b'c'; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub(super) fn bulletin_index_key(id: &BulletinId, seq: u64) -> Vec<u8> {
    [&b"b"[..], &id.to_bytes(), &seq.to_be_bytes()].concat()
}

pub(super) fn agency_index_prefix(agency: &AgencyId) -> Vec<u8> {
    [&b"a"[..], agency.as_str().as_bytes(), b"\0"].concat()
}

pub(super) fn outbox_prefix(partner: &AgencyId) -> Vec<u8> {
    [&b"o"[..], partner.as_str().as_bytes(), b"\0"].concat()
}

pub(super) fn delivered_prefix(partner: &AgencyId) -> Vec<u8> {
    [&b"d"[..], partner.as_str().as_bytes(), b"\0"].concat()
}

pub(super) fn delivered_key(partner: &AgencyId, receiver_seq: u64) -> Vec<u8> {
    [
        delivered_prefix(partner),
        receiver_seq.to_be_bytes().to_vec(),
    ]
    .concat()
}

pub(super) fn received_key(id: &BulletinId) -> Vec<u8> {
    [&b"r"[..], &id.to_bytes()].concat()
}

pub(super) fn request_key(key: &str) -> Vec<u8> {
    [&b"q"[..], key.as_bytes()].concat()
}

pub(super) fn identity_ack_key(agency: &AgencyId) -> Vec<u8> {
    [&b"v"[..], agency.as_str().as_bytes()].concat()
}

pub(super) fn client_key(name: &str) -> Vec<u8> {
    [&b"k"[..], name.as_bytes()].concat()
}

/// `G` operation: an imported federation roster (`m` is taken by meta keys).
pub(super) fn roster_key(operation: &str) -> Vec<u8> {
    [&b"G"[..], operation.as_bytes()].concat()
}

/// The key an effect claims once and for all, if it claims one.
pub(super) fn claim_key(effect: &Effect) -> Option<Vec<u8>> {
    match effect {
        Effect::ClaimReceived(id) => Some(received_key(id)),
        Effect::ClaimRequestKey(key) => Some(request_key(key)),
        _ => None,
    }
}

/// `S` tag (16) seq: the entries whose bulletin carries a selector.
pub(super) fn selector_key(tag: &[u8; 16], seq: u64) -> Vec<u8> {
    [&b"S"[..], tag, &seq.to_be_bytes()].concat()
}

/// `s` seq: the selector tags of an entry (16 bytes each), to unindex it on erasure.
pub(super) fn entry_selectors_key(seq: u64) -> [u8; 9] {
    let mut key = [b's'; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub(super) fn peer_key(agency: &AgencyId) -> Vec<u8> {
    [&b"p"[..], agency.as_str().as_bytes()].concat()
}

/// `Q` seq: the (partner, fingerprint) pairs an entry offers to private queries, to
/// withdraw them on erasure.
pub(super) fn entry_queryable_key(seq: u64) -> [u8; 9] {
    let mut key = [b'Q'; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// `F` partner `\0`: a partner's query filter feed.
pub(super) fn query_feed_prefix(partner: &AgencyId) -> Vec<u8> {
    [&b"F"[..], partner.as_str().as_bytes(), b"\0"].concat()
}

/// `F` partner `\0` seq index: one change to a partner's query filter, made by entry
/// `seq` (its `index`-th).
pub(super) fn query_feed_key(partner: &AgencyId, seq: u64, index: u32) -> Vec<u8> {
    [
        query_feed_prefix(partner),
        seq.to_be_bytes().to_vec(),
        index.to_be_bytes().to_vec(),
    ]
    .concat()
}

/// `Y` partner `\0` day: private queries answered for a partner on a UTC day.
pub(super) fn query_count_key(partner: &AgencyId, day: u32) -> Vec<u8> {
    [
        &b"Y"[..],
        partner.as_str().as_bytes(),
        b"\0",
        &day.to_be_bytes(),
    ]
    .concat()
}

pub(super) fn seq_suffix(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}
