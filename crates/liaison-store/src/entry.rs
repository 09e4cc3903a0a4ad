//! Log entries: what callers append ([`NewEntry`]), what they read back ([`Entry`]),
//! and the stored form (`hash || record`).

use bytes::Bytes;
use liaison_core::crypto::{self, domain};
use liaison_core::{AgencyId, BulletinId, UnixMillis};
use liaison_proto::format::v1 as pb;
use prost::Message as _;

use crate::error::{Error, Result};

/// Bodies up to this size are stored inline in sled; larger ones in our own fsynced
/// files (see the crate docs on durability). Well below sled's 128 KiB blob threshold,
/// so that a page of several inline bodies stays below it too.
pub const INLINE_BODY_LIMIT: usize = 16 * 1024;

/// Largest body the log accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A bulletin this node sealed and queued for partners.
    Published,
    /// A bulletin received from a partner and accepted.
    Received,
    /// A signed receipt, sent or received.
    Receipt,
    /// A sharing-policy decision and the rule that made it.
    PolicyDecision,
    /// A partner added, changed or removed.
    PeerChange,
    /// A key created, rotated or revoked.
    KeyChange,
    /// Node lifecycle: created, started, stopped.
    NodeEvent,
    /// A local system marked a received bulletin as handled.
    Acknowledged,
    /// A local client certificate issued or revoked.
    ClientChange,
    /// A bulletin recalled by its originator (sent, or received and erased).
    Recall,
    /// What the originator learnt of its bulletin's onward chain.
    Onward,
    /// Bulletins read through one of the node's doors, and by whom (the consultation
    /// log of Directive (EU) 2016/680, art. 25).
    Consulted,
}

impl EntryKind {
    /// Every kind.
    pub const ALL: [EntryKind; 12] = [
        EntryKind::Published,
        EntryKind::Received,
        EntryKind::Receipt,
        EntryKind::PolicyDecision,
        EntryKind::PeerChange,
        EntryKind::KeyChange,
        EntryKind::NodeEvent,
        EntryKind::Acknowledged,
        EntryKind::ClientChange,
        EntryKind::Recall,
        EntryKind::Onward,
        EntryKind::Consulted,
    ];

    /// Lowercase name for display and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Published => "published",
            EntryKind::Received => "received",
            EntryKind::Receipt => "receipt",
            EntryKind::PolicyDecision => "policy-decision",
            EntryKind::PeerChange => "peer-change",
            EntryKind::KeyChange => "key-change",
            EntryKind::NodeEvent => "node-event",
            EntryKind::Acknowledged => "acknowledged",
            EntryKind::ClientChange => "client-change",
            EntryKind::Recall => "recall",
            EntryKind::Onward => "onward",
            EntryKind::Consulted => "consulted",
        }
    }

    fn to_pb(self) -> pb::EntryKind {
        match self {
            EntryKind::Published => pb::EntryKind::Published,
            EntryKind::Received => pb::EntryKind::Received,
            EntryKind::Receipt => pb::EntryKind::Receipt,
            EntryKind::PolicyDecision => pb::EntryKind::PolicyDecision,
            EntryKind::PeerChange => pb::EntryKind::PeerChange,
            EntryKind::KeyChange => pb::EntryKind::KeyChange,
            EntryKind::NodeEvent => pb::EntryKind::NodeEvent,
            EntryKind::Acknowledged => pb::EntryKind::Acknowledged,
            EntryKind::ClientChange => pb::EntryKind::ClientChange,
            EntryKind::Recall => pb::EntryKind::Recall,
            EntryKind::Onward => pb::EntryKind::Onward,
            EntryKind::Consulted => pb::EntryKind::Consulted,
        }
    }

    /// The kind's `LogRecord.kind` wire number.
    pub fn number(self) -> i32 {
        self.to_pb() as i32
    }

    /// The kind a `LogRecord.kind` value names; `None` for an unknown one.
    pub fn from_pb(v: i32) -> Option<Self> {
        EntryKind::ALL.into_iter().find(|k| k.to_pb() as i32 == v)
    }
}

/// State that changes together with an entry, in the same atomic batch: either both
/// are durable or neither is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Queue this (published) entry for delivery to the partner.
    Enqueue(AgencyId),
    /// Delivery to the partner of the bulletin published at `published_seq` is over.
    Dequeue {
        /// The partner.
        partner: AgencyId,
        /// The `Published` entry's sequence number.
        published_seq: u64,
    },
    /// Erase the body of entry `seq` (a recalled or expired payload): its hash and the
    /// chain stay, so the log still verifies.
    EraseBody {
        /// The entry.
        seq: u64,
    },
    /// Record the bulletin as received. The append fails with
    /// [`crate::Error::Duplicate`] if it already was: a bulletin is stored once.
    ClaimReceived(BulletinId),
    /// Store (or replace) a partner's signed identity bundle.
    PutPeer {
        /// The partner.
        agency: AgencyId,
        /// Its `SignedIdentity` bytes, as imported.
        bundle: Bytes,
    },
    /// Forget a partner.
    RemovePeer(AgencyId),
    /// Record a client's idempotency key for this entry. The append fails with
    /// [`crate::Error::Duplicate`] (naming the first entry) if the key was used before.
    ClaimRequestKey(String),
    /// Store (or replace) a local client's registration.
    PutClient {
        /// The client's name.
        name: String,
        /// Its registration record, as the node encodes it.
        record: Bytes,
    },
    /// Forget a local client's registration.
    RemoveClient(String),
    /// Store (or replace) the federation roster of an operation as this node
    /// imported it.
    PutRoster {
        /// The operation's name.
        operation: String,
        /// The node's record of the import (the signed roster and what it manages).
        record: Bytes,
    },
    /// `partner` signed a receipt saying it stored what we queued at `queued_seq` as
    /// its entry `receiver_seq` with chain hash `receiver_hash`: its signed statement
    /// of its own log, checked at every checkpoint exchange.
    Delivered {
        /// The partner.
        partner: AgencyId,
        /// The partner's log entry.
        receiver_seq: u64,
        /// That entry's chain hash, as the partner signed it.
        receiver_hash: [u8; 32],
        /// Our outbox entry it answered (a `Published` entry or a recall).
        queued_seq: u64,
    },
    /// Queue entry `queued_seq` for `partner` again: the partner lost it (its log was
    /// rolled back to before the entry it receipted).
    Requeue {
        /// The partner.
        partner: AgencyId,
        /// Our outbox entry.
        queued_seq: u64,
    },
    /// Forget the partner's statement about its entry `receiver_seq` (it lost it).
    ForgetDelivered {
        /// The partner.
        partner: AgencyId,
        /// The partner's log entry.
        receiver_seq: u64,
    },
    /// `partner` confirmed it holds version `version` of our identity document.
    IdentityAcknowledged {
        /// The partner.
        partner: AgencyId,
        /// The version it holds.
        version: u64,
    },
    /// Index this entry's bulletin under these selector tags (keyed hashes of the
    /// phone numbers, accounts, plates and names in its content; the node computes
    /// them, the log never sees a selector). Removed with the body when it is erased.
    IndexSelectors(Vec<[u8; 16]>),
    /// Offer this entry's selectors to partners' private hit/no-hit queries: for each
    /// partner allowed to query them, the fingerprint of each selector under that
    /// partner's OPRF key (the node computes them; the log never sees a selector). Each
    /// goes into the partner's filter feed as an addition now, and as a removal when
    /// the body is erased.
    IndexQueryable(Vec<(AgencyId, [u8; 8])>),
    /// Withdraw what entry `seq` offered to private queries (its bulletin was
    /// recalled; its body stays): removals in each partner's filter feed.
    WithdrawQueryable {
        /// The entry.
        seq: u64,
    },
    /// `partner`'s private queries answered on UTC day `day` (days since 1970) are now
    /// `count`: the budget that stops a partner enumerating selectors.
    CountQueries {
        /// The querying partner.
        partner: AgencyId,
        /// Days since 1970-01-01, UTC.
        day: u32,
        /// Queries answered that day, this one included.
        count: u32,
    },
}

/// An entry to append. The log assigns its sequence number, time and chain hash.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// What it records.
    pub kind: EntryKind,
    /// The bulletin it concerns, if any; indexed.
    pub bulletin_id: Option<BulletinId>,
    /// The partner it concerns, if any; indexed.
    pub agency: Option<AgencyId>,
    /// The payload (a sealed envelope, a signed receipt, a decision record...).
    pub body: Bytes,
    /// State changed atomically with the entry.
    pub effects: Vec<Effect>,
}

impl NewEntry {
    /// An entry of `kind` with `body` and no bulletin or partner.
    pub fn new(kind: EntryKind, body: impl Into<Bytes>) -> Self {
        Self {
            kind,
            bulletin_id: None,
            agency: None,
            body: body.into(),
            effects: Vec::new(),
        }
    }

    /// The same entry, with `effect` applied atomically with it.
    pub fn with_effect(mut self, effect: Effect) -> Self {
        self.effects.push(effect);
        self
    }

    /// The same entry, about `bulletin_id`.
    pub fn about_bulletin(mut self, bulletin_id: BulletinId) -> Self {
        self.bulletin_id = Some(bulletin_id);
        self
    }

    /// The same entry, about partner `agency`.
    pub fn about_agency(mut self, agency: AgencyId) -> Self {
        self.agency = Some(agency);
        self
    }
}

/// Where an entry's body lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPlacement {
    /// In the record.
    Inline,
    /// In `bodies/<sha256 hex>`.
    External,
    /// Erased under retention; only its hash remains.
    Erased,
}

/// An entry read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// 1, 2, 3, ...
    pub seq: u64,
    /// This entry's chain hash.
    pub hash: [u8; 32],
    /// The previous entry's chain hash.
    pub prev_hash: [u8; 32],
    /// When it was appended.
    pub time: UnixMillis,
    /// What it records.
    pub kind: EntryKind,
    /// The bulletin it concerns.
    pub bulletin_id: Option<BulletinId>,
    /// The partner it concerns.
    pub agency: Option<AgencyId>,
    /// SHA-256 of the body.
    pub body_sha256: [u8; 32],
    /// Body length in bytes.
    pub body_len: u64,
    /// Where the body is.
    pub placement: BodyPlacement,
    /// The body if inline (external bodies are read with [`crate::Log::body`]).
    pub inline_body: Option<Bytes>,
}

/// Body state byte: the body follows (inline) or is in its own file (external).
const BODY_PRESENT: u8 = 0;
/// Body state byte: the body was erased; only its hash in the record remains.
const BODY_ERASED: u8 = 1;

/// Encodes a record and returns `(stored value, chain hash)`. Stored layout:
/// `hash(32) || u32be(record length) || record || body state(1) || inline body`.
/// The hash covers the record (which holds the body's SHA-256), not the body bytes,
/// so a body can be erased without breaking the chain.
pub(crate) fn encode_stored(record: &pb::LogRecord, inline_body: &[u8]) -> (Vec<u8>, [u8; 32]) {
    let encoded = record.encode_to_vec();
    let hash = crypto::digest_parts(&[domain::LOG_ENTRY, &encoded]);
    let mut stored = Vec::with_capacity(32 + 4 + encoded.len() + 1 + inline_body.len());
    stored.extend_from_slice(&hash);
    stored.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    stored.extend_from_slice(&encoded);
    stored.push(BODY_PRESENT);
    stored.extend_from_slice(inline_body);
    (stored, hash)
}

/// The parts of a stored value.
struct StoredParts<'a> {
    hash: &'a [u8],
    record: &'a [u8],
    state: u8,
    body: &'a [u8],
}

fn split_stored(stored: &[u8]) -> Option<StoredParts<'_>> {
    let len = u32::from_be_bytes(stored.get(32..36)?.try_into().ok()?) as usize;
    let end = 36usize.checked_add(len)?;
    Some(StoredParts {
        hash: stored.get(..32)?,
        record: stored.get(36..end)?,
        state: *stored.get(end)?,
        body: stored.get(end + 1..)?,
    })
}

/// The record bytes of a stored value, exactly as its hash covers them.
pub(crate) fn stored_record(stored: &[u8]) -> Option<&[u8]> {
    split_stored(stored).map(|parts| parts.record)
}

/// The stored value with its body erased (hash and record unchanged).
pub(crate) fn erase_stored(stored: &[u8]) -> Option<Vec<u8>> {
    let len = u32::from_be_bytes(stored.get(32..36)?.try_into().ok()?) as usize;
    let end = 36usize.checked_add(len)?;
    let mut erased = stored.get(..end)?.to_vec();
    erased.push(BODY_ERASED);
    Some(erased)
}

/// Splits and checks a stored value: the hash must match the record bytes.
pub(crate) fn decode_stored(seq: u64, stored: &[u8]) -> Result<Entry> {
    let tampered = |problem: String| Error::Tampered { seq, problem };
    let StoredParts {
        hash,
        record: encoded,
        state,
        body,
    } = split_stored(stored)
        .ok_or_else(|| tampered("stored value is truncated or malformed".into()))?;
    if crypto::digest_parts(&[domain::LOG_ENTRY, encoded]) != hash {
        return Err(tampered("hash does not match the entry's contents".into()));
    }
    let record = pb::LogRecord::decode(Bytes::copy_from_slice(encoded))
        .map_err(|e| tampered(format!("record does not decode: {e}")))?;
    if record.seq != seq {
        return Err(tampered(format!(
            "record says it is entry {}: entries were moved",
            record.seq
        )));
    }
    let array = |field: &str, b: &Bytes| -> Result<[u8; 32]> {
        b.as_ref()
            .try_into()
            .map_err(|_| tampered(format!("{field} is not 32 bytes")))
    };
    let placement = match (pb::BodyPlacement::try_from(record.body_placement), state) {
        (_, BODY_ERASED) if body.is_empty() => BodyPlacement::Erased,
        (Ok(pb::BodyPlacement::Inline), BODY_PRESENT) => BodyPlacement::Inline,
        (Ok(pb::BodyPlacement::External), BODY_PRESENT) if body.is_empty() => {
            BodyPlacement::External
        }
        _ => return Err(tampered("unknown body placement or state".into())),
    };
    Ok(Entry {
        seq,
        hash: array("hash", &Bytes::copy_from_slice(hash))?,
        prev_hash: array("prev_hash", &record.prev_hash)?,
        time: UnixMillis(record.time_unix_ms),
        kind: EntryKind::from_pb(record.kind)
            .ok_or_else(|| tampered(format!("unknown kind {}", record.kind)))?,
        bulletin_id: if record.bulletin_id.is_empty() {
            None
        } else {
            Some(BulletinId::from_slice(&record.bulletin_id).map_err(|e| tampered(e.to_string()))?)
        },
        agency: if record.agency.is_empty() {
            None
        } else {
            Some(
                record
                    .agency
                    .parse()
                    .map_err(|e: liaison_core::Malformed| tampered(e.to_string()))?,
            )
        },
        body_sha256: array("body_sha256", &record.body_sha256)?,
        body_len: record.body_len,
        inline_body: (placement == BodyPlacement::Inline).then(|| Bytes::copy_from_slice(body)),
        placement,
    })
}

/// Builds the record for `entry` at `seq` after `prev_hash`.
pub(crate) fn record_for(
    entry: &NewEntry,
    seq: u64,
    prev_hash: [u8; 32],
    time: UnixMillis,
    body_sha256: [u8; 32],
) -> pb::LogRecord {
    let inline = entry.body.len() <= INLINE_BODY_LIMIT;
    pb::LogRecord {
        seq,
        prev_hash: Bytes::copy_from_slice(&prev_hash),
        time_unix_ms: time.0,
        kind: entry.kind.to_pb() as i32,
        bulletin_id: entry
            .bulletin_id
            .map(|id| Bytes::copy_from_slice(&id.to_bytes()))
            .unwrap_or_default(),
        agency: entry
            .agency
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        body_sha256: Bytes::copy_from_slice(&body_sha256),
        body_len: entry.body.len() as u64,
        body_placement: if inline {
            pb::BodyPlacement::Inline
        } else {
            pb::BodyPlacement::External
        } as i32,
    }
}
